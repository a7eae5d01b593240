"""Statements that run other statements, and what they run.

DuckDB's parser types a statement by its outer form: ``EXPLAIN ANALYZE COPY ... TO`` is an
EXPLAIN, ``WITH d AS (DELETE FROM t) SELECT 1`` a SELECT. The rules the runner and a dry run
apply (no transaction control inside the engine's transaction, no change to the ledger, nothing a
rollback cannot undo) are about what runs, so a statement is judged as itself and as every
statement it wraps, recursively (``layers``).

What DuckDB's grammar lets wrap a statement, checked on duckdb 1.5 and 2.0 (each row is a test
in tests/test_wrappers.py):

=====================================  =========================================================
form                                   judged as
=====================================  =========================================================
``EXPLAIN ANALYZE stmt``,              the statement it wraps: DuckDB runs it (``(ANALYZE false)``
``EXPLAIN (ANALYZE, ...) stmt``        runs it too). It wraps any statement but ATTACH, DETACH,
                                       USE, EXPORT, COMMENT and EXPLAIN: COMMIT, SET, COPY ... TO,
                                       CHECKPOINT, INSTALL, CREATE OR REPLACE TABLE all run.
``EXPLAIN stmt``, ``EXPLAIN (FORMAT    the statement it wraps as well: DuckDB only plans it, but
json) stmt``                           which options run it is DuckDB's to decide, not a guess here.
``PREPARE name AS stmt``               the statement it wraps, when prepared: EXECUTE runs it
                                       later. DuckDB prepares SELECT, INSERT, UPDATE, DELETE and
                                       COPY (and, in 1.5, COPY FROM DATABASE).
``EXECUTE name``                       the statement prepared as ``name``: the one the run prepared,
                                       else (outside a dry run) the one DuckDB holds; where it is
                                       not known a dry run refuses it.
``WITH d AS (INSERT | UPDATE |         the statement in the parentheses (DuckDB 2.0 runs it; 1.5
DELETE | COPY ... TO ...) SELECT``     refuses the syntax). It heads a SELECT, a CREATE TABLE AS
                                       or a COPY (query); INSERT, UPDATE, DELETE and MERGE refuse
                                       it below the top level, so those are not searched.
=====================================  =========================================================

Looked at and not wrappers, on both versions: ``query('...')`` and ``CALL query(...)`` run one
SELECT only (DuckDB: "Expected a single SELECT statement"); ``query_table`` reads tables by
name; ``CREATE MACRO`` keeps an expression or a query, run when called (a dry run reads its body
as it reads any statement: see dryrun); ``CALL f()`` is ``FROM f()``; PIVOT is a SELECT (and a
CREATE TYPE); ``CREATE TABLE AS``, ``INSERT ... SELECT``, ``COPY (query)`` and ``CREATE VIEW`` take
queries; DEALLOCATE drops a prepared statement. The parser refuses EXECUTE and EXPLAIN inside
any of them, and PREPARE of anything but the statements above.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from . import sqlfile
from .statements import tokens

Lookup = Callable[[str], "str | None"]  # a prepared statement's name -> its text, if known

# The outer types that may wrap a statement; any other statement is only itself (most of a
# large file: INSERTs), told without tokenizing.
_OUTER = frozenset({"EXPLAIN", "PREPARE", "EXECUTE", "MULTI"})  # MULTI: DuckDB 2.0 types a PIVOT so, wrapped too
_CTE_HEADS = frozenset({"SELECT", "CREATE", "COPY"})
_CTE_BODY = re.compile(r"\b(?:insert|update|delete|copy)\b", re.IGNORECASE)
_DML = {"INSERT", "UPDATE", "DELETE", "COPY", "MERGE"}


@dataclass(frozen=True)
class Layer:
    """A statement that runs: the one written, or one a wrapper around it runs (or prepares)."""

    sql: str | None  # None: what runs is not known before it runs (EXECUTE of an unknown name)
    kinds: frozenset[str]
    said: str | None = None  # how the statement outside it runs it, for messages; None: the one written
    prepared: str | None = None  # the name a PREPARE gives it

    def because(self, reason: str) -> str:
        """``reason`` for refusing this layer, said of the statement as written."""
        return f"{self.said}: {reason}" if self.said else reason


def layers(sql: str, kinds: frozenset[str], lookup: Lookup | None = None, *, said: str | None = None,
           prepared: str | None = None) -> list[Layer]:
    """``sql`` (one statement, typed ``kinds``) and every statement it wraps, outermost first.

    ``lookup`` gives the text of a prepared statement by name (None where it is not known)."""
    found = [Layer(sql, kinds, said, prepared)]
    if not may_wrap(sql, kinds):
        return found
    for inner in _wrapped(sql, kinds, lookup):
        joined = f"{said}: {inner.said}" if said else inner.said
        later = inner.prepared or prepared  # inside a prepared statement, nothing runs yet
        if inner.sql is None:
            found.append(Layer(None, inner.kinds, joined, later))
        else:
            found += layers(inner.sql, inner.kinds, lookup, said=joined, prepared=later)
    return found


def may_wrap(sql: str, kinds: frozenset[str]) -> bool:
    """Whether ``sql`` (typed ``kinds``) may run another statement; False for most of a large file's
    statements (INSERTs), told without tokenizing."""
    return bool(kinds & _OUTER or (kinds & _CTE_HEADS and "(" in sql and _CTE_BODY.search(sql)))


def kinds_run(all_layers: list[Layer]) -> frozenset[str]:
    """Every type of statement among ``all_layers`` that runs now (a prepared one runs later)."""
    out: set[str] = set()
    for layer in all_layers:
        if layer.prepared is None:
            out |= layer.kinds
    return frozenset(out)


def preparation(sql: str) -> tuple[str, str] | None:
    """(name, statement) of ``PREPARE name AS statement``; None for any other statement."""
    toks = tokens(sql)
    found = _prepared(toks, sql.encode()) if toks and toks[0].text.upper() == "PREPARE" else None
    return (found[2], found[1]) if found else None


def deallocated(sql: str) -> str | None:
    """The name ``DEALLOCATE [PREPARE] name`` drops; None for any other statement."""
    if not sql.lstrip()[:10].upper().startswith("DEALLOCATE"):
        return None
    names = [t.text for t in tokens(sql)[1:] if t.text.upper() != "PREPARE"]
    return _name(names[0]) if names else None


# -- reading the wrapped statements ----------------------------------------------------------


def _wrapped(sql: str, kinds: frozenset[str], lookup: Lookup | None):
    toks = tokens(sql)
    if not toks:
        return
    raw = sql.encode()
    first = toks[0].text.upper()
    if first == "EXPLAIN" and kinds & {"EXPLAIN", "MULTI"}:
        yield from _typed(_explained(toks, raw))
    elif first == "PREPARE" and kinds & {"PREPARE", "MULTI"}:
        yield from _typed(_prepared(toks, raw))
    elif first == "EXECUTE" and "EXECUTE" in kinds:
        name = _name(toks[1].text) if len(toks) > 1 else ""
        text = lookup(name) if lookup else None
        said = f"EXECUTE runs the statement prepared as {name}"
        if text is None:
            yield Layer(None, frozenset(), said)
        else:
            yield from _typed((said, text, None))
    else:
        for text in _cte_bodies(toks, raw):
            yield from _typed(("a WITH clause runs the statement in its parentheses", text, None))


def _typed(found):
    """A Layer of (said, text, prepared), typed by DuckDB's parser; nothing if it does not parse
    alone (then it is not a statement, and what runs is what the parser typed outside it)."""
    if found is None:
        return
    said, text, prepared = found
    try:
        kinds = sqlfile.kinds(text)
    except Exception:  # noqa: BLE001 - duckdb.Error, or a type this duckdb cannot name
        return
    yield Layer(text, kinds, said, prepared)


def _explained(toks, raw):
    """EXPLAIN [ANALYZE | ANALYSE] [(option, ...)] statement."""
    j, analyze = 1, False
    if j < len(toks) and toks[j].text.upper() in ("ANALYZE", "ANALYSE"):
        j, analyze = j + 1, True
    if j < len(toks) and toks[j].text == "(":
        end = _closing(toks, j)
        analyze = analyze or any(t.text.upper() in ("ANALYZE", "ANALYSE") for t in toks[j:end])
        j = end + 1
    if j >= len(toks):
        return None
    said = ("EXPLAIN ANALYZE runs the statement it wraps" if analyze else
            "EXPLAIN is judged by the statement it wraps")
    return said, raw[toks[j].start:].decode().strip(), None


def _prepared(toks, raw):
    """PREPARE name [(type, ...)] AS statement."""
    if len(toks) < 4:
        return None
    j = 2
    if toks[j].text == "(":
        j = _closing(toks, j) + 1
    if j + 1 >= len(toks) or toks[j].text.upper() != "AS":
        return None
    name = _name(toks[1].text)
    return (f"PREPARE {name} keeps the statement it wraps for EXECUTE to run",
            raw[toks[j + 1].start:].decode().strip(), name)


def _cte_bodies(toks, raw):
    """The text of each ``( INSERT | UPDATE | DELETE | COPY ... )`` in the statement."""
    for i in range(len(toks) - 1):
        if toks[i].text == "(" and toks[i + 1].kind == "keyword" and toks[i + 1].text.upper() in _DML:
            end = _closing(toks, i)
            stop = toks[end].start if end < len(toks) else len(raw)
            yield raw[toks[i + 1].start:stop].decode().strip()


def _closing(toks, i: int) -> int:
    """The index of the token that closes the parenthesis opened at ``i`` (len(toks) if none)."""
    depth = 0
    for k in range(i, len(toks)):
        if toks[k].kind == "operator":
            depth += toks[k].text.count("(") - toks[k].text.count(")")
            if depth <= 0:
                return k
    return len(toks)


def _name(text: str) -> str:
    """A prepared statement's name as DuckDB keeps it: quoted as written, else lower case."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text.lower()
