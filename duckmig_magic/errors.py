"""Errors a user can cause, each named for its condition, each stating its rule once.

A class gives its ``message`` and ``hint`` as templates, filled from the data
the error carries (its ``fields``, given by position or by name, and its
properties). What a user can do about it is data as well (``actions``): the
command, the magics and the Python API each word an action their own way
(``duckmig repair``, ``%migrate repair``, ``Migrator.repair()``) by passing
their ``Words`` to ``render``. ``str(error)`` is the Python API's wording.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

from .wording import cut, first_line, plural  # noqa: F401  first_line: the engine's, for DuckDB's messages

# Exit codes of the command; the magics raise UsageError for all but 0.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3


# -- what a user can do, as data, and how each interface words it ----------------------------------


@dataclass(frozen=True)
class Do:
    """A verb to run: ``Do("down", ("VERSION",))``, ``Do("down", options=(("steps", "N"),))``.
    Arguments in capitals are placeholders, anything else a value; an option's value None is a flag."""

    verb: str
    args: tuple[str, ...] = ()
    options: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Option:
    """An option of the verb that failed, named on its own: "pass --allow-drift"."""

    name: str


@dataclass(frozen=True)
class Setting:
    """Where the work happens: database, directory, table, wait or a DuckLake's data_path."""

    name: str


class Words:
    """How an interface names an action. With a ``prefix``, a command line's way (``duckmig repair``,
    ``%migrate repair``, ``--allow-drift``); without, the Python API's (``Migrator.repair()``,
    ``allow_drift=True``). ``settings`` words each Setting."""

    def __init__(self, prefix: str | None, settings: dict[str, str]):
        self.prefix, self.settings = prefix, settings

    def __call__(self, action: Do | Option | Setting) -> str:
        if isinstance(action, Setting):
            return self.settings[action.name]
        if isinstance(action, Option):
            return _flag(action.name) if self.prefix else f"{action.name}=True"
        if self.prefix or action.verb not in API_VERBS:  # no method of its own (init, export): the command
            return f"`{self.prefix or 'duckmig'} {_line(action)}`"
        args = [a if a.isupper() else repr(a) for a in action.args]
        args += [f"{k}={'True' if v is None else v if v.isupper() else repr(v)}" for k, v in action.options]
        return f"`Migrator.{action.verb}({', '.join(args)})`"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _line(do: Do) -> str:
    words = [do.verb, *do.args]
    for name, value in do.options:
        words += [_flag(name)] + ([value] if value is not None else [])
    return " ".join(w for w in words if w)


# The verbs that are methods of the Python API's Migrator (tests/test_docs.py holds the two equal).
API_VERBS = frozenset({"status", "history", "plan", "sql", "up", "down", "redo", "stamp", "repair", "restore",
                       "verify", "new", "save", "prepare", "preview", "preview_body", "migration_status",
                       "migrate_up", "migrate_down", "create_migration"})

PYTHON = Words(None, {"database": "the database given to Migrator", "directory": "the directory given to Migrator",
                      "table": "`Migrator(..., table=TABLE)`", "wait": "`Migrator(..., wait=SECONDS)`",
                      "data_path": "`lake.parse(..., data_path=DIR)`"})


# -- the base -------------------------------------------------------------------------------------


class _Template:
    """A ``message`` or ``hint`` template of an error class: read on the class, the template (or the
    function of the error that gives one); read on an error, its text in the Python API's words."""

    def __init__(self, source):
        self.source = source

    def text(self, error) -> str | None:
        return self.source(error) if callable(self.source) else self.source

    def __get__(self, error, owner=None):
        if error is None:
            return self.source
        template = self.text(error)
        return error._fill(template, PYTHON) if template else template


class DuckmigError(Exception):
    """Base of every error duckmig reports to a user."""

    exit_code = EXIT_USAGE
    fields: tuple[str, ...] = ("detail", "hint")  # the data, by position; a class attribute is a default
    message = "{detail}"
    hint: str | None = None  # a template; a hint given when raised is taken as it is
    actions: dict = {}  # name in the templates -> Do, Option or Setting

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for name in ("message", "hint"):  # a string, or a property choosing one from the data
            value = cls.__dict__.get(name)
            if isinstance(value, (str, property)):
                setattr(cls, name, _Template(value.fget if isinstance(value, property) else value))

    def __init__(self, *values, **named):
        if len(values) > len(self.fields) or set(named) - set(self.fields):
            raise TypeError(f"{type(self).__name__} takes {', '.join(self.fields)}")
        data = {**dict(zip(self.fields, values)), **named}
        for name in self.fields:
            if name in data or not hasattr(type(self), name):
                value = data.get(name)
                if name != "hint" or value is not None:
                    setattr(self, name, value)
        super().__init__(*values)

    def message_text(self, words: Words = PYTHON) -> str:
        return self._fill(self._template("message"), words)

    def hint_text(self, words: Words = PYTHON) -> str | None:
        if "hint" in self.__dict__:  # given when raised: said as it is
            return self.__dict__["hint"]
        template = self._template("hint")
        return self._fill(template, words) if template else None

    def render(self, words: Words = PYTHON) -> str:
        """The message, then the hint in ``words``, as a user reads them."""
        hint = self.hint_text(words)
        return f"{self.message_text(words)}\n  hint: {hint}" if hint else self.message_text(words)

    def __str__(self) -> str:
        return self.render()

    def _template(self, name: str) -> str | None:
        found = inspect.getattr_static(type(self), name)
        return found.text(self) if isinstance(found, _Template) else found

    def _fill(self, template: str, words: Words) -> str:
        return template.format_map(_Data(self, words))


DuckmigError.message = _Template(DuckmigError.message)


class _Data(dict):
    """A template's names: the error's actions in the interface's words, else its data."""

    def __init__(self, error: DuckmigError, words: Words):
        super().__init__()
        self.error, self.words = error, words

    def __missing__(self, name: str):
        action = self.error.actions.get(name)
        return self.words(action) if action is not None else getattr(self.error, name)


