"""What a newcomer met at the edges: a closed pipe, a lost migrations folder, cells run out of
order, a lock held by someone else, relative file names, and the time of ``status`` on many files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"


def command(project, *args: str, **kw) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")}
    return subprocess.Popen([sys.executable, "-m", "duckmig_magic", "--database", str(project.db), "--dir",
                             str(project.directory), *args], cwd=project.root, env=env, **kw)


@pytest.mark.parametrize("args", [["status", "--json"], ["status"], ["history"], ["sql"], ["up"]],
                         ids=" ".join)
def test_a_closed_pipe_ends_the_command_quietly(project, args):
    """`duckmig status --json | head`: the reader is gone before the command writes. The command
    ends as Unix tools do, without a traceback or a word on stderr; `up` still applies."""
    for i in range(1, 4):
        project.sql(f"2025010{i}_00000{i}", f"t{i}", f"CREATE TABLE t{i} (x INTEGER);", f"DROP TABLE t{i};")
    if args[0] in ("history",):
        assert command(project, "up", stdout=subprocess.DEVNULL).wait() == 0
    run = command(project, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    run.stdout.close()  # as `head` does once it has read enough (here: before anything)
    err = run.stderr.read().decode()
    code = run.wait(timeout=60)
    assert err == "" if args != ["up"] else "error" not in err and "Traceback" not in err  # up: its progress
    assert code == 141  # 128 + SIGPIPE, as a tool that SIGPIPE ended
    if args == ["up"]:
        assert project.tables() >= {"t1", "t2", "t3"}


def test_a_closed_pipe_on_stderr_does_not_stop_a_migration(project):
    """`duckmig up 2>&1 | head -1`: the progress lines find the pipe closed; the migrations still run
    to the end and the ledger says so."""
    for i in range(1, 4):
        project.sql(f"2025010{i}_00000{i}", f"t{i}", f"CREATE TABLE t{i} (x INTEGER);")
    run = command(project, "up", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    run.stdout.close()
    run.wait(timeout=60)
    assert project.tables() >= {"t1", "t2", "t3"}
    assert {r[0] for r in project.query("SELECT version FROM duckdb_migrations")} == {V1, V2, V3}
