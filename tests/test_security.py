"""Names and text from users reach SQL only quoted or as parameters, and files only as slugs.

The ledger's table name (``--table``) and the tables a preview reads are quoted
identifiers; a description is stored as a parameter; a SQL migration is parsed
as SQL and never run as anything else. Python migrations are code, and the
docs say so (docs/security.md).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from test_catalogue import state

from duckmig_magic import errors
from conftest import STATE

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
    assert project.tables() == {"items", "tags", table}
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
    assert project.query(f"SELECT description FROM {STATE} WHERE version > ? ORDER BY version", [V1]) \
        == [(description,), (description,)]
    assert project.query("SELECT count(*) FROM items") == [(2,)]


@pytest.mark.parametrize("text, refused", [
    ("import os\nos.system('touch pwned')\n", "a SQL migration needs a `-- migrate:up` line"),
    ("-- migrate:up\n__import__('os').system('touch pwned')\n", "Parser Error"),
    ("-- migrate:up\nSELECT '__import__(\"os\").system(\"touch pwned\")';\n", None),
])
def test_a_sql_migration_runs_nothing_but_sql(project, text, refused, monkeypatch):
    monkeypatch.chdir(project.root)
    project.write(f"{V1}_not_python.sql", text, dedent=False)
    if refused:
        with pytest.raises(errors.MigrationFileError, match=re.escape(refused)):
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
    assert project.tables() == {"items", table, "duckdb_migrations"}


# -- commands that say they run nothing run no Python ----------------------------------------------------


def planted(marker: Path, version: str | None = V2) -> str:
    """A Python migration whose module-level code leaves ``marker`` behind when anything imports it."""
    given = f"version={version!r}, " if version else ""
    return (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('imported')\n\n"
            "from duckmig_magic import BaseMigration\n\n\nclass Planted(BaseMigration):\n"
            f"    def __init__(self):\n        super().__init__({given}description='Planted code')\n\n"
            "    def upgrade(self, session):\n        session.exec('CREATE TABLE planted (x INTEGER)')\n\n"
            "    def downgrade(self, session):\n        session.exec('DROP TABLE planted')\n")


@pytest.fixture
def marker(project) -> Path:
    """V1 (SQL) applied, V2 a pending Python migration that marks being imported."""
    items(project)
    project.migrator().up()
    path = project.root / "imported"
    project.write(f"{V2}_planted.py", planted(path), dedent=False)
    return path


@pytest.mark.parametrize("args, says", [
    (["status"], f"{V2}  pending  python"),
    (["sql"], f"-- {V2} Planted code ({V2}_planted.py)"),
    (["verify"], "checked 1 applied migration: ok"),
    (["verify", "--json"], '"ok": true'),
    (["history"], "applied"),
    (["repair"], "nothing to repair"),
    (["notebook"], "%%migration planted --version"),
])
def test_commands_that_run_nothing_import_no_python_migration(project, cli, marker, args, says):
    before = state(project.root)
    r = cli(*args, "-d", "app.db")
    assert r.code == 0, r.err
    assert says in r.out
    assert not marker.exists()
    assert state(project.root) == before


def test_stamp_records_a_python_migration_without_importing_it(project, cli, marker):
    assert cli("stamp", V2, "-d", "app.db").out == f"stamped {V2}\n"
    assert not marker.exists()
    assert project.tables() == {"items", "duckdb_migrations"}
    assert project.query(f"SELECT description, kind FROM {STATE} WHERE version = ?", [V2]) == \
        [("Planted code", "python")]


def test_repair_accepts_an_edited_python_file_without_importing_it(project, cli, marker):
    project.migrator().up()
    assert marker.exists() and "planted" in project.tables()  # applying it is what runs it
    marker.unlink()
    path = project.versions / f"{V2}_planted.py"
    path.write_text(path.read_text().replace("Planted code", "Planted, reviewed"))
    assert cli("repair", "-d", "app.db").out == f"{V2}  accepted the edited file\n"
    assert not marker.exists()
    assert project.query(f"SELECT description FROM {STATE} WHERE version = ?", [V2]) == \
        [("Planted, reviewed",)]


def test_export_of_a_notebook_runs_none_of_its_python_cells(project, cli):
    import nbformat
    from nbformat import v4

    marker = project.root / "imported"
    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell("%%migration planted --python\n"
                                                           + planted(marker, None))]),
                   str(project.root / "untrusted.ipynb"))
    r = cli("export", "untrusted.ipynb")
    assert (r.code, r.err) == (0, "")
    assert r.out.endswith("1 created\n")
    assert not marker.exists()
    assert project.tables() == set()
    assert cli("up", "-d", "app.db").out == "applied 1 migration\n"  # applying is what runs it
    assert marker.exists() and "planted" in project.tables()


def test_a_migration_cell_is_saved_without_running_it_and_run_when_applied(project, shell):
    marker = project.root / "imported"
    shell.run_line_magic("migrate", "connect app.db")
    shell.run_cell_magic("migration", "planted --python", planted(marker, None))
    assert [p.name[16:] for p in project.versions.iterdir()] == ["planted.py"]
    assert not marker.exists() and not project.db.exists()
    shell.run_cell_magic("migration", "planted --python --apply", planted(marker, None))
    assert marker.exists() and "planted" in project.tables()


# -- files are written inside the migrations directory only, through no link ----------------------------------

TAGS = "-- migrate:up\nCREATE TABLE tags (t VARCHAR);\n-- migrate:down\nDROP TABLE tags;\n"


def migration_notebook(path: Path, *cells: str) -> Path:
    import nbformat
    from nbformat import v4

    nbformat.write(v4.new_notebook(cells=[v4.new_code_cell(c, id=f"c{i}") for i, c in enumerate(cells)]), str(path))
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the project that a planted link points at."""
    path = tmp_path / "outside.txt"
    path.write_text("precious\n")
    return path


