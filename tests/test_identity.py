"""A migration keeps its version when its file is lost: the ledger knows each slug's version, so
exporting the notebook again, or running its cells again, writes the files back as they were applied.
Slugs the files and the ledger disagree on are refused, and the hint after drift with missing files
never steers into `repair`."""

from __future__ import annotations

import shutil

import nbformat
import pytest
from IPython.core.error import UsageError
from nbformat import v4

from duckmig_magic import Migrator

CELLS = {
    "create_users": "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR);\n\n"
                    "-- migrate:down\nDROP TABLE users;",
    "add_email": "-- migrate:up\nALTER TABLE users ADD COLUMN email VARCHAR;\n\n"
                 "-- migrate:down\nALTER TABLE users DROP COLUMN email;",
    "create_orders": "-- migrate:up\nCREATE TABLE orders (id INTEGER, user_id INTEGER);\n\n"
                     "-- migrate:down\nDROP TABLE orders;",
}
SEED = ("from duckmig_magic import BaseMigration\n\n\nclass Seed(BaseMigration):\n"
        "    def upgrade(self, session):\n        session.exec(\"INSERT INTO users VALUES (1, 'ada', NULL)\")\n")


def write_notebook(path, cells: dict[str, str], python: dict[str, str] | None = None):
    nb = v4.new_notebook()
    nb.cells.append(v4.new_markdown_cell("# users", id="intro"))
    for i, (slug, body) in enumerate(cells.items()):
        nb.cells.append(v4.new_code_cell(f"%%migration {slug}\n{body}", id=f"cell-{i}"))
    for slug, body in (python or {}).items():
        nb.cells.append(v4.new_code_cell(f"%%migration {slug} --python\n{body}", id=f"py-{slug}"))
    nbformat.write(nb, str(path))
    return path


def files(project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(project.versions.iterdir())}


@pytest.fixture
def applied(project, cli):
    """The issue's scenario: a notebook developed and applied, then its version files lost."""
    write_notebook(project.root / "nb.ipynb", CELLS, {"seed": SEED})
    assert cli("--database", "app.db", "export", "nb.ipynb").code == 0
    assert cli("--database", "app.db", "up").code == 0
    kept = files(project)
    shutil.rmtree(project.versions)
    return kept


def test_export_after_the_files_are_lost_writes_them_back_with_their_versions(project, cli, applied):
    r = cli("--database", "app.db", "export", "nb.ipynb")
    assert r.code == 0, r.err
    names = list(applied)
    assert r.out.splitlines() == [
        f"restored: migrations/versions/{name} (cell {i + 1}, version {name[:15]})" for i, name in enumerate(names)
    ] + ["4 restored", "restored: their files were gone, so each was written again with the version the "
                       "database applied it as"]
    assert files(project) == applied  # byte for byte: the checksums in the ledger match
    status = cli("--database", "app.db", "status")
    assert (status.code, status.out.splitlines()[-1]) == (0, "4 applied")
    assert cli("--database", "app.db", "up").out == "nothing to apply\n"
    assert project.query("SELECT count(*) FROM users") == [(1,)]  # the seed ran once


def test_running_the_cells_again_writes_them_back_with_their_versions(project, shell, capsys):
    shell.run_line_magic("migrate", "connect app.db")
    for slug, body in CELLS.items():
        shell.run_cell_magic("migration", f"{slug} --apply", body)
    kept = files(project)
    shutil.rmtree(project.versions)
    capsys.readouterr()
    for slug, body in CELLS.items():
        shell.run_cell_magic("migration", f"{slug} --apply", body)
    assert files(project) == kept
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("restored")] == [
        f"restored: migrations/versions/{name} (version {name[:15]}, as the database applied it: its file was gone)"
        for name in kept]
    assert shell.run_line_magic("migrate", "status")["state"].tolist() == ["applied"] * 3


def test_a_cell_that_changed_after_its_file_was_lost_is_refused_unless_forced(project, cli, applied):
    write_notebook(project.root / "nb.ipynb", {**CELLS, "add_email": CELLS["add_email"].replace("VARCHAR", "TEXT")},
                   {"seed": SEED})
    r = cli("--database", "app.db", "export", "nb.ipynb")
    email = next(n for n in applied if n.endswith("_add_email.sql"))
    assert r.code == 3
    assert (f"refused: cell 2 (add_email): {email[:15]} ({email}) is applied and its file is gone, but this text is "
            "not the one that was applied (their checksums differ); no file was written") in r.out.splitlines()
    assert email not in files(project)
    assert sorted(files(project)) == sorted(n for n in applied if n != email)  # the other cells were restored

    r = cli("--database", "app.db", "export", "nb.ipynb", "--force")
    assert (r.code, r.out.splitlines()[1]) == (0, f"restored: migrations/versions/{email} (cell 2, version "
                                                  f"{email[:15]})")
    assert cli("--database", "app.db", "status").out.splitlines()[-1] == "3 applied, 1 modified"


