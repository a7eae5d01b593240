"""Ctrl-C: a real `duckmig` process, a real SIGINT, while a migration's statement runs.

The statement would run for hours, and DuckDB 2.x does not look for signals
while it runs: the process ending within the wait below is the bound on how
long an interrupt takes. Each case checks the one line the command prints, its
exit code (130), the tables, the ledger and the files.
"""

from __future__ import annotations

import collections
import faulthandler
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from test_catalogue import state

import duckmig_magic
from duckmig_magic import Migrator
from conftest import STATE

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
# Hours of work on one thread; DuckDB checks for an interrupt between its chunks.
LONG = "SELECT sum(hash(a.range + b.range)) FROM range(1000000) a, range(1000000) b"
SINGLE = "SET threads = 1"
WAIT = 30  # seconds an interrupt may take, at most; the statement runs far longer
LEDGER = f"SELECT version, status FROM {STATE} ORDER BY version"


def python_migration(version: str, slug: str, upgrade: str, downgrade: str = "pass") -> tuple[str, str]:
    indent = "\n        "
    return f"{version}_{slug}.py", (
        "import sys\n\nfrom duckmig_magic import BaseMigration\n\n\n"
        "class Migration(BaseMigration):\n"
        "    def __init__(self):\n"
        f"        super().__init__(version={version!r}, description={slug!r})\n\n"
        f"    def upgrade(self, session):{indent}{indent.join(upgrade.strip().splitlines())}\n\n"
        f"    def downgrade(self, session):{indent}{indent.join(downgrade.strip().splitlines())}\n")


def marked(*statements: str) -> str:
    """Python statements that say on stderr when the last one starts, then run it."""
    lines = [f"session.exec({s!r})" for s in statements]
    lines.insert(-1, 'print("the statement starts", file=sys.stderr, flush=True)')
    return "\n".join(lines)


class Project:
    def __init__(self, root):
        self.root = root
        (root / "migrations" / "versions").mkdir(parents=True)
        self.write(f"{V1}_base.sql", "-- migrate:up\nCREATE TABLE t (id INTEGER PRIMARY KEY);\n"
                                     "INSERT INTO t VALUES (1), (2);\n-- migrate:down\nDROP TABLE t;\n")

    def write(self, name: str, text: str) -> None:
        (self.root / "migrations" / "versions" / name).write_text(text)

    def duckmig(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "duckmig_magic", *args, "-d", "app.db", "--dir", "migrations"],
                              cwd=self.root, env=_env(), capture_output=True, text=True, timeout=120)

    def interrupt(self, args: str, marker: str, report) -> tuple[int, str]:
        """Run `duckmig ARGS`, send SIGINT once ``marker`` is on stderr; its exit code and stderr."""
        proc = subprocess.Popen([sys.executable, "-m", "duckmig_magic", *args.split(), "-d", "app.db", "--dir",
                                 "migrations"], cwd=self.root, env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        err = bytearray()
        reader = threading.Thread(target=_read, args=(proc.stderr, err))
        reader.start()
        try:
            deadline = time.monotonic() + 60
            while marker.encode() not in err:
                assert proc.poll() is None, err.decode()
                assert time.monotonic() < deadline, f"no {marker!r} in 60 s: {err.decode()}"
                time.sleep(0.01)
            time.sleep(0.3)  # the statement runs now
            assert proc.poll() is None, err.decode()
            proc.send_signal(signal.SIGINT)
            sent = time.monotonic()
            code = proc.wait(WAIT)
            report(f"interrupts: `duckmig {args}` stopped {time.monotonic() - sent:.2f} s after SIGINT")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            reader.join()
        return code, err.decode()

    def ledger(self) -> list[tuple[str, str]]:
        with duckdb.connect(str(self.root / "app.db")) as conn:
            return conn.execute(LEDGER).fetchall()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")}


def _read(stream, into: bytearray) -> None:
    while chunk := os.read(stream.fileno(), 4096):
        into.extend(chunk)


@pytest.fixture
def project(tmp_path) -> Project:
    p = Project(tmp_path)
    assert p.duckmig("up").returncode == 0
    return p


def last_line(err: str) -> str:
    assert "Traceback" not in err, err
    return err.rstrip("\n").rsplit("\n", 1)[-1]


def test_ctrl_c_during_a_sql_statement_rolls_the_migration_back(project, report):
    project.write(f"{V2}_long.sql", f"-- migrate:up\nCREATE TABLE a (x INTEGER);\n{SINGLE};\n{LONG};\n")
    before = state(project.root)
    code, err = project.interrupt("up", f"applying {V2} long ... ", report)
    assert code == 130
    assert err.endswith(f"applying {V2} long ... interrupted\n"
                        f"duckmig: interrupted: applying {V2} was rolled back: nothing of it remains\n"), err
    assert state(project.root) == before
    assert project.ledger() == [(V1, "applied")]


def test_ctrl_c_during_a_python_migrations_statement_and_after_earlier_migrations(project, report):
    project.write(f"{V2}_quick.sql", "-- migrate:up\nCREATE TABLE quick (x INTEGER);\n")
    project.write(*python_migration(V3, "long", marked("INSERT INTO t VALUES (3)", SINGLE, LONG)))
    code, err = project.interrupt("up", "the statement starts", report)
    assert code == 130
    assert last_line(err) == (f"duckmig: interrupted: applying {V3} was rolled back: nothing of it remains; "
                              "the 1 migration applied before it stays applied")
    assert project.ledger() == [(V1, "applied"), (V2, "applied")]
    with duckdb.connect(str(project.root / "app.db")) as conn:
        assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]


