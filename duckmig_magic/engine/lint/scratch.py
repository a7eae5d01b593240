"""The catalog as it will be when a migration runs: a scratch copy of the live schema, without its
rows, on which the pending migrations before it have run.

The live database's schema is copied with ``COPY FROM DATABASE ... (SCHEMA)`` into an
in-memory database, and each pending statement that changes the schema runs there
after the rules have looked at it. The copy is exact where the rules need it to be
(indexes, constraints, views, sequences, types are DuckDB's own), and cheap: no rows.
The live database is only read (data rules query it, through ``live``).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ...wording import first_line
from .. import statements
from ..sqltext import inline, literal, quote
from .parse import Name, Statement

SCRATCH = "duckmig_lint"
LIVE = "duckmig_lint_live"

# Table functions that read files or the network: a statement calling one is not replayed on a
# connection where external access cannot be switched off (the user's own).
_READS_OUTSIDE = re.compile(r"read_|_scan$|^scan_|glob|sniff|parquet|csv|json|http|iceberg|delta|attach|query",
                            re.IGNORECASE)


@dataclass(frozen=True)
class Index:
    name: str
    table: str  # schema.table, lower case
    columns: frozenset[str]  # lower case
    unique: bool
    sql: str


class Catalog:
    """Queries on the scratch catalog (``conn``, database ``scratch``); ``live`` names the live
    database on the same connection for data queries (None: no rows to read)."""

    def __init__(self, conn, scratch: str, live: str | None, *, isolated: bool, unread: str | None = None):
        self.conn, self.scratch, self.live, self.isolated = conn, scratch, live, isolated
        self.unread = unread  # why the live database's schema could not be copied: the copy started empty
        self._start: dict[str, list[Index]] | None = None
        # The other databases attached: a statement that names one is not replayed, so that the copy
        # is the only thing the lint changes.
        self.queued: list[str] = []  # replayed statements not run yet: run together before the next query
        self.trying: list[str] | None = None  # inside ``trial``: the statements run in its transaction
        self.others = {d.lower() for (d,) in conn.execute("SELECT database_name FROM duckdb_databases()").fetchall()
                       if d.lower() != scratch.lower()}

    # -- the schema ------------------------------------------------------------------------------

    def q(self, sql: str, *params) -> list[tuple]:
        self.flush()
        return self.conn.execute(inline(sql, params)).fetchall()

    def flush(self) -> None:
        """Run the statements replayed since the last query, in one transaction (a statement each costs a
        commit each); where DuckDB refuses one of them, one by one, each refusal leaving the copy as it was."""
        if not self.queued:
            return
        queued, self.queued = self.queued, []
        if self.trying is not None:
            self._try(queued)
            return
        try:
            self.conn.execute("BEGIN TRANSACTION;\n" + ";\n".join(queued) + ";\nCOMMIT")
            return
        except Exception:  # noqa: BLE001 - one of them is refused: each is run alone
            self.conn.execute("ROLLBACK")
        for sql in queued:
            try:
                self.conn.execute(sql)
            except Exception:  # noqa: BLE001 - DuckDB's refusal: the copy stays as it was
                pass

    def resolve(self, name: Name | None) -> tuple[str, str] | None:
        """(schema, table or view or ...) of ``name`` as the scratch catalog knows it, lower case."""
        if not name:
            return None
        if len(name) >= 3 and name[-3].lower() != self.scratch:
            name = name[-2:]  # a catalog of its own: the live one, as the migration names it
        schema = name[-2].lower() if len(name) >= 2 else "main"
        return schema, name[-1].lower()

    def table_exists(self, name: Name | None) -> bool:
        found = self.resolve(name)
        if not found:
            return False
        return bool(self.q("SELECT 1 FROM duckdb_tables() WHERE database_name = ? AND lower(schema_name) = ? "
                           "AND lower(table_name) = ?", self.scratch, *found))

    def columns(self, name: Name | None) -> dict[str, tuple[str, bool, str | None]]:
        """{column (lower): (type, nullable, default)} of the table."""
        found = self.resolve(name)
        if not found:
            return {}
        return {c.lower(): (t, n, d) for c, t, n, d in self.q(
            "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE database_name = ? AND lower(schema_name) = ? AND lower(table_name) = ?", self.scratch, *found)}

    def indexes(self, name: Name | None) -> list[Index]:
        """The table's indexes made by CREATE INDEX (not its keys)."""
        found = self.resolve(name)
        if not found:
            return []
        return [Index(n, f"{s.lower()}.{t.lower()}", statements.identifiers(e), u, sql) for n, s, t, e, u, sql in self.q(
            "SELECT index_name, schema_name, table_name, expressions, is_unique, sql FROM duckdb_indexes() "
            "WHERE database_name = ? AND lower(schema_name) = ? AND lower(table_name) = ?", self.scratch, *found)]

    def remember_indexes(self) -> None:
        """Note the indexes as they stand when a transaction starts (DuckDB keeps those it drops
        inside one until it ends, for some ALTERs)."""
        self._start = {}
        for n, s, t, e, u, sql in self.q("SELECT index_name, schema_name, table_name, expressions, is_unique, sql "
                                         "FROM duckdb_indexes() WHERE database_name = ?", self.scratch):
            self._start.setdefault(f"{s.lower()}.{t.lower()}", []).append(
                Index(n, f"{s.lower()}.{t.lower()}", statements.identifiers(e), u, sql))

    def indexes_at_start(self, name: Name | None) -> list[Index]:
        found = self.resolve(name)
        return (self._start or {}).get(".".join(found), []) if found else []

    def constraints(self, name: Name | None, kind: str) -> list[tuple[list[str], str | None]]:
        """(columns, referenced table) of the table's constraints of ``kind`` (CHECK, UNIQUE, ...)."""
        found = self.resolve(name)
        if not found:
            return []
        return [([c.lower() for c in cols], ref) for cols, ref in self.q(
            "SELECT constraint_column_names, referenced_table FROM duckdb_constraints() WHERE database_name = ? "
            "AND lower(schema_name) = ? AND lower(table_name) = ? AND constraint_type = ?",
            self.scratch, *found, kind)]

    def referencing(self, name: Name | None) -> list[str]:
        """The tables whose foreign keys reference the table."""
        found = self.resolve(name)
        if not found:
            return []
        return [t for (t,) in self.q(
            "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE database_name = ? AND constraint_type = "
            "'FOREIGN KEY' AND lower(schema_name) = ? AND lower(referenced_table) = ? AND lower(table_name) <> ?",
            self.scratch, found[0], found[1], found[1])]

    def views_using(self, name: Name | None, column: str | None = None) -> list[str]:
        """The views whose query names the table (and ``column``, if given)."""
        found = self.resolve(name)
        if not found:
            return []
        hits = []
        for view, sql in self.q("SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
                                self.scratch):
            words = statements.identifiers(sql or "")
            if found[1] in words and (column is None or column.lower() in words):
                hits.append(view)
        return hits

    def defaults_naming(self, sequence: Name) -> list[str]:
        """``table.column`` of each column whose default calls nextval of the sequence."""
        name = sequence[-1].lower()
        return [f"{t}.{c}" for t, c, d in self.q(
            "SELECT table_name, column_name, column_default FROM duckdb_columns() WHERE database_name = ? "
            "AND column_default IS NOT NULL", self.scratch)
            if re.search(r"(nextval|currval)\s*\(\s*'([^']*\.)?" + re.escape(name) + r"'", d, re.IGNORECASE)]

    def columns_of_type(self, type_name: Name) -> list[str]:
        """``table.column`` of each column of the user type (DuckDB names an ENUM column by its values)."""
        found = self.resolve(type_name)
        if not found or not self.q("SELECT 1 FROM duckdb_types() WHERE database_name = ? AND lower(schema_name) = ? "
                                   "AND lower(type_name) = ? AND NOT internal", self.scratch, *found):
            return []
        self.flush()
        try:
            (shape,) = self.conn.execute(
                f"SELECT typeof(NULL::{quote(self.scratch)}.{quote(found[0])}.{quote(found[1])})").fetchone()
        except Exception:  # noqa: BLE001 - a type DuckDB cannot name so: no column is known to use it
            return []
        return [f"{t}.{c}" for t, c in self.q(
            "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ? AND "
            "(data_type = ? OR lower(data_type) = ?)", self.scratch, shape, found[1])]

    def exists(self, kind: str, name: Name) -> bool:
        found = self.resolve(name)
        if not found:
            return False
        table, column = {"VIEW": ("duckdb_views()", "view_name"), "SEQUENCE": ("duckdb_sequences()", "sequence_name"),
                         "TYPE": ("duckdb_types()", "type_name"), "TABLE": ("duckdb_tables()", "table_name")}[kind]
        return bool(self.q(f"SELECT 1 FROM {table} WHERE database_name = ? AND lower(schema_name) = ? "
                           f"AND lower({column}) = ?", self.scratch, *found))

    # -- the rows --------------------------------------------------------------------------------

    def live_table(self, name: Name | None) -> str | None:
        """The table's qualified name in the live database, if rows can be read there and it exists."""
        found = self.resolve(name)
        if self.live is None or not found:
            return None
        hit = self.q("SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = ? "
                     "AND lower(schema_name) = ? AND lower(table_name) = ?", self.live, *found)
        return f"{quote(self.live)}.{quote(hit[0][0])}.{quote(hit[0][1])}" if hit else None

    def live_column(self, name: Name | None, column: str) -> str | None:
        """The column's name as the live table spells it, quoted."""
        found = self.resolve(name)
        if self.live is None or not found:
            return None
        hit = self.q("SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND lower(schema_name) = ? "
                     "AND lower(table_name) = ? AND lower(column_name) = ?", self.live, *found, column.lower())
        return quote(hit[0][0]) if hit else None

    def _try(self, queued: list[str]) -> None:
        """Run ``queued`` inside the trial's transaction; one DuckDB refuses aborts it, so the transaction
        starts again with the statements that ran before."""
        assert self.trying is not None
        for sql in queued:
            try:
                self.conn.execute(sql)
                self.trying.append(sql)
            except Exception:  # noqa: BLE001 - DuckDB's refusal: the transaction starts again without it
                self.conn.execute("ROLLBACK")
                self.conn.execute("BEGIN TRANSACTION")
                for done in self.trying:
                    self.conn.execute(done)

    @contextmanager
    def trial(self) -> Iterator[None]:
        """What is replayed inside is undone at the end (a downgrade, judged on the catalog its upgrade
        leaves, which it must not change for the migrations after it)."""
        self.flush()
        self.conn.execute("BEGIN TRANSACTION")
        self.trying = []
        try:
            yield
        finally:
            self.queued, self.trying = [], None
            self.conn.execute("ROLLBACK")

    # -- replaying ---------------------------------------------------------------------------------

    def replay(self, statement: Statement) -> None:
        """Run a statement that changes the schema on the scratch copy; what DuckDB refuses there
        leaves the copy as it was (the rules have said why)."""
        if statement.kind not in ("create", "drop", "alter"):
            return
        if any(len(n) >= 2 and n[0].lower() in self.others for n in [*statement.names, statement.table] if n):
            return
        if not self.isolated and _READS_OUTSIDE.search(" ".join(statements.functions_called(statement.sql))):
            return
        self.queued.append(statement.sql)


