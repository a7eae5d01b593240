"""Schema and row diffs of tables, computed inside DuckDB.

A preview looks at one database from two sides. The *after* side is the
preview's own transaction, where the migration ran. The *before* side is a
second connection to the same database (``conn.cursor()``): DuckDB's MVCC hides
the uncommitted migration from it, so it sees the tables as they were.

The before side writes a narrow snapshot of each touched table (its key, a
64-bit hash of the compared columns, its rowid) into a scratch database in
memory; the after side joins that snapshot with the table as the migration left
it, one slice of keys at a time so that memory stays bounded whatever the
table's size, and keeps only the rows that differ. Only counts and a bounded
sample of rows come back to Python.

Rows are matched by the table's primary key, else by the key the user names,
else as whole rows (a multiset: added and removed, duplicates counted). A row
is *changed* when a compared column differs; a value whose type changed is
compared after casting the old value to the new type, so ``1`` becoming
``1.0`` is no change but ``'n/a'`` becoming NULL is. A column the migration
adds counts too: a row is changed when the value it holds there is not the one
ADD COLUMN filled it with (the column's default, or NULL).
"""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from .. import errors
from . import statements
from .catalog import Column, Table, split_constraint
from .sqltext import quote

# Keys per join: bounds the hash table DuckDB builds, whatever the table's size.
PARTITION_ROWS = 1_000_000
# Changed rows up to which each column's changes are counted exactly.
COLUMN_COUNT_ROWS = 500_000

_names = itertools.count(1)


@dataclass
class ColumnPair:
    before: Column | None
    after: Column | None
    renamed: bool = False
    fill: str | None = None  # an added column's: SQL for the value ADD COLUMN gave the rows there were

    @property
    def name(self) -> str:
        return self.now.name if self.after is not None else self.was.name

    @property
    def was(self) -> Column:
        """The column before; only for a pair that has one (not an added column)."""
        assert self.before is not None
        return self.before

    @property
    def now(self) -> Column:
        """The column after; only for a pair that has one (not a dropped column)."""
        assert self.after is not None
        return self.after

    @property
    def compared(self) -> bool:
        return self.before is not None and self.after is not None

    @property
    def type_changed(self) -> bool:
        return self.compared and self.was.type != self.now.type


@dataclass
class Pair:
    """One table as it was and as it is; either side None for a table created or dropped."""

    before: Table | None
    after: Table | None
    replaced: bool = False  # dropped and created again under the same name
    columns: list[ColumnPair] = field(default_factory=list)
    key: list[str] = field(default_factory=list)  # after-side names of the key columns
    key_source: str = ""  # "primary key", "given" or "" (whole rows)
    written: bool = False  # a statement wrote its rows

    @property
    def label(self) -> str:
        return self.now.label if self.after is not None else self.was.label

    @property
    def was(self) -> Table:
        """The table before; only for a pair that has one (not a created table)."""
        assert self.before is not None
        return self.before

    @property
    def now(self) -> Table:
        """The table after; only for a pair that has one (not a dropped table)."""
        assert self.after is not None
        return self.after

    @property
    def renamed(self) -> bool:
        return bool(self.before and self.after and not self.replaced and self.was.label != self.now.label)

    @property
    def compared(self) -> list[ColumnPair]:
        return [c for c in self.columns if c.compared]

    @property
    def values(self) -> list[ColumnPair]:
        """Compared columns outside the key."""
        return [c for c in self.compared if c.name not in self.key]

    @property
    def filled(self) -> list[ColumnPair]:
        """Added columns whose fill is known: a value other than it was written by the migration."""
        return [c for c in self.columns if c.fill is not None]

    def column(self, name: str) -> ColumnPair:
        return next(c for c in self.columns if c.name == name)

    @property
    def schema_changed(self) -> bool:
        return (self.replaced or self.renamed or any(not c.compared or c.renamed or c.before != c.after
                                                     for c in self.columns)
                or self.was.primary_key != self.now.primary_key)

    def names(self) -> set[str]:
        """The names a person may call this table by."""
        found = set()
        for t in (self.before, self.after):
            if t:
                found |= {t.label.lower(), f"{t.schema}.{t.name}".lower()}
        return found


@dataclass
class TableDiff:
    """The row diff of one table; counts are None where they do not apply."""

    table: str
    key: list[str]
    key_source: str
    rows_before: int | None = None
    rows_after: int | None = None
    added: int = 0
    removed: int = 0
    changed: int | None = None
    unchanged: int | None = None
    column_changes: dict[str, int] | None = None  # column -> rows whose value changed; None: not counted
    turned_null: dict[str, int] = field(default_factory=dict)  # compared column -> non-NULL values now NULL
    type_changed: set[str] = field(default_factory=set)  # compared columns whose type changed
    changed_added_only: int = 0  # changed rows whose other columns hold what they held
    not_compared: dict[str, str] = field(default_factory=dict)  # added column -> its default, which varies by row
    values_dropped: dict[str, int] = field(default_factory=dict)  # dropped column -> non-NULL values
    sample_columns: list[str] = field(default_factory=list)
    sample: list[tuple] = field(default_factory=list)