def test_export_follows_no_link_planted_at_the_temporary_file(project, cli, outside):
    nb = migration_notebook(project.root / "nb.ipynb", "%%migration add_tags\n" + TAGS)
    assert cli("export", "nb.ipynb").code == 0
    [path] = project.versions.iterdir()
    planted_link = path.with_name(f".{path.name}.tmp")
    planted_link.symlink_to(outside)
    migration_notebook(nb, "%%migration add_tags\n" + TAGS.replace("t VARCHAR", "t VARCHAR, n INTEGER"))
    r = cli("export", "nb.ipynb")
    assert (r.code, r.out.splitlines()[-1]) == (0, "1 updated")
    assert outside.read_text() == "precious\n"
    assert not path.is_symlink() and "n INTEGER" in path.read_text()
    assert sorted(p.name for p in project.versions.iterdir()) == sorted([path.name, planted_link.name])


def test_a_migration_cell_follows_no_link_planted_at_the_temporary_file(project, shell, outside):
    shell.run_line_magic("migrate", "connect app.db")
    shell.run_cell_magic("migration", "add_tags", TAGS)
    [path] = project.versions.iterdir()
    path.with_name(f".{path.name}.tmp").symlink_to(outside)
    shell.run_cell_magic("migration", "add_tags", TAGS + "-- reviewed\n")
    assert outside.read_text() == "precious\n"
    assert not path.is_symlink() and path.read_text().endswith("-- reviewed\n")


def test_export_refuses_a_version_file_that_is_a_link_and_writes_nothing(project, cli, outside):
    outside.write_text(TAGS)
    (project.versions / f"{V1}_add_tags.sql").symlink_to(outside)
    migration_notebook(project.root / "nb.ipynb", "%%migration first\n" + TAGS.replace("tags", "first"),
                       "%%migration add_tags\n" + TAGS + "-- changed\n")
    before = state(project.root)
    r = cli("export", "nb.ipynb")
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"duckmig: error: {project.versions.relative_to(project.root)}/{V1}_add_tags.sql is a symbolic "
                     "link; duckmig reads and writes a version file only as a regular file in versions/, and follows "
                     "no link out of it\n  hint: put the file itself in its place (or remove the link), then run this "
                     "again\n")
    assert state(project.root) == before
    assert outside.read_text() == TAGS and (project.versions / f"{V1}_add_tags.sql").is_symlink()


