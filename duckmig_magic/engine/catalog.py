"""Snapshots of the catalog: what exists in the database, for comparing schemas."""

from __future__ import annotations

from dataclasses import dataclass

from .sqltext import quote

# Each query gives (oid, name, definition). Oids grow with creation, so whatever depends on an
# object has a larger one: the snapshot lists objects in creation order, and the reverse of
# that order is one in which they can be dropped.
_QUERIES = {
    "schema": "SELECT oid, schema_name, NULL FROM duckdb_schemas() "
              "WHERE database_name = current_database() AND NOT internal",
    "type": "SELECT type_oid, schema_name || '.' || type_name, NULL FROM duckdb_types() "
            "WHERE database_name = current_database() AND NOT internal",
    "sequence": "SELECT sequence_oid, schema_name || '.' || sequence_name, NULL FROM duckdb_sequences() "
                "WHERE database_name = current_database()",
    "table": "SELECT table_oid, schema_name || '.' || table_name, NULL FROM duckdb_tables() "
             "WHERE database_name = current_database()",
    "column": "SELECT table_oid, schema_name || '.' || table_name || '.' || column_name, "
              "data_type || CASE WHEN is_nullable THEN '' ELSE ' NOT NULL' END || "
              "COALESCE(' DEFAULT ' || column_default, '') FROM duckdb_columns() "
              "WHERE database_name = current_database()",
    # Primary keys and NOT NULL are the table's and the columns' own; these are the rest.
    "constraint": "SELECT table_oid, schema_name || '.' || table_name || ': ' || constraint_text, "
                  "constraint_text FROM duckdb_constraints() WHERE database_name = current_database() "
                  "AND constraint_type IN ('CHECK', 'UNIQUE', 'FOREIGN KEY')",
    "view": "SELECT view_oid, schema_name || '.' || view_name, sql FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal",
    "index": "SELECT index_oid, schema_name || '.' || index_name, sql FROM duckdb_indexes() "
             "WHERE database_name = current_database()",
    "macro": "SELECT min(function_oid), schema_name || '.' || function_name, any_value(function_type) "
             "FROM duckdb_functions() WHERE database_name = current_database() AND NOT internal "
             "AND function_type IN ('macro', 'table_macro') GROUP BY ALL",
}


def snapshot(conn) -> dict[tuple[str, str], str | None]:
    """{(kind, qualified name): definition} of everything the user created in the current database,
    in the order it was created."""
    found = []
    for kind, sql in _QUERIES.items():
        found += [(oid, kind, name, definition) for oid, name, definition in conn.execute(sql).fetchall()]
    found.sort(key=lambda f: f[0])
    snap = {(kind, name): definition for _, kind, name, definition in found}
    types = [key for key in snap if key[0] == "type"]
    if types:  # a user type's definition is what a value cast to it reports as its type
        shapes = conn.execute("SELECT " + ", ".join(
            f"typeof(NULL::{'.'.join(quote(part) for part in name.split('.', 1))})" for _, name in types)).fetchone()
        snap.update(zip(types, shapes, strict=True))
    return snap


def split_constraint(name: str) -> tuple[str, str]:
    """A constraint's snapshot name as (qualified table, constraint text)."""
    table, _, text = name.partition(": ")
    return table, text


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
    references: tuple[str, ...] = ()  # the names of the tables its foreign keys reference

    @property
    def qualified(self) -> str:
        return f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def qualified_label(self) -> str:
        """The name as the catalog snapshot keys it: ``schema.table``, unquoted."""
        return f"{self.schema}.{self.name}"

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
    keys: dict[int, tuple[str, ...]] = {}
    references: dict[int, list[str]] = {}
    for oid, kind, names, referenced in conn.execute(
            "SELECT table_oid, constraint_type, constraint_column_names, referenced_table FROM duckdb_constraints() "
            "WHERE database_name = current_database() AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')"
    ).fetchall():
        if kind == "PRIMARY KEY":
            keys[oid] = tuple(names)
        else:
            references.setdefault(oid, []).append(referenced)
    return {oid: Table(oid, schema, name, tuple(columns.get(oid, ())), keys.get(oid, ()),
                       tuple(references.get(oid, ())))
            for oid, schema, name in conn.execute(
                "SELECT table_oid, schema_name, table_name FROM duckdb_tables() "
                "WHERE database_name = current_database()").fetchall()}