# -- matching tables and columns ------------------------------------------------------


def match(before: dict[int, Table], after: dict[int, Table], renames) -> list[Pair]:
    """Pair each table before with itself after: by oid (renames and ALTERs keep it), else by name.

    ``renames`` maps a table's name, as statements wrote it, to its column renames in order.
    """
    pairs = [Pair(b, after.get(oid)) for oid, b in before.items()]
    unmatched = {(t.schema, t.name): t for oid, t in after.items() if oid not in before}
    for p in pairs:
        if p.after is None and (p.was.schema, p.was.name) in unmatched:
            p.after, p.replaced = unmatched.pop((p.was.schema, p.was.name)), True
    pairs = sorted(pairs + [Pair(None, t) for t in unmatched.values()], key=lambda p: p.label)
    renamed: dict[int, list[tuple[str, str]]] = {}
    for name, steps in renames.items():
        named = find(pairs, name)
        if named is not None:
            renamed.setdefault(id(named), []).extend(steps)
    for p in pairs:
        p.columns = _match_columns(p, renamed.get(id(p), []))
    return pairs


def followed(before: dict[int, Table], after: dict[int, Table], ran: list[str], schema: str) -> dict[int, Table]:
    """``after`` with each table a DuckLake altered under the oid it had before, for ``match``.

    DuckLake gives a table a new oid at each ALTER in a transaction, so there a table is
    followed by its name instead, through the renames the statements ``ran`` made
    (``schema``: where an unqualified name is); a table they made or dropped is a new one.
    A table altered and then renamed in the transaction (by two migrations of one preview)
    is still listed under its old name too, until the transaction ends: that ghost is left out.
    """
    def key(name: tuple[str, ...]) -> tuple[str, str]:
        return ((name[-2] if len(name) > 1 else schema).lower(), name[-1].lower())

    origin: dict[tuple[str, str], tuple[str, str] | None] = {}  # name now -> name before; None: made here
    gone: set[tuple[str, str]] = set()  # renamed away, and not made again
    for sql in ran:
        renamed = statements.table_rename(sql)
        if renamed is not None:
            old, new = key(renamed[0]), key(renamed[0][:-1] + (renamed[1],))
            origin[new] = origin.pop(old, old)
            gone.add(old)
            gone.discard(new)
        for name in statements.made_tables(sql):
            origin[key(name)] = None
            gone.discard(key(name))
    kept = {oid: t for oid, t in after.items() if key((t.schema, t.name)) not in gone}
    by_name = {key((t.schema, t.name)): t for t in before.values()}
    out = {}
    for oid, t in kept.items():
        source = origin.get(key((t.schema, t.name)), key((t.schema, t.name)))
        was = by_name.get(source) if source else None
        if was is not None and oid != was.oid and was.oid not in kept and was.oid not in out:
            t = replace(t, oid=was.oid)
        out[t.oid] = t
    return out


def _match_columns(p: Pair, renames: list[tuple[str, str]]) -> list[ColumnPair]:
    """The columns kept, in the order of the table after; then those dropped; then those added."""
    if p.before is None:
        return [ColumnPair(None, c) for c in p.now.columns]
    if p.after is None:
        return [ColumnPair(c, None) for c in p.was.columns]
    by_after, dropped = {}, []
    after_cols = {c.name.lower(): c for c in p.now.columns}
    for c in p.was.columns:
        name = c.name
        for old, new in renames:
            if name.lower() == old.lower():
                name = new
        match = after_cols.get(name.lower())
        if match is not None and match.name not in by_after:
            by_after[match.name] = ColumnPair(c, match, renamed=match.name.lower() != c.name.lower())
        else:
            dropped.append(ColumnPair(c, None))
    return ([by_after[c.name] for c in p.now.columns if c.name in by_after] + dropped
            + [ColumnPair(None, c) for c in p.now.columns if c.name not in by_after])


def find(pairs: list[Pair], name: tuple[str, ...]) -> Pair | None:
    """The table a statement's name refers to: ``[catalog.][schema.]table``, as DuckDB resolves it."""
    wanted = ".".join(name[-2:]).lower()
    found = next((p for p in pairs if wanted in p.names()), None)
    if found is None and len(name) == 1:  # not in main: the one table of that name in another schema
        others = [p for p in pairs if any(t and t.name.lower() == wanted for t in (p.before, p.after))]
        found = others[0] if len(others) == 1 else None
    return found


# -- keys --------------------------------------------------------------------------------


