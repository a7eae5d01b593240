"""How fast the engine is, as ratios to a plain duckdb script measured in the same run.

    python benchmarks/run.py            # or: make bench

apply
    1,000 one-statement migrations (``CREATE TABLE t_i (x INTEGER)``, one SQL
    file each) applied to a new database file, against a plain script that
    runs the same 1,000 statements with duckdb, one transaction each
    (BEGIN; statement; COMMIT). Target: at most 1.3.
    Peers, where the benchmark extras are installed (``pip install -e '.[bench]'``):
    duckup (its form is a Python file per migration) and Alembic over
    duckdb_engine (1,000 revision files chained by down_revision).
status
    ``status`` over 10,000 version files and 10,000 ledger rows, against a plain
    script that only reads and hashes the same files. Target: at most 2.

What is timed. The "api" rows time the work inside one process, from before
connecting to after closing: duckdb and each tool's modules are imported first,
so the plain script has no import cost of its own to be compared with. The
"cli" rows time the whole command as a user runs it, interpreter start and
imports included, against the plain script run as a command.

How. Every measurement runs in a fresh subprocess on a new database file.
Rounds interleave the contenders, so noise from other work on the machine falls
on all of them alike; a time is the median over rounds and a ratio is the
median of each round's ratio to the plain script of that round. Each
``--python`` interpreter runs the whole set with its own plain script: duckup
requires duckdb below 2, so its comparison runs in an environment of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

APPLY_N = 1_000
STATUS_N = 10_000
TARGETS = {"apply": 1.3, "status": 2.0}
BASE = datetime(2024, 1, 1)
LEDGER_SQL = "plain + duckmig's ledger rows"
ME = str(Path(__file__).resolve())


def version(i: int) -> str:
    return (BASE + timedelta(seconds=i)).strftime("%Y%m%d_%H%M%S")


def statement(i: int) -> str:
    return f"CREATE TABLE t_{i} (x INTEGER)"


# -- the migration sets, written once per run ---------------------------------------


def write_duckmig(directory: Path, n: int) -> Path:
    versions = directory / "versions"
    versions.mkdir(parents=True)
    for i in range(1, n + 1):
        (versions / f"{version(i)}_t_{i}.sql").write_text(
            f"-- migrate:up\n{statement(i)};\n\n-- migrate:down\nDROP TABLE t_{i};\n")
    return directory


def write_duckup(directory: Path, n: int) -> Path:
    directory.mkdir(parents=True)
    for i in range(1, n + 1):
        (directory / f"{i:04d}_t_{i}.py").write_text(
            "def upgrade(conn):\n"
            f"    conn.execute({statement(i)!r})\n\n\n"
            "def downgrade(conn):\n"
            f"    conn.execute('DROP TABLE t_{i}')\n")
    return directory


ALEMBIC_ENV = '''\
from alembic import context
from alembic.ddl.impl import DefaultImpl
from sqlalchemy import create_engine


class AlembicDuckDBImpl(DefaultImpl):
    """Alembic knows no DuckDB dialect; DuckDB runs DDL inside transactions."""

    __dialect__ = "duckdb"
    transactional_ddl = True


engine = create_engine(context.config.get_main_option("sqlalchemy.url"))
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
'''


def write_alembic(directory: Path, n: int) -> Path:
    versions = directory / "versions"
    versions.mkdir(parents=True)
    (directory / "env.py").write_text(ALEMBIC_ENV)
    for i in range(1, n + 1):
        down = f"'r{i - 1:04d}'" if i > 1 else "None"
        (versions / f"r{i:04d}.py").write_text(
            "from alembic import op\n\n"
            f"revision = 'r{i:04d}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade():\n    op.execute({statement(i)!r})\n\n\n"
            f"def downgrade():\n    op.execute('DROP TABLE t_{i}')\n")
    return directory


PLAIN_APPLY = '''\
import sys
import duckdb

conn = duckdb.connect(sys.argv[1])
for i in range(1, int(sys.argv[2]) + 1):
    conn.execute("BEGIN TRANSACTION")
    conn.execute(f"CREATE TABLE t_{i} (x INTEGER)")
    conn.execute("COMMIT")
conn.close()
'''

PLAIN_STATUS = '''\
import hashlib
import os
import sys

for name in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], name), "rb") as fh:
        hashlib.sha256(fh.read()).hexdigest()
'''


# -- what each subprocess runs: ``bench_engine.py child NAME ARGS...`` ---------------------


def clock() -> tuple[float, float]:
    """Wall time, and CPU time of this process's every thread (DuckDB's too)."""
    return time.perf_counter(), time.process_time()


def child(name: str, args: list[str]) -> str:
    """Import, then time one contender's work; gives wall and CPU seconds (or what a setup did)."""
    import duckdb

    if name == "probe":
        import importlib.util

        return json.dumps({"duckdb": duckdb.__version__,
                           "missing": [m for m in ("duckup", "alembic", "duckdb_engine")
                                       if importlib.util.find_spec(m) is None]})
    if name == "stamp":
        return str(fill_ledger(args[0], args[1]))
    if name == "plain-apply":
        database, n = args[0], int(args[1])
        stmts = [statement(i) for i in range(1, n + 1)]
        start = clock()
        conn = duckdb.connect(database)
        for stmt in stmts:
            conn.execute("BEGIN TRANSACTION")
            conn.execute(stmt)
            conn.execute("COMMIT")
        conn.close()
    elif name == "plain-row-apply":  # the least a ledger costs: one small row with each migration
        database, n = args[0], int(args[1])
        stmts = [statement(i) for i in range(1, n + 1)]
        start = clock()
        conn = duckdb.connect(database)
        conn.execute("CREATE TABLE ledger (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
        for i, stmt in enumerate(stmts, 1):
            conn.execute("BEGIN TRANSACTION")
            conn.execute(stmt)
            conn.execute("INSERT INTO ledger VALUES (?, now())", [i])
            conn.execute("COMMIT")
        conn.close()
    elif name == "plain-ledger-apply":  # DuckDB's share of duckmig's time: its ledger's event row, no more
        from duckmig_magic.engine.ledger import Ledger, utcnow

        database, n = args[0], int(args[1])
        stmts = [statement(i) for i in range(1, n + 1)]
        start = clock()
        conn = duckdb.connect(database)
        ledger = Ledger(conn)
        ledger.ensure()
        for i, stmt in enumerate(stmts, 1):
            conn.execute("BEGIN TRANSACTION")
            conn.execute(stmt)
            conn.execute(f"INSERT INTO {ledger.quoted} (seq, version, event, status, occurred_at, description, kind, "
                         "checksum, applied_at, execution_ms, attempt_ms, downgrade, downgrade_checksum, filename, "
                         "runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [i, version(i), "applied", "applied", utcnow(), f"t {i}", "sql", "0" * 64, utcnow(), 0.1,
                          0.1, f"DROP TABLE t_{i};", "0" * 64, f"{version(i)}_t_{i}.sql", "bench"])
            conn.execute("COMMIT")
        conn.close()
    elif name == "duckmig-apply":
        from duckmig_magic import Migrator

        start = clock()
        Migrator(args[0], args[1]).up()
    elif name == "duckmig-group-apply":
        from duckmig_magic import Migrator

        start = clock()
        Migrator(args[0], args[1]).up(single_transaction=True)
    elif name == "duckup-apply":
        import duckup

        start = clock()
        conn = duckdb.connect(args[0])
        duckup.upgrade(conn, args[1])
        conn.close()
    elif name == "alembic-apply":
        import duckdb_engine  # noqa: F401  (the SQLAlchemy dialect)
        import sqlalchemy  # noqa: F401
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", args[1])
        cfg.set_main_option("sqlalchemy.url", f"duckdb:///{args[0]}")
        start = clock()
        command.upgrade(cfg, "head")
    elif name == "plain-status":
        import hashlib

        start = clock()
        for entry in sorted(os.listdir(args[0])):
            with open(os.path.join(args[0], entry), "rb") as fh:
                hashlib.sha256(fh.read()).hexdigest()
    elif name == "duckmig-status":
        from duckmig_magic import Migrator

        start = clock()
        report = Migrator(args[0], args[1]).status()
    else:
        raise SystemExit(f"unknown child {name}")
    wall, cpu = (now - then for now, then in zip(clock(), start))
    if name.endswith("-apply"):  # every contender must really have done the work
        with duckdb.connect(args[0], read_only=True) as conn:
            made = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 't\\_%' "
                                "ESCAPE '\\'").fetchone()[0]
        assert made == APPLY_N, f"{name} created {made} tables, not {APPLY_N}"
    if name == "duckmig-status":
        assert report.counts()["applied"] == STATUS_N, report.counts()
    return f"{wall!r} {cpu!r}"


