"""Rules for what DuckDB refuses, told from the statement and the catalog before it runs."""

from __future__ import annotations

from collections.abc import Iterator

from .. import statements
from ..sqltext import quote
from .model import Context, Hit, Rule, Versions
from .parse import Statement

V2 = (2, 0, 0)
BEFORE_2 = Versions(until=V2)
SINCE_2 = Versions(since=V2)

# The ALTERs that rewrite the table's rows: with one of them between, DuckDB before 2.0 survives an index
# dropped and created again under its name in one transaction (checked on 1.5.5 and 1.5.6, file databases).
_REWRITES_ROWS = {"drop_column", "alter_type", "set_not_null"}

# The ALTERs DuckDB refuses on a table with an index (checked on 1.5.5, 1.5.6, 2.0.1): ADD COLUMN, SET
# and DROP DEFAULT pass.
_BLOCKED_BY_INDEX = {"rename_table", "rename_column", "drop_column", "alter_type", "set_not_null", "drop_not_null"}


def _name(s: Statement) -> str:
    return s.label


def _index_sql(sql: str) -> str:
    return sql.rstrip().rstrip(";")


def alter_with_index(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action not in _BLOCKED_BY_INDEX:
        return
    indexes = c.catalog.indexes(s.table)
    if not indexes:
        return
    col = (s.column or "").lower()
    if s.action in ("alter_type", "drop_column") and any(col in i.columns for i in indexes):
        return  # DM102 says it: dropping the index in the same transaction does not help there
    names = ", ".join(i.name for i in indexes)
    rewrite = None
    if c.version < V2 and s.action not in _REWRITES_ROWS:
        yield Hit(f"{s.label} has {'an index' if len(indexes) == 1 else 'indexes'} ({names}): DuckDB refuses this "
                  "ALTER with \"Cannot alter entry ... entries that depend on it\"",
                  "drop the index with the ALTER here, and create it again in a migration of its own after this "
                  "one: before 2.0, DuckDB aborts the process at commit where an index is dropped and created "
                  "again under its name in one transaction with this ALTER between (DM117)")
        return
    if s.action != "rename_column" or not any(col in i.columns for i in indexes):
        creates = [_index_sql(i.sql) for i in indexes]
        if s.action == "rename_table" and s.new_name:
            creates = [f"CREATE {'UNIQUE ' if i.unique else ''}INDEX {quote(i.name)} ON "
                       + ".".join(quote(p) for p in (*(s.table or ())[:-1], s.new_name))
                       + "(" + i.sql.split("(", 1)[1].rstrip().rstrip(";") for i in indexes]
        rewrite = tuple([f"DROP INDEX {quote(i.name)}" for i in indexes] + [s.sql] + creates)
    yield Hit(f"{s.label} has {'an index' if len(indexes) == 1 else 'indexes'} ({names}): DuckDB refuses this "
              "ALTER with \"Cannot alter entry ... entries that depend on it\"",
              " ".join(x + ";" for x in rewrite) if rewrite else None, rewrite)


def alter_indexed_column(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action not in ("alter_type", "drop_column") or not s.column:
        return
    col = s.column.lower()
    found = {i.name: i for i in c.catalog.indexes_at_start(s.table) + c.catalog.indexes(s.table) if col in i.columns}
    if found:
        yield Hit(f"column {s.column} of {s.label} is in the index {', '.join(found)}: DuckDB refuses to "
                  f"{'change its type' if s.action == 'alter_type' else 'drop it'}, even after DROP INDEX in the "
                  "same transaction")


def alter_key_type(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "alter_type" or not s.column:
        return
    col = s.column.lower()
    keys = c.catalog.constraints(s.table, "PRIMARY KEY") + c.catalog.constraints(s.table, "UNIQUE")
    if any(col in cols for cols, _ in keys):
        yield Hit(f"column {s.column} of {s.label} is in a PRIMARY KEY or UNIQUE constraint: DuckDB refuses to "
                  "change its type (Binder Error)")


def drop_check_column(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action != "drop_column" or not s.column:
        return
    col = s.column.lower()
    if any(col in cols and len(cols) > 1 for cols, _ in c.catalog.constraints(s.table, "CHECK")):
        yield Hit(f"column {s.column} of {s.label} is in a CHECK constraint over several columns: DuckDB refuses "
                  "to drop it")


def _written_before(c: Context, table, kinds: tuple[str, ...]) -> Statement | None:
    want = c.catalog.resolve(table)
    return next((e for e in c.same_transaction() if e.kind in kinds and c.catalog.resolve(e.table) == want), None)


def ddl_after_update(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.object != "TABLE" or s.action in ("", "add_constraint", "drop_constraint"):
        return
    before = _written_before(c, s.table, ("update", "delete"))
    if before is not None:
        yield Hit(f"{s.label} had rows {'updated' if before.kind == 'update' else 'deleted'} on line {before.line} "
                  "in the same transaction: DuckDB fails the commit (\"another transaction has altered\")")


def two_volatile_defaults(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "alter" or s.action not in _REWRITES:
        return
    want = c.catalog.resolve(s.table)
    before = next((e for e in c.same_transaction() if e.kind == "alter" and e.action == "add_column"
                   and volatile(e.default) and c.catalog.resolve(e.table) == want), None)
    if before is not None:
        yield Hit(f"{s.label} got a column with a volatile DEFAULT on line {before.line}, which writes every row, and "
                  "this ALTER rewrites it again in the same transaction: DuckDB fails the commit")


# The ALTERs that rewrite a table's rows (checked on 1.5.5 and 1.5.6: RENAME after a volatile DEFAULT passes).
_REWRITES = {"add_column", "alter_type", "drop_column"}


_VOLATILE = {"random", "now", "current_timestamp", "get_current_timestamp", "uuid", "gen_random_uuid", "nextval",
             "setseed", "current_time", "current_date", "transaction_timestamp", "uuidv7", "uuidv4", "today"}


def volatile(default: str | None) -> bool:
    """Whether a DEFAULT calls a function whose value differs row by row or call by call."""
    if not default:
        return False
    called = statements.functions_called(default)
    return bool(called & _VOLATILE) or any(w in default.lower().split() for w in ("current_timestamp",
                                                                               "current_date"))


def constraint_not_implemented(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and (s.action == "drop_constraint" or (s.action == "add_constraint"
                                                                and s.constraint in ("FOREIGN KEY", "CHECK"))):
        what = "DROP CONSTRAINT" if s.action == "drop_constraint" else f"ADD {s.constraint}"
        yield Hit(f"ALTER TABLE ... {what}: DuckDB has not implemented it (Not implemented Error)")


def add_unique_not_implemented(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "add_constraint" and s.constraint == "UNIQUE":
        cols = ", ".join(quote(x) for x in s.constraint_columns)
        name = quote("_".join([(s.table or ("t",))[-1], *s.constraint_columns, "key"]))
        table = ".".join(quote(p) for p in s.table or ())
        create = f"CREATE UNIQUE INDEX {name} ON {table}({cols})"
        yield Hit("ALTER TABLE ... ADD UNIQUE: not implemented before DuckDB 2.0", create + ";", (create,))


def add_column_key(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "add_column" and s.constraint in ("PRIMARY KEY", "CHECK", "FOREIGN KEY"):
        yield Hit(f"ADD COLUMN with a {s.constraint} constraint: DuckDB refuses it (\"Adding columns with "
                  "constraints not yet supported\")")


def add_column_not_null(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "add_column" and s.constraint in ("NOT NULL", "UNIQUE"):
        yield Hit(f"ADD COLUMN with {s.constraint}: refused before DuckDB 2.0 (\"Adding columns with constraints "
                  "not yet supported\")")


def set_not_null_after_update(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind == "alter" and s.action == "set_not_null":
        before = _written_before(c, s.table, ("update",))
        if before is not None:
            yield Hit(f"{s.label} was updated on line {before.line} in the same transaction: DuckDB refuses SET NOT "
                      "NULL (\"Cannot create index with outstanding updates\")")


def drop_referenced_table(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.object != "TABLE" or not (s.kind == "drop" or (s.kind == "create" and s.replace)):
        return
    dropped = {c.catalog.resolve(n) for n in s.names}
    for name in s.names:
        others = [t for t in c.catalog.referencing(name) if c.catalog.resolve((t,)) not in dropped]
        if others:
            yield Hit(f"table {'.'.join(name)} is referenced by a FOREIGN KEY of {', '.join(others)}: DuckDB refuses "
                      f"to {'replace' if s.kind == 'create' else 'drop'} it, CASCADE or not")


def drop_sequence_in_default(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.object != "SEQUENCE" or not ((s.kind == "drop" and not s.cascade) or (s.kind == "create" and s.replace)):
        return
    for name in s.names:
        users = c.catalog.defaults_naming(name)
        if users:
            yield Hit(f"sequence {'.'.join(name)} is named by the default of {', '.join(users)}: DuckDB refuses to "
                      f"{'replace' if s.kind == 'create' else 'drop'} it (Dependency Error)")


def _type_users(c: Context) -> Iterator[tuple[str, list[str]]]:
    s = c.statement
    if s.object != "TYPE" or not ((s.kind == "drop" and not s.cascade) or (s.kind == "create" and s.replace)):
        return
    for name in s.names:
        users = c.catalog.columns_of_type(name)
        if users:
            yield ".".join(name), users


def drop_type_in_use(c: Context) -> Iterator[Hit]:
    for name, users in _type_users(c):
        yield Hit(f"type {name} is used by {', '.join(users)}: DuckDB refuses to drop or replace it (Dependency Error)")


def drop_type_orphans(c: Context) -> Iterator[Hit]:
    for name, users in _type_users(c):
        yield Hit(f"type {name} is used by {', '.join(users)}: DuckDB drops it and the columns keep a nameless copy "
                  "of it; a type created again under the name is another type")


def delete_referenced_after_child(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind not in ("delete", "update") or not s.table:
        return
    if s.kind == "update":
        keys = {x for cols, _ in c.catalog.constraints(s.table, "PRIMARY KEY") + c.catalog.constraints(
            s.table, "UNIQUE") for x in cols}
        if not keys & {x.lower() for x in s.set_columns}:
            return
    children = {c.catalog.resolve((t,)) for t in c.catalog.referencing(s.table)}
    before = next((e for e in c.same_transaction() if e.kind in ("delete", "update")
                   and c.catalog.resolve(e.table) in children), None)
    if before is not None:
        yield Hit(f"{s.label} is referenced by a FOREIGN KEY of {'.'.join(before.table or ())}, whose rows line "
                  f"{before.line} changed in the same transaction: DuckDB still sees them and fails (\"still "
                  "referenced by a foreign key\")")


def index_recreated(c: Context) -> Iterator[Hit]:
    s = c.statement
    if s.kind != "create" or s.object != "INDEX" or not s.names:
        return
    name = s.names[0][-1].lower()
    at = next((n for n, e in enumerate(c.same_transaction()) if e.kind == "drop" and e.object == "INDEX"
               and any(x[-1].lower() == name for x in e.names)), None)
    if at is None:
        return
    dropped = c.same_transaction()[at]
    was_unique = any(i.name.lower() == name and i.unique for idx in (c.catalog._start or {}).values() for i in idx)
    if s.unique or was_unique:
        yield Hit(f"unique index {s.names[0][-1]} was dropped on line {dropped.line} in the same transaction: before "
                  "DuckDB 2.0 it keeps its name until the commit (\"already exists\")")
        return
    table = c.catalog.resolve(s.table)
    rewritten = any(e.kind == "alter" and e.action in _REWRITES_ROWS and c.catalog.resolve(e.table) == table
                    for e in c.same_transaction()[at + 1:])
    if not rewritten:
        yield Hit(f"index {s.names[0][-1]} was dropped on line {dropped.line} in the same transaction: before DuckDB "
                  "2.0 the commit of a database file aborts the process (\"pure virtual method called\")")


RULES = (
    Rule("DM101", "alter-table-with-index", "error",
         "DuckDB refuses RENAME, DROP COLUMN, ALTER TYPE and SET/DROP NOT NULL on a table that has an index.",
         "Drop the table's indexes, run the ALTER, and create them again: in the same migration on 2.0, and before "
         "it where the ALTER rewrites the rows (DROP COLUMN, TYPE, SET NOT NULL); else create them in a migration "
         "of its own after it.", alter_with_index, reference="duckdb/duckdb#6737, #14664, #17348"),
    Rule("DM102", "alter-indexed-column", "error",
         "DuckDB refuses to change the type of, or drop, a column an index covers, even once the index is dropped "
         "in the same transaction.",
         "Drop the index in a migration of its own that runs before this one; create it again after, if the column "
         "stays.", alter_indexed_column, reference="duckdb/duckdb#14664"),
    Rule("DM103", "alter-key-column-type", "error",
         "DuckDB refuses to change the type of a column in a PRIMARY KEY or UNIQUE constraint.",
         "Create a new table with the new type, copy the rows (INSERT INTO new SELECT ...), drop the old table and "
         "rename the new one.", alter_key_type, reference="docs: ALTER TABLE"),
    Rule("DM104", "drop-column-in-check", "error",
         "DuckDB refuses to drop a column that a CHECK constraint over several columns uses.",
         "Recreate the table without the column and its CHECK, copying the rows.", drop_check_column,
         reference="docs: ALTER TABLE"),
    Rule("DM105", "alter-after-update", "error",
         "Before 2.0, DuckDB fails the commit of a transaction that updates or deletes a table's rows and then "
         "alters it.",
         "Put the ALTER in a migration of its own (or the UPDATE after it), or mark the file transaction:false.",
         ddl_after_update, BEFORE_2, reference="duckdb/duckdb#20570, PR #22093"),
    Rule("DM106", "alter-after-volatile-default", "error",
         "Before 2.0, DuckDB fails the commit of a transaction that adds a column with a volatile DEFAULT "
         "(random(), now() ...) and then adds, drops or retypes a column of the same table.",
         "Put the ADD COLUMN with the volatile DEFAULT last, or in a migration of its own.",
         two_volatile_defaults, BEFORE_2, reference="duckdb/duckdb PR #20224, #22093"),
    Rule("DM107", "alter-constraint", "error",
         "DuckDB has not implemented ALTER TABLE ADD FOREIGN KEY, ADD CHECK or DROP CONSTRAINT.",
         "Recreate the table with the constraints it should have, copying the rows.", constraint_not_implemented,
         reference="duckdb/duckdb#22946, #24377; docs"),
    Rule("DM108", "add-unique", "error",
         "Before 2.0, DuckDB has not implemented ALTER TABLE ADD UNIQUE.",
         "CREATE UNIQUE INDEX on the columns instead.", add_unique_not_implemented, BEFORE_2,
         reference="duckdb/duckdb PR #11895"),
    Rule("DM109", "add-column-with-key", "error",
         "DuckDB refuses ADD COLUMN with a PRIMARY KEY, CHECK or REFERENCES constraint.",
         "Add the column without it; for a key, recreate the table with the key, copying the rows.",
         add_column_key, reference="duckdb/duckdb#3248, #25401"),
    Rule("DM110", "add-column-not-null", "error",
         "Before 2.0, DuckDB refuses ADD COLUMN with NOT NULL or UNIQUE.",
         "Add the column without it, fill it with an UPDATE in an earlier migration, then ALTER COLUMN ... SET NOT "
         "NULL (or CREATE UNIQUE INDEX).", add_column_not_null, BEFORE_2,
         reference="duckdb/duckdb#25402, PR #25411"),
    Rule("DM111", "set-not-null-after-update", "error",
         "DuckDB refuses SET NOT NULL on a table updated earlier in the same transaction.",
         "Put SET NOT NULL in a migration of its own after the UPDATE's.", set_not_null_after_update,
         reference="duckdb/duckdb PR #25411, #20110"),
    Rule("DM112", "drop-referenced-table", "error",
         "DuckDB refuses to drop or replace a table that another table's FOREIGN KEY references, even with CASCADE.",
         "Drop (or recreate without the FOREIGN KEY) the referencing tables first.", drop_referenced_table,
         reference="duckdb/duckdb#26063; flyway/flyway#4035"),
    Rule("DM113", "drop-sequence-in-default", "error",
         "DuckDB refuses to drop or replace a sequence that a column's default still names.",
         "ALTER the column's DEFAULT away first (ALTER TABLE ... ALTER col DROP DEFAULT).", drop_sequence_in_default,
         reference="duckdb/duckdb#15399, #13428"),
    Rule("DM114", "drop-type-in-use", "error",
         "Since 2.0, DuckDB refuses to drop or replace a type that columns use.",
         "Change the columns' type first (ALTER TABLE ... ALTER col TYPE ...), then drop the type.",
         drop_type_in_use, SINCE_2, reference="duckdb/duckdb#9190, #24214"),
    Rule("DM115", "drop-type-orphans", "warning",
         "Before 2.0, DuckDB drops a type that columns use, and the columns keep a nameless copy of it.",
         "Change the columns' type first, then drop the type.", drop_type_orphans, BEFORE_2,
         reference="duckdb/duckdb#9190, #24214"),
    Rule("DM116", "delete-referenced-row", "error",
         "DuckDB checks a FOREIGN KEY against rows deleted or changed earlier in the same transaction: deleting the "
         "referencing rows and then the referenced ones fails.",
         "Change the referencing table in a migration of its own, before this one.", delete_referenced_after_child,
         reference="docs: indexes, over-eager constraint checking"),
    Rule("DM117", "index-recreated", "error",
         "Before 2.0, an index dropped and created again under its name in one transaction fails: a unique one "
         "keeps its name until the commit, and another aborts the process at the commit of a database file "
         "(unless an ALTER that rewrites the table's rows lies between).",
         "Create the index again in a migration of its own after this one, or under another name.",
         index_recreated, BEFORE_2, reference="verify --roundtrip on 1.5; checked on 1.5.5 and 1.5.6"),
)
