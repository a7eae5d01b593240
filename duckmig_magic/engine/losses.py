"""What one statement destroys, read exactly from its text, so that keeping copies only that.

Three forms are read; anything else is not (``read`` gives None) and its table is kept by a whole
copy compared after the migration (keep.py):

- ``DELETE FROM t [[AS] a] [WHERE p]``: the rows ``SELECT * FROM t [[AS] a] [WHERE p]`` gives, run
  just before the DELETE, in its transaction: the same text after FROM, so DuckDB binds it alike;
- ``UPDATE t [[AS] a] SET c = ..., d = ... [WHERE p]``: the key and the old values of c, d of the
  rows ``FROM t [[AS] a] [WHERE p]`` gives;
- ``ALTER TABLE t DROP [COLUMN] c``: the key and c of every row.

A WHERE is used only where running it twice on the same rows must give the same rows: no subquery
(it may read the table itself, sample, limit or aggregate in an order that is not fixed), no window,
no parameter, and only functions DuckDB declares consistent and free of side effects (``random()``,
``nextval()`` or a macro make the statement unread).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .sqltext import literal
from .statements import Name, Token, _unquote, tokens  # noqa: PLC2701 - the same reading of a quoted name
from .statements import _name as _dotted  # noqa: PLC2701

_STABLE = ("CONSISTENT", "CONSISTENT_WITHIN_QUERY")


@dataclass(frozen=True)
class Loss:
    """What a statement destroys of ``table``: ``removed`` whole rows, ``changed`` values of
    ``columns`` (UPDATE), ``column`` the values of a dropped column; the rows are those
    ``SELECT ... {source}`` gives just before it runs."""

    kind: str
    table: Name
    columns: tuple[str, ...]
    source: str


def _name(toks: list[Token], j: int) -> tuple[Name | None, int]:
    return _dotted(toks, j, ("identifier",))  # a keyword ends it: no name here is one


def _top_level(toks: list[Token]) -> list[tuple[int, Token]]:
    """The tokens outside any parentheses, brackets or braces, with their index."""
    depth, out = 0, []
    for i, t in enumerate(toks):
        if depth == 0:
            out.append((i, t))
        if t.kind == "operator":
            depth += sum(t.text.count(c) for c in "([{") - sum(t.text.count(c) for c in ")]}")
    return out


def _text(raw: bytes, start: int, end: int) -> str:
    text = raw[start:end].decode().strip()
    return text[:-1].rstrip() if text.endswith(";") else text


def _alias(toks: list[Token], j: int) -> int:
    """Past ``[AS] alias`` at ``j``."""
    if j < len(toks) and toks[j].word == "AS":
        j += 1
        return j + 1 if j < len(toks) and toks[j].kind == "identifier" else -1
    if j < len(toks) and toks[j].kind == "identifier":
        return j + 1
    return j


def read(sql: str) -> Loss | None:
    """What ``sql`` destroys, if it is one of the forms read exactly (see the module); else None."""
    try:
        raw, toks = sql.encode(), tokens(sql)
    except Exception:  # noqa: BLE001 - a statement the tokenizer does not take is not read
        return None
    if toks and toks[-1].text == ";":
        toks = toks[:-1]
    if len(toks) < 3:
        return None
    first = toks[0].word
    top = _top_level(toks)
    words = {t.word for _, t in top}
    if first == "DELETE" and toks[1].word == "FROM":
        name, j = _name(toks, 2)
        j = _alias(toks, j) if name else -1
        if name is None or j < 0 or words & {"USING", "RETURNING"}:
            return None
        if j < len(toks) and toks[j].word != "WHERE":
            return None
        return Loss("removed", name, (), _text(raw, toks[1].start, len(raw)))
    if first == "UPDATE":
        name, j = _name(toks, 1)
        after = _alias(toks, j) if name else -1
        if name is None or after < 0 or after >= len(toks) or toks[after].word != "SET":
            return None
        if words & {"FROM", "RETURNING"}:
            return None
        where = next((i for i, t in top if t.word == "WHERE" and i > after), len(toks))
        columns, expect = [], True
        for i, t in top:
            if not after < i < where:
                continue
            if expect:  # the name assigned: a plain column, followed by =
                if t.kind not in ("identifier", "keyword") or t.word or i + 1 >= len(toks) or toks[i + 1].text != "=":
                    return None
                columns.append(_unquote(t.text))
                expect = False
            elif t.text == ",":
                expect = True
        if expect or not columns:
            return None
        target = _text(raw, toks[1].start, toks[after].start)
        condition = _text(raw, toks[where].start, len(raw)) if where < len(toks) else ""
        return Loss("changed", name, tuple(columns), f"FROM {target} {condition}".rstrip())
    if first == "ALTER" and toks[1].word == "TABLE":
        name, j = _name(toks, 2)
        if name is None or j >= len(toks) or toks[j].word != "DROP":
            return None
        target = _text(raw, toks[2].start, toks[j].start)
        j += 1
        if j < len(toks) and toks[j].word == "COLUMN":
            j += 1
        if j != len(toks) - 1 or toks[j].kind not in ("identifier", "keyword") or toks[j].word:
            return None
        return Loss("column", name, (_unquote(toks[j].text),), f"FROM {target}")
    return None


def exact(conn, loss: Loss) -> bool:
    """Whether selecting ``loss.source`` just before its statement gives exactly the rows the
    statement destroys: one table, nothing whose result may differ between two runs."""
    if loss.kind == "column":
        return True  # every row: no condition
    try:
        # Written into the text, not bound: duckdb 1.x loads pandas and numpy to bind a first parameter.
        parsed = json.loads(conn.execute(f"SELECT json_serialize_sql({literal(f'SELECT * {loss.source}')})").fetchone()[0])
    except Exception:  # noqa: BLE001 - not parsed: not read
        return False
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        return False
    node = parsed["statements"][0]["node"]
    if node.get("type") != "SELECT_NODE" or (node.get("from_table") or {}).get("type") != "BASE_TABLE" \
            or node.get("modifiers") or (node.get("cte_map") or {}).get("map") \
            or parsed["statements"][0].get("named_param_map"):
        return False
    functions: set[str] = set()
    if not _plain(node.get("where_clause"), functions):
        return False
    if not functions:
        return True
    names = sorted(functions)
    try:
        found = conn.execute(
            "SELECT function_name, bool_and(coalesce(stability IN ('CONSISTENT', 'CONSISTENT_WITHIN_QUERY'), false) "
            "AND NOT coalesce(has_side_effects, true) AND function_type = 'scalar') FROM duckdb_functions() "
            f"WHERE function_name IN ({', '.join('?' for _ in names)}) GROUP BY 1", names).fetchall()
    except Exception:  # noqa: BLE001 - a DuckDB that does not say how stable a function is: not read
        return False
    return len(found) == len(names) and all(ok for _, ok in found)


def _plain(node, functions: set[str]) -> bool:
    """Walk an expression's JSON: False at a subquery, window, parameter or anything naming a
    table; collect the functions called."""
    if isinstance(node, list):
        return all(_plain(n, functions) for n in node)
    if not isinstance(node, dict):
        return True
    cls = node.get("class")
    if cls in ("SUBQUERY", "WINDOW", "PARAMETER") or node.get("type") in ("BASE_TABLE", "TABLE_FUNCTION"):
        return False
    if cls in ("FUNCTION", "AGGREGATE"):
        if node.get("catalog") or node.get("schema"):
            return False
        functions.add(str(node.get("function_name", "")).lower())
    return all(_plain(v, functions) for k, v in node.items() if k not in ("query_location",))
