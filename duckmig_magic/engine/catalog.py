"""Snapshots of the catalog: what exists in the database, for comparing schemas."""

from __future__ import annotations

from dataclasses import dataclass

from .ledger import quote

_QUERIES = {
    "table": "SELECT schema_name || '.' || table_name, NULL FROM duckdb_tables() "
             "WHERE database_name = current_database()",
    "column": "SELECT schema_name || '.' || table_name || '.' || column_name, "
              "data_type || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END || "
              "COALESCE(' DEFAULT ' || column_default, '') FROM duckdb_columns() "
              "WHERE database_name = current_database()",
    "view": "SELECT schema_name || '.' || view_name, sql FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal",
    "index": "SELECT schema_name || '.' || index_name, sql FROM duckdb_indexes() "
             "WHERE database_name = current_database()",
    "sequence": "SELECT schema_name || '.' || sequence_name, NULL FROM duckdb_sequences() "
                "WHERE database_name = current_database()",
    "macro": "SELECT DISTINCT schema_name || '.' || function_name, function_type FROM duckdb_functions() "
             "WHERE database_name = current_database() AND NOT internal "
             "AND function_type IN ('macro', 'table_macro')",
    "schema": "SELECT schema_name, NULL FROM duckdb_schemas() "
              "WHERE database_name = current_database() AND NOT internal",
}


def snapshot(conn) -> dict[tuple[str, str], str | None]:
    """{(kind, qualified name): definition} of everything the user created in the current database."""
    found = {}
    for kind, sql in _QUERIES.items():
        for name, definition in conn.execute(sql).fetchall():
            found[(kind, name)] = definition
    return found


def describe_difference(before: dict, after: dict) -> str:
    """One line naming what differs between two snapshots."""
    parts = []
    for key in sorted(set(before) | set(after)):
        kind, name = key
        if key not in after:
            parts.append(f"{kind} {name} is gone")
        elif key not in before:
            parts.append(f"{kind} {name} remains")
        elif before[key] != after[key]:
            parts.append(f"{kind} {name} was {before[key]}, is {after[key]}")
    return "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    default: str | None


@dataclass(frozen=True)
class Table:
    """A base table as the catalog describes it; ``oid`` survives renames and column changes."""

    oid: int
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def sql_name(self) -> str:
        """The name as SQL written for a person reads it: quoted, without the default schema."""
        return quote(self.name) if self.schema == "main" else self.qualified

    @property
    def label(self) -> str:
        """The name as a person writes it: without the default schema ``main``."""
        return self.name if self.schema == "main" else f"{self.schema}.{self.name}"


def tables(conn) -> dict[int, Table]:
    """{oid: Table} of the base tables in the current database."""
    columns: dict[int, list[Column]] = {}
    for oid, name, type_, nullable, default in conn.execute(
            "SELECT table_oid, column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            "WHERE database_name = current_database() ORDER BY table_oid, column_index").fetchall():
        columns.setdefault(oid, []).append(Column(name, type_, nullable, default))
    keys = dict(conn.execute(
        "SELECT table_oid, constraint_column_names FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND constraint_type = 'PRIMARY KEY'").fetchall())
    return {oid: Table(oid, schema, name, tuple(columns.get(oid, ())), tuple(keys.get(oid, ())))
            for oid, schema, name in conn.execute(
                "SELECT table_oid, schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database()").fetchall()}