def test_ctrl_c_in_a_single_transaction_run_rolls_all_of_it_back(project, report):
    project.write(f"{V2}_quick.sql", "-- migrate:up\nCREATE TABLE quick (x INTEGER);\n")
    project.write(f"{V3}_long.sql", f"-- migrate:up\n{SINGLE};\n{LONG};\n")
    before = state(project.root)
    code, err = project.interrupt("up --single-transaction", f"applying {V3} long ... ", report)
    assert (code, last_line(err)) == (130, "duckmig: interrupted: the single transaction was rolled back: nothing "
                                           "of the run remains")
    assert state(project.root) == before


def test_ctrl_c_in_a_python_migrations_own_code(project, report):
    project.write(*python_migration(V2, "loops", 'session.exec("INSERT INTO t VALUES (3)")\n'
                                                 'print("the loop starts", file=sys.stderr, flush=True)\n'
                                                 "while True:\n    pass"))
    before = state(project.root)
    code, err = project.interrupt("up", "the loop starts", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: applying {V2} was rolled back: nothing of it "
                                           "remains")
    assert state(project.root) == before


def test_a_migration_that_swallows_ctrl_c_is_stopped_at_its_next_statement(project, report):
    project.write(*python_migration(V2, "swallows", "\n".join([
        'session.exec("INSERT INTO t VALUES (3)")',
        f"session.exec({SINGLE!r})",
        'print("the statement starts", file=sys.stderr, flush=True)',
        "try:",
        f"    session.exec({LONG!r})",
        "except BaseException:",
        "    pass",
        'session.exec("INSERT INTO t VALUES (4)")'])))
    before = state(project.root)
    code, err = project.interrupt("up", "the statement starts", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: applying {V2} was rolled back: nothing of it "
                                           "remains")
    assert state(project.root) == before


def test_ctrl_c_during_a_downgrade_keeps_the_migration_applied(project, report):
    project.write(f"{V2}_two.sql", f"-- migrate:up\nCREATE TABLE two (x INTEGER);\n"
                                   f"-- migrate:down\nDROP TABLE two;\n{SINGLE};\n{LONG};\n")
    assert project.duckmig("up").returncode == 0
    before = state(project.root)
    code, err = project.interrupt("down", f"reverting {V2} two ... ", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: reverting {V2} was rolled back: it is still "
                                           "applied")
    assert state(project.root) == before
    assert project.ledger() == [(V1, "applied"), (V2, "applied")]


def test_ctrl_c_during_redo_says_the_revert_stays(project, report):
    project.write(f"{V2}_two.sql", "-- migrate:up\nCREATE TABLE two (x INTEGER);\n-- migrate:down\nDROP TABLE two;\n")
    assert project.duckmig("up").returncode == 0
    # The newest migration is being worked on: its edited upgrade now takes long.
    project.write(f"{V2}_two.sql", f"-- migrate:up\nCREATE TABLE two (x INTEGER);\n{SINGLE};\n{LONG};\n"
                                   "-- migrate:down\nDROP TABLE two;\n")
    code, err = project.interrupt("redo", f"applying {V2} two ... ", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: applying {V2} was rolled back: nothing of it "
                                           f"remains; its revert before that stays: {V2} is not applied now")
    assert project.ledger() == [(V1, "applied")]
    assert "two" not in {r[0] for r in duckdb.connect(str(project.root / "app.db")).execute(
        "SELECT table_name FROM duckdb_tables()").fetchall()}


