"""How fast the engine is, as ratios to a plain duckdb script measured in the same run.

    python benchmarks/run.py            # or: make bench

apply
    1,000 one-statement migrations (``CREATE TABLE t_i (x INTEGER)``, one SQL
    file each) applied to a new database file, against a plain script that
    runs the same 1,000 statements with duckdb, one transaction each
    (BEGIN; statement; COMMIT). Targets: duckmig's default ``up`` (group
    commit) at most 0.8 of the plain script, at most half of duckup's time,
    and at most 1.3 times ``up --single-transaction``. ``group_seconds=0``
    (one transaction per migration, each with its ledger event) shows what
    grouping buys. Peers, where the benchmark extras are installed
    (``pip install -e '.[bench]'``): duckup (its form is a Python file per
    migration) and Alembic over duckdb_engine (1,000 revision files chained by
    down_revision).
status
    ``status`` over 10,000 version files and 10,000 ledger rows, against a plain
    script that only reads and hashes the same files. Target: at most 2, in
    one process ("api") and as a command ("cli", interpreter start and
    imports included, the text table printed). Two more "cli" rows show what
    every run of the command costs whatever the number of migrations: the
    interpreter loading duckdb and nothing else, and ``duckmig status`` over
    one migration.
failure
    ``up`` of 20 migrations whose 15th fails (its second statement inserts a
    string into an INTEGER column), timed until ``up`` raises, against ``up`` of
    the same 20 with the 15th fixed. The failing run rolls back the group, applies
    the 14 before it again, runs the 15th alone and records its failure. Each
    measurement is 10 such runs on new database files. No target.
lake
    100 one-statement migrations applied to a DuckLake whose catalog is in
    PostgreSQL (a new database of a server started for the run, data path in a
    temporary folder), against a plain script running the same statements on
    the same kind of lake, one transaction each. The lake is made before the
    clock starts; both time attaching it, then the statements. duckmig runs one
    migration to a transaction on a lake (no group commit there), each with its
    event, the lock set (its view replaced), and first a check that no
    other runner set it since this one planned. Target: at most 1.5. Two plain
    scripts show DuckLake's share: one also setting the lock, one running all of
    duckmig's ledger SQL. Runs under ``--lake-python``, an interpreter with
    duckdb and its ``duckdb-extension-ducklake`` and
    ``duckdb-extension-postgres-scanner`` packages (``make bench``:
    .venv-lake), with Debian's PostgreSQL server; where either is missing, its
    rows say why.
lake-s3
    The same on a lake whose Parquet files go to an S3-compatible bucket (moto's
    server on localhost, started for the run, reached through httpfs): each of
    the 100 migrations is ``CREATE TABLE t_i AS SELECT range AS x FROM
    range(1000)``, more rows than DuckLake inlines in its catalog, so each
    writes a file to the bucket (the ledger's small rows stay inlined, as by
    default). duckmig gets the bucket's settings as ``S3_*`` options and the
    credentials from AWS_* variables; the plain script makes the same DuckDB
    secret itself. Target: at most 1.5. Needs ``duckdb-extension-httpfs`` and
    ``moto[server]`` under ``--lake-python`` (``make bench``: .venv-lake).

What is timed. The "api" rows time the work inside one process, from before
connecting to after closing: duckdb and each tool's modules are imported first,
so the plain script has no import cost of its own to be compared with. The
"cli" rows time the whole command as a user runs it, interpreter start and
imports included, against the plain script run as a command. duckmig's
bytecode is compiled before the rounds, as an installed package has it
(otherwise a run with PYTHONDONTWRITEBYTECODE set would time compiling its
source, about 0.3 s of CPU, at every start).

How. Every measurement runs in a fresh subprocess on a new database. Rounds
interleave the contenders, so noise from other work on the machine falls on all
of them alike; a time is the median over rounds and a ratio is the median of
each round's ratio to the first row of its group (the plain script; for
failure, the successful run). A target compares duckmig's time with another
row's the same way. Each ``--python`` interpreter runs the whole set with its
own plain script: duckup requires duckdb below 2, so its comparison runs in an
environment of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

APPLY_N = 1_000
STATUS_N = 10_000
FAIL_N, FAIL_AT, FAIL_RUNS = 20, 15, 10
LAKE_N = 100
WORKLOADS = ("apply", "status", "failure", "lake", "lake-s3")
BASE = datetime(2024, 1, 1)
PLAIN = "plain duckdb"
PLAIN_STATUS_TOOL = "plain read + sha256"
LEDGER_SQL = "plain + duckmig's ledger rows"
LAKE_SQL = "plain + duckmig's ledger SQL"
UNGROUPED = "duckmig, group_seconds=0"
SINGLE = "duckmig --single-transaction"
SUCCEEDS = f"duckmig, all {FAIL_N} succeed"
ONE_STATUS = "duckmig, 1 migration"
# duckmig's default ``up`` (the "duckmig" row) takes at most this times another row's time, the
# median of each round's ratio: {(workload, the other row's tool): at most}.
TARGETS = {("apply", PLAIN): 0.8, ("apply", "duckup"): 0.5, ("apply", SINGLE): 1.3,
           ("status", PLAIN_STATUS_TOOL): 2.0, ("lake", PLAIN): 1.5, ("lake-s3", PLAIN): 1.5}
# The same for the whole command ("cli" rows): issue 24's `duckmig status` on the command line.
CLI_TARGETS = {("status", PLAIN_STATUS_TOOL): 2.0}
ME = str(Path(__file__).resolve())
PARTS = str(Path(__file__).resolve().parent.parent / "tests")  # lake_parts: extensions and a PostgreSQL server


def version(i: int) -> str:
    return (BASE + timedelta(seconds=i)).strftime("%Y%m%d_%H%M%S")


def statement(i: int) -> str:
    return f"CREATE TABLE t_{i} (x INTEGER)"


def s3_statement(i: int) -> str:
    """A migration that writes a Parquet file: on the S3 lake, each one goes to the bucket."""
    return f"CREATE TABLE t_{i} AS SELECT range AS x FROM range(1000)"


def lake_statement(data_path: str):
    return s3_statement if data_path.startswith("s3://") else statement


# -- the migration sets, written once per run ---------------------------------------


def write_duckmig(directory: Path, n: int, failing: int | None = None, fixed: int | None = None,
                  make=statement) -> Path:
    """``n`` one-statement SQL migrations (``make(i)``); the ``failing`` one's second statement fails,
    the ``fixed`` one's is the same statement that succeeds."""
    versions = directory / "versions"
    versions.mkdir(parents=True)
    for i in range(1, n + 1):
        body = f"{make(i)};\n"
        if i in (failing, fixed):
            body += f"INSERT INTO t_{i} VALUES ({'15' if i == fixed else repr('fifteen')});\n"
        (versions / f"{version(i)}_t_{i}.sql").write_text(f"-- migrate:up\n{body}\n-- migrate:down\nDROP TABLE t_{i};\n")
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
        import compileall
        import importlib.util

        import duckmig_magic

        # duckmig's bytecode, as an installed package has it: else a run with PYTHONDONTWRITEBYTECODE set,
        # or the first after an edit, times compiling its source at every start of the command.
        compileall.compile_dir(os.path.dirname(duckmig_magic.__file__), quiet=1)

        parts = lake_parts()
        try:
            parts.extension_files()
            no_lake = None
        except parts.Unavailable as exc:
            no_lake = str(exc)
        try:
            parts.httpfs_file()
            no_s3 = None if importlib.util.find_spec("moto") else "moto[server] is not installed here"
        except parts.Unavailable as exc:
            no_s3 = str(exc)
        return json.dumps({"duckdb": duckdb.__version__, "no_lake": no_lake, "no_s3": no_s3,
                           "missing": [m for m in ("duckup", "alembic", "duckdb_engine")
                                       if importlib.util.find_spec(m) is None]})
    if name == "s3-port":
        return json.dumps(lake_parts()._free_port())
    if name == "lake-home":
        lake_parts().build_extension_home(Path(args[0]))
        return "ok"
    if name == "stamp":
        return str(fill_ledger(args[0], args[1]))
    if name.startswith("lake-"):
        made = lake_attach(*args[:2])  # a new lake, made before the clock starts
        made.close()
    if name == "plain-apply":
        database, n = args[0], int(args[1])
        stmts = [statement(i) for i in range(1, n + 1)]
        start = clock()
        conn = duckdb.connect(database)
        plain_apply(conn, stmts)
        conn.close()
    elif name == "lake-plain-apply":
        stmts = [lake_statement(args[1])(i) for i in range(1, int(args[2]) + 1)]
        start = clock()
        conn = lake_attach(args[0], args[1])
        plain_apply(conn, stmts)
        conn.close()
    elif name in ("lake-plain-ledger-apply", "lake-plain-lock-apply"):  # DuckLake's share of duckmig's time
        from duckmig_magic.engine.ledger import Ledger, Place, utcnow

        stmts = [statement(i) for i in range(1, int(args[2]) + 1)]
        start = clock()
        conn = lake_attach(args[0], args[1])
        ledger = Ledger(conn, "duckdb_migrations", Place("lake", "main"))
        conn.execute("BEGIN TRANSACTION")
        ledger.ensure()
        conn.execute("COMMIT")
        for i, stmt in enumerate(stmts, 1):
            conn.execute("BEGIN TRANSACTION")
            if name == "lake-plain-ledger-apply":  # has another runner set the lock since this one planned?
                conn.execute(f"SELECT * FROM {ledger.quoted_lock}").fetchone()
            conn.execute(stmt)
            conn.execute(f"CREATE OR REPLACE VIEW {ledger.quoted_lock} AS SELECT 'bench' AS runner, "
                         f"'{version(i)}' AS version, TIMESTAMP '{utcnow()}' AS recorded_at, 'bench' AS run")
            if name == "lake-plain-ledger-apply":
                conn.execute(f"INSERT INTO {ledger.quoted} (seq, version, event, status, occurred_at, description, "
                             "kind, checksum, applied_at, execution_ms, attempt_ms, downgrade, downgrade_checksum, "
                             f"filename, runner, source) VALUES ({i}, '{version(i)}', 'applied', 'applied', "
                             f"TIMESTAMP '{utcnow()}', 't {i}', 'sql', '{'0' * 64}', TIMESTAMP '{utcnow()}', 0.1, "
                             f"0.1, 'DROP TABLE t_{i};', '{'0' * 64}', '{version(i)}_t_{i}.sql', 'bench', "
                             f"'-- migrate:up\n{stmt};\n')")
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
    elif name == "duckmig-apply":  # DATABASE DIR [GROUP_SECONDS]
        from duckmig_magic import Migrator

        start = clock()
        Migrator(args[0], args[1], **({"group_seconds": float(args[2])} if args[2:] else {})).up()
    elif name == "duckmig-group-apply":
        from duckmig_magic import Migrator

        start = clock()
        Migrator(args[0], args[1]).up(single_transaction=True)
    elif name == "lake-duckmig-apply":  # CONNINFO DATA_PATH DIR
        from duckmig_magic import Migrator
        from duckmig_magic.engine import lake

        start = clock()
        m = Migrator(lake.parse(f"ducklake:postgres:{args[0]}", data_path=args[1], options=s3_options(args[1])),
                     args[2])
        m.up()
        m.db.connection.close()  # a Migrator keeps its lake attached for its life; the plain script closes it
    elif name == "duckmig-runs":  # DATABASE DIR RUNS GROUP_SECONDS ok|fails: up, RUNS times, each on a new database
        from duckmig_magic import Migrator, errors

        databases = [f"{args[0]}-{k}" for k in range(int(args[2]))]
        failed = []
        start = clock()
        for database in databases:
            try:
                Migrator(database, args[1], group_seconds=float(args[3])).up()
            except errors.MigrationFailed as exc:
                failed.append(exc.version)
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
    # Every contender must really have done the work.
    if name.startswith("lake-"):
        with lake_attach(args[0], args[1]) as conn:
            assert tables(conn) == LAKE_N, f"{name} created {tables(conn)} tables, not {LAKE_N}"
            if args[1].startswith("s3://"):  # each migration's rows are a file in the bucket
                files = conn.execute(f"SELECT count(*) FROM glob('{args[1]}**')").fetchone()[0]
                assert files >= LAKE_N, f"{name} wrote {files} files to the bucket, not {LAKE_N}"
    elif name.endswith("-apply"):
        with duckdb.connect(args[0], read_only=True) as conn:
            assert tables(conn) == APPLY_N, f"{name} created {tables(conn)} tables, not {APPLY_N}"
    if name == "duckmig-runs":
        fails = args[4] == "fails"
        assert failed == ([version(FAIL_AT)] * len(databases) if fails else []), failed
        for database in databases:
            with duckdb.connect(database, read_only=True) as conn:
                assert tables(conn) == (FAIL_AT - 1 if fails else FAIL_N), (database, tables(conn))
    if name == "duckmig-status":
        assert report.counts()["applied"] == STATUS_N, report.counts()
    return f"{wall!r} {cpu!r}"


