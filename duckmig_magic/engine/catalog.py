"""The catalog model: what exists in a database, with the full definition of each object.

One reader (``read``) gives a ``Catalog``: the base tables (columns, defaults, NOT NULL, primary
key, CHECK, UNIQUE and FOREIGN KEY constraints, their CREATE TABLE) and every other object the
user created (schemas, types, sequences, indexes, views, macros) with the SQL that creates it.
Previews, downgrades, ``verify`` and the schema diff (``schemadiff``) all compare this model;
``snapshot`` is its flat form, {(kind, name): definition}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .sqltext import quote

KINDS = ("schema", "type", "sequence", "table", "index", "view", "macro")


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
    constraints: tuple[str, ...] = ()  # CHECK, UNIQUE and FOREIGN KEY, as DuckDB writes them
    constrained: frozenset[str] = frozenset()  # lower-cased names of the columns a constraint names
    body: str = ""  # its CREATE TABLE after the name: "(columns, constraints);"
    uses: frozenset[int] = frozenset()  # oids of the types and sequences it depends on

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

    @property
    def create(self) -> str:
        """The statement that creates the table as it is (without its rows and indexes)."""
        return f"CREATE TABLE {self.sql_name}{self.body}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name.lower() == name.lower()), None)


@dataclass(frozen=True)
class Entry:
    """An object other than a table: ``sql`` creates it as it is; ``table`` is an index's table."""

    kind: str
    schema: str
    name: str
    oid: int
    sql: str
    table: str = ""
    shape: str | None = None  # what the flat snapshot shows as its definition
    table_macro: bool = False

    @property
    def label(self) -> str:
        return self.name if self.kind == "schema" else f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        if self.kind == "schema":
            return quote(self.name)
        return quote(self.name) if self.schema == "main" else f"{quote(self.schema)}.{quote(self.name)}"

    @property
    def drop(self) -> str:
        word = "MACRO TABLE" if self.table_macro else self.kind.upper()
        return f"DROP {word} {self.sql_name};"


@dataclass
class Catalog:
    """Everything the user created in one database: tables by oid, other objects by (kind, label)."""

    tables: dict[int, Table] = field(default_factory=dict)
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)

    def flat(self) -> dict[tuple[str, str], str | None]:
        """{(kind, qualified name): definition}, in the order the objects were created."""
        found: list[tuple[int, int, tuple[str, str], str | None]] = []
        for t in self.tables.values():
            found.append((t.oid, 0, ("table", t.qualified_label), None))
            for c in t.columns:
                found.append((t.oid, 1, ("column", f"{t.qualified_label}.{c.name}"), column_text(c)))
            for text in t.constraints:
                found.append((t.oid, 2, ("constraint", f"{t.qualified_label}: {text}"), text))
        for e in self.entries.values():
            found.append((e.oid, 0, (e.kind, e.label), e.shape))
        found.sort(key=lambda f: (f[0], f[1]))
        return {key: definition for _, _, key, definition in found}

    def without(self, labels: set[str]) -> Catalog:
        """This catalog without the tables and views (``schema.name``, any case) in ``labels``, and
        their indexes."""
        wanted = {label.lower() for label in labels}
        return Catalog({oid: t for oid, t in self.tables.items() if t.qualified_label.lower() not in wanted},
                       {k: e for k, e in self.entries.items()
                        if e.table.lower() not in wanted and e.label.lower() not in wanted})


def column_text(c: Column) -> str:
    return c.type + ("" if c.nullable else " NOT NULL") + (f" DEFAULT {c.default}" if c.default is not None else "")


# The schema where duckmig keeps what migrations destroy (engine/keep.py): duckmig's, like the ledger,
# so no preview, diff, lint or drift check counts it as the user's.
KEPT_SCHEMA = "duckmig_kept"
_HERE = f"database_name = current_database() AND schema_name <> '{KEPT_SCHEMA}'"
# A CREATE TABLE's name: one or two parts, each quoted or bare.
_NAME = r'(?:"(?:[^"]|"")*"|[^\s(."]+)'
_TABLE_HEAD = re.compile(rf"^\s*CREATE\s+TABLE\s+{_NAME}(?:\s*\.\s*{_NAME})?", re.IGNORECASE)