class LiveUnavailable(Exception):
    """The live database's file cannot be attached to the lint's own connection (this process holds
    it open with other settings): the caller lints on that process's connection instead."""


_scratches = itertools.count(1)


@contextmanager
def open_catalog(conn, path: str | None) -> Iterator[Catalog]:
    """The scratch catalog for a lint. ``path``: the live database's file, attached read-only to a
    connection of the lint's own, with external access off; else ``conn`` (the user's connection or a
    lake's, or None: no live database), on a cursor of which the copy is an in-memory database attached
    for the time of the lint (the connection itself, and a transaction it has open, are left alone).
    Where no copy can be made there (a read-only instance), the catalog starts empty and no rows are read."""
    import duckdb

    if conn is None:
        own = duckdb.connect(":memory:")
        unread = None
        try:
            if path is not None:
                try:
                    own.execute(f"ATTACH {literal(path)} AS {quote(LIVE)} (READ_ONLY)")
                except duckdb.Error as exc:
                    raise LiveUnavailable(str(exc)) from exc
                try:
                    own.execute(f"COPY FROM DATABASE {quote(LIVE)} TO memory (SCHEMA)")
                except duckdb.Error as exc:  # one DuckDB cannot copy (a default calling a macro): starts empty
                    unread = first_line(str(exc))
                    own.close()
                    own = duckdb.connect(":memory:")
            own.execute("SET enable_external_access = false")
            yield Catalog(own, "memory", LIVE if path is not None and unread is None else None, isolated=True,
                          unread=unread)
        finally:
            own.close()
        return
    (current,) = conn.execute("SELECT current_database()").fetchone()
    cursor = conn.cursor()
    name = f"{SCRATCH}_{os.getpid()}_{next(_scratches)}"
    try:
        cursor.execute(f"USE {quote(current)}")
        cursor.execute(f"ATTACH ':memory:' AS {quote(name)}")
    except duckdb.Error:  # a read-only instance cannot attach one
        cursor.close()
        with open_catalog(None, None) as empty:
            empty.unread = "the connection is read-only, and the copy is a database attached to it"
            yield empty
        return
    try:
        try:
            cursor.execute(f"COPY FROM DATABASE {quote(current)} TO {quote(name)} (SCHEMA)")
        except duckdb.Error as exc:  # a catalog DuckDB cannot copy (a lake's, say): the copy starts empty
            unread = first_line(str(exc))
        else:
            unread = None
        cursor.execute(f"USE {quote(name)}")
        yield Catalog(cursor, name, current if unread is None else None, isolated=False, unread=unread)
    finally:
        cursor.execute(f"USE {quote(current)}")
        cursor.execute(f"DETACH {quote(name)}")
        cursor.close()
