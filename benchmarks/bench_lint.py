"""What ``duckmig lint`` costs next to what it stands beside, measured side by side.

    python benchmarks/bench_lint.py                        # 1,000 migrations; 10 million rows; 3 rounds
    python benchmarks/bench_lint.py --migrations 200 --rows 1000000 --rounds 5

Two workloads, each a ratio of two commands run in fresh processes, interleaved
round by round so that other work on the machine falls on both alike; a ratio is
the median of each round's ratio.

- "pending": N pending one-statement migrations (a CREATE TABLE each, then an
  ALTER of a table every tenth), no database yet. ``duckmig lint --no-data``
  (the rules that need no rows, each judged on the catalog the migrations before
  it leave) against ``duckmig sql`` of the same set (the files read, parsed and
  printed). Target: at most 2x.
- "rows": a table of M rows (an integer key, a double, a string, a timestamp,
  an index) and a migration that sets a column NOT NULL, changes a type and adds
  a key. ``duckmig lint`` with the catalog and data rules against ``duckmig
  preview`` of the same migration. Target: at most 1x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"pending": 2.0, "rows": 1.0}
ROOT = Path(__file__).resolve().parent.parent  # this checkout's package runs, whatever is installed
ROWS_MIGRATION = """-- migrate:up
ALTER TABLE readings ALTER note SET NOT NULL;
ALTER TABLE readings ALTER amount TYPE DECIMAL(18, 3);
CREATE UNIQUE INDEX readings_ts ON readings (ts, id);
-- migrate:down
DROP INDEX readings_ts;
"""


def pending(directory: Path, n: int) -> None:
    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True)
    for i in range(1, n + 1):
        body = f"ALTER TABLE t_{i - 1} ADD COLUMN y INTEGER;" if i % 10 == 0 else f"CREATE TABLE t_{i} (x INTEGER);"
        (versions / f"2025{1 + i // 86400:04d}_{i % 86400:06d}_m{i}.sql").write_text(
            f"-- migrate:up\n{body}\n-- migrate:down\nSELECT 1;\n")


def rows(directory: Path, m: int) -> None:
    import duckdb

    versions = directory / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "20250101_000001_tighten.sql").write_text(ROWS_MIGRATION)
    with duckdb.connect(str(directory / "app.db")) as conn:
        conn.execute(f"CREATE TABLE readings AS SELECT range AS id, random() AS amount, 'n' || range % 97 AS note, "
                     f"TIMESTAMP '2025-01-01' + INTERVAL (range) SECOND AS ts FROM range({m})")
        conn.execute("CREATE INDEX readings_note ON readings (note)")


def timed(directory: Path, *args: str) -> float:
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "duckmig_magic", *args], cwd=directory, capture_output=True,
                          text=True, env=env)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"duckmig {' '.join(args)} failed: {done.stderr}")
    return elapsed


def measure(workload: str, directory: Path, mine: list[str], theirs: list[str], rounds: int) -> dict:
    ratios, a, b = [], [], []
    for _ in range(rounds):
        x, y = timed(directory, *mine), timed(directory, *theirs)
        a.append(x)
        b.append(y)
        ratios.append(x / y)
    return {"workload": workload, "lint": statistics.median(a), "other": statistics.median(b),
            "ratio": statistics.median(ratios), "target": TARGETS[workload]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pending(work / "pending", args.migrations)
        results.append(measure("pending", work / "pending", ["lint", "--no-data", "-d", "app.db"],
                               ["sql", "-d", "app.db"], args.rounds))
        shutil.rmtree(work / "pending")
        rows(work / "rows", args.rows)
        results.append(measure("rows", work / "rows", ["lint", "-d", "app.db"], ["preview", "-d", "app.db"],
                               args.rounds))
    print("| workload | lint (s) | against (s) | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    against = {"pending": "`duckmig sql`", "rows": "`duckmig preview`"}
    for r in results:
        met = "met" if r["ratio"] <= r["target"] else "missed"
        print(f"| {r['workload']} ({args.migrations if r['workload'] == 'pending' else args.rows:,}) "
              f"| {r['lint']:.2f} | {against[r['workload']]} {r['other']:.2f} | {r['ratio']:.2f}x "
              f"| <= {r['target']:g}: {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
