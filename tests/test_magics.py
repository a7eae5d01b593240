"""%%migration and %migrate, driven through a real IPython InteractiveShell."""

from __future__ import annotations

import datetime
import re
import shutil
import textwrap

import duckdb
import pytest
from IPython.core.error import UsageError

import duckmig_magic
from duckmig_magic.display import PreviewView
from conftest import STATE
from duckmig_magic.magics import Duckmig, parse_migration_line

TAGS = """\
-- migrate:up
CREATE TABLE tags (id INTEGER PRIMARY KEY, name VARCHAR);

-- migrate:down
DROP TABLE tags;
"""
NOTES = """\
-- migrate:up
CREATE TABLE notes (body VARCHAR);

-- migrate:down
DROP TABLE notes;
"""


@pytest.fixture
def connected(shell, project, capsys):
    shell.run_line_magic("migrate", f"connect {project.db.name}")
    capsys.readouterr()
    return shell


def migrate(shell, line):
    return shell.run_line_magic("migrate", line)


def cell(shell, line, body):
    return shell.run_cell_magic("migration", line, body)


def files(project) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(project.versions.iterdir())}


def version_of(project, slug: str) -> str:
    (name,) = [n for n in files(project) if n.endswith(f"_{slug}.sql") or n.endswith(f"_{slug}.py")]
    return name[:15]


def database_state(project):
    """Everything a test can compare: tables and ledger rows, or None without a database file."""
    if not project.db.exists():
        return None
    tables = project.query("SELECT table_name FROM duckdb_tables() ORDER BY 1")
    ledger = project.query(f"SELECT version, status, checksum FROM {STATE} ORDER BY 1") \
        if ("duckdb_migrations",) in tables else []
    return tables, ledger


# -- loading ---------------------------------------------------------------------


def test_load_twice_is_harmless_and_unload_removes_the_magics(shell, project, capsys):
    magics = shell.magics_manager.magics
    assert "migrate" in magics["line"] and "migration" in magics["cell"]
    migrate(shell, "connect app.db")
    duckmig_magic.load_ipython_extension(shell)  # a second load keeps the first, and its connection
    shell.run_line_magic("load_ext", "duckmig_magic")
    capsys.readouterr()
    migrate(shell, "connect")
    assert capsys.readouterr().out == "connected: app.db; migrations: migrations/versions\n"
    assert sum(isinstance(c, Duckmig) for c in shell.configurables) == 1

    shell.run_line_magic("unload_ext", "duckmig_magic")
    assert "migrate" not in magics["line"] and "migration" not in magics["cell"]
    assert not any(isinstance(c, Duckmig) for c in shell.configurables)
    result = shell.run_cell("%migrate status")
    assert str(result.error_in_exec) == "Line magic function `%migrate` not found."
    shell.run_line_magic("load_ext", "duckmig_magic")
    assert "migrate" in magics["line"]


def test_help_is_generated_from_the_arguments(shell):
    doc = shell.find_line_magic("migrate").__doc__
    for usage in ["%migrate connect [--dir DIR] [--table TABLE] [--wait SECONDS]\n                       "
                  "[--data-path DIR] [--option NAME=VALUE]\n                       [target]",
                  "%migrate up [--out-of-order] [--allow-drift] [--single-transaction]\n                  "
                  "[--no-keep] [--no-lint] [--key TABLE=COLUMN[,COLUMN...]]\n                  [target]",
                  "%migrate prune [--through VERSION]",
                  "%migrate down [--steps STEPS] [--stored-downgrade]\n                    "
                  "[--trust-stored-python]\n                    [target]",
                  "%migrate history [version]", "%migrate verify [--roundtrip]", "%migrate stamp version",
                  "%migrate new [--python] description", "%migrate sql [--out-of-order] [--allow-drift] [target]"]:
        assert usage in doc
    assert "%%migration [--description TEXT] [--apply] [--preview] [--no-lint]\n                  [--python] " \
        "[--version VERSION]" in shell.find_cell_magic("migration").__doc__
    assert "%migrate preview [--key TABLE=COLUMN[,COLUMN...]] [--sample N]" in doc
    assert "(default: %config Duckmig.sample_size, 20)" in " ".join(doc.split())


@pytest.mark.parametrize("line, expected", [
    ("add_tags", dict(slug="add_tags", description=None, apply=False, preview=False, no_lint=False, python=False, version=None)),
    ("add_tags --apply --python",
     dict(slug="add_tags", description=None, apply=True, preview=False, no_lint=False, python=True, version=None)),
    ("add_tags --description 'Add the tags table'",
     dict(slug="add_tags", description="Add the tags table", apply=False, preview=False, no_lint=False, python=False,
          version=None)),
    ('--description "a b" add_tags',
     dict(slug="add_tags", description="a b", apply=False, preview=False, no_lint=False, python=False, version=None)),
    ("add_tags --version 20250101_000000",
     dict(slug="add_tags", description=None, apply=False, preview=False, no_lint=False, python=False, version="20250101_000000")),
    ("add_tags --preview --apply",
     dict(slug="add_tags", description=None, apply=True, preview=True, no_lint=False, python=False, version=None)),
])
def test_parse_migration_line(line, expected):
    assert vars(parse_migration_line(line)) == expected


