"""Two runners on two DuckDB instances race to migrate one DuckLake on PostgreSQL.

Each race starts two `duckmig up` processes at the same moment on the same lake. Every
migration's transaction updates the ledger's lock row, so DuckLake refuses the second of
two overlapping COMMITs, whatever the migrations do: even migrations that only INSERT,
which DuckLake would otherwise let both commit. After each race, every migration is
applied exactly once: one 'applied' event, its rows there once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.engine import lake
from duckmig_magic.engine.ledger import Ledger, Place

from conftest import STATE
from lake_support import STORES, make_store

pytestmark = pytest.mark.ducklake
ROWS = 50_000

# Waits for the starting gun, then runs the command's own main: both processes have imported
# duckmig and DuckDB before either starts, so their runs overlap.
RACER = r"""
import os, sys, time
from duckmig_magic.cli import main

gun = sys.argv[1]
while not os.path.exists(gun):
    time.sleep(0.001)
sys.exit(main(sys.argv[2:]))
"""


def inserts(i: int) -> str:
    return f"INSERT INTO events (id, tag) SELECT range, {i} FROM range({ROWS});"


MIXED = [
    ("add_kind", "ALTER TABLE events ADD COLUMN kind VARCHAR;"),
    ("backfill", inserts(2)),
    ("summary", "CREATE TABLE summary AS SELECT tag, count(*) AS n FROM events GROUP BY tag;"),
    ("more", inserts(4)),
]
INSERT_ONLY = [(f"insert_{i}", inserts(i)) for i in range(1, 5)]
RACES = [(n, INSERT_ONLY if n % 2 else MIXED, wait) for n, wait in
         [(1, True), (2, True), (3, True), (4, True), (5, False), (6, False), (7, False), (8, False)]]


def version(i: int) -> str:
    return f"20250101_{i:06d}"


# Every race with the data in a folder; on S3, one of each kind of migrations, with and without --wait
# (the races are slow, and what S3 changes is where the files go, not how DuckLake decides a COMMIT).
S3_RACES = (2, 5)
CASES = [(store, *r) for store in STORES for r in RACES if store == "folder" or r[0] in S3_RACES]


@pytest.mark.parametrize("kind, race, migrations, wait", CASES, ids=[
    f"{k}-race{n}-{'inserts' if m is INSERT_ONLY else 'mixed'}-{'wait' if w else 'no-wait'}" for k, n, m, w in CASES])
def test_two_runners_apply_each_migration_once(project, lake_home, postgres, tmp_path, report, request, monkeypatch,
                                                kind, race, migrations, wait):
    store = make_store(kind, request, tmp_path, monkeypatch)
    database = f"ducklake:postgres:{postgres.database()}"
    project.sql(version(0), "events", "CREATE TABLE events (id BIGINT, tag INTEGER);")
    Migrator(store.lake(database), str(project.directory)).up()
    for i, (slug, sql) in enumerate(migrations, 1):
        project.sql(version(i), slug, sql)
    gun = tmp_path / "go"
    args = (["--database", database, *store.words(), "--dir", str(project.directory), "up"]
            + (["--wait", "60"] if wait else []))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(gun), *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    time.sleep(1.5)  # both have imported duckmig and wait for the gun
    gun.touch()
    outcomes = [(r.wait(120), *r.communicate()) for r in racers]
    lost = [err for code, _, err in outcomes if code != 0]
    report(f"lake race {race}, data in {'S3' if store.server else 'a folder'} ({'--wait' if wait else 'no wait'}): exit codes {sorted(c for c, _, _ in outcomes)}"
           + "".join(f"; the loser said: {line}" for err in lost for line in err.splitlines()
                     if line.startswith("duckmig: error:")))
    if wait:
        assert lost == [], lost
    for code, out, err in outcomes:
        assert code in (0, 1) and "Traceback" not in err, err
        if code == 1:
            assert "another runner won: " in err and " (pid " in err and "nothing of it remains" in err, err
            assert "retry with --wait SECONDS" in err, err
    Migrator(store.lake(database), str(project.directory)).up()  # a loser's run, again: what is left

    with duckdb.connect() as conn:
        store.reader(conn)
        conn.execute(f"ATTACH '{database}' AS lake (READ_ONLY)")
        events = conn.execute("SELECT version, count(*) FROM lake.duckdb_migrations WHERE event = 'applied' "
                              "GROUP BY ALL ORDER BY 1").fetchall()
        assert events == [(version(i), 1) for i in range(len(migrations) + 1)]
        assert conn.execute(f"SELECT count(*) FROM {STATE.replace('duckdb_migrations', 'lake.duckdb_migrations')}"
                            ).fetchone() == (len(migrations) + 1,)
        tags = dict(conn.execute("SELECT tag, count(*) FROM lake.events GROUP BY tag").fetchall())
        assert tags == {i: ROWS for i, (_, sql) in enumerate(migrations, 1) if sql.startswith("INSERT")}


def _another_process(spec, project, tmp_path) -> None:
    other = subprocess.run([sys.executable, "-m", "duckmig_magic.cli", "--database", spec.spec, "--data-path",
                            str(tmp_path / "data"), "--dir", str(project.directory), "up"],
                           capture_output=True, text=True)
    assert other.returncode == 0, other.stderr


def _this_process(spec, project, tmp_path) -> None:
    other = Migrator(spec, str(project.directory))  # a connection of its own: host and pid are this run's
    assert [r.version for r in other.up()] == [version(2)]
    other.db.connection.close()


@pytest.mark.parametrize("other_runner", [_another_process, _this_process], ids=["another-process", "this-process"])
def test_a_plan_knows_the_events_it_was_read_with(project, lake_home, postgres, tmp_path, other_runner):
    """The lock a run plans with is read in the plan's own statement: an event another runner commits
    right after sets the lock anew, the plan lacks that event, and the run's next transaction refuses
    to go on. (Read apart, such an event counted as known though the plan lacked it, and its
    migration was applied twice, or failed on what the other runner had made.) Another run in this
    very process is another runner too: the lock records which run set it, not only host and pid."""
    spec = lake.parse(f"ducklake:postgres:{postgres.database()}", data_path=str(tmp_path / "data"))
    project.sql(version(1), "one", "CREATE TABLE one (x INTEGER);")
    project.sql(version(2), "two", "INSERT INTO one VALUES (2);")
    Migrator(spec, str(project.directory)).up(version(1))
    conn = lake.connect(spec)
    try:
        ledger = Ledger(conn, "duckdb_migrations", Place.current(conn))
        assert sorted(ledger.rows(plan=True)) == [version(1)]  # this run plans to apply the second
        other_runner(spec, project, tmp_path)  # another runner applies it meanwhile
        conn.execute("BEGIN TRANSACTION")
        with pytest.raises(errors.LedgerMoved):
            ledger.unmoved()
        conn.execute("ROLLBACK")
    finally:
        conn.close()
