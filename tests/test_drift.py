"""Declared schemas and drift (issue 23), as a user meets them: `duckmig diff`, `%%schema`,
`verify --schema`, `diff --from-migrations`; and previews that show only what changed (issue 22)."""

from __future__ import annotations

import duckdb
import pytest

from duckmig_magic import errors

from test_preview import plain

pytestmark = pytest.mark.duckdb15

V1 = "20250101_000000"
SETUP = """CREATE TABLE sales (id INTEGER PRIMARY KEY, region VARCHAR, amount DOUBLE);
CREATE INDEX sales_region ON sales (region);
CREATE VIEW big_sales AS SELECT * FROM sales WHERE amount > 100;
CREATE MACRO with_tax(x) AS x * 1.2;
INSERT INTO sales SELECT range, 'r' || (range % 3), range * 10.0 FROM range(50);"""


@pytest.fixture
def applied(project, cli):
    project.sql(V1, "sales", SETUP, "DROP MACRO with_tax;\nDROP VIEW big_sales;\nDROP TABLE sales;")
    assert cli("up", "--database", project.db).code == 0
    return project


def by_hand(project, sql: str) -> None:
    with duckdb.connect(str(project.db)) as conn:
        conn.execute(sql)


# -- drift -------------------------------------------------------------------------------------------------------


def test_a_database_that_matches_its_migrations_reports_nothing(applied, cli):
    r = cli("verify", "--schema", "--database", applied.db)
    assert (r.code, r.out) == (0, "checked 1 applied migration, the catalog against them replayed: ok\n")


@pytest.mark.parametrize("edit, found", [
    ("ALTER TABLE sales ADD COLUMN note VARCHAR", "column sales.note added: VARCHAR"),
    ("DROP INDEX sales_region", "index sales_region dropped (was CREATE INDEX sales_region ON sales(region);)"),
    ("CREATE OR REPLACE VIEW big_sales AS SELECT * FROM sales WHERE amount > 200",
     "view big_sales changed: CREATE VIEW big_sales AS SELECT * FROM sales WHERE (amount > 100); -> "
     "CREATE VIEW big_sales AS SELECT * FROM sales WHERE (amount > 200);"),
    ("CREATE OR REPLACE MACRO with_tax(x) AS x * 1.25",
     'macro with_tax changed: CREATE MACRO "with_tax"("x") AS (x * 1.2); -> CREATE MACRO "with_tax"("x") AS (x * 1.25);'),
], ids=["column added", "index dropped", "view replaced", "macro redefined"])
def test_a_change_by_hand_is_caught_by_verify_schema(applied, cli, edit, found):
    by_hand(applied, edit)
    r = cli("verify", "--schema", "--database", applied.db)
    assert r.code == 3
    assert r.out == f"  schema drift: {found}\nchecked 1 applied migration, the catalog against them replayed: 1 problem\n"
    assert [p.detail for p in applied.migrator().verify(schema=True).problems] == [found]


@pytest.mark.parametrize("outside", [
    "COPY (SELECT 42) TO 'export.csv';",
    "EXPLAIN ANALYZE COPY (SELECT 42) TO 'export.csv';",
    "ATTACH 'export.csv' AS other;\nDETACH other;",
], ids=["copy to", "wrapped copy", "attach"])
@pytest.mark.parametrize("verb", [("verify", "--schema"), ("diff", "--from-migrations")])
def test_the_replay_writes_nothing_outside_memory(applied, cli, outside, verb):
    """The replay runs the applied migrations as a preview does: a statement that would write a file or
    another database (itself, or wrapped) is refused with one message, and nothing is written."""
    applied.sql("20250102_000000", "export", outside, "SELECT 1;")
    assert cli("up", "--no-lint", "--database", applied.db).code == 0
    (applied.root / "export.csv").unlink(missing_ok=True)
    before = sorted(p.name for p in applied.root.iterdir())
    r = cli(*verb, "--database", applied.db)
    assert r.code == 2 and "Traceback" not in r.err
    assert r.err.startswith("duckmig: error: cannot replay 20250102_000000 in memory: it runs `")
    assert sorted(p.name for p in applied.root.iterdir()) == before


def test_the_replay_takes_transaction_control_and_use(applied, cli):
    """USE changes only the replay's own connection, thrown away after; BEGIN and COMMIT of a section
    outside a transaction run as written: the replay takes both and finds nothing."""
    applied.sql("20250102_000000", "schemas", "BEGIN;\nCREATE SCHEMA s;\nCOMMIT;\nUSE s;\nCREATE TABLE u (y INTEGER);\n"
                "USE main;", "DROP SCHEMA s CASCADE;", options="transaction:false")
    assert cli("up", "--database", applied.db).code == 0
    r = cli("verify", "--schema", "--database", applied.db)
    assert (r.code, r.out) == (0, "checked 2 applied migrations, the catalog against them replayed: ok\n")


