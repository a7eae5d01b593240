"""Preview: apply inside a transaction, diff, roll back.

``Migrator.preview()`` and ``Migrator.preview_body()`` return a ``Preview``:
the schema diff, per table the counts of rows added, removed and changed, a
bounded sample of those rows with their values before and after, the warnings a
reviewer needs (data that would be lost), and a proposed downgrade. Tables come
as pandas DataFrames; ``to_dict()`` gives the same as plain data. The database
is left exactly as it was, also when a migration fails halfway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .. import errors
from ..wording import plural as _n
from . import catalog, diff, keep, lake, schemadiff, statements
from .jsondata import plain

SCHEMA_COLUMNS = list(diff.SchemaChange._fields)
SUMMARY_COLUMNS = ["table", "key", "rows_before", "rows_after", "added", "removed", "changed", "unchanged"]
COLUMN_CHANGE_COLUMNS = ["table", "column", "changed", "turned_null"]
_COUNTS = SUMMARY_COLUMNS[2:]


class PreviewWarning(NamedTuple):
    """What a reviewer must see first: data that would be lost, or what the preview could not compare."""

    kind: str  # table dropped, column dropped, values turned NULL, rows removed, not compared, ...
    table: str
    column: str | None
    # A field that shadows tuple.count, which the type checker calls an incompatible override: the
    # name is the warning's column in the frames and JSON the preview gives, so it stays.
    count: int | None  # type: ignore[assignment]
    message: str


WARNING_COLUMNS = list(PreviewWarning._fields)


class Downgrade(str):
    """The inverse of a migration as far as the catalog tells it, and text wherever text is expected
    (``Path("d.sql").write_text(p.proposed_downgrade)``, ``"-- migrate:down\n" + p.proposed_downgrade``).

    ``statements`` undo what can be undone, in order; ``cannot`` says in plain
    words what no downgrade written from the schema can restore; ``restores`` what
    the data duckmig keeps when it applies the migration puts back (keep.py), which the
    text asks for with its last line, ``-- migrate:restore``.
    """

    statements: list[str]
    cannot: list[str]
    restores: list[str]

    def __new__(cls, statements: list[str] | None = None, cannot: list[str] | None = None,
                restores: list[str] | None = None) -> Downgrade:
        statements, cannot, restores = list(statements or []), list(cannot or []), list(restores or [])
        lines = statements + [f"-- cannot be undone: {c}" for c in cannot]
        if restores:
            lines += [f"-- puts back what duckmig keeps when it applies the migration: {r}" for r in restores]
            lines.append("-- migrate:restore")
        self = super().__new__(cls, "\n".join(lines))
        self.statements, self.cannot, self.restores = statements, cannot, restores
        return self

    @property
    def sql(self) -> str:
        """The statements alone, without the comments and the restore line."""
        return "\n".join(self.statements)

    def __repr__(self) -> str:
        return f"Downgrade({self.statements!r}, {self.cannot!r}, {self.restores!r})"

    def __reduce__(self):
        return Downgrade, (self.statements, self.cannot, self.restores)


@dataclass
class Preview:
    """What applying would do, with nothing applied.

    ``versions`` are the migrations previewed; ``covers`` those whose changes
    the diff shows — all of them, unless one ``failed``: then the diff shows
    only the migrations before it (possibly none), never a partial one.
    """

    versions: list[str]
    covers: list[str] = field(default_factory=list)
    failed: errors.MigrationFailed | None = None
    proposed_downgrade: Downgrade = field(default_factory=Downgrade)
    schema_changes: list[diff.SchemaChange] = field(default_factory=list)
    tables: list[diff.TableDiff] = field(default_factory=list)
    warning_list: list[PreviewWarning] = field(default_factory=list)
    replays: int = 0  # transactions replayed after a failed statement that a migration caught

    @property
    def ok(self) -> bool:
        return self.failed is None

    @property
    def table_names(self) -> list[str]:
        return [t.table for t in self.tables]

    @property
    def schema(self):
        """One row per catalog change: kind, name, column, change, before, after."""
        return _frame(SCHEMA_COLUMNS, self.schema_changes)

    @property
    def summary(self):
        """Per table: key, rows before and after, added, removed, changed, unchanged."""
        import pandas as pd

        frame = _frame(SUMMARY_COLUMNS, [self._summary_row(t) for t in self.tables])
        for name in _COUNTS:
            frame[name] = pd.array(frame[name].tolist(), dtype="Int64")
        return frame

    @property
    def warnings(self):
        """What a reviewer must see first: data that would be lost."""
        import pandas as pd

        frame = _frame(WARNING_COLUMNS, self.warning_list)
        frame["count"] = pd.array(frame["count"].tolist(), dtype="Int64")
        return frame

    @property
    def column_changes(self):
        """Per changed column: rows whose value changed, values that turned NULL. A column the
        migration adds counts the rows holding a value other than the one ADD COLUMN gave them;
        in a table without a key, where rows cannot be paired, only such columns are counted."""
        import pandas as pd

        frame = _frame(COLUMN_CHANGE_COLUMNS, self._column_rows())
        for name in COLUMN_CHANGE_COLUMNS[2:]:
            frame[name] = pd.array(frame[name].tolist(), dtype="Int64")
        return frame

    def rows(self, table: str):
        """The sample of ``table``'s changed rows: key columns, ``_change``, then each shown
        column's value as ``<column>_before`` and ``<column>_after``."""
        t = self.table(table)
        return _frame(t.sample_columns, t.sample).convert_dtypes()

    def table(self, name: str) -> diff.TableDiff:
        wanted = name.lower()
        for t in self.tables:
            if wanted in (t.table.lower(), f"main.{t.table}".lower()):
                return t
        raise errors.ConfigError(f"table {name} is not in this preview",
                                 f"the preview's tables: {', '.join(self.table_names) or 'none'}")

    def to_dict(self) -> dict:
        """Everything as plain data (JSON-safe)."""
        return plain({
            "versions": self.versions,
            "covers": self.covers,
            "replays": self.replays,
            "failed": None if self.failed is None else {
                "version": self.failed.version, "statement": self.failed.statement,
                "error": self.failed.error, "hint": self.failed.specific_hint},
            "warnings": [dict(zip(WARNING_COLUMNS, w, strict=True)) for w in self.warning_list],
            "schema": [dict(zip(SCHEMA_COLUMNS, r, strict=True)) for r in self.schema_changes],
            "summary": [dict(zip(SUMMARY_COLUMNS, self._summary_row(t), strict=True)) for t in self.tables],
            "column_changes": [dict(zip(COLUMN_CHANGE_COLUMNS, r, strict=True)) for r in self._column_rows()],
            "rows": {t.table: [dict(zip(t.sample_columns, r, strict=True)) for r in t.sample] for t in self.tables},
            "proposed_downgrade": {"statements": self.proposed_downgrade.statements,
                                   "cannot": self.proposed_downgrade.cannot,
                                   "restores": self.proposed_downgrade.restores},
        })

    @staticmethod
    def _summary_row(t: diff.TableDiff) -> tuple:
        key = ", ".join(t.key) if t.key_source else "(whole row)"
        return (t.table, key, t.rows_before, t.rows_after, t.added, t.removed, t.changed, t.unchanged)

    def _column_rows(self) -> list[tuple]:
        return [(t.table, c, n, t.turned_null.get(c))
                for t in self.tables if t.column_changes for c, n in t.column_changes.items() if n]

    def __repr__(self) -> str:
        state = "ok" if self.failed is None else f"failed at {self.failed.version}"
        return f"<Preview of {', '.join(self.versions) or 'nothing'}: {state}, {len(self.tables)} tables>"


