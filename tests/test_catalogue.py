"""A catalogue of bad input: what the user sees, and that nothing changed.

One table, one line a case: files, names, command arguments, settings,
magics and the database. Each case runs in a copy of one project (a SQL and a
Python migration applied, a SQL one pending), checks the exact error (its
class, the text that matters, the exit code; for magics IPython's UsageError),
and compares every file's bytes and every table's rows, the ledger's among
them, before and after.
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from duckmig_magic import Migrator, cli, errors
from duckmig_magic.engine import authoring
from duckmig_magic.engine.versions import ScriptDirectory

V1, V2, V3, V4 = "20250101_000001", "20250102_000002", "20250103_000003", "20250104_000004"
F1, F2, F3 = f"{V1}_create_items.sql", f"{V2}_add_price.py", f"{V3}_add_tags.sql"
BAD = f"{V4}_bad.sql"
BADPY = f"{V4}_bad.py"
UP = "up -d app.db --dir migrations"
FILES = {
    F1: "-- migrate:up\nCREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR);\n"
        "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');\n-- migrate:down\nDROP TABLE items;\n",
    F2: "from duckmig_magic import BaseMigration\n\n\nclass AddPrice(BaseMigration):\n"
        f"    def __init__(self):\n        super().__init__(version=\"{V2}\", description=\"Add price\")\n\n"
        "    def upgrade(self, session):\n"
        "        session.exec(\"ALTER TABLE items ADD COLUMN price DOUBLE DEFAULT 1.5\")\n\n"
        "    def downgrade(self, session):\n        session.exec(\"ALTER TABLE items DROP COLUMN price\")\n",
    F3: "-- migrate:up\nCREATE TABLE tags (name VARCHAR);\n-- migrate:down\nDROP TABLE tags;\n",
}


def python(body: str, version: str = V4, classes: str = "class Bad(BaseMigration):") -> str:
    return (f"from duckmig_magic import BaseMigration\n\n{classes}\n    def __init__(self):\n"
            f"        super().__init__(version=\"{version}\")\n\n    def upgrade(self, session):\n        {body}\n")


BIG = "-- migrate:up\nINSERT INTO items (id, name) SELECT range + 10, 'x' FROM range(200000);\n"  # written at COMMIT
HUGE = "-- migrate:up\nCREATE TABLE huge AS SELECT hash(range) AS h FROM range(2000000);\n"  # written as it runs


@dataclass
class Case:
    name: str
    run: str  # `duckmig ARGS` (run in the project folder), or a magic's cell when it starts with %
    error: type
    says: str  # text of the message; {pid} is the holder's pid when the database is held
    code: int = 2  # the command's exit code
    files: dict = field(default_factory=dict)  # version files to write (str or bytes)
    sql: str = ""  # run on the database first
    pyproject: str | None = None
    api: Callable | None = None  # instead of `run`: a call with the project folder
    hold: bool = False  # another process holds the database open
    immutable: bool = False  # the database file cannot be written, even by root
    disk: bool = False  # the database lives on a tmpfs with no room left for the change
    connect: bool = True  # magics: `%migrate connect app.db` first
    failure_recorded: str | None = None  # a migration that failed: its ledger row may say so


def up_in_open_transaction(root: Path):
    conn = duckdb.connect(str(root / "app.db"))
    conn.execute("BEGIN TRANSACTION")
    try:
        Migrator(conn, str(root / "migrations")).up()
    finally:
        conn.close()


def save(root: Path, slug: str, body: str = "-- migrate:up\nSELECT 1;\n"):
    authoring.save(ScriptDirectory(root / "migrations"), slug, body)


C = Case
CASES = [
    # -- files -------------------------------------------------------------------------------------------------
    C("sql without up marker", UP, errors.NoUpMarker, f"{BAD}: a SQL migration needs a `-- migrate:up` line", files={BAD: "CREATE TABLE x (id INTEGER);\n"}),
    C("up marker twice", UP, errors.DuplicateMarker, f"{BAD}:3: `-- migrate:up` appears twice (lines 1 and 3)", files={BAD: "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"}),
    C("down before up", UP, errors.MarkerOrder, f"{BAD}:1: `-- migrate:down` must come after `-- migrate:up`", files={BAD: "-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"}),
    C("statement before up", UP, errors.StatementsBeforeUp, f"{BAD}:2: only comments may stand before", files={BAD: "-- fine\nSELECT 0;\n-- migrate:up\nSELECT 1;\n"}),
    C("unknown option", UP, errors.UnknownOption, f"{BAD}:1: unknown option `transaction:maybe`", files={BAD: "-- migrate:up transaction:maybe\nSELECT 1;\n"}),
    C("unknown marker", UP, errors.UnknownMarker, f"{BAD}:3: unknown marker `-- migrate:sideways`", files={BAD: "-- migrate:up\nSELECT 1;\n-- migrate:sideways\n"}),
    C("empty up section", UP, errors.EmptyUp, f"{BAD}:1: the `-- migrate:up` section has no statement", files={BAD: "-- migrate:up\n-- nothing\n-- migrate:down\nSELECT 1;\n"}),
    C("sql syntax error", UP, errors.SqlSyntaxError, f"{BAD}:3: Parser Error: syntax error at or near \"TABEL\"", files={BAD: "-- migrate:up\nSELECT 1;\nCREATE TABEL x (id INTEGER);\n"}),
    C("not utf-8", UP, errors.NotUtf8, f"{BAD}:2: the file is not UTF-8 text", files={BAD: b"-- migrate:up\nSELECT '\xff';\n"}),
    C("python syntax error", UP, errors.PythonSyntaxError, f"{BADPY}:8: Python syntax error: '(' was never closed", files={BADPY: python("session.exec(")}),
    C("python import fails", UP, errors.PythonImportFailed, "No module named 'no_such_module'", files={BADPY: "import no_such_module\n" + python("pass")}),
    C("python without class", UP, errors.NoMigrationClass, f"{BADPY}: a Python migration defines exactly one BaseMigration subclass; this file defines no", files={BADPY: "x = 1\n"}),
    C("python with two classes", UP, errors.SeveralMigrationClasses, "this file defines 2 (A, B)", files={BADPY: python("pass", classes="class A(BaseMigration):\n    pass\n\n\nclass B(BaseMigration):")}),
    C("python version mismatch", UP, errors.VersionMismatch, f"has version '{V1}' but the file name says {V4}", files={BADPY: python("pass", version=V1)}),
    C("two files, one version", UP, errors.DuplicateVersion, f"version {V4} is used by 2 files: {BADPY}, {BAD}", files={BAD: FILES[F3], BADPY: python("pass")}),
    C("applied file edited", UP, errors.DriftError, f"applied migrations differ from their files: {V1} (modified)", code=3, files={F1: FILES[F1] + "-- edited\n"}),
    C("migration fails at runtime", UP, errors.MigrationFailed, f"applying {V3} failed: Catalog Error: Table with name nope does not exist!", code=1, files={F3: "-- migrate:up\nCREATE TABLE tags (name VARCHAR);\nINSERT INTO nope VALUES (1);\n"}, failure_recorded=V3),
    # -- names and command arguments ------------------------------------------------------------------------------
    C("up to a non-version", "up '../../etc/passwd' -d app.db --dir migrations", errors.NotAVersion, "'../../etc/passwd' is not a version: versions look like 20250710_000001"),
    C("up to an unknown version", "up 20990101_000000 -d app.db --dir migrations", errors.UnknownVersion, "no migration 20990101_000000 in the migrations directory or the ledger"),
    C("down to a pending version", f"down {V3} -d app.db --dir migrations", errors.UnknownVersion, f"no migration {V3} among the applied migrations"),
    C("stamp an injection", "stamp \"1'; DROP TABLE items; --\" -d app.db --dir migrations", errors.NotAVersion, "\"1'; DROP TABLE items; --\" is not a version"),
    C("down --steps 0", "down --steps 0 -d app.db --dir migrations", errors.BadSteps, "--steps must be 1 or more, not 0"),
    C("target and steps", f"down {V1} --steps 1 -d app.db --dir migrations", errors.TargetAndSteps, "give a target version or --steps, not both"),
    C("unknown command", "frobnicate -d app.db", errors.BadArguments, "argument COMMAND: invalid choice: 'frobnicate' (choose from 'init', 'new', 'up'"),
    C("unknown flag", UP + " --frobnicate", errors.BadArguments, "unrecognized arguments: --frobnicate"),
    C("wait not a number", UP + " --wait soon", errors.BadArguments, "argument --wait: invalid float value: 'soon'"),
    C("steps not a number", "down --steps x -d app.db --dir migrations", errors.BadArguments, "argument --steps: invalid int value: 'x'"),
    C("no database given", "up --dir migrations", errors.NoDatabaseGiven, "no database given"),
    C("database in a missing folder", "up -d nowhere/app.db --dir migrations", errors.NoDatabaseFolder, "cannot open database nowhere/app.db: folder nowhere does not exist"),
    C("missing migrations directory", "up -d app.db --dir nowhere", errors.NoDirectory, "migrations directory nowhere does not exist"),
    C("database is a folder", "up -d migrations --dir migrations", errors.DatabaseUnavailable, "cannot open database migrations: IO Error"),
    C("database is not duckdb", "up -d pyproject.toml --dir migrations", errors.DatabaseUnavailable, "exists, but it is not a valid DuckDB database file!", pyproject="[project]\nname = 'x'\n"),
    C("slug with a path", "", authoring.BadSlug, "'../evil' is not a slug: use lower-case letters, digits and _ (for example 'evil')", api=lambda root: save(root, "../evil")),
    C("empty slug", "", authoring.BadSlug, "'' is not a slug", api=lambda root: save(root, "")),
    C("user's transaction open", "", errors.TransactionOpen, "the connection has a transaction open; duckmig will not commit it for you", api=up_in_open_transaction),
    # -- settings ----------------------------------------------------------------------------------------------------
    C("unknown setting", UP, errors.UnknownSettings, "unknown setting in [tool.duckmig]: databse", pyproject="[tool.duckmig]\ndatabse = 'app.db'\n"),
    C("bad toml", UP, errors.SettingsNotToml, "pyproject.toml: not valid TOML: ", pyproject="[tool.duckmig\n"),
    C("setting not a string", UP, errors.SettingNotAString, "[tool.duckmig] database must be a string, not 5", pyproject="[tool.duckmig]\ndatabase = 5\n"),
    C("section not a table", UP, errors.SettingsNotATable, "[tool.duckmig] must be a table", pyproject="[tool]\nduckmig = 'app.db'\n"),
    C("pyproject not utf-8", UP, errors.SettingsNotToml, "not valid TOML: 'utf-8' codec can't decode byte 0xff", pyproject=b"[tool.duckmig]\n# \xff\n"),
    # -- the database -----------------------------------------------------------------------------------------------
    C("ledger of another layout", UP + " --table other", errors.WrongLedgerLayout, "table other exists but is not a duckmig ledger (columns: a, b)", sql="CREATE TABLE other (a INTEGER, b VARCHAR)"),
    C("ledger without history", UP, errors.WrongLedgerLayout, "table duckdb_migrations exists but is not a duckmig ledger", sql="DROP TABLE duckdb_migrations_history"),
    C("ledger checksum differs", UP, errors.DriftError, f"applied migrations differ from their files: {V2} (modified)", code=3, sql=f"UPDATE duckdb_migrations SET checksum = 'x' WHERE version = '{V2}'"),
    C("ledger row without file", UP, errors.DriftError, "applied migrations differ from their files: 20250101_000000 (missing)", code=3, sql="INSERT INTO duckdb_migrations (version, status, checksum) VALUES ('20250101_000000', 'applied', 'x')"),
    C("database held by another process", UP, errors.DatabaseLocked, "database app.db is locked by process {pid} (", hold=True),
    C("database file read-only", UP, errors.DatabaseUnavailable, "cannot open database app.db: IO Error: Cannot open file", immutable=True),
    C("disk full at commit", "up -d full/app.db --dir migrations", errors.CommitFailed, f"DuckDB could not commit {V3}: ", code=1, files={F3: BIG}, disk=True),
    C("disk full in a statement", "up -d full/app.db --dir migrations", errors.MigrationFailed, f"applying {V3} failed: IO Error: Could not write file", code=1, files={F3: HUGE}, disk=True),
    # -- magics ------------------------------------------------------------------------------------------------------
    C("magic: unknown verb", "%migrate frobnicate", UsageError, "%migrate: unknown verb 'frobnicate'"),
    C("magic: slug with a path", "%%migration ../evil\n-- migrate:up\nSELECT 1;", UsageError, "'../evil' is not a slug"),
    C("magic: connect to nothing", "%migrate connect nosuchthing", UsageError, "nosuchthing is neither a variable nor an existing database file"),
    C("magic: not connected", "%migrate up", UsageError, "no database to migrate: nothing is connected", connect=False),
    C("magic: bad cell", "%%migration fine\nCREATE TABLE x (id INTEGER);", UsageError, "%%migration fine: a SQL migration needs a `-- migrate:up` line"),
    C("magic: steps not a number", "%migrate down --steps x", UsageError, "%migrate down: argument --steps: invalid int value: 'x'"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The project every case starts from: F1 and F2 applied, F3 pending."""
    root = tmp_path_factory.mktemp("template")
    (root / "migrations" / "versions").mkdir(parents=True)
    for name, text in FILES.items():
        (root / "migrations" / "versions" / name).write_text(text)
    Migrator(str(root / "app.db"), str(root / "migrations")).up(V2)
    return root


