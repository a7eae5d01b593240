"""What a DuckLake refuses that a DuckDB file takes: told before the migration runs on a lake.

The lake's catalog has no indexes, sequences, user types, keys, CHECK or generated columns, takes
only constant defaults, and changes a column's type only where the new type holds every old value.
A finding is worded by the row of ``refusals.LAKE_LIMITS`` that would word the failure. Each form was checked on
a real DuckLake (duckdb 1.5.5 and its ducklake extension, tests/test_lint_lake.py), with its
look-alikes that the lake takes: a column named ``unique_id``, CREATE TABLE ... AS SELECT, a
widening ALTER TYPE.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import refusals, statements
from .model import Context, Hit, Rule

# Each form, and the phrase of the row of refusals.LAKE_LIMITS that words it.
_OBJECTS = {"INDEX": "does not support indexes", "SEQUENCE": "does not support sequences",
            "TYPE": "does not support user-defined types"}
_CONSTRAINTS = {"PRIMARY": "PRIMARY KEY", "UNIQUE": "UNIQUE", "CHECK": "CHECK"}
_REFERENCES = {"REFERENCES", "FOREIGN"}
_TYPES = {"ENUM", "UNION"}
# Whole-number types by width: the lake widens one to a wider of the same signedness, never back.
_SIGNED = {"TINYINT": 1, "INT1": 1, "SMALLINT": 2, "INT2": 2, "INTEGER": 3, "INT": 3, "INT4": 3, "INT32": 3,
           "BIGINT": 4, "INT8": 4, "INT64": 4, "HUGEINT": 5, "INT128": 5}
_UNSIGNED = {"UTINYINT": 1, "USMALLINT": 2, "UINTEGER": 3, "UBIGINT": 4, "UHUGEINT": 5}
_TEXT = {"VARCHAR", "TEXT", "STRING", "CHAR", "BPCHAR"}


def refused_by_lake(c: Context) -> Iterator[Hit]:
    if not c.lake:
        return
    s = c.statement
    if s.kind == "create" and s.object in _OBJECTS:
        yield _limit(_OBJECTS[s.object], f"CREATE {s.object} {'.'.join(s.names[0]) if s.names else s.label}")
    elif s.kind == "create" and s.object == "TABLE":
        found = _in_columns(s.sql)
        if found:
            yield _limit(found[0][0], f"{s.label} declares {', '.join(what for _, what in found)}: CREATE TABLE")
    elif s.kind == "alter" and (s.action == "add_constraint" or (
            s.action == "add_column" and s.constraint and s.constraint != "NOT NULL")):
        yield _limit("Adding indexes or constraints", f"adding {s.constraint or 'a constraint'} to {s.label}")
    elif s.kind == "alter" and s.action == "add_column" and s.default and not _constant(s.default):
        yield _limit("non-literal default", f"ADD COLUMN {s.column} DEFAULT {s.default}")
    elif s.kind == "alter" and s.action == "alter_type" and s.using:
        yield _limit("using an expression", f"ALTER TYPE of {s.label}.{s.column} with USING")
    elif s.kind == "alter" and s.action == "alter_type" and s.column and s.type:
        old = c.catalog.columns(s.table).get(s.column.lower(), (None,))[0]
        if old and _narrows(old, s.type):
            yield _limit("only widening", f"{s.label}.{s.column} from {old} to {s.type}")
    elif s.kind == "alter" and s.action == "set_not_null" and any(
            e.kind == "alter" and c.catalog.resolve(e.table) == c.catalog.resolve(s.table)
            for e in c.same_transaction()):
        yield _limit("no stats are available", f"SET NOT NULL on {s.label} after another ALTER of it")
    elif s.kind == "insert" and _upserts(s.sql):
        yield _limit("no UNIQUE/PRIMARY KEY constraints that refer", f"an upsert into {s.label or 'the table'}")
    elif s.kind == "alter" and s.action == "rename_table" and _altered_earlier(c):
        # Not DuckLake's refusal but duckmig's (runner.py, lake.altered_then_renamed): the lake would
        # commit it and then not open again, or forget the alteration.
        yield Hit(f"ALTER TABLE {s.label} RENAME TO fails on a DuckLake: an earlier statement of the same "
                  f"transaction altered {s.label}, and the lake would commit both and then not open again (or "
                  "forget the alteration), so duckmig refuses it",
                  "Rename the table before altering it, or in a migration of its own")


def _altered_earlier(c: Context) -> bool:
    """Whether a statement of the transaction before this one altered its table, which it did not make."""
    want, state = c.catalog.resolve(c.statement.table), None
    for e in c.same_transaction():
        if e.kind == "create" and e.object == "TABLE" and any(c.catalog.resolve(n) == want for n in e.names):
            state = "made"  # made in the transaction: the lake keeps what is done to it
        elif state is None and e.kind == "alter" and c.catalog.resolve(e.table) == want:
            state = "altered"
    return state == "altered"


def _limit(phrase: str, what: str) -> Hit:
    """The finding for the row of ``refusals.LAKE_LIMITS`` whose phrase holds ``phrase``: the words the
    failure itself would be told in, before it happens."""
    lacks, instead = next((lacks, instead) for p, lacks, instead in refusals.LAKE_LIMITS if phrase in p)
    return Hit(f"{what} fails on a DuckLake: {lacks}", instead[0].upper() + instead[1:])


def _in_columns(sql: str) -> list[tuple[str, str]]:
    """(phrase of LAKE_LIMITS, what) for each thing a CREATE TABLE's column list declares that a lake
    lacks; nothing for CREATE TABLE ... AS, which has no column list of its own."""
    found: list[tuple[str, str]] = []
    toks = statements.tokens(sql)
    depth = 0
    for i, t in enumerate(toks):
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        elif depth == 0 and t.word == "AS":
            return []
        elif depth == 1 and t.word in _CONSTRAINTS:
            found.append(("constraints are not supported", _CONSTRAINTS[t.word]))
        elif depth == 1 and t.word in _REFERENCES:
            found.append(("no primary key or unique constraint for referenced", "FOREIGN KEY"))
        elif (depth >= 1 and t.word == "GENERATED") or (depth == 1 and t.word == "AS"):
            found.append(("generated columns", "a generated column"))
        elif depth >= 1 and t.word in _TYPES and i + 1 < len(toks) and toks[i + 1].text == "(":
            found.append(("unsupported type", f"a column of type {t.word}"))
    return list(dict.fromkeys(found))


def _constant(expression: str) -> bool:
    """Whether a DEFAULT is a constant a lake takes: one literal, a negative number, NULL, TRUE or FALSE."""
    toks = [t for t in statements.tokens(expression) if t.text]
    if toks and toks[0].text == "-" and len(toks) == 2:
        toks = toks[1:]
    return len(toks) == 1 and (toks[0].kind in ("string_const", "numeric_const")
                               or toks[0].word in ("NULL", "TRUE", "FALSE"))


def _base(type_name: str) -> str:
    return type_name.split("(", 1)[0].strip().upper()


def _narrows(old: str, new: str) -> bool:
    """Whether the lake refuses the change: text to anything else or back, or a whole number made no
    wider (DuckLake's own promotions, which widen, are left to it)."""
    a, b = _base(old), _base(new)
    if a == b:
        return False
    if (a in _TEXT) != (b in _TEXT):
        return True
    for widths in (_SIGNED, _UNSIGNED):
        if a in widths and b in widths:
            return widths[b] <= widths[a]
    return a in _SIGNED and b in _UNSIGNED


def _upserts(sql: str) -> bool:
    words = [t.word for t in statements.tokens(sql)]
    return words[1:3] in (["OR", "REPLACE"], ["OR", "IGNORE"]) or "CONFLICT" in words


RULES = (
    Rule("DM135", "ducklake-refuses", "error",
         "A DuckLake has no indexes, sequences, user types, keys, CHECK constraints or generated columns, takes "
         "only constant defaults, and only widens a column's type; a migration that uses them fails on a lake.",
         "Each finding says what to write instead, as the lake's own refusal would.", refused_by_lake, reference="DuckLake docs: unsupported features"),
)
