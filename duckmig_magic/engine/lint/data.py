"""Rules that depend on the rows: each asks the live database one query (the table as it is now)."""

from __future__ import annotations

from collections.abc import Iterator

from ..sqltext import literal, quote, value
from .model import Context, Hit, Rule, Versions

# DuckDB checks an UPDATE of a key column against the index vector by vector (2,048 rows).
VECTOR = 2048


def _cols(c: Context, names: list[str]) -> list[str] | None:
    found = [c.catalog.live_column(c.statement.table, n) for n in names]
    return None if None in found else found  # type: ignore[return-value]


def not_null_over_nulls(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "set_not_null" or not s.column:
        return
    table, col = c.catalog.live_table(s.table), c.catalog.live_column(s.table, s.column)
    if table and col:
        (n,) = c.catalog.conn.execute(f"SELECT count(*) FROM {table} WHERE {col} IS NULL").fetchone()
        if n:
            yield Hit(f"{n} row{'s' * (n != 1)} of {s.label} {'have' if n != 1 else 'has'} NULL in {s.column}: "
                      "DuckDB refuses SET NOT NULL (NOT NULL constraint failed)",
                      f"UPDATE {s.label} SET {col} = ... WHERE {col} IS NULL; in an earlier migration")


def key_over_duplicates(c: Context) -> Iterator[Hit]:
    s = c.statement
    key = None
    if s.kind == "alter" and s.action == "add_constraint" and s.constraint in ("PRIMARY KEY", "UNIQUE"):
        key = s.constraint
    elif s.kind == "create" and s.object == "INDEX" and s.unique:
        key = "UNIQUE INDEX"
    if key is None or not s.constraint_columns:
        return
    table, cols = c.catalog.live_table(s.table), _cols(c, s.constraint_columns)
    if not table or not cols:
        return
    listed = ", ".join(cols)
    (dups,) = c.catalog.conn.execute(f"SELECT count(*) FROM (SELECT {listed} FROM {table} "
                                     f"WHERE {' AND '.join(f'{x} IS NOT NULL' for x in cols)} "
                                     f"GROUP BY ALL HAVING count(*) > 1)").fetchone()
    if dups:
        yield Hit(f"{dups} value{'s' * (dups != 1)} of ({listed}) in {s.label} appear more than once: DuckDB refuses "
                  f"the {key} (Data contains duplicates)")
    if key == "PRIMARY KEY":
        (nulls,) = c.catalog.conn.execute(
            f"SELECT count(*) FROM {table} WHERE {' OR '.join(f'{x} IS NULL' for x in cols)}").fetchone()
        if nulls:
            yield Hit(f"{nulls} row{'s' * (nulls != 1)} of {s.label} have NULL in ({listed}): DuckDB refuses the "
                      "PRIMARY KEY (NOT NULL constraint failed)")


def values_do_not_cast(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "alter_type" or not s.column or not s.type or s.using:
        return
    table, col = c.catalog.live_table(s.table), c.catalog.live_column(s.table, s.column)
    if not table or not col:
        return
    try:
        (bad, sample) = c.catalog.conn.execute(
            f"SELECT count(*), any_value({col}::VARCHAR) FROM {table} "
            f"WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {s.type}) IS NULL").fetchone()
    except Exception:  # noqa: BLE001 - a type the lint cannot cast to here: DuckDB tells when it runs
        return
    if bad:
        yield Hit(f"{bad} value{'s' * (bad != 1)} of {s.label}.{s.column} do not cast to {s.type} (for example "
                  f"{sample!r}): DuckDB refuses the ALTER (Conversion Error)",
                  f"ALTER TABLE {s.label} ALTER {col} TYPE {s.type} USING TRY_CAST({col} AS {s.type}); -- NULL where it "
                  "does not cast; or fix those rows first")
        return
    # Deleted rows keep their values until the table is rewritten, and DuckDB casts them too.
    schema, name = _parts(table)
    (stored, live) = c.catalog.conn.execute(  # values written into the text: duckdb 1.x loads pandas to bind one
        f"SELECT (SELECT estimated_size FROM duckdb_tables() WHERE database_name = {value(c.catalog.live)} "
        f"AND schema_name = {literal(schema)} AND table_name = {literal(name)}), (SELECT count(*) FROM {table})"
    ).fetchone()
    if stored is not None and stored > live:
        yield Hit(f"{s.label} still stores {stored - live} deleted row{'s' * (stored - live != 1)}, whose values DuckDB "
                  f"casts too: the live ones cast to {s.type}, the deleted ones cannot be read to check",
                  f"ALTER TABLE {s.label} ALTER {col} TYPE {s.type} USING TRY_CAST({col} AS {s.type});")


def _parts(qualified: str) -> list[str]:
    return [p.strip('"').replace('""', '"') for p in qualified.split('"."')][1:]


def update_key_over_vector(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "update" or not s.set_columns:
        return
    keys = {x for cols, _ in c.catalog.constraints(s.table, "PRIMARY KEY") + c.catalog.constraints(s.table, "UNIQUE")
            for x in cols}
    hit = [x for x in s.set_columns if x.lower() in keys]
    table = c.catalog.live_table(s.table)
    if not hit or not table:
        return
    (n,) = c.catalog.conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    if n > VECTOR:
        yield Hit(f"UPDATE of {', '.join(hit)}, a key of {s.label}, over {n} rows: DuckDB checks the key {VECTOR} rows "
                  "at a time and reports a duplicate where a new value equals an old one not yet updated",
                  f"update in two steps: SET {quote(hit[0])} = -{quote(hit[0])} - 1 (values no row has), then the "
                  "values wanted; or copy the table")


def add_column_not_null_rows(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "add_column" or s.constraint != "NOT NULL" or s.default:
        return
    table = c.catalog.live_table(s.table)
    if table and c.catalog.conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
        yield Hit(f"{s.label} has rows, and ADD COLUMN ... NOT NULL without DEFAULT gives them NULL: DuckDB refuses it "
                  "(NOT NULL constraint failed)", "give the column a DEFAULT, or add it nullable, fill it, then SET "
                                                  "NOT NULL")


RULES = (
    Rule("DM130", "set-not-null-over-nulls", "error",
         "DuckDB refuses SET NOT NULL on a column that holds NULLs.",
         "Fill the NULLs with an UPDATE in an earlier migration, then SET NOT NULL.", not_null_over_nulls,
         data=True, reference="duckdb/duckdb-web#798"),
    Rule("DM131", "key-over-duplicates", "error",
         "DuckDB refuses a PRIMARY KEY or unique index over values that repeat (or, for a key, are NULL).",
         "Remove the duplicates (and NULLs) in an earlier migration, or key the table on other columns.",
         key_over_duplicates, data=True, reference="duckdb/duckdb PR #11895"),
    Rule("DM132", "type-does-not-cast", "error",
         "DuckDB refuses ALTER TYPE where a value does not cast, deleted rows' values included.",
         "Add USING TRY_CAST(col AS type) (NULL where it does not cast), or fix the values first.",
         values_do_not_cast, data=True, reference="docs: limitations"),
    Rule("DM133", "update-key-over-vector", "warning",
         "DuckDB checks an UPDATE of a PRIMARY KEY or UNIQUE column 2,048 rows at a time, and reports a duplicate "
         "where a new value equals one not yet updated.",
         "Update in two steps through values no row has, or copy the table.", update_key_over_vector,
         data=True, reference="docs: indexes"),
    Rule("DM134", "add-column-not-null-rows", "error",
         "Since 2.0, ADD COLUMN ... NOT NULL without DEFAULT on a table with rows fails: they would hold NULL.",
         "Give the column a DEFAULT, or add it nullable, fill it, then SET NOT NULL.", add_column_not_null_rows,
         Versions(since=(2, 0, 0)), data=True, reference="duckdb/duckdb PR #25411"),
)


