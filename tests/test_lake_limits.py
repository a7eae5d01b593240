"""DuckLake's limits are stated, not tripped over (issue 12).

A statement that DuckLake refuses fails its migration with DuckDB's own message
and a hint that names the limit and what to write instead (``refusals.LAKE_LIMITS``), in
each face: the command, the magics, the Python API; for up, redo, down, preview
and ``verify --roundtrip``. Preview runs on a lake, and the downgrade it proposes
holds only statements DuckLake takes: each proposal here is run on a real lake,
committed, and the lake opened again.

"""

from __future__ import annotations

import gc

import duckdb
import pytest
from IPython.core.error import UsageError

from duckmig_magic import Migrator, cli as command, errors, magics
from duckmig_magic.display import NOTEBOOK_WORDS
from duckmig_magic.engine import catalog, diff, lake, refusals
from duckmig_magic.engine.catalog import Column, Table

V1, V2 = "20250101_000001", "20250102_000002"
def after_progress(err: str) -> str:
    """The command's error, without the progress lines before it."""
    return "".join(line for line in err.splitlines(keepends=True) if not line.startswith("["))


SETUP = """
CREATE TABLE t (id INTEGER NOT NULL, v VARCHAR);
INSERT INTO t VALUES (1, 'a'), (2, 'b');
CREATE TABLE e (a INTEGER);
"""
WIDER = "ALTER TABLE t ALTER COLUMN id TYPE BIGINT;"  # and narrower back: refused


def hint(phrase: str) -> str:
    """The hint of the LAKE_LIMITS row whose phrase is ``phrase``, as duckmig words it."""
    (lacks, instead), = [(lacks, instead) for p, lacks, instead in refusals.LAKE_LIMITS if p == phrase]
    return f"a DuckLake limit: {lacks}. Instead, {instead}"


# -- the words, without a lake ------------------------------------------------------------------


INDEX_HINT = ("a DuckLake limit: its tables have no indexes. Instead, leave the index out: DuckLake skips data files "
              "by the min/max statistics of their columns")


@pytest.mark.parametrize("direction, words, then", [
    ("up", command.WORDS, "then run the migration again"),
    ("up", errors.PYTHON, "then run the migration again"),
    ("down", command.WORDS, "then store the downgrade with `duckmig repair` and revert again"),
    ("down", NOTEBOOK_WORDS, "then store the downgrade with `%migrate repair` and revert again"),
    ("down", errors.PYTHON, "then store the downgrade with `Migrator.repair()` and revert again"),
])
def test_a_limit_is_named_with_what_to_write_instead(direction, words, then):
    failed = refusals.failed(V1, "CREATE INDEX ti ON t (id)",
                             "Not implemented Error: DuckLake does not support indexes", direction)
    verb = "applying" if direction == "up" else "reverting"
    assert failed.render(words) == (
        f"{verb} {V1} failed: Not implemented Error: DuckLake does not support indexes\n"
        "  statement: CREATE INDEX ti ON t (id)\n  rolled back: nothing of it remains\n"
        f"  hint: {INDEX_HINT}; {then}")
    assert failed.specific_hint == INDEX_HINT
    # Told in a run that applied others first, and when a preview stopped an apply.
    assert errors.RunStopped(failed, ["20241231_000000"], []).hint_text(words) == failed.hint_text(words)
    assert magics.preview_failed(failed).hint_text(words) == failed.hint_text(words)


def test_other_failures_keep_their_hints():
    failed = refusals.failed(V1, "INSERT INTO nowhere VALUES (1)", "Catalog Error: Table with name nowhere "
                             "does not exist!")
    assert (failed.specific_hint, failed.hint_text()) == (None, "fix the migration and run it again")


def _table(oid: int, name: str, *columns: str) -> Table:
    return Table(oid, "main", name, tuple(Column(c, "INTEGER", True, None) for c in columns), ())