def read(conn) -> Catalog:
    """The catalog of the current database, as the model above."""
    cat = Catalog(tables(conn))
    for oid, name in conn.execute(f"SELECT oid, schema_name FROM duckdb_schemas() WHERE {_HERE} AND NOT internal "
                                  "AND schema_name <> 'main'").fetchall():
        cat.entries["schema", name] = Entry("schema", name, name, oid, f"CREATE SCHEMA {quote(name)};")
    types = conn.execute(f"SELECT type_oid, schema_name, type_name FROM duckdb_types() WHERE {_HERE} "
                         "AND NOT internal").fetchall()
    if types:  # a user type's definition is what a value cast to it reports as its type
        shapes = conn.execute("SELECT " + ", ".join(
            f"typeof(NULL::{quote(s)}.{quote(n)})" for _, s, n in types)).fetchone()
        for (oid, schema, name), shape in zip(types, shapes, strict=True):
            e = Entry("type", schema, name, oid, "", shape=shape)
            cat.entries["type", e.label] = Entry("type", schema, name, oid, f"CREATE TYPE {e.sql_name} AS {shape};",
                                                 shape=shape)
    for oid, schema, name, start, low, high, step, cycle in conn.execute(
            "SELECT sequence_oid, schema_name, sequence_name, start_value, min_value, max_value, increment_by, "
            f"cycle FROM duckdb_sequences() WHERE {_HERE}").fetchall():
        e = Entry("sequence", schema, name, oid, "")
        sql = (f"CREATE SEQUENCE {e.sql_name} INCREMENT BY {step} MINVALUE {low} MAXVALUE {high} START {start}"
               f"{' CYCLE' if cycle else ' NO CYCLE'};")
        cat.entries["sequence", e.label] = Entry("sequence", schema, name, oid, sql, shape=sql)
    for oid, schema, name, sql in conn.execute(
            f"SELECT view_oid, schema_name, view_name, sql FROM duckdb_views() WHERE {_HERE} AND NOT internal"
    ).fetchall():
        cat.entries["view", f"{schema}.{name}"] = Entry("view", schema, name, oid, _terminated(sql), shape=sql)
    for oid, schema, name, table, sql in conn.execute(
            f"SELECT index_oid, schema_name, index_name, table_name, sql FROM duckdb_indexes() WHERE {_HERE}"
    ).fetchall():
        if sql is None:  # an index DuckDB made for a constraint: the table's own
            continue
        cat.entries["index", f"{schema}.{name}"] = Entry("index", schema, name, oid, _terminated(sql),
                                                         table=f"{schema}.{table}", shape=sql)
    macros: dict[tuple[str, str], list] = {}
    for oid, schema, name, kind, params, definition in conn.execute(
            "SELECT function_oid, schema_name, function_name, function_type, parameters, macro_definition "
            f"FROM duckdb_functions() WHERE {_HERE} AND NOT internal AND function_type IN ('macro', 'table_macro') "
            "ORDER BY function_oid").fetchall():
        macros.setdefault((schema, name), []).append((int(oid), kind, params, definition))
    for (schema, name), overloads in macros.items():
        e = Entry("macro", schema, name, 0, "")
        table_macro = overloads[0][1] == "table_macro"
        bodies = ", ".join(f"({', '.join(quote(p) for p in params)}) AS {'TABLE ' if table_macro else ''}{definition}"
                           for _, _, params, definition in overloads)
        sql = f"CREATE MACRO {e.sql_name}{bodies};"
        cat.entries["macro", e.label] = Entry("macro", schema, name, min(o[0] for o in overloads), sql,
                                              shape=sql, table_macro=table_macro)
    return cat


def snapshot(conn) -> dict[tuple[str, str], str | None]:
    """{(kind, qualified name): definition} of everything the user created in the current database,
    in the order it was created."""
    return read(conn).flat()


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


def tables(conn) -> dict[int, Table]:
    """{oid: Table} of the base tables in the current database."""
    columns: dict[int, list[Column]] = {}
    for oid, name, type_, nullable, default in conn.execute(
            "SELECT table_oid, column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
            f"WHERE {_HERE} ORDER BY table_oid, column_index").fetchall():
        columns.setdefault(oid, []).append(Column(name, type_, nullable, default))
    keys: dict[int, tuple[str, ...]] = {}
    references: dict[int, list[str]] = {}
    texts: dict[int, list[str]] = {}
    constrained: dict[int, set[str]] = {}
    for oid, kind, names, referenced, text in conn.execute(
            "SELECT table_oid, constraint_type, constraint_column_names, referenced_table, constraint_text "
            f"FROM duckdb_constraints() WHERE {_HERE} AND constraint_type <> 'NOT NULL' "
            "ORDER BY table_oid, constraint_index").fetchall():
        constrained.setdefault(oid, set()).update(n.lower() for n in names or ())
        if kind == "PRIMARY KEY":
            keys[oid] = tuple(names)
            continue
        if kind == "FOREIGN KEY":
            references.setdefault(oid, []).append(referenced)
        if text not in texts.setdefault(oid, []):  # DuckDB lists a FOREIGN KEY on both of its tables' sides
            texts[oid].append(text)
    uses: dict[int, set[int]] = {}
    for used, user in conn.execute("SELECT objid, refobjid FROM duckdb_dependencies()").fetchall():
        uses.setdefault(user, set()).add(used)
    return {oid: Table(oid, schema, name, tuple(columns.get(oid, ())), keys.get(oid, ()),
                       tuple(references.get(oid, ())), tuple(texts.get(oid, ())),
                       frozenset(constrained.get(oid, ())), _TABLE_HEAD.sub("", sql or "", count=1),
                       frozenset(uses.get(oid, ())))
            for oid, schema, name, sql in conn.execute(
                f"SELECT table_oid, schema_name, table_name, sql FROM duckdb_tables() WHERE {_HERE}").fetchall()}


def _terminated(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"
