"""Keeping what a migration destroys: its cost, as ratios measured side by side in one run.

    python benchmarks/bench_keep.py [--rows N] [--rounds R]
    python benchmarks/run.py --also keep

destroying up
    ``up`` of a migration on an N-row table (default 10,000,000; a primary key, four more
    columns) that drops a column, deletes 1% of the rows and updates a column of another 1%,
    with keeping against ``up --no-keep``. Target: at most 1.5.
down
    ``down`` of that migration, putting the kept data back, against its ``up`` with keeping.
    Target: at most 2.
kept bytes
    the storage the kept data takes once written, against the storage of a table holding the lost
    data alone (the dropped column, the deleted rows, the old values of the updated column), both
    measured the same way in the same database. Target: at most 1.2.
by hand (the floor)
    the same migration run by a plain script with duckdb, in one transaction, with and without
    the statements that copy what it destroys just before each destroys it (the key and the dropped
    column, the rows to be deleted, the key and old values of the updated column): what DuckDB
    itself takes to write the lost data, the least any keeping in the same transaction can cost.
nothing destroyed
    ``up`` of a migration that only inserts (N / 10 rows into a new table, and into the big one),
    with keeping against ``--no-keep``: keeping must cost nothing measurable (ratio 1 within noise).

Each measurement runs in a fresh process on its own copy of the database; rounds interleave the
contenders and a ratio is the median of each round's ratio, of wall time and (``_cpu``) of the
process's CPU time (user + system), which a machine shared with other work disturbs less.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

V1 = "20250101_000001"
DESTROY = ("-- migrate:up\nALTER TABLE orders DROP COLUMN note;\nDELETE FROM orders WHERE id % 100 = 0;\n"
           "UPDATE orders SET amount = amount + 1 WHERE id % 100 = 1;\n"
           "-- migrate:down\nALTER TABLE orders ADD COLUMN note VARCHAR;\n-- migrate:restore\n")


# The plain script: argv[1] the database, argv[2] "keep" to copy what each statement destroys first.
BY_HAND = """
import sys
import duckdb

keep = sys.argv[2] == "keep"
with duckdb.connect(sys.argv[1]) as conn:
    conn.execute("BEGIN")
    if keep:
        conn.execute("CREATE TABLE kept_1 AS SELECT id, note FROM orders")
    conn.execute("ALTER TABLE orders DROP COLUMN note")
    if keep:
        conn.execute("CREATE TABLE kept_2 AS SELECT * FROM orders WHERE id % 100 = 0")
    conn.execute("DELETE FROM orders WHERE id % 100 = 0")
    if keep:
        conn.execute("CREATE TABLE kept_3 AS SELECT id, amount FROM orders WHERE id % 100 = 1")
    conn.execute("UPDATE orders SET amount = amount + 1 WHERE id % 100 = 1")
    conn.execute("COMMIT")