@pytest.mark.parametrize("ran, after, oids", [
    ([], [_table(7, "t", "a", "w")], {"t": 1}),  # altered: a new oid, the same table
    (["ALTER TABLE t RENAME TO u", "ALTER TABLE u ADD COLUMN w INTEGER"], [_table(7, "u", "a", "w")], {"u": 1}),
    (["CREATE OR REPLACE TABLE t AS SELECT 1 AS a"], [_table(7, "t", "a")], {"t": 7}),  # made anew
    (["ALTER TABLE t RENAME TO u", "CREATE TABLE t (b INTEGER)"], [_table(7, "u", "a"), _table(8, "t", "b")],
     {"u": 1, "t": 8}),
    (["DROP TABLE t"], [_table(9, "x", "a")], {"x": 9}),
    (["ALTER TABLE t ADD COLUMN w INTEGER"], [_table(1, "t", "a")], {"t": 1}),  # kept its oid (a DuckDB file)
    (["ALTER TABLE t ADD COLUMN w INTEGER", "ALTER TABLE t RENAME TO u"],
     [_table(1, "t", "a"), _table(8, "u", "a", "w")], {"u": 1}),  # DuckLake's ghost of t, until the transaction ends
])
def test_a_lakes_tables_are_followed_by_name(ran, after, oids):
    before = {1: _table(1, "t", "a")}
    followed = diff.followed(before, {t.oid: t for t in after}, ran, "main")
    assert {t.name: oid for oid, t in followed.items()} == oids


def test_a_duckdb_file_renames_what_it_altered(project):
    project.sql(V1, "table", "CREATE TABLE t (a INTEGER);", "DROP TABLE t;")
    project.sql(V2, "both", "ALTER TABLE t ADD COLUMN w INTEGER;\nALTER TABLE t RENAME TO u;",
                "ALTER TABLE u DROP COLUMN w;\nALTER TABLE u RENAME TO t;")
    m = project.migrator()
    assert m.verify(roundtrip=True).ok
    m.up()
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'u'") == [("a",), ("w",)]


# -- lakes ----------------------------------------------------------------------------------------------


@pytest.fixture(params=["duckdb", "postgres"])
def target(request, tmp_path, lake_home):
    """A lake of each catalog kind holding SETUP; its database string (the lake keeps its data path)."""
    database = (f"ducklake:{tmp_path / 'catalog.ducklake'}" if request.param == "duckdb"
                else f"ducklake:postgres:{request.getfixturevalue('postgres').database()}")
    committed(database, SETUP, data_path=str(tmp_path / "data"))
    return database


@pytest.fixture
def file_target(tmp_path, lake_home):
    """A lake holding SETUP whose catalog is a DuckDB file: for what does not differ by catalog."""
    database = f"ducklake:{tmp_path / 'catalog.ducklake'}"
    committed(database, SETUP)
    return database


@pytest.fixture(scope="module")
def shared(tmp_path_factory, extension_home):
    """One lake holding SETUP (a DuckDB-file catalog) for the tests that change nothing in it."""
    database = f"ducklake:{tmp_path_factory.mktemp('lake') / 'catalog.ducklake'}"
    config = {"extension_directory": str(extension_home / ".duckdb" / "extensions")}
    with lake.connect(lake.parse(database), config=config) as conn:
        conn.execute(SETUP)
    return database


def opened(database: str, data_path: str | None = None):
    # A failure's traceback holds the frames that held the command's lake connection: collected
    # here, so that this process attaches a DuckDB-file catalog once at a time.
    gc.collect()
    return lake.connect(lake.parse(database, data_path=data_path))


def committed(database: str, sql: str, data_path: str | None = None) -> None:
    """Run ``sql`` on the lake in one transaction and commit, as a migration runs."""
    with opened(database, data_path) as conn:
        conn.execute("BEGIN")
        for statement in duckdb.extract_statements(sql):
            conn.execute(statement)
        conn.execute("COMMIT")


