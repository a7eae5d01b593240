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

import argparse
import ast
import io
import os
import sys
from contextlib import contextmanager, nullcontext
from dataclasses import fields
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Int, Unicode, observe

from . import cli, config, errors
from .engine import MigrationStatus, Migrator
from .engine.database import is_connection
from .engine.ledger import Event
from .text import TextProgress, ignored_files_as_lines

# The engine's hints name the command's verbs and flags; in a notebook they are the magic's.
_IN_A_NOTEBOOK = (("`duckmig ", "`%migrate "), ("`migrate ", "`%migrate "),
                  ("--database (DUCKMIG_DATABASE)", "the path given to `%migrate connect`"),
                  ("--dir (DUCKMIG_DIR)", "`%migrate connect TARGET --dir DIR`"))


def table(items, row_type):
    """A DataFrame with a row per item and a column per field of the dataclass ``row_type``.

    What ``%migrate status`` and ``%migrate history`` return; richer notebook
    views replace this function.
    """
    import pandas as pd

    columns = [f.name for f in fields(row_type)]
    return pd.DataFrame([[getattr(item, c) for c in columns] for item in items], columns=columns)


def _verb_parser(name: str, help_: str, arguments: list):
    """The parser of ``%migrate NAME``, built by IPython's magic_arguments so help is generated."""
    def verb():
        pass

    verb.__doc__ = help_
    for flags, kw in reversed(arguments):  # decorators apply bottom-up; keep the listed order
        verb = argument(*flags, **kw)(verb)
    return magic_arguments(f"migrate {name}")(verb).parser


# Where a magic's argument means more than the command's: defaults the magics' %config settings give.
_IN_A_NOTEBOOK_HELP = {
    ("--sample",): "show up to N added, removed or changed rows a table (default: %%config Duckmig.sample_size, "
                   "20)",
}

PARSERS = {
    "connect": _verb_parser("connect", "choose the database and migrations directory the magics work on; "
                            "without TARGET, show the current choice", [
        cli._arg("target", nargs="?",
                 help="a database file, :memory:, or the name of a variable holding a duckdb connection "
                      "(used as it is: no second connection fights over the file)"),
        cli._arg("--dir", dest="directory", metavar="DIR",
                 help="the migrations directory, holding versions/ (default: %%config Duckmig.directory, "
                      "DUCKMIG_DIR, [tool.duckmig] directory, else migrations)"),
        cli._arg("--table", help="the ledger table (default: duckdb_migrations)"),
        cli._arg("--wait", type=float, default=0.0, metavar="SECONDS",
                 help="wait up to SECONDS for another process's lock on the database")]),
    **{name: _verb_parser(name, help_, [(flags, {**kw, "help": _IN_A_NOTEBOOK_HELP.get(flags, kw.get("help"))})
                                        for flags, kw in arguments])
       for name, (help_, arguments) in cli.VERBS.items()},
}
_NEEDS_NO_DATABASE = {"init", "new", "notebook"}
_DATABASE_IF_CONNECTED = {"export"}  # the connected database tells which migrations are applied


def _split(line: str, magic: str) -> list[str]:
    try:
        return arg_split(line, posix=not sys.platform.startswith("win"), strict=True)
    except ValueError as exc:  # an unbalanced quote
        raise UsageError(f"{magic}: {str(exc).lower()} in: {line.strip()}") from None


def _usage(parser) -> str:
    return "usage: %" + " ".join(parser.format_usage().partition("%")[2].split())


