"""What a DuckLake refuses that a DuckDB file takes: told before the migration runs on a lake.

The lake's catalog has no indexes, sequences, user types, keys, CHECK or generated columns, and
changes a column's type only where the new type holds every old value. Each form was checked on
a real DuckLake (duckdb 1.5.5 and its ducklake extension, tests/test_lint_lake.py), with its
look-alikes that the lake takes: a column named ``unique_id``, CREATE TABLE ... AS SELECT, a
widening ALTER TYPE.
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import statements
from .model import Context, Hit, Rule

_OBJECTS = {"INDEX": "indexes", "SEQUENCE": "sequences", "TYPE": "user-defined types"}
_CONSTRAINTS = {"PRIMARY": "PRIMARY KEY", "UNIQUE": "UNIQUE", "CHECK": "CHECK", "REFERENCES": "FOREIGN KEY",
                "FOREIGN": "FOREIGN KEY"}
_TYPES = {"ENUM": "ENUM", "UNION": "UNION"}
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
        yield Hit(f"DuckLake has no {_OBJECTS[s.object]}: CREATE {s.object} {s.label} fails on a lake",
                  _instead(s.object))
    elif s.kind == "create" and s.object == "TABLE":
        found = _in_columns(s.sql)
        if found:
            yield Hit(f"{s.label} declares {', '.join(found)}, which a DuckLake table cannot have: CREATE TABLE "
                      "fails on a lake")
    elif s.kind == "alter" and s.action == "add_constraint":
        yield Hit(f"DuckLake tables take no constraints by ALTER TABLE: adding {s.constraint or 'one'} to {s.label} "
                  "fails on a lake")
    elif s.kind == "alter" and s.action == "add_column" and s.constraint and s.constraint != "NOT NULL":
        yield Hit(f"DuckLake tables take no constraints by ALTER TABLE: ADD COLUMN {s.column} {s.constraint} fails "
                  "on a lake", "add the column without the constraint")
    elif s.kind == "alter" and s.action == "alter_type" and s.column and s.type:
        old = c.catalog.columns(s.table).get(s.column.lower(), (None,))[0]
        if old and _narrows(old, s.type):
            yield Hit(f"DuckLake only widens a column's type: {s.label}.{s.column} from {old} to {s.type} fails on a "
                      "lake", "add a column of the new type, fill it with UPDATE ... CAST, drop the old one and "
                      "rename the new")
    elif s.kind == "insert" and _upserts(s.sql):
        yield Hit(f"DuckLake tables have no keys, so INSERT OR REPLACE, INSERT OR IGNORE and ON CONFLICT into "
                  f"{s.label or 'the table'} fail on a lake", "UPDATE the rows that are there, then INSERT the "
                  "others; or write one MERGE INTO")


def _instead(kind: str) -> str | None:
    return {"INDEX": "leave the index out: DuckLake skips data files by their columns' min/max statistics",
            "SEQUENCE": "number rows with row_number() OVER (...) plus the largest number so far, or uuid()",
            "TYPE": "write the type out in each column (VARCHAR in place of an ENUM)"}.get(kind)


def _in_columns(sql: str) -> list[str]:
    """What a CREATE TABLE's column list declares that a lake lacks; nothing for CREATE TABLE ... AS."""
    found: list[str] = []
    toks = statements.tokens(sql)
    depth = 0
    for i, t in enumerate(toks):
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        elif depth == 0 and t.word == "AS":
            return []  # CREATE TABLE ... AS SELECT: no column list of its own
        elif depth == 1 and t.word in _CONSTRAINTS:
            found.append(_CONSTRAINTS[t.word])
        elif (depth >= 1 and t.word == "GENERATED") or (depth == 1 and t.word == "AS"):
            found.append("a generated column")
        elif depth >= 1 and t.word in _TYPES and i + 1 < len(toks) and toks[i + 1].text == "(":
            found.append(f"a column of type {_TYPES[t.word]}")
    return list(dict.fromkeys(found))


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
         "A DuckLake has no indexes, sequences, user types, keys, CHECK constraints or generated columns, and only "
         "widens a column's type; a migration that uses them fails on a lake.",
         "Leave the object or constraint out (check the rule with a query where the rows are written), or widen "
         "the type through a new column.", refused_by_lake, reference="DuckLake docs: unsupported features"),
)