@pytest.fixture
def duckmig(cli):
    """``cli`` on a lake that no other connection of this process holds (see ``opened``)."""
    def run(*args):
        gc.collect()
        return cli(*args)
    return run


def snapshot(database: str) -> dict:
    """The lake's catalog, opened anew: a lake that cannot be read again fails here."""
    with opened(database) as conn:
        return catalog.snapshot(conn)


def migrator(database: str, project) -> Migrator:
    gc.collect()  # see ``opened``
    return Migrator(database, str(project.directory))


def closed(m: Migrator) -> None:
    m.db.connection.close()  # a process attaches a DuckDB-file catalog once at a time


def previewed(database: str, project, **options):
    """``Migrator.preview(**options)`` on the lake, which is let go of after."""
    m = migrator(database, project)
    try:
        return m.preview(**options)
    finally:
        closed(m)


# What trips each of LAKE_LIMITS: (id, the migration's up section, the phrase of LAKE_LIMITS).
TRIPS = [
    ("primary-key", "CREATE TABLE k (id INTEGER PRIMARY KEY);", "constraints are not supported in DuckLake"),
    ("check", "CREATE TABLE k (id INTEGER CHECK (id > 0));", "constraints are not supported in DuckLake"),
    ("index", "CREATE INDEX ti ON t (id);", "DuckLake does not support indexes"),
    ("add-primary-key", "ALTER TABLE t ADD PRIMARY KEY (id);",
     "Adding indexes or constraints is not supported in DuckLake"),
    ("sequence", "CREATE SEQUENCE ids;", "DuckLake does not support sequences"),
    ("user-type", "CREATE TYPE mood AS ENUM ('ok', 'sad');", "DuckLake does not support user-defined types"),
    ("generated", "CREATE TABLE k (a INTEGER, b INTEGER AS (a + 1));", "DuckLake does not support generated columns"),
    ("enum", "CREATE TABLE k (m ENUM ('ok', 'sad'));", "to DuckLake - unsupported type"),
    ("insert-or-replace", "INSERT OR REPLACE INTO t VALUES (1, 'c');",
     "no UNIQUE/PRIMARY KEY constraints that refer to this table"),
    ("on-conflict", "INSERT INTO t VALUES (1, 'c') ON CONFLICT (id) DO UPDATE SET v = 'c';",
     "not referenced by a UNIQUE/PRIMARY KEY CONSTRAINT or INDEX"),
    ("foreign-key", "CREATE TABLE k (id INTEGER REFERENCES t (id));",
     "there is no primary key or unique constraint for referenced table"),
    ("not-null-after-alter", "ALTER TABLE t ADD COLUMN w INTEGER;\nALTER TABLE t ALTER COLUMN v SET NOT NULL;",
     "no stats are available"),
    ("narrower-type", "ALTER TABLE t ALTER COLUMN id TYPE SMALLINT;", "only widening type promotions are allowed"),
    ("type-using", "ALTER TABLE t ALTER COLUMN id SET DATA TYPE BIGINT USING id * 2;",
     "Column type cannot be modified using an expression"),
    ("computed-default", "ALTER TABLE t ADD COLUMN n INTEGER DEFAULT 1 + 1;",
     "cannot add a column with a non-literal default value"),
]


def test_every_limit_is_tripped_here():
    assert {phrase for *_, phrase in TRIPS} == {phrase for phrase, *_ in refusals.LAKE_LIMITS}


@pytest.mark.ducklake
@pytest.mark.parametrize("up, phrase", [t[1:] for t in TRIPS], ids=[t[0] for t in TRIPS])
def test_each_limit_in_a_preview(shared, lake_home, project, duckmig, up, phrase):
    """The limits are DuckLake's, whatever its catalog (the probe trips each on both kinds)."""
    project.sql(V1, "tripped", up)
    r = duckmig("--database", shared, "preview")
    lines = r.out.splitlines()
    assert (r.code, lines[0]) == (1, f"preview of {V1} (rolled back: the database is unchanged)")
    at = lines.index("  no diff: the first migration failed")
    assert lines[at - 1] == f"  hint: {hint(phrase)}"
    # and the lint's finding (DM135), which told it before the preview ran it, in the same words
    assert lines[at + 1:at + 3] == ["", "warnings:"] and "fails on a DuckLake" in lines[at + 3], lines
    assert lines[1].startswith(f"FAILED: {V1}: ") and phrase in lines[1]
    assert lines[2] == f"  statement: {up.splitlines()[-1].rstrip(';')}"