# -- %%migration -------------------------------------------------------------------


def test_cell_creates_then_updates_its_own_file(connected, project, capsys):
    cell(connected, "add_tags --description 'Add the tags table'", TAGS)
    v = version_of(project, "add_tags")
    path = f"migrations/versions/{v}_add_tags.sql"
    assert capsys.readouterr().out == f"created: {path} (version {v})\n"
    assert files(project) == {f"{v}_add_tags.sql": "-- description: Add the tags table\n" + TAGS}

    cell(connected, "add_tags --description 'Add the tags table'", TAGS)
    assert capsys.readouterr().out == f"unchanged: {path} (version {v})\n"

    changed = TAGS.replace("name VARCHAR", "name VARCHAR NOT NULL")
    cell(connected, "add_tags --description 'Add the tags table'", changed)
    assert capsys.readouterr().out == f"updated: {path} (version {v})\n"
    assert files(project) == {f"{v}_add_tags.sql": "-- description: Add the tags table\n" + changed}
    assert database_state(project) is None  # authoring alone never touches the database


def test_apply_runs_the_cell_and_earlier_pending_ones(connected, project, capsys):
    cell(connected, "add_notes", NOTES)
    cell(connected, "add_tags --apply", TAGS)
    notes, tags = version_of(project, "add_notes"), version_of(project, "add_tags")
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"created: migrations/versions/{tags}_add_tags.sql (version {tags})"
    assert out[2].startswith(f"[1/2] applying {notes} add notes ... ok (")
    assert out[3].startswith(f"[2/2] applying {tags} add tags ... ok (")
    assert out[4:] == ["applied 2 migrations"]
    assert database_state(project)[1] == [(notes, "applied", project.migrator().scripts.get(notes).checksum),
                                          (tags, "applied", project.migrator().scripts.get(tags).checksum)]
    cell(connected, "add_tags --apply", TAGS)
    assert capsys.readouterr().out.splitlines()[1:] == [f"nothing to apply: {tags} is applied"]


def test_applied_migration_changed_is_refused(connected, project, capsys):
    cell(connected, "add_notes --apply", NOTES)
    cell(connected, "add_tags --apply", TAGS)
    notes, tags = version_of(project, "add_notes"), version_of(project, "add_tags")
    before, state = files(project), database_state(project)
    with pytest.raises(UsageError) as exc:
        cell(connected, "add_tags", TAGS.replace("VARCHAR", "TEXT"))
    assert str(exc.value) == (
        f"{tags} ({tags}_add_tags.sql) is already applied and its text changed; the file was left as it was\n"
        f"  hint: revert it first (`%migrate down {notes}` reverts it and everything newer), then run this "
        "again; or put the change in a new migration with another slug")
    assert (files(project), database_state(project)) == (before, state)

    migrate(connected, f"down {notes}")
    cell(connected, "add_tags --apply", TAGS.replace("VARCHAR", "TEXT"))
    assert project.query("SELECT data_type FROM duckdb_columns() WHERE table_name = 'tags' "
                         "AND column_name = 'name'") == [("VARCHAR",)]  # TEXT is DuckDB's VARCHAR
    assert "-- migrate:up\nCREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT);" in \
        files(project)[f"{tags}_add_tags.sql"]


def test_python_cell_takes_its_version_from_the_file_name(connected, project):
    cell(connected, "add_scores --python --apply", textwrap.dedent('''\
        from duckmig_magic import BaseMigration


        class AddScores(BaseMigration):
            def __init__(self):
                super().__init__(description="Add the scores table")

            def upgrade(self, session):
                self.execute_sql(session, "CREATE TABLE scores (points INTEGER)")
                session.commit()

            def downgrade(self, session):
                self.execute_sql(session, "DROP TABLE scores")
        '''))
    v = version_of(project, "add_scores")
    assert (f"{v}_add_scores.py") in files(project)
    assert ("scores",) in database_state(project)[0]
    frame = migrate(connected, "status")
    assert frame[["version", "description", "kind", "state"]].values.tolist() == \
        [[v, "Add the scores table", "python", "applied"]]
    migrate(connected, "down")
    assert ("scores",) not in database_state(project)[0]


