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
        super().__init__(f"cannot open database {database}: {reason}")


class TransactionOpen(ConfigError):
    def __init__(self):
        super().__init__(
            "the connection has a transaction open; duckmig will not commit it for you",
            "finish it with COMMIT or ROLLBACK on that connection, then run the migration again",
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


class StatementsBeforeUp(MigrationFileError):
    rule = "only comments may stand before `-- migrate:up`"


class UnknownOption(MigrationFileError):
    rule = "the only marker option is transaction:true or transaction:false"


class EmptyUp(MigrationFileError):
    rule = "the `-- migrate:up` section has no statement"


class SqlSyntaxError(MigrationFileError):
    rule = "SQL does not parse"


class NotUtf8(MigrationFileError):
    rule = "the file is not UTF-8 text"


class BadPythonMigration(MigrationFileError):
    rule = "the Python migration cannot be loaded"


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


# -- running -------------------------------------------------------------------


class MigrationFailed(DuckmigError):
    """A migration raised while running; its transaction was rolled back."""

    exit_code = 1

    def __init__(self, version: str, statement: str | None, error: str, direction: str = "up",
                 partial: bool = False):
        self.version, self.statement, self.error = version, statement, error
        self.direction, self.partial = direction, partial
        verb = "applying" if direction == "up" else "reverting"
        stmt = f"\n  statement: {_one_line(statement)}" if statement else ""
        fate = ("it ran outside a transaction: the statements before this one were committed"
                if partial else "rolled back: nothing of it remains")
        super().__init__(
            f"{verb} {version} failed: {error.strip()}{stmt}\n  {fate}",
            "fix the migration and run it again" if direction == "up"
            else "fix the downgrade in the file, store it with `duckmig repair`, and revert again",
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
    def __init__(self, version: str, reason: str):
        self.version, self.reason = version, reason
        super().__init__(f"cannot preview {version}: {reason}")


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


def _one_line(sql: str, width: int = 160) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