def with_restore(down: Downgrade, tables: list[diff.TableDiff]) -> Downgrade:
    """A preview's proposed downgrade with the restore of what keeping brings back appended (the
    ``-- migrate:restore`` line), and the "cannot be undone" of data that it brings back left out."""
    restores = []
    for t in tables:
        if t.rows_after is None and t.rows_before:
            restores.append(f"table {t.table}'s {_n(t.rows_before, 'row')}")
            continue
        parts = [f"{_n(n, 'value')} of column {c}" for c, n in t.values_dropped.items() if n]
        parts += [f"{_n(n, 'value')} of {c} turned NULL" for c, n in t.turned_null.items() if n]
        if t.removed:
            parts.append(f"{_n(t.removed, 'row')} removed")
        changed = (t.changed or 0) - t.changed_added_only  # a value written into an added column goes with it
        if changed:
            parts.append(f"{_n(changed, 'row')} changed")
        if t.added and (t.removed or changed or t.values_dropped):
            parts.append(f"{_n(t.added, 'row')} added taken away")
        if parts:
            restores.append(f"{t.table}: {', '.join(parts)}")
    if not restores:
        return down
    return Downgrade(down.statements, [c for c in down.cannot if not keep.covered(c)], restores)


def check_sample(sample) -> int:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise errors.ConfigError(f"the sample size must be a whole number of 1 or more, not {sample!r}",
                                 "a sample of 20 shows up to 20 changed rows a table")
    return sample