@pytest.mark.parametrize("notebook, cell_id, header", [
    ("analysis.ipynb", "f3a9-1", "-- duckmig-source: analysis.ipynb#cell=f3a9-1\n"),
    ("analysis.ipynb", None, "-- duckmig-source: analysis.ipynb\n"),
    # an editor's cell URI carries a local path: the notebook alone is kept
    ("analysis.ipynb", "vscode-notebook-cell:/home/u/analysis.ipynb#W1sZmlsZQ==",
     "-- duckmig-source: analysis.ipynb\n"),
    ("{root}/notebooks/deep.ipynb", "c1", "-- duckmig-source: notebooks/deep.ipynb#cell=c1\n"),
    (None, "c1", ""),
])
def test_cell_records_where_it_came_from(connected, project, notebook, cell_id, header):
    if notebook:
        connected.user_ns["__vsc_ipynb_file__" if "{root}" in notebook else "__session__"] = \
            notebook.format(root=project.root)
    connected.parent_header = {"metadata": {"cellId": cell_id}}
    cell(connected, "add_tags", TAGS)
    assert list(files(project).values()) == [header + TAGS]


def test_errors_in_a_cell_name_its_own_lines(connected, project):
    connected.user_ns["__session__"] = "analysis.ipynb"
    connected.parent_header = {"metadata": {"cellId": "c1"}}
    with pytest.raises(UsageError) as exc:
        cell(connected, "add_tags --description 'Add tags'", "-- migrate:up\nSELECT 1;\nSELEC 2;\n")
    assert str(exc.value).startswith('%%migration add_tags:3: Parser Error: syntax error at or near "SELEC"')
    assert files(project) == {}


def test_failed_migration_is_one_error_and_the_kernel_goes_on(connected, project, capsys):
    result = connected.run_cell("%%migration bad_insert --apply\n-- migrate:up\n"
                                "CREATE TABLE t (a INTEGER);\nINSERT INTO missing VALUES (1);\n")
    v = version_of(project, "bad_insert")
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    assert message.startswith(f"applying {v} failed: Catalog Error: Table with name missing does not exist!")
    assert message.endswith("\n  statement: INSERT INTO missing VALUES (1)\n"
                            "  rolled back: nothing of it remains\n  hint: fix the migration and run it again")
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == [f"[1/1] applying {v} bad insert ... failed"]
    assert f"UsageError: applying {v} failed" in captured.err and "Traceback" not in captured.err + captured.out
    assert ("t",) not in database_state(project)[0]

    assert connected.run_cell("x = 1 + 1").success
    frame = migrate(connected, "status")
    assert frame[["version", "state", "statement"]].values.tolist() == \
        [[v, "failed", "INSERT INTO missing VALUES (1)"]]


def test_escape_sequences_never_reach_the_output(connected, project, capsys):
    result = connected.run_cell("%%migration boom --apply\n-- migrate:up\nSELECT error('boom\x1b[2J');\n")
    message = str(result.error_in_exec)
    assert "boom\\x1b[2J" in message and "\x1b" not in message
    shown = migrate(connected, "status").view.to_text()
    assert "failed: Invalid Input Error: boom\\x1b[2J" in shown and "\x1b" not in shown
    assert "\x1b" not in capsys.readouterr().out


# -- %migrate ------------------------------------------------------------------------


@pytest.mark.parametrize("line, returns", [
    ("status", "DataFrame"), ("history", "DataFrame"), ("preview", "PreviewView"), ("up", None), ("down", None),
    ("redo", None), ("verify", None), ("sql", None), ("stamp {notes}", None), ("repair", None), ("init", None),
    ("new 'Add x'", None), ("notebook -o built.ipynb", None), ("export nb.ipynb", None),
])
def test_what_each_verb_returns(connected, project, line, returns):
    import nbformat
    import pandas as pd

    cell(connected, "add_notes --apply", NOTES)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%migration add_tags\n" + TAGS)]),
                   str(project.root / "nb.ipynb"))
    result = migrate(connected, line.format(notes=version_of(project, "add_notes")))
    kinds = {"DataFrame": pd.DataFrame, "PreviewView": PreviewView, None: type(None)}
    assert isinstance(result, kinds[returns])


def test_status_history_and_down_return_and_change_what_they_should(connected, project, capsys):
    empty = migrate(connected, "status")
    assert list(empty.columns) == ["version", "description", "kind", "state", "applied_at", "execution_ms",
                                   "error", "statement", "file", "downgrade_differs"]
    assert len(empty) == 0
    cell(connected, "add_notes", NOTES)
    cell(connected, "add_tags", TAGS)
    notes, tags = version_of(project, "add_notes"), version_of(project, "add_tags")
    assert migrate(connected, "status")["state"].tolist() == ["pending", "pending"]
    assert migrate(connected, "up") is None
    assert capsys.readouterr().out.splitlines()[-1] == "applied 2 migrations"
    assert ("notes",) in database_state(project)[0]

    migrate(connected, "down")
    assert capsys.readouterr().out.splitlines()[-1] == "reverted 1 migration"
    frame = migrate(connected, "status")
    assert frame[["version", "state", "file"]].values.tolist() == [
        [notes, "applied", f"{notes}_add_notes.sql"], [tags, "pending", f"{tags}_add_tags.sql"]]
    assert frame["applied_at"].notna().tolist() == [True, False]

    history = migrate(connected, "history")
    assert list(history.columns) == ["seq", "version", "event", "occurred_at", "checksum", "execution_ms",
                                     "detail"]
    assert history[["version", "event"]].values.tolist() == [[notes, "applied"], [tags, "applied"],
                                                              [tags, "reverted"]]
    assert migrate(connected, f"history {tags}")["event"].tolist() == ["applied", "reverted"]