STATUS = Do("status")
DATABASE, DIRECTORY = Setting("database"), Setting("directory")


# -- configuration and usage ------------------------------------------------------------------------


class ConfigError(DuckmigError):
    """Settings, flags or paths that cannot work."""


class BadArguments(ConfigError):
    """A verb's arguments that its parser refuses."""

    fields = ("verb", "detail")
    message = "{verb_}{detail}"
    hint = "{help} lists the arguments"

    @property
    def verb_(self) -> str:
        return f"{self.verb}: " if self.verb else ""

    @property
    def actions(self) -> dict:
        return {"help": Do(self.verb, ("--help",))}


class BadKeyOption(BadArguments):
    fields = ("option",)
    verb = "preview"
    message = "preview: --key takes TABLE=COLUMN[,COLUMN...], not {option!r}"
    hint = "for example --key events=day,seq"


class NoNotebookGiven(BadArguments):
    fields = ()
    verb = "export"
    message = "export: give the notebook to export"
    hint = "{export}"
    actions = {"export": Do("export", ("NOTEBOOK.ipynb",))}


class NoDatabaseGiven(ConfigError):
    fields = ()
    message = "no database given"
    hint = ('pass --database PATH, set DUCKMIG_DATABASE, or add database = "..." under [tool.duckmig] '
            "in pyproject.toml")


class BadSettings(ConfigError):
    """``[tool.duckmig]`` in a pyproject.toml that cannot be used."""

    fields = ("path",)
    hint = "fix [tool.duckmig] in {path}"


class SettingsNotToml(BadSettings):
    fields = ("path", "detail")
    message = "{path}: not valid TOML: {detail}"
    hint = "fix the file or remove [tool.duckmig]"


class SettingsNotATable(BadSettings):
    message = "{path}: [tool.duckmig] must be a table"


class UnknownSettings(BadSettings):
    fields = ("path", "names", "known")
    message = "{path}: unknown setting{s} in [tool.duckmig]: {listed}"
    hint = "the settings are {known}"

    s = property(lambda self: "s" * (len(self.names) > 1))
    listed = property(lambda self: ", ".join(sorted(self.names)))


class SettingNotAString(BadSettings):
    fields = ("path", "key", "value")
    message = "{path}: [tool.duckmig] {key} must be a string, not {value!r}"


class OptionsNotATable(BadSettings):
    fields = ("path", "value")
    message = "{path}: [tool.duckmig] options must be a table of ATTACH options, not {value!r}"
    hint = "write them under [tool.duckmig.options], a line each: metadata_schema = \"lake_1\""


class SettingsUnreadable(ConfigError):
    """The search for pyproject.toml, from the current folder up, or the file it found, refused by the
    file system: settings from further up could be the wrong ones, so none are taken."""

    fields = ("path", "reason")
    message = "cannot look for settings (pyproject.toml) in {path}: {reason}"
    hint = "run duckmig from a folder that exists and that you may read, or let yourself read {path}"


class NotAVersion(ConfigError):
    fields = ("text",)
    rule = "versions look like 20250710_000001"
    message = "{text!r} is not a version: {rule}"
    hint = "{status} lists the versions"
    actions = {"status": STATUS}


class ImpossibleVersion(NotAVersion):
    """The pattern of a version, but no date and time of the calendar (20251399_000000)."""

    @property
    def rule(self) -> str:
        t = self.text
        return (f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[9:11]}:{t[11:13]}:{t[13:15]} is not a date and time "
                "(a version is YYYYMMDD_HHMMSS in UTC, like 20250710_000001)")


class TargetAndSteps(ConfigError):
    fields = ()
    message = "give a target version or --steps, not both"
    hint = "{down_to} keeps VERSION and reverts the newer ones; {down_steps} reverts N"
    actions = {"down_to": Do("down", ("VERSION",)), "down_steps": Do("down", options=(("steps", "N"),))}


class BadSteps(ConfigError):
    fields = ("steps",)
    message = "--steps must be 1 or more, not {steps}"
    hint = "{down} alone reverts the newest migration"
    actions = {"down": Do("down")}


class NoDirectory(ConfigError):
    fields = ("path",)
    message = "migrations directory {path} does not exist"
    hint = "create it with {init}, or point {directory_setting} at the folder that holds versions/"
    actions = {"init": Do("init"), "directory_setting": DIRECTORY}


class NotAFolder(ConfigError):
    fields = ("path",)
    message = ("{path} is a file, not a folder: the migrations directory holds its version files in its "
               "versions/ folder")
    hint = "move that file out of the way, or point {directory_setting} at another folder"
    actions = {"directory_setting": DIRECTORY}


class SymlinkRefused(ConfigError):
    """A file duckmig would replace is a symbolic link: writing would follow it out of its folder."""

    fields = ("path",)
    message = "{path} is a symbolic link; duckmig writes only regular files, so it was left as it was"
    hint = "put the file itself in its place (or remove the link), then run this again"


class LinkedVersionFile(SymlinkRefused):
    """A version file that is a symbolic link: it is neither read nor written, wherever it points."""

    message = ("{path} is a symbolic link; duckmig reads and writes a version file only as a regular file "
               "in versions/, and follows no link out of it")


class NoDatabaseFolder(ConfigError):
    fields = ("path",)
    message = "cannot open database {path}: folder {path.parent} does not exist"
    hint = "create the folder first, or fix {database_setting}"
    actions = {"database_setting": DATABASE}


class DatabaseLocked(ConfigError):
    fields = ("database", "pid", "holder")
    message = "database {database} is locked by {who}: DuckDB lets one process write a file"
    hint = ("close that process's connection (in a notebook: restart its kernel, or hand the open "
            "connection to duckmig with `%migrate connect VARIABLE`), or retry with {wait}")
    actions = {"wait": Setting("wait")}

    @property
    def who(self) -> str:
        return f"process {self.pid} ({self.holder})" if self.pid else "another process"


class DatabaseUnavailable(ConfigError):
    fields = ("database", "reason")
    message = "cannot open database {database}: {reason}"
    hint = "point {database_setting} at a DuckDB database file, a path for a new one, or :memory:"
    actions = {"database_setting": DATABASE}


