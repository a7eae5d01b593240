"""What a dry run (a preview, ``verify --roundtrip``) refuses to run.

A dry run applies migrations in a transaction that it rolls back, and a
rollback undoes only what happened inside the database. So statements whose
effects lie outside it are refused before they run, with an error naming the
statement: COPY ... TO and EXPORT DATABASE write files; ATTACH creates a
database file where there is none; INSTALL writes an extension and LOAD runs
one; CREATE PERSISTENT SECRET writes a secret to a file; SET, RESET, USE and
PRAGMA change settings that a rollback leaves as they are (some name files that
DuckDB then writes, such as profiling output); CALL runs procedures such as
checkpoint() or enable_logging(); DETACH is not undone either.

A statement is judged as every statement it wraps (wrappers.layers): ``EXPLAIN
ANALYZE COPY ... TO`` writes the file as COPY would. Some table functions act
as CALL does (``FROM checkpoint()``) and are refused by name wherever they are
called, a macro's body included; ``query()`` runs the SELECT its text holds,
which is judged too, and SQL built at run time, which cannot be read before it
runs, is refused (``query()`` of anything but a string, EXECUTE of a statement
prepared outside the run).

DuckDB's own switch, ``enable_external_access = false``, cannot do this: once
off it stays off for the whole database instance, which a notebook's own
connection shares, and it also forbids reading files (COPY ... FROM,
read_csv), which migrations do. The check covers the SQL a migration runs
through the engine; a Python migration's own Python code runs as it is.
"""

from __future__ import annotations

import re

from . import sqlfile, statements, wrappers

_REASONS = {
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH creates a database file where there is none, and a rollback does not delete it",
    "DETACH": "DETACH is not undone by a rollback",
    "LOAD": "INSTALL writes an extension's file and LOAD runs its code",
    "SET": "SET, RESET and USE change settings that a rollback leaves as they are (some name files DuckDB writes)",
    "PRAGMA": "a PRAGMA changes settings that a rollback leaves as they are (some make DuckDB write files)",
    "CALL": "CALL runs procedures (checkpoint(), enable_logging(), ...) whose effects a rollback does not undo",
    "EXTENSION": "UPDATE EXTENSIONS writes extensions' files",
    "UNKNOWN": "it is a statement of a kind a dry run does not know",
}


# Table functions whose effects a rollback does not undo: ``FROM f()`` runs them as CALL does.
_FUNCTIONS = {
    "checkpoint": "checkpoint() writes the database file",
    "force_checkpoint": "force_checkpoint() writes the database file",
    "enable_logging": "enable_logging() changes settings that a rollback leaves as they are",
    "disable_logging": "disable_logging() changes settings that a rollback leaves as they are",
    "truncate_duckdb_logs": "truncate_duckdb_logs() deletes logs, which a rollback does not bring back",
    "enable_profiling": "enable_profiling() changes settings that a rollback leaves as they are",
    "disable_profiling": "disable_profiling() changes settings that a rollback leaves as they are",
    "json_execute_serialized_sql": "json_execute_serialized_sql() runs SQL that cannot be read before it runs",
    "add_grammar_extension": "add_grammar_extension() changes the parser for the rest of the session",
    "remove_grammar_extension": "remove_grammar_extension() changes the parser for the rest of the session",
    "register_external_resource": "it registers an external resource, which a rollback does not undo",
    "register_external_resource_type": "it registers an external resource, which a rollback does not undo",
    "create_external_resource": "it creates an external resource, which a rollback does not undo",
    "destroy_external_resource": "it destroys an external resource, which a rollback does not undo",
    "deregister_external_resource": "it deregisters an external resource, which a rollback does not undo",
}
_USE = re.compile(r"\s*USE\b", re.IGNORECASE)
_CALLED = re.compile("|".join(sorted(_FUNCTIONS)) + r"|\bquery\b", re.IGNORECASE)


def refusal(sql: str, kinds: frozenset[str] | None = None, lookup: wrappers.Lookup | None = None, *,
            own_connection: bool = False) -> str | None:
    """Why a dry run refuses ``sql`` (the first of its statements that it refuses), or None.

    ``kinds``: DuckDB's types of ``sql``, a single statement, where the caller has them;
    ``lookup``: the text of a statement the run prepared, by name; ``own_connection``: the run's
    connection is its own and is thrown away after (a replay in memory), so USE, which changes only
    that connection, is let through.
    """
    import duckdb

    if kinds is not None:
        return _judged(sql, kinds, lookup, own_connection)
    try:
        typed = [(p.query, frozenset((sqlfile._kind(p),))) for p in duckdb.extract_statements(sql)]
    except duckdb.Error:
        return None  # DuckDB refuses to run it as well, and the run reports that
    for text, kind in typed:
        if (reason := _judged(text, kind, lookup, own_connection)) is not None:
            return reason
    return None


def _judged(sql: str, kinds: frozenset[str], lookup, own_connection: bool = False) -> str | None:
    for layer in wrappers.layers(sql, kinds, lookup):
        if own_connection and layer.sql is not None and _USE.match(layer.sql):
            continue
        reason = _refused(layer, lookup)
        if reason is not None:
            return layer.because(reason)
    return None


def _refused(layer: wrappers.Layer, lookup) -> str | None:
    """Why a dry run refuses this statement itself, its wrapped ones aside."""
    if layer.sql is None:
        return "a dry run cannot read that statement (it was prepared before the migration ran)"
    for kind in sorted(layer.kinds):
        if kind in _REASONS:
            return _REASONS[kind]
        if kind == "COPY" and _copies_to(layer.sql):
            return "COPY ... TO writes a file"
        if kind == "CREATE" and _persistent_secret(layer.sql):
            return "a persistent secret is written to a file"
    return _called(layer.sql, lookup) if _CALLED.search(layer.sql) else None


def _called(sql: str, lookup) -> str | None:
    """Why a dry run refuses a table function ``sql`` calls: one with effects a rollback leaves,
    or ``query()`` of text that is not a string constant, or of a SELECT that is refused."""
    toks = statements.tokens(sql)
    for i, tok in enumerate(toks[:-1]):
        if tok.kind not in ("identifier", "keyword") or not toks[i + 1].text.startswith("("):
            continue
        name = statements._unquote(tok.text).lower()
        if name in _FUNCTIONS:
            return _FUNCTIONS[name]
        if name == "query":
            arg = toks[i + 2:i + 4]
            if len(arg) < 2 or arg[0].kind != "string_const" or not arg[1].text.startswith(")"):
                return "query() runs SQL built when it runs, which a dry run cannot read before"
            inner = refusal(_string(arg[0].text), None, lookup)
            if inner is not None:
                return f"query() runs the SQL its text holds: {inner}"
    return None


def _string(text: str) -> str:
    """The value of a SQL string constant as DuckDB's tokenizer gives it."""
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _copies_to(sql: str) -> bool:
    depth = 0
    for tok in statements.tokens(sql):
        if tok.kind == "operator":
            depth += tok.text.count("(") - tok.text.count(")")
        elif not depth and tok.word in ("TO", "FROM"):
            return tok.word == "TO"
    return False


def _persistent_secret(sql: str) -> bool:
    words = [tok.word for tok in statements.tokens(sql)[:6]]
    return "PERSISTENT" in words and "SECRET" in words
