"""SIGKILL during `duckmig up` on a DuckLake (PostgreSQL catalog): ledger and tables agree after.

A real `duckmig up` process applies 30 migrations (tables, columns, rows) to a lake and is
killed at a random moment after its first progress line. The lake is then read by another
process: each migration's effect is there exactly when the ledger says it is applied, and
the next `up` completes. DUCKMIG_LAKE_KILLS=N sets the number of kills (default 6).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from duckmig_magic import Migrator

from conftest import STATE
from lake_support import STORES, make_store

pytestmark = pytest.mark.ducklake
KILLS = int(os.environ.get("DUCKMIG_LAKE_KILLS") or 6)
COUNT = 30


def version(i: int) -> str:
    return f"20250101_{i:06d}"


def write(project) -> None:
    project.sql(version(0), "base", "CREATE TABLE log (i INTEGER);")
    for i in range(1, COUNT + 1):
        if i % 3 == 1:
            body = f"CREATE TABLE t{i} AS SELECT range AS id FROM range(20000);\nINSERT INTO log VALUES ({i});"
        elif i % 3 == 2:
            body = f"ALTER TABLE t{i - 1} ADD COLUMN c INTEGER DEFAULT {i};\nINSERT INTO log VALUES ({i});"
        else:
            body = f"INSERT INTO log SELECT {i} FROM range(1);"
        project.sql(version(i), f"step_{i}", body)


def agreed(database: str, store) -> int:
    """How many migrations are applied; raises unless each one's effect is there exactly then."""
    with duckdb.connect() as conn:
        store.reader(conn)
        conn.execute(f"ATTACH '{database}' AS lake (READ_ONLY)")
        conn.execute("USE lake")
        tables = {t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "duckdb_migrations" not in tables:
            return 0
        applied = {v for v, s in conn.execute(f"SELECT version, status FROM {STATE}").fetchall()}
        log = dict(conn.execute("SELECT i, count(*) FROM log GROUP BY i").fetchall()) if "log" in tables else {}
        for i in range(1, COUNT + 1):
            if i % 3 == 2:
                there = (f"t{i - 1}" in tables and ("c",) in conn.execute(
                    f"SELECT column_name FROM duckdb_columns() WHERE table_name = 't{i - 1}'").fetchall())
            else:
                there = log.get(i, 0) == 1 and (i % 3 != 1 or f"t{i}" in tables)
            assert log.get(i, 0) in (0, 1), f"{version(i)} applied twice"
            assert there == (version(i) in applied), f"{version(i)}: effect {there}, ledger {version(i) in applied}"
        return len(applied)


def run(database: str, project, tmp_path, kill_after: float | None, words: list[str]) -> float:
    """`duckmig up` in a process of its own, killed ``kill_after`` seconds after its first progress
    line; returns the seconds from that line to its end."""
    err = tmp_path / "err.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "duckmig_magic.cli", "--database", database, *words,
                                 "--dir", str(project.directory), "up"], stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while "applying" not in err.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        started = time.monotonic()
        if kill_after is None:
            assert proc.wait(120) == 0, err.read_text()
        else:
            time.sleep(kill_after)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    return time.monotonic() - started


# Kills with the data on S3: a third as many, as each run there is slower; what they check is the same.
S3_KILLS = max(1, KILLS // 3)


@pytest.mark.parametrize("kind", STORES)
def test_sigkill_during_up_on_a_lake(project, lake_home, postgres, tmp_path, report, request, monkeypatch, kind):
    store = make_store(kind, request, tmp_path, monkeypatch)
    database = f"ducklake:postgres:{postgres.database()}"
    write(project)
    Migrator(store.lake(database), str(project.directory)).up(version(0))
    # How long a whole run takes here, on a lake of its own: the kills fall within it.
    timing = f"ducklake:postgres:{postgres.database()}"
    Migrator(store.lake(timing, "timing"), str(project.directory)).up(version(0))
    window = run(timing, project, tmp_path, None, store.words())
    rng, seen = random.Random(20250710), []
    for _ in range(KILLS if kind == "folder" else S3_KILLS):
        run(database, project, tmp_path, rng.uniform(0, window), store.words())
        seen.append(agreed(database, store))
        if seen[-1] == COUNT + 1:
            break
    report(f"lake crash: {len(seen)} SIGKILLs during `up` on a DuckLake on PostgreSQL, data in "
           f"{'S3' if store.server else 'a folder'} (a run takes {window:.1f} s here); applied after each: "
           f"{seen}; ledger and tables agreed every time")
    assert seen == sorted(seen), "a kill never takes back what was committed"
    Migrator(store.lake(database), str(project.directory)).up()
    assert agreed(database, store) == COUNT + 1