def plain_apply(conn, stmts: list[str]) -> None:
    for stmt in stmts:
        conn.execute("BEGIN TRANSACTION")
        conn.execute(stmt)
        conn.execute("COMMIT")


def tables(conn) -> int:
    return conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 't\\_%' ESCAPE '\\'").fetchone()[0]


def lake_attach(conninfo: str, data_path: str):
    """What duckmig does to open a lake, plainly: a lake on PostgreSQL attached and in use; on S3, with
    the secret duckmig makes from the same settings."""
    import duckdb

    conn = duckdb.connect()
    remote = data_path.startswith("s3://")
    for extension in ("ducklake", "postgres") + (("httpfs",) if remote else ()):
        conn.execute(f"INSTALL {extension}")
        conn.execute(f"LOAD {extension}")
    if remote:
        conn.execute(f"CREATE SECRET (TYPE s3, KEY_ID '{os.environ['AWS_ACCESS_KEY_ID']}', SECRET "
                     f"'{os.environ['AWS_SECRET_ACCESS_KEY']}', ENDPOINT '{os.environ['BENCH_S3_ENDPOINT']}', "
                     "URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")
    conn.execute(f"ATTACH 'ducklake:postgres:{conninfo}' AS lake (DATA_PATH '{data_path}')")
    conn.execute("USE lake")
    return conn