@pytest.mark.parametrize("verb", ["status", "up", "verify", "preview"])
def test_a_version_file_that_is_a_link_is_refused_and_nothing_outside_is_read(project, cli, outside, verb):
    """A link in versions/ would bring a file from anywhere into the ledger (its text is stored) and into
    runs; it is refused as writing refuses it, and the file it points at is neither run nor stored."""
    project.sql(V1, "items", "CREATE TABLE items (id INTEGER);")
    assert cli("up", "-d", "app.db").code == 0
    outside.write_text("-- migrate:up\nCREATE TABLE leaked AS SELECT 'precious' AS secret;\n")
    link = project.versions / "20250102_000000_linked.sql"
    link.symlink_to(outside)
    before = state(project.root)
    r = cli(verb, "-d", "app.db")
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"duckmig: error: {project.versions.relative_to(project.root)}/{link.name} is a symbolic link; "
                     "duckmig reads and writes a version file only as a regular file in versions/, and follows no "
                     "link out of it\n  hint: put the file itself in its place (or remove the link), then run this "
                     "again\n")
    assert state(project.root) == before
    assert project.tables() == {"items", "duckdb_migrations"}
    assert "precious" not in str(project.query("SELECT * FROM duckdb_migrations"))
    assert link.is_symlink() and outside.read_text().endswith("'precious' AS secret;\n")


@pytest.mark.parametrize("read", ["when asked", "all at once"])
def test_a_version_file_replaced_by_a_link_after_the_folder_was_read_is_not_followed(project, outside, read):
    """Read alone or with the others (status opens each by its name in the open folder), a file that a
    link replaced since the folder was listed is not read through the link."""
    from duckmig_magic.engine.versions import ScriptDirectory, read_all

    script = project.sql(V1, "items", "CREATE TABLE items (id INTEGER);")
    [found] = ScriptDirectory(project.directory).scripts()
    script.unlink()
    script.symlink_to(outside)
    if read == "all at once":
        read_all([found], project.versions)
    with pytest.raises(errors.ConfigError, match="is a symbolic link; duckmig reads and writes a version file only"):
        found.text


def test_a_built_notebook_follows_no_link(project, cli, outside):
    project.sql(V1, "items", "CREATE TABLE items (id INTEGER);")
    (project.root / ".out.ipynb.tmp").symlink_to(outside)
    assert cli("notebook", "-o", "out.ipynb").code == 0
    assert outside.read_text() == "precious\n"
    assert not (project.root / "out.ipynb").is_symlink()
    (project.root / "linked.ipynb").symlink_to(outside)
    r = cli("notebook", "-o", "linked.ipynb", "--force")
    assert (r.code, r.err.splitlines()[0]) == (2, "duckmig: error: linked.ipynb is a symbolic link; duckmig writes "
                                                  "only regular files, so it was left as it was")
    assert outside.read_text() == "precious\n"


# -- bad versions and other input: one named error, nothing written ----------------------------------------


@pytest.mark.parametrize("version", ["20251399_000000", "20250229_000000", "20250101_240000", "20250101_006000"])
def test_export_checks_every_version_before_the_first_write(project, cli, version):
    items(project)
    project.migrator().up()
    migration_notebook(project.root / "nb.ipynb", "%%migration good\n" + TAGS,
                       "%%migration later --version 20250301_000000\n" + TAGS.replace("tags", "later"),
                       f"%%migration bad --version {version}\n" + TAGS.replace("tags", "bad"))
    before = state(project.root)
    r = cli("export", "nb.ipynb", "-d", "app.db")
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith(f"duckmig: error: {version!r} is not a version: {version[:4]}-{version[4:6]}-"
                            f"{version[6:8]} {version[9:11]}:{version[11:13]}:{version[13:]} is not a date and time")
    assert state(project.root) == before


def test_a_folder_named_like_a_version_file_is_named_in_a_warning(project, cli):
    items(project)
    (project.versions / "20250710_000000_folder.sql").mkdir()
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (0, "applied 1 migration\n")
    assert r.err.startswith("duckmig: warning: migrations/versions/20250710_000000_folder.sql: ignored, it is "
                            "a folder, not a version file\n")