def fill_ledger(database: str, directory: str) -> int:
    """10,000 applied rows, fast: ``stamp`` the first version so the engine makes its ledger, then
    insert the others in one statement with the engine's own checksums and downgrades."""
    import duckdb

    from duckmig_magic import Migrator
    from duckmig_magic.engine.ledger import utcnow

    m = Migrator(database, directory)
    scripts = m.scripts.scripts()
    m.stamp(scripts[0].version)
    rest = scripts[1:]
    columns = {"seq": list(range(2, len(rest) + 2)), "version": [s.version for s in rest],
               "description": [s.description for s in rest],
               "kind": [s.kind for s in rest], "checksum": [s.checksum for s in rest],
               "downgrade": [s.downgrade_source for s in rest], "filename": [s.name for s in rest]}
    with duckdb.connect(database) as conn:
        conn.execute(
            f"INSERT INTO {m.table} ({', '.join(columns)}, event, status, applied_at, occurred_at) "
            f"SELECT {', '.join(f'unnest(${i + 1})' for i in range(len(columns)))}, 'stamped', 'applied', "
            f"${len(columns) + 1}, ${len(columns) + 1}",
            [*columns.values(), utcnow()])
        return conn.execute(f"SELECT count(*) FROM {m.table}").fetchone()[0]


