"""Preview sees the whole catalog, and its proposed downgrade undoes it (issue 15).

Five schemas of the shapes real projects have: an analytics store (schemas,
many tables and indexes, FILTER views), an application (sequences, a chain of
foreign keys, macros), user types (ENUM, STRUCT, LIST), a library of macros,
and migrations as an ORM generates them. Each goes the whole way a user takes:
preview, paste the proposed downgrade into the file, `verify --roundtrip`,
`up`, `down base`, and `up` again — and after `down base` the catalog is
exactly what it was.
"""

from __future__ import annotations

import duckdb
import pytest

from duckmig_magic.engine import catalog

from test_preview import plain

ANALYTICS = "\n".join(
    ["CREATE SCHEMA raw;", "CREATE SCHEMA mart;"]
    + [f"CREATE TABLE raw.events_{i} (id BIGINT PRIMARY KEY, kind VARCHAR, amount DOUBLE, ts TIMESTAMP);\n"
       f"CREATE INDEX events_{i}_kind ON raw.events_{i} (kind);\n"
       f"CREATE INDEX events_{i}_at ON raw.events_{i} (ts);" for i in range(8)]
    + [f"CREATE VIEW mart.daily_{i} AS SELECT date_trunc('day', ts) AS day, "
       f"count(*) FILTER (WHERE kind = 'buy') AS buys, sum(amount) FILTER (WHERE amount > 0) AS income "
       f"FROM raw.events_{i} GROUP BY ALL;" for i in range(8)]
    + ["CREATE VIEW mart.all_daily AS " + " UNION ALL ".join(f"SELECT * FROM mart.daily_{i}" for i in range(8)) + ";"]
)

APP = """
CREATE SEQUENCE account_ids START 100;
CREATE TABLE accounts (id INTEGER PRIMARY KEY DEFAULT nextval('account_ids'), email VARCHAR UNIQUE NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES accounts (id), name VARCHAR,
                       CHECK (length(name) > 0));
CREATE TABLE tasks (id INTEGER PRIMARY KEY, project INTEGER REFERENCES projects (id),
                    assignee INTEGER REFERENCES accounts (id), done BOOLEAN DEFAULT false);
CREATE INDEX tasks_open ON tasks (project, done);
CREATE MACRO open_tasks(p) AS TABLE SELECT * FROM tasks WHERE project = p AND NOT done;
CREATE MACRO display_name(email) AS split_part(email, '@', 1);
INSERT INTO accounts (email) VALUES ('ada@example.org');
"""

TYPES = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE point AS STRUCT(x DOUBLE, y DOUBLE);
CREATE TYPE tags AS VARCHAR[];
CREATE TABLE diary (day DATE PRIMARY KEY, feeling mood, spot point, labels tags);
INSERT INTO diary VALUES ('2025-01-01', 'happy', {'x': 1, 'y': 2}, ['new', 'year']);
"""

MACROS = """
CREATE MACRO clamp(x, lo, hi) AS greatest(lo, least(hi, x));
CREATE MACRO pct(part, whole) AS round(100.0 * part / nullif(whole, 0), 1);
CREATE MACRO numbers(n) AS TABLE SELECT range AS i FROM range(n);
CREATE MACRO halves(n) AS TABLE SELECT i / 2 AS half FROM numbers(n);
"""

ORM = [
    """
CREATE SEQUENCE user_id_seq;
CREATE TABLE "user" (id INTEGER DEFAULT nextval('user_id_seq') NOT NULL, name VARCHAR(50) NOT NULL,
                     PRIMARY KEY (id));
CREATE TABLE address (id INTEGER NOT NULL, user_id INTEGER NOT NULL, email VARCHAR NOT NULL,
                      PRIMARY KEY (id), FOREIGN KEY (user_id) REFERENCES "user" (id));
""",
    """