@pytest.mark.parametrize("line, edit", [
    ("sql", False),
    ("verify", False),
    ("verify --roundtrip", False),
    ("stamp {tags}", False),
    ("repair", True),
    ("redo", False),
])
def test_verbs_print_what_the_command_prints(connected, project, cli, capsys, line, edit):
    cell(connected, "add_notes", NOTES)
    cell(connected, "add_tags", TAGS)
    notes, tags = version_of(project, "add_notes"), version_of(project, "add_tags")
    migrate(connected, f"up {notes}")
    if edit:
        (project.versions / f"{notes}_add_notes.sql").write_text(NOTES.replace("-- migrate:up\n", "-- migrate:up\n-- edited\n"))
    line = line.format(tags=tags)
    shutil.copy(project.db, project.root / "copy.db")  # the command and the magic start alike
    expected = cli(*line.split(), "--database", project.root / "copy.db")
    capsys.readouterr()
    migrate(connected, line)
    out = capsys.readouterr().out
    assert expected.code == 0 and expected.out
    if line == "redo":  # the command reports progress on stderr, the magic in the cell's output
        assert out.splitlines()[-1] == expected.out.strip() == f"redid {notes}"
    else:
        assert out == expected.out


def test_verify_with_problems_is_an_error(connected, project):
    cell(connected, "add_tags --apply", TAGS)
    path = project.versions / f"{version_of(project, 'add_tags')}_add_tags.sql"
    path.write_text(TAGS.replace("-- migrate:up\n", "-- migrate:up\n-- edited\n"))
    with pytest.raises(UsageError) as exc:
        migrate(connected, "verify")
    assert str(exc.value) == (f"{version_of(project, 'add_tags')}  modified: the file changed since it was "
                              "applied\nchecked 1 applied migration: 1 problem")


def test_new_and_init_need_no_database(shell, project, capsys):
    migrate(shell, "init")
    assert capsys.readouterr().out == "exists: migrations/versions\n"
    migrate(shell, "new 'Add the scores table' --python")
    (name,) = files(project)
    assert name.endswith("_add_the_scores_table.py")
    assert capsys.readouterr().out == f"created: migrations/versions/{name}\n"


# -- connecting ------------------------------------------------------------------------


def test_own_connection_is_used_and_keeps_working(shell, project):
    shell.run_cell(f"import duckdb\ncon = duckdb.connect({str(project.db)!r})\n"
                   "con.execute('CREATE TABLE metrics (v INTEGER)')")
    con = shell.user_ns["con"]
    migrate(shell, "connect con")
    cell(shell, "add_tags --apply", TAGS)
    con.execute("INSERT INTO tags VALUES (1, 'a')")
    assert con.execute("SELECT name FROM tags").fetchall() == [("a",)]
    assert migrate(shell, "status")["state"].tolist() == ["applied"]

    con.execute("BEGIN TRANSACTION")
    con.execute("INSERT INTO metrics VALUES (7)")
    cell(shell, "add_notes", NOTES)
    with pytest.raises(UsageError) as exc:
        migrate(shell, "up")
    assert str(exc.value) == (
        "the connection has a transaction open; duckmig will not commit it for you\n"
        "  hint: finish it with COMMIT or ROLLBACK on that connection, then run the migration again")
    assert con.execute("SELECT v FROM metrics").fetchall() == [(7,)]
    con.execute("ROLLBACK")  # still the user's own transaction: nothing of it was committed
    assert con.execute("SELECT count(*) FROM metrics").fetchall() == [(0,)]
    assert ("notes",) not in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    migrate(shell, "up")
    assert con.execute("SELECT count(*) FROM notes").fetchall() == [(0,)]

    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.ConversionException):  # aborts the transaction on duckdb 1.x and 2.x alike
        con.execute("SELECT CAST('x' AS INTEGER)")
    hint = "\n  hint: ROLLBACK the connection's failed transaction"
    with pytest.raises(UsageError) as exc:
        migrate(shell, "status")
    assert str(exc.value) == "DuckDB: TransactionContext Error: Current transaction is aborted " \
        "(please ROLLBACK)" + hint
    con.execute("ROLLBACK")
    con.close()
    for verb in ("status", "up"):
        with pytest.raises(UsageError) as exc:
            migrate(shell, verb)
        assert str(exc.value) == (
            f"the connection to {project.db} is closed\n  hint: open it again and give duckmig the new connection "
            "(in a notebook: `%migrate connect VARIABLE`), or the database's path")