def test_a_slug_the_ledger_knows_twice_is_refused_and_version_chooses(project, cli):
    """Two version files of one slug, applied, then both lost."""
    first, second = "20250101_000000", "20250102_000000"
    project.sql(first, "create_users", "CREATE TABLE users (id INTEGER);", "DROP TABLE users;")
    project.sql(second, "create_users", "CREATE TABLE members (id INTEGER);", "DROP TABLE members;")
    project.migrator().up()
    shutil.rmtree(project.versions)
    project.versions.mkdir()
    write_notebook(project.root / "nb.ipynb", {"create_users": CELLS["create_users"]})

    r = cli("--database", "app.db", "export", "nb.ipynb")
    assert r.code == 3 and r.out == ""
    assert r.err == (
        "duckmig: error: nb.ipynb cell 1 (%%migration create_users): the database knows slug 'create_users' as 2 "
        f"migrations whose files are gone: {first} ({first}_create_users.sql, applied), {second} "
        f"({second}_create_users.sql, applied); which one this is cannot be told\n"
        "  hint: restore their files from version control, or give the cell --version with the version it is\n")
    assert not any(project.versions.iterdir())

    write_notebook(project.root / "nb.ipynb", {"create_users --version 20250101_000000": CELLS["create_users"]})
    r = cli("--database", "app.db", "export", "nb.ipynb", "--force")  # not the text that was applied
    assert r.out.splitlines()[0].startswith(f"restored: migrations/versions/{first}_create_users.sql")

    write_notebook(project.root / "nb.ipynb", {"create_users --version 20250103_000000": CELLS["create_users"]})
    shutil.rmtree(project.versions)
    r = cli("--database", "app.db", "export", "nb.ipynb")
    assert r.code == 3 and "--version 20250103_000000, but the database knows slug 'create_users' as" in r.err


def test_a_copy_under_a_new_version_is_refused_and_the_hint_says_so(project, cli, applied):
    """What an export did before versions were kept: new versions beside the ledger's missing ones."""
    users = next(n for n in applied if n.endswith("_create_users.sql"))
    project.versions.mkdir()
    copy = project.versions / f"29990101_000000_create_users.sql"
    copy.write_bytes(applied[users])

    r = cli("--database", "app.db", "export", "nb.ipynb")
    assert r.code == 3
    assert r.err.startswith(
        f"duckmig: error: nb.ipynb cell 1 (%%migration create_users): slug 'create_users' is {copy.name}, but the "
        f"database applied 'create_users' as {users[:15]} ({users}), whose file is gone: the files and the ledger "
        f"disagree\n  hint: if {copy.name} is that migration written again under a new version, delete it")
    assert files(project) == {copy.name: applied[users]}

    r = cli("--database", "app.db", "up")
    assert r.code == 3
    hint = r.err.split("hint: ")[1]
    assert hint.startswith("pending 29990101_000000 (create_users, applied as "
                           f"{users[:15]}) is most likely that migration written again under a new version, and "
                           "applying would run it twice: delete its file; then restore the files")
    assert "repair" not in r.err

    copy.unlink()
    assert cli("--database", "app.db", "export", "nb.ipynb").code == 0
    assert files(project) == applied


@pytest.mark.parametrize("edit, says_repair", [("delete", False), ("edit", True)])
def test_the_drift_hint_offers_repair_for_edits_only(project, cli, applied, edit, says_repair):
    assert cli("--database", "app.db", "export", "nb.ipynb").code == 0
    name = next(n for n in applied if n.endswith("_add_email.sql"))
    if edit == "delete":
        (project.versions / name).unlink()
    else:
        (project.versions / name).write_text(applied[name].decode().replace("-- migrate:up\n", "-- migrate:up\n-- edited\n"))
    write_notebook(project.root / "more.ipynb", {"later": "-- migrate:up\nSELECT 1;"})
    cli("--database", "app.db", "export", "more.ipynb")
    for args in (("up",), ("sql",), ("preview",)):
        r = cli("--database", "app.db", *args)
        assert r.code == 3, args
        assert ("`duckmig repair`" in r.err) is says_repair, (args, r.err)
    status = cli("--database", "app.db", "status").out
    assert ("export again the notebook that wrote them" in status) is not says_repair