ALTER TABLE address ADD COLUMN verified BOOLEAN DEFAULT false;
CREATE INDEX ix_address_email ON address (email);
CREATE INDEX ix_user_name ON "user" (name);
""",
]


def whole_catalog(path) -> dict:
    with duckdb.connect(str(path)) as conn:
        return {k: v for k, v in catalog.snapshot(conn).items() if "duckdb_migrations" not in k[1]}


@pytest.mark.parametrize("ups", [[ANALYTICS], [APP], [TYPES], [MACROS], ORM],
                         ids=["analytics", "app", "types", "macros", "orm"])
def test_the_proposed_downgrade_takes_the_whole_way_back(project, cli, ups):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE kept (id INTEGER)")
    before = whole_catalog(project.db)
    for i, up in enumerate(ups, 1):
        version = f"2025010{i}_000000"
        path = project.sql(version, f"step_{i}", up)
        proposal = project.migrator().preview(script=version).proposed_downgrade
        assert proposal.cannot == []
        # Pasted as proposed, as a person would.
        path.write_text(path.read_text() + "\n-- migrate:down\n" + proposal.sql + "\n")
        assert cli("verify", "--roundtrip", "--database", project.db).code == 0
        assert cli("up", "--database", project.db).code == 0
    applied = whole_catalog(project.db)
    assert cli("down", "base", "--database", project.db).code == 0
    assert whole_catalog(project.db) == before
    assert cli("up", "--database", project.db).code == 0
    assert whole_catalog(project.db) == applied


def test_the_downgrade_drops_tables_that_reference_others_first(project):
    project.sql("20250101_000000", "app", APP)
    statements = project.migrator().preview().proposed_downgrade.statements
    drops = [s for s in statements if s.startswith("DROP TABLE")]
    assert drops == ['DROP TABLE "tasks";', 'DROP TABLE "projects";', 'DROP TABLE "accounts";']
    # Macros that read the tables go before them, and the sequence their default uses after them.
    assert statements.index('DROP MACRO TABLE "open_tasks";') < statements.index('DROP TABLE "tasks";')
    assert statements[-1] == 'DROP SEQUENCE "account_ids";'


def test_a_table_a_foreign_key_references_is_rebuilt_with_its_rows_where_duckdb_has_no_alter(project, cli):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute(ORM[0] + "INSERT INTO \"user\" (name) VALUES ('ada'); INSERT INTO address VALUES (1, 1, 'a@b')")
    before = whole_catalog(project.db)
    path = project.sql("20250101_000000", "fullname",
                       'ALTER TABLE "user" ADD COLUMN fullname VARCHAR;\nALTER TABLE "user" ALTER name SET DEFAULT \'?\';')
    down = project.migrator().preview().proposed_downgrade
    # DuckDB drops no column of a table a foreign key references: both tables are rebuilt, rows kept.
    assert 'DROP TABLE "address";' in down.statements and down.cannot == []
    path.write_text(path.read_text() + "\n-- migrate:down\n" + down.sql + "\n")
    assert cli("verify", "--roundtrip", "--database", project.db).code == 0
    assert cli("up", "--database", project.db).code == 0
    assert cli("down", "--database", project.db).code == 0
    assert whole_catalog(project.db) == before
    with duckdb.connect(str(project.db)) as conn:
        assert conn.execute('SELECT u.id, name, email FROM "user" u JOIN address a ON a.user_id = u.id').fetchall() \
            == [(1, "ada", "a@b")]


def test_user_types_show_in_the_preview_and_go_after_their_tables(project):
    project.sql("20250101_000000", "types", TYPES)
    p = project.migrator().preview()
    assert [row for row in plain(p.schema) if row[0] == "type"] == [
        ["type", "mood", None, "created", None, "ENUM('sad', 'ok', 'happy')"],
        ["type", "point", None, "created", None, "STRUCT(x DOUBLE, y DOUBLE)"],
        ["type", "tags", None, "created", None, "VARCHAR[]"],
    ]
    assert p.proposed_downgrade.statements == [
        'DROP TABLE "diary";', 'DROP TYPE "tags";', 'DROP TYPE "point";', 'DROP TYPE "mood";']


def test_a_dropped_type_is_created_again_before_the_columns_that_use_it(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE TABLE d (id INTEGER, m mood)")
    project.sql("20250101_000000", "no_enum", "ALTER TABLE d ALTER m TYPE VARCHAR;\nDROP TYPE mood;")
    down = project.migrator().preview().proposed_downgrade
    assert down.statements == ["CREATE TYPE \"mood\" AS ENUM('sad', 'happy');",
                               'ALTER TABLE "d" ALTER COLUMN "m" TYPE ENUM(\'sad\', \'happy\');']


def test_a_check_constraint_added_by_rebuilding_a_table_shows_in_the_schema(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER); INSERT INTO t VALUES (1, 5)")
    project.sql("20250101_000000", "rebuild", """
        CREATE TABLE t_new (id INTEGER PRIMARY KEY, n INTEGER CHECK (n >= 0));
        INSERT INTO t_new SELECT * FROM t;
        DROP TABLE t;
        ALTER TABLE t_new RENAME TO t;
    """)
    p = project.migrator().preview()
    assert ["constraint", "t", None, "created", None, "CHECK((n >= 0))"] in plain(p.schema)


def test_values_a_backfill_turns_null_are_a_warning(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE e (id INTEGER PRIMARY KEY, source VARCHAR); "
                     "INSERT INTO e SELECT i, CASE WHEN i % 4 = 0 THEN 'web' ELSE 'unknown' END FROM range(100) r(i)")
    project.sql("20250101_000000", "backfill", "UPDATE e SET source = NULL WHERE source = 'unknown';")
    p = project.migrator().preview()
    assert plain(p.warnings) == [["values turned NULL", "e", "source", 75, "e.source: 75 values turned NULL"]]
    assert plain(p.column_changes) == [["e", "source", 75, 75]]


def test_verify_roundtrip_tells_a_type_the_downgrade_leaves_behind(project, cli):
    project.sql("20250101_000000", "types", TYPES, down="DROP TABLE diary;")
    r = cli("verify", "--roundtrip", "--database", project.db)
    assert r.code == 3
    assert "type main.mood remains" in r.out
    assert not project.db.exists() or project.tables() == set()