def test_a_python_migration_may_start_with_a_bom(project):
    source = "\ufeff" + planted(project.root / "imported", V1).replace("planted", "bom")
    project.versions.joinpath(f"{V1}_bom.py").write_bytes(source.encode())
    m = project.migrator()
    assert m.sql() == f"-- {V1} Planted code ({V1}_bom.py)\n" + (
        "-- Python migration: its statements are known only when it runs; `duckmig preview` runs it inside a "
        "transaction and rolls back\n")
    assert [r.version for r in m.up()] == [V1]
    assert "bom" in project.tables()
    assert m.verify().ok


# -- the trust rule: the file's downgrade runs; the ledger's only when the file is gone, shown first -----------


def tampered(project, downgrade: str, kind: str = "sql") -> None:
    """V1 (items, with rows) and V2 (tags) applied; the ledger's downgrade of V2 replaced by ``downgrade``."""
    items(project, v2="-- migrate:up\nCREATE TABLE tags (t VARCHAR);\n-- migrate:down\nDROP TABLE tags;\n")
    project.migrator().up()
    project.query("UPDATE duckdb_migrations SET downgrade = ?, kind = ? WHERE version = ?", [downgrade, kind, V2])


def stored_python(marker: Path) -> str:
    """A Python downgrade an attacker stores in the ledger: it marks that it ran and drops items."""
    return (f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n\n"
            "from duckmig_magic import BaseMigration\n\n\nclass M(BaseMigration):\n"
            f"    def __init__(self):\n        super().__init__(version={V2!r})\n\n"
            "    def downgrade(self, session):\n        session.exec('DROP TABLE items')\n")


LEDGER = {"duckdb_migrations"}


@pytest.mark.parametrize("kind", ["sql", "python"])
def test_while_the_file_is_there_its_own_downgrade_runs(project, cli, kind):
    marker = project.root / "ran"
    tampered(project, "DROP TABLE items;" if kind == "sql" else stored_python(marker), kind)
    r = cli("down", "-d", "app.db")
    assert (r.code, r.out, "warning" in r.err) == (0, "reverted 1 migration\n", False)
    assert project.tables() == {"items"} | LEDGER  # the file's downgrade dropped tags; items are untouched
    assert project.query("SELECT count(*) FROM items") == [(2,)]
    assert not marker.exists()


def test_redo_runs_the_files_downgrade_too(project, cli):
    marker = project.root / "ran"
    tampered(project, stored_python(marker), "python")
    assert cli("redo", "-d", "app.db").out == f"redid {V2}\n"
    assert project.tables() == {"items", "tags"} | LEDGER and not marker.exists()


@pytest.mark.parametrize("kind", ["sql", "python"])
def test_status_and_verify_report_a_stored_downgrade_other_than_the_files(project, cli, kind):
    tampered(project, "DROP TABLE items;" if kind == "sql" else stored_python(project.root / "ran"), kind)
    before = state(project.root)
    said = (f"{V2}: the ledger stores a downgrade other than the file's; `duckmig down` runs the file's, "
            "`duckmig repair` stores it in the ledger")
    r = cli("status", "-d", "app.db")
    assert (r.code, r.out.split("\n\n")[-2]) == (0, said)
    assert [m["downgrade_differs"] for m in json.loads(cli("status", "-d", "app.db", "--json").out)["migrations"]] \
        == [False, True]
    r = cli("verify", "-d", "app.db")
    assert (r.code, r.out) == (3, f"{V2}  downgrade differs: {said[len(V2) + 2:]}\n"
                                  "checked 2 applied migrations: 1 problem\n")
    assert state(project.root) == before
    assert cli("repair", "-d", "app.db").out == f"{V2}  stored the file's downgrade\n"
    assert project.query(f"SELECT downgrade FROM {STATE} WHERE version = ?", [V2]) == [("DROP TABLE tags;\n",)]
    assert cli("verify", "-d", "app.db").code == 0