class HeldOtherwiseHere(ConfigError):
    """The file is open in this process with other settings, most often a read-only connection."""

    fields = ("database",)
    message = ("cannot open database {database} for writing: this process holds it open read-only (a "
               "connection made with read_only=True, in this notebook's kernel say), and DuckDB opens a file "
               "one way at a time in a process")
    hint = ("close that connection (con.close()), or open one that can write (duckdb.connect(PATH)) and give "
            "duckmig that very connection (in a notebook: `%migrate connect VARIABLE`)")


class ConnectionReadOnly(ConfigError):
    fields = ("database",)
    message = ("the connection to {database} is read-only (made with read_only=True): migrations write to the "
               "database and to its ledger")
    hint = ("give duckmig a connection that can write (duckdb.connect(PATH) without read_only, in a notebook: "
            "`%migrate connect VARIABLE`), or the database's path")


class ConnectionClosed(ConfigError):
    fields = ("database",)
    message = "the connection to {database} is closed"
    hint = ("open it again and give duckmig the new connection (in a notebook: `%migrate connect VARIABLE`), "
            "or the database's path")


class TransactionOpen(ConfigError):
    fields = ()
    message = "the connection has a transaction open; duckmig will not commit it for you"
    hint = "finish it with COMMIT or ROLLBACK on that connection, then run the migration again"


class NotConnected(ConfigError):
    fields = ()
    message = "no database to migrate: nothing is connected and no database is set"
    hint = ("run `%migrate connect TARGET` with a database file, :memory:, or the name of a variable "
            'holding a duckdb connection; or set database = "..." under [tool.duckmig] in pyproject.toml')


class NotAConnection(ConfigError):
    fields = ("name", "value")
    message = "variable {name} holds a {type_name}, not a duckdb connection"
    hint = "assign {name} = duckdb.connect(...) first, or give the database's path instead"

    type_name = property(lambda self: type(self.value).__name__)


class UnknownTarget(ConfigError):
    fields = ("name",)
    message = "{name} is neither a variable nor an existing database file"
    hint = ("for a connection, assign it to a variable first; for a new database file, give it an "
            "extension (for example {name}.duckdb)")


# -- versions and the ledger ------------------------------------------------------------------------


class UnknownVersion(DuckmigError):
    fields = ("version", "where")
    where = "in the migrations directory or the ledger"
    message = "no migration {version} {where}"
    hint = "{status} lists the versions"
    actions = {"status": STATUS}


class NothingToRevert(DuckmigError):
    fields = ()
    message = "nothing to revert: no migration is applied"
    hint = "{status} shows the state"
    actions = {"status": STATUS}


class WrongLedgerLayout(ConfigError):
    fields = ("table", "columns")
    message = "table {table} exists but is not a duckmig ledger (columns: {listed})"
    hint = "rename that table, or choose another ledger table with {table_setting}"
    actions = {"table_setting": Setting("table")}

    listed = property(lambda self: ", ".join(self.columns))


class LedgerTampered(ConfigError):
    """A ledger that is not as duckmig wrote it; nothing was changed."""

    fields = ("table",)
    message = "ledger {table} {detail}"


class LedgerExtraColumn(LedgerTampered):
    fields = ("table", "columns")
    hint = "give {them} a DEFAULT, or drop the NOT NULL (ALTER TABLE {table} ALTER COLUMN {columns[0]} DROP NOT NULL)"

    detail = property(lambda self: f"has NOT NULL column{'s' * (len(self.columns) != 1)} that duckmig does not "
                                   f"write: {', '.join(self.columns)}")
    them = property(lambda self: "them" if len(self.columns) != 1 else "it")


class LegacyLedgerDuplicates(LedgerTampered):
    fields = ("table", "versions")
    hint = "keep one row per version in {table}, then run the command again"

    detail = property(lambda self: f"(the seed's layout) records version{'s' * (len(self.versions) != 1)} "
                                   f"{', '.join(self.versions)} more than once, so it cannot be adopted")


class LegacyLedgerNullVersion(LedgerTampered):
    fields = ("table", "count")
    hint = ("delete them (DELETE FROM {table} WHERE version IS NULL) or give them their versions, then run the "
            "command again")

    detail = property(lambda self: f"(the seed's layout) has {plural(self.count, 'row')} without a version")


class UnknownLedgerStatus(LedgerTampered):
    STATUSES = ("applied", "failed", "pending")
    fields = ("table", "found")  # found: status -> versions
    hint = ("set each to what the migration's state is (UPDATE ... SET status = 'applied'), or {stamp} the "
            "versions again after deleting those rows")
    actions = {"stamp": Do("stamp", ("VERSION",))}

    @property
    def detail(self) -> str:
        listing = "; ".join(f"{status!r} ({', '.join(versions[:3])}{', ...' if len(versions) > 3 else ''})"
                            for status, versions in self.found.items())
        return (f"has rows whose status duckmig does not know: {listing}; the statuses are "
                f"{', '.join(map(repr, self.STATUSES[:-1]))} and {self.STATUSES[-1]!r}")