def _parse(parser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except UsageError as exc:
        raise UsageError(f"%{parser.prog}: {exc}\n{_usage(parser)}") from None


class _CellProgress(TextProgress):
    """A line per migration in the output of the cell running now."""

    def __init__(self):
        self.open = False  # a migration started and has not finished

    @property
    def stream(self):
        return sys.stdout

    def __call__(self, event, *rest) -> None:
        super().__call__(event, *rest)
        self.open = event == "start"


@contextmanager
def _reported(progress: _CellProgress):
    """Turn the errors a user can cause into UsageError: one message, no traceback."""
    import duckdb

    progress.open = False
    with ignored_files_as_lines("warning: "):
        try:
            yield
        except errors.DuckmigError as exc:
            raise UsageError(_for_notebook(str(exc))) from None
        except duckdb.Error as exc:  # the engine wraps its own; this is the state of the user's connection
            raise UsageError(f"DuckDB: {str(exc).strip()}\n  hint: ROLLBACK the connection's failed "
                             "transaction, or `%migrate connect` one that is open") from None
        finally:
            if progress.open:  # a migration stopped half-way: end its progress line
                print("failed")


def _for_notebook(text: str) -> str:
    for command, magic in _IN_A_NOTEBOOK:
        text = text.replace(command, magic)
    return text


@magics_class
class Duckmig(Magics):
    """Migrations of one DuckDB database, written and applied from notebook cells."""

    directory = Unicode(None, allow_none=True, help=(
        "The migrations directory when `%migrate connect` gives no --dir "
        "(unset: DUCKMIG_DIR, [tool.duckmig] directory, else migrations).")).tag(config=True)
    sample_size = Int(20, help="Rows a table that previews show.").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell, **kwargs)
        self._target = None  # (database or connection, directory, table, wait, label) of %migrate connect
        self._migrator: Migrator | None = None
        self._progress = _CellProgress()

    @observe("directory")
    def _directory_changed(self, change) -> None:
        self._migrator = None  # rebuilt with the new directory when next used

    # -- the magics ---------------------------------------------------------------

    @cell_magic
    @no_var_expand  # the line is read as written, as `duckmig export` reads it from the file
    @magic_arguments("%migration")
    @argument("slug", help="names the migration and its file VERSION_SLUG.sql (a-z, 0-9 and _); "
                           "running the cell again updates that same file")
    @argument("--description", metavar="TEXT", help="what the migration does (default: from the slug)")
    @argument("--apply", action="store_true", help="apply it, and any earlier pending migration, right away")
    @argument("--preview", action="store_true",
              help="show what applying would do to the schema and the rows (it and any earlier pending "
                   "migration, in a transaction that is rolled back), and a downgrade proposed where the "
                   "cell has none; with --apply, the preview first, then the apply unless the preview fails")
    @argument("--python", action="store_true", help="the cell is the Python class form, not SQL")
    @argument("--version", metavar="VERSION",
              help="the version a new file gets (default: the next free one); `duckmig notebook` writes "
                   "each file's own, so a built notebook exports back to the same files")
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
        with _reported(self._progress):
            m = self._connected()
            saved = m.save(args.slug, cell, python=args.python, description=args.description,
                           source=self._source(m), where=f"%%migration {args.slug}", version=args.version)
            print(f"{saved.action}: {saved.path} (version {saved.version})")
            view = self._preview_cell(m, saved.script) if args.preview else None
            if not args.apply:
                return view
            if view is not None:
                from IPython.display import display

                display(view)  # above the apply's output: what is about to happen, then that it did
                if not view.preview.ok:
                    raise errors.PreviewFailed(view.preview.failed)
            self._command("up", argparse.Namespace(target=saved.version, out_of_order=False,
                                                   allow_drift=False, single_transaction=False))

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
            raise UsageError(f"%migrate: {what}\n{_usage(Duckmig.migrate.parser)}")
        verb = argv[0]
        args = _parse(PARSERS[verb], argv[1:])
        with _reported(self._progress):
            if verb == "export" and args.notebook is None:
                args.notebook = self._notebook_file()
                if args.notebook is None:
                    raise errors.NoNotebookPath()
            if verb == "connect":
                return self._connect(args)
            if verb == "status":
                from .display import StatusView, viewed

                m = self._connected()
                report = m.status()  # a DataFrame that a notebook shows as the dashboard
                return viewed(table(report.migrations, MigrationStatus), StatusView(m, report=report))
            if verb == "history":
                return table(self._connected().history(args.version), Event)
            if verb == "preview":
                return self._preview(args)
            return self._command(verb, args)

    # -- verbs --------------------------------------------------------------------

    def _connect(self, args) -> None:
        if args.target is None:
            print(self._describe())
            return
        database, label = self._database(args.target)
        target = (database, args.directory, args.table, args.wait, label)
        m = self._build(target)  # before anything is replaced: a failed connect keeps the one there was
        self._target, self._migrator = target, m
        notes = [] if m.scripts.exists() else [f"{m.scripts.versions_dir} does not exist yet: "
                                               "the first %%migration cell creates it"]
        if isinstance(database, str) and not Path(database).exists():
            notes.append("the database file is created on the first migration")
        print("\n".join([self._describe()] + notes))

    def _preview(self, args):
        from .display import PreviewView

        try:
            keys = cli.preview_keys(args.key)
        except errors.DuckmigError as exc:
            raise UsageError(f"%migrate {exc}") from None
        return PreviewView(self._connected().preview(
            args.target, keys=keys, sample=self.sample_size if args.sample is None else args.sample,
            out_of_order=args.out_of_order, allow_drift=args.allow_drift))

    def _preview_cell(self, m: Migrator, script):
        """What ``up`` through the cell's version would do; a downgrade proposed where it has none."""
        from .display import PreviewView

        p = m.preview(script.version, sample=self.sample_size)
        if not p.versions:
            print(f"nothing to preview: {script.version} is applied")
            return None
        if p.ok and not has_downgrade(script):
            print(_proposal(p, script))
        return PreviewView(p)

    def _command(self, verb: str, args) -> None:
        """Run the command's own verb with the Migrator held here, printing its text."""
        known = self._target is not None or config.resolve().database is not None
        if verb in _NEEDS_NO_DATABASE or (verb in _DATABASE_IF_CONNECTED and not known):
            m, directory = None, self._directory()
        else:
            m = self._connected()
            directory = str(m.directory)
        ns = argparse.Namespace(**vars(args), database=None, directory=directory, table=None, wait=0.0,
                                json=False, migrator=m)
        out = io.StringIO()
        from .display import shown as progress_shown

        # A progress bar where a widget frontend runs; the lines of self._progress elsewhere.
        with progress_shown(m, verb) if m is not None and verb in ("up", "down", "redo") else nullcontext() \
                as progress:
            code = cli.COMMANDS[verb](ns, out) or 0
        text = out.getvalue().rstrip("\n")
        if code:  # verify found problems: an error, so a notebook run as a check fails
            raise UsageError(_for_notebook(text))
        if text and not _bar_shown(progress):  # a bar ends with the summary itself
            print(text)

    # -- state ----------------------------------------------------------------------

    def _connected(self) -> Migrator:
        if self._migrator is None:
            self._migrator = self._build(self._target)
        return self._migrator

    def _build(self, target) -> Migrator:
        if target is None:  # no connect: the settings name the database, or nothing does
            settings = config.resolve(None, self.directory)
            if settings.database is None:
                raise errors.NotConnected()
            database, wait = settings.database, 0.0
        else:
            database, directory, table_, wait, _ = target
            settings = config.resolve(None, directory or self.directory, table_)
        return Migrator(database, settings.directory, table=settings.table, wait=wait, progress=self._progress)

    def _directory(self) -> str:
        if self._target is not None or config.resolve().database is not None:
            return str(self._connected().directory)
        return config.resolve(None, self.directory).directory

    def _describe(self) -> str:
        if self._target is None and config.resolve().database is None:
            return _for_notebook(str(errors.NotConnected()))
        m = self._connected()
        if self._target:
            via = self._target[4]
        else:
            origin = "DUCKMIG_DATABASE" if os.environ.get("DUCKMIG_DATABASE") else config.resolve().source
            via = f"{m.db.label} (from {origin})"
        return f"connected: {via}; migrations: {m.scripts.versions_dir}"

    def _database(self, target: str):
        """(what Migrator takes, how to name it) for a connect TARGET."""
        ns = self.shell.user_ns
        if target.isidentifier() and target in ns:
            value = ns[target]
            if not is_connection(value):
                raise errors.NotAConnection(target, value)
            return value, f"the connection in {target}"
        if target == ":memory:":
            import duckdb

            # Held here, so a changed directory setting rebuilds the Migrator without losing the data.
            return duckdb.connect(":memory:"), "a new in-memory database"
        path = Path(os.path.expanduser(target))
        if target.isidentifier() and not path.exists():
            raise errors.UnknownTarget(target)
        if not path.parent.is_dir():
            raise errors.NoDatabaseFolder(path)
        if path.is_dir():
            raise errors.DatabaseUnavailable(target, "that is a folder, not a database file")
        return str(path), str(path)

    def _notebook_file(self) -> Path | None:
        """The running notebook's file, when the frontend tells the kernel."""
        ns = self.shell.user_ns
        notebook = ns.get("__vsc_ipynb_file__") or ns.get("__session__")
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