def s3_options(data_path: str) -> dict:
    """duckmig's options for the same lake: the bucket's settings."""
    if not data_path.startswith("s3://"):
        return {}
    return {"S3_ENDPOINT": os.environ["BENCH_S3_ENDPOINT"], "S3_URL_STYLE": "path", "S3_USE_SSL": False,
            "S3_REGION": "us-east-1"}


def lake_parts():
    """tests/lake_parts.py: the extensions from their PyPI packages, and a PostgreSQL server."""
    if PARTS not in sys.path:
        sys.path.insert(0, PARTS)
    import lake_parts

    return lake_parts


def fill_ledger(database: str, directory: str) -> int:
    """10,000 applied rows, fast: ``stamp`` the first version so the engine makes its ledger, then
    insert the others in one statement with what the engine records of each (checksum, downgrade,
    the file's text, the runner...), or the engine would refuse the ledger as not its own."""
    import duckdb

    from duckmig_magic import Migrator
    from duckmig_magic.engine.apply import _record_of
    from duckmig_magic.engine.ledger import runner_name, utcnow

    m = Migrator(database, directory)
    scripts = m.scripts.scripts()
    m.stamp(scripts[0].version)
    records = [_record_of(s) for s in scripts[1:]]
    if not records:
        return 1
    columns = {"seq": list(range(2, len(records) + 2)), **{k: [r[k] for r in records] for k in records[0]}}
    with duckdb.connect(database) as conn:
        conn.execute(
            f"INSERT INTO {m.table} ({', '.join(columns)}, event, status, applied_at, occurred_at, runner) "
            f"SELECT {', '.join(f'unnest(${i + 1})' for i in range(len(columns)))}, 'stamped', 'applied', "
            f"${len(columns) + 1}, ${len(columns) + 1}, ${len(columns) + 2}",
            [*columns.values(), utcnow(), runner_name()])
        return conn.execute(f"SELECT count(*) FROM {m.table}").fetchone()[0]


