"""The `duckmig` command: each verb's output and exit code, settings, help and errors."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from duckmig_magic.cli import build_parser, main

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
NAMES = {V1: "one", V2: "two", V3: "three"}


class Line(str):
    """Expected stdout given by text that one of its lines must contain, where the rest varies (times)."""


@pytest.fixture
def three(project):
    for version, name in NAMES.items():
        project.sql(version, name, f"CREATE TABLE {name} (x INTEGER);", f"DROP TABLE {name};")
    return project


def sql_of(*versions: str) -> str:
    return "\n".join(f"-- {v} {NAMES[v]} ({v}_{NAMES[v]}.sql)\nBEGIN TRANSACTION;\n"
                     f"CREATE TABLE {NAMES[v]} (x INTEGER);\nCOMMIT;\n" for v in versions)


# (commands run first, the command, exit code, stdout); every command gets --database app.db
CASES = [
    ([], ["up"], 0, "applied 3 migrations\n"),
    ([], ["up", V2], 0, "applied 2 migrations\n"),
    (["up"], ["up"], 0, "nothing to apply\n"),
    (["up"], ["down"], 0, "reverted 1 migration\n"),
    (["up"], ["down", V1], 0, "reverted 2 migrations\n"),
    (["up"], ["down", V3], 0, "nothing to revert\n"),
    (["up"], ["down", "--steps", "2"], 0, "reverted 2 migrations\n"),
    (["up"], ["down", "base"], 0, "reverted 3 migrations\n"),
    (["up"], ["redo"], 0, f"redid {V3}\n"),
    ([], ["stamp", V2], 0, f"stamped {V1}\nstamped {V2}\n"),
    (["up"], ["stamp", V2], 0, "nothing to stamp\n"),
    ([], ["repair"], 0, "nothing to repair\n"),
    (["up"], ["verify"], 0, "checked 3 applied migrations: ok\n"),
    ([], ["verify", "--roundtrip"], 0,
     f"{V1}  roundtrip ok\n{V2}  roundtrip ok\n{V3}  roundtrip ok\n"
     "checked 0 applied migrations, round-tripped 3: ok\n"),
    ([], ["sql"], 0, sql_of(V1, V2, V3)),
    ([], ["sql", V1], 0, sql_of(V1)),
    ([f"up {V1}"], ["sql"], 0, sql_of(V2, V3)),
    (["up"], ["sql"], 0, "-- nothing to apply\n"),
    ([], ["history"], 0, "no events\n"),
    ([f"up {V1}"], ["history"], 0, Line(f"  {V1}  applied  ")),
    (["up"], ["status"], 0, Line("3 applied")),
    ([f"up {V1}"], ["status"], 0, Line("1 applied, 2 pending")),
    ([], ["status"], 0, Line("3 pending")),
]


@pytest.mark.parametrize("given, args, code, out", CASES, ids=[" ".join(c[0] + ["|"] + c[1]) for c in CASES])
def test_command(three, cli, given, args, code, out):
    for before in given:
        assert cli(*before.split(), "--database", "app.db").code == 0
    r = cli(*args, "--database", "app.db")
    assert r.code == code, r.err
    if isinstance(out, Line):
        assert any(out in line for line in r.out.splitlines()), r.out
    else:
        assert r.out == out
    assert "Traceback" not in r.err


def test_init_and_new(project, cli, tmp_path):
    r = cli("init", "--dir", "db")
    assert (r.code, r.out) == (0, "created: db/versions\n")
    assert cli("init", "--dir", "db").out == "exists: db/versions\n"
    r = cli("new", "Add tags column", "--dir", "db")
    assert r.code == 0
    created = Path(r.out.removeprefix("created: ").strip())
    assert re.fullmatch(r"db/versions/\d{8}_\d{6}_add_tags_column\.sql", str(created))
    assert (project.root / created).read_text().startswith("-- description: Add tags column\n-- migrate:up\n")
    r = cli("new", "seed style", "--python", "--dir", "db", "--json")
    data = json.loads(r.out)
    assert data["path"].endswith(f"{data['version']}_seed_style.py")
    assert "class Migration_" in (project.root / data["path"]).read_text()


def test_progress_lines_go_to_stderr(three, cli):
    r = cli("up", "-d", "app.db")
    assert r.out == "applied 3 migrations\n"
    assert re.fullmatch(
        rf"\[1/3\] applying {V1} one \.\.\. ok \(\d+\.\d ms\)\n"
        rf"\[2/3\] applying {V2} two \.\.\. ok \(\d+\.\d ms\)\n"
        rf"\[3/3\] applying {V3} three \.\.\. ok \(\d+\.\d ms\)\n", r.err), r.err
    r = cli("down", "-d", "app.db")
    assert re.fullmatch(rf"\[1/1\] reverting {V3} three \.\.\. ok \(\d+\.\d ms\)\n", r.err), r.err


# -- exact text of status --------------------------------------------------------------------


def test_status_text(three, cli):
    three.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nSELECT CAST('x' AS INTEGER);")
    assert cli("up", "-d", "app.db").code == 1
    (three.versions / f"{V1}_one.sql").write_text("-- migrate:up\nCREATE TABLE one (x BIGINT);\n")
    r = cli("status", "-d", "app.db")
    assert r.code == 0
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "YYYY-MM-DD HH:MM:SS", r.out)
    text = re.sub(r"(SS  )\d+\.\d", r"\g<1>9.9", text)
    # A time of 10 ms or more widens the MS column and moves the next: compare with the gaps closed.
    assert re.sub(" {2,}", "  ", text) == re.sub(" {2,}", "  ", f"""\
