"""A migration that failed for want of something a later pending migration makes.

Versions give the order migrations run in, and a notebook gives a migration its
version when its cell first runs: cells run out of order make migrations that
run out of order. The first sign is an ``up`` that fails because a table (a
schema, a column, a macro, a type) does not exist, where a migration after it,
still pending, creates it. This module reads the missing name out of DuckDB's
message and looks for the pending migration whose text makes it, so the error
can name that migration and the order.

The search reads the migration's text (SQL, or the SQL in a Python file's
strings) with patterns, not a parser: it names a likely cause in a hint and
decides nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .versions import Script

# DuckDB's words for what a statement named and the catalog lacks (checked on 1.5.5 and 2.0.1):
# "Table with name tags does not exist!", "Scalar Function with name f does not exist!",
# 'Table with name "nope.t" does not exist because schema "nope" does not exist.',
# 'Table "w" does not have a column with name "b"', 'Referenced column "b" not found in FROM clause!',
# "Referenced update column b not found in table!"
_SCHEMA = re.compile(r'because schema "(?P<name>[^"]+)" does not exist')
_OBJECT = re.compile(r'(?P<kind>Table|Scalar Function|Table Function|Macro Function|Macro|Type|Sequence|Schema|View)'
                     r' with name (?P<name>"[^"]+"|[^\s!]+) does not exist')
_COLUMN = re.compile(r'does not have a column (?:with name|named) "(?P<name>[^"]+)"'
                     r'|Referenced column "(?P<ref>[^"]+)" not found'
                     r'|Referenced update column (?P<update>\S+) not found')

# What makes each kind of object, as a statement writes it (any case, a name quoted or not,
# qualified or not): the words before the name.
_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_MAKERS = {
    "table": r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY)\s+)?(?:TABLE|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
             r"|ALTER\s+(?:TABLE|VIEW)\s+(?:IF\s+EXISTS\s+)?" + _IDENT + r"(?:\s*\.\s*" + _IDENT + r")*\s+RENAME\s+TO\s+",
    "function": r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY)\s+)?(?:MACRO|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?",
    "type": r"CREATE\s+(?:OR\s+REPLACE\s+)?TYPE\s+(?:IF\s+NOT\s+EXISTS\s+)?",
    "sequence": r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY)\s+)?SEQUENCE\s+(?:IF\s+NOT\s+EXISTS\s+)?",
    "schema": r"CREATE\s+(?:OR\s+REPLACE\s+)?SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?",
    "column": r"ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?|RENAME\s+(?:COLUMN\s+)?" + _IDENT + r"\s+TO\s+",
}
_KINDS = {"Table": "table", "View": "table", "Scalar Function": "function", "Table Function": "function",
          "Macro Function": "function", "Macro": "function", "Type": "type", "Sequence": "sequence",
          "Schema": "schema"}
_WORDS = {"table": "table", "function": "function", "type": "type", "sequence": "sequence", "schema": "schema",
          "column": "column"}


@dataclass(frozen=True)
class Missing:
    """What DuckDB said was not there: its kind (a key of ``_MAKERS``) and its name, unquoted."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{_WORDS[self.kind]} {self.name}"


def missing(message: str) -> Missing | None:
    """The object DuckDB's ``message`` says does not exist; None for any other message."""
    if m := _SCHEMA.search(message):
        return Missing("schema", m["name"])
    if m := _OBJECT.search(message):
        name = m["name"].strip('"').split(".")[-1]
        return Missing(_KINDS[m["kind"]], name)
    if m := _COLUMN.search(message):
        return Missing("column", m["name"] or m["ref"] or m["update"])
    return None


def makes(text: str, what: Missing) -> bool:
    """Whether ``text`` (a migration's upgrade) has a statement that makes ``what``: its name,
    quoted or not, in any case (DuckDB's names are case-insensitive), last part of a qualified name."""
    name = r'(?:' + _IDENT + r'\s*\.\s*)*(?:"' + re.escape(what.name).replace('"', '""') + r'"|' \
        + re.escape(what.name) + r')(?![A-Za-z0-9_$"])'
    return re.search(r"(?:" + _MAKERS[what.kind] + r")" + name, text, re.IGNORECASE) is not None


def maker(message: str, failed: str, pending: Iterable[Script]) -> tuple[Script, Missing] | None:
    """The first of ``pending`` after version ``failed`` whose upgrade makes what DuckDB's ``message``
    says is missing, and what that is; None when the message names nothing missing or none makes it."""
    what = missing(message)
    if what is None:
        return None
    for script in pending:
        if script.version > failed and makes(_upgrade_text(script), what):
            return script, what
    return None


def _upgrade_text(script: Script) -> str:
    """The text that upgrades: a SQL file's up section, a Python file's whole text (its SQL is in
    strings); "" where the file cannot be read."""
    try:
        if script.kind == "sql":
            return script.sql.up.sql if script.sql.up is not None else ""
        return script.text
    except Exception:  # noqa: BLE001 - a hint's search: a file that cannot be read makes nothing
        return ""