@pytest.mark.ducklake
def test_a_limit_in_the_python_api(shared, lake_home, project):
    project.sql(V1, "index", "CREATE INDEX ti ON t (id);")
    p = previewed(shared, project)
    assert isinstance(p.failed, errors.MigrationFailed)
    assert str(p.failed).endswith(f"\n  hint: {INDEX_HINT}; then run the migration again")
    assert p.to_dict()["failed"]["hint"] == INDEX_HINT


@pytest.mark.ducklake
def test_roundtrip_names_a_limit_of_the_upgrade_and_of_the_downgrade(target, project, duckmig):
    project.sql(V1, "index", "CREATE TABLE k (a INTEGER);\nCREATE INDEX ka ON k (a);", "DROP TABLE k;")
    r = duckmig("--database", target, "verify", "--roundtrip")
    assert (r.code, r.out) == (3, f"{V1}  roundtrip: applying {V1} failed: Not implemented Error: DuckLake does "
                                  f"not support indexes\n  hint: {INDEX_HINT}\nchecked 0 applied migrations, "
                                  "round-tripped 0: 1 problem\n")
    (project.versions / f"{V1}_index.sql").unlink()
    project.sql(V1, "wider", WIDER, "ALTER TABLE t ALTER COLUMN id TYPE INTEGER;")
    r = duckmig("--database", target, "verify", "--roundtrip")
    assert (r.code, r.out) == (3, f"{V1}  roundtrip: reverting {V1} failed: Catalog Error: Cannot change type of "
                                  "column id from BIGINT to INTEGER - only widening type promotions are allowed\n"
                                  f"  hint: {hint('only widening type promotions are allowed')}\n"
                                  "checked 0 applied migrations, round-tripped 0: 1 problem\n")


REFUSED = ("an earlier statement of the transaction altered: DuckLake would commit that and then not open the lake "
           "again (or forget the alteration), so duckmig refused it")
RENAME_HINT = ("a DuckLake limit. Instead, rename the table first and alter it after, or rename it in a migration of "
               "its own")


@pytest.mark.ducklake
def test_a_rename_after_an_alter_is_refused_before_it_breaks_the_lake(target, project, duckmig):
    project.sql(V1, "items", "ALTER TABLE t RENAME TO items;\nALTER TABLE items ADD COLUMN w INTEGER;",
                "ALTER TABLE items DROP COLUMN w;\nALTER TABLE items RENAME TO t;")
    r = duckmig("--database", target, "verify", "--roundtrip")
    assert (r.code, r.out) == (3, f"{V1}  roundtrip: reverting {V1} failed: `ALTER TABLE items RENAME TO t` renames "
                                  f"items, which {REFUSED}\n  hint: {RENAME_HINT}\n"
                                  "checked 0 applied migrations, round-tripped 0: 1 problem\n")
    (project.versions / f"{V1}_items.sql").unlink()
    before = snapshot(target)
    project.sql(V2, "items", "ALTER TABLE t ADD COLUMN w INTEGER;\nALTER TABLE t RENAME TO items;")
    r = duckmig("--database", target, "preview")
    assert r.out.splitlines()[1:4] == [
        f"FAILED: {V2}: `ALTER TABLE t RENAME TO items` renames t, which {REFUSED}",
        "  statement: ALTER TABLE t RENAME TO items", f"  hint: {RENAME_HINT}"]
    assert snapshot(target) == before  # and the lake opens