# -- the parent: rounds of subprocesses ---------------------------------------------------


class Contender:
    """One row of the table: how to run it once, or why it cannot run here."""

    def __init__(self, workload: str, tool: str, mode: str, argv, *, plain: bool = False,
                 skipped: str | None = None):
        self.workload, self.tool, self.mode, self.argv, self.plain = workload, tool, mode, argv, plain
        self.skipped = skipped
        self.duckdb = ""
        self.times: list[float] = []
        self.ratios: list[float] = []
        self.cpu_ratios: list[float] = []  # CPU time is what other work on the machine disturbs least

    def run(self) -> tuple[float, float]:
        argv = self.argv()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            raise RuntimeError(f"exited {proc.returncode}: {lines[-1]}")
        if self.mode == "cli":
            return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        wall, cpu = map(float, proc.stdout.strip().splitlines()[-1].split())
        return wall, cpu


def run_child(py: str, *args: str) -> str:
    proc = subprocess.run([py, ME, "child", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{py} {' '.join(args)}: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc.stdout.strip().splitlines()[-1]


def contenders(work: Path, py: str, tag: str, probe: dict) -> list[Contender]:
    duckmig = [str(Path(py).parent / "duckmig")]
    if not Path(duckmig[0]).exists():
        duckmig = [py, "-m", "duckmig_magic.cli"]
    fresh = iter(range(1_000_000))

    def db() -> str:
        return str(work / "db" / f"{tag}-{next(fresh)}.duckdb")

    def missing(*modules: str) -> str | None:
        gone = [m for m in modules if m in probe["missing"]]
        return f"not installed: {', '.join(gone)} (pip install -e '.[bench]')" if gone else None

    apply_dir, duckup_dir, alembic_dir = work / "apply", work / "duckup", work / "alembic"
    status_dir, status_db = str(work / "status"), str(work / f"status-{tag}.duckdb")
    status_versions = str(work / "status" / "versions")
    plain_apply, plain_status = str(work / "plain_apply.py"), str(work / "plain_status.py")
    return [
        Contender("apply", "plain duckdb", "api", lambda: [py, ME, "child", "plain-apply", db(), str(APPLY_N)],
                  plain=True),
        Contender("apply", "plain + 1 small row each", "api",
                  lambda: [py, ME, "child", "plain-row-apply", db(), str(APPLY_N)]),
        Contender("apply", LEDGER_SQL, "api",
                  lambda: [py, ME, "child", "plain-ledger-apply", db(), str(APPLY_N)]),
        Contender("apply", "duckmig", "api", lambda: [py, ME, "child", "duckmig-apply", db(), str(apply_dir)]),
        Contender("apply", "duckmig --single-transaction", "api",
                  lambda: [py, ME, "child", "duckmig-group-apply", db(), str(apply_dir)]),
        Contender("apply", "duckup", "api", lambda: [py, ME, "child", "duckup-apply", db(), str(duckup_dir)],
                  skipped=missing("duckup")),
        Contender("apply", "alembic + duckdb_engine", "api",
                  lambda: [py, ME, "child", "alembic-apply", db(), str(alembic_dir)],
                  skipped=missing("alembic", "duckdb_engine")),
        Contender("apply", "plain duckdb", "cli", lambda: [py, plain_apply, db(), str(APPLY_N)], plain=True),
        Contender("apply", "duckmig", "cli", lambda: [*duckmig, "--database", db(), "--dir", str(apply_dir), "up"]),
        Contender("status", "plain read + sha256", "api",
                  lambda: [py, ME, "child", "plain-status", status_versions], plain=True),
        Contender("status", "duckmig", "api", lambda: [py, ME, "child", "duckmig-status", status_db, status_dir]),
        Contender("status", "plain read + sha256", "cli", lambda: [py, plain_status, status_versions], plain=True),
        Contender("status", "duckmig", "cli",
                  lambda: [*duckmig, "--database", status_db, "--dir", status_dir, "status"]),
    ]


def prepare(work: Path, rows: list[Contender], log) -> None:
    (work / "db").mkdir()
    (work / "plain_apply.py").write_text(PLAIN_APPLY)
    (work / "plain_status.py").write_text(PLAIN_STATUS)
    write_duckmig(work / "apply", APPLY_N)
    tools = {r.tool for r in rows if not r.skipped}
    if "duckup" in tools:
        write_duckup(work / "duckup", APPLY_N)
    if "alembic + duckdb_engine" in tools:
        write_alembic(work / "alembic", APPLY_N)
    if any(r.workload == "status" for r in rows):
        write_duckmig(work / "status", STATUS_N)


def measure(pythons: list[str], rounds: int, workloads: set[str], tools: set[str] | None = None,
            log=print) -> list[Contender]:
    with tempfile.TemporaryDirectory(prefix="duckmig-bench-") as tmp:
        work = Path(tmp)
        rows: list[Contender] = []
        versions = []
        for n, py in enumerate(pythons):
            probe = json.loads(run_child(py, "probe"))
            versions.append(probe["duckdb"])
            for row in contenders(work, py, str(n), probe):
                if row.workload in workloads and (row.tool.startswith("plain") or not tools
                                                  or row.tool.split()[0] in tools):
                    row.duckdb = probe["duckdb"]
                    rows.append(row)
        prepare(work, rows, log)
        if "status" in workloads:
            for n, py in enumerate(pythons):
                start = time.perf_counter()
                count = run_child(py, "stamp", str(work / f"status-{n}.duckdb"), str(work / "status"))
                log(f"status set for duckdb {versions[n]}: {STATUS_N:,} files, {count} ledger rows "
                    f"in {time.perf_counter() - start:.1f}s")
        for r in range(1, rounds + 1):
            # Each round runs every contender once; a plain row leads its group, so each
            # ratio compares runs made moments apart.
            base: dict[tuple[str, str, str], tuple[float, float]] = {}
            for row in rows:
                if row.skipped:
                    continue
                try:
                    t, cpu = row.run()
                except RuntimeError as exc:
                    row.skipped = f"failed: {exc}"
                    continue
                row.times.append(t)
                key = (row.duckdb, row.workload, row.mode)
                if row.plain:
                    base[key] = (t, cpu)
                elif key in base:
                    row.ratios.append(t / base[key][0])
                    row.cpu_ratios.append(cpu / base[key][1])
                log(f"round {r}/{rounds}  duckdb {row.duckdb:6} {row.workload:6} {row.mode:3}  "
                    f"{row.tool:30} {t:7.3f}s wall {cpu:7.3f}s CPU")
                for used in (work / "db").iterdir():
                    used.unlink()
    return rows


def table(rows: list[Contender]) -> str:
    lines = ["| workload | duckdb | tool | timed | median s | ratio to plain | CPU ratio | target |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
    measured = {r.tool for r in rows if r.times}
    for r in rows:
        head = f"| {r.workload} | {r.duckdb} | {r.tool} | {r.mode} |"
        if r.skipped and r.skipped.startswith("not installed") and r.tool in measured:
            continue  # installed in another of the run's environments
        if r.skipped:
            lines.append(f"{head} skipped: {r.skipped} | | | |")
            continue
        median = statistics.median(r.ratios) if r.ratios else None
        ratio = "1.00" if r.plain else (f"{median:.2f}×" if median else "")
        cpu = "1.00" if r.plain else (f"{statistics.median(r.cpu_ratios):.2f}×" if r.cpu_ratios else "")
        target = ""
        if r.tool == "duckmig" and r.mode == "api" and median:
            target = f"≤ {TARGETS[r.workload]}: {'met' if median <= TARGETS[r.workload] else 'MISSED'}"
        lines.append(f"{head} {statistics.median(r.times):.3f} | {ratio} | {cpu} | {target} |")
    for version in dict.fromkeys(r.duckdb for r in rows):
        own = {r.tool: r for r in rows
               if r.duckdb == version and r.workload == "apply" and r.mode == "api" and r.ratios}
        if "duckmig" in own and LEDGER_SQL in own:
            a, b = own["duckmig"], own[LEDGER_SQL]
            lines.append(f"\nduckdb {version}: duckmig takes "
                         f"{statistics.median(a.ratios) / statistics.median(b.ratios):.2f}× the wall time "
                         f"({statistics.median(a.cpu_ratios) / statistics.median(b.cpu_ratios):.2f}× the CPU) "
                         "of a plain script writing the same ledger rows: the rest is DuckDB's.")
    return "\n".join(lines)


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", metavar="PATH",
                        help="run the set under this interpreter (repeatable; default: this one)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", choices=("apply", "status"), action="append",
                        help="run only this workload (repeatable)")
    parser.add_argument("--tool", choices=("duckmig", "duckup", "alembic"), action="append",
                        help="run only this tool beside the plain script (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw times and ratios here")
    args = parser.parse_args(argv)
    rows = measure(args.python or [sys.executable], args.rounds, set(args.only or ("apply", "status")),
                   set(args.tool or ()), log=lambda m: print(m, file=sys.stderr, flush=True))
    command = " ".join(["python", os.path.relpath(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])])
    print(f"\nduckmig engine benchmark, {args.rounds} rounds, {machine()}\n$ {command}\n")
    print(table(rows))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"machine": machine(), "rows": [{k: v for k, v in vars(r).items() if k != "argv"} for r in rows]},
            indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        print(child(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(main())