def test_the_migration_from_the_files_to_the_database_is_written_and_then_nothing_drifts(applied, cli):
    by_hand(applied, "ALTER TABLE sales ADD COLUMN note VARCHAR DEFAULT 'n/a'; DROP INDEX sales_region")
    r = cli("diff", "--from-migrations", "--save", "hand_edits", "--database", applied.db)
    assert r.code == 0, r.err
    saved = next(applied.versions.glob("*_hand_edits.sql"))
    version = saved.name[:15]
    assert f"`duckmig stamp {version}` records it as applied" in r.out
    assert cli("stamp", version, "--database", applied.db).code == 0
    assert cli("verify", "--schema", "--database", applied.db).code == 0
    # The file is a migration like any other: reverted and applied again, the schema comes back each time.
    assert cli("down", "--database", applied.db).code == 0
    assert cli("verify", "--schema", "--database", applied.db).code == 0
    assert applied.query("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'sales_region'") == [(1,)]
    assert cli("up", "--database", applied.db).code == 0
    assert applied.query("SELECT count(*), count(note) FROM sales") == [(50, 50)]


# -- diff to a declared schema -----------------------------------------------------------------------------------


def test_diff_to_a_schema_file_proposes_renames_and_saves_what_a_migration_cell_would(applied, cli, shell):
    schema = applied.root / "schema.sql"
    schema.write_text("CREATE TABLE sales (id INTEGER PRIMARY KEY, area VARCHAR, amount DECIMAL(18, 2), "
                      "note VARCHAR DEFAULT '');\nCREATE INDEX sales_area ON sales (area);\n"
                      "CREATE VIEW big_sales AS SELECT * FROM sales WHERE amount > 100;\n")
    shown = cli("diff", "--to", schema, "--database", applied.db)
    assert shown.code == 0
    assert "likely renames" in shown.out and "column sales.region -> sales.area" in shown.out
    assert "macro with_tax dropped" in shown.out
    refused = cli("diff", "--to", schema, "--save", "reshape", "--database", applied.db)
    assert refused.code == 2 and "not saved: likely renames are undecided" in refused.err
    assert list(applied.versions.glob("*_reshape.sql")) == []
    done = cli("diff", "--to", schema, "--rename", "sales.region=area", "--save", "reshape",
               "--database", applied.db)
    assert done.code == 0, done.err
    path = next(applied.versions.glob("*_reshape.sql"))
    # The same text as a %%migration cell writes: running that cell leaves the file as it is.
    m = applied.migrator()
    body = m.diff(schema, renames={"sales.region": "area"}).body
    assert m.save("reshape", body).action == "unchanged"
    assert cli("verify", "--roundtrip", "--database", applied.db).code == 0
    before = applied.query("SELECT id, region, amount FROM sales ORDER BY id")
    assert cli("up", "--database", applied.db).code == 0
    assert m.diff(schema).empty
    assert applied.query("SELECT id, area, amount::DOUBLE FROM sales ORDER BY id") == before
    assert cli("down", "--database", applied.db).code == 0
    assert applied.query("SELECT id, region, amount FROM sales ORDER BY id") == before
    assert cli("verify", "--schema", "--database", applied.db).code == 0


def test_a_drop_with_rows_comes_with_the_previews_data_loss_warning(applied, cli):
    schema = applied.root / "schema.sql"
    schema.write_text("CREATE TABLE sales (id INTEGER PRIMARY KEY, amount DOUBLE);\n")
    r = cli("diff", "--to", schema, "--database", applied.db)
    assert "warnings (what applying it to the database loses):\n  column sales.region is dropped with 50 " \
           "non-NULL values" in r.out
    d = applied.migrator().diff(schema)
    assert [w.kind for w in d.preview.warning_list] == ["column dropped"]
    assert d.to_dict()["warnings"] == ["column sales.region is dropped with 50 non-NULL values"]


def test_a_schema_cell_shows_the_migration_and_its_preview_and_saves_it(applied, shell, capsys):
    shell.run_line_magic("migrate", f"connect {applied.db} --dir migrations")
    capsys.readouterr()
    cell = ("CREATE TABLE sales (id INTEGER PRIMARY KEY, region VARCHAR, amount DOUBLE, seen BOOLEAN DEFAULT false);\n"
            "CREATE INDEX sales_region ON sales (region);\n"
            "CREATE VIEW big_sales AS SELECT * FROM sales WHERE amount > 100;\n"
            "CREATE MACRO with_tax(x) AS x * 1.2;\n")
    view = shell.run_cell_magic("schema", "", cell)
    out = capsys.readouterr().out
    assert out.startswith("the migration that takes the database to the schema: 1 change\n"
                          "  column sales.seen added: BOOLEAN DEFAULT ")  # false; 1.5 writes CAST('f' AS BOOLEAN)
    assert view.preview.table("sales").rows_after == 50
    assert list(applied.versions.glob("*_seen.sql")) == []
    shell.run_cell_magic("schema", "--save seen", cell)
    assert "saved: migrations/versions/" in capsys.readouterr().out
    result = shell.run_cell("%migrate up")
    assert result.error_in_exec is None
    assert applied.migrator().diff(cell).empty