def choose_key(p: Pair, given: list[str] | None) -> None:
    """Set the pair's key: the columns given, else the primary key, else none (whole rows)."""
    both = bool(p.before and p.after)
    if given is not None:
        p.key, p.key_source = [], "given"
        for name in given:
            col = next((c for c in p.columns if name.lower() in
                        {t.name.lower() for t in (c.before, c.after) if t}), None)
            if col is None:
                raise errors.ConfigError(f"table {p.label} has no column {name}", _key_columns(p.columns))
            if both and not col.compared:
                raise errors.ConfigError(f"key column {name} of table {p.label} does not exist "
                                         f"{'before' if col.before is None else 'after'} the migration; a key must "
                                         "be there before and after", _key_columns(p.compared))
            p.key.append(col.name)
        return
    for side in ("after", "before"):
        table = getattr(p, side)
        if not table or not table.primary_key:
            continue
        cols = [next((c for c in p.columns if getattr(c, side) and getattr(c, side).name == n), None)
                for n in table.primary_key]
        usable = [c for c in cols if c is not None and (c.compared or not both)]
        if len(usable) == len(cols):
            p.key, p.key_source = [c.name for c in usable], "primary key"
            return
    p.key, p.key_source = [], ""


# -- the schema diff ---------------------------------------------------------------------------


def _key_columns(columns: list[ColumnPair]) -> str:
    return f"key columns to choose from: {', '.join(c.name for c in columns) or 'none'}"


class SchemaChange(NamedTuple):
    """One difference in the catalog: a table's or column's, or another object's (view, index, ...)."""

    kind: str
    name: str
    column: str | None
    change: str
    before: str | None
    after: str | None


def schema_rows(pairs: list[Pair], before_objects: dict, after_objects: dict) -> list[SchemaChange]:
    """(kind, name, column, change, before, after) for every difference in the catalog."""
    rows = []
    for p in pairs:
        if p.before is None:
            rows.append(SchemaChange("table", p.label, None, "created", None, None))
            continue
        if p.after is None:
            rows.append(SchemaChange("table", p.label, None, "dropped", None, None))
            continue
        if p.replaced and p.was.body != p.now.body:  # replaced by the same table: nothing to show
            rows.append(SchemaChange("table", p.label, None, "replaced", None, None))
        if p.renamed:
            rows.append(SchemaChange("table", p.label, None, "renamed", p.was.label, p.now.label))
        for c in p.columns:
            b, a = c.before, c.after
            if b is None:
                rows.append(SchemaChange("column", p.label, c.now.name, "added", None, c.now.type))
            elif a is None:
                rows.append(SchemaChange("column", p.label, b.name, "removed", b.type, None))
            else:
                if c.renamed:
                    rows.append(SchemaChange("column", p.label, a.name, "renamed", b.name, a.name))
                if b.type != a.type:
                    rows.append(SchemaChange("column", p.label, a.name, "type changed", b.type, a.type))
                if b.default != a.default:
                    rows.append(SchemaChange("column", p.label, a.name, "default changed", b.default, a.default))
                if b.nullable != a.nullable:
                    rows.append(SchemaChange("column", p.label, a.name, "nullability changed",
                                 "NULL" if b.nullable else "NOT NULL", "NULL" if a.nullable else "NOT NULL"))
        if p.was.primary_key != p.now.primary_key:
            rows.append(SchemaChange("table", p.label, None, "primary key changed", _cols(p.was.primary_key),
                         _cols(p.now.primary_key)))
    whole = {(p.before or p.now).qualified_label for p in pairs if p.before is None or p.after is None}
    for key in sorted(set(before_objects) | set(after_objects)):
        kind, name = key
        if kind in ("table", "column"):
            continue
        if kind == "constraint":
            table, text = split_constraint(name)
            if table in whole:  # a table created or dropped brings or takes its constraints
                continue
            label = _label(table)
            before, after = before_objects.get(key), after_objects.get(key)
            if (key in before_objects) == (key in after_objects):  # kept as it was: nothing to show
                continue
            rows.append(SchemaChange(kind, label, None, "dropped" if after is None else "created", before, after))
            continue
        label = _label(name)
        if key not in after_objects:
            rows.append(SchemaChange(kind, label, None, "dropped", before_objects[key], None))
        elif key not in before_objects:
            rows.append(SchemaChange(kind, label, None, "created", None, after_objects[key]))
        elif before_objects[key] != after_objects[key]:
            rows.append(SchemaChange(kind, label, None, "changed", before_objects[key], after_objects[key]))
    return rows


def _label(name: str) -> str:
    return name[len("main."):] if name.startswith("main.") else name


def _cols(names) -> str | None:
    return "(" + ", ".join(names) + ")" if names else None


# -- the row diff -------------------------------------------------------------------------------


class Scratch:
    """Scratch databases in memory that the before side writes and the after side reads.

    Attached databases belong to the whole DuckDB instance, so both connections
    see them; the after side sees one as it was when its transaction first read
    it, so each round of writing gets a database of its own. DuckDB spills them
    to its temporary directory when memory runs short, and they vanish when
    detached.
    """

    def __init__(self, before_conn):
        self.conn = before_conn
        self.attached: list[str] = []

    def new(self) -> str:
        name = f"duckmig_preview_{os.getpid()}_{next(_names)}"
        self.conn.execute(f"ATTACH ':memory:' AS {name}")
        self.attached.append(name)
        return name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        import duckdb

        for name in self.attached:
            try:
                self.conn.execute(f"DETACH {name}")
            except duckdb.Error:
                pass  # the instance is closing: its memory goes with it