class OddLedger(LedgerTampered):
    """A ledger whose table, columns or events duckmig cannot have written: each ``problem`` is a
    shape of its own, with its own words and hint (``SHAPES``). ``where``: the events or columns
    it was found in, as text."""

    fields = ("table", "problem", "where")
    where = ""
    _ROWS = ("look at those events (SELECT * FROM {table} ORDER BY seq), correct them by hand or restore the "
             "database from a backup, then run the command again")
    # problem -> (what the ledger has, what to do)
    SHAPES = {
        "view": ("is a view, not a table: duckmig appends its events to a table",
                 "drop the view and put the ledger table back, or choose another ledger table with {table_setting}"),
        "case": ("is named {where}, in other letter case than the ledger's name",
                 "rename it (ALTER TABLE {where} RENAME TO {table}), or name it exactly with {table_setting}"),
        "schemas": ("is in several schemas ({where}) and none is the default one, main",
                    "keep one of them, the one that holds the migrations applied, and drop or rename the others"),
        "types": ("has columns of types duckmig does not write: {where}",
                  "give each column its type back (ALTER TABLE {table} ALTER COLUMN ... TYPE ...), "
                  "or restore the database from a backup"),
        "null seq": ("has events without a number (seq is NULL): {where}",
                     "number them after the others (UPDATE {table} SET seq = ... WHERE seq IS NULL), or delete them"),
        "duplicate seq": ("numbers several events alike ({where}): which is newer cannot be told",
                          "give each event a number of its own (UPDATE {table} SET seq = ...)"),
        "seq range": ("has an event numbered out of range ({where}): duckmig numbers events from 1, "
                      "one more each",
                      "renumber it after the others (UPDATE {table} SET seq = ...)"),
        "null version": ("has events without a version: {where}",
                         "give them their versions, or delete them (DELETE FROM {table} WHERE version IS NULL)"),
        "null event": ("has events without an event, status or time (NULL): {where}",
                       "fill them in as the migration's history was, or delete those events"),
        "event": ("has events of a kind duckmig does not write: {where}; the kinds are applied, failed, "
                  "partial, reverted, stamped, repaired and adopted", _ROWS),
        "kind": ("has events of a migration kind other than sql or python: {where}", _ROWS),
        "time": ("has events at impossible times (before 2000, or later than a day from now): {where}", _ROWS),
        "duration": ("has events with negative or infinite durations: {where}", _ROWS),
        "order": ("has an event that cannot follow the one before it: {where}",
                  "delete the event that does not belong (or restore the database from a backup); "
                  "{status} then shows each migration's state"),
        "checksum": ("has applied events without a checksum, which would hide any edit of their files: {where}",
                     "set it to the file's checksum as applied (or run {stamp} on a database that never "
                     "ran the migration); only events adopted from an older ledger may lack one"),
        "runner": ("has events without a runner, as only events adopted from an older ledger are, after events duckmig wrote: {where}",
                   _ROWS),
    }
    actions = {"table_setting": Setting("table"), "status": STATUS, "stamp": Do("stamp", ("VERSION",))}

    detail = property(lambda self: self.SHAPES[self.problem][0].format(where=self.where, table=self.table))
    hint = property(lambda self: self.SHAPES[self.problem][1])


class ConnectionBusy(ConfigError):
    fields = ()
    message = ("the connection is in use by another thread at the same time, and duckmig needs it alone while it "
               "runs: what was running then was rolled back")
    hint = "wait until the other thread is done, or give duckmig a connection of its own (con.cursor())"


# -- DuckLake targets --------------------------------------------------------------------------------

_LAKE_FORMS = "ducklake:PATH.ducklake (a DuckDB file) or ducklake:postgres:dbname=NAME host=HOST"


class NotALake(ConfigError):
    fields = ("database",)
    message = "{database!r} is not a DuckLake: a DuckLake target starts with ducklake:"
    hint = f"write {_LAKE_FORMS}"


class LakeCatalogMissing(ConfigError):
    fields = ("database",)
    message = "{database!r} names no catalog: a DuckLake needs one after ducklake:"
    hint = f"write {_LAKE_FORMS}"


class UnknownCatalogKind(ConfigError):
    fields = ("kind", "known")
    message = "DuckLake has no catalog kind {kind}: it keeps its catalog in {kinds} or a DuckDB file"
    hint = "write ducklake:postgres:... for PostgreSQL, or a path for a DuckDB file"

    kinds = property(lambda self: ", ".join(k + ":" for k in self.known))


class LakeSettingError(ConfigError):
    """A DuckLake setting that cannot be used; ``where`` names the pyproject.toml table that gives it,
    when one does."""

    where: str | None = None

    def message_text(self, words: Words = PYTHON) -> str:
        said = super().message_text(words)
        return f"{self.where} {said}" if self.where else said


class UnknownLakeOption(LakeSettingError):
    fields = ("name", "known")
    message = "{name} is not an ATTACH option of DuckLake that duckmig passes on"
    hint = "the options are {listed}"

    listed = property(lambda self: ", ".join(self.known))


class ReadOnlyLakeOption(LakeSettingError):
    fields = ("name", "what")
    message = "{name} {what}, and migrations write to the lake"
    hint = "leave {name} out"


class EmptyLakeOption(LakeSettingError):
    fields = ("name",)
    message = "{name} is empty"
    hint = "give {name} a value, or leave it out"


class BadLakeOptionValue(LakeSettingError):
    fields = ("name", "value", "expected")
    message = "{name} must be {expected}, not {value!r}"
    hint = "set {name} to {expected}"


class DataPathTwice(LakeSettingError):
    fields = ("first", "second")
    first, second = "--data-path", "the option DATA_PATH"
    message = "the data path is given twice: as {first} and as {second}"
    hint = "keep one of them"


class BadAttachOption(ConfigError):
    """An ``--option`` that is not ``NAME=VALUE``."""

    fields = ("text",)
    message = "--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not {text!r}"
    hint = "for example --option METADATA_SCHEMA=lake_1 --option ENCRYPTED=true"


class LakeSettingWithoutLake(LakeSettingError):
    """A data path or an ATTACH option for a database that is no DuckLake: nothing would use it."""

    fields = ("given", "database")
    message = "{given} is a setting of a DuckLake, and {database} is not one"
    hint = f"leave {{given}} out, or name a DuckLake: {_LAKE_FORMS}"


class LakeExtensionUnavailable(ConfigError):
    fields = ("extension", "reason")
    message = "cannot load DuckDB's {extension} extension: {reason}"
    hint = ("INSTALL {extension} downloads it from extensions.duckdb.org once; without a network, install it "
            "into DuckDB's extension directory first (INSTALL {extension} FROM 'REPOSITORY', or "
            "INSTALL 'FILE.duckdb_extension')")


class LakeNeedsDataPath(ConfigError):
    fields = ("database",)
    message = "{database} is a new DuckLake and has no data path for its Parquet files"
    hint = "give one with {data_path} (a folder or a URL such as s3://bucket/lake/); the lake keeps it"
    actions = {"data_path": Setting("data_path")}


