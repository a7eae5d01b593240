"""How duckmig words things the same way everywhere: counts, one-line forms, long text cut, and the
actions a hint names, in the words of the interface that shows it."""

from __future__ import annotations

import re


def plural(n: int, noun: str) -> str:
    """``1 row``, ``1,000 rows``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def cut(text: str, width: int) -> str:
    """``text`` on one line, whitespace runs as one space, cut to ``width`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def first_line(message: str) -> str:
    """The first line of a message (DuckDB's come with a caret excerpt below)."""
    return message.strip().splitlines()[0] if message.strip() else message


# -- what a user can do, named once and worded by each interface ------------------------------------
#
# A hint names an action with a placeholder: ``{do:repair}``, ``{do:down VERSION}``, ``{do:down --steps N}``
# (a verb and its command line), ``{flag:allow_drift}`` (an option of the verb that failed, on its own),
# ``{setting:database}`` (where the work happens: database, directory, table, wait, data_path). Words in
# capitals are placeholders for the user to fill, anything else a value. A regex finds them, not
# ``str.format``: hints hold user data (table names, paths, SQL) that may hold braces of its own.
PLACEHOLDER = re.compile(r"\{(do|flag|setting):([\w.-]+(?: [\w.-]+)*)\}")

# The verbs that are methods of the Python API's Migrator (tests/test_docs.py holds the two equal).
API_VERBS = frozenset({"status", "history", "plan", "sql", "up", "down", "redo", "stamp", "repair", "restore",
                       "verify", "lint", "new", "save", "prepare", "preview", "preview_body", "diff", "migration_status",
                       "migrate_up", "migrate_down", "create_migration", "kept", "prune"})


class Words:
    """How an interface names an action. With a ``prefix``, a command line's way (``duckmig repair``,
    ``%migrate repair``, ``--allow-drift``); without, the Python API's (``Migrator.repair()``,
    ``allow_drift=True``). ``settings`` words each setting. ``words(text)`` is ``text`` with each
    placeholder in these words."""

    def __init__(self, prefix: str | None, settings: dict[str, str]) -> None:
        self.prefix, self.settings = prefix, settings

    def __call__(self, text: str) -> str:
        return PLACEHOLDER.sub(self._word, text)

    def _word(self, m: re.Match[str]) -> str:
        kind, said = m[1], m[2]
        if kind == "setting":
            return self.settings[said]
        if kind == "flag":
            return "--" + said.replace("_", "-") if self.prefix else f"{said}=True"
        verb = said.split()[0]
        if self.prefix or verb not in API_VERBS:  # no method of its own (init, export): the command
            return f"`{self.prefix or 'duckmig'} {said}`"
        return f"`Migrator.{verb}({', '.join(_arguments(said.split()[1:]))})`"


def _arguments(words: list[str]) -> list[str]:
    """A command line's words as a call's arguments: ``--name VALUE`` as ``name=VALUE``, any other word
    positional; capitals stay placeholders, other values are quoted."""
    out, i = [], 0
    while i < len(words):
        if words[i].startswith("--") and i + 1 < len(words) and not words[i + 1].startswith("--"):
            out.append(f"{words[i][2:].replace('-', '_')}={_value(words[i + 1])}")
            i += 2
        else:
            out.append(_value(words[i]))
            i += 1
    return out


def _value(word: str) -> str:
    return word if word.isupper() else repr(word)


PYTHON = Words(None, {"database": "the database given to Migrator", "directory": "the directory given to Migrator",
                      "table": "`Migrator(..., table=TABLE)`", "wait": "`Migrator(..., wait=SECONDS)`",
                      "data_path": "`lake.parse(..., data_path=DIR)`"})