def test_a_schema_cell_with_data_in_it_is_refused_with_its_line(applied, shell):
    shell.run_line_magic("migrate", f"connect {applied.db} --dir migrations")
    result = shell.run_cell("%%schema --save x\nCREATE TABLE t (x INTEGER);\nCOPY t FROM 'data.csv';\n")
    assert isinstance(result.error_in_exec, Exception)
    assert str(result.error_in_exec).startswith("the schema line 2: `COPY t FROM 'data.csv'` is not DDL (COPY)")
    assert list(applied.versions.glob("*_x.sql")) == []


def test_diff_names_what_it_needs(project):
    with pytest.raises(errors.ConfigError, match="one of them"):
        project.migrator().diff()
    with pytest.raises(errors.ConfigError, match=r"^rename nope: no such table or column"):
        project.migrator().diff("CREATE TABLE t (x INTEGER);", renames={"nope": "t"})


# -- previews show only what changed (issue 22) ----------------------------------------------------------------


def test_a_preview_shows_no_row_for_a_table_it_does_not_change(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE a (x INTEGER, y INTEGER, UNIQUE (x, y)); "
                     "CREATE TABLE c (p INTEGER, q INTEGER, r INTEGER PRIMARY KEY, UNIQUE (p, q), UNIQUE (q, r), "
                     "CHECK (p > 0)); CREATE TABLE d (z INTEGER REFERENCES c (r))")
    project.sql(V1, "b", "CREATE TABLE b (z INTEGER);")
    p = project.migrator().preview()
    assert plain(p.schema) == [["table", "b", None, "created", None, None]]
    assert p.proposed_downgrade.statements == ['DROP TABLE "b";']


def test_a_preview_shows_only_the_constraint_that_changed(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE a (x INTEGER, y INTEGER, UNIQUE (x, y), CHECK (x > 0))")
    project.sql(V1, "rebuild", "CREATE TABLE a2 (x INTEGER, y INTEGER, UNIQUE (x, y));\n"
                               "INSERT INTO a2 SELECT * FROM a;\nDROP TABLE a;\nALTER TABLE a2 RENAME TO a;")
    p = project.migrator().preview()
    # The UNIQUE constraint it had and has again is not shown; the CHECK it lost is.
    assert [row for row in plain(p.schema) if row[0] == "constraint"] == [
        ["constraint", "a", None, "dropped", "CHECK((x > 0))", None]]


def test_the_proposed_downgrade_of_a_destructive_migration_restores_the_schema_and_passes_roundtrip(project, cli):
    """Issue 22's sales example: the proposal re-adds the dropped column and drops the table made."""
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_name VARCHAR NOT NULL DEFAULT '?', "
                     "amount DOUBLE); INSERT INTO orders SELECT range, 'c' || (range % 7), range FROM range(100)")
    path = project.sql(V1, "customers", "CREATE TABLE customers AS SELECT DISTINCT customer_name FROM orders;\n"
                                        "ALTER TABLE orders DROP COLUMN customer_name;\nDELETE FROM orders WHERE id < 30;")
    down = project.migrator().preview().proposed_downgrade
    assert down.statements == ['DROP TABLE "customers";',
                               """ALTER TABLE "orders" ADD COLUMN "customer_name" VARCHAR DEFAULT '?';""",
                               'ALTER TABLE "orders" ALTER COLUMN "customer_name" SET NOT NULL;']
    assert down.cannot == [
        "column order: the columns of orders come back in the order id, amount, customer_name, not id, "
        "customer_name, amount: compare them by name"]
    # The values and rows come back from what duckmig keeps, by the restore line that ends the proposal.
    assert str(down).endswith("\n-- migrate:restore")
    path.write_text(path.read_text() + "\n-- migrate:down\n" + str(down) + "\n")
    checked = cli("verify", "--roundtrip", "--database", project.db)
    if int(duckdb.__version__.split(".")[0]) < 2:  # the rows deleted cannot go back in the same transaction there
        assert checked.code == 3 and f"{V1}  skipped: cannot be checked in one transaction on DuckDB 1.x" in checked.out
    else:
        assert checked.code == 0, checked.out
    before = project.query("SELECT id, customer_name, amount FROM orders ORDER BY id")
    assert cli("up", "--database", project.db).code == 0
    assert cli("down", "--database", project.db).code == 0
    assert project.query("SELECT id, customer_name, amount FROM orders ORDER BY id") == before