Duckmig.migrate.__doc__ += "\n" + "\n".join(parser.format_help() for parser in PARSERS.values())


def _bar_shown(progress) -> bool:
    from .display import ProgressView

    return isinstance(progress, ProgressView) and not progress.show_at_start


def has_downgrade(script) -> bool:
    """Whether a version file says how to revert it: a `-- migrate:down` section with a statement, or a
    ``downgrade`` method with more in it than ``pass``, a docstring or ``...``."""
    if script.kind == "sql":
        return script.downgrade_source is not None
    from .engine.pyform import BaseMigration

    cls = type(script.migration)
    if cls.downgrade is BaseMigration.downgrade:
        return False
    for node in ast.walk(ast.parse(script.text)):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for f in node.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == "downgrade":
                    return not all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(
                        s.value, ast.Constant)) for s in f.body)
    return True  # inherited from a class of the author's own


def _proposal(p, script) -> str:
    """The preview's proposed downgrade, said as what to paste into the cell."""
    down = p.proposed_downgrade
    if p.versions != [script.version]:
        before = p.versions[:-1]
        return (f"{script.version} has no downgrade. One proposed from this preview would also undo "
                f"{', '.join(before)}, pending before it, so none is shown: `%migrate up {before[-1]}`, "
                "then run this cell again")
    if not down.statements and not down.cannot:
        return f"{script.version} has no downgrade, and the preview shows no change that one would undo"
    if script.kind == "sql":
        where, lines = "under `-- migrate:down`", ["-- migrate:down", str(down)]
    else:
        where = "as its downgrade"
        lines = ["    def downgrade(self, session):"]
        lines += [f"        session.exec({s.rstrip(';')!r})" for s in down.statements] or ["        pass"]
        lines += [f"        # cannot be undone: {c}" for c in down.cannot]
    return (f"{script.version} has no downgrade, so `%migrate down` could not revert it. Proposed from the "
            f"preview, to paste {where} (nothing was written):\n" + "\n".join(lines))


def parse_migration_line(line: str) -> argparse.Namespace:
    """The arguments of a ``%%migration`` line (slug, description, apply, preview, python, version), as
    the magic reads them; raises UsageError with the usage line."""
    return _parse(Duckmig.migration.parser, _split(line, "%%migration"))


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