class LakeKeepsItsDataPath(ConfigError):
    fields = ("database", "kept", "given")
    message = "{database} keeps its Parquet files in {kept}, and the data path given is {given}"
    hint = ("leave the data path out (the lake keeps its own), or set the ATTACH option OVERRIDE_DATA_PATH to true "
            "to write to {given} while attached")


class LakeUnavailable(ConfigError):
    fields = ("database", "reason")
    message = "cannot attach DuckLake {database}: {reason}"
    hint = ("check the catalog after ducklake: (for PostgreSQL: dbname, host, port, user, and that the server "
            "runs) and the data path")


# -- migration files ------------------------------------------------------------------------------


class MigrationFileError(DuckmigError):
    """A version file that cannot be used; names the file and, where known, the line."""

    fields = ("path", "detail", "line", "hint")
    rule = "the file is not a valid migration"
    message = "{where}: {said}"

    where = property(lambda self: f"{self.path}:{self.line}" if self.line else f"{self.path}")
    said = property(lambda self: self.detail or self.rule)


class NoUpMarker(MigrationFileError):
    rule = "a SQL migration needs a `-- migrate:up` line"
    hint = "start the file with `-- migrate:up`, and put the revert under `-- migrate:down`"


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
    hint = "remove transaction:false from the `-- migrate:down` line"


class EmptyUp(MigrationFileError):
    rule = "the `-- migrate:up` section has no statement"


class SqlSyntaxError(MigrationFileError):
    rule = "SQL does not parse"


class TransactionControl(MigrationFileError):
    fields = ("path", "statement", "line")
    rule = ("transaction control (BEGIN, COMMIT, ROLLBACK, ABORT, END) is refused in a migration that runs in "
            "a transaction: duckmig owns it and commits it together with the ledger row")
    hint = ("remove it: the migration commits as a whole, or not at all (a SQL section that must control its "
            "own transactions can be marked `-- migrate:up transaction:false`)")

    detail = property(lambda self: f"`{cut(self.statement, 60)}`: {self.rule}")


class LedgerTouched(MigrationFileError):
    fields = ("path", "statement", "table", "line")
    rule = "a migration may read the ledger tables but not change them"
    hint = "leave the ledger to duckmig: its repair, stamp and down change it"

    detail = property(lambda self: f"`{cut(self.statement, 60)}` changes the ledger table {self.table}: {self.rule}")


class LakeRenameAfterAlter(MigrationFileError):
    """A rename that DuckLake would commit and then not read: refused before it runs."""

    fields = ("path", "statement", "table", "line")
    rule = "in a DuckLake, a table that a transaction altered cannot be renamed in the same transaction"
    hint = ("a DuckLake limit. Instead, rename the table first and alter it after, or rename it in a migration of "
            "its own")

    detail = property(lambda self: f"`{cut(self.statement, 60)}` renames {self.table}, which an earlier statement "
                                   "of the transaction altered: DuckLake would commit that and then not open the "
                                   "lake again (or forget the alteration), so duckmig refused it")


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
    fields = ("version", "paths")
    message = "{path}: version {version} is used by {count} files: {names}"
    hint = "give one of them a new version (rename it, or recreate it with {new})"
    actions = {"new": Do("new")}

    path = property(lambda self: self.paths[0])
    count = property(lambda self: len(self.paths))
    names = property(lambda self: ", ".join(p.name for p in self.paths))


class VersionTaken(ConfigError):
    """A new migration asked for a version another file already has."""

    fields = ("version", "path", "where")
    message = "{at}version {version} is taken by {path.name}"
    hint = "drop --version to take the next free one, or give a version no file has"

    at = property(lambda self: f"{self.where}: " if self.where else "")


class SlugHasOtherVersion(ConfigError):
    """``--version`` names another version than the file that already holds the slug."""

    fields = ("slug", "version", "path", "where")
    message = "{at}--version {version}, but slug {slug!r} is {path.name}"
    hint = "drop --version (the slug finds its file), or use a new slug for a new migration"

    at = VersionTaken.at


class BadSlug(DuckmigError):
    fields = ("slug", "example")  # example: the slug made of it
    message = "{slug!r} is not a slug: use lower-case letters, digits and _ (for example {example!r})"


class AmbiguousSlug(DuckmigError):
    fields = ("slug", "scripts")
    message = "slug {slug!r} names {count} version files: {names}"
    hint = "use a slug that names one migration, or remove the extra file"

    count = property(lambda self: len(self.scripts))
    names = property(lambda self: ", ".join(s.name for s in self.scripts))


class OtherKind(DuckmigError):
    fields = ("name", "kind", "new_kind")
    message = "{name} is a {kind} migration; this one is {new_kind}"
    hint = "keep the form of the existing file, or use a new slug"


class MigrationApplied(DuckmigError):
    """A migration's text changed after it was applied; its file is left as it was."""

    fields = ("script", "keep")
    message = ("{script.version} ({script.name}) is already applied and its text changed; "
               "the file was left as it was")
    hint = ("revert it first ({down} reverts it and everything newer), then run this again; "
            "or put the change in a new migration with another slug")

    @property
    def actions(self) -> dict:
        return {"down": Do("down", (self.keep,))}



class AppliedTextDiffers(MigrationApplied):
    """A slug whose file is gone, written again with text other than what was applied."""

    message = ("{script.version} ({script.name}) is applied and its file is gone, but this text is not the one "
               "that was applied (their checksums differ); no file was written")


class _FileAndLedger(DuckmigError):
    """What the version files say of a slug and what the ledger says of it disagree; nothing was written."""

    exit_code = EXIT_DRIFT
    at = property(lambda self: f"{self.where}: " if self.where else "")
    listed = property(lambda self: ", ".join(f"{r.version} ({r.filename}, {r.status})" for r in self.recorded))


