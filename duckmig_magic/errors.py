"""Errors a user can cause: a few families, each raised with a sentence written where it is raised.

An error is a ``message`` and a ``hint``. The hint names what to do with placeholders
(``{do:repair}``, ``{flag:allow_drift}``, ``{setting:database}``: see ``wording``) that each
interface words its own way (``duckmig repair``, ``%migrate repair``, ``Migrator.repair()``) when it
shows the error: ``error.render(words)``. ``str(error)`` is the Python API's wording.

A family is a class because something catches it, or reads the data it carries; an error that is
neither is a family's member, told apart by its sentence. Exit codes are the family's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

from .wording import API_VERBS, PYTHON, Words, cut, first_line, plural  # noqa: F401  re-exported

# Exit codes of the command; the magics raise UsageError for all but 0.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3

STATUS = "{do:status}"  # what shows the state, the command's last word after an interrupt


class DuckmigError(Exception):
    """Base of every error duckmig reports to a user: what went wrong, and what to do about it.

    ``message`` is said as it is; ``hint`` (or None) holds placeholders for the interface to word.
    """

    exit_code: ClassVar[int] = EXIT_USAGE
    message: str
    hint: str | None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint

    def message_text(self, words: Words = PYTHON) -> str:
        return self.message

    def hint_text(self, words: Words = PYTHON) -> str | None:
        """The hint in ``words``; placeholders are read in hints only, never in a message's user data."""
        return words(self.hint) if self.hint else None

    def render(self, words: Words = PYTHON) -> str:
        """The message, then the hint in ``words``, as a user reads them."""
        hint = self.hint_text(words)
        message = self.message_text(words)
        return f"{message}\n  hint: {hint}" if hint else message

    def __str__(self) -> str:
        return self.render()


# -- the families ---------------------------------------------------------------------------------


class ConfigError(DuckmigError):
    """What the user gave cannot work: settings, flags, arguments, paths, the connection or the
    target, a DuckLake's settings, a preview's keys. Nothing was changed."""


class BadArguments(ConfigError):
    """A verb's arguments that its parser refuses; the magics say them after ``%migrate``.
    Raised as ``VERB: DETAIL``; the hint points at the verb's ``--help`` unless given."""

    verb: str

    def __init__(self, verb: str, detail: str, hint: str | None = None) -> None:
        self.verb = verb
        help_ = "{do:" + " ".join(w for w in (verb, "--help") if w) + "}"
        super().__init__(f"{verb}: {detail}" if verb else detail, hint or f"{help_} lists the arguments")


class LakeSettingError(ConfigError):
    """A DuckLake setting that cannot be used; ``where`` names the pyproject.toml table that gives it,
    when one does (set by the reader of pyproject.toml)."""

    where: str | None = None

    def message_text(self, words: Words = PYTHON) -> str:
        said = super().message_text(words)
        return f"{self.where} {said}" if self.where else said


class DatabaseLocked(ConfigError):
    """Another process holds the database file (DuckDB lets one process write a file). ``doing``, where
    the engine could tell: "command" (a duckmig command; ``verb`` its verb, if read), "busy" (a Jupyter
    kernel using the CPU now: mid-migration, perhaps) or "idle" (a kernel that keeps the file open); the
    hint is fitted to it."""

    database: str
    pid: int | None  # None where DuckDB did not name it
    holder: str | None
    doing: str | None
    verb: str | None

    def __init__(self, database: Any, pid: int | None, holder: str | None, doing: str | None = None,
                 verb: str | None = None) -> None:
        self.database, self.pid, self.holder, self.doing, self.verb = str(database), pid, holder, doing, verb
        who = f"process {pid} ({holder})" if pid else "another process"
        there = {"command": f", where `duckmig {verb}` is running" if verb else ", a duckmig command",
                 "busy": ", a Jupyter kernel that is running something now",
                 "idle": ", a Jupyter kernel that keeps it open while idle"}.get(doing or "", "")
        super().__init__(f"database {database} is locked by {who}{there}: DuckDB lets one process write a file",
                         _LOCK_HINTS[doing or ""])