def test_a_stored_downgrade_that_only_differs_in_line_endings_is_the_files(project, cli):
    items(project, v2="-- migrate:up\r\nCREATE TABLE tags (t VARCHAR);\r\n-- migrate:down\r\nDROP TABLE tags;\r\n")
    project.migrator().up()
    assert cli("verify", "-d", "app.db").out == "checked 2 applied migrations: ok\n"


def test_when_the_file_is_gone_the_stored_sql_downgrade_is_shown_and_runs(project, cli):
    tampered(project, "DROP TABLE tags;\nDROP TABLE items;")
    (project.versions / f"{V2}_second.sql").unlink()
    r = cli("down", "-d", "app.db")
    assert (r.code, r.out) == (0, "reverted 1 migration\n")
    assert r.err.startswith(f"duckmig: warning: {V2}: its file is gone, so the downgrade stored in the ledger "
                            f"reverts it:\n    DROP TABLE tags;\n    DROP TABLE items;\n[1/1] reverting {V2} ")
    assert project.tables() == LEDGER


def test_when_the_file_is_gone_a_stored_python_downgrade_runs_only_when_trusted(project, cli):
    marker = project.root / "ran"
    tampered(project, stored_python(marker), "python")
    (project.versions / f"{V2}_second.sql").unlink()
    before = state(project.root)
    r = cli("down", "-d", "app.db")
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith(f"duckmig: error: {V2} was not reverted: its file is gone, and the downgrade stored "
                            "in the ledger is Python code, which runs only when trusted; nothing was reverted. "
                            "The stored code:\n    import pathlib\n")
    assert r.err.endswith("  hint: restore the file as it was applied (from version control, say) and revert "
                          "again; or, having read the code above, pass --trust-stored-python to run it\n")
    assert not marker.exists() and state(project.root) == before
    with pytest.raises(errors.StateError, match=f"^{V2} was not reverted: its file is gone"):
        project.migrator().down()
    assert not marker.exists() and state(project.root) == before

    r = cli("down", "--trust-stored-python", "-d", "app.db")
    assert (r.code, r.out) == (0, "reverted 1 migration\n")
    assert r.err.startswith(f"duckmig: warning: {V2}: its file is gone, so the Python downgrade stored in the "
                            "ledger reverts it (trusted):\n    import pathlib\n")
    assert marker.exists() and project.tables() == {"tags"} | LEDGER


def test_a_file_changed_since_it_was_applied_is_drift_not_a_cue_for_the_stored_downgrade(project, cli):
    marker = project.root / "ran"
    tampered(project, stored_python(marker), "python")
    (project.versions / f"{V2}_second.sql").write_text("-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 2;\n")
    before = state(project.root)
    r = cli("down", "-d", "app.db")
    assert r.code == 3 and f"{V2} was not reverted: {V2}_second.sql changed since it was applied" in r.err
    assert "pass --stored-downgrade" in r.err and not marker.exists() and state(project.root) == before
    # redo is for an edited file: the file's downgrade as it is now reverts it, never the stored code
    assert cli("redo", "-d", "app.db").code == 0
    assert not marker.exists() and project.tables() == {"items", "tags"} | LEDGER