# -- the parent: rounds of subprocesses ---------------------------------------------------


class Contender:
    """One row of the table: how to run it once, or why it cannot run here."""

    def __init__(self, workload: str, tool: str, mode: str, argv, *, plain: bool = False,
                 skipped: str | None = None, env: dict | None = None):
        self.workload, self.tool, self.mode, self.argv, self.plain = workload, tool, mode, argv, plain
        self.skipped, self.env = skipped, env
        self.duckdb = ""
        # round: (wall, CPU) seconds. CPU time is what other work on the machine disturbs least.
        self.rounds: dict[int, tuple[float, float]] = {}

    def run(self) -> tuple[float, float]:
        argv = self.argv()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
            raise RuntimeError(f"exited {proc.returncode}: {lines[-1]}")
        if self.mode == "cli":
            return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        wall, cpu = map(float, proc.stdout.strip().splitlines()[-1].split())
        return wall, cpu

    @property
    def key(self) -> tuple[str, str, str]:
        """The group whose first row this row's ratio is to."""
        return self.duckdb, self.workload, self.mode


def ratio(row: Contender, base: Contender, cpu: bool = False) -> float | None:
    """The median of each round's ratio of ``row``'s time to ``base``'s."""
    i = int(cpu)
    each = [t[i] / base.rounds[r][i] for r, t in row.rounds.items() if r in base.rounds]
    return statistics.median(each) if each else None


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

    def child(*args: str):
        return lambda: [py, ME, "child", *(a() if callable(a) else a for a in args)]

    apply_dir, duckup_dir, alembic_dir = str(work / "apply"), str(work / "duckup"), str(work / "alembic")
    status_dir, status_db = str(work / "status"), str(work / f"status-{tag}.duckdb")
    one_db = str(work / f"status-one-{tag}.duckdb")
    status_versions = str(work / "status" / "versions")
    plain_apply, plain_status = str(work / "plain_apply.py"), str(work / "plain_status.py")
    runs = [str(FAIL_RUNS)]
    return [
        Contender("apply", PLAIN, "api", child("plain-apply", db, str(APPLY_N)), plain=True),
        Contender("apply", "plain + 1 small row each", "api", child("plain-row-apply", db, str(APPLY_N))),
        Contender("apply", LEDGER_SQL, "api", child("plain-ledger-apply", db, str(APPLY_N))),
        Contender("apply", "duckmig", "api", child("duckmig-apply", db, apply_dir)),
        Contender("apply", UNGROUPED, "api", child("duckmig-apply", db, apply_dir, "0")),
        Contender("apply", SINGLE, "api", child("duckmig-group-apply", db, apply_dir)),
        Contender("apply", "duckup", "api", child("duckup-apply", db, duckup_dir), skipped=missing("duckup")),
        Contender("apply", "alembic + duckdb_engine", "api", child("alembic-apply", db, alembic_dir),
                  skipped=missing("alembic", "duckdb_engine")),
        Contender("apply", PLAIN, "cli", lambda: [py, plain_apply, db(), str(APPLY_N)], plain=True),
        Contender("apply", "duckmig", "cli", lambda: [*duckmig, "--database", db(), "--dir", apply_dir, "up"]),
        Contender("status", PLAIN_STATUS_TOOL, "api", child("plain-status", status_versions), plain=True),
        Contender("status", "duckmig", "api", child("duckmig-status", status_db, status_dir)),
        Contender("status", PLAIN_STATUS_TOOL, "cli", lambda: [py, plain_status, status_versions], plain=True),
        Contender("status", "duckmig", "cli",
                  lambda: [*duckmig, "--database", status_db, "--dir", status_dir, "status"]),
        Contender("status", "import duckdb alone", "cli", lambda: [py, "-c", "import duckdb"]),
        Contender("status", ONE_STATUS, "cli",
                  lambda: [*duckmig, "--database", one_db, "--dir", str(work / "status-one"), "status"]),
        Contender("failure", SUCCEEDS, "api",
                  child("duckmig-runs", db, str(work / "fail-fixed"), *runs, "0.25", "ok"), plain=True),
        Contender("failure", f"duckmig, the {FAIL_AT}th fails", "api",
                  child("duckmig-runs", db, str(work / "fail"), *runs, "0.25", "fails")),
        Contender("failure", f"{UNGROUPED}, the {FAIL_AT}th fails", "api",
                  child("duckmig-runs", db, str(work / "fail"), *runs, "0", "fails")),
    ]