class SlugAppliedElsewhere(_FileAndLedger):
    """A file holds the slug under one version while the ledger applied the slug as another, whose file is gone."""

    fields = ("slug", "path", "version", "filename", "where")
    message = ("{at}slug {slug!r} is {path.name}, but the database applied {slug!r} as {version} ({filename}), "
               "whose file is gone: the files and the ledger disagree")
    hint = ("if {path.name} is that migration written again under a new version, delete it and run this again: "
            "the migration then gets its own version back; if it is another migration, give it another slug")


class SlugRecordedTwice(_FileAndLedger):
    fields = ("slug", "recorded", "where")
    message = ("{at}the database knows slug {slug!r} as {count} migrations whose files are gone: {listed}; "
               "which one this is cannot be told")
    hint = "restore their files from version control, or give the cell --version with the version it is"

    count = property(lambda self: len(self.recorded))


class SlugRecordedAs(_FileAndLedger):
    fields = ("slug", "version", "recorded", "where")
    message = "{at}--version {version}, but the database knows slug {slug!r} as {listed}, whose file is gone"
    hint = "drop --version: the migration then gets its own version back; or use a new slug for a new migration"


# -- notebooks ------------------------------------------------------------------------------------


class NotebookError(ConfigError):
    """A notebook file that cannot be read or exported; nothing was written."""

    fields = ("path",)


class NotebookNotFound(NotebookError):
    message = "notebook {path} does not exist"
    hint = "check the path (relative to the current folder)"


class NotANotebook(NotebookError):
    fields = ("path", "detail")
    message = "{path} is not a Jupyter notebook: {detail}"
    hint = "give the .ipynb file that holds the migration cells"


class NotebookJsonError(NotebookError):
    """Truncated or otherwise invalid JSON, with where it breaks."""

    fields = ("path", "line", "column", "detail")
    message = "{path}:{line}:{column}: the notebook is not valid JSON ({detail})"
    hint = ("the file is truncated or was edited by hand: restore it from version control, "
            "or open it in Jupyter and save it again")


class UnsupportedNotebookFormat(NotebookError):
    fields = ("path", "version")
    message = "{path} is a notebook of nbformat {version}, which cannot be read here (formats 2 to 4 can)"

    @property
    def hint(self) -> str:
        if isinstance(self.version, int) and self.version > 4:
            return "upgrade nbformat (`pip install -U nbformat`) to read it"
        return "open it in Jupyter and save it, which writes the current format (4)"


class NothingToExport(NotebookError):
    fields = ("path", "cells")
    message = "{path} {what}: nothing to export"
    hint = "a migration cell starts with `%%migration SLUG` on its first line"

    what = property(lambda self: "has no cells" if not self.cells
                    else f"has no %%migration cell among its {self.cells} cells")


class BadMigrationLine(NotebookError):
    """A ``%%migration`` line that the magic would refuse too."""

    fields = ("path", "index", "line", "detail")
    message = "{path} cell {index}: {detail}\n  line: {line}"
    hint = "fix the cell's first line; `%%migration?` in a notebook shows its arguments"


class DuplicateSlugInNotebook(NotebookError):
    fields = ("path", "slug", "indexes")
    message = "{path}: cells {cells} both write migration {slug!r}"
    hint = "each migration is one cell: rename the slug of one of them, or delete one"

    cells = property(lambda self: " and ".join(str(i) for i in self.indexes))


class DuplicateVersionInNotebook(NotebookError):
    fields = ("path", "version", "indexes")
    message = "{path}: cells {cells} both ask for --version {version}"
    hint = "drop --version from the newer cell: it then takes the next free version"

    cells = DuplicateSlugInNotebook.cells


class DuplicateCellIdInNotebook(NotebookError):
    fields = ("path", "cell_id", "indexes")
    message = "{path}: cells {cells} have one id, {cell_id!r}, and a migration's file names its cell by its id"
    hint = "give each cell an id of its own: Jupyter does when it opens the notebook and saves it again"

    cells = DuplicateSlugInNotebook.cells


class NoNotebookPath(ConfigError):
    fields = ()
    message = "the file of this notebook is not known to the kernel"
    hint = "give it: `%migrate export NOTEBOOK.ipynb` (the file as last saved is exported)"


class NotebookExists(NotebookError):
    message = "{path} exists already; it was left as it was"
    hint = "choose another file with -o, or pass --force to replace it"


class NotebookFolderMissing(NotebookError):
    message = "cannot write {path}: folder {path.parent} does not exist"
    hint = "create the folder first, or choose another file with -o"


# -- running ----------------------------------------------------------------------------------------


class MigrationFailed(DuckmigError):
    """A migration raised while running; its transaction was rolled back."""

    exit_code = EXIT_FAILED
    # where: FILE:LINE of a Python migration's code that raised; last: the statement it ran before it
    # raised, when the statement is not what failed
    # limit: what DuckLake cannot do and what to write instead, where DuckDB's message is one of its refusals;
    # refused: what to do about a write DuckDB refused, by the cause its message names (engine/refusals.py)
    fields = ("version", "statement", "error", "direction", "partial", "group", "where", "outcome", "last",
              "limit", "refused")
    direction, partial, group, where, outcome, last, limit, refused = "up", False, None, None, None, None, None, None
    message = "{verb} {version} failed: {stripped}{context}\n  {fate}"
    actions = {"repair": Do("repair")}

    verb = property(lambda self: "applying" if self.direction == "up" else "reverting")
    stripped = property(lambda self: self.error.strip())
    where_line = property(lambda self: f"\n  at: {self.where}" if self.where else "")

    @property
    def statement_line(self) -> str:
        if self.statement:
            return f"\n  statement: {cut(self.statement, 160)}"
        return f"\n  last statement before it (it ran): {cut(self.last, 160)}" if self.last else ""

    @property
    def context(self) -> str:
        """The failing statement, then where the code ran it; or where the code raised, then the
        statement it ran last."""
        return self.statement_line + self.where_line if self.statement else self.where_line + self.statement_line

    @property
    def fate(self) -> str:
        if self.group:
            return (f"rolled back with the {plural(self.group, 'migration')} before it in the single "
                    "transaction: nothing of the run remains")
        if self.partial:
            return "it ran outside a transaction: the statements before this one were committed"
        return self.outcome or "rolled back: nothing of it remains"

    @property
    def specific_hint(self) -> str | None:
        """The hint of this failure's own cause, where one is known: a DuckLake limit, or the rule of a
        statement duckmig refused; None where only the general one applies."""
        return self.limit or self.__dict__.get("hint")

    @property
    def hint(self) -> str:
        if self.limit:
            return self.limit + ("; then run the migration again" if self.direction == "up" else
                                 "; then store the downgrade with {repair} and revert again")
        if self.refused:
            return self.refused
        if self.direction == "up":
            return "fix the migration and run it again"
        return "fix the downgrade in the file, store it with {repair}, and revert again"