def table_rows(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as conn:
        found = conn.execute("SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY ALL").fetchall()
        found += conn.execute("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal "
                              "ORDER BY ALL").fetchall()
        return {(schema, name): (sql, sorted(map(repr, conn.execute(
            f'SELECT * FROM "{schema}"."{name}"').fetchall()))) for schema, name, sql in found}


def state(root: Path) -> dict:
    """Every file's bytes; for each DuckDB database, every table's and view's definition and rows."""
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".wal"):
            continue
        key = str(path.relative_to(root))
        try:
            out[key] = table_rows(path) if path.suffix == ".db" else path.read_bytes()
        except duckdb.Error:
            out[key] = path.read_bytes()
    return out


def without_failure(before: dict, after: dict, version: str) -> dict:
    """``after`` with the ledger's record of ``version``'s failure taken out, checking it is one:
    its row, and a 'failed' event for each of the case's two runs."""
    for table, runs in (("duckdb_migrations", 1), ("duckdb_migrations_history", 2)):
        key = ("main", table)
        sql, rows = after["app.db"][key]
        new = [r for r in rows if r not in before["app.db"][key][1]]
        assert len(new) == runs and all(f"'{version}'" in r and "'failed'" in r for r in new), new
        after["app.db"][key] = (sql, [r for r in rows if r not in new])
    return after