@pytest.mark.parametrize("interface", ["command", "api"])
def test_a_ledger_row_rewritten_to_differ_from_its_file_runs_nothing_of_the_database(project, cli, interface):
    """The file is there and unchanged; the ledger's row was given another checksum and a downgrade that
    drops a table. The database does not decide whose downgrade runs: down is refused as drift, and the
    stored downgrade runs only when asked for, after it is shown."""
    tampered(project, "DROP TABLE items;")
    [(before_checksum,)] = project.query("SELECT checksum FROM duckdb_migrations WHERE version = ? LIMIT 1", [V2])
    project.query("UPDATE duckdb_migrations SET checksum = ? WHERE version = ?", ["0" * 64, V2])
    before = state(project.root)
    if interface == "command":
        r = cli("down", "-d", "app.db")
        assert (r.code, r.out) == (3, "")
        assert r.err.startswith(f"duckmig: error: {V2} was not reverted: {V2}_second.sql changed since it was "
                                "applied")
    else:
        with pytest.raises(errors.DriftError, match="was not reverted") as caught:
            project.migrator().down()
        assert caught.value.exit_code == 3 and "Migrator.repair()" in str(caught.value)
    assert state(project.root) == before and project.query("SELECT count(*) FROM items") == [(2,)]
    project.query("UPDATE duckdb_migrations SET checksum = ? WHERE version = ?", [before_checksum, V2])
    r = cli("down", "--stored-downgrade", "-d", "app.db")  # the file is as applied: its own runs, asked or not
    assert (r.code, "warning" in r.err) == (0, False) and project.tables() == {"items"} | LEDGER
    project.migrator().up()
    project.query("UPDATE duckdb_migrations SET checksum = ?, downgrade = ? WHERE version = ? AND event = 'applied' "
                  "AND seq = (SELECT max(seq) FROM duckdb_migrations)", ["0" * 64, "DROP TABLE items;", V2])
    r = cli("down", "--stored-downgrade", "-d", "app.db")  # the user's choice, for this run
    assert r.code == 0 and r.err.startswith(f"duckmig: warning: {V2}: {V2}_second.sql changed since it was applied, "
                                            "so the downgrade stored in the ledger reverts it:\n    DROP TABLE items;")
    assert project.tables() == {"tags"} | LEDGER


DOWN_FILE = "-- migrate:up\nCREATE TABLE t (x INTEGER);\n\n-- migrate:down\nDROP TABLE t;\n"


@pytest.mark.parametrize("text, stored, differs", [
    (DOWN_FILE, "DROP TABLE t;\n", False),
    (DOWN_FILE.replace("\n", "\r\n"), "DROP TABLE t;\n", False),
    ("\ufeff" + DOWN_FILE, "DROP TABLE t;\n", False),
    (DOWN_FILE.replace("migrate:down", "migrate:down transaction:true"), "DROP TABLE t;\n", False),
    (DOWN_FILE, None, False),  # nothing stored: nothing that could run instead of the file's
    (DOWN_FILE, "DROP TABLE items;\n", True),
    (DOWN_FILE, "t;\n", True),  # the end of the file's text, but not all of its downgrade
    (DOWN_FILE, "-- migrate:down\nDROP TABLE t;\n", True),
    ("-- migrate:up\nCREATE TABLE t (x INTEGER);\n", "DROP TABLE t;\n", True),  # the file has none
    ("from duckmig_magic import BaseMigration\n", "from duckmig_magic import BaseMigration\r\n", False),
    ("from duckmig_magic import BaseMigration\n", "import os\n", True),
])
def test_a_stored_downgrade_is_compared_with_the_files_own(project, text, stored, differs):
    from duckmig_magic.engine import trust
    from duckmig_magic.engine.versions import ScriptDirectory

    form = "py" if text.startswith("from") else "sql"
    project.versions.joinpath(f"{V1}_t.{form}").write_bytes(text.encode())
    [script] = ScriptDirectory(project.directory).scripts()
    assert trust.differs(stored, script) is differs


# -- a preview writes no file: what a rollback would not undo is refused ---------------------------------------


@pytest.mark.parametrize("sql, refused", [
    ("COPY items TO 'x.csv'", "COPY ... TO writes a file"),
    ("COPY (SELECT 'FROM' AS \"from\" FROM items) TO 'x.parquet' (FORMAT parquet)", "COPY ... TO writes a file"),
    ("copy items to 'x.csv'", "COPY ... TO writes a file"),
    ("EXPORT DATABASE 'dump'", "EXPORT DATABASE writes files"),
    ("ATTACH 'other.db' AS other", "ATTACH creates a database file"),
    ("ATTACH ':memory:' AS scratch", "ATTACH creates a database file"),
    ("DETACH other", "DETACH is not undone"),
    ("INSTALL httpfs", "INSTALL writes an extension's file"),
    ("LOAD httpfs", "INSTALL writes an extension's file"),
    ("CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", "a persistent secret is written to a file"),
    ("CREATE OR REPLACE PERSISTENT SECRET s (TYPE s3)", "a persistent secret is written to a file"),
    ("SET profiling_output = 'x.json'", "SET, RESET and USE change settings"),
    ("RESET threads", "SET, RESET and USE change settings"),
    ("USE other", "SET, RESET and USE change settings"),
    ("PRAGMA enable_profiling = 'json'", "SET, RESET and USE change settings"),  # DuckDB reads it as a SET
    ("PRAGMA enable_profiling", "a PRAGMA changes settings"),
    ("CHECKPOINT", "CALL runs procedures"),
    ("CALL enable_logging()", "CALL runs procedures"),
    ("SELECT 1; COPY items TO 'x.csv'", "COPY ... TO writes a file"),
    ("COPY items FROM 'x.csv'", None),
    ("COPY items (id, name) FROM 'x.csv' (DELIMITER ',')", None),
    ("CREATE SECRET s (TYPE s3)", None),
    ("CREATE TABLE copy_to AS SELECT 'COPY t TO x' AS s", None),
    ("INSERT INTO items SELECT * FROM read_csv('x.csv')", None),
    ("SELECT 1 +", None),  # DuckDB refuses it when it runs
])
def test_what_a_dry_run_refuses(sql, refused):
    from duckmig_magic.engine.dryrun import refusal

    found = refusal(sql)
    assert (found is None) if refused is None else found.startswith(refused), found


