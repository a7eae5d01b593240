"""Warnings in the spirit of Atlas's analyzers: changes that lose data or break readers, though DuckDB
runs them."""

from __future__ import annotations

from collections.abc import Iterator

from .model import Context, Hit, Rule

# Types by how much they hold: a change to a lower rank in the same family loses values.
_INTEGERS = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"]
_ALIASES = {"INT1": "TINYINT", "INT2": "SMALLINT", "INT4": "INTEGER", "INT": "INTEGER", "SIGNED": "INTEGER",
            "INT8": "BIGINT", "LONG": "BIGINT", "SHORT": "SMALLINT", "INT16": "HUGEINT", "INT128": "HUGEINT",
            "FLOAT4": "FLOAT", "REAL": "FLOAT", "FLOAT8": "DOUBLE", "NUMERIC": "DECIMAL", "STRING": "VARCHAR",
            "TEXT": "VARCHAR", "DATETIME": "TIMESTAMP"}


def _base(t: str) -> str:
    word = t.strip().upper().split("(")[0].split()[0] if t.strip() else ""
    return _ALIASES.get(word, word)


def narrowed(old: str, new: str) -> bool:
    """Whether a value of type ``old`` can lose something as type ``new`` (a narrower integer, a fraction
    to an integer, a timestamp to a date, text to anything)."""
    a, b = _base(old), _base(new)
    if a == b:
        return False
    if a in _INTEGERS and b in _INTEGERS:
        return _INTEGERS.index(b) < _INTEGERS.index(a)
    if a in ("DOUBLE", "FLOAT", "DECIMAL") and b in _INTEGERS:
        return True
    if a == "DOUBLE" and b == "FLOAT":
        return True
    if a.startswith("TIMESTAMP") and b in ("DATE", "TIME"):
        return True
    return a == "VARCHAR" and b not in ("", "BLOB")


def drop_table(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "drop" and s.object == "TABLE" and c.section == "up":  # a downgrade drops what its upgrade made
        for name in s.names:
            if c.catalog.table_exists(name) and not _made_here(c, name):
                yield Hit(f"DROP TABLE {'.'.join(name)} deletes its rows")


def _made_here(c: Context, name) -> bool:
    want = c.catalog.resolve(name)
    return any(e.kind == "create" and e.object == "TABLE" and any(c.catalog.resolve(n) == want for n in e.names)
               for e in c.earlier)


def drop_column(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "drop_column" and s.column and c.section == "up" and not _made_here(c, s.table):
        yield Hit(f"DROP COLUMN {s.column} deletes its values from {s.label}")


def drop_schema(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "drop" and s.object == "SCHEMA":
        yield Hit(f"DROP SCHEMA {', '.join('.'.join(n) for n in s.names)} deletes what it holds")


def drop_cascade(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "drop" and s.cascade:
        yield Hit(f"DROP {s.object} ... CASCADE drops whatever depends on it too, tables whose default names a "
                  "dropped sequence included")


def rename(c: Context) -> Iterator[Hit]:
    s = c.statement
    # A table this migration made has no readers yet: renaming it (the copy that replaces a table) breaks none.
    if s.kind == "alter" and s.action in ("rename_table", "rename_column") and not _made_here(c, s.table):
        what = f"column {s.column} of {s.label}" if s.action == "rename_column" else f"table {s.label}"
        yield Hit(f"renaming {what} to {s.new_name} breaks queries, views and programs that use the old name")


def rename_used_by_view(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action in ("rename_table", "rename_column"):
        views = c.catalog.views_using(s.table, s.column if s.action == "rename_column" else None)
        if views:
            yield Hit(f"the view{'s' * (len(views) > 1)} {', '.join(views)} use{'s' * (len(views) == 1)} the old name: "
                      "DuckDB keeps the view's text, and it fails when queried (Table ... does not exist, Binder Error)",
                      "CREATE OR REPLACE VIEW each of them with the new name, after the rename, in the same migration")


def drop_used_by_view(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "drop_column" and s.column:
        views = c.catalog.views_using(s.table, s.column)
    elif s.kind == "drop" and s.object in ("TABLE", "VIEW") and not s.cascade:
        views = [v for n in s.names for v in c.catalog.views_using(n) if v.lower() != n[-1].lower()]
    elif s.kind == "create" and s.replace and s.object in ("TABLE", "VIEW") and s.names:
        views = [v for v in c.catalog.views_using(s.names[0]) if v.lower() != s.names[0][-1].lower()]
    else:
        return
    if views:
        yield Hit(f"the view{'s' * (len(views) > 1)} {', '.join(views)} use{'s' * (len(views) == 1)} what this "
                  "drops or replaces: DuckDB does not stop it, and the view fails when queried",
                  "drop or CREATE OR REPLACE those views in the same migration")


def type_narrowed(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "alter_type" or not s.column or not s.type:
        return
    old = c.catalog.columns(s.table).get(s.column.lower())
    if old and narrowed(old[0], s.type):
        yield Hit(f"{s.label}.{s.column} goes from {old[0]} to {s.type}: values may be rounded, cut or refused")


def no_downgrade(c: Context) -> Iterator[Hit]:
    if c.section == "up" and not c.has_downgrade and not c.earlier:
        yield Hit("this migration has no downgrade: `down` cannot revert it")


RULES = (
    Rule("DM201", "rename-used-by-view", "warning",
         "A view keeps the text of its query: renaming a table or column it uses makes it fail when queried.",
         "Recreate the views with the new name in the same migration.", rename_used_by_view,
         reference="duckdb/duckdb#12239; docs"),
    Rule("DM202", "drop-used-by-view", "warning",
         "Dropping or replacing a table, view or column that a view names makes the view fail when queried.",
         "Drop or recreate the views in the same migration.", drop_used_by_view, reference="duckdb/duckdb#12191"),
    Rule("DM203", "drop-table", "warning", "A dropped table's rows leave the database; only kept data (keeping on, the table under "
         "keep_limit) lets `down` bring them back.",
         "End the downgrade with `-- migrate:restore` and leave keeping on, or keep a copy yourself; then silence "
         "with `-- duckmig: ignore DM203 reason`.",
         drop_table),
    Rule("DM204", "drop-column", "warning", "A dropped column's values leave the database; only kept "
         "data (keeping on, the table under keep_limit) lets `down` bring them back.",
         "End the downgrade with `-- migrate:restore` and leave keeping on, or keep a copy yourself; then silence "
         "with `-- duckmig: ignore DM204 reason`.", drop_column),
    Rule("DM205", "drop-schema", "warning", "A dropped schema's tables and rows are gone.",
         "Drop what it holds on purpose, one by one, or be sure.", drop_schema),
    Rule("DM206", "drop-cascade", "warning", "CASCADE drops whatever depends on the object, without naming it.",
         "Drop the dependents by name first, then the object without CASCADE.", drop_cascade,
         reference="duckdb/duckdb#15399"),
    Rule("DM207", "rename", "warning", "A rename keeps the data, but readers that use the old name break.",
         "Keep a view under the old name while readers move, or be sure.", rename),
    Rule("DM208", "type-narrowed", "warning",
         "A narrower type rounds, cuts or refuses values (DOUBLE 1.5 becomes INTEGER 2).",
         "Check the values first, or keep the wider type.", type_narrowed),
    Rule("DM209", "no-downgrade", "info", "A migration without a downgrade cannot be reverted by `down`.",
         "Write its revert under `-- migrate:down` (or a downgrade method).", no_downgrade),
)