class TransactionLost(MigrationFailed):
    """The migration's transaction ended before duckmig committed it: not through duckmig, so what
    became of the statements before is not known, and not guessed."""

    fields = ("version", "statement", "error", "direction")
    outcome = "duckmig cannot tell what of it was committed: check the database before running it again"
    hint = ("run a migration's statements through its session only, and keep other threads off the connection "
            "while duckmig runs")


class LedgerChanged(MigrationFailed):
    """A migration changed the ledger's events (it may read them, not change them): found by
    effect, at the end of its transaction, before its own event; its transaction was rolled back.
    ``outside``: it ran outside a transaction (transaction:false), so nothing could be rolled back."""

    fields = ("version", "table", "before", "after", "direction", "outside")
    statement, outside = None, False
    hint = ("a migration may read {table}, not change it: take the statements that write it out of the "
            "migration, then run it again; {status} shows the state")
    actions = {"status": STATUS}

    error = property(lambda self: f"it changed the ledger {self.table}: {self.before} when it began, "
                                  f"{self.after} at its end")
    outcome = property(lambda self: "it ran outside a transaction (transaction:false): its statements were "
                                    "committed as they ran and cannot be rolled back, the ledger's change "
                                    "among them; no event of it was recorded" if self.outside else None)


class Interrupted(DuckmigError):
    """Ctrl-C (SIGINT) while migrations ran; ``what`` says what became of them, on one line."""

    exit_code = 130
    fields = ("what", "version", "done")
    version, done = None, 0
    message = "interrupted: {what}"


class RunStopped(MigrationFailed):
    """A migration failed in a run: the failure, what the run did before it (kept), and what it did not try."""

    fields = ("failed", "done", "not_tried")
    message = MigrationFailed.message + "{run_lines}"
    SHOWN = 10  # versions listed before "and N more"

    def hint_text(self, words: Words = PYTHON) -> str | None:
        return self.failed.hint_text(words)  # a hint given when the failure was raised, too

    @property
    def run_lines(self) -> str:
        lines = []
        if self.done and not self.group:
            lines.append(f"{'applied' if self.direction == 'up' else 'reverted'} before it, and kept: "
                         + self._listed(self.done))
        if self.not_tried:
            lines.append("not tried: " + self._listed(self.not_tried))
        return "".join(f"\n  {line}" for line in lines)

    def _listed(self, versions) -> str:
        more = f" and {len(versions) - self.SHOWN} more" if len(versions) > self.SHOWN else ""
        return ", ".join(versions[:self.SHOWN]) + more


for _name in MigrationFailed.fields:  # the failure's own data, read through
    setattr(RunStopped, _name, property(lambda self, name=_name: getattr(self.failed, name)))


class NotApplied(DuckmigError):
    """A ``%%migration --apply`` whose migration did not run, because one pending before it failed."""

    exit_code = EXIT_FAILED
    fields = ("version", "failed")

    def message_text(self, words: Words = PYTHON) -> str:
        return (f"{self.version} was not applied: {self.failed.version}, pending before it, failed first\n"
                + self.failed.message_text(words))

    def hint_text(self, words: Words = PYTHON) -> str | None:
        return self.failed.hint_text(words)


class NotTransactional(ConfigError):
    fields = ("versions",)
    message = "cannot apply in a single transaction: {listed} {run} outside one (transaction:false)"
    hint = "apply without {single_transaction}, or up to the version before it first"
    actions = {"single_transaction": Option("single_transaction")}

    listed = property(lambda self: ", ".join(self.versions))
    run = property(lambda self: "runs" if len(self.versions) == 1 else "run")


class CommitFailed(DuckmigError):
    """DuckDB refused a COMMIT (a write conflict, a full disk, a file it may not write); it rolled back."""

    exit_code = EXIT_FAILED
    fields = ("reason", "version", "refused")  # refused: what to do, by the cause DuckDB's message names
    version = refused = None
    message = "DuckDB could not commit {what}: {reason}\n  rolled back: nothing of it remains"
    hint = property(lambda self: self.refused or "DuckDB's message above says why; run it again once that is resolved")

    what = property(lambda self: self.version or "the change")


class LedgerMoved(CommitFailed):
    """Another runner recorded migrations in the shared catalog since this run planned; what this
    run's transaction did was rolled back. The migrator plans again or says who won."""


class RunnerConflict(DuckmigError):
    """Another runner recorded a migration in the shared catalog (a DuckLake) while this run's
    transaction was open; DuckDB refused this one's COMMIT and rolled it back."""

    exit_code = EXIT_FAILED
    fields = ("version", "holder", "other", "since")
    message = ("another runner won: {holder} recorded {other} at {since} UTC while this run's transaction for "
               "{version} was open, so DuckDB refused this one's COMMIT\n  rolled back: nothing of it remains")
    hint = ("run it again: it plans from what the other runner did; or retry with {wait}, which retries until "
            "the other runner is done")
    actions = {"wait": Setting("wait")}


class IrreversibleMigration(DuckmigError):
    fields = ("version",)
    message = "{version} has no downgrade, so it cannot be reverted"
    hint = ("write a `-- migrate:down` section (then {repair} to store it), "
            "or drop the change by hand and {stamp} the version before it")
    actions = {"repair": Do("repair"), "stamp": Do("stamp")}