def test_a_read_only_connection_and_a_file_held_read_only_have_their_own_hints(shell, project, capsys):
    duckdb.connect(str(project.db)).close()
    shell.run_cell(f"import duckdb\nro = duckdb.connect({str(project.db)!r}, read_only=True)")
    migrate(shell, "connect ro")
    assert capsys.readouterr().out.splitlines()[1:3] == [
        "found: a database without a ledger (duckdb_migrations): no migration applied yet",
        "the connection is read-only: status and history work; up, down and preview need one that can write"]
    cell(shell, "add_tags", TAGS)
    assert migrate(shell, "status")["state"].tolist() == ["pending"]
    with pytest.raises(UsageError) as exc:
        migrate(shell, "up")
    assert str(exc.value) == (
        f"the connection to {project.db} is read-only (made with read_only=True): migrations write to the database "
        "and to its ledger\n  hint: give duckmig a connection that can write (duckdb.connect(PATH) without "
        "read_only, in a notebook: `%migrate connect VARIABLE`), or the database's path")

    migrate(shell, "connect app.db")  # the same file, by its path, while `ro` holds it read-only
    with pytest.raises(UsageError) as exc:
        migrate(shell, "up")
    assert str(exc.value).startswith("cannot open database app.db for writing: this process holds it open "
                                     "read-only (a connection made with read_only=True")
    assert "hint: close that connection (con.close())" in str(exc.value)
    shell.user_ns["ro"].close()
    migrate(shell, "up")
    assert migrate(shell, "status")["state"].tolist() == ["applied"]


@pytest.mark.parametrize("setup, says", [
    (None, "found: no file yet, a new database: the first migration creates it"),
    ("CREATE TABLE t (x INTEGER)", "found: a database without a ledger (duckdb_migrations): no migration applied yet"),
    ("CREATE TABLE duckdb_migrations (id INTEGER, version VARCHAR, description VARCHAR, applied_at TIMESTAMP);"
     "INSERT INTO duckdb_migrations VALUES (1, '20250101_000000', 'a', now()), (2, '20250102_000000', 'b', now())",
     "found: a ledger of the seed's layout (id, version, description, applied_at) with 2 migrations: the first "
     "run that writes adopts it in place, nothing lost"),
    ("applied", "found: 2 applied migrations, the newest 20250102_000000"),
])
def test_connect_opens_the_database_and_says_what_it_found(shell, project, capsys, setup, says):
    if setup == "applied":
        project.sql("20250101_000000", "a", "CREATE TABLE a (x INTEGER);")
        project.sql("20250102_000000", "b", "CREATE TABLE b (x INTEGER);")
        project.migrator().up()
    elif setup:
        with duckdb.connect(str(project.db)) as conn:
            conn.execute(setup)
    migrate(shell, "connect app.db")
    assert capsys.readouterr().out.splitlines() == ["connected: app.db; migrations: migrations/versions", says]
    assert project.db.exists() is (setup is not None)  # looking creates nothing


def test_connect_refuses_what_it_cannot_open_and_keeps_the_connection_there_was(shell, project, capsys):
    migrate(shell, "connect app.db")
    (project.root / "notes.txt").write_text("not a database\n")
    with pytest.raises(UsageError) as exc:
        migrate(shell, "connect notes.txt")
    assert str(exc.value).startswith("cannot open database notes.txt: ")
    with duckdb.connect(str(project.root / "other.db")) as conn:
        conn.execute("CREATE TABLE duckdb_migrations (x INTEGER)")
    with pytest.raises(UsageError) as exc:
        migrate(shell, "connect other.db")
    assert str(exc.value).startswith("table duckdb_migrations exists but is not a duckmig ledger (columns: x)")
    capsys.readouterr()
    migrate(shell, "connect")
    assert capsys.readouterr().out == "connected: app.db; migrations: migrations/versions\n"


def test_path_of_a_file_this_kernel_already_holds_open(shell, project):
    con = duckdb.connect(str(project.db))
    con.execute("CREATE TABLE metrics (v INTEGER)")
    migrate(shell, "connect app.db")
    cell(shell, "add_tags --apply", TAGS)
    assert migrate(shell, "status")["state"].tolist() == ["applied"]
    assert con.execute("SELECT count(*) FROM tags").fetchall() == [(0,)]
    con.close()


def test_memory_database(shell, project, capsys):
    migrate(shell, "connect :memory:")
    assert capsys.readouterr().out == "connected: a new in-memory database; migrations: migrations/versions\n"
    cell(shell, "add_tags --apply", TAGS)
    shell.run_line_magic("config", "Duckmig.directory = 'migrations'")  # rebuilt, same database
    assert migrate(shell, "status")["state"].tolist() == ["applied"]
    assert database_state(project) is None


