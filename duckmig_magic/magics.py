"""The notebook magics: ``%%migration`` writes a cell as a version file,
``%migrate`` runs the verbs of the ``duckmig`` command on the connected database.

    %load_ext duckmig_magic
    %migrate connect metrics.db            # a path, :memory:, or a variable holding a duckdb connection

    %%migration add_tags --apply
    -- migrate:up
    ALTER TABLE metrics ADD COLUMN tags VARCHAR;
    -- migrate:down
    ALTER TABLE metrics DROP COLUMN tags;

    df = %migrate status
    p = %migrate preview                   # what `up` would do: p.schema, p.summary, p.rows("metrics")

``%%migration SLUG --preview`` writes the cell's file and shows what applying
it would do; with ``--apply`` as well, it then applies it.

Settings: ``%config Duckmig.directory = 'migrations'`` and
``%config Duckmig.sample_size = 20``.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Int, Unicode, observe

from . import cells, commands, config, errors
from .arguments import arg
from .commands import SCHEMA_ARGUMENTS
from .display import NOTEBOOK_WORDS as WORDS
from .display import PreviewView, ProgressView, StatusView, shown, viewed
from .engine import Event, MigrationStatus, Migrator, NoDowngrade, has_downgrade, is_connection, lake, probe
from .render import changes, results
from .render.common import ignored_files_as_lines, plural, terminal_safe
from .render.progress import TextProgress


def table(items, row_type):
    """A DataFrame with a row per item and a column per field of the dataclass ``row_type``.

    What ``%migrate status`` and ``%migrate history`` return; richer notebook
    views replace this function.
    """
    import pandas as pd

    columns = [f.name for f in fields(row_type)]
    return pd.DataFrame([[getattr(item, c) for c in columns] for item in items], columns=columns)


def _arguments(arguments):
    """Decorate a magic with its arguments, for IPython's magic_arguments to build its parser and help."""
    def decorate(fn):
        for a in reversed(arguments):  # decorators apply bottom-up; keep the listed order
            fn = argument(*a.flags, help=a.magic_help or a.help, **a.options)(fn)
        return fn
    return decorate


def _parser(name: str, help_: str, arguments):
    """The parser of ``%migrate NAME``."""
    def verb():
        pass

    verb.__doc__ = help_
    return magic_arguments(f"migrate {name}")(_arguments(arguments)(verb)).parser


CONNECT = (
    arg("target", nargs="?", help="a database file, :memory:, a DuckLake (ducklake:PATH.ducklake, "
                                  "ducklake:postgres:dbname=NAME host=HOST), or the name of a variable holding a "
                                  "duckdb connection (used as it is: no second connection fights over the file)"),
    *commands.WHERE,
)
PARSERS = {
    "connect": _parser("connect", "choose the database and migrations directory the magics work on; without "
                                  "TARGET, show the current choice", CONNECT),
    **{name: _parser(name, v.help, v.args) for name, v in commands.VERBS.items()},
}


def _split(line: str, magic: str) -> list[str]:
    try:
        return cells.split(line, magic)
    except cells.LineError as exc:
        raise UsageError(exc.message) from None


def _parse(parser, argv: list[str]):
    try:
        return parser.parse_args(argv)
    except UsageError as exc:
        raise UsageError(f"%{parser.prog}: {exc}\n{cells.one_line_usage(parser)}") from None


def parse_migration_line(line: str):
    """The arguments of a ``%%migration`` line (slug, description, apply, preview, python, version);
    raises UsageError with the usage line."""
    try:
        return cells.parse(line)
    except cells.LineError as exc:
        raise UsageError(f"{exc.message}\n{exc.usage}" if exc.usage else exc.message) from None


def not_connected() -> errors.ConfigError:
    return errors.ConfigError("no database to migrate: nothing is connected and no database is set",
                              "run `%migrate connect TARGET` with a database file, :memory:, or the name of a "
                              'variable holding a duckdb connection; or set database = "..." under [tool.duckmig] '
                              "in pyproject.toml")