def test_missing_files_in_the_notebook_are_worded_for_it(project, shell, cli, applied):
    project.versions.mkdir()
    shell.run_line_magic("migrate", "connect app.db")
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("migrate", "up")
    assert "`%migrate export NOTEBOOK.ipynb` gives each cell back" in str(info.value)
    assert "repair" not in str(info.value) and "duckmig" not in str(info.value)
    view = shell.run_line_magic("migrate", "status").view
    assert "%migrate export NOTEBOOK.ipynb" in view.to_html() and "duckmig export" not in view.to_html()


def test_a_notebook_run_again_by_a_real_kernel_gets_its_versions_back(project):
    from nbclient import NotebookClient

    nb = v4.new_notebook(cells=[v4.new_code_cell("%load_ext duckmig_magic\n%migrate connect app.db")]
                         + [v4.new_code_cell(f"%%migration {slug} --apply\n{body}") for slug, body in CELLS.items()])

    def run():
        NotebookClient(nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(project.root)}},
                       ).execute()
        return "".join(o.get("text", "") for c in nb.cells[1:] for o in c.outputs).splitlines()

    run()
    kept = files(project)
    shutil.rmtree(project.versions)
    outputs = run()
    assert files(project) == kept
    assert [line.split(":")[0] for line in outputs] == ["restored", "nothing to apply"] * 3
    assert Migrator(str(project.db), str(project.directory)).status().counts()["applied"] == 3


# -- restore: the files written back from the ledger ----------------------------------------------


def test_restore_writes_back_lost_files_as_they_were_applied(project, cli, applied):
    r = cli("--database", "app.db", "restore")
    python = next(name for name in applied if name.endswith(".py"))
    assert r.code == 1
    assert r.out.splitlines() == [f"restored migrations/versions/{name}" for name in applied if name != python] + [
        f"{python[:15]}  not restored: it is Python code from the database, written back only when trusted",
        "hint: read their text in the ledger (its source column), then pass --trust-stored-python to write "
        "them back"]
    assert python not in files(project)
    r = cli("--database", "app.db", "restore", "--trust-stored-python")
    assert (r.code, r.err, r.out) == (0, "", f"restored migrations/versions/{python}\n")
    assert files(project) == applied
    assert [s.state for s in Migrator(str(project.db), str(project.directory)).status()] == ["applied"] * 4
    assert cli("--database", "app.db", "restore").out == "nothing to restore: no applied migration's file is missing\n"


def test_restore_keeps_crlf_files_to_their_checksum(project, cli):
    project.versions.joinpath("20250101_000001_crlf.sql").write_bytes(
        b"-- migrate:up\r\nCREATE TABLE t (x INTEGER);\r\n-- migrate:down\r\nDROP TABLE t;\r\n")
    assert cli("--database", "app.db", "up").code == 0
    project.versions.joinpath("20250101_000001_crlf.sql").unlink()
    assert cli("--database", "app.db", "restore").code == 0
    assert [s.state for s in Migrator(str(project.db), str(project.directory)).status()] == ["applied"]


@pytest.mark.parametrize("tamper, says", [
    ("UPDATE duckdb_migrations SET source = source || '-- more'", "does not match the checksum it was applied with"),
    ("UPDATE duckdb_migrations SET filename = '../../evil.sql'", "is not a version file's name"),
    ("UPDATE duckdb_migrations SET filename = filename || chr(10)", "is not a version file's name"),
    ("UPDATE duckdb_migrations SET source = NULL", "the ledger holds no text of it"),
])
def test_restore_refuses_what_the_ledger_cannot_vouch_for(project, cli, applied, tamper, says):
    project.query(tamper + " WHERE filename LIKE '%create_users%'")
    r = cli("--database", "app.db", "restore", "--trust-stored-python")
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0].startswith(f"{next(iter(applied))[:15]}  not restored: ") and says in lines[0], lines
    assert len(lines) == 4 and all(line.startswith("restored ") for line in lines[1:])
    assert not (project.root.parent / "evil.sql").exists() and not (project.root / "evil.sql").exists()
