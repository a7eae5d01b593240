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

DuckDB's own switch, ``enable_external_access = false``, cannot do this: once
off it stays off for the whole database instance, which a notebook's own
connection shares, and it also forbids reading files (COPY ... FROM,
read_csv), which migrations do. The check covers the SQL a migration runs
through the engine; a Python migration's own Python code runs as it is.
"""

from __future__ import annotations

from .. import errors
from . import statements

_REASONS = {
    "EXPORT": "EXPORT DATABASE writes files",
    "ATTACH": "ATTACH creates a database file where there is none, and a rollback does not delete it",
    "DETACH": "DETACH is not undone by a rollback",
    "LOAD": "INSTALL writes an extension's file and LOAD runs its code",
    "SET": "SET, RESET and USE change settings that a rollback leaves as they are (some name files DuckDB writes)",
    "PRAGMA": "a PRAGMA changes settings that a rollback leaves as they are (some make DuckDB write files)",
    "CALL": "CALL runs procedures (checkpoint(), enable_logging(), ...) whose effects a rollback does not undo",
}


def refusal(sql: str) -> str | None:
    """Why a dry run refuses ``sql`` (the first of its statements that it refuses), or None."""
    import duckdb

    try:
        parsed = duckdb.extract_statements(sql)
    except duckdb.Error:
        return None  # DuckDB refuses to run it as well, and the run reports that
    except ValueError:  # a statement type this duckdb package cannot name
        return "it is a statement of a kind a dry run does not know"
    for statement in parsed:
        kind = statement.type.name
        if kind in _REASONS:
            return _REASONS[kind]
        if kind == "COPY" and _copies_to(statement.query):
            return "COPY ... TO writes a file"
        if kind == "CREATE" and _persistent_secret(statement.query):
            return "a persistent secret is written to a file"
    return None


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