class RowDiffer:
    """Counts and samples the row changes of a list of table pairs.

    ``after`` is the connection whose transaction holds the migration;
    ``before`` another connection to the same database, outside it.
    """

    def __init__(self, after, before, scratch: Scratch, sample: int, touched: dict | None = None):
        self.after, self.before, self.scratch, self.sample = after, before, scratch, sample
        # {(schema, table) lower: a temp table of the keys of every row that may have changed} (keep.touched_keys)
        self.touched = touched or {}

    def run(self, pairs: list[Pair]) -> list[TableDiff]:
        both = [p for p in pairs if p.before and p.after]
        diffs = {id(p): TableDiff(p.label, p.key, p.key_source) for p in pairs}
        snapshot = self.scratch.new() if both else None
        for i, p in enumerate(both):  # before side first: the after side reads the snapshot once
            self._snapshot(p, f"{snapshot}.s{i}", diffs[id(p)])
        for p in both:
            self._fills(p, diffs[id(p)])
        for p in pairs:
            if p.before is None:
                self._whole_table(p, diffs[id(p)], self.after, p.now, "added")
            elif p.after is None:
                self._whole_table(p, diffs[id(p)], self.before, p.before, "removed")
        picked = {}
        for i, p in enumerate(both):
            d = diffs[id(p)]
            if p.key:
                picked[id(p)] = self._keyed(p, f"{snapshot}.s{i}", f"duckmig_preview_d{i}", d)
            else:
                picked[id(p)] = self._multiset(p, f"{snapshot}.s{i}", f"duckmig_preview_d{i}", d)
        self._values(both, diffs, picked)
        return [diffs[id(p)] for p in pairs]

    def _fills(self, p: Pair, d: TableDiff) -> None:
        """Set each added column's fill: its default cast to its type, or NULL. Defaults are evaluated
        in the migration's transaction, so ``now()`` gives what it gave ADD COLUMN; a default that
        gives each row its own value (``random()``, ``nextval()``) cannot be told from a value
        written later, so such a column is not compared."""
        for c in p.columns:
            if c.before is not None:
                continue
            default = c.now.default
            if default is None:
                c.fill = "NULL"
            elif self._varies(default):
                d.not_compared[c.name] = default
            else:
                c.fill = f"CAST(({default}) AS {c.now.type})"

    def _varies(self, default: str) -> bool:
        """Whether an expression may give each row a value of its own: it calls a function that DuckDB
        calls volatile, or one whose stability it does not know (a macro)."""
        names = statements.functions_called(default)
        if not names:
            return False
        known = dict(self.after.execute(
            "SELECT lower(function_name), bool_and(stability IN ('CONSISTENT', 'CONSISTENT_WITHIN_QUERY')) "
            "FROM duckdb_functions() WHERE lower(function_name) IN (SELECT unnest(?)) GROUP BY ALL",
            [sorted(names)]).fetchall())
        return not all(known.get(n) for n in names)

    # -- the before side's snapshot -----------------------------------------------------------

    def _snapshot(self, p: Pair, target: str, d: TableDiff) -> None:
        import duckdb

        cols = [f"{self._before_expr(p.column(k))} AS k{j}" for j, k in enumerate(p.key)]
        cols.append(f"{_hash([self._before_expr(c, nulls=True) for c in p.values])} AS h")
        cols += [f"{quote(c.was.name)} IS NOT NULL AS nn{j}" for j, c in enumerate(p.values) if c.type_changed]
        sql = f"CREATE TABLE {target} AS SELECT {', '.join(cols)}, rowid::{{}} AS rid FROM {p.was.qualified}"
        try:  # rowids fit 32 bits in all but giant tables: the snapshot takes a sixth less memory
            d.rows_before = self.before.execute(sql.format("UINTEGER")).fetchone()[0]
        except duckdb.Error:
            d.rows_before = self.before.execute(sql.format("BIGINT")).fetchone()[0]
        dropped = [c.was.name for c in p.columns if c.after is None]
        if dropped:
            counts = self.before.execute(f"SELECT {', '.join(f'count({quote(c)})' for c in dropped)} "
                                         f"FROM {p.was.qualified}").fetchone()
            d.values_dropped = {c: n for c, n in zip(dropped, counts, strict=True) if n}

    @staticmethod
    def _before_expr(c: ColumnPair, nulls: bool = False) -> str:
        q = quote(c.was.name)
        if not c.type_changed:
            return q
        cast = f"TRY_CAST({q} AS {c.now.type})"
        return f"{cast}, {q} IS NULL" if nulls else cast

    @staticmethod
    def _after_expr(c: ColumnPair, nulls: bool = False) -> str:
        q = quote(c.now.name)
        return f"{q}, {q} IS NULL" if nulls and c.type_changed else q

    # -- keyed tables ------------------------------------------------------------------------

    def _keyed(self, p: Pair, snap: str, changes: str, d: TableDiff) -> dict[str, list[tuple]]:
        keys = [f"k{j}" for j in range(len(p.key))]
        after_keys = [self._after_expr(p.column(k)) for k in p.key]
        after_hash = _hash([self._after_expr(c, nulls=True) for c in p.values])
        typed = [(j, c) for j, c in enumerate(p.values) if c.type_changed]
        written = _written(p.filled)  # a value other than the fill in an added column
        rows_before = d.rows_before
        assert rows_before is not None  # _snapshot counted them
        # A key that holds no NULL on either side (a primary key) is joined with `=`, which DuckDB's
        # hash join takes a third faster than IS NOT DISTINCT FROM.
        sure = all(not c.type_changed and not c.was.nullable and not c.now.nullable for c in map(p.column, p.key))
        on = " AND ".join(f"b.{k} = a.{k}" if sure else f"b.{k} IS NOT DISTINCT FROM a.{k}" for k in keys)
        touched = self.touched.get((p.was.schema.lower(), p.was.name.lower()))
        if touched is not None and not typed and p.key_source == "primary key" and sure \
                and [p.column(k).was.name for k in p.key] == list(p.was.primary_key):
            # Only DELETEs and UPDATEs read exactly changed it: the rows they matched are all that may
            # differ, and both sides are read for those keys alone.
            cut = Slices(1)
            pick = " AND ".join(f"{{}}{k} = t.{quote(c)}" for k, c in zip(keys, p.was.primary_key, strict=True))
            b_only = f" SEMI JOIN (SELECT DISTINCT * FROM {touched}) t ON {pick.format('s.')}"
            a_only = f" duckmig_a SEMI JOIN (SELECT DISTINCT * FROM {touched}) t ON " + " AND ".join(
                f"duckmig_a.{quote(p.column(k).now.name)} = t.{quote(c)}"
                for k, c in zip(p.key, p.was.primary_key, strict=True))
        else:
            cut = self._slices(snap, p, _partitions(rows_before), rows_before)
            self._check_unique(p, snap, keys, after_keys, cut)
            b_only = a_only = ""
        for part in range(cut.parts):
            b_where, b_params = cut.where(keys, part)
            a_where, a_params = cut.where(after_keys, part)
            sql = (
                f"SELECT {', '.join(f'CASE WHEN a.rid IS NULL THEN b.{k} ELSE a.{k} END AS {k}' for k in keys)}, "
                "b.rid AS brid, a.rid AS arid, "
                "CASE WHEN a.rid IS NULL THEN 'removed' WHEN b.rid IS NULL THEN 'added' ELSE 'changed' END AS change"
                + "".join(f", b.nn{j} AS bnn{j}, a.nn{j} AS ann{j}" for j, _ in typed)
                + (", b.h IS NOT DISTINCT FROM a.h AS added_only" if written else "")
                + f" FROM (SELECT s.* FROM {snap} s{b_only}{b_where}) b FULL JOIN "
                f"(SELECT {', '.join(f'{e} AS {k}' for e, k in zip(after_keys, keys, strict=True))}, "
                f"{after_hash} AS h, "
                "rowid AS rid" + "".join(f", {quote(c.now.name)} IS NOT NULL AS nn{j}" for j, c in typed)
                + (f", ({written}) AS w" if written else "")
                + f" FROM {p.now.qualified}{a_only}{a_where}) a ON {on} "
                "WHERE b.h IS DISTINCT FROM a.h" + (" OR a.w" if written else ""))
            self.after.execute(f"CREATE TEMP TABLE {changes} AS {sql}" if part == 0 else f"INSERT INTO {changes} {sql}",
                               b_params + a_params)
        counts = self.after.execute(
            "SELECT count(*) FILTER (WHERE change = 'added'), count(*) FILTER (WHERE change = 'removed'), "
            "count(*) FILTER (WHERE change = 'changed')"
            + "".join(f", count(*) FILTER (WHERE change = 'changed' AND bnn{j} AND NOT ann{j})" for j, _ in typed)
            + (", count(*) FILTER (WHERE change = 'changed' AND added_only)" if written else ", 0")
            + f" FROM {changes}").fetchone()
        d.added, d.removed, d.changed = counts[:3]
        d.changed_added_only = counts[-1]
        counts = counts[:-1]
        d.unchanged = rows_before - d.removed - d.changed
        d.rows_after = d.unchanged + d.changed + d.added  # the key is unique on both sides
        d.turned_null = {c.name: n for (_, c), n in zip(typed, counts[3:], strict=True)}
        d.type_changed = {c.name for _, c in typed}
        order = ", ".join(keys)
        picked = {}
        for change, n in _split(self.sample, {"changed": d.changed, "removed": d.removed, "added": d.added}):
            picked[change] = self.after.execute(
                f"SELECT {order}, brid, arid FROM {changes} WHERE change = ? ORDER BY {order} LIMIT ?",
                [change, n]).fetchall()
        return picked

    def _check_unique(self, p: Pair, snap: str, keys, after_keys, cut: Slices) -> None:
        """A key the user names must be unique on both sides, or the counts would be wrong."""
        sides = []
        if tuple(p.column(k).was.name for k in p.key) != p.was.primary_key:
            sides.append(("before", snap, keys))
        if tuple(p.key) != p.now.primary_key:
            sides.append(("after", p.now.qualified, after_keys))
        for side, source, exprs in sides:
            for part in range(cut.parts):
                where, params = cut.where(exprs, part)
                row = self.after.execute(f"SELECT {', '.join(exprs)}, count(*) FROM {source}{where} "
                                         "GROUP BY ALL HAVING count(*) > 1 LIMIT 1", params).fetchone()
                if row:
                    shown = row[0] if len(row) == 2 else row[:-1]
                    raise errors.ConfigError(
                        f"key ({', '.join(p.key)}) of table {p.label} is not unique {side} the migration: {shown!r} "
                        f"is in {row[-1]} rows", f"name columns that identify one row as the key of {p.label}, or "
                        "give no key to compare whole rows")

    def _slices(self, snap: str, p: Pair, parts: int, rows: int) -> Slices:
        """Ranges of the first key column cut at quantiles of a sample, so that zone maps let each
        part skip most of the table; hash buckets where the key's values cannot bound a range."""
        import duckdb

        if parts == 1:
            return Slices(1)
        type_ = p.column(p.key[0]).now.type
        # Whole vectors sampled: cheap, and enough of them that the parts come out near equal.
        percent = min(100.0, 100.0 * 150 * 2048 / max(rows, 1))
        fractions = ", ".join(str(i / parts) for i in range(1, parts))  # must be constants
        try:  # on the before side, where an error aborts nothing
            bounds = self.before.execute(
                f"SELECT quantile_disc(k0, [{fractions}]) FROM "
                f"(SELECT k0 FROM {snap} USING SAMPLE {percent:.4f} PERCENT (system))").fetchone()[0]
            bounds = sorted(set(b for b in bounds or [] if b is not None))
            for b in bounds:  # each bound must read back as the key's type
                self.before.execute(f"SELECT CAST(? AS {type_})", [b])
        except (duckdb.Error, TypeError):
            bounds = None
        if not bounds:
            return Slices(parts)
        return Slices(len(bounds) + 1, bounds, type_)

    # -- tables without a key: rows as a multiset ---------------------------------------------------

    def _multiset(self, p: Pair, snap: str, changes: str, d: TableDiff) -> dict[str, list[tuple]]:
        after_hash = _hash([self._after_expr(c, nulls=True) for c in p.values])
        rows_before = d.rows_before
        assert rows_before is not None  # _snapshot counted them
        parts = _partitions(rows_before)
        for part in range(parts):
            where = f" WHERE h % {parts} = {part}" if parts > 1 else ""
            sql = (f"SELECT h, coalesce(b.n, 0) AS nb, coalesce(a.n, 0) AS na FROM "
                   f"(SELECT h, count(*) AS n FROM {snap}{where} GROUP BY h) b FULL JOIN "
                   f"(SELECT h, count(*) AS n FROM (SELECT {after_hash} AS h FROM {p.now.qualified}){where} "
                   "GROUP BY h) a USING (h) WHERE coalesce(b.n, 0) <> coalesce(a.n, 0)")
            self.after.execute(f"CREATE TEMP TABLE {changes} AS {sql}" if part == 0 else f"INSERT INTO {changes} {sql}")
        d.removed, d.added = self.after.execute(
            f"SELECT coalesce(sum(greatest(nb - na, 0)), 0)::BIGINT, coalesce(sum(greatest(na - nb, 0)), 0)::BIGINT "
            f"FROM {changes}").fetchone()
        d.unchanged = rows_before - d.removed
        d.rows_after = d.unchanged + d.added
        if p.filled:  # no row to pair it with: count the values written, over the whole table
            counts = self.after.execute(
                f"SELECT {', '.join(f'count(*) FILTER (WHERE {_written([c])})' for c in p.filled)} "
                f"FROM {p.now.qualified}").fetchone()
            d.column_changes = {c.name: n for c, n in zip(p.filled, counts, strict=True)}
        picked = {}
        for change, n in _split(self.sample, {"removed": d.removed, "added": d.added}):
            source, more = (f"(SELECT h, rid FROM {snap})", "nb - na") if change == "removed" else \
                (f"(SELECT {after_hash} AS h, rowid AS rid FROM {p.now.qualified})", "na - nb")
            rids = self.after.execute(
                f"SELECT s.rid FROM {source} s JOIN {changes} m ON s.h = m.h AND {more} > 0 "
                f"QUALIFY row_number() OVER (PARTITION BY s.h ORDER BY s.rid) <= {more} "
                "ORDER BY s.rid LIMIT ?", [n]).fetchall()
            picked[change] = [(r, None) if change == "removed" else (None, r) for (r,) in rids]
        return picked

    # -- created and dropped tables ---------------------------------------------------------------------

    def _whole_table(self, p: Pair, d: TableDiff, conn, table: Table, change: str) -> None:
        n = self._count(conn, table)
        if change == "added":
            d.rows_after = d.added = n
        else:
            d.rows_before = d.removed = n
        names = [c.name for c in table.columns]
        order = f" ORDER BY {', '.join(quote(k) for k in p.key)}" if p.key else ""
        rows = conn.execute(f"SELECT * FROM {table.qualified}{order} LIMIT ?", [self.sample]).fetchall()
        values = [i for i, name in enumerate(names) if name not in p.key]
        shown = [(names[i], None) if change == "removed" else (None, names[i]) for i in values]
        d.sample_columns = list(p.key) + ["_change"] + _value_names(shown)
        d.sample = [tuple(r[names.index(k)] for k in p.key) + (change,) + tuple(r[i] for i in values)
                    for r in rows]

    # -- values of the sampled rows, and per-column counts ------------------------------------------------

    def _values(self, pairs: list[Pair], diffs: dict, picked: dict) -> None:
        """Fetch the sampled rows from both sides; count changes per column where few enough rows changed."""
        counted = {i for i, p in enumerate(pairs)
                   if p.key and (p.values or p.filled) and 0 < (diffs[id(p)].changed or 0) <= COLUMN_COUNT_ROWS}
        store = self.scratch.new() if any(pairs[i].values for i in counted) else None
        befores = {}
        for i, p in enumerate(pairs):  # the before side writes all it must before the after side reads
            rids = [r[-2] for rows in picked[id(p)].values() for r in rows if r[-2] is not None]
            befores[i] = _by_rowid(self.before, p.was, rids)
            if i in counted and p.values:
                # The rowids cross as one string: far cheaper than a Python list of them.
                rids = self.after.execute(f"SELECT string_agg(brid::VARCHAR, ',') FROM duckmig_preview_d{i} "
                                          "WHERE change = 'changed'").fetchone()[0]
                exprs = [f"{self._before_expr(c)} AS c{j}"
                         + (f", {quote(c.was.name)} IS NULL AS z{j}" if c.type_changed else "")
                         for j, c in enumerate(p.values)]
                self.before.execute(f"CREATE TABLE {store}.v{i} AS SELECT rowid AS rid, {', '.join(exprs)} "
                                    f"FROM {p.was.qualified} WHERE rowid IN "
                                    "(SELECT unnest(string_split(?, ','))::BIGINT)", [rids])
        for i, p in enumerate(pairs):
            d = diffs[id(p)]
            if i in counted:
                tests = [f"v.c{j} IS DISTINCT FROM a.{quote(c.now.name)}"
                         + (f" OR v.z{j} <> (a.{quote(c.now.name)} IS NULL)" if c.type_changed else "")
                         for j, c in enumerate(p.values)]
                tests += [f"a.{quote(c.now.name)} IS DISTINCT FROM {c.fill}" for c in p.filled]
                # A value that became NULL is lost whatever did it: a new type (counted with the
                # keys) or an UPDATE, such as a backfill that turns 'unknown' into NULL.
                kept_type = [(j, c) for j, c in enumerate(p.values) if not c.type_changed]
                tests += [f"v.c{j} IS NOT NULL AND a.{quote(c.now.name)} IS NULL" for j, c in kept_type]
                store_join = f"JOIN {store}.v{i} v ON v.rid = d.brid " if p.values else ""
                counts = self.after.execute(
                    f"SELECT {', '.join(f'count(*) FILTER (WHERE {t})' for t in tests)} "
                    f"FROM duckmig_preview_d{i} d {store_join}"
                    f"JOIN {p.now.qualified} a ON a.rowid = d.arid WHERE d.change = 'changed'").fetchone()
                changes = len(p.values) + len(p.filled)
                d.column_changes = {c.name: n for c, n in zip(p.values + p.filled, counts[:changes], strict=True)}
                d.turned_null.update({c.name: n for (_, c), n in zip(kept_type, counts[changes:], strict=True)})
            elif p.key and d.changed == 0:
                d.column_changes = {c.name: 0 for c in p.values + p.filled}
                d.turned_null.update({c.name: 0 for c in p.values if not c.type_changed})
            rows = [(change, r) for change, rs in picked[id(p)].items() for r in rs]
            afters = _by_rowid(self.after, p.now, [r[-1] for _, r in rows if r[-1] is not None])
            self._assemble(p, d, rows, befores[i], afters, self._written_in(p, d, rows))

    def _written_in(self, p: Pair, d: TableDiff, rows) -> set[str]:
        """The added columns that hold, in changed rows, values other than their fill."""
        if d.column_changes is not None:
            return {c.name for c in p.filled if d.column_changes.get(c.name)}
        arids = [r[-1] for change, r in rows if change == "changed"]
        if not p.filled or not arids:
            return set()
        found = self.after.execute(
            f"SELECT {', '.join(f'bool_or({_written([c])})' for c in p.filled)} FROM {p.now.qualified} "
            "WHERE rowid IN (SELECT unnest(?))", [arids]).fetchone()
        return {c.name for c, w in zip(p.filled, found, strict=True) if w}

    def _assemble(self, p: Pair, d: TableDiff, rows, befores: dict, afters: dict, written: set[str]) -> None:
        """The sample as rows: key, kind of change, then each shown column before and after.

        An added column shows its value after alone: before, the row had no such column."""
        before_at = {c.name: i for i, c in enumerate(p.was.columns)}
        after_at = {c.name: i for i, c in enumerate(p.now.columns)}
        only_changed = all(change == "changed" for change, _ in rows)

        def differs(c: ColumnPair) -> bool:
            if d.column_changes is not None:
                return bool(d.column_changes.get(c.name))
            return any(befores[r[-2]][before_at[c.was.name]] != afters[r[-1]][after_at[c.now.name]]
                       for _, r in rows)

        # Changed rows show the columns that changed; added or removed rows show every column.
        shown = [(c.before and c.was.name, c.after and c.now.name) for c in p.columns
                 if c.name not in p.key and (not only_changed or (c.compared and differs(c)) or c.name in written)]
        d.sample_columns = list(p.key) + ["_change"] + _value_names(shown)
        d.sample = []
        for change, r in sorted(rows, key=lambda cr: ("changed", "removed", "added").index(cr[0])):
            before, after = befores.get(r[-2]), afters.get(r[-1])
            values = []
            for b, a in shown:
                if b:
                    values.append(before[before_at[b]] if before else None)
                if a:
                    values.append(after[after_at[a]] if after else None)
            d.sample.append(tuple(r[:len(p.key)]) + (change,) + tuple(values))

    @staticmethod
    def _count(conn, table: Table) -> int:
        return conn.execute(f"SELECT count(*) FROM {table.qualified}").fetchone()[0]