def run(runner, migrations: list[tuple[str, object, object]], *, keys: dict[str, list[str]],
        sample: int) -> Preview:
    """Apply ``migrations`` ([(version, steps, path)]) with ``runner`` inside a transaction that is
    rolled back, and diff. A failing migration raises MigrationFailed."""
    import duckdb

    conn = runner.conn
    versions = [v for v, _, _ in migrations]
    database = conn.execute("SELECT current_database()").fetchone()[0]
    in_lake = lake.attached(conn, database)
    sequences = _sequences(conn)
    before_conn = conn.cursor()  # sees the committed database: the tables as they were
    try:
        # A cursor starts in the instance's first database; the run's may be another (a lake, say).
        runner.place.use(before_conn)
        with diff.Scratch(before_conn) as scratch, runner.transaction(keep=False):
            before_catalog = catalog.read(conn)
            before_objects, before = before_catalog.flat(), before_catalog.tables
            keepers = []
            touched: dict[tuple[str, str], str] = {}  # what the migrations' keepers collect
            for version, steps, path in migrations:
                keepers.append(_collecting(conn, version, steps, database, runner.place.schema, touched, in_lake))
                runner.keeper = keepers[-1]
                try:
                    runner.run(version, steps, "up", path=path)
                finally:
                    runner.keeper = None
            try:
                after_catalog = catalog.read(conn)
                after_objects, after = after_catalog.flat(), after_catalog.tables
                if in_lake:
                    after = diff.followed(before, after, runner.ran, runner.place.schema)
                pairs, notes = _touched(before, after, runner.ran, keys, database)
                tables = diff.RowDiffer(conn, before_conn, scratch, sample, keep.touched_keys(keepers)).run(
                    [p for p in pairs if p.before is None or p.after is None or p.written or p.schema_changed])
            except duckdb.Error as exc:
                raise errors.PreviewNotPossible(f"cannot preview {', '.join(versions)}: comparing the tables failed: "
                                                f"{exc}") from exc
    finally:
        before_conn.close()
    schema = diff.schema_rows(pairs, before_objects, after_objects)
    return Preview(versions, versions, None, propose_downgrade(pairs, before_catalog, after_catalog, tables,
                                                               lake=in_lake),
                   schema, tables, _warnings(tables) + _not_compared(tables) + notes
                   + _advanced(sequences, _sequences(conn)), runner.replays)


def _collecting(conn, version: str, steps, database: str, schema: str, touched: dict, in_lake: bool):
    """A keeper that keeps nothing and collects, for the diff, the keys of the rows that the
    migration's DELETEs and UPDATEs read exactly match; None where its statements cannot be read
    (Python) or on a lake (its tables are compared whole)."""
    if callable(steps) or in_lake:
        return None
    keeper = keep.Keeper(version, database, schema, collect=True, touched=touched)
    keeper.plan(conn, steps)
    return keeper


def _sequences(conn) -> dict[str, int]:
    """{sequence: the next value it gives}"""
    return {(name if schema == "main" else f"{schema}.{name}"): start if last is None else last + step
            for schema, name, start, step, last in conn.execute(
                "SELECT schema_name, sequence_name, start_value, increment_by, last_value FROM duckdb_sequences() "
                "WHERE database_name = current_database()").fetchall()}