_LOCK_HINTS = {
    "command": "wait for it: retry with {setting:wait}, which goes ahead as soon as it lets go",
    "busy": "if it is applying migrations, retry with {setting:wait}, which goes ahead as soon as it lets go; if "
            "it keeps the file open after, close the connection in that notebook (con.close()) or restart its kernel",
    "idle": "in that notebook, close the connection (con.close()) or restart its kernel; or run the migrations "
            "there, where `%migrate connect VARIABLE` hands duckmig the open connection",
    "": "close that process's connection; if it is running migrations, retry with {setting:wait}, which goes "
        "ahead as soon as it lets go",
}


class ConnectionBusy(ConfigError):
    """Another thread used the connection while duckmig needed it alone; what ran was rolled back."""

    def __init__(self) -> None:
        super().__init__("the connection is in use by another thread at the same time, and duckmig needs it alone "
                         "while it runs: what was running then was rolled back",
                         "wait until the other thread is done, or give duckmig a connection of its own (con.cursor())")


class BadSlug(ConfigError):
    """A slug that is not lower-case letters, digits and _; ``example`` is the slug made of it."""

    slug: str

    def __init__(self, slug: str, example: str) -> None:
        self.slug = slug
        super().__init__(f"{slug!r} is not a slug: use lower-case letters, digits and _ (for example {example!r})")


class StateError(DuckmigError):
    """What was asked does not fit the migrations as they are: a version no file or ledger row has,
    nothing applied to revert, no downgrade to run, a slug that names more than one file or a file of
    another kind. Nothing was changed."""


