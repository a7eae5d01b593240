"""MkDocs hook: the reference pages, written from the code at every build, so that they cannot go
stale: every verb and its arguments (``commands.VERBS``, the command's argparse parser, the
``%migrate`` parsers), every setting (``config``, the DuckLake ATTACH options, the notebook's
``%config`` traits), every exit code and every error family (``errors``).

A new verb, flag, setting or error class appears here with its help or docstring; an exit code with
no words below fails the build, so the table of exit codes stays whole.
"""

from __future__ import annotations

import argparse
import inspect
import textwrap

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from duckmig_magic import cells, command_line, commands, errors
from duckmig_magic.cli import PIPE_CLOSED
from duckmig_magic import config as settings
from duckmig_magic.engine import lake
from duckmig_magic.magics import PARSERS, Duckmig

# What each exit code means; the codes come from the error families, these are only their words.
EXIT_WORDS = {
    errors.EXIT_OK: "done: the verb did what was asked (`verify` found nothing wrong)",
    errors.EXIT_FAILED: "a migration failed (its transaction rolled back), a COMMIT was refused, another "
                        "runner won, `restore` skipped a file, `lint` found an error, or `up` "
                        "stopped on one before its first migration",
    errors.EXIT_USAGE: "usage or configuration: arguments, settings, paths, the database or a version file "
                       "duckmig cannot use; nothing was changed",
    errors.EXIT_DRIFT: "drift or a failed check: files and ledger disagree, `verify` found a problem, "
                       "`export` refused a cell",
    141: "the reader of the output went away (`| head`): the command ended quietly, as Unix tools do",
    130: "interrupted (Ctrl-C): one line says what became of the migration that was running",
}


def on_files(files: Files, config) -> Files:
    for name, text in PAGES.items():
        files.append(File.generated(config, f"reference/{name}.md", content=text()))
    return files


# -- helpers -------------------------------------------------------------------------------------------


def cell(text: str | None) -> str:
    """``text`` as one Markdown table cell."""
    return " ".join((text or "").replace("|", "\\|").replace("%%", "%").split())


def flags(action: argparse.Action) -> str:
    """The flags of an argparse action as its usage shows them, each in code."""
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    takes = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
    return ", ".join(f"`{f}{takes}`" for f in action.option_strings)


def table(parser: argparse.ArgumentParser, skip: set[str] = frozenset()) -> str:
    rows = [f"| {flags(a)} | {cell(a.help)} |" for a in parser._actions
            if not isinstance(a, argparse._HelpAction) and a.dest not in skip and a.help != argparse.SUPPRESS]
    return "\n".join(["| argument | |", "| --- | --- |", *rows]) if rows else "It takes no arguments."


def usage(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_usage().removeprefix("usage: ").split())


def magic_usage(parser: argparse.ArgumentParser) -> str:
    return cells.one_line_usage(parser).removeprefix("usage: ")


def verb_parser(name: str) -> argparse.ArgumentParser:
    """A parser of the verb's own arguments alone, for its usage line."""
    parser = argparse.ArgumentParser(prog=f"duckmig {name}", add_help=False)
    for a in commands.VERBS[name].args:
        parser.add_argument(*a.flags, help=a.help, **a.options)
    return parser


def doc(obj) -> str:
    return textwrap.dedent(inspect.getdoc(obj) or "").strip()


# -- the pages -----------------------------------------------------------------------------------------


def commands_page() -> str:
    main = command_line.build_parser()
    verbs = list(commands.VERBS)
    out = ["# Commands", "",
           "Every verb of `duckmig` and of `%migrate`, with its arguments: written from the code "
           "(`commands.VERBS` and the parsers built from it) each time the site is built. "
           "[The command and CI](../command.md) says how they fit together.", "",
           "## Options of every verb", "",
           "Given before or after the verb: `duckmig --database app.db up` is `duckmig up --database app.db`. "
           "In a notebook, `%migrate connect` takes the same ones (below).", "",
           table(main, skip={"command", "version"}), "",
           "`duckmig --version` prints the version.", "",
           "| verb | does |", "| --- | --- |",
           *[f"| [`{n}`](#{n}) | {cell(commands.VERBS[n].help)} |" for n in verbs], ""]
    for name in verbs:
        v = commands.VERBS[name]
        out += [f"## {name}", "", f"{v.help[0].upper()}{v.help[1:]}.", "",
                "```", usage(verb_parser(name)), magic_usage(PARSERS[name]), "```", "",
                table(verb_parser(name)), ""]
    connect = PARSERS["connect"]
    out += ["## `%migrate connect`", "", f"{cell(connect.description).capitalize()}.", "",
            "```", magic_usage(connect), "```", "", table(connect), "",
            "## `%%migration`", "", cells.HELP, "", "```", cells.MAGIC + " " + usage(cell_parser()), "```", "",
            table(cell_parser()), ""]
    return "\n".join(out)