def test_config_directory_and_pyproject(shell, project, capsys):
    with pytest.raises(UsageError) as exc:
        migrate(shell, "status")
    assert str(exc.value).startswith("no database to migrate: nothing is connected and no database is set\n")
    (project.root / "pyproject.toml").write_text('[tool.duckmig]\ndatabase = "app.db"\n')
    shell.run_line_magic("config", "Duckmig.directory = 'db/migrations'")
    shell.run_line_magic("config", "Duckmig.sample_size = 5")
    assert shell.magics_manager.registry["Duckmig"].sample_size == 5
    capsys.readouterr()
    migrate(shell, "connect")
    assert capsys.readouterr().out == (f"connected: {project.db} (from {project.root / 'pyproject.toml'}); "
                                       "migrations: db/migrations/versions\n")
    cell(shell, "add_tags --apply", TAGS)
    assert len(list((project.root / "db/migrations/versions").iterdir())) == 1
    assert ("tags",) in database_state(project)[0]
    migrate(shell, "connect other.db --dir migrations --table ledger")
    assert migrate(shell, "status").empty
    cell(shell, "add_notes --apply", NOTES)
    with duckdb.connect(str(project.root / "other.db")) as other:
        assert other.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall() == \
            [("ledger",), ("notes",)]


def test_ignored_files_are_one_warning_line(connected, project, capsys):
    (project.versions / "README.txt").write_text("notes")
    assert migrate(connected, "status").empty
    assert capsys.readouterr().err == (
        f"warning: {project.versions.relative_to(project.root)}/README.txt: ignored, the name does not "
        "match YYYYMMDD_HHMMSS_slug.sql or .py (slug: a-z, 0-9 and _)\n")


# -- previews ------------------------------------------------------------------------------

METRICS = """\
-- migrate:up
CREATE TABLE metrics (id INTEGER PRIMARY KEY, check_id VARCHAR, value DOUBLE);
INSERT INTO metrics VALUES (1, 'disk', 71.5), (2, 'cpu', 12.0), (3, 'disk', 80.25);

-- migrate:down
DROP TABLE metrics;
"""
SCALE = """\
-- migrate:up
ALTER TABLE metrics ADD COLUMN unit VARCHAR DEFAULT '%';
UPDATE metrics SET value = value / 100 WHERE check_id = 'disk';
DELETE FROM metrics WHERE id = 2;
"""
SCALE_DOWN = """\
-- migrate:down
ALTER TABLE "metrics" DROP COLUMN "unit";
-- puts back what duckmig keeps when it applies the migration: metrics: 1 row removed, 2 rows changed
-- migrate:restore"""
PYTHON_SCORES = '''\
from duckmig_magic import BaseMigration


class AddScores(BaseMigration):
    def upgrade(self, session):
        session.exec("CREATE TABLE scores (points INTEGER)")
        session.exec("UPDATE metrics SET value = 0 WHERE id = 1")
{downgrade}'''


def fingerprint(project) -> dict:
    """Each table's definition, row count and a checksum of its rows, the ledger included."""
    with duckdb.connect(str(project.db)) as conn:
        return {name: (sql, *conn.execute(f'SELECT count(*), sum(hash(x)) FROM "{name}" x').fetchone())
                for name, sql in conn.execute("SELECT table_name, sql FROM duckdb_tables() ORDER BY 1").fetchall()}


def plain(frame) -> list[list]:
    return frame.astype(object).where(frame.notna(), None).values.tolist()


@pytest.fixture
def metrics(connected, project, capsys):
    cell(connected, "create_metrics --apply", METRICS)
    capsys.readouterr()
    return connected


