"""SIGKILL during `duckmig up`: the database and its ledger never disagree.

A real process running `duckmig up` applies 100 migrations (DDL and data
changes mixed, SQL and Python forms, the Python ones calling
``session.commit()`` midway) and is killed with SIGKILL at seeded random
moments. Each run is forked from a driver that imported duckmig once, so that
a run starts quickly and the kills fall in its work rather than its imports.
After every kill the database is reopened and each migration's effect in the
schema and data is compared with the ledger: applied and recorded, or neither.
The next `up` carries on from there, until one completes.

``transaction:false`` migrations are left out on purpose: they run outside a
transaction, so a kill inside one can leave it partly applied, as documented.

A second series kills runs while a migration replays its transaction: its
Python code catches a failed statement, so the engine rolls back and runs what
succeeded before it again. A kill then must leave the migration absent, never
doubled or half there.

A third series kills runs of SQL migrations that share transactions (group
commit) after one of them failed: while the group is rolled back, while the
migrations before the failing one are applied again, and while the failure is
recorded. Each migration must be there once or not at all, as the ledger says.

DUCKMIG_CRASH_KILLS=N sets the number of kills (default 50; 500 with
DUCKMIG_SLOW=1), DUCKMIG_REPLAY_KILLS=N those during replays and
DUCKMIG_GROUP_KILLS=N those after a grouped failure (default 12 each; 100 with
DUCKMIG_SLOW=1); DUCKMIG_CRASH_SEED picks other moments.
"""

from __future__ import annotations

import os
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from duckmig_magic import Migrator
from duckmig_magic.engine.versions import checksum

from conftest import STATE

SLOW = os.environ.get("DUCKMIG_SLOW") == "1"
KILLS = int(os.environ.get("DUCKMIG_CRASH_KILLS") or (500 if SLOW else 50))
REPLAY_KILLS = int(os.environ.get("DUCKMIG_REPLAY_KILLS") or (100 if SLOW else 12))
GROUP_KILLS = int(os.environ.get("DUCKMIG_GROUP_KILLS") or (100 if SLOW else 12))
SEED = int(os.environ.get("DUCKMIG_CRASH_SEED") or 20250710)
COUNT = 100
ROWS = 300  # rows of each created table
FACTS = 4000  # rows each Python migration inserts; a later migration deletes half of them


def version(i: int) -> str:
    return f"20250101_{i:06d}"


def migration(i: int) -> tuple[str, str]:
    """File name and text of migration ``i``; its kind is ``i % 5`` (0 is the base)."""
    v = version(i)
    if i == 0:
        return f"{v}_base.sql", (
            "-- migrate:up\nCREATE TABLE base (id INTEGER PRIMARY KEY, total BIGINT);\n"
            "INSERT INTO base VALUES (1, 0);\nCREATE TABLE log (i INTEGER);\n"
            "CREATE TABLE facts (id BIGINT, tag INTEGER);\n"
            "-- migrate:down\nDROP TABLE facts;\nDROP TABLE log;\nDROP TABLE base;\n")
    kind = i % 5
    if kind == 1:
        return f"{v}_table_{i}.sql", (
            f"-- migrate:up\nCREATE TABLE t{i} (id INTEGER PRIMARY KEY, v VARCHAR);\n"
            f"INSERT INTO t{i} SELECT range, 'row ' || range FROM range({ROWS});\n"
            f"UPDATE base SET total = total + {i};\n-- migrate:down\nDROP TABLE t{i};\n")
    if kind == 2:
        return f"{v}_column_{i}.sql", (
            f"-- migrate:up\nALTER TABLE base ADD COLUMN c{i} INTEGER DEFAULT {i};\n"
            f"INSERT INTO log VALUES ({i});\n")
    if kind == 3:
        return f"{v}_python_{i}.py", (
            "from duckmig_magic import BaseMigration\n\n\n"
            f"class Migration_{v}(BaseMigration):\n"
            "    def __init__(self):\n"
            f"        super().__init__(version=\"{v}\", description=\"facts {i}\")\n\n"
            "    def upgrade(self, session):\n"
            f"        session.exec(\"INSERT INTO facts SELECT range, {i} FROM range({FACTS})\")\n"
            "        session.commit()  # deferred: the engine commits with the ledger row\n"
            f"        session.exec(\"CREATE VIEW v{i} AS SELECT count(*) AS n FROM facts WHERE tag = {i}\")\n"
            f"        session.exec(\"UPDATE base SET total = total + {i}\")\n\n"
            "    def downgrade(self, session):\n"
            f"        session.exec(\"DROP VIEW v{i}\")\n"
            f"        session.exec(\"DELETE FROM facts WHERE tag = {i}\")\n")
    if kind == 4:
        return f"{v}_index_{i}.sql", (
            f"-- migrate:up\nCREATE TABLE ix{i} AS SELECT range AS id FROM range({ROWS});\n"
            f"CREATE UNIQUE INDEX idx{i} ON ix{i} (id);\nINSERT INTO log VALUES ({i});\n")
    return f"{v}_rename_{i}.sql", (
        f"-- migrate:up\nALTER TABLE t{i - 4} RENAME TO r{i - 4};\n"
        f"DELETE FROM facts WHERE tag = {i - 2} AND id % 2 = 0;\nINSERT INTO log VALUES ({i});\n")