class StoredPythonDowngrade(ConfigError):
    """Reverting needs the Python downgrade stored in the ledger, which is code from the database file."""

    fields = ("version", "why", "source")
    message = ("{version} was not reverted: {why}, and the downgrade stored in the ledger is Python code, which "
               "runs only when trusted; nothing was reverted. The stored code:\n{source}")
    hint = ("restore the file as it was applied (from version control, say) and revert again; or, having read "
            "the code above, pass {trust} to run it")
    actions = {"trust": Option("trust_stored_python")}


# -- preview -----------------------------------------------------------------------------------------


class PreviewNotPossible(DuckmigError):
    fields = ("version", "reason", "hint")
    message = "cannot preview {version}: {reason}"


class PreviewRefused(PreviewNotPossible):
    """A migration runs a statement whose effect a dry run's rollback would not undo; it was not run."""

    fields = ("version", "statement", "why")
    hint = "apply it to a copy of the database (and its folder) to see what it does"

    reason = property(lambda self: f"it runs `{cut(self.statement, 160)}`, and {self.why}; a "
                                    "preview leaves everything as it was, so it refused that statement and "
                                    "rolled back")


class PreviewFailed(DuckmigError):
    """A preview asked for before applying shows a migration failing; nothing was applied."""

    exit_code = EXIT_FAILED
    fields = ("failed",)
    message = "nothing was applied: in the preview, {failed.version} fails: {error}{failed.statement_line}"

    def hint_text(self, words: Words = PYTHON) -> str | None:
        return self.failed.hint_text(words)

    error = property(lambda self: first_line(self.failed.error) if self.failed.error.strip() else "it raised")


class BadSampleSize(ConfigError):
    fields = ("sample",)
    message = "the sample size must be a whole number of 1 or more, not {sample!r}"
    hint = "a sample of 20 shows up to 20 changed rows a table"


class UnknownKeyTable(ConfigError):
    fields = ("table", "tables")
    message = "a key is given for table {table}, which is in the database neither before nor after the migration"
    hint = "its tables: {listed}"

    listed = property(lambda self: ", ".join(self.tables) or "none")


class UnknownKeyColumn(ConfigError):
    fields = ("table", "column", "columns", "missing")
    message = "{what}"
    hint = "key columns to choose from: {listed}"

    listed = property(lambda self: ", ".join(self.columns) or "none")

    @property
    def what(self) -> str:
        if self.missing:
            return (f"key column {self.column} of table {self.table} does not exist {self.missing} the "
                    "migration; a key must be there before and after")
        return f"table {self.table} has no column {self.column}"


class NoKeyColumns(ConfigError):
    fields = ("table",)
    message = "the key given for table {table!r} names no column"
    hint = "name the columns that identify a row, for example {{'events': ['day', 'seq']}}"


class DuplicateKey(ConfigError):
    fields = ("table", "key", "value", "count", "side")
    message = "key ({columns}) of table {table} is not unique {side} the migration: {shown!r} is in {count} rows"
    hint = "name columns that identify one row as the key of {table}, or give no key to compare whole rows"

    columns = property(lambda self: ", ".join(self.key))
    shown = property(lambda self: self.value[0] if len(self.value) == 1 else self.value)


class NotInPreview(DuckmigError):
    fields = ("table", "tables")
    message = "table {table} is not in this preview"
    hint = "the preview's tables: {listed}"

    listed = UnknownKeyTable.listed


# -- the database against the files ---------------------------------------------------------------


class DriftError(DuckmigError):
    exit_code = EXIT_DRIFT
    fields = ("drifted", "copies")
    copies = ()  # (pending version, missing version, slug): a migration written again under a new version
    message = "applied migrations differ from their files: {listing}"
    actions = {"verify": Do("verify"), "repair": Do("repair"), "restore": Do("restore"),
               "allow_drift": Option("allow_drift"), "export": Do("export", ("NOTEBOOK.ipynb",))}

    listing = property(lambda self: ", ".join(f"{v} ({state})" for v, state in self.drifted))

    @property
    def hint(self) -> str:
        if all(state != "missing" for _, state in self.drifted):
            return ("{verify} shows the details; accept intended edits with {repair}, restore the files, "
                    "or pass {allow_drift} to apply on top of them")
        # A missing file is lost work, not an edit: forgetting the rows would apply the migrations again.
        first = ""
        if self.copies:
            one = len(self.copies) == 1
            first = (f"pending {', '.join(f'{new} ({slug}, applied as {old})' for new, old, slug in self.copies)} "
                     f"{'is' if one else 'are'} most likely {'that migration' if one else 'those migrations'} "
                     f"written again under a new version, and applying would run {'it' if one else 'them'} "
                     f"twice: delete {'its file' if one else 'their files'}; then ")
        return (first + "restore the files of the missing migrations: a migration's version lives in its file. "
                "{restore} writes them back from the text the ledger stored when each was applied; or take them "
                "from version control, or export again the notebook that wrote them ({export} gives each cell "
                "back the version the database applied it as); {verify} shows the details")


class EditedSinceApplied(DriftError):
    """A migration to revert whose file changed since it was applied: the file's downgrade may not undo what was
    applied, and the one the ledger stored is data anyone who can write the database may have written."""

    fields = ("version", "name")
    message = ("{version} was not reverted: {name} changed since it was applied, so its downgrade may not undo "
               "what was applied; nothing was reverted")
    hint = ("restore the file as it was applied (from version control, say) and revert again; or accept the edit "
            "with {repair}, then the file's downgrade reverts it; or, to revert with the downgrade the ledger stored "
            "when it was applied (shown before it runs), pass {stored}")
    actions = {"repair": Do("repair"), "stored": Option("stored_downgrade")}


class OutOfOrder(DuckmigError):
    exit_code = EXIT_DRIFT
    fields = ("versions", "newest_applied")
    message = "pending {listed} older than the newest applied migration {newest_applied}"
    hint = "apply them anyway with {out_of_order}, or give them newer versions"
    actions = {"out_of_order": Option("out_of_order")}

    listed = property(lambda self: ", ".join(self.versions))
