"""Names and text from users reach SQL only quoted or as parameters, and files only as slugs.

The ledger's table name (``--table``) and the tables a preview reads are quoted
identifiers; a description is stored as a parameter; a SQL migration is parsed
as SQL and never run as anything else. Python migrations are code, and the
README says so.
"""

from __future__ import annotations

import pytest

from duckmig_magic import errors

V1, V2 = "20250101_000001", "20250102_000002"
HOSTILE = ['my "ledger"', "ledger; DROP TABLE items; --", "with space", "Ünïcode", "it's", "a.b", '"']


def items(project, up: str = "SELECT 1;", v2: str | None = None):
    project.sql(V1, "items", "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR);\n"
                "INSERT INTO items VALUES (1, 'a'), (2, 'b');", "DROP TABLE items;")
    if v2 is not None:
        project.write(f"{V2}_second.sql", v2, dedent=False)


@pytest.mark.parametrize("table", HOSTILE)
def test_a_ledger_table_of_any_name_is_one_quoted_identifier(project, cli, table):
    items(project, v2="-- migrate:up\nCREATE TABLE tags (t VARCHAR);\n-- migrate:down\nDROP TABLE tags;\n")
    where = ["-d", project.db, "--dir", project.directory, "--table", table]
    assert cli("up", *where).out == "applied 2 migrations\n"
    assert project.tables() == {"items", "tags", table, f"{table}_history"}
    assert project.query(f'SELECT version, status FROM "{table.replace(chr(34), 2 * chr(34))}" ORDER BY 1') \
        == [(V1, "applied"), (V2, "applied")]
    assert "2 applied" in cli("status", *where).out
    assert cli("down", *where).out == "reverted 1 migration\n"
    assert [e.event for e in project.migrator(table=table).history()] == ["applied", "applied", "reverted"]
    assert project.query("SELECT count(*) FROM items") == [(2,)]


@pytest.mark.parametrize("description", ["'); DROP TABLE items; --", "Robert'); DROP TABLE students;--",
                                         "$$; DROP TABLE items; $$", '"); import os; os.system("id"); ("'])
def test_a_description_is_stored_as_data(project, description):
    items(project)
    project.write(f"{V2}_sql_form.sql", f"-- description: {description}\n-- migrate:up\nSELECT 1;\n",
                  dedent=False)
    project.write("20250103_000003_python_form.py", (
        "from duckmig_magic import BaseMigration\n\n\nclass M(BaseMigration):\n"
        f"    def __init__(self):\n        super().__init__(version='20250103_000003', description={description!r})\n\n"
        "    def upgrade(self, session):\n        session.exec('SELECT 1')\n"), dedent=False)
    project.migrator().up()
    assert project.query("SELECT description FROM duckdb_migrations WHERE version > ? ORDER BY version", [V1]) \
        == [(description,), (description,)]
    assert project.query("SELECT count(*) FROM items") == [(2,)]


@pytest.mark.parametrize("text, error", [
    ("import os\nos.system('touch pwned')\n", errors.NoUpMarker),
    ("-- migrate:up\n__import__('os').system('touch pwned')\n", errors.SqlSyntaxError),
    ("-- migrate:up\nSELECT '__import__(\"os\").system(\"touch pwned\")';\n", None),
])
def test_a_sql_migration_runs_nothing_but_sql(project, text, error, monkeypatch):
    monkeypatch.chdir(project.root)
    project.write(f"{V1}_not_python.sql", text, dedent=False)
    if error:
        with pytest.raises(error):
            project.migrator().up()
    else:
        assert [r.version for r in project.migrator().up()] == [V1]
    assert not (project.root / "pwned").exists()


def test_a_preview_quotes_the_names_of_the_tables_it_reads(project):
    table, column = 'we"ird; DROP TABLE items; --', 'va"l ue'
    q = lambda name: '"' + name.replace('"', '""') + '"'  # noqa: E731
    items(project)
    project.sql(V2, "hostile", f"CREATE TABLE {q(table)} (id INTEGER PRIMARY KEY, {q(column)} VARCHAR);\n"
                f"INSERT INTO {q(table)} VALUES (1, 'x'), (2, 'y');")
    project.sql("20250103_000003", "change", f"UPDATE {q(table)} SET {q(column)} = 'z' WHERE id = 2;\n"
                f"INSERT INTO {q(table)} VALUES (3, 'w');")
    m = project.migrator()
    m.up(V2)
    before = project.query(f"SELECT * FROM {q(table)} ORDER BY id")
    preview = m.preview()
    assert preview.ok and preview.table_names == [table]
    assert preview.summary.iloc[0][["rows_before", "rows_after", "added", "changed"]].tolist() == [2, 3, 1, 1]
    assert project.query(f"SELECT * FROM {q(table)} ORDER BY id") == before
    assert project.tables() == {"items", table, "duckdb_migrations", "duckdb_migrations_history"}