def cell_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="", add_help=False)
    for a in cells.ARGUMENTS:
        parser.add_argument(*a.flags, help=a.help, **a.options)
    return parser


def settings_page() -> str:
    main = command_line.build_parser()
    by_dest = {a.dest: a for a in main._actions}
    out = ["# Settings", "",
           "Written from the code (`config`, `engine.lake`, the magics' `%config` traits) at each build.", "",
           "## The command's settings", "",
           "A flag wins over its environment variable, which wins over `[tool.duckmig]` in the nearest "
           "`pyproject.toml` (searched from the current folder up; its paths are relative to its folder).", "",
           "| `[tool.duckmig]` key | flag | variable | |", "| --- | --- | --- | --- |"]
    for key in settings.KEYS:
        action = by_dest.get(key) or by_dest.get(key.rstrip("s"))  # options: --option, a list of them
        flag = next((f for f in action.option_strings if f.startswith("--")), None) if action else None
        variable = f"DUCKMIG_{flag.lstrip('-').replace('-', '_').upper()}" if flag else None
        variable = variable if variable in settings.VARIABLES else None
        shown = f"`[tool.duckmig.{key}]` (a table)" if key == "options" else f"`{key}`"
        out.append(f"| {shown} | {f'`{flag}`' if flag else ''} | {f'`{variable}`' if variable else ''} | "
                   f"{cell(action.help) if action else ''} |")
    unused = set(settings.VARIABLES) - {r for r in "\n".join(out).split("`") if r.startswith("DUCKMIG_")}
    if unused:
        raise PluginError(f"variables with no row in the settings page: {', '.join(sorted(unused))}")
    out += ["", "## A DuckLake's ATTACH options", "",
            "Given as `--option NAME=VALUE` (repeatable) or under `[tool.duckmig.options]`; a flag overrides "
            "pyproject.toml's name by name. `DATA_PATH` is also `--data-path`, `DUCKMIG_DATA_PATH` and "
            "`data_path`.", "",
            "| option | value |", "| --- | --- |",
            *[f"| `{name}` | {cell(kind_words(kind))} |" for name, kind in lake.OPTIONS.items()],
            *[f"| `{name}` | refused: it {cell(why)}, and migrations write to the lake |"
              for name, why in lake.READ_ONLY_OPTIONS.items()],
            "", "## In a notebook: `%config Duckmig`", "",
            "| setting | default | |", "| --- | --- | --- |"]
    for name, trait in sorted(Duckmig.class_traits(config=True).items()):
        out.append(f"| `%config Duckmig.{name}` | `{trait.default_value!r}` | {cell(trait.help)} |")
    return "\n".join(out) + "\n"


def kind_words(kind: type) -> str:
    return {bool: "true or false", int: "a whole number", str: "a string"}[kind]


def families() -> list[type]:
    """The error classes of ``errors``, each after its base, in the order they are declared."""
    found = [c for _, c in inspect.getmembers(errors, inspect.isclass)
             if issubclass(c, errors.DuckmigError) and c.__module__ == errors.__name__]
    return sorted(found, key=lambda c: inspect.getsourcelines(c)[1])


def errors_page() -> str:
    codes = sorted({errors.EXIT_OK} | {c.exit_code for c in families()} | {errors.EXIT_FAILED, errors.EXIT_DRIFT}
                   | {130, PIPE_CLOSED})
    missing = [code for code in codes if code not in EXIT_WORDS]
    if missing:
        raise PluginError(f"exit codes with no words in docs_hooks/reference.py: {missing}")
    out = ["# Exit codes and errors", "",
           "Written from `errors.py` at each build.", "",
           "## Exit codes", "", "The command's; in a notebook, every one but 0 is an error of the cell.", "",
           "| code | means |", "| ---: | --- |", *[f"| {code} | {EXIT_WORDS[code]} |" for code in codes], "",
           "## Error families", "",
           "Every error a user can cause is a `duckmig_magic.errors.DuckmigError`: a message, and a hint in "
           "the words of the interface that shows it (`duckmig repair`, `%migrate repair`, "
           "`Migrator.repair()`). Catch a family; its members are told apart by their sentence.", ""]
    for c in families():
        base = c.__mro__[1].__name__
        parent = f", a `{base}`" if c is not errors.DuckmigError else ""
        out += [f"### {c.__name__}", "", f"Exit code {c.exit_code}{parent}.", "", doc(c), ""]
    return "\n".join(out)


PAGES = {"commands": commands_page, "settings": settings_page, "errors": errors_page}