database:  app.db
directory: migrations/versions

VERSION          STATE     KIND  APPLIED AT (UTC)     MS   DESCRIPTION
{V1}  MODIFIED  sql   YYYY-MM-DD HH:MM:SS  9.9  one
{V2}  FAILED    sql   YYYY-MM-DD HH:MM:SS  9.9  two
{V3}  pending   sql                             three

{V2} failed: Conversion Error: Could not convert string 'x' to INT32
  statement: SELECT CAST('x' AS INTEGER)

1 pending, 1 failed, 1 modified
""")
    assert re.search(r"^VERSION {10}STATE {5}KIND  APPLIED AT \(UTC\) {5}MS +DESCRIPTION$", text, re.M)


def test_status_of_an_empty_directory(project, cli):
    r = cli("status", "-d", "app.db")
    assert r.out == ("database:  app.db\ndirectory: migrations/versions\n\n"
                     "no migrations yet: create one with `duckmig new DESCRIPTION`\n")
    assert not project.db.exists()


# -- exit codes ---------------------------------------------------------------------------------


def test_failed_migration_exits_1(three, cli):
    three.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nSELECT CAST('x' AS INTEGER);")
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    assert r.out == ""
    warned, _, rest = r.err.partition("\n")  # the migration without a downgrade is said first
    assert warned.startswith(f"duckmig: warning: {V2} has no downgrade")
    assert rest.startswith(f"[1/3] applying {V1} one ... ok (")
    assert f"\n[2/3] applying {V2} two ... failed\nduckmig: error: applying {V2} failed: Conversion Error" in r.err
    assert r.err.endswith("  statement: SELECT CAST('x' AS INTEGER)\n  rolled back: nothing of it remains\n"
                          f"  applied before it, and kept: {V1}\n  not tried: {V3}\n"
                          "  hint: fix the migration and run it again\n")


def test_drift_and_verification_exit_3(three, cli):
    assert cli("up", V2, "-d", "app.db").code == 0
    (three.versions / f"{V1}_one.sql").write_text("-- migrate:up\nCREATE TABLE one (x BIGINT);\n")
    r = cli("verify", "-d", "app.db")
    assert (r.code, r.out) == (3, f"{V1}  modified: the file changed since it was applied\n"
                                  "checked 2 applied migrations: 1 problem\n")
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (3, "")
    assert r.err == (f"duckmig: error: applied migrations differ from their files: {V1} (modified)\n"
                     "  hint: `duckmig verify` shows the details; accept intended edits with `duckmig repair`, "
                     "restore the files, or pass --allow-drift to apply on top of them\n")
    assert cli("up", "--allow-drift", "-d", "app.db").code == 0
    assert cli("repair", "-d", "app.db").out == f"{V1}  accepted the edited file\n"
    assert cli("verify", "-d", "app.db").code == 0


def test_out_of_order_exits_3(project, cli):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);")
    assert cli("up", "-d", "app.db").code == 0
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);")
    r = cli("up", "-d", "app.db")
    assert r.code == 3
    assert r.err == (f"duckmig: error: pending {V2} older than the newest applied migration {V3}\n"
                     "  hint: apply them anyway with --out-of-order, or give them newer versions\n")
    r = cli("up", "--out-of-order", "-d", "app.db")
    assert (r.code, r.out) == (0, "applied 1 migration\n")


def test_roundtrip_failure_exits_3(project, cli):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "SELECT 1;")
    r = cli("verify", "--roundtrip", "-d", "app.db")
    assert (r.code, r.out) == (3, f"{V1}  roundtrip: the downgrade does not restore the schema: "
                                  "column main.one.x remains; table main.one remains\n"
                                  "checked 0 applied migrations, round-tripped 0: 1 problem\n")


# -- what reaches the terminal ------------------------------------------------------------------

ESC = "\x1b[2J\x1b]0;owned\x07\x1b[31m"  # clear the screen, retitle the terminal, turn red
SHOWN = "\\x1b[2J\\x1b]0;owned\\x07\\x1b[31m"  # the same, as the terminal shows it: escaped


def test_escape_sequences_in_files_and_ledger_are_shown_escaped(project, cli):
    project.write(f"{V1}_evil.py", "from duckmig_magic import BaseMigration\n\n\nclass Evil(BaseMigration):\n"
                  f"    def __init__(self):\n        super().__init__(description={'evil' + ESC!r})\n\n"
                  "    def upgrade(self, session):\n        session.exec('CREATE TABLE t (x INTEGER)')\n", dedent=False)
    project.write(f"{V2}_boom.sql", f"-- migrate:up\nSELECT error('boom{ESC}');\n", dedent=False)
    up = cli("up", "-d", "app.db")
    assert up.code == 1
    assert f"[1/2] applying {V1} evil{SHOWN} ... ok" in up.err
    assert f"failed: Invalid Input Error: boom{SHOWN}" in up.err
    project.query("UPDATE duckdb_migrations SET error = ? WHERE version = ?", [f"tampered{ESC}\rrewritten", V2])
    status = cli("status", "-d", "app.db")
    assert f"evil{SHOWN}" in status.out
    assert f"{V2} failed: tampered{SHOWN} rewritten" in status.out  # the error on one line
    assert f"statement: SELECT error('boom{SHOWN}')" in status.out
    history = cli("history", "-d", "app.db")
    assert f"tampered{SHOWN}" in history.out  # the failed event's error, as the ledger holds it
    for run in (up, status, history):
        assert not any(c in run.out + run.err for c in "\x1b\x07\r")
    # JSON is for programs: the exact text, escaped as JSON escapes it
    data = json.loads(cli("status", "-d", "app.db", "--json").out)
    assert [m["description"] for m in data["migrations"]] == [f"evil{ESC}", "boom"]
    assert data["migrations"][1]["error"] == f"tampered{ESC}\rrewritten"


# -- JSON ---------------------------------------------------------------------------------------


def test_json_output(three, cli):
    r = cli("up", V2, "-d", "app.db", "--json")
    assert r.err == ""  # no progress lines when a script reads the output
    steps = json.loads(r.out)
    assert [(s["version"], s["description"], s["direction"], s["statements"]) for s in steps] == [
        (V1, "one", "up", 1), (V2, "two", "up", 1)]
    assert all(isinstance(s["execution_ms"], float) for s in steps)

    status = json.loads(cli("status", "-d", "app.db", "--json").out)
    assert (status["database"], status["directory"]) == ("app.db", "migrations/versions")
    assert [(m["version"], m["state"], m["kind"], m["file"]) for m in status["migrations"]] == [
        (V1, "applied", "sql", f"{V1}_one.sql"), (V2, "applied", "sql", f"{V2}_two.sql"),
        (V3, "pending", "sql", f"{V3}_three.sql")]
    assert set(status["migrations"][0]) == {"version", "description", "kind", "state", "applied_at",
                                            "execution_ms", "error", "statement", "file", "downgrade_differs"}

    history = json.loads(cli("history", "-d", "app.db", "--json").out)
    assert [(e["seq"], e["version"], e["event"]) for e in history] == [(1, V1, "applied"), (2, V2, "applied")]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+", history[0]["occurred_at"])

    assert json.loads(cli("verify", "-d", "app.db", "--json").out) == {
        "ok": True, "checked": 2, "roundtrip": [], "problems": []}
    assert json.loads(cli("sql", "-d", "app.db", "--json").out) == {"sql": sql_of(V3)}
    down = json.loads(cli("down", "-d", "app.db", "--json").out)
    assert [(s["version"], s["direction"]) for s in down] == [(V2, "down")]
    assert json.loads(cli("stamp", V3, "-d", "app.db", "--json").out) == [V2, V3]
    (three.versions / f"{V3}_three.sql").unlink()
    assert json.loads(cli("repair", "-d", "app.db", "--json").out) == [
        {"version": V3, "action": "forgot the row of a missing file"}]
    r = cli("verify", "-d", "app.db", "--json")
    assert (r.code, json.loads(r.out)["ok"]) == (0, True)


def test_json_of_a_failed_verification(three, cli):
    cli("up", "-d", "app.db")
    (three.versions / f"{V2}_two.sql").unlink()
    r = cli("verify", "-d", "app.db", "--json")
    assert r.code == 3
    assert json.loads(r.out) == {"ok": False, "checked": 3, "roundtrip": [], "problems": [
        {"version": V2, "state": "missing", "detail": "applied, but its file is gone", "hint": None}]}


# -- where settings come from ----------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["--database", "elsewhere.db", "--dir", "db", "status"],
    ["status", "--database", "elsewhere.db", "--dir", "db"],
    ["--database", "elsewhere.db", "status", "--dir", "db"],
    ["--dir", "db", "status", "-d", "elsewhere.db"],
    ["-d", "ignored.db", "status", "-d", "elsewhere.db", "--dir", "db"],
])
def test_flags_before_or_after_the_verb(project, cli, args):
    (project.root / "db" / "versions").mkdir(parents=True)
    (project.root / "db" / "versions" / f"{V1}_one.sql").write_text("-- migrate:up\nSELECT 1;\n")
    r = cli(*args, "--json")
    data = json.loads(r.out)
    assert (data["database"], data["directory"], [m["version"] for m in data["migrations"]]) == (
        "elsewhere.db", "db/versions", [V1])


PYPROJECT = '[project]\nname = "x"\n\n[tool.duckmig]\ndatabase = "data/app.db"\ndirectory = "db"\n'


@pytest.mark.parametrize("env, flags, database, directory", [
    ({}, [], "{root}/data/app.db", "{root}/db/versions"),
    ({"DUCKMIG_DATABASE": "env.db"}, [], "env.db", "{root}/db/versions"),
    ({"DUCKMIG_DIR": "envdir"}, [], "{root}/data/app.db", "envdir/versions"),
    ({"DUCKMIG_DATABASE": "env.db", "DUCKMIG_DIR": "envdir"}, ["-d", "flag.db", "--dir", "flagdir"],
     "flag.db", "flagdir/versions"),
    ({}, ["--dir", "flagdir"], "{root}/data/app.db", "flagdir/versions"),
])
def test_settings_from_pyproject_environment_and_flags(project, cli, monkeypatch, env, flags, database, directory):
    root = project.root
    (root / "pyproject.toml").write_text(PYPROJECT)
    sub = root / "src" / "deeper"
    for folder in (root / "data", root / "db" / "versions", sub / "envdir" / "versions", sub / "flagdir" / "versions"):
        folder.mkdir(parents=True)
    monkeypatch.chdir(sub)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    r = cli("status", *flags, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert (data["database"], data["directory"]) == (database.format(root=root), directory.format(root=root))


# -- a DuckLake's settings: checked before anything is opened ------------------------------------------

NOT_A_LAKE = ", or name a DuckLake: ducklake:PATH.ducklake (a DuckDB file) or ducklake:postgres:dbname=NAME host=HOST\n"
LAKE = ["-d", "ducklake:c.ducklake"]

# (variables, arguments, exit code, stdout, stderr)
LAKE_SETTINGS = [
    ({}, ["init", *LAKE, "--data-path", "d/", "--option", "encrypted=true"], 0, "exists: migrations/versions\n", ""),
    ({}, ["status", "-d", "app.db", "--data-path", "lake/"], 2, "",
     "duckmig: error: --data-path is a setting of a DuckLake, and app.db is not one\n  hint: leave --data-path out"
     + NOT_A_LAKE),
    ({"DUCKMIG_DATA_PATH": "lake/"}, ["up", "-d", "app.db"], 2, "",
     "duckmig: error: DUCKMIG_DATA_PATH is a setting of a DuckLake, and app.db is not one\n"
     "  hint: leave DUCKMIG_DATA_PATH out" + NOT_A_LAKE),
    ({}, ["-d", "app.db", "--option", "busy_timeout=1", "status", "--option", "encrypted=true"], 2, "",
     "duckmig: error: --option BUSY_TIMEOUT is a setting of a DuckLake, and app.db is not one\n"
     "  hint: leave --option BUSY_TIMEOUT out" + NOT_A_LAKE),
    ({}, [*LAKE, "--option", "busy_timeout=1", "status", "--option", "encrypted=maybe"], 2, "",
     "duckmig: error: ENCRYPTED must be true or false, not 'maybe'\n  hint: set ENCRYPTED to true or false\n"),
    ({}, ["status", "-d", ":memory:", "--option", "metadata_schema=m"], 2, "",
     "duckmig: error: --option METADATA_SCHEMA is a setting of a DuckLake, and :memory: is not one\n"
     "  hint: leave --option METADATA_SCHEMA out" + NOT_A_LAKE),
    ({}, ["status", *LAKE, "--option", "encrypted=yes"], 2, "",
     "duckmig: error: ENCRYPTED must be true or false, not 'yes'\n  hint: set ENCRYPTED to true or false\n"),
    ({}, ["up", *LAKE, "--option", "data_inlining_row_limit=-1"], 2, "",
     "duckmig: error: DATA_INLINING_ROW_LIMIT must be a whole number, not '-1'\n"
     "  hint: set DATA_INLINING_ROW_LIMIT to a whole number\n"),
    ({}, [*LAKE, "--option", "metadata_schema", "status"], 2, "",
     "duckmig: error: --option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not 'metadata_schema'\n"
     "  hint: for example --option METADATA_SCHEMA=lake_1 --option ENCRYPTED=true\n"),
    ({}, ["sql", *LAKE, "--option", "READ_ONLY=true"], 2, "",
     "duckmig: error: READ_ONLY attaches the lake read-only, and migrations write to the lake\n"
     "  hint: leave READ_ONLY out\n"),
    ({}, ["status", *LAKE, "--option", "compression=zstd"], 2, "",
     "duckmig: error: COMPRESSION is not an ATTACH option of DuckLake that duckmig passes on\n"
     "  hint: the options are AUTOMATIC_MIGRATION, BUSY_TIMEOUT, CREATE_IF_NOT_EXISTS, DATA_INLINING_ROW_LIMIT, "
     "DATA_PATH, ENCRYPTED, METADATA_CATALOG, METADATA_SCHEMA, OVERRIDE_DATA_PATH, S3_ENDPOINT, S3_REGION, "
     "S3_URL_STYLE, S3_USE_SSL\n"),
    ({}, ["status", *LAKE, "--data-path", "a", "--option", "data_path=b"], 2, "",
     "duckmig: error: the data path is given twice: as --data-path and as --option DATA_PATH\n"
     "  hint: keep one of them\n"),
    ({}, ["status", *LAKE, "--data-path", ""], 2, "",
     "duckmig: error: DATA_PATH is empty\n  hint: give DATA_PATH a value, or leave it out\n"),
    ({}, ["status", *LAKE, "--data-path"], 2, "",
     "duckmig: error: status: argument --data-path: expected one argument\n"
     "  hint: `duckmig status --help` lists the arguments\n"),
]


@pytest.mark.parametrize("env, args, code, out, err", LAKE_SETTINGS, ids=[" ".join(c[1]) for c in LAKE_SETTINGS])
def test_lake_settings(project, cli, monkeypatch, env, args, code, out, err):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = sorted(project.root.rglob("*"))
    r = cli(*args)
    assert (r.code, r.out, r.err) == (code, out, err)
    assert sorted(project.root.rglob("*")) == before  # nothing opened, nothing created


# -- help -------------------------------------------------------------------------------------------


def verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("verb", sorted(verbs()))
def test_every_command_has_help(capsys, verb):
    with pytest.raises(SystemExit) as info:
        main([verb, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: duckmig {verb} ")
    for action in verbs()[verb]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[0] if action.option_strings else action.dest
        assert name in out, f"{verb} --help does not mention {name}"
        assert action.help and " ".join(action.help.split())[:30] in " ".join(out.split()), \
            f"{verb}: the argument {name} is not explained"


def test_help_is_printed(capsys):
    with pytest.raises(SystemExit) as info:
        main(["down", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: duckmig down ")
    for word in ("target", "--steps", "--database", "--dir", "--json", "'base' reverts all"):
        assert word in out


# -- the installed command, as a process ---------------------------------------------------------------

DUCKMIG = Path(sys.executable).with_name("duckmig")


def test_installed_command_exit_code_and_stderr(three):
    three.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nINSERT INTO two VALUES (1);\nSELECT CAST('x' AS INTEGER);")
    assert DUCKMIG.exists(), "the console script is installed beside the interpreter"
    run = subprocess.run([str(DUCKMIG), "--database", "app.db", "up"], cwd=three.root, capture_output=True,
                         text=True, env={"PATH": str(DUCKMIG.parent)}, timeout=60)
    assert run.returncode == 1
    assert run.stdout == ""
    warned, *lines = run.stderr.splitlines()
    assert warned.startswith(f"duckmig: warning: {V2} has no downgrade")  # said under the lock, before any runs
    assert lines[0].startswith(f"[1/3] applying {V1} one ... ok (")
    assert lines[1] == f"[2/3] applying {V2} two ... failed"
    assert lines[2] == f"duckmig: error: applying {V2} failed: Conversion Error: Could not convert string 'x' to INT32"
    assert lines[-5:] == ["  statement: SELECT CAST('x' AS INTEGER)", "  rolled back: nothing of it remains",
                          f"  applied before it, and kept: {V1}", f"  not tried: {V3}",
                          "  hint: fix the migration and run it again"]
    assert "Traceback" not in run.stderr
    run = subprocess.run([str(DUCKMIG), "status", "--database", "app.db"], cwd=three.root, capture_output=True,
                         text=True, env={"PATH": str(DUCKMIG.parent)}, timeout=60)
    assert run.returncode == 0
    assert "1 applied, 1 pending, 1 failed" in run.stdout.splitlines()


@pytest.mark.parametrize("module", ["duckmig_magic", "duckmig_magic.cli"])
def test_the_command_runs_as_a_module(three, module):
    """``python -m duckmig_magic`` and ``python -m duckmig_magic.cli`` are the command, as the console script is."""
    run = subprocess.run([sys.executable, "-m", module, "--database", "app.db", "up"], cwd=three.root,
                         capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "applied 3 migrations\n"), run.stderr
    assert three.tables() == {"one", "two", "three", "duckdb_migrations"}