@pytest.mark.parametrize("command, says", [("preview", "the preview was rolled back"),
                                           ("verify --roundtrip", "verify --roundtrip was rolled back")])
def test_ctrl_c_during_preview_and_verify_changes_nothing(project, report, command, says):
    # No SET threads here, as elsewhere: a preview refuses SET (a rollback would not undo it).
    project.write(*python_migration(V2, "long", marked("INSERT INTO t VALUES (3)", LONG),
                                    'session.exec("DELETE FROM t WHERE id = 3")'))
    before = state(project.root)
    code, err = project.interrupt(command, "the statement starts", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: {says}")
    assert state(project.root) == before


def test_ctrl_c_in_a_transaction_false_migration_records_what_it_committed(project, report):
    project.write(f"{V2}_notx.sql", "-- migrate:up transaction:false\nCREATE TABLE a (x INTEGER);\n"
                                    f"INSERT INTO a VALUES (1);\n{SINGLE};\n{LONG};\n")
    code, err = project.interrupt("up", f"applying {V2} notx ... ", report)
    assert (code, last_line(err)) == (130, f"duckmig: interrupted: {V2} runs outside a transaction "
                                           "(transaction:false): what it committed before the interrupt stays, "
                                           "and it is recorded as failed")
    assert project.ledger() == [(V1, "applied"), (V2, "failed")]
    with duckdb.connect(str(project.root / "app.db")) as conn:
        assert conn.execute("SELECT x FROM a").fetchall() == [(1,)]
        error, statement = conn.execute(f"SELECT error, statement FROM {STATE} WHERE version = ?",
                                        [V2]).fetchone()
    assert (statement, error.splitlines()[0]) == (SINGLE, "interrupted (Ctrl-C) after this statement")
    status = project.duckmig("status").stdout
    assert f"{V2}  FAILED" in status and "transaction:false: the statements before this one were committed" \
        in status


def test_ctrl_c_in_a_notebook_is_one_line(tmp_path, shell, report):
    """The magics in a real IPython shell, interrupted by a real SIGINT to this process."""
    project = Project(tmp_path / "nb")
    project.write(*python_migration(V2, "long", marked("INSERT INTO t VALUES (3)", SINGLE, LONG)))
    assert project.duckmig("up", V1).returncode == 0
    before = state(project.root)
    started = threading.Event()

    class Marker:  # the migration's print to stderr is this process's now
        def write(self, text):
            if "the statement starts" in text:
                started.set()

        def flush(self):
            pass

    def interrupt():
        assert started.wait(60)
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGINT)

    shell.run_line_magic("migrate", f"connect {project.root / 'app.db'} --dir {project.root / 'migrations'}")
    sender = threading.Thread(target=interrupt)
    stderr, sys.stderr = sys.stderr, Marker()
    sender.start()
    faulthandler.dump_traceback_later(WAIT + 60, exit=True, file=stderr)  # an interrupt that never lands ends the run
    try:
        sent = time.monotonic()
        result = shell.run_cell("%migrate up")
        report(f"interrupts: `%migrate up` stopped {time.monotonic() - sent:.2f} s after it started")
    finally:
        faulthandler.cancel_dump_traceback_later()
        sys.stderr = stderr
        sender.join()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert str(result.error_in_exec) == f"interrupted: applying {V2} was rolled back: nothing of it remains"
    shell.run_line_magic("migrate", "connect :memory:")  # lets go of the file
    assert state(project.root) == before


# Ctrl-C at any instant of a command: during its start-up imports, parsing, opening the database,
# DuckDB's own statements outside any migration, and printing. Python's own start-up comes first
# (its site module, about 20-40 ms): a signal there ends the process as Python ends any, before a
# line of duckmig runs, and is told apart by its stderr holding nothing of duckmig.
INTERRUPTED = "duckmig: interrupted (`duckmig status` shows what is applied)\n"
PACKAGE = str(Path(duckmig_magic.__file__).parent)  # where duckmig's frames would be
PROGRESS_LINE = re.compile(r"\[\d+/\d+\] reverting \S+ \S+ \.\.\. (ok \(.*\)|interrupted)$")