class _File(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def version(self) -> str: ...


class MigrationApplied(StateError):
    """A migration's text changed after it was applied (or its file is gone and the text written again
    is not the one applied); its file is left as it was, and ``script`` names it."""

    script: _File

    def __init__(self, message: str, script: _File, keep: str) -> None:
        self.script = script
        super().__init__(message, f"revert it first ({{do:down {keep}}} reverts it and everything newer), then "
                                  "run this again; or put the change in a new migration with another slug")


class MigrationFileError(DuckmigError):
    """A version file that cannot be used, or a statement of one that duckmig refuses to run:
    ``PATH:LINE: DETAIL`` (``PATH: DETAIL`` where no line is known). Raised before anything of it
    runs; ``statement`` is the statement refused, where one is."""

    path: Path | str
    detail: str
    line: int | None = None
    statement: str | None = None

    def __init__(self, path: Path | str, detail: str, line: int | None = None, hint: str | None = None, *,
                 statement: str | None = None) -> None:
        self.path, self.detail, self.line, self.statement = path, detail, line, statement
        super().__init__(f"{path}:{line}: {detail}" if line else f"{path}: {detail}", hint)


class DriftError(DuckmigError):
    """The version files and the ledger disagree: an applied migration's file edited or gone, pending
    ones older than the newest applied, a slug the files and the ledger know as different
    migrations. ``drifted`` lists (version, state) where files drifted."""

    exit_code = EXIT_DRIFT
    drifted: list[tuple[str, str]]

    def __init__(self, message: str, hint: str | None = None, drifted: Sequence[tuple[str, str]] = ()) -> None:
        self.drifted = list(drifted)
        super().__init__(message, hint)


class OutOfOrder(DriftError):
    """Pending ``versions`` older than ``newest_applied``."""

    versions: list[str]
    newest_applied: str | None

    def __init__(self, versions: list[str], newest_applied: str | None) -> None:
        self.versions, self.newest_applied = versions, newest_applied
        super().__init__(f"pending {', '.join(versions)} older than the newest applied migration {newest_applied}",
                         "apply them anyway with {flag:out_of_order}, or give them newer versions")


class RunFailed(DuckmigError):
    """A run that stopped and rolled back what it was doing: another runner won, nothing was applied
    because an earlier migration failed. Where ``failed`` caused it, its hint is that failure's."""

    exit_code = EXIT_FAILED
    failed: DuckmigError | None

    def __init__(self, message: str, hint: str | None = None, failed: DuckmigError | None = None) -> None:
        self.failed = failed
        super().__init__(message, hint)

    def hint_text(self, words: Words = PYTHON) -> str | None:
        if self.hint is None and self.failed is not None:
            return self.failed.hint_text(words)
        return super().hint_text(words)


class CommitFailed(RunFailed):
    """DuckDB refused a COMMIT (a write conflict, a full disk, a file it may not write); it rolled back.
    ``refused``: what to do, by the cause DuckDB's message names."""

    reason: str
    version: str | None
    refused: str | None

    def __init__(self, reason: str, version: str | None = None, refused: str | None = None) -> None:
        self.reason, self.version, self.refused = reason, version, refused
        super().__init__(f"DuckDB could not commit {version or 'the change'}: {reason}\n"
                         "  rolled back: nothing of it remains",
                         refused or "DuckDB's message above says why; run it again once that is resolved")


class LedgerMoved(CommitFailed):
    """Another runner recorded migrations in the shared catalog since this run planned; what this
    run's transaction did was rolled back. The migrator plans again or says who won."""


class MigrationFailed(DuckmigError):
    """A migration raised while it ran, or DuckDB (or duckmig) refused one of its statements; its
    transaction was rolled back, unless ``partial`` or ``outcome`` says otherwise.

    ``version`` is None only for a statement the runner ran outside a migration. ``statement``
    failed (None where the code raised, not a statement; ``last`` is then the one it ran before);
    ``where``: FILE:LINE of a Python migration's code that raised; ``group``: how many migrations
    before it its single transaction rolled back; ``limit``: what DuckLake cannot do and what to
    write instead; ``refused``: what to do about a write DuckDB refused, by the cause its message
    names (engine/refusals.py); ``hint``, where given: the rule of the statement duckmig refused.
    ``specific_hint`` is the hint of this failure's own cause (a limit, or a rule), None where
    only the general one applies.
    """

    exit_code = EXIT_FAILED
    version: str | None
    statement: str | None
    error: str
    direction: str  # "up" or "down"
    partial: bool
    group: int | None
    where: str | None
    outcome: str | None
    last: str | None
    limit: str | None
    refused: str | None
    specific_hint: str | None

    def __init__(self, version: str | None, statement: str | None, error: str, direction: str = "up", *,
                 partial: bool = False, group: int | None = None, where: str | None = None,
                 outcome: str | None = None, last: str | None = None, limit: str | None = None,
                 refused: str | None = None, hint: str | None = None) -> None:
        self.version, self.statement, self.error, self.direction = version, statement, error, direction
        self.partial, self.group, self.where, self.outcome = partial, group, where, outcome
        self.last, self.limit, self.refused = last, limit, refused
        self.specific_hint = limit or hint
        super().__init__(self._said(), hint or self._advice())

    def _said(self) -> str:
        verb = "applying" if self.direction == "up" else "reverting"
        return f"{verb} {self.version} failed: {self.error.strip()}{self._context()}\n  {self._fate()}"

    @property
    def statement_line(self) -> str:
        """The line that names the failing statement, or the one the code ran last; "" if neither."""
        if self.statement:
            return f"\n  statement: {cut(self.statement, 160)}"
        return f"\n  last statement before it (it ran): {cut(self.last, 160)}" if self.last else ""

    def _context(self) -> str:
        """The failing statement, then where the code ran it; or where the code raised, then the
        statement it ran last."""
        where = f"\n  at: {self.where}" if self.where else ""
        return self.statement_line + where if self.statement else where + self.statement_line

    def _fate(self) -> str:
        if self.group:
            return (f"rolled back with the {plural(self.group, 'migration')} before it in the single "
                    "transaction: nothing of the run remains")
        if self.partial:
            return "it ran outside a transaction: the statements before this one were committed"
        return self.outcome or "rolled back: nothing of it remains"

    def _advice(self) -> str:
        if self.limit:
            return self.limit + ("; then run the migration again" if self.direction == "up" else
                                 "; then store the downgrade with {do:repair} and revert again")
        if self.refused:
            return self.refused
        if self.direction == "up":
            return "fix the migration and run it again"
        return "fix the downgrade in the file, store it with {do:repair}, and revert again"


class TransactionLost(MigrationFailed):
    """The migration's transaction ended before duckmig committed it: not through duckmig, so what
    became of the statements before is not known, and not guessed."""

    def __init__(self, version: str | None, statement: str | None, error: str, direction: str = "up") -> None:
        super().__init__(version, statement, error, direction, outcome="duckmig cannot tell what of it was "
                         "committed: check the database before running it again")
        self.hint = ("run a migration's statements through its session only, and keep other threads off the "
                     "connection while duckmig runs")


class LedgerChanged(MigrationFailed):
    """A migration changed the ledger's events (it may read them, not change them): found by
    effect, at the end of its transaction, before its own event; its transaction was rolled back.
    ``outside``: it ran outside a transaction (transaction:false), so nothing could be rolled back."""

    table: str

    def __init__(self, version: str | None, table: str, before: str, after: str, direction: str = "up",
                 outside: bool = False) -> None:
        self.table = table
        super().__init__(version, None, f"it changed the ledger {table}: {before} when it began, {after} at its end",
                         direction, outcome="it ran outside a transaction (transaction:false): its statements "
                         "were committed as they ran and cannot be rolled back, the ledger's change among them; "
                         "no event of it was recorded" if outside else None)
        self.hint = (f"a migration may read {table}, not change it: take the statements that write it out of "
                     "the migration, then run it again; {do:status} shows the state")


class RunStopped(MigrationFailed):
    """A migration failed in a run: the failure (its data, message and hint, read through), what the
    run did before it (kept), and what it did not try."""

    SHOWN = 10  # versions listed before "and N more"
    failed: MigrationFailed
    done: list[str]
    not_tried: list[str]

    def __init__(self, failed: MigrationFailed, done: Sequence[str], not_tried: Sequence[str]) -> None:
        self.failed, self.done, self.not_tried = failed, list(done), list(not_tried)
        super().__init__(failed.version, failed.statement, failed.error, failed.direction, partial=failed.partial,
                         group=failed.group, where=failed.where, outcome=failed.outcome, last=failed.last,
                         limit=failed.limit, refused=failed.refused)
        self.hint, self.specific_hint = failed.hint, failed.specific_hint

    def _said(self) -> str:
        return self.failed.message + self.run_lines

    @property
    def run_lines(self) -> str:
        """What the run kept and did not try, each on a line of its own."""
        lines = []
        if self.done and not self.group:
            lines.append(f"{'applied' if self.direction == 'up' else 'reverted'} before it, and kept: "
                         + self._listed(self.done))
        if self.not_tried:
            lines.append("not tried: " + self._listed(self.not_tried))
        return "".join(f"\n  {line}" for line in lines)

    def _listed(self, versions: list[str]) -> str:
        more = f" and {len(versions) - self.SHOWN} more" if len(versions) > self.SHOWN else ""
        return ", ".join(versions[:self.SHOWN]) + more


class LintRefused(DuckmigError):
    """``up`` found error findings in the migrations it would run, before running any: nothing ran.
    ``findings`` are the lint's records (``engine.lint.LintFinding``)."""

    exit_code = EXIT_FAILED
    findings: Sequence[Any]

    def __init__(self, findings: Sequence[Any]) -> None:
        self.findings = findings
        first = findings[0]
        more = f" (and {plural(len(findings) - 1, 'more error')})" if len(findings) > 1 else ""
        super().__init__(f"{first.file}:{first.line}: {first.rule} {first.message}{more}; nothing was applied",
                         f"{first.fix} ({{do:lint}} lists every finding; silence one with `-- duckmig: ignore "
                         f"{first.rule} REASON` on its statement, or skip the check with {{flag:no_lint}})")


class Interrupted(DuckmigError):
    """Ctrl-C (SIGINT) while migrations ran; ``what`` says what became of them, on one line."""

    exit_code = 130
    what: str
    version: str | None
    done: int

    def __init__(self, what: str, version: str | None = None, done: int = 0) -> None:
        self.what, self.version, self.done = what, version, done
        super().__init__(f"interrupted: {what}")


class PreviewNotPossible(DuckmigError):
    """A preview that cannot be made (a migration outside a transaction, a statement a rollback would
    not undo, a comparison DuckDB refused); nothing was applied."""


class PreviewRefused(PreviewNotPossible):
    """A migration runs ``statement``, whose effect a dry run's rollback would not undo (``why``);
    it was not run."""

    version: str
    statement: str
    why: str

    def __init__(self, version: str, statement: str, why: str) -> None:
        self.version, self.statement, self.why = version, statement, why
        super().__init__(f"cannot preview {version}: it runs `{cut(statement, 160)}`, and {why}; a preview leaves "
                         "everything as it was, so it refused that statement and rolled back",
                         "apply it to a copy of the database (and its folder) to see what it does")


# What a DuckLake target looks like, for the hints that ask for one.
LAKE_FORMS = "ducklake:PATH.ducklake (a DuckDB file) or ducklake:postgres:dbname=NAME host=HOST"


# -- sentences raised from more than one place ------------------------------------------------------


def unknown_version(version: str, where: str = "in the migrations directory or the ledger") -> StateError:
    return StateError(f"no migration {version} {where}", "{do:status} lists the versions")


def irreversible(version: str) -> StateError:
    return StateError(f"{version} has no downgrade, so it cannot be reverted",
                      "write a `-- migrate:down` section (then {do:repair} to store it), or drop the change by "
                      "hand and {do:stamp} the version before it")


VERSION_RULE = "versions look like 20250710_000001"


def not_a_version(text: str, rule: str = VERSION_RULE) -> ConfigError:
    return ConfigError(f"{text!r} is not a version: {rule}", "{do:status} lists the versions")


def version_taken(version: str | None, path: Path, where: str | None = None) -> ConfigError:
    """A new migration asked for a version another file already has."""
    at = f"{where}: " if where else ""
    return ConfigError(f"{at}version {version} is taken by {path.name}",
                       "drop --version to take the next free one, or give a version no file has")


def no_database_folder(path: Path) -> ConfigError:
    return ConfigError(f"cannot open database {path}: folder {path.parent} does not exist",
                       "create the folder first, or fix {setting:database}")


def database_unavailable(database: object, reason: str) -> ConfigError:
    return ConfigError(f"cannot open database {database}: {reason}",
                       "point {setting:database} at a DuckDB database file, a path for a new one, or :memory:")


def transaction_open() -> ConfigError:
    return ConfigError("the connection has a transaction open; duckmig will not commit it for you",
                       "finish it with COMMIT or ROLLBACK on that connection, then run the migration again")


def lake_setting_without_lake(given: str, database: object) -> LakeSettingError:
    """A data path or an ATTACH option for a database that is no DuckLake: nothing would use it."""
    return LakeSettingError(f"{given} is a setting of a DuckLake, and {database} is not one",
                            f"leave {given} out, or name a DuckLake: {LAKE_FORMS}")


def data_path_twice(first: str = "--data-path", second: str = "the option DATA_PATH") -> LakeSettingError:
    return LakeSettingError(f"the data path is given twice: as {first} and as {second}", "keep one of them")


def empty_lake_option(name: str) -> LakeSettingError:
    return LakeSettingError(f"{name} is empty", f"give {name} a value, or leave it out")


SYMLINK_HINT = "put the file itself in its place (or remove the link), then run this again"


def symlink_refused(path: Path) -> ConfigError:
    """A file duckmig would replace is a symbolic link: writing would follow it out of its folder."""
    return ConfigError(f"{path} is a symbolic link; duckmig writes only regular files, so it was left as it was",
                       SYMLINK_HINT)


def linked_version_file(path: Path) -> ConfigError:
    """A version file that is a symbolic link: it is neither read nor written, wherever it points."""
    return ConfigError(f"{path} is a symbolic link; duckmig reads and writes a version file only as a regular "
                       "file in versions/, and follows no link out of it", SYMLINK_HINT)
