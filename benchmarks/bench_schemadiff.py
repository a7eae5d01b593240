"""How fast the schema diff and ``verify --schema`` are.

    python benchmarks/bench_schemadiff.py [--rounds 3]     # or: python benchmarks/run.py --also schemadiff

diff
    Two catalogs of 1,000 tables of 10 columns each (an integer key, integers, text, doubles, a
    default, a NOT NULL), built in memory; in the second, 1% of the tables (10) are changed: a
    column added, one retyped, one dropped, one renamed, a default changed. Timed: reading both
    catalogs and diffing them (``catalog.read`` twice and ``schemadiff.compare``), and the diff
    alone. Target: at most 2 s for the whole.
verify --schema
    1,000 applied migrations (a table created, then altered: 500 ``CREATE TABLE``, 500 ``ALTER
    TABLE ... ADD COLUMN``) in a database file. Timed, each in a fresh process: ``verify(schema=True)``
    (replaying the 1,000 on an empty database in memory, reading both catalogs and diffing them),
    against ``up`` of the same 1,000 on an empty database in memory. Target: at most 2.

Times are medians over the rounds; rounds interleave the two contenders so that the machine's
other work falls on both alike.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TABLES, COLUMNS, CHANGED = 1000, 10, 10
MIGRATIONS = 1000


def table_ddl(i: int, changed: bool) -> str:
    cols = ["id INTEGER PRIMARY KEY"] + [
        f"c{j} {('INTEGER', 'VARCHAR', 'DOUBLE')[j % 3]}" + (" DEFAULT 0" if j == 4 else "") +
        (" NOT NULL DEFAULT 1" if j == 5 else "") for j in range(1, COLUMNS)]
    if changed:
        cols[1] = "c1 BIGINT"  # retyped
        cols[4] = "c4 INTEGER DEFAULT 1"  # default changed
        del cols[9]  # dropped
        cols[2] = "renamed VARCHAR"  # renamed in place: a candidate
        cols.append("added VARCHAR")
    return f"CREATE TABLE t{i} ({', '.join(cols)});"


def time_diff() -> tuple[float, float, int]:
    import duckdb

    from duckmig_magic.engine import catalog, schemadiff

    step = TABLES // CHANGED
    a, b = duckdb.connect(), duckdb.connect()
    a.execute("\n".join(table_ddl(i, False) for i in range(TABLES)))
    b.execute("\n".join(table_ddl(i, i % step == 0) for i in range(TABLES)))
    start = time.perf_counter()
    ca, cb = catalog.read(a), catalog.read(b)
    read = time.perf_counter()
    plan = schemadiff.compare(ca, cb)
    done = time.perf_counter()
    return done - start, done - read, len(plan.statements)


def make_project(folder: Path) -> None:
    from duckmig_magic.engine import Migrator

    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    for i in range(MIGRATIONS):
        n = i // 2
        up = f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY, v VARCHAR);" if i % 2 == 0 else \
            f"ALTER TABLE t{n} ADD COLUMN w INTEGER DEFAULT {i};"
        (versions / f"20250101_{i:06d}_m{i}.sql").write_text(f"-- migrate:up\n{up}\n")
    Migrator(str(folder / "app.db"), str(folder / "migrations")).up()


CONTENDERS = {
    "verify --schema": "m = Migrator(sys.argv[1] + '/app.db', sys.argv[1] + '/migrations')\n"
                       "assert m.verify(schema=True).ok",
    "up on :memory:": "m = Migrator(':memory:', sys.argv[1] + '/migrations')\nm.up()",
}


def time_contender(code: str, folder: Path) -> float:
    script = ("import sys, time\nfrom duckmig_magic.engine import Migrator\nstart = time.perf_counter()\n"
              f"{code}\nprint(time.perf_counter() - start)")
    out = subprocess.run([sys.executable, "-c", script, str(folder)], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    return float(out.split()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    whole, alone = [], []
    for _ in range(args.rounds):
        total, compare, statements = time_diff()
        whole.append(total)
        alone.append(compare)
    print(f"diff of {TABLES:,} tables x {COLUMNS} columns, {CHANGED} changed ({statements} statements): "
          f"{statistics.median(whole):.2f} s read and diffed, {statistics.median(alone):.3f} s the diff alone "
          f"(target <= 2 s: {'met' if statistics.median(whole) <= 2 else 'missed'})")
    folder = Path(tempfile.mkdtemp())
    try:
        make_project(folder)
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        for _ in range(args.rounds):
            for name, code in CONTENDERS.items():
                times[name].append(time_contender(code, folder))
    finally:
        shutil.rmtree(folder)
    verify, up = (statistics.median(times[n]) for n in CONTENDERS)
    ratio = verify / up
    print(f"verify --schema over {MIGRATIONS:,} applied migrations: {verify:.2f} s; up of them on an empty "
          f"in-memory database: {up:.2f} s; ratio {ratio:.2f}x (target <= 2: {'met' if ratio <= 2 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