@pytest.mark.ducklake
def test_a_python_migration_is_refused_the_rename_too(file_target, project):
    project.write(f"{V1}_rename.py", f"""\
        from duckmig_magic import BaseMigration


        class Rename(BaseMigration):
            def __init__(self):
                super().__init__(version="{V1}", description="rename")

            def upgrade(self, session):
                session.exec("ALTER TABLE t ADD COLUMN w INTEGER")
                try:
                    session.exec("ALTER TABLE t RENAME TO items")
                except Exception:
                    pass  # caught: the migration fails all the same
        """)
    failed = previewed(file_target, project).failed
    assert (failed.statement, failed.hint_text()) == ("ALTER TABLE t RENAME TO items", RENAME_HINT)


# -- the magics -----------------------------------------------------------------------------------------


@pytest.fixture
def lake_shell(shell, file_target, capsys):
    """The notebook's own connection to the lake, handed to duckmig."""
    conn = lake.connect(lake.parse(file_target))
    shell.user_ns["lakeconn"] = conn
    shell.run_line_magic("migrate", "connect lakeconn")
    capsys.readouterr()
    yield shell
    conn.close()


@pytest.mark.ducklake
def test_the_magics_name_the_limit(lake_shell, project, capsys):
    project.sql(V1, "index", "CREATE INDEX ti ON t (id);", "DROP INDEX ti;")
    view = lake_shell.run_line_magic("migrate", "preview")
    assert f"  hint: {INDEX_HINT}" in view.to_text().splitlines()
    assert "hint: a DuckLake limit: its tables have no indexes." in view.to_html()
    with pytest.raises(UsageError) as caught:
        lake_shell.run_line_magic("migrate", "verify --roundtrip")
    assert f"\n  hint: {INDEX_HINT}\n" in str(caught.value)
    (project.versions / f"{V1}_index.sql").unlink()
    result = lake_shell.run_cell("%%migration enum --preview --apply\n-- migrate:up\n"
                                 "CREATE TABLE k (m ENUM ('ok', 'sad'));\n")
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).endswith(
        f"\n  hint: {hint('to DuckLake - unsupported type')}; then run the migration again")


# -- preview and the proposed downgrade ----------------------------------------------------------------


RESHAPE = """\
ALTER TABLE t RENAME TO items;
ALTER TABLE items ADD COLUMN w INTEGER DEFAULT 3;
ALTER TABLE items RENAME COLUMN v TO label;
ALTER TABLE items ALTER COLUMN label SET DEFAULT 'none';
UPDATE items SET w = 5 WHERE id = 1;
"""


@pytest.mark.ducklake
def test_a_preview_on_a_lake_and_its_downgrade_run_there(target, project, duckmig):
    project.sql(V1, "reshape", RESHAPE)
    before = snapshot(target)
    p = previewed(target, project, keys={"t": "id"})
    assert p.ok and snapshot(target) == before
    assert p.schema_changes == [
        ("table", "items", None, "renamed", "t", "items"),
        ("column", "items", "label", "renamed", "v", "label"),
        ("column", "items", "label", "default changed", "NULL", "'none'"),
        ("column", "items", "w", "added", None, "INTEGER"),
    ]
    assert p.summary.to_dict("records") == [{"table": "items", "key": "id", "rows_before": 2, "rows_after": 2,
                                             "added": 0, "removed": 0, "changed": 1, "unchanged": 1}]
    assert p.proposed_downgrade.statements == [
        'ALTER TABLE "items" RENAME TO "t";',  # first: DuckLake loses a table altered before its rename
        'ALTER TABLE "t" ALTER COLUMN "label" SET DEFAULT NULL;',
        'ALTER TABLE "t" RENAME COLUMN "label" TO "v";',
        'ALTER TABLE "t" DROP COLUMN "w";',
    ]
    assert p.proposed_downgrade.cannot == []  # the rows changed are all in the column dropped
    # Pasted under -- migrate:down, it round-trips ...
    project.sql(V1, "reshape", RESHAPE, p.proposed_downgrade.sql)
    r = duckmig("--database", target, "verify", "--roundtrip")
    assert (r.code, r.out.splitlines()[0]) == (0, f"{V1}  roundtrip ok")
    # ... and committed after the migration, it gives the lake back as it was.
    committed(target, RESHAPE)
    assert snapshot(target) != before
    committed(target, p.proposed_downgrade.sql)
    assert snapshot(target) == before


