"""How fast the status view renders a large ledger, as ratios to the terminal's text in the same run.

    python benchmarks/bench_display.py [--rounds 5] [--json FILE]

A database with 2,000 SQL migrations, 1,990 of them stamped as applied and
10 pending, is shown four ways, each including the engine's ``status()``:

status       ``Migrator.status()`` alone (reading the files and the ledger)
text         status + the plain-text table a terminal shows (``render.status.text``)
html         status + the self-contained HTML fallback (what nbconvert and GitHub show)
widget       status + building the ipywidgets view (first page of 50 rows)

Targets: the HTML fallback at most 1.5 times the text and under one second in
absolute terms; it folds the table to 50 rows, so the browser has little to
lay out. The rounds interleave the four, so noise from other work on the
machine falls on all of them alike; a time is the median over rounds and a
ratio the median of each round's ratio to that round's text.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

N, PENDING = 2_000, 10
TARGETS = {"html": 1.5}
LIMIT_S = 1.0


def version(i: int) -> str:
    return f"2024{1 + i // 500:02d}{1 + i // 20 % 25:02d}_{i % 20:06d}"


def make_project(root: Path):
    from duckmig_magic import Migrator

    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    for i in range(N):
        (versions / f"{version(i)}_table_{i}.sql").write_text(
            f"-- description: create table t{i} <with & markup>\n-- migrate:up\nCREATE TABLE t{i} (x INTEGER);\n"
            f"-- migrate:down\nDROP TABLE t{i};\n")
    m = Migrator(str(root / "app.db"), str(root / "migrations"))
    m.stamp(version(N - PENDING - 1))
    return m


def contenders(m):
    from duckmig_magic.display import StatusView
    from duckmig_magic.render import status

    import ipywidgets  # noqa: F401  imported before timing: a notebook has it loaded already

    return {
        "status": lambda: m.status(),
        "text": lambda: status.text(m.status()),
        "html": lambda: StatusView(m).to_html(),
        "widget": lambda: StatusView(m).widget,
    }


def measure(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        m = make_project(Path(tmp))
        runs = contenders(m)
        for f in runs.values():  # warm the file cache and the imports
            f()
        times = {name: [] for name in runs}
        for _ in range(rounds):
            for name, f in runs.items():
                start = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - start)
        html = runs["html"]()
    ratios = {name: statistics.median(t / base for t, base in zip(ts, times["text"])) for name, ts in times.items()}
    return {"times": times, "ratios": ratios, "html_bytes": len(html.encode())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw times and ratios here")
    args = parser.parse_args(argv)
    result = measure(args.rounds)
    print(f"\nduckmig status view, {N:,} migrations, {args.rounds} rounds\n")
    print(f"{'':8}  {'median ms':>10}  {'ratio to text':>13}  target")
    ok = True
    for name, ts in result["times"].items():
        ms = statistics.median(ts) * 1000
        ratio = result["ratios"][name]
        target = ""
        if name in TARGETS:
            passed = ratio <= TARGETS[name] and ms / 1000 < LIMIT_S
            ok &= passed
            target = f"≤ {TARGETS[name]} and < {LIMIT_S:.0f} s: {'ok' if passed else 'MISSED'}"
        print(f"{name:8}  {ms:10.1f}  {ratio:13.2f}  {target}")
    print(f"\nHTML fallback: {result['html_bytes']:,} bytes")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
