"""The ``%%migration`` cell: its line's grammar, read alike by the magic and by ``duckmig export``.

Nothing here imports IPython, so exporting a notebook loads no magics. A cell
is a migration cell when its first line, after the leading blank lines and
the common indentation that IPython drops, starts with ``%%migration``.
"""

from __future__ import annotations

import argparse
import shlex
import textwrap

from .arguments import arg

MAGIC = "%%migration"
HELP = "Write the cell as a migration's version file, and show what was done."
ARGUMENTS = (
    arg("slug", help="names the migration and its file VERSION_SLUG.sql (a-z, 0-9 and _); "
                     "running the cell again updates that same file"),
    arg("--description", metavar="TEXT", help="what the migration does (default: from the slug)"),
    arg("--apply", action="store_true", help="apply it, and any earlier pending migration, right away"),
    arg("--preview", action="store_true",
        help="show what applying would do to the schema and the rows (it and any earlier pending "
             "migration, in a transaction that is rolled back), and a downgrade proposed where the "
             "cell has none; with --apply, the preview first, then the apply unless the preview fails"),
    arg("--no-lint", action="store_true",
        help="with --apply: apply it even where the lint finds an error in it (what DuckDB will refuse, or "
             "where it loses data); the findings are still shown"),
    arg("--python", action="store_true", help="the cell is the Python class form, not SQL"),
    arg("--version", metavar="VERSION",
        help="the version a new file gets (default: the next free one); `duckmig notebook` writes "
             "each file's own, so a built notebook exports back to the same files"),
)


class LineError(ValueError):
    """A line the magic refuses: ``message`` names it; ``usage`` is the usage line, where it helps."""

    def __init__(self, message: str, usage: str | None = None):
        super().__init__(message)
        self.message, self.usage = message, usage


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise LineError(f"{self.prog}: {message}", one_line_usage(self))


def one_line_usage(parser: argparse.ArgumentParser) -> str:
    """The parser's usage on one line, however wide the terminal."""
    return "usage: %" + " ".join(parser.format_usage().partition("%")[2].split())


def split(line: str, prog: str) -> list[str]:
    """The words of a magic's line, as IPython splits them on POSIX."""
    try:
        return shlex.split(line, comments=False, posix=True)
    except ValueError as exc:  # an unbalanced quote
        raise LineError(f"{prog}: {str(exc).lower()} in: {line.strip()}") from None


def parse(line: str) -> argparse.Namespace:
    """The arguments of a ``%%migration`` line: slug, description, apply, preview, python, version."""
    parser = _Parser(prog=MAGIC, add_help=False)
    for a in ARGUMENTS:
        parser.add_argument(*a.flags, help=a.help, **a.options)
    return parser.parse_args(split(line, MAGIC))


def migration_line(source: str) -> tuple[str, str] | None:
    """(the line after ``%%migration``, the body) of a migration cell's source; None for another cell."""
    lines = source.splitlines(keepends=True)
    while lines and (not lines[0] or lines[0].isspace()):
        lines.pop(0)
    lines = textwrap.dedent("".join(lines)).splitlines(keepends=True)
    if not lines:
        return None
    name, _, line = lines[0].rstrip().partition(" ")
    return (line, "".join(lines[1:])) if name == MAGIC else None