def _by_rowid(conn, table: Table, rids: list) -> dict:
    if not rids:
        return {}
    rows = conn.execute(f"SELECT rowid, * FROM {table.qualified} WHERE rowid IN (SELECT unnest(?))",
                        [list(rids)]).fetchall()
    return {r[0]: r[1:] for r in rows}


def _value_names(shown) -> list[str]:
    names = []
    for b, a in shown:
        if b:
            names.append(f"{b}_before")
        if a:
            names.append(f"{a}_after")
    return names


def _written(filled: list[ColumnPair]) -> str:
    """SQL true where a row holds, in one of the added columns ``filled``, a value other than its fill."""
    return " OR ".join(f"{quote(c.now.name)} IS DISTINCT FROM {c.fill}" for c in filled)


def _hash(exprs: list[str]) -> str:
    return f"hash({', '.join(exprs)})" if exprs else "0::UBIGINT"


def _partitions(rows: int) -> int:
    return max(1, math.ceil(rows / PARTITION_ROWS))


@dataclass
class Slices:
    """How a table's keys are cut into parts joined one at a time: by ranges of the first key
    column (``bounds``, values of type ``type``), else by a hash of the whole key."""

    parts: int
    bounds: list | None = None
    type: str = ""

    def where(self, exprs: list[str], part: int) -> tuple[str, list]:
        """A WHERE clause selecting ``part`` of the rows whose key is ``exprs``, and its parameters."""
        if self.parts == 1:
            return "", []
        if not self.bounds:
            return f" WHERE hash({', '.join(exprs)}) % {self.parts} = {part}", []
        first, cast = exprs[0], f"CAST(? AS {self.type})"
        if part == 0:
            return f" WHERE ({first} < {cast} OR {first} IS NULL)", [self.bounds[0]]
        if part == self.parts - 1:
            return f" WHERE {first} >= {cast}", [self.bounds[-1]]
        return f" WHERE {first} >= {cast} AND {first} < {cast}", [self.bounds[part - 1], self.bounds[part]]


def _split(total: int, available: dict[str, int | None]) -> list[tuple[str, int]]:
    """Share ``total`` sample rows among the kinds of change: evenly, and what a kind with
    fewer rows leaves goes to the others."""
    want, left = {}, total
    kinds = sorted(available, key=lambda k: available[k] or 0)
    for i, k in enumerate(kinds):
        want[k] = min(available[k] or 0, left // (len(kinds) - i))
        left -= want[k]
    return [(k, want[k]) for k in available if want[k]]