def _advanced(before: dict[str, int], after: dict[str, int]) -> list[PreviewWarning]:
    return [PreviewWarning("sequence advanced", name, None, None,
             f"sequence {name} advanced by the preview (DuckDB does not roll sequences back): "
             f"the next value it gives is {after[name]}, not {value}")
            for name, value in before.items() if after.get(name, value) != value]


def _touched(before, after, ran: list[str], keys: dict[str, list[str]], database: str):
    """Pair the tables, mark those whose rows statements wrote, choose keys."""
    renames: dict[tuple, list[tuple[str, str]]] = {}
    for sql in ran:
        r = statements.column_rename(sql)
        if r:
            renames.setdefault(r.table, []).append((r.old, r.new))
    pairs = diff.match(before, after, renames)
    notes = []
    for sql in ran:
        name = statements.written_table(sql)
        if name is None:
            continue
        found = diff.find(pairs, name)
        if found:
            found.written = True
        elif len(name) == 3 and name[0].lower() not in (database.lower(), "temp"):
            notes.append(PreviewWarning("not compared", ".".join(name), None, None,
                          f"{'.'.join(name)} is written by `{_short(sql)}` but is in another database, "
                          "which the preview does not compare"))
    given = {}
    for table, columns in keys.items():
        found = diff.find(pairs, tuple(table.split(".")))
        if found is None:
            raise errors.ConfigError(f"a key is given for table {table}, which is in the database neither before nor "
                                     "after the migration",
                                     f"its tables: {', '.join(p.label for p in pairs) or 'none'}")
        given[id(found)] = columns
    for p in pairs:
        diff.choose_key(p, given.get(id(p)))
    return pairs, notes


def _warnings(tables: list[diff.TableDiff]) -> list[PreviewWarning]:
    out = []
    for t in tables:
        if t.rows_after is None and t.rows_before:
            out.append(PreviewWarning("table dropped", t.table, None, t.rows_before,
                        f"table {t.table} is dropped with its {_n(t.rows_before, 'row')}"))
            continue
        for column, n in t.values_dropped.items():
            out.append(PreviewWarning("column dropped", t.table, column, n,
                        f"column {t.table}.{column} is dropped with {_n(n, 'non-NULL value')}"))
        for column, n in t.turned_null.items():
            if not n:
                continue
            how = " with the new type" if column in t.type_changed else ""
            out.append(PreviewWarning("values turned NULL", t.table, column, n,
                        f"{t.table}.{column}: {_n(n, 'value')} turned NULL{how}"))
        if t.rows_before is not None and t.rows_after is not None and t.removed:
            out.append(PreviewWarning("rows removed", t.table, None, t.removed,
                        f"{_n(t.removed, 'row')} removed from {t.table}"))
    return out


def _not_compared(tables: list[diff.TableDiff]) -> list[PreviewWarning]:
    return [PreviewWarning("not compared", t.table, column, None,
             f"{t.table}.{column} is added with the default {default}, which may give each row a value of its own: "
             "values the migration writes into it are not told apart from it, so they are not compared")
            for t in tables for column, default in t.not_compared.items()]


def propose_downgrade(pairs: list[diff.Pair], before: catalog.Catalog, after: catalog.Catalog,
                      tables: list[diff.TableDiff], *, lake: bool = False) -> Downgrade:
    """The schema diff from after back to before: every table, column, constraint, index, view,
    macro, type, sequence and schema restored from its definition, renames reversed (the preview
    knows them: no rename is guessed), types cast back; what no downgrade written from the schema
    can restore (rows and values), in words.

    A column dropped comes back last, where DuckDB adds columns: the downgrade says so, and
    ``verify --roundtrip`` compares columns by name. On a DuckLake, see ``_lake_downgrade``.
    """
    if lake:
        return _lake_downgrade(pairs, before.flat(), after.flat(), tables)
    renames: dict[str, str] = {}
    for p in pairs:
        if p.before is None or p.after is None or p.replaced:
            continue
        if p.renamed:
            renames[p.now.qualified_label] = p.was.qualified_label
        for c in p.columns:
            if c.compared and c.renamed:
                renames[f"{p.now.qualified_label}.{c.now.name}"] = c.was.name
    plan = schemadiff.compare(after, before, renames=renames, order=False, guess=False)
    cannot = plan.cannot + [f"column order: {note}" if note.startswith("the columns") else note
                            for note in plan.notes]
    return Downgrade(list(plan.statements), cannot + _losses(pairs, tables))