@pytest.mark.ducklake
def test_a_preview_of_two_migrations_alters_then_renames(target, project):
    """Applied, each is a transaction of its own, so the rename is fine; previewed, they share one,
    where DuckLake lists the table under its old name too."""
    project.sql(V1, "add", "ALTER TABLE t ADD COLUMN w INTEGER;")
    project.sql(V2, "rename", "ALTER TABLE t RENAME TO items;")
    before = snapshot(target)
    p = previewed(target, project)
    assert p.ok and p.schema_changes == [("table", "items", None, "renamed", "t", "items"),
                                         ("column", "items", "w", "added", None, "INTEGER")]
    assert (p.proposed_downgrade.statements, p.proposed_downgrade.cannot) == (
        ['ALTER TABLE "items" RENAME TO "t";', 'ALTER TABLE "t" DROP COLUMN "w";'], [])
    committed(target, "ALTER TABLE t ADD COLUMN w INTEGER;")
    committed(target, "ALTER TABLE t RENAME TO items;")
    committed(target, p.proposed_downgrade.sql)
    assert snapshot(target) == before


LOSSY = """\
ALTER TABLE t RENAME TO items;
ALTER TABLE items ALTER COLUMN id DROP NOT NULL;
ALTER TABLE items ALTER COLUMN id TYPE BIGINT;
ALTER TABLE items DROP COLUMN v;
ALTER TABLE items ADD COLUMN w INTEGER;
"""


@pytest.mark.ducklake
def test_what_a_lake_cannot_take_back_is_said(target, project):
    project.sql(V1, "lossy", LOSSY)
    before = snapshot(target)
    down = previewed(target, project).proposed_downgrade
    assert down.statements == ['ALTER TABLE "items" RENAME TO "t";', 'ALTER TABLE "t" ADD COLUMN "v" VARCHAR;',
                               'ALTER TABLE "t" DROP COLUMN "w";']
    # v is added back; its values come back from what duckmig keeps as it applies the migration (-- migrate:restore)
    assert str(down).endswith("\n-- migrate:restore")
    assert down.cannot == [
        "items.id went from INTEGER to BIGINT, and DuckLake changes a column's type only to a wider one, so no "
        "ALTER turns it back: add a column of type INTEGER, fill it with UPDATE ... CAST, drop id and rename the "
        "new column",
        "on DuckLake, items.id is made NOT NULL again only by the first statement that alters items in a "
        'transaction: run `ALTER TABLE "t" ALTER COLUMN "id" SET NOT NULL;` in a migration of its own',
    ]
    committed(target, LOSSY)
    committed(target, down.sql)
    committed(target, 'ALTER TABLE "t" ALTER COLUMN "id" SET NOT NULL;')  # as the proposal says
    after = snapshot(target)
    assert {k: v for k, v in after.items() if k != ("column", "main.t.id")} == {
        k: v for k, v in before.items() if k != ("column", "main.t.id")}
    assert (before[("column", "main.t.id")], after[("column", "main.t.id")]) == (
        "INTEGER NOT NULL DEFAULT NULL", "BIGINT NOT NULL DEFAULT NULL")