def sigint_after(root, args: list[str], delay: float, signals: int = 1) -> tuple[int, str, str]:
    """Run `duckmig ARGS` and send it ``signals`` SIGINTs, 2 ms apart, ``delay`` seconds after it
    starts; its exit code, stdout and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "duckmig_magic", *args, "-d", "app.db", "--dir", "migrations"],
                            cwd=root, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    for _ in range(signals):
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        time.sleep(0.002)
    try:
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


def _timed(argv: list[str], cwd) -> float:
    """Seconds a run of ``argv`` takes, from its start to its end."""
    start = time.monotonic()
    subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, check=True, timeout=WAIT)
    return time.monotonic() - start


def pythons_own(code: int, err: str) -> bool:
    """The interrupt landed in Python's start-up, before duckmig's first line: Python's way of ending
    (killed by SIGINT, or its site module's traceback), with no line and no frame of duckmig."""
    return code in (-signal.SIGINT, 1) and f'File "{PACKAGE}{os.sep}' not in err and "duckmig:" not in err


def test_ctrl_c_at_any_instant_of_a_command_is_one_line_and_exit_code_130(project, report):
    before = state(project.root)
    seen = collections.Counter()
    # The instants spread over a whole run (the interpreter, the imports, the parser, DuckDB, the
    # output), as long as the shortest of three takes on this machine.
    whole = min(_timed([sys.executable, "-m", "duckmig_magic", "status", "-d", "app.db", "--dir", "migrations"],
                       project.root) for _ in range(3))
    for step in range(26):
        code, out, err = sigint_after(project.root, ["status"], step * whole / 25, signals=1 + step % 2)
        if code == 0 and not err:
            seen["finished first"] += 1
            assert f"{V1}  applied" in out
        elif pythons_own(code, err):
            seen["in Python's start-up"] += 1
        else:
            seen["told"] += 1
            assert (code, err) == (130, INTERRUPTED), f"after {step * whole / 25:.2f} s: exit code {code}\n{err}"
        assert state(project.root) == before
    report(f"interrupts: `duckmig status` at 26 instants: {dict(seen)}")
    assert seen["told"] >= 10, seen


def test_ctrl_c_during_down_base_is_one_line_and_the_ledger_stays_true(tmp_path, report):
    """`down base` over many migrations, interrupted at instants spread over its run: whatever the
    instant, the last line tells it, nothing else is said but progress, and each migration's table
    is there exactly when the ledger says it is applied."""
    project = Project(tmp_path)
    versions = [V1] + [f"20250201_{n:06d}" for n in range(1, 30)]
    for n, version in enumerate(versions[1:], 1):
        project.write(f"{version}_m{n}.sql", f"-- migrate:up\nCREATE TABLE m{n} (x INTEGER);\n"
                                             f"-- migrate:down\nDROP TABLE m{n};\n")
    files = {p.name: p.read_bytes() for p in (tmp_path / "migrations" / "versions").iterdir()}
    seen = collections.Counter()
    for step in range(10):
        migrator = Migrator(str(tmp_path / "app.db"), str(tmp_path / "migrations"))
        migrator.up()
        delay = 0.2 + step * 0.06
        code, _, err = sigint_after(tmp_path, ["down", "base"], delay)
        *progress, last = err.splitlines() or [""]
        assert "Traceback" not in err, err
        if pythons_own(code, err):
            seen["in Python's start-up"] += 1
        elif code == 0:
            seen["finished first"] += 1
        else:
            seen["told"] += 1
            assert code == 130 and last.startswith("duckmig: interrupted"), f"after {delay:.2f} s:\n{err}"
        assert all(PROGRESS_LINE.match(line) for line in progress), err
        applied = {v for v, s in project.ledger() if s == "applied"}
        with duckdb.connect(str(tmp_path / "app.db")) as conn:
            tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert tables - {"duckdb_migrations"} == {"t" if v == V1 else f"m{versions.index(v)}" for v in applied}
        assert {p.name: p.read_bytes() for p in (tmp_path / "migrations" / "versions").iterdir()} == files
    report(f"interrupts: `duckmig down base` at 10 instants: {dict(seen)}")
    assert seen["told"] >= 3, seen
