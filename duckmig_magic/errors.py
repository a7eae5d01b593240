"""Errors a user can cause, each named for its condition.

Every error carries the data that describes it (file, line, version, ...) and
renders as one message: what is wrong, where, and what to do. The CLI prints
``str(error)`` and exits with ``error.exit_code``; the magics raise it as a
``UsageError``. Exit codes: 1 a migration failed, 2 usage or configuration,
3 drift or a failed verification.
"""

from __future__ import annotations

from pathlib import Path


class DuckmigError(Exception):
    """Base of every error duckmig reports to a user."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


# -- configuration and usage ------------------------------------------------


class ConfigError(DuckmigError):
    """Settings, flags or paths that cannot work."""


class NoDatabaseGiven(ConfigError):
    def __init__(self):
        super().__init__(
            "no database given",
            "pass --database PATH, set DUCKMIG_DATABASE, or add database = \"...\" under [tool.duckmig] "
            "in pyproject.toml",
        )


class BadSettings(ConfigError):
    """``[tool.duckmig]`` in a pyproject.toml that cannot be used."""

    def __init__(self, path: Path, detail: str, hint: str | None = None):
        self.path, self.detail = Path(path), detail
        super().__init__(f"{path}: {detail}", hint or f"fix [tool.duckmig] in {path}")


class NotAVersion(ConfigError):
    def __init__(self, text: str):
        self.text = text
        super().__init__(f"{text!r} is not a version: versions look like 20250710_000001",
                         "`duckmig status` lists the versions")


class TargetAndSteps(ConfigError):
    def __init__(self):
        super().__init__("give a target version or --steps, not both",
                         "`down VERSION` keeps VERSION and reverts the newer ones; `down --steps N` reverts N")


class BadSteps(ConfigError):
    def __init__(self, steps: int):
        self.steps = steps
        super().__init__(f"--steps must be 1 or more, not {steps}", "`down` alone reverts the newest migration")


class NoDirectory(ConfigError):
    def __init__(self, path: Path):
        self.path = path
        super().__init__(
            f"migrations directory {path} does not exist",
            "create it with `duckmig init`, or point --dir (DUCKMIG_DIR) at the folder that holds versions/",
        )


class NoDatabaseFolder(ConfigError):
    def __init__(self, path: Path):
        self.path = path
        super().__init__(
            f"cannot open database {path}: folder {path.parent} does not exist",
            "create the folder first, or fix --database (DUCKMIG_DATABASE)",
        )


class DatabaseLocked(ConfigError):
    def __init__(self, database: str, pid: int | None, holder: str | None):
        self.database, self.pid, self.holder = database, pid, holder
        who = f"process {pid} ({holder})" if pid else "another process"
        super().__init__(
            f"database {database} is locked by {who}: DuckDB lets one process write a file",
            "close that process's connection (in a notebook: restart its kernel, or hand the open "
            "connection to duckmig with `%migrate connect VARIABLE`), or retry with --wait SECONDS",
        )


class DatabaseUnavailable(ConfigError):
    def __init__(self, database: str, reason: str):
        self.database, self.reason = database, reason
        super().__init__(f"cannot open database {database}: {reason}",
                         "point --database (DUCKMIG_DATABASE) at a DuckDB database file, a path for a new "
                         "one, or :memory:")


class TransactionOpen(ConfigError):
    def __init__(self):
        super().__init__(
            "the connection has a transaction open; duckmig will not commit it for you",
            "finish it with COMMIT or ROLLBACK on that connection, then run the migration again",
        )


class NotConnected(ConfigError):
    def __init__(self):
        super().__init__(
            "no database to migrate: nothing is connected and no database is set",
            "run `%migrate connect TARGET` with a database file, :memory:, or the name of a variable "
            "holding a duckdb connection; or set database = \"...\" under [tool.duckmig] in pyproject.toml",
        )


class NotAConnection(ConfigError):
    def __init__(self, name: str, value):
        self.name, self.type = name, type(value).__name__
        super().__init__(
            f"variable {name} holds a {self.type}, not a duckdb connection",
            f"assign {name} = duckdb.connect(...) first, or give the database's path instead",
        )


class UnknownTarget(ConfigError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"{name} is neither a variable nor an existing database file",
            f"for a connection, assign it to a variable first; for a new database file, give it an "
            f"extension (for example {name}.duckdb)",
        )


class UnknownVersion(DuckmigError):
    def __init__(self, version: str, where: str = "in the migrations directory or the ledger"):
        self.version = version
        super().__init__(
            f"no migration {version} {where}",
            "`duckmig status` lists the versions",
        )


class NothingToRevert(DuckmigError):
    def __init__(self):
        super().__init__("nothing to revert: no migration is applied", "`duckmig status` shows the state")


class WrongLedgerLayout(ConfigError):
    def __init__(self, table: str, columns: list[str]):
        self.table, self.columns = table, columns
        super().__init__(
            f"table {table} exists but is not a duckmig ledger (columns: {', '.join(columns)})",
            "rename that table, or choose another ledger table with --table",
        )


class LedgerTampered(ConfigError):
    """A ledger that is not as duckmig wrote it; nothing was changed."""

    def __init__(self, table: str, detail: str, hint: str):
        self.table, self.detail = table, detail
        super().__init__(f"ledger {table} {detail}", hint)


class LedgerWithoutKey(LedgerTampered):
    def __init__(self, table: str):
        super().__init__(table, "has lost its primary key on version, so a version could be recorded twice",
                         f"restore it: ALTER TABLE {table} ADD PRIMARY KEY (version); remove duplicate "
                         "versions first if that is refused")


class LedgerExtraColumn(LedgerTampered):
    def __init__(self, table: str, columns: list[str]):
        self.columns = columns
        super().__init__(table, f"has NOT NULL column{'s' * (len(columns) != 1)} that duckmig does not write: "
                         f"{', '.join(columns)}",
                         f"give {'them' if len(columns) != 1 else 'it'} a DEFAULT, or drop the NOT NULL "
                         f"(ALTER TABLE {table} ALTER COLUMN {columns[0]} DROP NOT NULL)")


class LegacyLedgerDuplicates(LedgerTampered):
    def __init__(self, table: str, versions: list[str]):
        self.versions = versions
        super().__init__(table, f"(the seed's layout) records version{'s' * (len(versions) != 1)} "
                         f"{', '.join(versions)} more than once, so it cannot be adopted",
                         f"keep one row per version in {table}, then run the command again")


class LegacyLedgerNullVersion(LedgerTampered):
    def __init__(self, table: str, count: int):
        self.count = count
        super().__init__(table, f"(the seed's layout) has {count} row{'s' * (count != 1)} without a version",
                         f"delete them (DELETE FROM {table} WHERE version IS NULL) or give them their "
                         "versions, then run the command again")


class UnknownLedgerStatus(LedgerTampered):
    STATUSES = ("applied", "failed")

    def __init__(self, table: str, found: dict[str, list[str]]):
        self.found = found  # status -> versions
        listing = "; ".join(f"{status!r} ({', '.join(versions[:3])}{', ...' if len(versions) > 3 else ''})"
                            for status, versions in found.items())
        super().__init__(table, f"has rows whose status duckmig does not know: {listing}; the statuses are "
                         f"{' and '.join(map(repr, self.STATUSES))}",
                         "set each to what the migration's state is (UPDATE ... SET status = 'applied'), "
                         "or `duckmig stamp` the versions again after deleting those rows")


class ConnectionBusy(ConfigError):
    def __init__(self):
        super().__init__(
            "the connection is in use by another thread at the same time, and duckmig needs it alone while it "
            "runs: what was running then was rolled back",
            "wait until the other thread is done, or give duckmig a connection of its own (con.cursor())",
        )


# -- migration files ----------------------------------------------------------


class MigrationFileError(DuckmigError):
    """A version file that cannot be used; names the file and, where known, the line."""

    rule = "the file is not a valid migration"

    def __init__(self, path: Path | str, detail: str | None = None, line: int | None = None,
                 hint: str | None = None):
        self.path, self.line, self.detail = Path(path), line, detail
        where = f"{path}:{line}" if line else f"{path}"
        super().__init__(f"{where}: {detail or self.rule}", hint)


class NoUpMarker(MigrationFileError):
    rule = "a SQL migration needs a `-- migrate:up` line"

    def __init__(self, path, line=None):
        super().__init__(path, self.rule, line,
                         "start the file with `-- migrate:up`, and put the revert under `-- migrate:down`")


class DuplicateMarker(MigrationFileError):
    rule = "each of `-- migrate:up` and `-- migrate:down` may appear once"


class MarkerOrder(MigrationFileError):
    rule = "`-- migrate:down` must come after `-- migrate:up`"


class UnknownMarker(MigrationFileError):
    rule = "the markers are `-- migrate:up` and `-- migrate:down`"


class StatementsBeforeUp(MigrationFileError):
    rule = "only comments may stand before `-- migrate:up`"


class UnknownOption(MigrationFileError):
    rule = "the only marker option is transaction:true or transaction:false"


class DownOutsideTransaction(MigrationFileError):
    rule = ("transaction:false is for `-- migrate:up` only: a downgrade runs in a transaction "
            "together with the removal of its ledger row")

    def __init__(self, path, line=None):
        super().__init__(path, self.rule, line, "remove transaction:false from the `-- migrate:down` line")


class EmptyUp(MigrationFileError):
    rule = "the `-- migrate:up` section has no statement"


class SqlSyntaxError(MigrationFileError):
    rule = "SQL does not parse"


class TransactionControl(MigrationFileError):
    rule = ("transaction control (BEGIN, COMMIT, ROLLBACK, ABORT, END) is refused in a migration that runs in "
            "a transaction: duckmig owns it and commits it together with the ledger row")

    def __init__(self, path, statement: str, line=None):
        self.statement = statement
        super().__init__(path, f"`{_one_line(statement, 60)}`: {self.rule}", line,
                         "remove it: the migration commits as a whole, or not at all (a SQL section that must "
                         "control its own transactions can be marked `-- migrate:up transaction:false`)")


class LedgerTouched(MigrationFileError):
    rule = "a migration may read the ledger tables but not change them"

    def __init__(self, path, statement: str, table: str, line=None):
        self.statement, self.table = statement, table
        super().__init__(path, f"`{_one_line(statement, 60)}` changes the ledger table {table}: {self.rule}",
                         line, "leave the ledger to duckmig: `duckmig repair`, `stamp` and `down` change it")


class NotUtf8(MigrationFileError):
    rule = "the file is not UTF-8 text"


class BadPythonMigration(MigrationFileError):
    rule = "the Python migration cannot be loaded"


class PythonSyntaxError(BadPythonMigration):
    rule = "the Python file does not compile"


class PythonImportFailed(BadPythonMigration):
    rule = "the Python file raised while it was imported"


class NoMigrationClass(BadPythonMigration):
    rule = "the Python file defines no BaseMigration subclass"


class SeveralMigrationClasses(BadPythonMigration):
    rule = "the Python file defines more than one BaseMigration subclass"


class MigrationInitFailed(BadPythonMigration):
    rule = "the migration class's constructor raised"


class VersionMismatch(MigrationFileError):
    rule = "the class's version differs from its file name"


class DuplicateVersion(MigrationFileError):
    def __init__(self, version: str, paths: list[Path]):
        self.version, self.paths = version, paths
        super().__init__(
            paths[0],
            f"version {version} is used by {len(paths)} files: {', '.join(p.name for p in paths)}",
            hint="give one of them a new version (rename it, or recreate it with `duckmig new`)",
        )


class VersionTaken(ConfigError):
    """A new migration asked for a version another file already has."""

    def __init__(self, version: str, path: Path, where: str | None = None):
        self.version, self.path = version, Path(path)
        super().__init__(f"{where + ': ' if where else ''}version {version} is taken by {self.path.name}",
                         "drop --version to take the next free one, or give a version no file has")


class SlugHasOtherVersion(ConfigError):
    """``--version`` names another version than the file that already holds the slug."""

    def __init__(self, slug: str, version: str, path: Path, where: str | None = None):
        self.slug, self.version, self.path = slug, version, Path(path)
        super().__init__(f"{where + ': ' if where else ''}--version {version}, but slug {slug!r} "
                         f"is {self.path.name}",
                         "drop --version (the slug finds its file), or use a new slug for a new migration")


# -- notebooks -----------------------------------------------------------------


class NotebookError(ConfigError):
    """A notebook file that cannot be read or exported; nothing was written."""


class NotebookNotFound(NotebookError):
    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(f"notebook {path} does not exist", "check the path (relative to the current folder)")


class NotANotebook(NotebookError):
    def __init__(self, path: Path, detail: str):
        self.path, self.detail = Path(path), detail
        super().__init__(f"{path} is not a Jupyter notebook: {detail}",
                         "give the .ipynb file that holds the migration cells")


class NotebookJsonError(NotebookError):
    """Truncated or otherwise invalid JSON, with where it breaks."""

    def __init__(self, path: Path, line: int, column: int, detail: str):
        self.path, self.line, self.column, self.detail = Path(path), line, column, detail
        super().__init__(f"{path}:{line}:{column}: the notebook is not valid JSON ({detail})",
                         "the file is truncated or was edited by hand: restore it from version control, "
                         "or open it in Jupyter and save it again")


class UnsupportedNotebookFormat(NotebookError):
    def __init__(self, path: Path, version):
        self.path, self.version = Path(path), version
        hint = ("upgrade nbformat (`pip install -U nbformat`) to read it" if isinstance(version, int) and version > 4
                else "open it in Jupyter and save it, which writes the current format (4)")
        super().__init__(f"{path} is a notebook of nbformat {version}, which cannot be read here "
                         "(formats 2 to 4 can)", hint)


class NothingToExport(NotebookError):
    def __init__(self, path: Path, cells: int):
        self.path, self.cells = Path(path), cells
        what = "has no cells" if not cells else f"has no %%migration cell among its {cells} cells"
        super().__init__(f"{path} {what}: nothing to export",
                         "a migration cell starts with `%%migration SLUG` on its first line")


class BadMigrationLine(NotebookError):
    """A ``%%migration`` line that the magic would refuse too."""

    def __init__(self, path: Path, index: int, line: str, detail: str):
        self.path, self.index, self.line, self.detail = Path(path), index, line, detail
        super().__init__(f"{path} cell {index}: {detail}\n  line: {line}",
                         "fix the cell's first line; `%%migration?` in a notebook shows its arguments")


class DuplicateSlugInNotebook(NotebookError):
    def __init__(self, path: Path, slug: str, indexes: list[int]):
        self.path, self.slug, self.indexes = Path(path), slug, indexes
        cells = " and ".join(str(i) for i in indexes)
        super().__init__(f"{path}: cells {cells} both write migration {slug!r}",
                         "each migration is one cell: rename the slug of one of them, or delete one")


class DuplicateVersionInNotebook(NotebookError):
    def __init__(self, path: Path, version: str, indexes: list[int]):
        self.path, self.version, self.indexes = Path(path), version, indexes
        cells = " and ".join(str(i) for i in indexes)
        super().__init__(f"{path}: cells {cells} both ask for --version {version}",
                         "drop --version from the newer cell: it then takes the next free version")


class NoNotebookPath(ConfigError):
    def __init__(self):
        super().__init__("the file of this notebook is not known to the kernel",
                         "give it: `%migrate export NOTEBOOK.ipynb` (the file as last saved is exported)")


class NotebookExists(ConfigError):
    def __init__(self, path: Path):
        self.path = Path(path)
        super().__init__(f"{path} exists already; it was left as it was",
                         "choose another file with -o, or pass --force to replace it")


# -- running -------------------------------------------------------------------


class MigrationFailed(DuckmigError):
    """A migration raised while running; its transaction was rolled back."""

    exit_code = 1

    def __init__(self, version: str, statement: str | None, error: str, direction: str = "up",
                 partial: bool = False, group: int | None = None, where: str | None = None,
                 fate: str | None = None):
        self.version, self.statement, self.error = version, statement, error
        self.direction, self.partial, self.group, self.where = direction, partial, group, where
        verb = "applying" if direction == "up" else "reverting"
        stmt = f"\n  statement: {_one_line(statement)}" if statement else ""
        at = f"\n  at: {where}" if where else ""
        fate = fate or ("it ran outside a transaction: the statements before this one were committed"
                        if partial else "rolled back: nothing of it remains")
        if group:
            fate = (f"rolled back with the {group} migration{'s' * (group != 1)} before it in the "
                    "single transaction: nothing of the run remains")
        super().__init__(
            f"{verb} {version} failed: {error.strip()}{stmt}{at}\n  {fate}",
            refusal_hint(error) or ("fix the migration and run it again" if direction == "up"
                                    else "fix the downgrade in the file, store it with `duckmig repair`, "
                                         "and revert again"),
        )


class TransactionLost(MigrationFailed):
    """The migration's transaction ended before duckmig committed it: not through duckmig, so what
    became of the statements before is not known, and not guessed."""

    def __init__(self, version: str, statement: str | None, error: str, direction: str = "up"):
        super().__init__(version, statement, error, direction,
                         fate="duckmig cannot tell what of it was committed: check the database before "
                              "running it again")
        self.hint = ("run a migration's statements through its session only, and keep other threads off "
                     "the connection while duckmig runs")


class Interrupted(DuckmigError):
    """Ctrl-C (SIGINT) while migrations ran; ``what`` says what became of them, on one line."""

    exit_code = 130

    def __init__(self, what: str, version: str | None = None, done: int = 0):
        self.what, self.version, self.done = what, version, done
        super().__init__(f"interrupted: {what}")


class NotTransactional(ConfigError):
    def __init__(self, versions: list[str]):
        self.versions = versions
        super().__init__(
            f"cannot apply in a single transaction: {', '.join(versions)} "
            f"{'runs' if len(versions) == 1 else 'run'} outside one (transaction:false)",
            "apply without --single-transaction, or up to the version before it first")


class CommitFailed(DuckmigError):
    """DuckDB refused a COMMIT (a write conflict, a full disk, a file it may not write); it rolled back."""

    exit_code = 1

    def __init__(self, reason: str, version: str | None = None):
        self.reason, self.version = reason, version
        super().__init__(
            f"DuckDB could not commit {version or 'the change'}: {reason}\n  rolled back: nothing of it remains",
            refusal_hint(reason) or "DuckDB's message above says why; run it again once that is resolved",
        )


class IrreversibleMigration(DuckmigError):
    def __init__(self, version: str):
        self.version = version
        super().__init__(
            f"{version} has no downgrade, so it cannot be reverted",
            "write a `-- migrate:down` section (then `duckmig repair` to store it), "
            "or drop the change by hand and `duckmig stamp` the version before it",
        )


class PreviewNotPossible(DuckmigError):
    def __init__(self, version: str, reason: str, hint: str | None = None):
        self.version, self.reason = version, reason
        super().__init__(f"cannot preview {version}: {reason}", hint)


class PreviewFailed(DuckmigError):
    """A preview asked for before applying shows a migration failing; nothing was applied."""

    exit_code = 1

    def __init__(self, failed: MigrationFailed):
        self.failed = failed
        stmt = f"\n  statement: {_one_line(failed.statement)}" if failed.statement else ""
        error = failed.error.strip().splitlines()[0] if failed.error.strip() else "it raised"
        super().__init__(f"nothing was applied: in the preview, {failed.version} fails: {error}{stmt}",
                         "fix the migration and run it again")


class BadSampleSize(ConfigError):
    def __init__(self, sample):
        self.sample = sample
        super().__init__(f"the sample size must be a whole number of 1 or more, not {sample!r}",
                         "a sample of 20 shows up to 20 changed rows a table")


class UnknownKeyTable(ConfigError):
    def __init__(self, table: str, tables: list[str]):
        self.table, self.tables = table, tables
        super().__init__(f"a key is given for table {table}, which is in the database neither before "
                         "nor after the migration", f"its tables: {', '.join(tables) or 'none'}")


class UnknownKeyColumn(ConfigError):
    def __init__(self, table: str, column: str, columns: list[str], missing: str | None = None):
        self.table, self.column, self.columns, self.missing = table, column, columns, missing
        what = (f"key column {column} of table {table} does not exist {missing} the migration; "
                "a key must be there before and after" if missing else f"table {table} has no column {column}")
        super().__init__(what, f"key columns to choose from: {', '.join(columns) or 'none'}")


class NoKeyColumns(ConfigError):
    def __init__(self, table: str):
        self.table = table
        super().__init__(f"the key given for table {table!r} names no column",
                         "name the columns that identify a row, for example {'events': ['day', 'seq']}")


class DuplicateKey(ConfigError):
    def __init__(self, table: str, key: list[str], value: tuple, count: int, side: str):
        self.table, self.key, self.value, self.count, self.side = table, key, value, count, side
        shown = value[0] if len(value) == 1 else value
        super().__init__(f"key ({', '.join(key)}) of table {table} is not unique {side} the migration: "
                         f"{shown!r} is in {count} rows",
                         f"name columns that identify one row as the key of {table}, "
                         "or give no key to compare whole rows")


class NotInPreview(DuckmigError):
    def __init__(self, table: str, tables: list[str]):
        self.table, self.tables = table, tables
        super().__init__(f"table {table} is not in this preview",
                         f"the preview's tables: {', '.join(tables) or 'none'}")


# -- state of the database against the files ------------------------------


class DriftError(DuckmigError):
    exit_code = 3

    def __init__(self, drifted: list[tuple[str, str]]):
        self.drifted = drifted
        listing = ", ".join(f"{v} ({state})" for v, state in drifted)
        super().__init__(
            f"applied migrations differ from their files: {listing}",
            "`duckmig verify` shows the details; accept intended edits with `duckmig repair`, "
            "restore the files, or pass --allow-drift to apply on top of them",
        )


class OutOfOrder(DuckmigError):
    exit_code = 3

    def __init__(self, versions: list[str], newest_applied: str):
        self.versions, self.newest_applied = versions, newest_applied
        super().__init__(
            f"pending {', '.join(versions)} older than the newest applied migration {newest_applied}",
            "apply them anyway with --out-of-order, or give them newer versions",
        )


class VerificationFailed(DuckmigError):
    exit_code = 3


# DuckDB's words for a statement or a COMMIT it refused, the cause, and what to do. The order
# matters: a write the file system refused names its errno, which tells a full disk from a file
# that may not be written.
_REFUSALS = (
    ("one database", ("a single transaction can only write to a single attached database",),
     "a migration's transaction writes to one database only, the one its ledger is in: write to the other "
     "database in a migration run against it, or in a section marked transaction:false"),
    ("read-only", ("Permission denied", "Operation not permitted", "Read-only file system", "read-only mode"),
     "make the database file and its folder writable (the file system refused the write), then run it again"),
    ("disk full", ("No space left on device", "Could not write", "Disk quota exceeded"),
     "make room on the disk, then run it again"),
    ("write conflict", ("another transaction has altered", "Conflict on", "write-write conflict"),
     "another connection changed the same table while this ran and committed first, so DuckDB refused this "
     "commit: run it again once the other writer is done"),
)


def refusal_hint(message: str) -> str | None:
    """What to do about a write DuckDB refused, told by the cause its message names."""
    return next((hint for _, words, hint in _REFUSALS if any(w in message for w in words)), None)


def first_line(message: str) -> str:
    """The first line of a message (DuckDB's come with a caret excerpt below)."""
    return message.strip().splitlines()[0] if message.strip() else message


def _one_line(sql: str, width: int = 160) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