def _losses(pairs: list[diff.Pair], tables: list[diff.TableDiff]) -> list[str]:
    """The rows and values a downgrade written from the schema cannot bring back."""
    out: list[str] = []
    for p, t in _kept(pairs, tables, out):
        for c in p.columns:
            if c.before is not None and c.after is None:
                values = t.values_dropped.get(c.was.name) if t else None
                out.append(f"column {p.label}.{c.was.name} is dropped"
                           + (f" with {_n(values, 'non-NULL value')}" if values else "")
                           + ": its values cannot be brought back")
            elif c.type_changed:
                lost = t.turned_null.get(c.now.name) if t else None
                if lost:
                    out.append(f"{_n(lost, 'value')} of {p.label}.{c.now.name} turned NULL with the new type")
        changed = (t.changed or 0) - t.changed_added_only if t else 0
        if t and (changed or t.removed or t.added):
            what = ", ".join(f"{_n(n, 'row')} {verb}" for n, verb in
                             ((changed, "changed"), (t.removed, "removed"), (t.added, "added")) if n)
            out.append(f"{p.label}: {what}; a downgrade from the schema cannot restore rows")
    return out


def _kept(pairs: list[diff.Pair], tables: list[diff.TableDiff], lost: list[str]):
    """(pair, its row diff or None) of each table there was and still is; what a downgrade cannot
    bring back of each table dropped or replaced is added to ``lost``."""
    counts = {t.table: t for t in tables}
    for p in pairs:
        t = counts.get(p.label)
        if p.before is None:
            continue
        if p.after is None:
            rows = f" with its {_n(t.rows_before, 'row')}" if t and t.rows_before else ""
            lost.append(f"table {p.label} is dropped{rows}: its rows cannot be brought back")
        elif p.replaced and p.was.body != p.now.body:  # by the same table: its rows say what changed
            lost.append(f"table {p.label} is replaced by a new table: the old one cannot be brought back")
        else:
            yield p, t