def lake_contenders(work: Path, py: str, probe: dict, stack: contextlib.ExitStack, log,
                    workloads: set[str] = frozenset({"lake"})) -> list[Contender]:
    """The lake's rows, under ``py`` with the extensions from their packages in a home folder, on a
    PostgreSQL server started for the run (``stack`` stops it), and for ``lake-s3`` an S3 server
    too; where a part is missing, they say why."""
    skipped, server, env = probe["no_lake"], None, None
    s3_skipped, s3_env = probe.get("no_s3"), None
    if skipped is None:
        parts = lake_parts()
        folder = Path(tempfile.mkdtemp(prefix="duckmig-bench-pg-"))  # outside work: the server's user writes it
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        try:
            server, stop = parts.start_postgres(folder)
        except parts.Unavailable as exc:
            skipped = str(exc)
        else:
            stack.callback(stop)
            run_child(py, "lake-home", str(work / "home"))
            env = {**os.environ, "HOME": str(work / "home")}
            log(f"lake: PostgreSQL {server.psql('SHOW server_version').strip()} on port {server.port}")
        if skipped is None and s3_skipped is None and "lake-s3" in workloads:
            try:  # moto runs under the lake's interpreter, where it is installed
                s3, stop_s3 = _start_s3(py)
            except RuntimeError as exc:
                s3_skipped = str(exc)
            else:
                stack.callback(stop_s3)
                s3_env = {**env, **parts.S3.environ(), "BENCH_S3_ENDPOINT": s3.endpoint}
                log(f"lake-s3: moto's S3 server on port {s3.port}")
    s3_skipped = skipped or s3_skipped
    fresh = iter(range(1_000_000))

    def lake() -> list[str]:  # a new database of the server for the catalog, and a new data folder
        data = work / "db" / f"lake-{next(fresh)}"
        data.mkdir()
        return [server.database(), f"{data}/"]

    def s3_lake() -> list[str]:  # a new catalog, and a new prefix of the bucket
        return [server.database(), f"s3://lake/run-{next(fresh)}/"]

    return [
        Contender("lake", PLAIN, "api", lambda: [py, ME, "child", "lake-plain-apply", *lake(), str(LAKE_N)],
                  plain=True, skipped=skipped, env=env),
        Contender("lake", "plain + setting the lock", "api",
                  lambda: [py, ME, "child", "lake-plain-lock-apply", *lake(), str(LAKE_N)], skipped=skipped, env=env),
        Contender("lake", LAKE_SQL, "api", lambda: [py, ME, "child", "lake-plain-ledger-apply", *lake(), str(LAKE_N)],
                  skipped=skipped, env=env),
        Contender("lake", "duckmig", "api", lambda: [py, ME, "child", "lake-duckmig-apply", *lake(), str(work / "lake")],
                  skipped=skipped, env=env),
        Contender("lake-s3", PLAIN, "api", lambda: [py, ME, "child", "lake-plain-apply", *s3_lake(), str(LAKE_N)],
                  plain=True, skipped=s3_skipped, env=s3_env),
        Contender("lake-s3", "duckmig", "api",
                  lambda: [py, ME, "child", "lake-duckmig-apply", *s3_lake(), str(work / "lake-s3")],
                  skipped=s3_skipped, env=s3_env),
    ]