def write_migrations(directory: Path) -> dict[str, str]:
    """Write the 100 files; returns each version's checksum."""
    versions = directory / "versions"
    versions.mkdir(parents=True)
    sums = {}
    for i in range(COUNT):
        name, text = migration(i)
        (versions / name).write_text(text, encoding="utf-8")
        sums[version(i)] = checksum(text)
    return sums


class Disagreement(AssertionError):
    pass


def effects(conn) -> dict[str, bool]:
    """Whether each migration's effect is in the database: all of it (True) or none (False).

    Anything in between raises Disagreement naming the migration and what was found.
    """
    tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    views = {r[0] for r in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    indexes = {r[0] for r in conn.execute("SELECT index_name FROM duckdb_indexes()").fetchall()}
    core = {"base", "log", "facts"} & tables
    if core not in (set(), {"base", "log", "facts"}):
        raise Disagreement(f"{version(0)} half applied: tables {sorted(core)}")
    found = {version(0): bool(core)}
    if not core:
        leftovers = (tables | views | indexes) - {"duckdb_migrations"}
        if leftovers:
            raise Disagreement(f"objects without the base migration: {sorted(leftovers)}")
        return found | {version(i): False for i in range(1, COUNT)}
    columns = {r[0] for r in conn.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'base'").fetchall()}
    log = Counter(r[0] for r in conn.execute("SELECT i FROM log").fetchall())
    facts = dict(conn.execute("SELECT tag, count(*) FROM facts GROUP BY tag").fetchall())
    total = conn.execute("SELECT total FROM base").fetchone()[0]

    def rows(table):
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def one(i, applied: tuple, not_applied: tuple, seen: tuple) -> bool:
        if seen == applied:
            return True
        if seen == not_applied:
            return False
        raise Disagreement(f"{version(i)} partly applied: found {seen}, "
                           f"applied would be {applied}, not applied {not_applied}")

    for i in range(1, COUNT):
        kind = i % 5
        if kind == 1:
            name = f"t{i}" if f"t{i}" in tables else f"r{i}" if f"r{i}" in tables else None
            seen = (name is not None, rows(name) if name else 0)
            found[version(i)] = one(i, (True, ROWS), (False, 0), seen)
        elif kind == 2:
            found[version(i)] = one(i, (True, 1), (False, 0), (f"c{i}" in columns, log[i]))
        elif kind == 3:
            seen = (f"v{i}" in views, facts.get(i, 0) > 0)
            found[version(i)] = one(i, (True, True), (False, False), seen)
        elif kind == 4:
            seen = (f"ix{i}" in tables, f"idx{i}" in indexes, log[i])
            found[version(i)] = one(i, (True, True, 1), (False, False, 0), seen)
        else:
            j, tag = i - 4, i - 2
            seen = (f"r{j}" in tables, f"t{j}" in tables, facts.get(tag, 0), log[i])
            before = (False, found[version(j)], FACTS if found[version(tag)] else 0, 0)
            found[version(i)] = one(i, (True, False, FACTS // 2, 1), before, seen)
    expected_total = sum(i for i in range(1, COUNT) if i % 5 in (1, 3) and found[version(i)])
    if total != expected_total:
        raise Disagreement(f"base.total is {total}, the applied migrations add up to {expected_total}")
    return found


def check(db: Path, sums: dict[str, str], effects=effects, failed: frozenset = frozenset()) -> int:
    """Reopen the database and compare ``effects`` with the ledger; returns how many are applied.

    It opens a copy, so that the next run finds the files as the kill left them:
    read-only, or read-write where DuckDB (1.x) replays a crashed run's log only so.
    """
    if not db.exists():  # killed before it created the file
        return 0
    copy = db.parent / "check"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir()
    for f in db.parent.glob(db.name + "*"):
        shutil.copy(f, copy / f.name)
    try:
        conn = duckdb.connect(str(copy / db.name), read_only=True)
    except duckdb.IOException:
        conn = duckdb.connect(str(copy / db.name))
    with conn:
        found = effects(conn)
        tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        rows, applied_events = {}, Counter()
        if "duckdb_migrations" in tables:
            rows = {v: (status, cs) for v, status, cs in conn.execute(
                f"SELECT version, status, checksum FROM {STATE}").fetchall()}
            applied_events = Counter(r[0] for r in conn.execute(
                "SELECT version FROM duckdb_migrations WHERE event = 'applied'").fetchall())
    recorded = {v for v, (status, _) in rows.items() if status == "applied"}
    assert {v: s for v, (s, _) in rows.items() if s != "applied" and v not in failed} == {}, \
        "a kill is not a failure"
    for v, present in found.items():
        if present != (v in recorded):
            raise Disagreement(f"{v}: effect {'present' if present else 'absent'}, "
                               f"ledger says {'applied' if v in recorded else 'not applied'}")
    assert all(rows[v][1] == sums[v] for v in recorded)
    assert dict(applied_events) == {v: 1 for v in recorded}, "one 'applied' event per applied version"
    order = sorted(found)
    assert recorded == set(order[:len(recorded)]), "migrations apply in order, none skipped"
    return len(recorded)


# A small driver: it imports duckmig once, then forks one process per run; each runs
# `duckmig up` (the command's own main) in the folder it is given, with stdout and
# stderr in files there. The driver prints the child's pid, then its exit code and
# how long it ran. DuckDB is imported by each child: some versions start a thread
# when imported, and a process with threads must not fork.
DRIVER = r"""
import os, sys, time
from duckmig_magic.cli import main

while line := sys.stdin.readline():
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.chdir(line.rstrip("\n"))
        for fd, name in ((1, "out.txt"), (2, "err.txt")):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        code = main(["up", "--database", "app.db", "--dir", "migrations"])
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(code)
    print(pid, flush=True)
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(code, time.monotonic() - started, flush=True)
"""


class Runner:
    def __init__(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")}
        # Unbuffered, so that select() sees every line the driver has written.
        self.driver = subprocess.Popen([sys.executable, "-c", DRIVER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, bufsize=0, env=env)

    def start(self, root: Path) -> int:
        self.driver.stdin.write(f"{root}\n".encode())
        return int(self.driver.stdout.readline())

    def finished(self) -> bool:
        return bool(select.select([self.driver.stdout], [], [], 0)[0])

    def result(self) -> tuple[int, float]:
        """The run's exit code, and its seconds."""
        code, seconds = self.driver.stdout.readline().split()
        return int(code), float(seconds)

    def close(self):
        self.driver.stdin.close()
        self.driver.wait(10)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""  # killed before it opened the file


def in_flight(progress: str) -> bool:
    """Whether the progress lines end in a migration that started and did not finish."""
    last = progress.rstrip("\n").rsplit("\n", 1)[-1]
    return " applying " in last and not re.search(r"ok \([^)]*\)$", last.rstrip())


def kill_at_random(runner: Runner, root: Path, rng: random.Random, window: float) -> bool:
    """Run `up` in ``root`` and SIGKILL it at a random moment; False if it finished first.

    One kill in five falls in the first 0.2 s, while the process starts, replays
    the previous run's log or creates the ledger; the others fall up to ``window``
    seconds after the first progress line.
    """
    err = root / "err.txt"
    err.unlink(missing_ok=True)
    (root / "out.txt").unlink(missing_ok=True)
    pid = runner.start(root)
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0, 0.2))
    else:
        deadline = time.monotonic() + 60
        while not (err.exists() and err.stat().st_size) and not runner.finished():
            assert time.monotonic() < deadline, "no progress in 60 s"
            time.sleep(0.002)
        time.sleep(rng.uniform(0, window))
    if runner.finished():
        return False
    os.kill(pid, signal.SIGKILL)
    return True


def kill_runs(folder: Path, rng: random.Random, kills: int) -> Counter:
    """Kill `up` runs on fresh databases under ``folder`` until ``kills`` kills; returns the counts."""
    counts, runner = Counter(), Runner()
    per_migration = 0.01  # seconds; learnt from each run that completes
    stalls = 0  # kills in a row that found nothing new applied: the window doubles with each
    try:
        while counts["kills"] < kills:
            counts["databases"] += 1
            root = folder / f"db{counts['databases']}"
            root.mkdir(parents=True)
            sums = write_migrations(root / "migrations")
            db = root / "app.db"
            applied = 0
            while counts["kills"] < kills:
                # Each kill lands up to about 25 migrations further on, so a database
                # sees kills all along its 100 migrations.
                window = per_migration * min(COUNT - applied + 1, 25) * 1.2 * 2 ** min(stalls, 6)
                killed = kill_at_random(runner, root, rng, window)
                code, seconds = runner.result()
                out, err = (_read(root / name) for name in ("out.txt", "err.txt"))
                if code == 0:
                    assert out == (f"applied {COUNT - applied} migration{'s' * (COUNT - applied != 1)}\n"
                                   if applied < COUNT else "nothing to apply\n")
                    per_migration, stalls = seconds / (COUNT - applied + 10), 0
                    break
                assert (killed, code) == (True, -signal.SIGKILL), err
                counts["kills"] += 1
                before, applied = applied, check(db, sums)
                assert applied >= before, "a kill never takes back what was committed"
                stalls = 0 if applied > before else stalls + 1
                counts[f"applied {applied:03d}"] += 1
                counts["inside"] += " applying " in err
                if in_flight(err):
                    counts["during"] += 1
                    counts["committed in flight"] += applied > before + err.count(" ms)\n")
            else:  # the run after the last kill: it must complete, and leave all applied and agreeing
                assert len(Migrator(str(db), str(root / "migrations")).up()) == COUNT - applied
            assert check(db, sums) == COUNT
    finally:
        runner.close()
    return counts


def test_sigkill_during_up_leaves_ledger_and_database_agreeing(tmp_path, report):
    # Two series side by side, one a core: each kill's moment is drawn from its series' seed.
    with ThreadPoolExecutor(2) as pool:
        series = [pool.submit(kill_runs, tmp_path / f"series{n}", random.Random(f"{SEED}-{n}"),
                              (KILLS + 1 - n) // 2) for n in range(2)]
        counts = sum((s.result() for s in series), Counter())
    applied = sorted(int(k[8:]) for k, n in counts.items() if k.startswith("applied ") for _ in range(n))
    report(f"crash: {counts['kills']} SIGKILLs over {counts['databases']} databases of {COUNT} migrations "
           f"(seed {SEED}): {counts['during']} while a migration ran ({counts['committed in flight']} of those "
           f"found committed, the rest rolled back), {counts['kills'] - counts['during']} before the first or "
           f"between migrations; migrations found applied after a kill: min {applied[0]}, median "
           f"{statistics.median(applied):g}, max {applied[-1]}; every time the database opened, ledger and "
           "data agreed, and the next `up` completed")
    assert counts["kills"] == KILLS
    # Where a kill lands is timing; these bounds hold with a wide margin on a loaded machine.
    assert counts["inside"] > KILLS // 2, "most kills should land inside a run"
    assert counts["during"] >= KILLS // 10, "some kills should land while a migration runs"


def test_the_check_sees_a_migration_applied_but_not_recorded(tmp_path):
    """The check above can fail: an effect without its ledger row is caught."""
    sums = write_migrations(tmp_path / "migrations")
    db = tmp_path / "app.db"
    Migrator(str(db), str(tmp_path / "migrations")).up(version(7))
    assert check(db, sums) == 8
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM duckdb_migrations WHERE version = ?", [version(7)])
    with pytest.raises(Disagreement, match=f"{version(7)}: effect present, ledger says not applied"):
        check(db, sums)


@pytest.mark.parametrize("sql, message", [
    ("DELETE FROM t1 WHERE id = 0", f"{version(1)} partly applied: found \\(True, {ROWS - 1}\\)"),
    ("UPDATE base SET total = total + 1", "base.total is 5, the applied migrations add up to 4"),
    ("INSERT INTO log VALUES (2)", f"{version(2)} partly applied: found \\(True, 2\\)"),
    ("DROP INDEX idx4", f"{version(4)} partly applied: found \\(True, False, 1\\)"),
])
def test_the_check_sees_half_applied_and_twice_applied_migrations(tmp_path, sql, message):
    write_migrations(tmp_path / "migrations")
    db = tmp_path / "app.db"
    Migrator(str(db), str(tmp_path / "migrations")).up(version(4))
    with duckdb.connect(str(db)) as conn:
        conn.execute(sql)
    with duckdb.connect(str(db), read_only=True) as conn, pytest.raises(Disagreement, match=message):
        effects(conn)


# -- SIGKILL while a migration replays its transaction ---------------------------------------------


REPLAYS = 12  # Python migrations after the base, each catching a failed probe
REPLAY_ROWS = 300_000  # rows each inserts before its probe: the replay inserts them again
PROBE = "the probe fails now"


def replay_migration(i: int) -> tuple[str, str]:
    v = version(i)
    if i == 0:
        return f"{v}_base.sql", ("-- migrate:up\nCREATE TABLE facts (id BIGINT, tag INTEGER);\n"
                                 "CREATE TABLE log (i INTEGER);\n")
    return f"{v}_probe_{i}.py", (
        "import sys\n\nfrom duckmig_magic import BaseMigration\n\n\n"
        f"class Migration_{v}(BaseMigration):\n"
        "    def __init__(self):\n"
        f"        super().__init__(version=\"{v}\", description=\"probe {i}\")\n\n"
        "    def upgrade(self, session):\n"
        f"        session.exec(\"INSERT INTO facts SELECT range, {i} FROM range({REPLAY_ROWS})\")\n"
        f"        session.exec(\"CREATE VIEW v{i} AS SELECT count(*) AS n FROM facts WHERE tag = {i}\")\n"
        f"        print({PROBE!r}, file=sys.stderr, flush=True)\n"
        "        try:\n"
        "            session.exec(\"SELECT no_such_column FROM facts\")\n"
        "        except Exception:\n"
        "            pass  # the engine replayed the two statements above: the transaction goes on\n"
        f"        session.exec(\"INSERT INTO log VALUES ({i})\")\n")


def replay_effects(conn) -> dict[str, bool]:
    """Each probe migration's rows, view and log entry: all there once, or none; anything else raises."""
    tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "facts" not in tables:
        return {version(i): False for i in range(REPLAYS + 1)}
    views = {r[0] for r in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    facts = dict(conn.execute("SELECT tag, count(*) FROM facts GROUP BY tag").fetchall())
    log = Counter(r[0] for r in conn.execute("SELECT i FROM log").fetchall())
    found = {version(0): True}
    for i in range(1, REPLAYS + 1):
        seen = (f"v{i}" in views, facts.get(i, 0), log[i])
        if seen not in ((True, REPLAY_ROWS, 1), (False, 0, 0)):
            raise Disagreement(f"{version(i)} partly applied or doubled by a replay: found {seen}")
        found[version(i)] = seen[0]
    return found


def kill_during_replays(folder: Path, rng: random.Random, kills: int) -> Counter:
    """Kill `up` runs at random moments after a migration's probe failed, until ``kills`` kills."""
    counts, runner = Counter(), Runner()
    window = 0.3  # seconds after the probe; learnt from each migration's own time
    try:
        while counts["kills"] < kills:
            counts["databases"] += 1
            root = folder / f"db{counts['databases']}"
            (root / "migrations" / "versions").mkdir(parents=True)
            sums = {}
            for i in range(REPLAYS + 1):
                name, text = replay_migration(i)
                (root / "migrations" / "versions" / name).write_text(text, encoding="utf-8")
                sums[version(i)] = checksum(text)
            db, applied = root / "app.db", 0
            while counts["kills"] < kills:
                err = root / "err.txt"
                err.unlink(missing_ok=True)
                pid = runner.start(root)
                deadline = time.monotonic() + 60
                while PROBE not in _read(err) and not runner.finished():
                    assert time.monotonic() < deadline, "no probe in 60 s"
                    time.sleep(0.002)
                killed = not runner.finished()
                if killed:
                    time.sleep(rng.uniform(0, window))
                    killed = not runner.finished()
                if killed:
                    os.kill(pid, signal.SIGKILL)
                code, seconds = runner.result()
                if not killed:
                    assert code == 0, _read(err)
                    break
                assert code == -signal.SIGKILL, _read(err)
                counts["kills"] += 1
                before, applied = applied, check(db, sums, replay_effects)
                assert applied >= before, "a kill never takes back what was committed"
                counts["during"] += applied == before  # killed before that migration committed
                done = [float(ms) for ms in re.findall(r"ok \((\d+\.\d) ms, 1 replay\)", _read(err))]
                if done:
                    window = max(done) / 1000 / 2  # the replay comes early; the COMMIT of the rows last
            else:
                assert len(Migrator(str(db), str(root / "migrations")).up()) == REPLAYS + 1 - applied
            assert check(db, sums, replay_effects) == REPLAYS + 1
    finally:
        runner.close()
    return counts


def test_sigkill_during_a_replay_leaves_ledger_and_database_agreeing(tmp_path, report):
    counts = kill_during_replays(tmp_path, random.Random(f"{SEED}-replay"), REPLAY_KILLS)
    report(f"crash: {counts['kills']} SIGKILLs during replays over {counts['databases']} databases of "
           f"{REPLAYS} replaying migrations (seed {SEED}): {counts['during']} before the migration committed; "
           "every time the database opened, each migration was there once or not at all, as the ledger said, "
           "and the next `up` completed")
    assert counts["kills"] == REPLAY_KILLS
    assert counts["during"] > REPLAY_KILLS // 3, "many kills should land before the replaying migration commits"


def test_the_replay_check_sees_a_doubled_migration(tmp_path):
    """The check above can fail: a migration whose rows went in twice is caught."""
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    sums = {}
    for i in range(REPLAYS + 1):
        name, text = replay_migration(i)
        (versions / name).write_text(text)
        sums[version(i)] = checksum(text)
    db = tmp_path / "app.db"
    Migrator(str(db), str(tmp_path / "migrations")).up(version(2))
    assert check(db, sums, replay_effects) == 3
    with duckdb.connect(str(db)) as conn:
        conn.execute(f"INSERT INTO facts SELECT range, 2 FROM range({REPLAY_ROWS})")
    with pytest.raises(Disagreement, match=f"{version(2)} partly applied or doubled by a replay: "
                                           f"found \\(True, {2 * REPLAY_ROWS}, 1\\)"):
        check(db, sums, replay_effects)


# -- kills after a grouped migration failed ------------------------------------------------------

GROUPED = 20  # SQL migrations after the base; they share transactions
FAILS_AT = 15  # this one fails until its file is mended
GROUP_ROWS = 200_000  # rows each creates: a few ms each, so the group's re-apply takes a while


def grouped_migration(i: int, fail: bool = True) -> tuple[str, str]:
    if i == 0:
        return f"{version(0)}_base.sql", "-- migrate:up\nCREATE TABLE log (i INTEGER);\n"
    body = f"CREATE TABLE g{i} AS SELECT range AS id FROM range({GROUP_ROWS});\nINSERT INTO log VALUES ({i});\n"
    if i == FAILS_AT and fail:
        body += "SELECT * FROM no_such_table;\n"
    return f"{version(i)}_group_{i}.sql", "-- migrate:up\n" + body


def grouped_effects(conn) -> dict[str, bool]:
    tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "log" not in tables:
        return {version(i): False for i in range(GROUPED + 1)}
    log = Counter(r[0] for r in conn.execute("SELECT i FROM log").fetchall())
    found = {version(0): True}
    for i in range(1, GROUPED + 1):
        seen = (f"g{i}" in tables, log[i])
        if seen not in ((True, 1), (False, 0)):
            raise Disagreement(f"{version(i)} partly applied or doubled: found {seen}")
        found[version(i)] = seen[0]
    return found


def kill_after_grouped_failures(folder: Path, rng: random.Random, kills: int) -> Counter:
    """Kill `up` runs at random moments after the failing migration started, until ``kills`` kills;
    after each, mend the file and check that the next `up` completes."""
    counts, runner = Counter(), Runner()
    window = 0.3  # seconds after the failing migration started; learnt from runs that finish
    failing = f"applying {version(FAILS_AT)}"
    try:
        while counts["kills"] < kills:
            counts["databases"] += 1
            root = folder / f"db{counts['databases']}"
            versions = root / "migrations" / "versions"
            versions.mkdir(parents=True)
            sums = {}
            for i in range(GROUPED + 1):
                name, text = grouped_migration(i)
                (versions / name).write_text(text, encoding="utf-8")
                sums[version(i)] = checksum(text)
            err = root / "err.txt"
            pid = runner.start(root)
            deadline = time.monotonic() + 60
            while failing not in _read(err) and not runner.finished():
                assert time.monotonic() < deadline, "the failing migration did not start in 60 s"
                time.sleep(0.001)
            started = time.monotonic()
            time.sleep(rng.uniform(0, window))
            killed = not runner.finished()
            if killed:
                os.kill(pid, signal.SIGKILL)
            code, _ = runner.result()
            killed = killed and code == -signal.SIGKILL  # else it ended before the signal came
            db = root / "app.db"
            if not killed:
                assert code == 1 and f"applying {version(FAILS_AT)} failed" in _read(err), _read(err)
                window = max(0.05, (time.monotonic() - started) * 1.2)
                continue
            assert code == -signal.SIGKILL, _read(err)
            counts["kills"] += 1
            applied = check(db, sums, grouped_effects, failed=frozenset({version(FAILS_AT)}))
            recorded = Migrator(str(db), str(root / "migrations")).status().by_state("failed")
            counts["before the re-apply committed" if applied < FAILS_AT else
                   "after the failure was recorded" if recorded else "after the re-apply, before the record"] += 1
            name, text = grouped_migration(FAILS_AT, fail=False)
            (versions / name).write_text(text, encoding="utf-8")
            sums[version(FAILS_AT)] = checksum(text)
            assert len(Migrator(str(db), str(root / "migrations")).up()) == GROUPED + 1 - applied
            assert check(db, sums, grouped_effects) == GROUPED + 1
    finally:
        runner.close()
    return counts


def test_sigkill_after_a_grouped_failure_leaves_ledger_and_database_agreeing(tmp_path, report):
    counts = kill_after_grouped_failures(tmp_path, random.Random(f"{SEED}-group"), GROUP_KILLS)
    report(f"crash: {counts['kills']} SIGKILLs after a grouped migration failed ({FAILS_AT} of {GROUPED}, seed "
           f"{SEED}): {counts['before the re-apply committed']} before its group's re-apply committed, "
           f"{counts['after the re-apply, before the record']} between the re-apply and the failure's record, "
           f"{counts['after the failure was recorded']} after; every time, each migration was there once or not "
           "at all, as the ledger said, and the next `up` completed")
    assert counts["kills"] == GROUP_KILLS
    assert counts["before the re-apply committed"] > 0, "some kills should land before the re-apply commits"