def _lake_downgrade(pairs: list[diff.Pair], before_objects: dict, after_objects: dict,
                    tables: list[diff.TableDiff]) -> Downgrade:
    """The inverse of what DuckLake can invert, from the catalog diff; what cannot, in words.

    Only what DuckLake takes is proposed (tests/test_ducklake_probe.py):
    a table is renamed back before anything else alters it, a column is made NOT NULL again only
    first thing for its table, and a type is not narrowed back; what that leaves out is said why.
    """
    lake = True
    q = catalog.quote
    # Dropped in reverse dependency order: views, macros and indexes before the tables they read;
    # tables that reference others before those; then sequences, types and schemas, each after
    # what was created in or with it. The snapshots list objects in creation order.
    first: list[str] = []
    last: list[str] = []
    types_back, dropped_tables, middle, recreate = [], [], [], []
    cannot = []
    created = [(kind, name, definition) for (kind, name), definition in after_objects.items()
               if kind not in _TABLES_OWN and (kind, name) not in before_objects]
    for kind, name, definition in reversed(created):
        drop = f"DROP {_drop_word(kind, definition)} {_qualified(name, kind)};"
        (last if kind in ("sequence", "type", "schema") else first).append(drop)
    for (kind, name), definition in before_objects.items():
        if kind in _TABLES_OWN:
            continue
        now = after_objects.get((kind, name), _GONE)
        if now == definition:
            continue
        if kind in ("view", "index") and definition:
            if now is not _GONE:
                first.append(f"DROP {kind.upper()} {_qualified(name, kind)};")
            recreate.append(_terminated(definition))
        elif kind == "type" and now is _GONE:
            types_back.append(f"CREATE TYPE {_qualified(name, kind)} AS {definition};")
        elif now is _GONE:
            cannot.append(f"{kind} {name} is dropped: write its CREATE {kind.upper()} again")
        else:
            cannot.append(f"{kind} {name} is changed: write its earlier definition again")
    dropped_tables = [f"DROP TABLE {p.now.sql_name};"
                      for p in sorted((p for p in pairs if p.before is None), key=lambda p: -p.now.oid)]
    # A table dropped or replaced comes back from its definition (its rows, where kept, after it).
    dropped_tables += [*(f"DROP TABLE {p.now.sql_name};" for p in pairs if p.replaced and p.was.body != p.now.body),
                       *(f"CREATE TABLE {p.was.sql_name} {p.was.body}" for p in pairs
                         if p.before is not None and (p.after is None or p.replaced and p.was.body != p.now.body))]
    constraints = _constraints_changed(before_objects, after_objects)
    # DuckDB alters a table that a foreign key references only to add a column or change a default.
    pinned: dict[str, list[str]] = {}
    for p in pairs:
        if p.before is not None and p.after is not None:
            for name in p.now.references:
                pinned.setdefault(name.lower(), []).append(p.label)
    for p, t in _kept(pairs, tables, cannot):
        # In a lake the table is renamed back first: DuckLake loses a table altered before a rename.
        table = (p.was if lake and p.renamed else p.now).sql_name
        undo: list[tuple[str, bool]] = []  # (statement, whether it alters the table's structure)
        not_null: list[tuple[str, str]] = []  # in a lake: (column, SET NOT NULL), which must come first
        for c in p.columns:
            b, a = c.before, c.after
            if b is None:
                undo.append((f"ALTER TABLE {table} DROP COLUMN {q(c.now.name)};", True))
            elif a is None:
                values = t.values_dropped.get(b.name) if t else None
                cannot.append(f"column {p.label}.{b.name} is dropped"
                              + (f" with {_n(values, 'non-NULL value')}" if values else "")
                              + ": its values cannot be brought back")
                undo.append((f"ALTER TABLE {table} ADD COLUMN {q(b.name)} {b.type}"
                             + (f" DEFAULT {b.default}" if b.default not in (None, "NULL") else "") + ";", True))
                if not b.nullable:  # a lake sets NOT NULL only first thing for a table in a transaction
                    cannot.append(f"{p.label}.{b.name} comes back without NOT NULL (DuckLake sets it only in a "
                                  f"transaction of its own): run `ALTER TABLE {table} ALTER COLUMN {q(b.name)} SET "
                                  "NOT NULL` in a migration of its own")
            else:
                if b.type != a.type and lake:
                    cannot.append(f"{p.label}.{a.name} went from {b.type} to {a.type}, and DuckLake changes a "
                                  "column's type only to a wider one, so no ALTER turns it back: add a column of "
                                  f"type {b.type}, fill it with UPDATE ... CAST, drop {a.name} and rename the new "
                                  "column")
                elif b.type != a.type:
                    undo.append((f"ALTER TABLE {table} ALTER COLUMN {q(a.name)} TYPE {b.type};", True))
                    lost = t.turned_null.get(a.name) if t else None
                    if lost:
                        cannot.append(f"{_n(lost, 'value')} of {p.label}.{a.name} turned NULL with the new type")
                if b.default != a.default:
                    undo.append((f"ALTER TABLE {table} ALTER COLUMN {q(a.name)} "
                                 + (f"SET DEFAULT {b.default};" if b.default is not None else "DROP DEFAULT;"), False))
                if b.nullable != a.nullable and lake and not b.nullable:
                    not_null.append((a.name, f"ALTER TABLE {table} ALTER COLUMN {q(a.name)} SET NOT NULL;"))
                elif b.nullable != a.nullable:
                    undo.append((f"ALTER TABLE {table} ALTER COLUMN {q(a.name)} "
                                 + ("DROP NOT NULL;" if b.nullable else "SET NOT NULL;"), True))
                if c.renamed:
                    undo.append((f"ALTER TABLE {table} RENAME COLUMN {q(a.name)} TO {q(b.name)};", True))
        if p.was.primary_key != p.now.primary_key:
            cannot.append(f"the primary key of {p.label} changed: recreate the table to change it back")
        if p.now.qualified_label in constraints:
            cannot.append(f"the constraints of {p.label} changed ({constraints[p.now.qualified_label]}): "
                          "recreate the table to change them back")
        if p.renamed and lake:
            undo.insert(0, (f"ALTER TABLE {p.now.sql_name} RENAME TO {q(p.was.name)};", True))
        elif p.renamed:
            undo.append((f"ALTER TABLE {table} RENAME TO {q(p.was.name)};", True))
        if not_null:
            undo = _not_null_first(undo, not_null, p.label, p.renamed, cannot)
        referencing = sorted({r for r in pinned.get(p.now.name.lower(), []) if r != p.label})
        refused = [sql for sql, structural in undo if structural and referencing]
        if refused:
            cannot.append(f"{p.label} is referenced by a foreign key of {', '.join(referencing)}, and DuckDB "
                          "alters such a table only to add a column or change a default: recreate those tables "
                          f"to run {' '.join(refused)}")
        middle += [sql for sql, _ in undo if sql not in refused]
        # Rows changed only in columns the downgrade drops are restored by dropping them.
        changed = (t.changed or 0) - t.changed_added_only if t else 0
        if t and (changed or t.removed or t.added):
            what = ", ".join(f"{_n(n, 'row')} {verb}" for n, verb in
                             ((changed, "changed"), (t.removed, "removed"), (t.added, "added")) if n)
            cannot.append(f"{p.label}: {what}; a downgrade from the schema cannot restore rows")
    return Downgrade(first + types_back + dropped_tables + middle + last + recreate, cannot)


