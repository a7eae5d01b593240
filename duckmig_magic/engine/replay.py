"""How the open transaction's statements run again after a statement failed (a savepoint by replay).

DuckDB has no SAVEPOINT, and a failed statement aborts the transaction, so the runner rolls back
and runs again what succeeded before. A migration that catches many failures replays its log
many times, and DuckDB spends most of a small INSERT's time on the statement, not on its row:
so consecutive INSERTs of literal rows into one table run again as one INSERT of all their rows,
and the other statements as scripts, one call into DuckDB each (``batches``).

Merging changes nothing of what the rows hold: DuckDB binds an INSERT's VALUES to the table's
column types, each value cast on its own, and only INSERTs whose values are all literals of one
type a column (NULL aside) are merged, with the same table and column list as written, and
nothing after their VALUES (no ON CONFLICT, no RETURNING). A merged INSERT that fails (a foreign
key to a row of the same statement) is no error: the runner then replays one statement at a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache

from . import sqlfile

_NAME = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_HEAD = re.compile(
    rf"\s*INSERT\s+INTO\s+{_NAME}(?:\s*\.\s*{_NAME}){{0,2}}\s*(?:\(\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\)\s*)?VALUES\s*",
    re.IGNORECASE)
# A literal of a type DuckDB gives it from its text alone, as a group named for that type.
_LITERAL = re.compile(r"(?P<dec>-?[0-9]+\.[0-9]+)|(?P<int>-?[0-9]+)|(?P<str>'(?:[^']|'')*')"
                      r"|(?P<null>NULL)|(?P<bool>TRUE|FALSE)", re.IGNORECASE)
_SEP = re.compile(r"\s*(,)\s*|\s*(\))\s*")
_OPEN = re.compile(r"\s*\(\s*")
_INT32 = 2**31 - 1
_INT64 = 2**63 - 1


class Log(list):
    """The open transaction's (statement, parameters) in the order they ran, appended to only; with
    the merged INSERTs replays made of them (``blocks``), so that the next replay does not make and
    parse them again."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: dict[tuple[int, int], tuple[str, object]] = {}  # (i, j) -> (text, DuckDB's parse)


# Merged INSERTs are cut at every BLOCK-th statement of their run, so that a replay after the log
# has grown finds the blocks it made before.
BLOCK = 256


def batches(log: list[tuple[str, object]], alike: Callable[[], bool]) -> Iterator[tuple[object, object]]:
    """``log``'s (statement, parameters) as fewer calls that do the same: each run of statements
    without parameters as one script, its consecutive INSERTs of literal rows into one table as one
    INSERT; a statement with parameters alone. A merged INSERT made before (``Log.blocks``) comes
    as DuckDB parsed it, where ``alike()`` says the connection parses as duckmig's parser does."""
    blocks = getattr(log, "blocks", {})
    reuse: bool | None = None
    i = 0
    while i < len(log):
        if log[i][1] is not None:
            yield log[i]
            i += 1
            continue
        script: list[str] = []
        while i < len(log) and log[i][1] is None:
            j = i + BLOCK if (i, i + BLOCK) in blocks else _run_end(log, i)
            if j == i + 1:
                script.append(log[i][0])
            elif (i, j) in blocks:
                reuse = alike() if reuse is None else reuse
                text, parsed = blocks[i, j]
                if reuse:
                    if script:
                        yield _script(script), None
                        script = []
                    yield parsed, None
                else:
                    script.append(text)
            else:
                rows = ",\n".join(row for k in range(i, j) for row in _rows(log[k][0])[1])
                text = f"{_rows(log[i][0])[0]}{rows}"
                if j - i == BLOCK:
                    blocks[i, j] = text, sqlfile.parser().extract_statements(text)[0]
                script.append(text)
            i = j
        if script:
            yield _script(script), None


def _script(statements: list[str]) -> str:
    return "\n;\n".join(statements)  # a newline before each `;`: a statement may end in a line comment


def _run_end(log: list[tuple[str, object]], i: int) -> int:
    """The end of the INSERTs from ``i`` that run as one (``i + 1`` where ``log[i]`` is no such
    INSERT), at most a BLOCK of them. It looks no further than that, so that a replay after the
    log has grown cuts the same blocks from the part it had before."""
    head, _, kinds = _rows(log[i][0])
    j = i + 1
    if head is None:
        return j
    while j < min(len(log), i + BLOCK) and log[j][1] is None:
        more = _rows(log[j][0])
        joined = _joined(kinds, more[2]) if more[0] == head else None
        if joined is None:
            break
        kinds = joined
        j += 1
    return j


@lru_cache(maxsize=65_536)
def _rows(sql: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """(the text up to VALUES, each row's text, each column's literal type) of ``INSERT INTO t
    [(columns)] VALUES (literal, ...), ...``; head None for any other statement. Cached: each
    replay reads the same log again."""
    head = _HEAD.match(sql)
    if head is None:
        return None, (), ()
    rows: list[str] = []
    kinds: tuple[str, ...] | None = None
    at = head.end()
    while True:
        opened = _OPEN.match(sql, at)
        if opened is None:
            return None, (), ()
        start, at, row = at, opened.end(), []
        while True:
            literal = _LITERAL.match(sql, at)
            if literal is None or (kind := _type(literal)) is None:
                return None, (), ()
            row.append(kind)
            sep = _SEP.match(sql, literal.end())
            if sep is None:
                return None, (), ()
            at = sep.end()
            if sep.group(2):
                break
        rows.append(sql[start:at].strip())
        kinds = tuple(row) if kinds is None else _joined(kinds, tuple(row))
        if kinds is None:
            return None, (), ()
        comma = _SEP.match(sql, at)
        if comma is not None and comma.group(1):
            at = comma.end()
            continue
        if at != len(sql) and not sql[at:].isspace():
            return None, (), ()
        return sql[:head.end()], tuple(rows), tuple(kinds)


def _type(literal: re.Match) -> str | None:
    """The type DuckDB gives a literal: an integer's by its size, a decimal's by its digits."""
    kind = literal.lastgroup
    text = literal.group()
    if kind == "int":
        size = abs(int(text))
        return "int32" if size <= _INT32 else "int64" if size <= _INT64 else None
    if kind == "dec":
        whole, _, fraction = text.lstrip("-").partition(".")
        return f"decimal({len(whole) + len(fraction)},{len(fraction)})"
    return kind


def _joined(kinds: tuple[str, ...], row: tuple[str, ...]) -> tuple[str, ...] | None:
    """Each column's one literal type over two rows (NULL fits any); None where they differ."""
    if kinds == row:
        return kinds
    if len(kinds) != len(row):
        return None
    out = []
    for a, b in zip(kinds, row, strict=True):
        if a != b and "null" not in (a, b):
            return None
        out.append(b if a == "null" else a)
    return tuple(out)
