"""What a preview costs next to applying the same migration, measured side by side.

    python benchmarks/bench_preview.py                # 10 million rows, 3 rounds
    python benchmarks/bench_preview.py --rows 1000000 --rounds 5

The database: one table of N rows (an integer primary key, a double, a short
string, a timestamp), in a file. The migration: add a column with a default,
update 1% of the rows, delete 0.1%. "apply" is ``Migrator.up()``; "preview" is
``Migrator.preview()`` of the same migration, which applies it inside a
transaction, diffs every touched table and rolls back.

Targets: preview time and peak memory each at most 1.5x the apply's.

How. Each measurement runs in a fresh process on its own copy of the database
file (copied before the process starts). The time is that of the one call, from
before it starts to after it returns, with duckdb and duckmig imported first;
the memory is the process's peak resident set (VmHWM), interpreter and imports
included, as a user would see it. Rounds interleave apply and preview so that
other work on the machine falls on both alike; a figure is the median over
rounds, a ratio the median of each round's ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"time": 1.5, "memory": 1.5}
# The ALTER comes first: DuckDB 1.5 cannot commit one that follows an UPDATE or DELETE of the table.
MIGRATION = """-- migrate:up
ALTER TABLE readings ADD COLUMN checked BOOLEAN DEFAULT false;
UPDATE readings SET amount = amount + 1 WHERE id % 100 = 0;
DELETE FROM readings WHERE id % 1000 = 1;

-- migrate:down
ALTER TABLE readings DROP COLUMN checked;
"""


def build(folder: Path, rows: int) -> Path:
    import duckdb

    db = folder / "base.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE readings (id BIGINT PRIMARY KEY, amount DOUBLE, label VARCHAR, "
                     "taken_at TIMESTAMP)")
        conn.execute("INSERT INTO readings SELECT i, i * 0.25, 'sensor-' || (i % 500), "
                     "TIMESTAMP '2024-01-01' + to_seconds(i) FROM range(?) r(i)", [rows])
        conn.execute("CHECKPOINT")
    versions = folder / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "20250101_000000_touch_readings.sql").write_text(MIGRATION, encoding="utf-8")
    return db


def child(verb: str, db: str, directory: str) -> None:
    """One measurement in this fresh process; prints it as JSON."""
    import duckdb  # noqa: F401  imported before the clock starts, as the engine's own imports

    from duckmig_magic import Migrator

    m = Migrator(db, directory)
    start = time.perf_counter()
    result = m.up() if verb == "apply" else m.preview()
    seconds = time.perf_counter() - start
    detail = {}
    if verb == "preview":  # plain data: the DataFrames would import pandas, which apply does not
        row = result.to_dict()["summary"][0]
        detail = {k: row[k] for k in ("rows_before", "added", "removed", "changed", "unchanged")}
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    print(json.dumps({"seconds": seconds, "peak_mb": int(status["VmHWM"].split()[0]) / 1024, **detail}))


def measure(verb: str, base: Path, folder: Path) -> dict:
    db = folder / f"{verb}.duckdb"
    shutil.copyfile(base, db)
    out = subprocess.run([sys.executable, __file__, "--child", verb, str(db), str(folder / "migrations")],
                         check=True, capture_output=True, text=True)
    db.unlink()
    return json.loads(out.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    import duckdb

    with tempfile.TemporaryDirectory(prefix="duckmig-bench-preview-") as tmp:
        folder = Path(tmp)
        print(f"building {args.rows:,} rows (duckdb {duckdb.__version__}) ...", file=sys.stderr)
        base = build(folder, args.rows)
        runs = {"apply": [], "preview": []}
        for r in range(args.rounds):
            for verb in ("apply", "preview") if r % 2 == 0 else ("preview", "apply"):
                runs[verb].append(measure(verb, base, folder))
                print(f"round {r + 1}: {verb} {runs[verb][-1]['seconds']:.2f} s, "
                      f"{runs[verb][-1]['peak_mb']:.0f} MB", file=sys.stderr)
    p = runs["preview"][-1]
    print(f"\npreview of: add a column with a default, update 1%, delete 0.1%, on {args.rows:,} rows "
          f"(duckdb {duckdb.__version__}, median of {args.rounds} rounds)")
    print(f"diff: {p['changed']:,} changed, {p['removed']:,} removed, {p['added']:,} added, "
          f"{p['unchanged']:,} unchanged\n")
    rows = []
    for what, field, unit in (("time", "seconds", "s"), ("memory", "peak_mb", "MB")):
        apply = statistics.median(m[field] for m in runs["apply"])
        preview = statistics.median(m[field] for m in runs["preview"])
        ratio = statistics.median(p[field] / a[field] for a, p in zip(runs["apply"], runs["preview"]))
        ok = "ok" if ratio <= TARGETS[what] else "OVER"
        rows.append((what, f"{apply:.2f} {unit}" if unit == "s" else f"{apply:.0f} {unit}",
                     f"{preview:.2f} {unit}" if unit == "s" else f"{preview:.0f} {unit}",
                     f"{ratio:.2f}", f"<= {TARGETS[what]:g}", ok))
    header = ("measure", "apply", "preview", "ratio", "target", "")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for r in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0 if all(r[-1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
