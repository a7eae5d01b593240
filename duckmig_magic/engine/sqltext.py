"""SQL text built from values: quoted identifiers and literals, for the statements the engine writes itself.

The engine writes its own statements with their values in the text, not bound as
parameters: duckdb 1.x imports pandas and numpy to bind a process's first
parameter, about 0.4 s of every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime


def quote(identifier: str) -> str:
    """A SQL identifier, quoted so that any name is taken literally."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal of ``text`` (DuckDB's standard strings know no backslash escapes;
    duckdb 1.x's parser ends a statement at a NUL, so one is spelled chr(0))."""
    quoted = "'" + text.replace("'", "''") + "'"
    return quoted if "\0" not in text else "(" + quoted.replace("\0", "' || chr(0) || '") + ")"


def inline(sql: str, params: Sequence) -> str:
    """``sql`` with each ``?`` in it replaced by the next of ``params`` as a literal (``value``), for SQL
    whose every ``?`` is a parameter: duckdb 1.x loads pandas and numpy to bind a process's first
    parameter, which takes longer than most of duckmig's commands."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders for {len(params)} values in {sql!r}")
    return parts[0] + "".join(value(v) + rest for v, rest in zip(params, parts[1:], strict=True))


def value(v: object) -> str:
    """``v`` as a SQL literal: NULL, a boolean, a number, a string, or a TIMESTAMP of a naive datetime."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else f"CAST('{v}' AS DOUBLE)"
    if isinstance(v, datetime):
        return f"TIMESTAMP '{v.isoformat(sep=' ')}'"
    return literal(str(v))