def preview_failed(failed: errors.MigrationFailed) -> errors.RunFailed:
    """``%%migration --preview --apply`` whose preview shows ``failed``: nothing was applied."""
    error = errors.first_line(failed.error) if failed.error.strip() else "it raised"
    return errors.RunFailed(f"nothing was applied: in the preview, {failed.version} fails: {error}"
                            f"{failed.statement_line}", failed=failed)


class _CellProgress(TextProgress):
    """A line per migration in the output of the cell running now."""

    def __init__(self):
        self.open = False  # a migration started and has not finished

    @property
    def stream(self):
        return sys.stdout


@magics_class
class Duckmig(Magics):
    """Migrations of one DuckDB database, written and applied from notebook cells."""

    directory = Unicode(None, allow_none=True, help=(
        "The migrations directory when `%migrate connect` gives no --dir "
        "(unset: DUCKMIG_DIR, [tool.duckmig] directory, else migrations).")).tag(config=True)
    sample_size = Int(20, help="Rows a table that previews show.").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell, **kwargs)
        self._target: _Target | None = None  # what %migrate connect chose
        self._migrator: Migrator | None = None
        self._progress = _CellProgress()

    @observe("directory")
    def _directory_changed(self, change) -> None:
        self._release()  # rebuilt with the new directory when next used

    # -- the magics ---------------------------------------------------------------

    @cell_magic
    @no_var_expand  # the line is read as written, as `duckmig export` reads it from the file
    @magic_arguments("%migration")
    @_arguments(cells.ARGUMENTS)
    def migration(self, line, cell):
        """Write the cell as a migration's version file, and show what was done.

        The cell is the SQL form (`-- migrate:up`, then `-- migrate:down`), or
        with --python a class derived from duckmig_magic.BaseMigration (its
        version may be left out: the file name gives it). Running the cell
        again updates the same file; once that version is applied, a changed
        cell is refused until the migration is reverted.

        With --preview the file is written all the same, then the cell shows
        what applying it would do, with nothing applied: the preview of
        `%migrate preview VERSION` (the same object, with .schema, .summary,
        .rows(table)). A cell without a downgrade gets one proposed from the
        preview, to paste into it.
        """
        args = parse_migration_line(line)
        with self._reported():
            m = self._connected()
            saved = m.save(args.slug, cell, python=args.python, description=args.description,
                           source=self._source(m), where=f"%%migration {args.slug}", version=args.version)
            gone = ", as the database applied it: its file was gone" if saved.action == "restored" else ""
            print(f"{saved.action}: {saved.path} (version {saved.version}{gone})")
            if not saved.applied:  # DuckDB's traps, told before --apply runs anything
                self._lint_cell(m, saved.version)
            view = self._preview_cell(m, saved.script) if args.preview else None
            if not args.apply:
                return view
            if saved.applied:  # as save read the ledger: it is read once more only by what runs
                # Nothing to run, even while other files are missing (a Run All that restores them).
                print(f"nothing to apply: {saved.version} is applied")
                return view
            if view is not None:
                from IPython.display import display

                display(view)  # above the apply's output: what is about to happen, then that it did
                if not view.preview.ok:
                    raise preview_failed(view.preview.failed)
            elif not has_downgrade(saved.script):  # what the preview proposes, before it runs without one
                p = m.preview(saved.version, sample=1)
                if p.ok and p.versions:
                    print(changes.proposal(p, saved.script, saved.script.kind == "python", WORDS))
            try:
                with warnings.catch_warnings():  # the cell has just said it has no downgrade, and what to paste
                    warnings.simplefilter("ignore", NoDowngrade)
                    self._do("up", commands.arguments("up", target=saved.version, no_lint=args.no_lint))
            except errors.MigrationFailed as exc:
                if exc.version != saved.version:
                    raise errors.RunFailed(f"{saved.version} was not applied: {exc.version}, pending before it, "
                                           f"failed first\n{exc.message_text()}", failed=exc) from None
                raise

    @cell_magic
    @no_var_expand
    @magic_arguments("%schema")
    @_arguments(SCHEMA_ARGUMENTS)
    def schema(self, line, cell):
        """Show the migration (up and down) that takes the connected database to the schema the cell
        declares, with the preview of applying it: the cell holds the DDL of the schema you want
        (CREATE TABLE, CREATE VIEW, ...), built in a scratch database in memory.

        A table or column that disappears while a like one appears is proposed as a rename, never
        taken silently: decide it with --rename OLD=NEW or --no-rename OLD. With --save SLUG the
        migration is written as the version file of SLUG, as a %%migration cell would write it.
        """
        args = _parse(Duckmig.schema.parser, _split(line, "%%schema"))
        with self._reported():
            m = self._connected()
            renames = commands.rename_options(args.rename, "%%schema")
            result = m.diff(cell, renames=renames, no_renames=args.no_rename or [], save=args.save,
                            sample=self.sample_size)
            print(results.schema_diff_text(result, WORDS, with_preview=False))
            return PreviewView(result.preview) if result.preview is not None else None

    @line_magic
    @magic_arguments()
    @argument("verb", choices=list(PARSERS), help="what to do; each takes the arguments listed below")
    @argument("arguments", nargs="*", help="the verb's arguments")
    def migrate(self, line):
        """Run a verb of the duckmig command on the connected database.

        Connect first (`%migrate connect metrics.db`), unless pyproject.toml
        names the database under [tool.duckmig]. The verbs take the arguments
        of `duckmig VERB`; status and history return DataFrames
        (`df = %migrate status`).
        """
        argv = _split(line, "%migrate")
        if not argv or argv[0] not in PARSERS:
            what = f"unknown verb {argv[0]!r}" if argv else "no verb given"
            raise UsageError(f"%migrate: {what}\n{cells.one_line_usage(Duckmig.migrate.parser)}")
        verb = argv[0]
        args = _parse(PARSERS[verb], argv[1:])
        with self._reported():
            if verb == "connect":
                return self._connect(args)
            if verb == "export" and args.notebook is None:
                args.notebook = self._notebook_file()
                if args.notebook is None:
                    raise errors.ConfigError("the file of this notebook is not known to the kernel",
                                             "give it: `%migrate export NOTEBOOK.ipynb` (the file as last saved is "
                                             "exported)")
            if verb == "preview" and args.sample is None:
                args.sample = self.sample_size
            return self._do(verb, args)

    # -- verbs --------------------------------------------------------------------

    def _do(self, name: str, args):
        """Run a verb of ``commands`` on what this notebook is connected to, and show its result."""
        verb = commands.VERBS[name]
        known = self._target is not None or config.resolve().database is not None
        target = self._connected() if verb.needs_migrator(known) else config.Settings(None, self._directory())
        # A progress bar where a widget frontend runs; the lines of self._progress elsewhere.
        with shown(target, name) if verb.progress else nullcontext() as progress:
            result = commands.call(verb, target, args, progress)
        for warning in result.inexact if isinstance(result, commands.NotebookBuilt) else ():
            print(terminal_safe(f"warning: {warning}"), file=sys.stderr)
        if name == "status":  # a DataFrame that a notebook shows as the dashboard
            return viewed(table(result.migrations, MigrationStatus), StatusView(target, report=result))
        if name == "history":
            return table(result.events, Event)
        if name == "preview":
            return PreviewView(result)
        text = results.text(result, WORDS).rstrip("\n")
        if commands.exit_code(result):  # a failed check or a refusal: an error, so a notebook run as a check fails
            raise UsageError(text)
        if text and not (isinstance(progress, ProgressView) and not progress.show_at_start):
            print(text)  # a bar that was shown ends with the summary itself

    def _connect(self, args) -> None:
        if args.target is None:
            print(self._describe())
            return
        # Checked as the command checks --database: the lake settings against what TARGET names, nothing opened.
        config.resolve(args.target, data_path=args.data_path, options=args.option)
        database, label = self._database(args.target)
        opened = is_connection(database)
        target = _Target(None if opened else database, database if opened else None, label, args.directory,
                         args.table, args.wait, args.data_path, args.option)
        self._release()  # a DuckLake is attached once in a process: connecting to it again needs it let go
        m = self._build(target)  # before the target is replaced: a failed connect keeps the one there was
        try:
            found = probe.look(m)  # opened now: a lock, a file that is no database or a foreign table is told here
        except BaseException:
            m.db.close()  # a lake attached for nothing would stand in the way of the next connect
            raise
        self._target, self._migrator = target, m
        notes = [] if m.scripts.exists() else [f"{m.scripts.versions_dir} does not exist yet: "
                                               "the first %%migration cell creates it"]
        said = [] if args.target == ":memory:" else [found_line(found, m.table)]  # new, and its label says so
        print("\n".join([self._describe()] + said + notes))

    def _lint_cell(self, m: Migrator, version: str) -> None:
        """The lint's errors and warnings on the cell's migration, printed where there are any (a missing
        downgrade is told by the preview, which proposes one)."""
        report = m.lint([version], settings=config.lint_settings())
        told = [f for f in report.findings if f.severity != "info"]
        if told:
            print(results.text(commands.Linted(told, report.checked), WORDS))

    def _preview_cell(self, m: Migrator, script):
        """What ``up`` through the cell's version would do; a downgrade proposed where it has none."""
        p = m.preview(script.version, sample=self.sample_size)
        if not p.versions:
            print(f"nothing to preview: {script.version} is applied")
            return None
        if p.ok and not has_downgrade(script):
            print(changes.proposal(p, script, script.kind == "python", WORDS))
        return PreviewView(p)

    @contextmanager
    def _reported(self):
        """Turn the errors a user can cause into UsageError: one message, no traceback."""
        import duckdb

        self._progress.open = False
        with ignored_files_as_lines("warning: "):
            try:
                yield
            except errors.BadArguments as exc:
                raise UsageError(terminal_safe(f"%migrate {exc.render(WORDS)}")) from None
            except errors.DuckmigError as exc:
                raise UsageError(terminal_safe(exc.render(WORDS))) from None
            except duckdb.Error as exc:  # the engine wraps its own; this is the state of the user's connection
                hint = ("ROLLBACK the connection's failed transaction" if "transaction is aborted" in str(exc)
                        else "it came from the connected database; `%migrate connect` shows which it is")
                raise UsageError(f"DuckDB: {str(exc).strip()}\n  hint: {hint}") from None
            finally:
                self._progress.fail()  # a migration stopped half-way: end its progress line

    # -- state ----------------------------------------------------------------------

    def _connected(self) -> Migrator:
        if self._migrator is None:
            self._migrator = self._build(self._target)
        return self._migrator

    def _release(self) -> None:
        """Drop the Migrator, closing what it opened and keeps; the next verb builds it again."""
        if self._migrator is not None:
            self._migrator.db.close()
        self._migrator = None

    def _build(self, target: _Target | None) -> Migrator:
        if target is None:  # no connect: the settings name the database, or nothing does
            settings = config.resolve(None, self.directory)
            if settings.database is None:
                raise not_connected()
            database, wait = settings.target, 0.0
        else:
            settings = config.resolve(target.database, target.directory or self.directory, target.table,
                                      data_path=target.data_path, options=target.options)
            database = settings.target if target.connection is None else target.connection
            wait = target.wait
        return Migrator(database, settings.directory, table=settings.table, wait=wait, progress=self._progress,
                        keep=settings.keep, keep_limit=settings.keep_limit)

    def _directory(self) -> str:
        if self._target is not None or config.resolve().database is not None:
            return str(self._connected().directory)
        return config.resolve(None, self.directory).directory

    def _describe(self) -> str:
        if self._target is None and config.resolve().database is None:
            return not_connected().render(WORDS)
        m = self._connected()
        if self._target:
            via = self._target.label or m.db.label
        else:
            origin = "DUCKMIG_DATABASE" if os.environ.get("DUCKMIG_DATABASE") else config.resolve().source
            via = f"{m.db.label} (from {origin})"
        return f"connected: {via}; migrations: {m.scripts.versions_dir}"

    @property
    def _user_ns(self) -> dict:
        """The notebook's variables."""
        assert self.shell is not None  # the extension's magics are made with the shell that loads them
        return self.shell.user_ns

    def _database(self, target: str):
        """(a connection to use as it is, or what duckmig opens; how to name it) for a connect TARGET."""
        ns = self._user_ns
        if target.isidentifier() and target in ns:
            value = ns[target]
            if not is_connection(value):
                raise errors.ConfigError(f"variable {target} holds a {type(value).__name__}, not a duckdb connection",
                                         f"assign {target} = duckdb.connect(...) first, or give the database's path "
                                         "instead")
            return value, f"the connection in {target}"
        if target == ":memory:":
            import duckdb

            # Held here, so a changed directory setting rebuilds the Migrator without losing the data.
            return duckdb.connect(":memory:"), "a new in-memory database"
        if lake.is_lake(target):
            return target, None  # the Migrator names it, without its password
        path = Path(os.path.expanduser(target))
        if target.isidentifier() and not path.exists():
            raise errors.ConfigError(f"{target} is neither a variable nor an existing database file",
                                     "for a connection, assign it to a variable first; for a new database file, give "
                                     f"it an extension (for example {target}.duckdb)")
        if not path.parent.is_dir():
            raise errors.no_database_folder(path)
        if path.is_dir():
            raise errors.database_unavailable(target, "that is a folder, not a database file")
        return str(path), str(path)

    def _notebook_file(self) -> Path | None:
        """The running notebook's file, when the frontend tells the kernel (JupyterLab, VS Code), or
        papermill does (``--inject-input-path``)."""
        ns = self._user_ns
        notebook = ns.get("__vsc_ipynb_file__") or ns.get("__session__") or ns.get("PAPERMILL_INPUT_PATH")
        if not isinstance(notebook, str) or not notebook.endswith(".ipynb"):
            return None
        path = Path(notebook)
        if not path.is_absolute():  # Jupyter's is relative to its root; the kernel runs in the notebook's folder
            path = Path.cwd() / path.name
        return path

    def _source(self, m: Migrator) -> str | None:
        """Where the cell lives, ``NOTEBOOK#cell=ID``, when the kernel knows; kept in the file's header."""
        from .notebooks import provenance

        path = self._notebook_file()
        if path is None:
            return None
        header = getattr(self.shell, "parent_header", None) or {}
        return provenance(path, m.directory, (header.get("metadata") or {}).get("cellId"))


