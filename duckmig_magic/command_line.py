"""The ``duckmig`` command: its parser is built from ``commands.VERBS``, each verb is one call into
``commands``, and its result is printed as text or, with ``--json``, as JSON.

``cli.main()`` is the entry: it imports this module, so that a Ctrl-C while
it and DuckDB load is caught there, and it prints how the command ended
(``report``) once a second Ctrl-C can no longer cut that line short.

Exit codes: 0 ok, 1 a migration failed, 2 usage or configuration, 3 drift,
a failed verification or a refused export.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import commands, config, errors
from .engine import Migrator, no_cycles
from .render.common import ignored_files_as_lines, terminal_safe
from .render.progress import TextProgress
from .render.results import text

EPILOG = """settings come from flags, then DUCKMIG_DATABASE / DUCKMIG_DIR / DUCKMIG_DATA_PATH,
then [tool.duckmig] in the nearest pyproject.toml. Exit codes: 0 ok, 1 a migration
failed, 2 usage or configuration, 3 drift, a failed verification or a refused export."""

# How the command names what a user can do: its own verbs and flags.
WORDS = errors.Words("duckmig", {"database": "--database (DUCKMIG_DATABASE)", "directory": "--dir (DUCKMIG_DIR)",
                                     "table": "--table", "wait": "--wait SECONDS",
                                     "data_path": "--data-path DIR (DUCKMIG_DATA_PATH)"})


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, as argparse does, but as our error
        raise errors.BadArguments(self.prog.partition(" ")[2], message)  # main() prints the "duckmig: "


# argparse gives a subcommand's namespace the last word: a list given after the verb gets a name of its own.
AFTER_VERB = "_after_verb"


def _common(parser: argparse.ArgumentParser, after_verb: bool) -> None:
    """The options of where the work happens, given before the verb or (``after_verb``) after it."""
    g = parser.add_argument_group("where")
    g.add_argument("--database", "-d", default=argparse.SUPPRESS if after_verb else None, metavar="PATH",
                   help="the DuckDB database file, :memory:, or a DuckLake: ducklake:PATH.ducklake, "
                        "ducklake:postgres:dbname=NAME host=HOST (DUCKMIG_DATABASE)")
    for a in commands.WHERE:
        options = {**a.options, "default": argparse.SUPPRESS if after_verb else a.default}
        if after_verb and options.get("action") == "append":  # run() joins the two lists
            options["dest"] = a.dest + AFTER_VERB
        g.add_argument(*a.flags, help=a.help, **options)
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS if after_verb else False,
                   help="print machine-readable JSON")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="duckmig", description="Versioned DuckDB migrations.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"duckmig {__version__}")
    _common(parser, after_verb=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for verb in commands.VERBS.values():
        p = sub.add_parser(verb.name, help=verb.help, description=verb.help)
        _common(p, after_verb=True)
        for a in verb.args:
            p.add_argument(*a.flags, help=a.help, **a.options)
    return parser


def run_command(argv: list[str] | None) -> int:
    """Parse ``argv`` (None: the process's own), do the verb and print its result; returns the exit code.
    What stops it is raised, for ``cli.main()`` to tell (``report``)."""
    with ignored_files_as_lines("duckmig: warning: "):
        args = build_parser().parse_args(argv)
        return run(args, sys.stdout)


def report(exc: BaseException) -> int | None:
    """Print the one line that tells how ``exc`` stopped the command; its exit code, or None for an
    exception that is not the command's to tell."""
    if isinstance(exc, errors.Interrupted):  # one line: what became of the migration that was running
        print(terminal_safe(f"duckmig: {exc.render(WORDS)}"), file=sys.stderr)
    elif isinstance(exc, errors.DuckmigError):
        print(terminal_safe(f"duckmig: error: {exc.render(WORDS)}"), file=sys.stderr)
    else:
        return None
    return exc.exit_code


def run(args: argparse.Namespace, out) -> int:
    """Do the verb that ``args`` name, print its result on ``out``; returns the exit code."""
    verb = commands.VERBS[args.command]
    options = (args.option or []) + getattr(args, "option" + AFTER_VERB, [])
    settings = config.resolve(args.database, args.directory, args.table, data_path=args.data_path, options=options)
    progress = TextProgress(sys.stderr) if verb.progress and not args.json else None
    target: config.Settings | Migrator
    if not verb.needs_migrator(settings.database is not None):
        target = settings  # without a database, nothing counts as applied
    elif settings.database is None:
        raise errors.ConfigError("no database given", 'pass --database PATH, set DUCKMIG_DATABASE, or add '
                                 'database = "..." under [tool.duckmig] in pyproject.toml')
    else:
        target = Migrator(settings.target, settings.directory, table=settings.table, wait=args.wait,
                          keep=settings.keep, keep_limit=settings.keep_limit)
    try:
        result = commands.call(verb, target, args, progress)
    except BaseException as exc:
        if progress is not None:
            progress.fail(exc)  # end the open line: the error follows on its own
        raise
    for warning in result.inexact if isinstance(result, commands.NotebookBuilt) else ():
        print(terminal_safe(f"duckmig: warning: {warning}"), file=sys.stderr)
    data = None if not args.json else result.to_json() if hasattr(result, "to_json") \
        else result.to_dict() if hasattr(result, "to_dict") else result
    if data is not None:
        json.dump(_plain(data), out, indent=2)
        out.write("\n")
    elif said := _text(result):
        out.write(said if said.endswith("\n") else said + "\n")
    return commands.exit_code(result)


def _text(result) -> str:
    with no_cycles():  # status's table of thousands of rows
        return text(result, WORDS)


def _plain(data):
    from .engine import plain

    return plain(data)