"""


def inserts(rows: int) -> str:
    return (f"-- migrate:up\nCREATE TABLE more AS SELECT range AS id FROM range({rows});\n"
            f"INSERT INTO orders SELECT range + 1000000000, range % 1000, 'r' || (range % 7), range / 3.0, NULL "
            f"FROM range({rows});\n-- migrate:down\nDROP TABLE more;\n")


def build(folder: Path, rows: int) -> Path:
    import duckdb

    db = folder / "base.db"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, customer INTEGER, region VARCHAR, amount DOUBLE, "
                     "note VARCHAR)")
        conn.execute(f"INSERT INTO orders SELECT range, range % 100000, 'r' || (range % 7), (range % 10000) / 100.0, "
                     f"'note ' || (range % 5000) FROM range({rows})")
    return db


def project(base: Path, folder: Path, text: str) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "migrations" / "versions").mkdir(parents=True)
    (folder / "migrations" / "versions" / f"{V1}_step.sql").write_text(text)
    shutil.copy(base, folder / "app.db")
    return folder


CPU: list[float] = []  # the CPU seconds (user + system) of each timed run, in order


def timed(folder: Path, *args: str) -> float:
    """Wall seconds of one command in a process of its own; its CPU seconds go to CPU."""
    return _run(folder, [sys.executable, "-m", "duckmig_magic.cli", *args, "-d", "app.db", "--dir", "migrations"])


def by_hand(folder: Path, keep: bool) -> float:
    """Wall seconds of the plain script, as ``timed``."""
    return _run(folder, [sys.executable, "-c", BY_HAND, "app.db", "keep" if keep else "no"])


def _run(folder: Path, argv: list[str]) -> float:
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(argv, cwd=folder, check=True, capture_output=True)
    wall = time.perf_counter() - start
    CPU.append(_children_cpu() - cpu)
    return wall


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def storage(db: Path) -> tuple[int, int]:
    """(kept bytes, the lost data's own bytes), measured alike once both are written."""
    import duckdb

    from duckmig_magic.engine import keep

    with duckdb.connect(str(db)) as conn:
        kept = conn.execute(f"SELECT kept_table, mode FROM {keep.SCHEMA}.{keep.RECORD} WHERE version = ?",
                            [V1]).fetchall()
        # What was lost, and nothing else: the dropped column's values, the deleted rows' other values
        # (a row deleted after the column went has no note), the updated column's old values.
        picked = {"column": "note", "removed": "COLUMNS(lambda c: c <> 'note')", "changed": "amount"}
        for i, (table, mode) in enumerate(kept):
            conn.execute(f"CREATE TABLE lost_{i} AS SELECT {picked[mode]} FROM {table}")
        conn.execute("CHECKPOINT")
        kept_bytes = sum(keep._bytes(conn, table) for table, _ in kept)  # noqa: SLF001 - the measure kept uses
        own = sum(keep._bytes(conn, f'"app"."main"."lost_{i}"') for i in range(len(kept)))  # noqa: SLF001
    return kept_bytes, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = build(root, args.rows)
        ratios: dict[str, list[float]] = {k: [] for k in ("up", "up_cpu", "down", "down_cpu", "bytes", "plain",
                                                          "plain_cpu", "floor", "floor_cpu", "over_floor")}
        seconds: dict[str, list[float]] = {k: [] for k in ("on", "off", "down")}
        figures = {}
        for _ in range(args.rounds):
            off = timed(project(base, root / "off", DESTROY), "up", "--no-keep")
            off_cpu = CPU[-1]
            on_folder = project(base, root / "on", DESTROY)
            on = timed(on_folder, "up")
            on_cpu = CPU[-1]
            kept_bytes, own_bytes = storage(on_folder / "app.db")
            on_folder2 = project(base, root / "on2", DESTROY)
            up_again = timed(on_folder2, "up")
            up_again_cpu = CPU[-1]
            down = timed(on_folder2, "down")
            ratios["up"].append(on / off)
            ratios["up_cpu"].append(on_cpu / off_cpu)
            ratios["down"].append(down / up_again)
            ratios["down_cpu"].append(CPU[-1] / up_again_cpu)
            ratios["bytes"].append(kept_bytes / max(own_bytes, 1))
            hand_off = by_hand(project(base, root / "h_off", DESTROY), keep=False)
            hand_off_cpu = CPU[-1]
            hand_on = by_hand(project(base, root / "h_on", DESTROY), keep=True)
            ratios["floor"].append(hand_on / hand_off)
            ratios["floor_cpu"].append(CPU[-1] / hand_off_cpu)
            ratios["over_floor"].append((on / off) / (hand_on / hand_off))
            plain_off = timed(project(base, root / "p_off", inserts(args.rows // 10)), "up", "--no-keep")
            plain_off_cpu = CPU[-1]
            plain_on = timed(project(base, root / "p_on", inserts(args.rows // 10)), "up")
            ratios["plain"].append(plain_on / plain_off)
            ratios["plain_cpu"].append(CPU[-1] / plain_off_cpu)
            seconds["on"].append(on)
            seconds["off"].append(off)
            seconds["down"].append(down)
            figures = {"kept_bytes": kept_bytes, "lost_bytes": own_bytes}

        def median(values: list[float]) -> float:
            return round(statistics.median(values), 2)

        result = {"rows": args.rows, "rounds": args.rounds, "destroying_up": median(ratios["up"]),
                  "destroying_up_cpu": median(ratios["up_cpu"]),
                  "by_hand_floor": median(ratios["floor"]), "by_hand_floor_cpu": median(ratios["floor_cpu"]),
                  "destroying_up_over_floor": median(ratios["over_floor"]), "down_vs_up": median(ratios["down"]),
                  "down_vs_up_cpu": median(ratios["down_cpu"]), "kept_bytes_vs_lost": median(ratios["bytes"]),
                  "nothing_destroyed": median(ratios["plain"]), "nothing_destroyed_cpu": median(ratios["plain_cpu"]),
                  "up_keep_s": median(seconds["on"]), "up_no_keep_s": median(seconds["off"]),
                  "down_s": median(seconds["down"]), **figures}
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
