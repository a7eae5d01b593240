"""Run duckmig's benchmarks and print their tables (``make bench``).

    python benchmarks/run.py                              # the engine benchmark, this interpreter
    python benchmarks/run.py --python A --python B        # each interpreter runs it (make bench)
    python benchmarks/run.py --rounds 5 --only apply      # options of bench_engine.py pass through
    python benchmarks/run.py --also preview               # then benchmarks/bench_preview.py as well

Every figure is a ratio to a plain script measured beside it in the same run;
see each benchmark's docstring for what it times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_engine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--also", action="append", default=[], metavar="NAME",
                        help="also run benchmarks/bench_NAME.py (repeatable), e.g. preview")
    args, rest = parser.parse_known_args(argv)
    if "-h" in rest or "--help" in rest:
        parser.print_help()
        print()
    status = bench_engine.main(rest)
    for name in args.also:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            print(f"run.py: no benchmark {script.name}", file=sys.stderr)
            status = status or 2
            continue
        print(f"\n$ {Path(sys.executable).name} benchmarks/{script.name}", flush=True)
        status = subprocess.run([sys.executable, str(script)]).returncode or status
    return status


if __name__ == "__main__":
    sys.exit(main())