@pytest.fixture
def case_root(tmp_path, template, request, monkeypatch):
    case: Case = request.param
    root = tmp_path / "project"
    shutil.copytree(template, root)
    for name, text in case.files.items():
        path = root / "migrations" / "versions" / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    if case.pyproject is not None:
        target = root / "pyproject.toml"
        target.write_bytes(case.pyproject) if isinstance(case.pyproject, bytes) else target.write_text(case.pyproject)
    if case.sql:
        with duckdb.connect(str(root / "app.db")) as conn:
            conn.execute(case.sql)
    monkeypatch.chdir(root)
    for name in ("DUCKMIG_DATABASE", "DUCKMIG_DIR", "DUCKMIG_TABLE"):
        monkeypatch.delenv(name, raising=False)
    cleanups = []
    if case.disk:
        (root / "full").mkdir()
        size = (root / "app.db").stat().st_size + 64 * 1024
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root / "full")],
                                 capture_output=True)
        if mounted.returncode:
            pytest.skip(f"a full disk is simulated with a tmpfs, and mounting one needs root: {mounted.stderr!r}")
        cleanups.append(lambda: subprocess.run(["umount", str(root / "full")], check=True))
        shutil.copy(root / "app.db", root / "full" / "app.db")
    if case.immutable:
        # Root ignores file modes; the immutable attribute stops even root from writing.
        marked = subprocess.run(["chattr", "+i", str(root / "app.db")], capture_output=True)
        if marked.returncode:
            pytest.skip(f"a read-only database is made with chattr +i, which this file system refuses: "
                        f"{marked.stderr!r}")
        cleanups.append(lambda: subprocess.run(["chattr", "-i", str(root / "app.db")], check=True))
    yield root
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.mark.parametrize("case_root", CASES, ids=[c.name for c in CASES], indirect=True)
def test_bad_input(case_root, request, capsys):
    case: Case = request.node.callspec.params["case_root"]
    root = case_root
    before = state(root)
    holder = None
    if case.hold:
        holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys\nc = duckdb.connect('app.db')\n"
                                   "print('ready', flush=True)\nsys.stdin.read()"], cwd=root, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout.readline() == "ready\n"
    try:
        says = case.says.format(pid=holder.pid if holder else None)
        if case.api is not None:
            with pytest.raises(case.error) as raised:
                case.api(root)
            assert type(raised.value) is case.error and says in str(raised.value)
        elif case.run.startswith("%"):
            check_magic(case, says, capsys)
        else:
            check_command(case, says, capsys)
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(10)
    after = state(root)
    if case.failure_recorded:
        after = without_failure(before, after, case.failure_recorded)
    assert after == before, "bad input changed nothing"


def check_command(case: Case, says: str, capsys):
    argv = shlex.split(case.run)
    # The exception itself, to know its class: the command's own dispatch, as main() runs it.
    with pytest.raises(errors.DuckmigError) as raised:
        cli.run(cli.build_parser().parse_args(argv), io.StringIO())
    exc = raised.value
    assert type(exc) is case.error and says in str(exc)
    assert exc.exit_code == case.code
    # What the user sees: main() prints one message and exits with the code; no traceback.
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (case.code, "")
    progress, _, message = err.rpartition("duckmig: error: ")
    assert message == f"{exc.render(cli.WORDS)}\n"
    assert all(line.startswith("[") for line in progress.splitlines()), progress


def check_magic(case: Case, says: str, capsys):
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "duckmig_magic")
        if case.connect:
            shell.run_line_magic("migrate", "connect app.db --dir migrations")
        capsys.readouterr()
        result = shell.run_cell(case.run)
        out, err = capsys.readouterr()
    finally:
        InteractiveShell.clear_instance()
    assert type(result.error_in_exec) is case.error and says in str(result.error_in_exec)
    assert (out, err) == ("", f"UsageError: {result.error_in_exec}\n")