def test_preview_cell_saves_its_file_shows_what_applying_would_do_and_applies_nothing(metrics, project, capsys):
    before = fingerprint(project)
    result = metrics.run_cell("%%migration scale --preview\n" + SCALE)
    v = version_of(project, "scale")
    view = result.result
    assert isinstance(view, PreviewView) and result.success
    assert files(project)[f"{v}_scale.sql"] == SCALE  # written as the cell always is, without a down section
    assert fingerprint(project) == before
    assert migrate(metrics, "status")["state"].tolist() == ["applied", "pending"]
    assert plain(view.schema) == [["column", "metrics", "unit", "added", None, "VARCHAR"]]
    assert plain(view.summary) == [["metrics", "id", 3, 2, 0, 1, 2, 0]]
    assert list(view.rows("metrics").columns) == ["id", "_change", "check_id_before", "check_id_after",
                                                  "value_before", "value_after", "unit_after"]
    assert plain(view.rows("metrics")) == [[1, "changed", "disk", "disk", 71.5, 0.715, "%"],
                                           [3, "changed", "disk", "disk", 80.25, 0.8025, "%"],
                                           [2, "removed", "cpu", None, 12.0, None, None]]
    out = capsys.readouterr().out
    shown = (f"created: migrations/versions/{v}_scale.sql (version {v})\n"
             f"{v} has no downgrade, so `%migrate down` could not revert it. Proposed from the preview, to paste "
             f"under `-- migrate:down` (nothing was written):\n{SCALE_DOWN}\n")
    assert out.startswith(shown)
    # the view is the cell's result, shown as text where no frontend renders its widget
    assert re.fullmatch(r"Out\[\d+\]: \n", out[len(shown):-len(view.to_text()) - 1])
    assert out.endswith(view.to_text() + "\n")
    assert view.to_text().startswith(f"preview of {v} (rolled back: the database is unchanged)\n\nwarnings:\n"
                                     "  1 row removed from metrics\n")

    # The proposal pasted into the cell is a downgrade that works, and the cell shows none any more.
    pasted = SCALE + "\n" + SCALE_DOWN + "\n"
    view = cell(metrics, "scale --preview --apply", pasted)
    assert view is None and files(project)[f"{v}_scale.sql"] == pasted
    out = capsys.readouterr().out
    assert out.startswith(f"updated: migrations/versions/{v}_scale.sql (version {v})\n"
                          f"preview of {v} (rolled back: the database is unchanged)\n")
    assert "has no downgrade" not in out
    # the preview comes first, the apply after it
    assert out.index("proposed downgrade:") < out.index(f"[1/1] applying {v} scale ... ok (")
    assert out.endswith("\napplied 1 migration\n")
    assert project.query("SELECT id, value, unit FROM metrics ORDER BY id") == [(1, 0.715, "%"), (3, 0.8025, "%")]
    migrate(metrics, "down")
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'metrics'") == \
        [("id",), ("check_id",), ("value",)]


def test_preview_cell_of_an_applied_migration_has_nothing_to_show(metrics, project, capsys):
    cell(metrics, "scale --apply", SCALE)
    v = version_of(project, "scale")
    capsys.readouterr()
    assert cell(metrics, "scale --preview", SCALE) is None
    assert capsys.readouterr().out == (f"unchanged: migrations/versions/{v}_scale.sql (version {v})\n"
                                       f"nothing to preview: {v} is applied\n")


def test_preview_cell_covers_earlier_pending_migrations_as_apply_would(connected, project, capsys):
    cell(connected, "create_metrics", METRICS)  # pending: the next cell builds on it
    view = cell(connected, "scale --preview", SCALE)
    first, v = version_of(project, "create_metrics"), version_of(project, "scale")
    assert database_state(project) is None  # the database file is not even created
    assert view.versions == [first, v] and view.ok
    assert plain(view.summary) == [["metrics", "id", None, 2, 2, 0, None, None]]
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{v} has no downgrade. One proposed from this preview would also undo {first}, pending before it, "
        f"so none is shown: `%migrate up {first}`, then run this cell again")


@pytest.mark.parametrize("python, body, proposed", [
    (False, SCALE, True),
    (False, SCALE + "\n-- migrate:down\n-- nothing yet\n", True),
    (False, SCALE + "\n-- migrate:down\nALTER TABLE metrics DROP COLUMN unit;\n", False),
    (True, PYTHON_SCORES.format(downgrade=""), True),
    (True, PYTHON_SCORES.format(downgrade="\n    def downgrade(self, session):\n        pass\n"), True),
    (True, PYTHON_SCORES.format(downgrade='\n    def downgrade(self, session):\n        """Later."""\n        ...\n'),
     True),
    (True, PYTHON_SCORES.format(downgrade='\n    def downgrade(self, session):\n        session.exec("DROP TABLE '
                                          'scores")\n'), False),
])
def test_a_downgrade_is_proposed_only_where_the_cell_has_none(metrics, project, capsys, python, body, proposed):
    cell(metrics, "change --preview" + " --python" * python, body)
    assert ("has no downgrade" in capsys.readouterr().out) == proposed


def test_preview_cell_proposes_a_python_downgrade_for_the_python_form(metrics, project, capsys):
    before = fingerprint(project)
    view = cell(metrics, "add_scores --python --preview", PYTHON_SCORES.format(downgrade=""))
    v = version_of(project, "add_scores")
    assert fingerprint(project) == before
    assert plain(view.summary) == [["metrics", "id", 3, 3, 0, 0, 1, 2], ["scores", "(whole row)", None, 0, 0, 0,
                                                                        None, None]]
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"{v} has no downgrade, so `%migrate down` could not revert it. Proposed from the preview, to paste as "
        "its downgrade (nothing was written):",
        "    restore = True  # put back the data duckmig keeps when it applies the migration",
        "    def downgrade(self, session):",
        """        session.exec('DROP TABLE "scores"')""",
        "        # puts back what duckmig keeps: metrics: 1 row changed",
    ]