def test_a_table_replaced_by_the_same_table_with_the_same_rows_shows_nothing(project):
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR CHECK (v <> '')); "
                     "INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    project.sql(V1, "same", "CREATE TABLE t2 (id INTEGER PRIMARY KEY, v VARCHAR CHECK (v <> ''));\n"
                            "INSERT INTO t2 SELECT * FROM t;\nDROP TABLE t;\nALTER TABLE t2 RENAME TO t;")
    p = project.migrator().preview()
    assert (plain(p.schema), p.warning_list, str(p.proposed_downgrade)) == ([], [], "")
    assert [(t.table, t.added, t.removed, t.changed) for t in p.tables] == [("t", 0, 0, 0)]
    # The same, losing a row: the rows say so, and the downgrade says it cannot bring it back.
    project.sql(V1, "same", "CREATE TABLE t2 (id INTEGER PRIMARY KEY, v VARCHAR CHECK (v <> ''));\n"
                            "INSERT INTO t2 SELECT * FROM t WHERE id = 1;\nDROP TABLE t;\nALTER TABLE t2 RENAME TO t;")
    p = project.migrator().preview()
    assert plain(p.schema) == [] and [w.kind for w in p.warning_list] == ["rows removed"]
    assert p.proposed_downgrade.cannot == [] and p.proposed_downgrade.restores  # kept when applied, put back
    assert project.migrator(keep=False).preview().proposed_downgrade.cannot == [
        "t: 1 row removed; a downgrade from the schema cannot restore rows"]


def test_verify_schema_replays_python_migrations_and_speaks_in_the_notebook(applied, shell, capsys):
    applied.write("20250102_000000_flag.py", '''
        from duckmig_magic import BaseMigration


        class Flag(BaseMigration):
            def __init__(self):
                super().__init__(version="20250102_000000", description="flag")

            def upgrade(self, session):
                session.exec("ALTER TABLE sales ADD COLUMN flagged BOOLEAN DEFAULT false")
                session.exec("UPDATE sales SET flagged = amount > 300")

            def downgrade(self, session):
                session.exec("ALTER TABLE sales DROP COLUMN flagged")
        ''')
    shell.run_line_magic("migrate", f"connect {applied.db} --dir migrations")
    shell.run_line_magic("migrate", "up")
    capsys.readouterr()
    shell.run_line_magic("migrate", "verify --schema")
    assert capsys.readouterr().out == "checked 2 applied migrations, the catalog against them replayed: ok\n"
    by_hand(applied, "ALTER TABLE sales ALTER amount SET DEFAULT 0")
    result = shell.run_cell("%migrate verify --schema")
    assert str(result.error_in_exec) == ("  schema drift: column sales.amount default changed: none -> 0\n"
                                         "checked 2 applied migrations, the catalog against them replayed: 1 problem")


def test_a_schema_cell_decides_a_rename_on_its_line(applied, shell, capsys):
    shell.run_line_magic("migrate", f"connect {applied.db} --dir migrations")
    cell = ("CREATE TABLE sales (id INTEGER PRIMARY KEY, area VARCHAR, amount DOUBLE);\n"
            "CREATE INDEX sales_region ON sales (area);\n")
    refused = shell.run_cell("%%schema --save areas\n" + cell)
    assert "not saved: likely renames are undecided: column sales.region -> sales.area" in str(refused.error_in_exec)
    capsys.readouterr()
    shell.run_cell_magic("schema", "--rename sales.region=area --save areas", cell)
    assert "saved: migrations/versions/" in capsys.readouterr().out
    assert shell.run_cell("%migrate up").error_in_exec is None
    assert applied.query("SELECT count(area) FROM sales") == [(50,)]


def test_what_duckmig_keeps_is_neither_drift_nor_part_of_a_declared_schema(applied, cli, tmp_path):
    """The kept data of a migration that destroyed rows lives beside the user's tables, in duckmig's own
    schema: verify --schema, diff and lint read the catalog without it, as they read it without the ledger."""
    applied.sql("20250102_000000", "trim", "UPDATE sales SET region = 'x' WHERE id < 10;\nDELETE FROM sales WHERE id > 40;",
                "-- migrate:restore")
    assert cli("up", "--database", applied.db).code == 0
    assert "20250102_000000" in cli("kept", "--database", applied.db).out
    r = cli("verify", "--schema", "--database", applied.db)
    assert (r.code, r.out) == (0, "checked 2 applied migrations, the catalog against them replayed: ok\n")
    wanted = tmp_path / "wanted.sql"
    wanted.write_text(SETUP.split("INSERT", 1)[0].replace("DOUBLE", "DOUBLE, note VARCHAR"))
    shown = cli("diff", "--to", str(wanted), "--database", applied.db).out
    assert "duckmig_kept" not in shown and "column sales.note added" in shown