@pytest.mark.ducklake
def test_a_lone_not_null_is_proposed_first(target, project):
    up = "ALTER TABLE t ALTER COLUMN id DROP NOT NULL;\nALTER TABLE t ADD COLUMN w INTEGER;"
    project.sql(V1, "nullable", up)
    before = snapshot(target)
    down = previewed(target, project).proposed_downgrade
    assert (down.statements, down.cannot) == (
        ['ALTER TABLE "t" ALTER COLUMN "id" SET NOT NULL;', 'ALTER TABLE "t" DROP COLUMN "w";'], [])
    committed(target, up)
    committed(target, down.sql)
    assert snapshot(target) == before


# -- up, down and redo: once the ledger takes a lake --------------------------------------------------


@pytest.mark.ducklake
def test_up_names_the_limit(target, project, duckmig):
    project.sql(V1, "index", "CREATE INDEX ti ON t (id);", "DROP INDEX ti;")
    r = duckmig("--database", target, "up")  # the lint knows the limit, and stops up before it runs
    assert r.code == 1 and f"{V1}_index.sql:2: DM135 CREATE INDEX ti fails on a DuckLake" in r.err
    r = duckmig("--database", target, "up", "--no-lint")  # the lake's own refusal, told the same way
    assert (r.code, after_progress(r.err)) == (1, f"duckmig: error: applying {V1} failed: Not implemented Error: DuckLake does not "
                                  "support indexes\n  statement: CREATE INDEX ti ON t (id)\n  rolled back: nothing of "
                                  f"it remains\n  hint: {INDEX_HINT}; then run the migration again\n")


@pytest.mark.ducklake
def test_up_names_the_limit_in_the_python_api(file_target, project):
    project.sql(V1, "index", "CREATE INDEX ti ON t (id);")
    m = migrator(file_target, project)
    try:
        with pytest.raises(errors.MigrationFailed) as caught:
            m.up(no_lint=True)
    finally:
        closed(m)
    assert str(caught.value).endswith(f"\n  hint: {INDEX_HINT}; then run the migration again")


@pytest.mark.ducklake
def test_up_names_the_limit_in_the_magics(lake_shell, project):
    project.sql(V1, "index", "CREATE INDEX ti ON t (id);")
    with pytest.raises(UsageError, match=r"DM135 CREATE INDEX ti fails on a DuckLake.*nothing was applied"):
        lake_shell.run_line_magic("migrate", "up")  # the notebook's own connection: linted as the lake it is
    with pytest.raises(UsageError) as caught:
        lake_shell.run_line_magic("migrate", "up --no-lint")
    assert str(caught.value).endswith(f"\n  hint: {INDEX_HINT}; then run the migration again")


NARROW = hint("only widening type promotions are allowed")


@pytest.mark.ducklake
@pytest.mark.parametrize("verb", ["down", "redo"])
def test_down_and_redo_name_the_limit(target, project, duckmig, verb):
    project.sql(V1, "wider", WIDER, "ALTER TABLE t ALTER COLUMN id TYPE INTEGER;")
    assert duckmig("--database", target, "up").code == 0
    r = duckmig("--database", target, verb)
    assert (r.code, after_progress(r.err)) == (1, f"duckmig: error: reverting {V1} failed: Catalog Error: Cannot change type of "
                                  "column id from BIGINT to INTEGER - only widening type promotions are allowed\n"
                                  "  statement: ALTER TABLE t ALTER COLUMN id TYPE INTEGER\n  rolled back: nothing "
                                  f"of it remains\n  hint: {NARROW}; then store the downgrade with `duckmig repair` "
                                  "and revert again\n")


@pytest.mark.ducklake
def test_the_proposed_downgrade_reverts_with_down(target, project, duckmig):
    project.sql(V1, "reshape", RESHAPE)
    before = snapshot(target)
    down = previewed(target, project).proposed_downgrade
    project.sql(V1, "reshape", RESHAPE, down.sql)
    assert [duckmig("--database", target, verb).code for verb in ("up", "down")] == [0, 0]
    ledger = ("main.duckdb_migrations", "duckdb_migrations")
    assert {k: v for k, v in snapshot(target).items() if not any(t in k[1] for t in ledger)} == before