def test_preview_cell_that_fails_is_shown_and_with_apply_nothing_is_applied(metrics, project, capsys):
    broken = "-- migrate:up\nDELETE FROM metrics WHERE id = 1;\nSELECT error('metrics are not ready');\n"
    before = fingerprint(project)
    view = cell(metrics, "broken --preview", broken)
    v = version_of(project, "broken")
    assert (view.ok, view.failed.version, view.failed.statement) == \
        (False, v, "SELECT error('metrics are not ready')")
    assert "has no downgrade" not in capsys.readouterr().out  # nothing to base one on

    result = metrics.run_cell("%%migration broken --preview --apply\n" + broken)
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec) == (
        f"nothing was applied: in the preview, {v} fails: Invalid Input Error: metrics are not ready\n"
        "  statement: SELECT error('metrics are not ready')\n  hint: fix the migration and run it again")
    out = capsys.readouterr().out
    assert out.splitlines()[1:3] == [f"preview of {v} (rolled back: the database is unchanged)",
                                     f"FAILED: {v}: Invalid Input Error: metrics are not ready"]
    assert "applying" not in out
    assert fingerprint(project) == before  # no failed attempt in the ledger either
    assert migrate(metrics, "status")["state"].tolist() == ["applied", "pending"]


def test_preview_cell_outside_a_transaction_is_saved_but_not_previewed(metrics, project):
    before = fingerprint(project)
    with pytest.raises(UsageError) as exc:
        cell(metrics, "vacuum --preview", "-- migrate:up transaction:false\nDELETE FROM metrics;\n")
    v = version_of(project, "vacuum")
    assert str(exc.value) == (
        f"cannot preview {v}: it runs outside a transaction (transaction:false), and a preview applies migrations "
        "inside one that it rolls back\n  hint: apply it to a copy of the database to see what it does")
    assert f"{v}_vacuum.sql" in files(project) and fingerprint(project) == before


def test_migrate_preview_returns_the_view_with_its_dataframes(metrics, project):
    cell(metrics, "scale", SCALE)
    v = version_of(project, "scale")
    before = fingerprint(project)
    metrics.run_line_magic("config", "Duckmig.sample_size = 1")
    p = migrate(metrics, "preview")
    assert isinstance(p, PreviewView) and p.versions == [v]
    assert plain(p.summary) == [["metrics", "id", 3, 2, 0, 1, 2, 0]]
    assert plain(p.rows("metrics")) == [[1, "changed", 71.5, 0.715]]  # the %config sample size
    assert len(migrate(metrics, "preview --sample 2").rows("metrics")) == 2  # --sample wins
    assert plain(migrate(metrics, f"preview {version_of(project, 'create_metrics')}").summary) == []
    data, _ = metrics.display_formatter.format(p)
    assert data["text/plain"] == p.to_text() and data["text/html"] == p.to_html()
    assert fingerprint(project) == before


def test_migrate_preview_with_a_key(connected, project):
    cell(connected, "events --apply", "-- migrate:up\nCREATE TABLE events (day DATE, seq INTEGER, n INTEGER);\n"
                                      "INSERT INTO events VALUES ('2025-01-01', 1, 5), ('2025-01-01', 2, 6);\n")
    cell(connected, "bump", "-- migrate:up\nUPDATE events SET n = n + 1 WHERE seq = 2;\n")
    assert plain(migrate(connected, "preview").summary) == [["events", "(whole row)", 2, 2, 1, 1, None, 1]]
    p = migrate(connected, "preview --key events=day,seq")
    assert plain(p.summary) == [["events", "day, seq", 2, 2, 0, 0, 1, 1]]
    assert plain(p.rows("events")) == [[datetime.date(2025, 1, 1), 2, "changed", 6, 7]]


@pytest.mark.parametrize("python", [False, True])
def test_an_untouched_template_is_a_draft_that_planning_skips(connected, project, capsys, python):
    cell(connected, "add_tags", TAGS)
    migrate(connected, "new 'add an index'" + (" --python" if python else ""))
    draft = next(p for p in project.versions.iterdir() if "add_an_index" in p.name)
    frame = migrate(connected, "status")
    assert frame["state"].tolist() == ["pending", "draft"]
    for line in ("sql", "preview", "verify --roundtrip"):
        migrate(connected, line)  # none of them refuses the template any more
    migrate(connected, "up")
    assert migrate(connected, "status")["state"].tolist() == ["applied", "draft"]
    assert (f"1 draft ({draft.name[:15]}): an untouched template, skipped until written"
            in migrate(connected, "status").view.to_text())

    if python:
        draft.write_text(draft.read_text().replace("-- your change here", "CREATE TABLE idx (x INTEGER)"))
    else:
        draft.write_text(draft.read_text().replace("-- migrate:up\n", "-- migrate:up\nCREATE TABLE idx (x INTEGER);\n"))
    assert migrate(connected, "status")["state"].tolist() == ["applied", "pending"]
    migrate(connected, "up")
    assert migrate(connected, "status")["state"].tolist() == ["applied", "applied"]
