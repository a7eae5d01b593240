"""The verbs of ``duckmig`` and ``%migrate``, each declared once: its help, its arguments, and one
function that does it and returns a result object, printing nothing.

A verb works on a ``Migrator`` (``on = DATABASE``), on the settings alone
(``DIRECTORY``: the migrations directory, and the database if one is named),
or on a Migrator where a database is known and else the settings
(``DATABASE_IF_KNOWN``). The command builds its argparse parser from
``VERBS`` and renders results as text or JSON; the magics build their
``magic_arguments`` parsers from it and render results in the notebook.

    from duckmig_magic import Migrator, commands
    commands.run("up", Migrator("metrics.db", "migrations"), target="20250710_000001")
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import config, errors
from .arguments import Arg, arg
from .config import Settings
from .engine import Migrator, ScriptDirectory, lake

# A verb's own parts of the engine are loaded when it runs: the names below are for annotations.
if TYPE_CHECKING:
    from .engine import Event, Preview, Progress, Repair, SchemaDiff, StatusReport, StepResult, VerifyReport
    from .engine import Restored as Restoration

DATABASE, DIRECTORY, DATABASE_IF_KNOWN = "database", "directory", "database if known"


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    args: tuple[Arg, ...]
    function: Callable
    on: str = DATABASE
    progress: bool = False  # runs migrations one by one: interfaces show their progress

    def needs_migrator(self, database_known: bool) -> bool:
        """Whether the verb works on a Migrator, rather than on the settings."""
        return self.on == DATABASE or (self.on == DATABASE_IF_KNOWN and database_known)


VERBS: dict[str, Verb] = {}


def verb(help: str, *args: Arg, on: str = DATABASE, progress: bool = False):
    """Declare the decorated function as the verb of its name."""
    def register(function):
        name = function.__name__.rstrip("_")
        VERBS[name] = Verb(name, help, args, function, on, progress)
        return function
    return register


def arguments(name: str, /, **given) -> argparse.Namespace:
    """The parsed arguments of verb ``name``: those given, and the others at their defaults."""
    v = VERBS[name]
    unknown = set(given) - {a.dest for a in v.args}
    if unknown:
        raise TypeError(f"{name} has no argument {', '.join(sorted(unknown))}")
    return argparse.Namespace(**{**{a.dest: a.default for a in v.args}, **given})


def run(name: str, on, /, progress: Progress | None = None, **given):
    """Run verb ``name`` on ``on`` (a Migrator or Settings, as the verb's ``on`` says) from Python,
    its arguments given by name and the others at their defaults; ``progress`` is told of each
    migration a verb that runs them runs."""
    return call(VERBS[name], on, arguments(name, **given), progress)


def call(v: Verb, on, args: argparse.Namespace, progress: Progress | None = None):
    """The verb's function on ``on`` with ``args``; ``progress`` goes to the verbs that run migrations."""
    return v.function(on, args, progress=progress) if v.progress else v.function(on, args)


def exit_code(result) -> int:
    """The command's exit code for a result: 0, or what a failed check or refusal calls for."""
    failed = getattr(result, "failed", None)  # a preview that shows a migration failing
    if isinstance(failed, errors.DuckmigError):
        return failed.exit_code
    return getattr(result, "exit_code", errors.EXIT_OK)


# -- results ------------------------------------------------------------------------------------------


@dataclass
class Initialized:
    directory: Path  # the versions/ folder
    created: bool


@dataclass
class Created:
    version: str
    path: Path


@dataclass
class Ran:
    """What ``up``, ``down`` or ``redo`` did, one step a migration."""

    verb: str
    steps: list[StepResult]

    def to_json(self):
        return self.steps


@dataclass
class History:
    events: list[Event]

    def to_json(self):
        return self.events


@dataclass
class Verified:
    report: VerifyReport
    roundtrip: bool

    @property
    def exit_code(self) -> int:
        return errors.EXIT_OK if self.report.ok else errors.EXIT_DRIFT

    def to_json(self):
        r = self.report
        return {"ok": r.ok, "checked": r.checked, "roundtrip": r.roundtrip,
                "problems": [p._asdict() for p in r.problems]}


@dataclass
class Stamped:
    versions: list[str]

    def to_json(self):
        return self.versions


@dataclass
class Restored:
    restored: list[Restoration]

    @property
    def exit_code(self) -> int:
        return errors.EXIT_FAILED if any(r.path is None for r in self.restored) else errors.EXIT_OK

    def to_json(self):
        return [{"version": r.version, "path": r.path, "skipped": r.reason} for r in self.restored]


@dataclass
class Repaired:
    repairs: list[Repair]

    def to_json(self):
        return [r._asdict() for r in self.repairs]


@dataclass
class Sql:
    sql: str


@dataclass
class Linted:
    """The lint's findings, shown as ``format`` says (text, or github: workflow annotations); with
    ``rules``, the catalogue of rules instead."""

    findings: list
    checked: list[str]
    format: str = "text"
    rules: tuple = ()
    fixed: list = field(default_factory=list)  # (file, unified diff) of each file --fix rewrote
    unread: str | None = None  # why the database's schema could not be read: judged from an empty one

    @property
    def exit_code(self) -> int:
        return errors.EXIT_FAILED if any(f.severity == "error" for f in self.findings) else errors.EXIT_OK

    def to_json(self):
        if self.rules:
            return [{"rule": r.id, "name": r.name, "severity": r.severity, "duckdb": str(r.versions), "why": r.why,
                     "fix": r.fix, "data": r.data} for r in self.rules]
        return {"checked": self.checked, "findings": [f.to_json() for f in self.findings],
                "fixed": [{"file": file, "diff": diff} for file, diff in self.fixed], "schema_unread": self.unread}


@dataclass
class Exported:
    cells: list  # notebooks.CellExport, one a migration cell

    @property
    def refused(self) -> list:
        return [c for c in self.cells if c.action in ("refused", "stale")]

    @property
    def exit_code(self) -> int:
        return errors.EXIT_DRIFT if self.refused else errors.EXIT_OK

    def to_json(self):
        return self.cells


@dataclass
class NotebookBuilt:
    notebook: object  # an nbformat NotebookNode
    path: Path | None  # where it was written; None: it is the output
    cells: int  # migration cells
    inexact: list[str]  # warnings of version files that would not come back byte for byte

    def to_json(self):
        return {"path": self.path, "migrations": self.cells} if self.path else None


# -- where a verb works ---------------------------------------------------------------------------------

# Given to the command before or after its verb, and to `%migrate connect` in a notebook; the command
# adds --database, the magic its TARGET. The lake's are named as ATTACH 'ducklake:...' (DATA_PATH '...') names them.
WHERE = (
    arg("--dir", dest="directory", metavar="DIR",
        help="the migrations directory, holding versions/ (DUCKMIG_DIR; default: migrations)",
        magic_help="the migrations directory, holding versions/ (default: %%config Duckmig.directory, "
                   "DUCKMIG_DIR, [tool.duckmig] directory, else migrations)"),
    arg("--table", help="the ledger table (default: duckdb_migrations)"),
    arg("--wait", type=float, default=0.0, metavar="SECONDS",
        help="wait up to SECONDS for another process's lock on the database"),
    arg("--data-path", metavar="DIR",
        help="a DuckLake's DATA_PATH, where its Parquet files go: a folder or a URL such as s3://bucket/lake/ "
             "(DUCKMIG_DATA_PATH; needed to create a lake whose catalog is not a DuckDB file; the lake keeps it)"),
    arg("--option", action="append", metavar="NAME=VALUE",
        help="another ATTACH option of a DuckLake, as in ATTACH 'ducklake:...' (NAME VALUE); repeatable: "
             + ", ".join(sorted(set(lake.OPTIONS) - {"DATA_PATH"}))
             + "; for data in S3: " + ", ".join(sorted(lake.S3_OPTIONS))
             + " (credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never an option)"),
)


# -- the verbs ------------------------------------------------------------------------------------------

TRUST_STORED_PYTHON = arg("--trust-stored-python", action="store_true",
                          help="where the downgrade stored in the database reverts a migration (its file is gone, "
                               "or --stored-downgrade) and it is Python, run it (it is code: read it first; without "
                               "this flag it is shown and not run)")
STORED_DOWNGRADE = arg("--stored-downgrade", action="store_true",
                       help="revert with the downgrade the ledger stored when the migration was applied (shown "
                            "before it runs), where its file changed since; without it, the file's downgrade runs, "
                            "and a file changed since it was applied is refused")
OUT_OF_ORDER = arg("--out-of-order", action="store_true", help="as for up")
# What decides a schema diff: `duckmig diff` and a %%schema cell.
SCHEMA_ARGUMENTS = (
    arg("--rename", action="append", metavar="OLD=NEW",
        help="take a table (or TABLE.COLUMN) that disappears for the one that appears: rename it, keeping its "
             "rows (repeatable)"),
    arg("--no-rename", action="append", metavar="OLD",
        help="drop the table (or TABLE.COLUMN) OLD and add the new one, which loses its data (repeatable)"),
    arg("--save", metavar="SLUG", help="write the migration as the version file of SLUG, as a %%%%migration "
                                       "cell would"),
)
ALLOW_DRIFT = arg("--allow-drift", action="store_true", help="as for up")


@verb("create the migrations directory and its versions/ folder", on=DIRECTORY)
def init(settings: Settings, args) -> Initialized:
    scripts = ScriptDirectory(settings.directory)
    created = scripts.make()
    return Initialized(scripts.versions_dir, created)


@verb("create a version file from a template (SQL unless --python)",
      arg("description", help="what the migration does; its slug names the file"),
      arg("--python", action="store_true", help="write the Python class form"), on=DIRECTORY)
def new(settings: Settings, args) -> Created:
    script = Migrator(":memory:", settings.directory).new(args.description, python=args.python)
    return Created(script.version, script.path)


@verb("apply pending migrations, each in its own transaction",
      arg("target", nargs="?", help="apply through this version (default: all)"),
      arg("--out-of-order", action="store_true",
          help="also apply pending migrations older than the newest applied one"),
      arg("--allow-drift", action="store_true", help="apply even though applied files were edited or deleted"),
      arg("--single-transaction", action="store_true",
          help="apply the whole run in one transaction: all of it lands or none of it"),
      arg("--no-keep", action="store_true",
          help="keep nothing of what this run destroys (by default duckmig keeps it, for `down` to put back)"),
      arg("--no-lint", action="store_true",
          help="skip the lint's rules that need no rows, which otherwise stop the run before its first migration "
               "on an error finding"),
      arg("--key", action="append", metavar="TABLE=COLUMN[,COLUMN...]",
          help="the columns that identify a table's rows where it has no primary key (repeatable): what is kept "
               "of it is matched by them at `down`; without one, as whole rows"),
      progress=True)
def up(m: Migrator, args, progress: Progress | None = None) -> Ran:
    return Ran("up", m.up(args.target, out_of_order=args.out_of_order, allow_drift=args.allow_drift,
                          single_transaction=args.single_transaction, progress=progress,
                          keep=False if args.no_keep else None, no_lint=args.no_lint,
                          lint_settings=None if args.no_lint else config.lint_settings(),
                          keys=preview_keys(args.key, "up")))


@verb("revert the newest migration; with TARGET, everything newer than TARGET",
      arg("target", nargs="?", help="keep this version, revert all newer ones; 'base' reverts all"),
      arg("--steps", type=int, help="revert this many migrations"), STORED_DOWNGRADE, TRUST_STORED_PYTHON,
      progress=True)
def down(m: Migrator, args, progress: Progress | None = None) -> Ran:
    return Ran("down", m.down(args.target, steps=args.steps, trust_stored_python=args.trust_stored_python,
                              stored_downgrade=args.stored_downgrade, progress=progress))


@verb("revert the newest migration and apply it again", OUT_OF_ORDER, ALLOW_DRIFT, STORED_DOWNGRADE, TRUST_STORED_PYTHON,
      progress=True)
def redo(m: Migrator, args, progress: Progress | None = None) -> Ran:
    return Ran("redo", m.redo(out_of_order=args.out_of_order, allow_drift=args.allow_drift,
                              trust_stored_python=args.trust_stored_python, stored_downgrade=args.stored_downgrade,
                              progress=progress))


@verb("list migrations with their state")
def status(m: Migrator, args) -> StatusReport:
    return m.status()


@verb("list the ledger's events (applied, reverted, failed, ...)",
      arg("version", nargs="?", help="only this version's events"))
def history(m: Migrator, args) -> History:
    return History(m.history(args.version))


@verb("check applied files against their checksums",
      arg("--roundtrip", action="store_true",
          help="also run up, down, up for each pending migration in a rolled-back transaction"),
      arg("--schema", action="store_true",
          help="also replay the applied migrations on an empty database in memory and list every difference "
               "of the database's catalog from what they make (changes done by hand); exit code 3 if any"))
def verify(m: Migrator, args) -> Verified:
    return Verified(m.verify(roundtrip=args.roundtrip, schema=args.schema), args.roundtrip)


@verb("record migrations through VERSION as applied without running them",
      arg("version", help="the newest version to record as applied"))
def stamp(m: Migrator, args) -> Stamped:
    return Stamped(m.stamp(args.version))


@verb("write back the deleted files of applied migrations from the text the ledger stored",
      arg("--trust-stored-python", action="store_true",
          help="write back Python files too: their text comes from the database, and it is code that `down` "
               "runs (read it first, in the ledger's source column)"))
def restore(m: Migrator, args) -> Restored:
    return Restored(m.restore(trust_stored_python=args.trust_stored_python))


@verb("accept edited files, clear failed attempts, forget rows of deleted files")
def repair(m: Migrator, args) -> Repaired:
    return Repaired(m.repair())


@verb("print the SQL that `up` would run, without running it",
      arg("target", nargs="?", help="through this version (default: all)"), OUT_OF_ORDER, ALLOW_DRIFT)
def sql(m: Migrator, args) -> Sql:
    return Sql(m.sql(args.target, out_of_order=args.out_of_order, allow_drift=args.allow_drift))


@verb("show what `up` would do to the schema and the rows: applied in a transaction that is rolled back",
      arg("target", nargs="?", help="through this version (default: all pending)"),
      arg("--key", action="append", metavar="TABLE=COLUMN[,COLUMN...]",
          help="the columns that identify a table's rows where it has no primary key (repeatable); "
               "without one, whole rows are compared"),
      arg("--sample", type=int, metavar="N", help="show up to N added, removed or changed rows a table "
                                                  "(default: 20)",
          magic_help="show up to N added, removed or changed rows a table (default: %%config "
                     "Duckmig.sample_size, 20)"),
      OUT_OF_ORDER, ALLOW_DRIFT)
def preview(m: Migrator, args) -> Preview:
    return m.preview(args.target, keys=preview_keys(args.key), sample=20 if args.sample is None else args.sample,
                     out_of_order=args.out_of_order, allow_drift=args.allow_drift)


@verb("write the migration (up and down) that takes the database to the schema a .sql file declares, with the "
      "preview of applying it; likely renames are proposed and must be decided before --save",
      arg("--to", metavar="SCHEMA.sql", help="the file of CREATE statements of the schema you want"),
      arg("--from-migrations", action="store_true",
          help="instead, the migration that brings the files in line with the database: what was changed in it "
               "by hand (the database has it already: stamp it after saving)"),
      *SCHEMA_ARGUMENTS,
      arg("--key", action="append", metavar="TABLE=COLUMN[,COLUMN...]", help="as for preview"))
def diff(m: Migrator, args) -> SchemaDiff:
    if (args.to is None) == (not args.from_migrations):
        raise errors.BadArguments("diff", "give --to SCHEMA.sql or --from-migrations, one of them")
    renames = rename_options(args.rename, "diff")
    return m.diff(Path(args.to) if args.to is not None else None, renames=renames, no_renames=args.no_rename or [],
                  save=args.save, from_migrations=args.from_migrations, keys=preview_keys(args.key))


def rename_options(options: list[str] | None, verb: str) -> dict[str, str]:
    """``--rename OLD=NEW`` options as ``{old: new}``."""
    renames = {}
    for option in options or []:
        old, _, new = option.partition("=")
        if not old.strip() or not new.strip():
            raise errors.BadArguments(verb, f"--rename takes OLD=NEW, not {option!r}",
                                      "for example --rename orders.cust=customer")
        renames[old.strip()] = new.strip()
    return renames


def preview_keys(options: list[str] | None, verb: str = "preview") -> dict[str, str]:
    """``--key TABLE=COLUMN[,COLUMN...]`` options as ``{table: columns}``."""
    keys = {}
    for option in options or []:
        table, _, columns = option.partition("=")
        if not table.strip() or not columns.strip():
            raise errors.BadArguments(verb, f"--key takes TABLE=COLUMN[,COLUMN...], not {option!r}",
                                      "for example --key events=day,seq")
        keys[table.strip()] = columns
    return keys


@verb("check the pending migrations (or VERSIONs) and their downgrades for DuckDB's traps before anything "
      "runs; exit code 1 on an error finding",
      arg("versions", nargs="*", metavar="VERSION", help="lint these versions (default: every pending one)"),
      arg("--rules", action="store_true", help="list the rules"),
      arg("--format", choices=("text", "github"), default="text",
          help="text, or github: workflow annotations with file and line"),
      arg("--no-data", action="store_true", help="leave out the rules that query the database's rows"),
      arg("--fix", action="store_true", help="write the fixes that are mechanical into the files of migrations "
                                             "not applied yet, and show the diff"),
      on=DATABASE_IF_KNOWN)
def lint(target: Migrator | Settings, args) -> Linted:
    if args.rules:
        from .engine import lint as lint_rules

        return Linted([], [], "text", lint_rules.RULES)
    m = target if isinstance(target, Migrator) else Migrator(":memory:", target.directory)
    report = m.lint(args.versions or None, data=not args.no_data, settings=config.lint_settings(), fix=args.fix)
    return Linted(report.findings, report.checked, args.format, fixed=report.fixed, unread=report.unread)


@verb("write a notebook's migration cells as version files, as running each cell would; a cell whose "
      "migration is applied in the database (if one is given) and whose text changed is refused, with "
      "exit code 3",
      arg("notebook", nargs="?", help="the .ipynb file, as last saved (in a notebook: the running one)"),
      arg("--force", action="store_true",
          help="also overwrite the files of applied migrations whose cell changed (status then shows them "
               "as modified)"),
      arg("--check", action="store_true",
          help="write nothing: exit code 3 where a cell's file is missing or differs from the cell"),
      on=DATABASE_IF_KNOWN)
def export(target: Migrator | Settings, args) -> Exported:
    from .notebooks import export_notebook

    if args.notebook is None:
        raise errors.BadArguments("export", "give the notebook to export", "{do:export NOTEBOOK.ipynb}")
    directory_or_migrator = target if isinstance(target, Migrator) else target.directory
    return Exported(export_notebook(args.notebook, directory_or_migrator, force=args.force, check=args.check))


@verb("build a notebook with a migration cell per version file; exporting it gives the same files back",
      arg("-o", "--output", metavar="FILE", help="write the notebook to FILE (default: print it)"),
      arg("--force", action="store_true", help="replace FILE if it exists"), on=DIRECTORY)
def notebook(settings: Settings, args) -> NotebookBuilt:
    from .notebooks import METADATA_KEY, build_notebook, write_notebook

    folder = Path(args.output).parent if args.output else Path.cwd()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = build_notebook(settings.directory, database=settings.database, folder=folder)
    path = write_notebook(nb, args.output, force=args.force) if args.output else None
    return NotebookBuilt(nb, path, sum(METADATA_KEY in c.metadata for c in nb.cells),
                         [str(w.message) for w in caught])


@dataclass
class KeptData:
    """What ``kept`` lists, or what ``prune`` freed (``pruned``)."""

    kept: list
    pruned: bool = False

    def to_json(self):
        return [{"version": k.version, "table": k.table, "rows": k.rows, "bytes": k.bytes, "state": k.state}
                for k in self.kept]


@verb("list what migrations kept of the data they destroyed, for `down` to put back: version, table, rows, bytes")
def kept(m: Migrator, args) -> KeptData:
    return KeptData(m.kept())


@verb("forget the data migrations kept; their downgrades then revert the schema only",
      arg("--through", metavar="VERSION", help="only what migrations through VERSION kept (default: all)"))
def prune(m: Migrator, args) -> KeptData:
    return KeptData(m.prune(args.through), pruned=True)