def _start_s3(py: str):
    """moto's S3 server, started by ``py`` (the lake's interpreter, which has moto): (S3, stop)."""
    parts = lake_parts()
    if py == sys.executable:
        try:
            return parts.start_s3()
        except parts.Unavailable as exc:
            raise RuntimeError(str(exc)) from None
    port = json.loads(run_child(py, "s3-port"))
    proc = subprocess.Popen([py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("moto's S3 server did not start (pip install 'moto[server]')") from None
            time.sleep(0.1)
    server = parts.S3(port)
    urllib.request.urlopen(urllib.request.Request(f"http://{server.endpoint}/{server.bucket}", method="PUT")).close()

    def stop() -> None:
        proc.terminate()
        proc.wait(10)

    return server, stop


def prepare(work: Path, rows: list[Contender], log) -> None:
    (work / "plain_apply.py").write_text(PLAIN_APPLY)
    (work / "plain_status.py").write_text(PLAIN_STATUS)
    workloads = {r.workload for r in rows if not r.skipped}
    tools = {r.tool for r in rows if not r.skipped}
    if "apply" in workloads:
        write_duckmig(work / "apply", APPLY_N)
    if "duckup" in tools:
        write_duckup(work / "duckup", APPLY_N)
    if "alembic + duckdb_engine" in tools:
        write_alembic(work / "alembic", APPLY_N)
    if "status" in workloads:
        write_duckmig(work / "status", STATUS_N)
        write_duckmig(work / "status-one", 1)
    if "failure" in workloads:
        write_duckmig(work / "fail", FAIL_N, failing=FAIL_AT)
        write_duckmig(work / "fail-fixed", FAIL_N, fixed=FAIL_AT)
    if "lake" in workloads:
        write_duckmig(work / "lake", LAKE_N)
    if "lake-s3" in workloads:
        write_duckmig(work / "lake-s3", LAKE_N, make=s3_statement)


def measure(pythons: list[str], rounds: int, workloads: set[str], tools: set[str] | None = None,
            lake_python: str | None = None, log=print) -> list[Contender]:
    def chosen(row: Contender) -> bool:
        return row.workload in workloads and (row.plain or not tools or row.tool.split()[0].rstrip(",") in tools)

    with tempfile.TemporaryDirectory(prefix="duckmig-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        (work / "db").mkdir()
        rows: list[Contender] = []
        versions = []
        for n, py in enumerate(pythons):
            probe = json.loads(run_child(py, "probe"))
            versions.append(probe["duckdb"])
            for row in filter(chosen, contenders(work, py, str(n), probe)):
                row.duckdb = probe["duckdb"]
                rows.append(row)
        if workloads & {"lake", "lake-s3"}:
            py = lake_python or pythons[0]
            probe = json.loads(run_child(py, "probe"))
            for row in filter(chosen, lake_contenders(work, py, probe, stack, log, workloads)):
                row.duckdb = probe["duckdb"]
                rows.append(row)
        prepare(work, rows, log)
        if "status" in workloads:
            for n, py in enumerate(pythons):
                start = time.perf_counter()
                count = run_child(py, "stamp", str(work / f"status-{n}.duckdb"), str(work / "status"))
                run_child(py, "stamp", str(work / f"status-one-{n}.duckdb"), str(work / "status-one"))
                log(f"status set for duckdb {versions[n]}: {STATUS_N:,} files, {count} ledger rows "
                    f"in {time.perf_counter() - start:.1f}s")
        for r in range(1, rounds + 1):
            # Each round runs every contender once; a plain row leads its group, so each
            # ratio compares runs made moments apart.
            for row in rows:
                if row.skipped:
                    continue
                try:
                    t, cpu = row.run()
                except RuntimeError as exc:
                    row.skipped = f"failed: {exc}"
                    continue
                finally:
                    for used in (work / "db").iterdir():
                        shutil.rmtree(used) if used.is_dir() else used.unlink()
                row.rounds[r] = (t, cpu)
                log(f"round {r}/{rounds}  duckdb {row.duckdb:6} {row.workload:7} {row.mode:3}  "
                    f"{row.tool:36} {t:7.3f}s wall {cpu:7.3f}s CPU")
    return rows


def verdict(row: Contender, rows: list[Contender]) -> tuple[str, float, float, bool] | None:
    """(what, limit, measured, met) of the target ``row`` is the reference of, or None."""
    limit = (TARGETS if row.mode == "api" else CLI_TARGETS).get((row.workload, row.tool))
    duckmig = next((r for r in rows if r.key == row.key and r.tool == "duckmig" and r.rounds), None)
    if limit is None or duckmig is None or not row.rounds:
        return None
    measured = ratio(duckmig, row)
    return f"duckmig ≤ {limit}× {row.tool}", limit, measured, measured <= limit


def table(rows: list[Contender]) -> str:
    lines = ["| workload | duckdb | tool | timed | median s | ratio | CPU ratio | target |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | --- |"]
    measured = {r.tool for r in rows if r.rounds}
    bases = {r.key: r for r in rows if r.plain and r.rounds}
    for r in rows:
        head = f"| {r.workload} | {r.duckdb} | {r.tool} | {r.mode} |"
        if r.skipped and r.skipped.startswith("not installed") and r.tool in measured:
            continue  # installed in another of the run's environments
        if not r.rounds:
            lines.append(f"{head} skipped: {r.skipped} | | | |")
            continue
        base = bases.get(r.key)
        wall, cpu = (ratio(r, base), ratio(r, base, cpu=True)) if base and not r.plain else (None, None)
        target = ""
        if r.tool == "duckmig" and base and (v := verdict(base, rows)):
            target = f"≤ {v[1]}: {'met' if v[3] else 'MISSED'}"
        elif not r.plain and (v := verdict(r, rows)):
            target = f"duckmig ≤ {v[1]}× this ({v[2]:.2f}×): {'met' if v[3] else 'MISSED'}"
        lines.append(f"{head} {statistics.median(t for t, _ in r.rounds.values()):.3f} | "
                     f"{'1.00' if r.plain else f'{wall:.2f}×' if wall else ''} | "
                     f"{'1.00' if r.plain else f'{cpu:.2f}×' if cpu else ''} | {target} |")
    return "\n".join(lines)


def summary(rows: list[Contender]) -> str:
    """Each target, met or missed; and duckmig's own share beside a plain script writing its rows."""
    lines = []
    for r in rows:
        if v := verdict(r, rows):
            lines.append(f"- duckdb {r.duckdb}, {r.workload} ({r.mode}): {v[0]}: {v[2]:.2f}×, "
                         f"{'met' if v[3] else 'MISSED'}")
    for version in dict.fromkeys(r.duckdb for r in rows):
        own = {r.tool: r for r in rows if r.key == (version, "apply", "api") and r.rounds}
        if UNGROUPED in own and LEDGER_SQL in own:
            a, b = own[UNGROUPED], own[LEDGER_SQL]
            lines.append(f"- duckdb {version}: {UNGROUPED} takes {ratio(a, b):.2f}× the wall time "
                         f"({ratio(a, b, cpu=True):.2f}× the CPU) of a plain script writing the same ledger "
                         "rows, one transaction each: the rest is DuckDB's.")
        lake = {r.tool: r for r in rows if r.key == (version, "lake", "api") and r.rounds}
        if "duckmig" in lake and LAKE_SQL in lake:
            a, b = lake["duckmig"], lake[LAKE_SQL]
            lines.append(f"- duckdb {version}, lake: duckmig takes {ratio(a, b):.2f}× the wall time of a plain "
                         "script running its ledger's SQL (the check, setting the lock, the event): the rest "
                         "is DuckLake's.")
    return "\n".join(lines)


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", metavar="PATH",
                        help="run the set under this interpreter (repeatable; default: this one)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--only", choices=WORKLOADS, action="append",
                        help="run only this workload (repeatable)")
    parser.add_argument("--tool", choices=("duckmig", "duckup", "alembic"), action="append",
                        help="run only this tool beside the plain script (repeatable)")
    parser.add_argument("--lake-python", metavar="PATH",
                        help="run the lake workload under this interpreter, one with duckdb's ducklake and "
                             "postgres extension packages (default: the first --python)")
    parser.add_argument("--json", metavar="FILE", help="also write the raw times and ratios here")
    args = parser.parse_args(argv)
    rows = measure(args.python or [sys.executable], args.rounds, set(args.only or WORKLOADS), set(args.tool or ()),
                   args.lake_python, log=lambda m: print(m, file=sys.stderr, flush=True))
    command = " ".join(["python", os.path.relpath(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])])
    print(f"\nduckmig engine benchmark, {args.rounds} rounds, {machine()}\n$ {command}\n")
    print(table(rows))
    print(f"\n{summary(rows)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(
            {"machine": machine(),
             "rows": [{k: v for k, v in vars(r).items() if k not in ("argv", "env")} for r in rows]}, indent=1))
    return 0

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "child":
        print(child(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit(main())