Duckmig.migrate.__doc__ = (Duckmig.migrate.__doc__ or "") + "\n" + "\n".join(
    parser.format_help() for parser in PARSERS.values())


@dataclass(frozen=True)
class _Target:
    """What ``%migrate connect`` chose: a database duckmig opens, or a connection it uses as it is."""

    database: str | None
    connection: object | None
    label: str | None  # None: the Migrator's own label
    directory: str | None
    table: str | None
    wait: float
    data_path: str | None
    options: list[str] | None


def found_line(found, table: str) -> str:
    """What ``%migrate connect`` found in the database, in a line."""
    if found.new:
        return "found: no file yet, a new database: the first migration creates it"
    if found.layout == "legacy":
        return (f"found: a ledger of the seed's layout (id, version, description, applied_at) with "
                f"{plural(len(found.applied), 'migration')}: the first run that writes adopts it in place, "
                "nothing lost")
    if found.layout == "none":
        said = f"found: a database without a ledger ({table}): no migration applied yet"
    else:
        newest = f", the newest {found.applied[-1]}" if found.applied else ""
        failed = f"; {plural(len(found.failed), 'failed attempt')}" if found.failed else ""
        said = f"found: {plural(len(found.applied), 'applied migration')}{newest}{failed}"
    if found.read_only:
        said += ("\nthe connection is read-only: status and history work; up, down and preview need one "
                 "that can write")
    return said


def load(ipython) -> None:
    if Duckmig.__name__ in ipython.magics_manager.registry:
        return  # loaded already: keep its connection
    ipython.register_magics(Duckmig(ipython))


def unload(ipython) -> None:
    magics = ipython.magics_manager.registry.pop(Duckmig.__name__, None)
    if magics is None:
        return
    for kind, names in Duckmig.magics.items():
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
