"""Concurrent runners: two processes, or two threads, running `up` on one database.

DuckDB lets one process write a file. Of two `duckmig up` started at the same
moment, exactly one applies each migration; the other stops at once with the
lock message (exit code 2), or with ``--wait`` waits for the lock and then
finds nothing left to do. Inside one process the engine serialises Migrators
that share a connection or a database file, so their runs never interleave.

DUCKMIG_SLOW=1 runs more rounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from duckmig_magic import Migrator
from conftest import STATE

SLOW = os.environ.get("DUCKMIG_SLOW") == "1"
ROUNDS = 60 if SLOW else 8
COUNT = 6
LOCKED = ("duckmig: error: database app.db is locked by process {pid} ({holder}), where `duckmig up` is running: "
          "DuckDB lets one process write a file\n"
          "  hint: wait for it: retry with --wait SECONDS, which goes ahead as soon as it lets go\n")

# Each process waits on stdin after its imports, so that both start `up` at the same moment.
GATE = ("import sys\nfrom duckmig_magic.cli import main\nimport duckdb\n"
        "print('ready', flush=True)\nsys.stdin.readline()\nsys.exit(main(sys.argv[1:]))")


def version(i: int) -> str:
    return f"20250101_{i:06d}"


def write_migrations(directory: Path) -> None:
    """A first migration creating a counter, then ones that each add to it and take a while."""
    versions = directory / "versions"
    versions.mkdir(parents=True)
    (versions / f"{version(0)}_counter.sql").write_text(
        "-- migrate:up\nCREATE TABLE counter (n INTEGER);\nINSERT INTO counter VALUES (0);\n"
        "CREATE TABLE log (i INTEGER);\n")
    for i in range(1, COUNT):
        (versions / f"{version(i)}_step_{i}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE work{i} AS SELECT range AS id, md5(range::VARCHAR) AS h "
            f"FROM range(20000);\nUPDATE counter SET n = n + 1;\nINSERT INTO log VALUES ({i});\n")


def applied_once(db: Path) -> None:
    """Every migration applied exactly once: by its effects and by the ledger's history."""
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT n FROM counter").fetchall() == [(COUNT - 1,)]
        assert conn.execute("SELECT i FROM log ORDER BY i").fetchall() == [(i,) for i in range(1, COUNT)]
        assert conn.execute(f"SELECT version, status FROM {STATE} ORDER BY version").fetchall() \
            == [(version(i), "applied") for i in range(COUNT)]
        events = Counter(conn.execute("SELECT version, event FROM duckdb_migrations").fetchall())
    assert events == Counter({(version(i), "applied"): 1 for i in range(COUNT)})


def race(root: Path, *extra: str) -> list[tuple[subprocess.Popen, str, str]]:
    """Start two `duckmig up` on one database, release them together, return (proc, out, err)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")}
    procs = [subprocess.Popen([sys.executable, "-c", GATE, "up", "--database", "app.db", "--dir", "migrations",
                               *extra], cwd=root, env=env, text=True, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    assert [p.stdout.readline() for p in procs] == ["ready\n"] * 2
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    return [(p, *p.communicate(timeout=120)) for p in procs]


def test_two_processes_race_for_up(tmp_path, report):
    """Exactly one applies; the other stops with the lock message naming the winner's pid."""
    outcomes = Counter()
    for n in range(ROUNDS):
        root = tmp_path / f"round{n}"
        root.mkdir()
        write_migrations(root / "migrations")
        pending = COUNT
        if n % 2:  # half the rounds start from a database with a ledger, half from no file at all
            Migrator(str(root / "app.db"), str(root / "migrations")).up(version(1))
            pending = COUNT - 2
        results = race(root)
        winners = [r for r in results if r[1] == f"applied {pending} migrations\n"]
        assert len(winners) == 1, results
        (winner, _, _), = winners
        (loser, out, err), = [r for r in results if r[0] is not winner]
        assert winner.returncode == 0
        if loser.returncode == 0:
            assert (out, err) == ("nothing to apply\n", "")  # it came after the winner had finished
            outcomes["came after"] += 1
        else:
            holder = err.split(f"locked by process {winner.pid} (", 1)[-1].split(")", 1)[0]
            assert (loser.returncode, out, err) == (2, "", LOCKED.format(pid=winner.pid, holder=holder))
            outcomes["locked out"] += 1
        applied_once(root / "app.db")
    report(f"concurrency: {ROUNDS} races of two `duckmig up`: the loser was locked out "
           f"{outcomes['locked out']} times and came after the winner {outcomes['came after']} times; "
           f"every migration applied exactly once")
    assert outcomes["locked out"] >= ROUNDS // 4, "the two processes should mostly overlap"


def test_two_processes_race_with_wait(tmp_path, report):
    """With --wait, the loser waits for the lock and then finds nothing to do."""
    rounds = max(2, ROUNDS // 2)
    for n in range(rounds):
        root = tmp_path / f"round{n}"
        root.mkdir()
        write_migrations(root / "migrations")
        results = race(root, "--wait", "60")
        assert sorted((p.returncode, out) for p, out, _ in results) == [
            (0, f"applied {COUNT} migrations\n"), (0, "nothing to apply\n")], results
        applied_once(root / "app.db")
    report(f"concurrency: {rounds} races of two `duckmig up --wait 60`: one applied, the other waited "
           f"and found nothing to apply, every time")


def threaded_runs(make_migrator) -> tuple[list, list, list]:
    """Run `up` of one Migrator, and from inside its run start `up` of a second in another thread.

    Returns the events of both (thread, event, version) in the order they happened,
    and each one's results.
    """
    events, results = [], {}
    lock = threading.Lock()
    second = None

    def progress(name):
        def record(event, index, total, item, result):
            with lock:
                events.append((name, event, item.version))
            nonlocal second
            if name == "first" and event == "start" and index == 2:
                second = threading.Thread(target=run, args=("second",))
                second.start()
                time.sleep(0.3)  # the second has every chance to run now, if the engine let it
        return record

    def run(name):
        try:
            results[name] = make_migrator(progress(name)).up()
        except Exception as exc:  # the assertion below shows it
            results[name] = exc

    run("first")
    second.join(30)
    return events, results["first"], results["second"]


@pytest.mark.parametrize("share", ["the user's connection", "the database file"])
def test_two_migrators_in_two_threads_do_not_interleave(tmp_path, share):
    write_migrations(tmp_path / "migrations")
    db = tmp_path / "app.db"
    conn = duckdb.connect(str(db)) if share == "the user's connection" else None
    try:
        events, first, second = threaded_runs(
            lambda progress: Migrator(conn or str(db), str(tmp_path / "migrations"), progress=progress))
    finally:
        if conn:
            conn.close()
    assert isinstance(first, list) and isinstance(second, list), (first, second)
    assert [r.version for r in first] == [version(i) for i in range(COUNT)]
    assert second == [], "the second waited for the first, then found nothing to do"
    assert events == [("first", e, version(i)) for i in range(COUNT) for e in ("start", "done")]
    applied_once(db)