def leaky(body: str) -> str:
    return ("from duckmig_magic import BaseMigration\n\n\nclass Leaky(BaseMigration):\n"
            "    def upgrade(self, session):\n" + textwrap.indent(textwrap.dedent(body).strip(), " " * 8) + "\n")


def test_a_preview_refuses_what_a_python_migration_catches(project):
    items(project)
    project.migrator().up()
    project.write(f"{V2}_leaky.py", leaky("""
        session.exec("INSERT INTO items VALUES (3, 'c')")
        try:
            session.exec("COPY items TO 'leak.csv'")
        except Exception:
            pass  # a probe that goes on
    """), dedent=False)
    before = state(project.root)
    with pytest.raises(errors.PreviewRefused) as info:
        project.migrator().preview()
    assert (info.value.version, info.value.statement) == (V2, "COPY items TO 'leak.csv'")
    assert not (project.root / "leak.csv").exists() and not Path("leak.csv").exists()
    assert state(project.root) == before


def test_a_cell_preview_refuses_a_new_database_file(project, monkeypatch):
    monkeypatch.chdir(project.root)
    items(project)
    m = project.migrator()
    m.up()
    before = state(project.root)
    with pytest.raises(errors.PreviewRefused, match="ATTACH creates a database file"):
        m.preview_body("-- migrate:up\nATTACH 'elsewhere.db' AS elsewhere;\nCREATE TABLE elsewhere.t (x INTEGER);\n")
    with pytest.raises(errors.PreviewRefused, match="COPY ... TO writes a file"):
        m.preview_body(leaky("session.exec(\"COPY items TO 'leak.csv'\")"), python=True)
    assert state(project.root) == before


def test_a_preview_still_reads_files(project, monkeypatch):
    monkeypatch.chdir(project.root)
    (project.root / "more.csv").write_text("id,name\n3,c\n4,d\n")
    items(project)
    project.migrator().up()
    project.sql(V2, "more", "COPY items FROM 'more.csv' (HEADER);\n"
                "CREATE TABLE counts AS SELECT count(*) AS n FROM read_csv('more.csv');")
    preview = project.migrator().preview()
    assert preview.ok
    assert preview.summary.set_index("table").loc["items", ["rows_before", "rows_after", "added"]].tolist() == [2, 4, 2]
    assert project.tables() == {"items"} | LEDGER


def test_verify_roundtrip_refuses_what_it_could_not_roll_back(project, cli):
    items(project)
    project.migrator().up()
    project.sql(V2, "leak", "CREATE TABLE t (x INTEGER);\nCOPY items TO 'leak.csv';", "DROP TABLE t;")
    before = state(project.root)
    r = cli("verify", "--roundtrip", "-d", "app.db")
    assert (r.code, r.out) == (3, f"{V2}  roundtrip: refused `COPY items TO 'leak.csv'`: COPY ... TO writes a file\n"
                                  "checked 1 applied migration, round-tripped 0: 1 problem\n")
    assert state(project.root) == before