def _not_null_first(undo: list[tuple[str, bool]], not_null: list[tuple[str, str]], label: str, renamed: bool,
                    cannot: list[str]) -> list[tuple[str, bool]]:
    """A lake's table undone with one SET NOT NULL first, where it may be: DuckLake sets NOT NULL only
    on a table that no earlier statement of the transaction altered (a rename back comes first).
    The others are said in ``cannot``."""
    first = [] if renamed else not_null[:1]
    for column, sql in not_null[len(first):]:
        cannot.append(f"on DuckLake, {label}.{column} is made NOT NULL again only by the first statement that "
                      f"alters {label} in a transaction: run `{sql}` in a migration of its own")
    return [(sql, True) for _, sql in first] + undo


_GONE = object()
_TABLES_OWN = ("table", "column", "constraint")  # undone with their table, by the table's own statements


def _drop_word(kind: str, definition: str | None) -> str:
    if kind == "macro":
        return "MACRO TABLE" if definition and " AS TABLE " in definition else "MACRO"
    return kind.upper()


def _constraints_changed(before_objects: dict, after_objects: dict) -> dict[str, str]:
    """{qualified table: what changed} for the CHECK, UNIQUE and FOREIGN KEY constraints of tables
    that exist on both sides."""
    tables = {name for kind, name in before_objects if kind == "table"} & \
             {name for kind, name in after_objects if kind == "table"}
    changed: dict[str, list[str]] = {}
    for side, others, verb in ((after_objects, before_objects, "added"), (before_objects, after_objects, "dropped")):
        for kind, name in side:
            if kind == "constraint" and (kind, name) not in others:
                table, text = catalog.split_constraint(name)
                if table in tables:
                    changed.setdefault(table, []).append(f"{text} {verb}")
    return {table: "; ".join(parts) for table, parts in changed.items()}


def _qualified(name: str, kind: str) -> str:
    if kind == "schema":
        return catalog.quote(name)
    schema, _, rest = name.partition(".")
    return catalog.quote(rest) if schema == "main" else f"{catalog.quote(schema)}.{catalog.quote(rest)}"


def _terminated(sql: str) -> str:
    sql = sql.strip()
    return sql if sql.endswith(";") else sql + ";"


def _short(sql: str, width: int = 60) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _frame(columns: list[str], rows: list[tuple]):
    import pandas as pd

    return pd.DataFrame([list(r) for r in rows], columns=columns)
