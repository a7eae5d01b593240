"""Keeping what a migration destroys, in the same database, and putting it back on ``down``.

Which statements may destroy rows or values is read from them (``destroys``): DELETE, UPDATE,
TRUNCATE, MERGE, DROP, ``CREATE OR REPLACE``, ``INSERT OR REPLACE``, ``ON CONFLICT``, and an ALTER
not read as harmless, so a migration that destroys nothing copies nothing. A table with a
primary key that only statements read exactly change (losses.py: DELETE, UPDATE, DROP COLUMN) is
kept statement by statement, each statement's loss just before it runs (``Keeper.plan``). Any
other table is copied into a temporary table of the migration's own transaction before the first
statement that may destroy its rows; when the statements are done, the copy is compared with the
table as the migration left it and only the difference is kept, then the copy goes. On a DuckLake
nothing is copied: the lake's snapshot before the migration's holds every table as it was, and
``prepare`` turns it into the same difference when ``down`` runs. All of it is part of the
migration's transaction: the kept data lands with the migration or vanishes with it.

What is kept, in the schema ``duckmig_kept`` of the database:

- ``duckmig_kept."<version>.<table>"`` (``<table>`` as a person writes it: ``orders``, or
  ``sales.orders`` outside ``main``): the table's columns as they were, and
  ``_duckmig_change``: ``removed`` (a whole row the migration deleted, or every row of a table
  it dropped or replaced), ``changed`` (a whole row whose values it changed, as it was),
  ``column`` (the key and the values of the columns it dropped or retyped, for the other rows),
  ``added`` (the key of a row it inserted; in a table without a key, the row's values).
- ``duckmig_kept."<version>.<table>#<n>"``: what the nth statement that destroyed some of a table
  kept statement by statement destroyed (whole rows; or the key and the lost values).
- ``duckmig_kept.kept``: one row a kept table (version, table, kept table, how its rows are
  matched, rows, a content hash that ``down`` checks first); on a lake, one row a table
  (mode ``snapshot``) with its shape before and the renames, in ``note``.
- ``duckmig_kept.downgrades``: for a migration applied without a downgrade, the one duckmig
  generated from the catalog when it was applied.

Rows are matched by the table's primary key; a table without one is restored as a multiset of
whole rows (a row the migration wrote is taken away only where it is still there as written:
nothing else identifies it).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import errors
from . import catalog, lake, losses, refusals, statements
from .catalog import Table
from .sqltext import inline, literal, quote, value

# diff is loaded by what keeps and restores, not by status's listing of what is kept.
if TYPE_CHECKING:
    from . import diff

SCHEMA = catalog.KEPT_SCHEMA
RECORD = "kept"
SNAPSHOT = "snapshot"  # the mode of a table a lake's snapshot holds as it was: nothing copied
DOWNGRADES = "downgrades"
CHANGE = "_duckmig_change"
# A table larger than this (rows) is not copied: the migration keeps nothing of it, and says so.
DEFAULT_LIMIT = 50_000_000
# The marker in a down section that asks for the kept data back after its statements.
MARKER = "-- migrate:restore"
_MARKER = re.compile(r"^--[ \t]*migrate:restore[ \t]*$", re.MULTILINE | re.IGNORECASE)

_names = itertools.count(1)
_FIRST = re.compile(r"\s*(?:--[^\n]*\n\s*|/\*.*?\*/\s*)*(\w+)", re.DOTALL)
_REPLACING = re.compile(r"\bOR\s+REPLACE\b|\bON\s+CONFLICT\b|\bDO\s+UPDATE\b", re.IGNORECASE)
_DESTROYING = {"DELETE", "UPDATE", "TRUNCATE", "MERGE", "DROP", "ALTER"}


class KeptNothing(UserWarning):
    """A migration destroyed data that duckmig did not keep (too large, outside a transaction, ...)."""


class NoDowngrade(UserWarning):
    """A migration about to be applied has no downgrade."""


class Restoring(UserWarning):
    """What a downgrade about to run brings back, or cannot (kept data pruned, a generated downgrade)."""


@dataclass(frozen=True)
class Settings:
    """``on``: keep at all; ``limit``: the rows a table may hold to be kept; ``keys``: for a table without
    a primary key ("table" or "schema.table"), the columns that identify its rows (``up --key``)."""

    on: bool = True
    limit: int = DEFAULT_LIMIT
    keys: dict[str, list[str]] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)  # the tables of ``keys`` a keeper asked for (``unused_keys``)

    def key_of(self, table: Table) -> list[str] | None:
        """The key given for ``table``, if any."""
        wanted = {table.label.lower(), f"{table.schema}.{table.name}".lower()}
        name = next((name for name in self.keys if name.lower() in wanted), None)
        if name is None:
            return None
        self.asked.add(name)
        return self.keys[name]

    def unused_keys(self) -> None:
        """Say which keys given no keeper of the run asked for: a table name mistyped, or one with a
        primary key, or none of whose rows were kept, whose rows the key matched nothing of."""
        unused = [name for name in self.keys if name not in self.asked]
        if unused:
            warnings.warn(KeptNothing(
                f"the key given for {', '.join(unused)} was not used: this run kept rows of no table of that name "
                "without a primary key"), stacklevel=3)


@dataclass(frozen=True)
class Kept:
    """One kept table, as ``duckmig kept`` lists it."""

    version: str
    table: str
    rows: int | None  # None: held by a lake's snapshots, not counted
    bytes: int
    state: str  # kept, pruned, not kept, in the lake's snapshots


# The state ``listing`` gives a table of a DuckLake: its snapshots hold it as it was, nothing is copied.
IN_SNAPSHOTS = "in the lake's snapshots"


def restores(source: str | None) -> bool:
    """Whether a SQL down section asks for the kept data back (``-- migrate:restore``)."""
    return source is not None and _MARKER.search(source) is not None


def destroys(sql: str, kinds: frozenset[str] | None = None) -> bool:
    """Whether a statement may destroy rows or values of a table, told from its first word (and, for
    CREATE and INSERT, whether it replaces; for ALTER, what it does)."""
    m = _FIRST.match(sql)
    word = m[1].upper() if m else ""
    if word == "ALTER":
        return not statements.alter_keeps_values(sql)
    if word in _DESTROYING:
        return True
    if word in ("CREATE", "INSERT", "WITH"):
        low = sql.lower()  # substrings first: the regex on a megabyte INSERT is far slower
        replacing = ("replace" in low or "conflict" in low) and _REPLACING.search(sql) is not None
        return replacing or (word == "WITH" and kinds is not None and bool(
            kinds & {"DELETE", "UPDATE"}))
    return False


def renames(sql: str) -> bool:
    """Whether a statement renames a table or a column: it destroys nothing, but a downgrade generated
    for a file without one must reverse it."""
    return statements.column_rename(sql) is not None or statements.table_rename(sql) is not None


# -- while a migration runs ------------------------------------------------------------------


@dataclass
class Copy:
    table: Table
    name: str  # the temporary table holding it as it was ("": none)
    snapshot: bool = False  # on a lake: not copied, the lake's snapshot before the migration holds it


@dataclass
class Logged:
    """A table kept statement by statement: for the Nth statement that destroys some of it, the
    kept table ``"<version>.<table>#N"`` holds what it destroyed (``steps``: kind, kept table)."""

    table: Table
    columns: list[str]  # the table's columns now (a DROP COLUMN takes one away)
    steps: list[tuple[str, str]] = field(default_factory=list)
    whole: bool = False  # collecting: a statement reached every row (a dropped column)


# The statements a table kept statement by statement may have (each keeps a table of its own).
_MOST_STEPS = 1_000
# The statement types a migration kept statement by statement may hold: those whose target
# ``statements.changed_tables`` reads (nothing runs another statement, moves the search path or
# attaches another database).
_FOLLOWED = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP"})


# The catalog's objects a DROP ... CASCADE may name: (table function, its oid column, its name column).
_OBJECTS = (("duckdb_tables", "table_oid", "table_name"), ("duckdb_views", "view_oid", "view_name"),
            ("duckdb_types", "type_oid", "type_name"), ("duckdb_sequences", "sequence_oid", "sequence_name"),
            ("duckdb_functions", "function_oid", "function_name"))


@dataclass
class Keeper:
    """Keeps what one migration destroys. ``execute(sql)`` runs a statement of the engine's in the
    migration's transaction, so that a replay of the transaction runs it again (see runner)."""

    version: str
    database: str
    schema: str
    settings: Settings = field(default_factory=Settings)
    generate: bool = False  # the migration has no downgrade: generate one from the catalog
    # propose(pairs, catalog before, catalog after, table diffs): the schema downgrade (preview.propose_downgrade)
    propose: Callable | None = None
    copies: dict[int, Copy] = field(default_factory=dict)
    renames: dict[tuple, list[tuple[str, str]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    before_catalog: catalog.Catalog | None = None
    before_tables: dict[int, Table] | None = None
    # {(schema, table): (rows, content hash)} of each table a statement writes, taken before the first
    # does (verify --roundtrip compares them after up and down); None: not measured
    measured: dict[tuple[str, str], tuple[int, int]] | None = None
    existing: set[int] = field(default_factory=set)  # the oids of the tables there before (when measured)
    # The tables (schema, name), lower case, as named now, whose state before is copied already or that
    # this migration made: followed by name, since an ALTER may give a table a new oid (DuckLake, and
    # DuckDB 1.5 files for some ALTERs), and a table of a copied name is that table or one made here.
    handled: set[tuple[str, str]] = field(default_factory=set)
    logged: dict[tuple[str, str], Logged] = field(default_factory=dict)
    read: dict[str, losses.Loss] = field(default_factory=dict)  # what each statement read exactly destroys
    in_lake: bool = False  # the database is a DuckLake (asked once, in ``start``)
    lake_from: int | None = None  # on a lake, the snapshot the migration's transaction reads
    ran: list[str] = field(default_factory=list)  # the statements that renamed or made tables (diff.followed)
    # The columns (lower case) this migration added, by table as named now: a copy taken after holds
    # the table as it was before the migration, without them.
    added: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    # A preview's: keep nothing, only collect, into ``touched`` ({(schema, table) lower: temp table},
    # shared by the migrations of one preview), the keys of the rows each statement read exactly
    # matches (``touched_keys``).
    collect: bool = False
    touched: dict[tuple[str, str], str] = field(default_factory=dict)
    followed: bool = False  # ``plan`` read every statement (and ``named`` holds every table they change)
    named: set[tuple[str, str]] = field(default_factory=set)

    def plan(self, conn, steps) -> None:
        """Choose, from all of a SQL migration's statements (``steps``: (line, sql, kinds)), the tables
        kept statement by statement: those with a primary key that only statements read exactly
        (losses.py) change, each naming a column of theirs that is no key. Every other table is
        kept as today, by a whole copy compared after. Nothing is chosen where a statement's target
        cannot be told (a type not followed, a write whose table is not read, a name that is not
        one table)."""
        if not self.settings.on or self.lake_from is not None or not any(destroys(sql, kinds) for _, sql, kinds in steps):
            return  # nothing destroyed: nothing to read (a file of many INSERTs is not tokenized again)
        named = self.named
        tables = {oid: t for oid, t in catalog.tables(conn).items() if t.schema != SCHEMA}
        readable: dict[int, Table] = {oid: t for oid, t in tables.items() if t.primary_key}
        blocked: set[int] = set()
        read: dict[str, losses.Loss] = {}
        # Of each table, its columns from before the migration that no statement dropped yet: a
        # statement kept statement by statement names only those (a column added here holds nothing
        # of before, and one dropped and added again is another column).
        left: dict[int, set[str]] = {}
        for _, sql, kinds in steps:
            first = _FIRST.match(sql)
            word = first[1].upper() if first else ""
            # An ALTER that adds a column or a constraint, or sets or drops a default or NOT NULL, changes
            # no value: the statements around it are kept as they would be without it. (DuckDB 1.x types
            # an added column with a default as the ALTER and the UPDATE that fills it.)
            if word == "ALTER" and statements.changed_tables(sql) and not destroys(sql, kinds) and not renames(sql):
                continue
            if not kinds <= _FOLLOWED:
                return
            names = statements.changed_tables(sql)
            if not names and kinds & {"INSERT", "UPDATE", "DELETE", "ALTER", "DROP"}:
                return
            loss = losses.read(sql) if word in ("DELETE", "UPDATE", "ALTER") else None
            for name in names:
                if len(name) == 3 and name[0].lower() != self.database.lower():
                    continue
                table = _resolve(tables, name, self.schema)
                if table is None:
                    if len(name) == 1 and any(t.name.lower() == name[0].lower() for t in tables.values()):
                        return  # a name DuckDB may resolve otherwise than read here
                    continue
                named.add(_lower(table))
                columns = left.setdefault(table.oid, {c.name.lower() for c in table.columns})
                if loss is None or len(names) != 1 or not _fits(loss, table, columns) or not losses.exact(conn, loss):
                    blocked.add(table.oid)
                else:
                    read[sql] = loss
                    if loss.kind == "column":
                        columns.discard(loss.columns[0].lower())
        self.read = read
        for oid, t in readable.items():
            count = sum(1 for _, sql, _ in steps if sql in read and _resolve(tables, read[sql].table, self.schema) is t)
            if oid not in blocked and 0 < count <= _MOST_STEPS:
                self.logged[_lower(t)] = Logged(t, [c.name for c in t.columns])
        self.followed = True

    def _targets(self, conn, sql: str) -> list[tuple[str, ...]]:
        """The tables a statement changes, as named in it, and those a ``DROP ... CASCADE`` drops with
        what it names (``_cascaded``)."""
        names = statements.changed_tables(sql)
        dropped = statements.cascaded_drop(sql)
        return names if dropped is None else names + self._cascaded(conn, *dropped)

    def _cascaded(self, conn, kind: str, names: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """The tables of this database that ``DROP <kind> <names> CASCADE`` drops: those in a dropped
        schema, and every table that depends, through DuckDB's own record of dependencies, on an object
        it drops. An object named without its schema is looked for in every schema: copying a table
        the statement spares costs time, missing one it drops would lose its rows."""
        db = self.database.lower()
        if kind == "SCHEMA":
            schemas = [n[-1].lower() for n in names if len(n) == 1 or n[0].lower() == db]
            if not schemas:
                return []
            where = f"lower(schema_name) IN ({', '.join(map(literal, schemas))})"
        else:
            tests = [f"(lower({{name}}) = {literal(n[-1].lower())}"
                     + (f" AND lower(schema_name) = {literal(n[-2].lower())})" if len(n) > 1 else ")")
                     for n in names if len(n) < 3 or n[0].lower() == db]
            if not tests:
                return []
            where = " OR ".join(tests)
        found = [f"SELECT {oid} AS oid FROM {source}() WHERE database_name = {literal(self.database)} AND "
                 f"({where.format(name=name)})" for source, oid, name in _OBJECTS]
        reached = {r[0] for r in conn.execute(
            f"WITH RECURSIVE dropped(oid) AS ({' UNION ALL '.join(found)}), reached(oid) AS (SELECT oid FROM "
            "dropped UNION SELECT d.refobjid FROM duckdb_dependencies() d JOIN reached r ON d.objid = r.oid) "
            "SELECT oid FROM reached").fetchall()}
        return [(self.database, t.schema, t.name) for oid, t in catalog.tables(conn).items() if oid in reached]

    def _measure(self, runner, sql: str) -> None:
        names = self._targets(runner.conn, sql)
        if not names or self.measured is None:
            return
        current = catalog.tables(runner.conn)
        for name in names:
            table = _resolve(current, name, self.schema)
            if table is not None and table.oid in self.existing and table.schema != SCHEMA \
                    and (table.schema, table.name) not in self.measured:
                self.measured[(table.schema, table.name)] = content_by_name(runner.conn, self.database, table)

    def start(self, conn) -> None:
        # A lake keeps every table as it was in its snapshots: nothing is copied, down reads the one
        # before the migration's. Not in a round trip (measured), whose up and down share a transaction.
        self.in_lake = lake.attached(conn, self.database)
        if self.settings.on and self.measured is None and self.in_lake:
            self.lake_from = conn.execute(f"SELECT id FROM {quote(self.database)}.current_snapshot()").fetchone()[0]
        if self.generate or self.measured is not None:
            self.before_tables = catalog.tables(conn)
            self.existing = set(self.before_tables)
        if self.generate:
            self.before_catalog = catalog.read(conn)

    def before(self, runner, sql: str, kinds: frozenset[str] | None) -> None:
        """Called before each statement of the migration runs."""
        try:
            self._copy_before(runner, sql, kinds)
        finally:
            self._follow(sql)

    def _key(self, name: tuple[str, ...]) -> tuple[str, str]:
        return (name[-2] if len(name) > 1 else self.schema).lower(), name[-1].lower()

    def _follow(self, sql: str) -> None:
        """Carry the tables handled through the renames ``sql`` makes; add those it makes."""
        renamed = statements.table_rename(sql)
        if renamed is not None or statements.made_tables(sql):
            self.ran.append(sql)
        if renamed is not None and self._key(renamed[0]) in self.handled:
            old = self._key(renamed[0])
            self.handled.discard(old)
            self.handled.add((old[0], renamed[1].lower()))
        if renamed is not None and self._key(renamed[0]) in self.added:
            old = self._key(renamed[0])
            self.added[(old[0], renamed[1].lower())] = self.added.pop(old)
        if (column := statements.added_column(sql)) is not None:
            self.added.setdefault(self._key(column[0]), set()).add(column[1].lower())
        for name in statements.made_tables(sql):
            self.handled.add(self._key(name))

    def _copy_before(self, runner, sql: str, kinds: frozenset[str] | None) -> None:
        if self.measured is not None:
            self._measure(runner, sql)
        renamed = statements.column_rename(sql)
        if renamed:  # a rename destroys nothing, but the generated downgrade must read it as one
            self.renames.setdefault(renamed.table, []).append((renamed.old, renamed.new))
            added = self.added.get(self._key(renamed.table), set())
            if renamed.old.lower() in added:
                added.discard(renamed.old.lower())
                added.add(renamed.new.lower())
        if not (destroys(sql, kinds) or renames(sql)):
            return  # a renamed table is copied as it was named, for a later statement may destroy some of it
        names = self._targets(runner.conn, sql)
        if not names:
            return
        current = None
        for name in names:
            if len(name) == 3 and name[0].lower() != self.database.lower():
                continue  # another database's table: not this migration's to keep
            if current is None:
                current = catalog.tables(runner.conn)
            table = _resolve(current, name, self.schema)
            if table is not None and _lower(table) in self.logged:
                self._log(runner, self.logged[_lower(table)], sql)
                continue
            if self.collect:
                continue  # a preview copies nothing
            if table is None or table.oid in self.copies or table.schema == SCHEMA or _lower(table) in self.handled:
                continue
            self.handled.add(_lower(table))
            picked = "*"
            if new := self.added.get(_lower(table)):  # the table as it was: without what this migration added
                table = dataclasses.replace(table, columns=tuple(c for c in table.columns if c.name.lower() not in new))
                picked = ", ".join(quote(c.name) for c in table.columns)
            if self.lake_from is not None:
                self.copies[table.oid] = Copy(table, "", snapshot=True)
                continue
            rows = runner.conn.execute(
                "SELECT estimated_size FROM duckdb_tables() WHERE database_name = current_database() "
                f"AND table_oid = {table.oid}").fetchone()
            if rows and rows[0] > self.settings.limit:
                self.skipped.append(f"{table.label} ({rows[0]:,} rows)")
                self.copies[table.oid] = Copy(table, "")
                continue
            copy = f"duckmig_before_{os.getpid()}_{next(_names)}"
            runner.keep_statement(f"CREATE TEMP TABLE {copy} AS SELECT {picked} FROM {self._name(table)}")
            self.copies[table.oid] = Copy(table, copy)

    def _name(self, table: Table) -> str:
        return f"{quote(self.database)}.{table.qualified}"

    def batchable(self) -> bool:
        """Whether the statements may run as one script after ``before`` saw them all: not where a
        table is kept statement by statement (each must be read just before it runs)."""
        return not self.logged

    def _log(self, runner, logged: Logged, sql: str) -> None:
        """Keep what ``sql`` (read exactly when planned) destroys of a table kept statement by statement."""
        loss = self.read.get(sql)
        if loss is None:  # planned from the same statements: another text here means a wrapper ran it
            raise errors.StateError(
                f"{self.version}: duckmig could not follow `{errors.cut(sql, 60)}` to keep what it destroys of "
                f"{logged.table.label}; nothing was applied", "turn keeping off for this migration with "
                "{flag:no-keep}, or write the statement in the migration itself")
        t = logged.table
        if self.collect:
            self._collect(runner, logged, loss)
            return
        if not logged.steps:
            _ensure(runner, self.database)
        # A table of its own, of the columns it holds alone: no column of NULLs, no column saying which
        # statement (written in one table, those took more than half of a dropped column's copy).
        kept = self._kept_name(runner, f"{self.version}.{t.label}#{len(logged.steps) + 1}")
        columns = {c.lower(): c for c in logged.columns}
        if loss.kind == "removed":  # its columns from before: not one this migration added
            picked = ", ".join(quote(c) for c in logged.columns)
        else:
            held = list(t.primary_key) + [columns[c.lower()] for c in dict.fromkeys(loss.columns)]
            picked = ", ".join(quote(c) for c in held)
        runner.keep_statement(f"CREATE TABLE {kept} AS SELECT {picked} {loss.source}")
        logged.steps.append((loss.kind, kept))
        if loss.kind == "column":
            logged.columns = [c for c in logged.columns if c.lower() != loss.columns[0].lower()]

    def _collect(self, runner, logged: Logged, loss: losses.Loss) -> None:
        """Note the keys of the rows a DELETE or an UPDATE read exactly matches, before it runs."""
        logged.steps.append((loss.kind, ""))
        if loss.kind not in ("removed", "changed"):
            logged.whole = True  # a dropped column: every row lost a value
            return
        key = ", ".join(quote(k) for k in logged.table.primary_key)
        into = self.touched.get(_lower(logged.table))
        if into is None:
            into = self.touched[_lower(logged.table)] = f"temp.main.duckmig_touched_{os.getpid()}_{next(_names)}"
            runner.keep_statement(f"CREATE TEMP TABLE {into.removeprefix('temp.main.')} AS SELECT {key} {loss.source}")
        else:
            runner.keep_statement(f"INSERT INTO {into} SELECT {key} {loss.source}")

    def finish(self, runner) -> None:
        """Compare each copy with its table now, keep the difference, drop the copy."""
        conn = runner.conn
        if self.skipped:
            warnings.warn(KeptNothing(
                f"{self.version}: kept nothing of {', '.join(self.skipped)}: larger than the keep limit of "
                f"{self.settings.limit:,} rows, so its downgrade can restore the schema only"), stacklevel=2)
        copies = [c for c in self.copies.values() if c.name or c.snapshot]
        logged = [g for g in self.logged.values() if g.steps]
        if not copies and not self.skipped and not logged:
            return  # nothing destroyed: nothing of duckmig's is written (no downgrade generated either)
        after = catalog.tables(conn)
        if self.in_lake:  # an ALTER there gives a table a new oid: followed by name
            from . import diff

            after = diff.followed({oid: c.table for oid, c in self.copies.items()}, after, self.ran, self.schema)
        _ensure(runner, self.database)
        if self.generate:
            self._generated(runner, after)
        for c in self.copies.values():
            if c.snapshot:
                renames = [[list(name), pairs] for name, pairs in self.renames.items()]
                _record(runner, self.database, self.version, c.table, "", SNAPSHOT, [], [], [], 0, 0, "kept",
                        json.dumps({"from": self.lake_from, "table": dataclasses.asdict(c.table), "renames": renames,
                                    "ran": self.ran, "key": self.settings.key_of(c.table)},
                                   default=sorted))
                _define(runner, self.database, self.version, "", c.table)
                continue
            if not c.name:
                _record(runner, self.database, self.version, c.table, "", "none", [], [], [], 0, 0, "not kept",
                        "larger than the keep limit")
                continue
            self._keep(runner, c, after)
            runner.keep_statement(f"DROP TABLE temp.main.{c.name}")
        for g in logged:
            for kind, kept in g.steps:
                _finish_record(runner, self.database, self.version, g.table, kept, kind, list(g.table.primary_key),
                               [], [])

    def _kept_name(self, runner, wanted: str) -> str:
        """``wanted`` in duckmig's schema; where a table has that name already (a table "a.b" of main and
        a table b of schema a share a label), the first of "wanted (2)", "wanted (3)"... that is free."""
        taken = {r[0].lower() for r in runner.conn.execute(inline(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
            [self.database, SCHEMA])).fetchall()}
        name, n = wanted, 1
        while name.lower() in taken:
            n += 1
            name = f"{wanted} ({n})"
        return _at(self.database, name)

    def _given_key(self, runner, b: Table, pair, compared: list, source: str, a: str) -> list[str]:
        """The key given for ``b`` (``up --key``), where its columns are there before and after with
        their types and identify one row each on both sides; else none, said in a warning (the table
        is kept as whole rows)."""
        given = self.settings.key_of(b)
        if not given:
            return []
        names = {p.was.name.lower(): p.was.name for p in compared}
        missing = [k for k in given if k.lower() not in names]
        key = [names[k.lower()] for k in given if k.lower() in names]
        problem = ""
        if missing:
            problem = (f"its key columns must be there before and after the migration with their types, and "
                       f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not")
        else:
            # row(): a struct, so that a NULL in the key counts as a value (a count of one column skips NULLs)
            cols = ", ".join(quote(k) for k in key)
            now = ", ".join(_after_name(pair, k) for k in key)
            repeated = runner.conn.execute(
                f"SELECT (SELECT count(*) - count(DISTINCT row({cols})) FROM {source}), "
                f"(SELECT count(*) - count(DISTINCT row({now})) FROM {a})").fetchone()
            if any(repeated):
                problem = f"{', '.join(key)} identifies more than one row in it {'before' if repeated[0] else 'after'}"
        if problem:
            warnings.warn(KeptNothing(f"{self.version}: the key given for {b.label} is not used: {problem}; its "
                                      "rows are kept and matched as whole rows"), stacklevel=2)
            return []
        return key

    def _generated(self, runner, after: dict[int, Table]) -> None:
        from . import diff

        assert self.before_catalog is not None and self.propose is not None
        pairs = diff.match(self.before_catalog.tables, after, self.renames)
        for p in pairs:
            diff.choose_key(p, None)
        proposal = self.propose(pairs, self.before_catalog, catalog.read(runner.conn), [],
                                lake=self.in_lake)
        text = "\n".join([*proposal.statements, *[f"-- cannot be undone: {c}" for c in proposal.cannot
                                                 if not covered(c)], MARKER])
        runner.keep_statement(f"INSERT INTO {_at(self.database, DOWNGRADES)} VALUES "
                              f"({literal(self.version)}, {literal(text)})")

    def _keep(self, runner, c: Copy, after: dict[int, Table], source: str = "", at: str = "") -> None:
        """Keep what ``c``'s table lost: ``source`` names it as it was (default: the copy), ``at`` the
        lake snapshot of the table as the migration left it (default: as it is now)."""
        from . import diff

        b = c.table
        pair = diff.match({b.oid: b}, {oid: t for oid, t in after.items() if oid == b.oid or
                                        (t.schema, t.name) == (b.schema, b.name) and oid not in self.copies},
                          self.renames)[0]
        if pair.before is None:  # matched by name only: the one pair of the table before is the other
            pair = next(p for p in diff.match({b.oid: b}, {}, {}) if p.before is not None)
        kept = self._kept_name(runner, f"{self.version}.{b.label}")
        source = source or f"temp.main.{c.name}"
        names = [col.name for col in b.columns]
        cols = ", ".join(quote(n) for n in names)
        if pair.after is None or pair.replaced:
            runner.keep_statement(f"CREATE TABLE {kept} AS SELECT *, 'removed' AS {CHANGE} FROM {source}")
            _finish_record(runner, self.database, self.version, b, kept, "table", [], [], [])
            return
        a = f"{quote(self.database)}.{pair.now.qualified}"
        if at:  # a subquery: DuckDB takes no alias after AT (...)
            a = f"(SELECT * FROM {a}{at})"
        retyped = [p for p in pair.columns if p.before is not None and (p.after is None or p.type_changed)]
        compared = [p for p in pair.columns if p.compared and not p.type_changed]
        key = [k for k in b.primary_key if any(p.was.name == k for p in compared)]
        primary = bool(key) and len(key) == len(b.primary_key)
        if not primary:
            key = self._given_key(runner, b, pair, compared, source, a)
        if key:
            # A primary key holds no NULL, and `=` joins faster; a key given may hold NULLs.
            same = "=" if primary else "IS NOT DISTINCT FROM"
            on = " AND ".join(f"b.{quote(k)} {same} a.{_after_name(pair, k)}" for k in key)
            values = [p for p in compared if p.was.name not in key]
            # Compared by a hash of the values, as the preview compares rows: far cheaper in a join than a
            # chain of IS DISTINCT FROM (a changed row whose 64-bit hash is unchanged is not told apart).
            differs = (f"{_hash([f'b.{quote(p.was.name)}' for p in values])} <> a.duckmig_h") if values else "false"
            # One join classifies every row before (removed, changed, or the same, whose dropped or
            # retyped values are kept) and writes what is kept of it.
            wanted = ", ".join(_after_name(pair, k) for k in key)
            held = key + [p.was.name for p in retyped]
            classified = (f"SELECT b.*, CASE WHEN a.duckmig_present IS NULL THEN 'removed' WHEN {differs} THEN "
                          f"'changed' ELSE 'column' END AS duckmig_change FROM {source} b LEFT JOIN "
                          f"(SELECT {wanted}, {_hash([quote(p.now.name) for p in values])} AS duckmig_h, "
                          f"true AS duckmig_present FROM {a}) a ON {on}")
            runner.keep_statement(
                f"CREATE TABLE {kept} AS SELECT "
                + ", ".join(f"{quote(n)}" if n in held else f"CASE WHEN duckmig_change <> 'column' THEN {quote(n)} "
                            f"END AS {quote(n)}" for n in names)
                + f", duckmig_change AS {CHANGE} FROM ({classified})"
                + ("" if retyped else " WHERE duckmig_change <> 'column'"))
            key_after = ", ".join(f"a.{_after_name(pair, k)} AS {quote(k)}" for k in key)
            # Rows the migration added: as many as the table gained beyond the rows it kept of those before.
            gained = runner.conn.execute(
                f"SELECT (SELECT count(*) FROM {a}) - (SELECT count(*) FROM {source}) + (SELECT count(*) FROM "
                f"{kept} WHERE {CHANGE} = 'removed')").fetchone()[0]
            if gained:
                runner.keep_statement(
                    f"INSERT INTO {kept} BY NAME SELECT {key_after}, 'added' AS {CHANGE} FROM {a} a "
                    f"ANTI JOIN {source} b ON {on}")
            _finish_record(runner, self.database, self.version, b, kept, "key", key,
                           [p.was.name for p in values], [p.was.name for p in retyped])
            return
        # No key: rows as a multiset of the columns there before and after.
        matched = [p.was.name for p in compared]
        b_hash = _hash([f"b.{quote(p.was.name)}" for p in compared])
        a_hash = _hash([f"a.{quote(p.now.name)}" for p in compared])
        a_cols = ", ".join(f"a.{quote(p.now.name)} AS {quote(p.was.name)}" for p in compared)
        if retyped:  # every row lost a value: all of them go back, in place of all the migration left
            runner.keep_statement(f"CREATE TABLE {kept} AS SELECT *, 'removed' AS {CHANGE} FROM {source}")
            runner.keep_statement(f"INSERT INTO {kept} BY NAME SELECT {a_cols}{', ' if a_cols else ''}"
                                  f"'added' AS {CHANGE} FROM {a} a")
        else:
            numbered_b = (f"(SELECT b.*, {b_hash} AS duckmig_h, row_number() OVER (PARTITION BY {b_hash}) AS "
                          f"duckmig_n FROM {source} b)")
            numbered_a = (f"(SELECT a.*, {a_hash} AS duckmig_h, row_number() OVER (PARTITION BY {a_hash}) AS "
                          f"duckmig_n FROM {a} a)")
            counts = (f"(SELECT coalesce(x.h, y.h) AS h, coalesce(x.n, 0) AS nb, coalesce(y.n, 0) AS na FROM "
                      f"(SELECT {b_hash} AS h, count(*) AS n FROM {source} b GROUP BY 1) x FULL JOIN "
                      f"(SELECT {a_hash} AS h, count(*) AS n FROM {a} a GROUP BY 1) y ON x.h = y.h "
                      "WHERE coalesce(x.n, 0) <> coalesce(y.n, 0))")
            runner.keep_statement(
                f"CREATE TABLE {kept} AS SELECT {', '.join(f'b.{quote(n)}' for n in names)}, 'removed' AS {CHANGE} "
                f"FROM {numbered_b} b JOIN {counts} d ON b.duckmig_h = d.h AND b.duckmig_n <= d.nb - d.na")
            runner.keep_statement(
                f"INSERT INTO {kept} BY NAME SELECT {a_cols}{', ' if a_cols else ''}'added' AS {CHANGE} "
                f"FROM {numbered_a} a JOIN {counts} d ON a.duckmig_h = d.h AND a.duckmig_n <= d.na - d.nb")
        # The columns it dropped or retyped are named: an empty table's kept data still has them added back.
        _finish_record(runner, self.database, self.version, b, kept, "rows", [], matched,
                       [p.was.name for p in retyped])
        del cols


def check_keys(keys) -> dict[str, list[str]]:
    """``{"table": ["c1", "c2"]}`` (a comma-separated string is taken too), names stripped."""
    if keys is None:
        return {}
    out = {}
    for table, columns in dict(keys).items():
        if isinstance(columns, str):
            columns = columns.split(",")
        columns = [c.strip() for c in columns if c.strip()]
        if not str(table).strip() or not columns:
            raise errors.ConfigError(f"the key given for table {str(table)!r} names no column",
                                     "name the columns that identify a row, for example {'events': ['day', 'seq']}")
        out[str(table).strip()] = columns
    return out


def touched_keys(keepers: list[Keeper | None]) -> dict[tuple[str, str], str]:
    """Of a preview's migrations, run with collecting keepers (None: one whose statements cannot be
    read, a Python migration's): {(schema, table) lower: the temp table of the keys of every row
    they may have changed}, for each table whose every change was a DELETE or an UPDATE read
    exactly. The rows of such a table outside those keys are as they were."""
    if not keepers or any(k is None or not k.followed for k in keepers):
        return {}
    found = {}
    for name, into in (keepers[0].touched if keepers[0] is not None else {}).items():
        if all(name not in k.named or (name in k.logged and not k.logged[name].whole)
               for k in keepers if k is not None):
            found[name] = into
    return found


def _lower(table: Table) -> tuple[str, str]:
    return table.schema.lower(), table.name.lower()


def _fits(loss: losses.Loss, table: Table, names: set[str]) -> bool:
    """Whether the columns ``loss`` names are among ``names`` (``table``'s, lower case) and none of its
    key (an UPDATE of a key, or a key dropped, moves rows that the key would no longer find)."""
    key = {k.lower() for k in table.primary_key}
    wanted = [c.lower() for c in loss.columns]
    return all(c in names and c not in key for c in wanted)


def _after_name(pair: diff.Pair, before_name: str) -> str:
    return quote(next(p.now.name for p in pair.columns if p.before is not None and p.was.name == before_name))


def _hash(exprs: list[str]) -> str:
    return f"hash({', '.join(exprs)})" if exprs else "0::UBIGINT"


def _resolve(tables: dict[int, Table], name: tuple[str, ...], schema: str) -> Table | None:
    wanted = name[-1].lower()
    in_schema = (name[-2] if len(name) > 1 else schema).lower()
    for t in tables.values():
        if t.name.lower() == wanted and t.schema.lower() == in_schema:
            return t
    if len(name) == 1:  # DuckDB looks in the other schemas of the search path too
        found = [t for t in tables.values() if t.name.lower() == wanted]
        return found[0] if len(found) == 1 else None
    return None


def covered(cannot: str) -> bool:
    """Whether a "cannot be undone" of the schema downgrade is about data that keeping brings back."""
    return any(words in cannot for words in ("cannot be brought back", "cannot restore rows", "turned NULL"))


# -- the record ------------------------------------------------------------------------------


def _at(database: str, name: str) -> str:
    return f"{quote(database)}.{quote(SCHEMA)}.{quote(name)}"


def _ensure(runner, database: str) -> None:
    runner.keep_statement(f"CREATE SCHEMA IF NOT EXISTS {quote(database)}.{quote(SCHEMA)}")
    runner.keep_statement(
        f"CREATE TABLE IF NOT EXISTS {_at(database, RECORD)} (version VARCHAR, table_schema VARCHAR, "
        "table_name VARCHAR, kept_table VARCHAR, mode VARCHAR, key VARCHAR[], value_columns VARCHAR[], "
        "column_values VARCHAR[], rows BIGINT, content HUGEINT, shape VARCHAR, state VARCHAR, note VARCHAR, "
        "kept_at TIMESTAMP DEFAULT current_timestamp, definition VARCHAR)")
    runner.keep_statement(f"CREATE TABLE IF NOT EXISTS {_at(database, DOWNGRADES)} (version VARCHAR, "
                          "downgrade VARCHAR)")


def _array(names: list[str]) -> str:
    return "[" + ", ".join(literal(n) for n in names) + "]::VARCHAR[]"


def _record(runner, database, version, table: Table, kept, mode, key, values, column_values, rows, content,
            state, note=None) -> None:
    runner.keep_statement(
        f"INSERT INTO {_at(database, RECORD)} (version, table_schema, table_name, kept_table, mode, key, "
        f"value_columns, column_values, rows, content, shape, state, note) VALUES ({literal(version)}, "
        f"{literal(table.schema)}, {literal(table.name)}, {literal(kept)}, {literal(mode)}, {_array(key)}, "
        f"{_array(values)}, {_array(column_values)}, {rows}, {content}, NULL, {literal(state)}, "
        f"{literal(note) if note else 'NULL'})")


def _finish_record(runner, database, version, table: Table, kept, mode, key, values, column_values) -> None:
    rows, content = content_of(runner.conn, kept)
    if not rows and mode not in ("table", "column") and not column_values:
        # The statements that might have destroyed rows of it destroyed none (an ALTER ... SET NOT NULL):
        # an empty kept table would only be listed by `kept` and carried to the downgrade for nothing.
        # (A dropped or retyped column's is kept even empty: its record has the restore add the column.)
        runner.keep_statement(f"DROP TABLE {kept}")
        return
    _record(runner, database, version, table, kept, mode, key, values, column_values, rows, content, "kept")
    _define(runner, database, version, kept, table)
    runner.keep_statement(f"UPDATE {_at(database, RECORD)} SET shape = ({_shape_sql(kept)}) "
                          f"WHERE kept_table = {literal(kept)} AND version = {literal(version)}")


def _define(runner, database: str, version: str, kept: str, table: Table) -> None:
    runner.keep_statement(f"UPDATE {_at(database, RECORD)} SET definition = {literal(_definition(table))} "
                          f"WHERE kept_table = {literal(kept)} AND version = {literal(version)} AND "
                          f"table_schema = {literal(table.schema)} AND table_name = {literal(table.name)}")


def _definition(table: Table) -> str:
    """The table as it was, for a restore the downgrade left without it: its columns (type, default,
    NOT NULL) and its primary key, as JSON."""
    return json.dumps({"columns": [[c.name, c.type, c.default, c.nullable] for c in table.columns],
                       "key": list(table.primary_key)})


def content_by_name(conn, database: str, table: Table) -> tuple[int, int]:
    """(rows, a hash of the content as a multiset) of a table, its columns taken by name: a column
    added back at the end holds the same content as where it was."""
    names = sorted(c.name for c in table.columns)
    h = _hash([quote(n) for n in names])
    return conn.execute(f"SELECT count(*), coalesce(sum({h}), 0)::HUGEINT FROM "
                        f"{quote(database)}.{table.qualified}").fetchone()


def content_of(conn, table_sql: str) -> tuple[int, int]:
    """(rows, a hash of the content as a multiset) of a table named in SQL."""
    rows, content = conn.execute(f"SELECT count(*), coalesce(sum(hash(duckmig_row)), 0)::HUGEINT "
                                 f"FROM {table_sql} AS duckmig_row").fetchone()
    return rows, content


def _shape_sql(kept: str) -> str:
    return (f"SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) FROM duckdb_columns() "
            f"WHERE database_name = {literal(_unquoted_parts(kept)[0])} AND schema_name = {literal(SCHEMA)} "
            f"AND table_name = {literal(_unquoted_parts(kept)[2])}")


def _unquoted_parts(qualified: str) -> list[str]:
    return [p.replace('""', '"') for p in re.findall(r'"((?:[^"]|"")*)"', qualified)]


def exists(conn, database: str) -> bool:
    """Whether ``database`` has keeping's record. (Values written into the text, as ``listing`` does.)"""
    return conn.execute(f"SELECT count(*) FROM duckdb_tables() WHERE database_name = {literal(database)} AND "
                        f"schema_name = {literal(SCHEMA)} AND table_name = {literal(RECORD)}").fetchone()[0] > 0


# The state of a record whose kept table is not a table of duckmig's schema as keeping names one: the
# database may have been written by anyone, and the name goes into SQL as it stands.
ALTERED = "altered"


def _rows(conn, database: str, version: str | None = None) -> list[tuple]:
    """The records (of ``version``), each table's statements' kept tables the last first. A record
    whose kept table is not named as keeping names one is in state ``ALTERED``: nothing runs its name."""
    if not exists(conn, database):
        return []
    where = f" WHERE version = {literal(version)}" if version is not None else ""
    rows = conn.execute(f"SELECT version, table_schema, table_name, kept_table, mode, key, value_columns, "
                        f"column_values, rows, content, shape, state FROM {_at(database, RECORD)}{where} "
                        "ORDER BY version, table_schema, table_name, "
                        # a table's statements' kept tables, the last first: down takes them back in that order
                        # (a name taken already has " (2)" after its number: _kept_name)
                        "TRY_CAST(regexp_extract(kept_table, '#([0-9]+)( \\([0-9]+\\))?\"$', 1) AS INTEGER) DESC"
                        ).fetchall()
    return [r if r[11] != "kept" or r[4] == SNAPSHOT or _ours(database, r[3]) else (*r[:11], ALTERED) for r in rows]


def _ours(database: str, kept) -> bool:
    """Whether ``kept`` names a table of duckmig's schema in ``database``, quoted as keeping quotes it."""
    parts = _unquoted_parts(kept) if isinstance(kept, str) else []
    return len(parts) == 3 and kept == _at(database, parts[2])


def generated(conn, database: str, version: str) -> str | None:
    """The downgrade generated for ``version`` when it was applied without one, if any."""
    if not exists(conn, database):
        return None
    row = conn.execute(f"SELECT downgrade FROM {_at(database, DOWNGRADES)} WHERE version = {literal(version)}").fetchone()
    return row[0] if row else None


# -- listing and pruning ------------------------------------------------------------------------


def listing(conn, database: str) -> list[Kept]:
    """One row a table a version kept (a table kept statement by statement sums its kept tables)."""
    out: dict[tuple[str, str], Kept] = {}
    # The kept tables there, asked once: a storage query of one that is gone would abort the transaction.
    # Written into the text, not bound: duckdb 1.x loads pandas and numpy to bind a process's first
    # parameter, which would be most of the time of every `duckmig status`.
    there = {_at(database, r[0]) for r in conn.execute(
        f"SELECT table_name FROM duckdb_tables() WHERE database_name = {literal(database)} "
        f"AND schema_name = {literal(SCHEMA)}").fetchall()}
    if _at(database, RECORD) not in there:  # nothing ever kept here: no second catalog query (exists) to say so
        return []
    for version, schema, name, kept, mode, *_rest, rows, _content, _shape, state in _rows(conn, database):
        label = name if schema == "main" else f"{schema}.{name}"
        if mode == SNAPSHOT:  # nothing copied: counted only when down reads the snapshot
            out[(version, label)] = Kept(version, label, None, 0, IN_SNAPSHOTS if state == "kept" else state)
            continue
        k = Kept(version, label, rows or 0, _bytes(conn, kept) if state == "kept" and kept in there else 0, state)
        if (version, label) in out:
            was = out[(version, label)]
            k = Kept(version, label, (was.rows or 0) + (k.rows or 0), was.bytes + k.bytes, was.state)
        out[(version, label)] = k
    return list(out.values())


def _bytes(conn, kept: str) -> int:
    """The storage its columns take: whole blocks where they are written to disk, else an estimate
    of 8 bytes a value (a kept table not yet checkpointed). ``kept`` must be there (``listing`` asks)."""
    import duckdb

    try:
        blocks, unwritten, size = conn.execute(
            f"SELECT count(DISTINCT block_id) FILTER (WHERE persistent), sum(count) FILTER (WHERE NOT persistent "
            f"AND segment_type <> 'VALIDITY'), (SELECT block_size FROM pragma_database_size() LIMIT 1) "
            f"FROM pragma_storage_info({literal(kept)})").fetchone()
    except duckdb.Error:
        return 0
    return int((blocks or 0) * (size or 262144) + (unwritten or 0) * 8)


def prune(runner, database: str, through: str | None) -> list[Kept]:
    """Forget the kept data of every version (through ``through``); returns what was freed."""
    freed = [k for k in listing(runner.conn, database) if k.state in ("kept", IN_SNAPSHOTS)
             and (through is None or k.version <= through)]
    for row in _rows(runner.conn, database):
        version, kept, state = row[0], row[3], row[11]
        if state == "kept" and kept and (through is None or version <= through):
            runner.keep_statement(f"DROP TABLE IF EXISTS {kept}")
    if freed:
        versions = ", ".join(literal(v) for v in sorted({k.version for k in freed}))
        runner.keep_statement(f"UPDATE {_at(database, RECORD)} SET state = 'pruned', rows = 0 "
                              f"WHERE state = 'kept' AND version IN ({versions})")
    return freed


# -- down ----------------------------------------------------------------------------------------


def check(conn, database: str, version: str) -> list[str]:
    """What of ``version``'s kept data cannot be restored as it was kept (missing, altered, other
    rows); empty when all of it can. Says, in a Restoring warning, what was pruned or never kept."""
    problems, pruned = [], []
    for _v, schema, name, kept, _mode, *_cols, rows, content, shape, state in _rows(conn, database, version):
        label = name if schema == "main" else f"{schema}.{name}"
        if state == ALTERED:
            problems.append(f"the record of what {version} kept of {label} was altered: it names {kept!r}, no table "
                            "of duckmig's")
            continue
        if state != "kept":
            pruned.append(f"{label} ({'pruned' if state == 'pruned' else 'not kept: too large'})")
            continue
        if _mode == SNAPSHOT:
            if _snapshot_note(conn, database, version, schema, name) is None:
                problems.append(f"the record of what {version} destroyed of {label} was altered")
            elif (found_in := _snapshots(conn, database, version)) is None:
                problems.append(f"the lake has no snapshot in which {version} was applied")
            elif found_in[0] is None:
                pruned.append(f"{label} (the lake's snapshot before it expired)")
            continue
        parts = _unquoted_parts(kept)
        found = conn.execute(_shape_sql(kept)).fetchone()[0]
        if found is None:
            problems.append(f"the kept data of {label} ({kept}) is gone")
        elif found != shape:
            problems.append(f"the kept data of {label} ({kept}) was altered: its columns are {found}, not {shape}")
        elif content_of(conn, kept) != (rows, content):
            problems.append(f"the kept data of {label} ({kept}) holds other rows than duckmig kept")
        del parts
    if pruned:
        warnings.warn(Restoring(f"{version}: its kept data of {', '.join(pruned)} is not there: its downgrade "
                                "reverts the schema only"), stacklevel=2)
    return problems


def _snapshots(conn, database: str, version: str) -> tuple[int | None, int] | None:
    """On a lake, (the snapshot before ``version``'s, ``version``'s): the one in which its record of
    kept data first shows, found by halving the snapshots taken since its transaction began, and
    the one the lake took just before (None: expired). None: no snapshot shows it."""
    import duckdb

    db = quote(database)
    began = conn.execute(f"SELECT min(CASE WHEN json_valid(note) THEN TRY_CAST(json_extract(note, '$.from') AS BIGINT) "
                         f"END) FROM {_at(database, RECORD)} "
                         f"WHERE version = {literal(version)} AND mode = {literal(SNAPSHOT)}").fetchone()[0]
    ids = [r[0] for r in conn.execute(f"SELECT snapshot_id FROM {db}.snapshots() WHERE snapshot_id > "
                                      f"{value(began)} ORDER BY 1").fetchall()]

    def shows(snapshot: int) -> bool:
        try:
            return conn.execute(f"SELECT count(*) FROM {_at(database, RECORD)} AT (VERSION => {snapshot}) "
                                f"WHERE version = {literal(version)} AND mode = {literal(SNAPSHOT)}").fetchone()[0] > 0
        except duckdb.CatalogException:  # duckmig's schema not made yet then
            return False

    low, high = 0, len(ids)
    while low < high:  # once recorded, a record stays until down forgets it
        middle = (low + high) // 2
        low, high = (low, middle) if shows(ids[middle]) else (middle + 1, high)
    if low == len(ids):
        return None
    before = conn.execute(f"SELECT max(snapshot_id) FROM {db}.snapshots() WHERE snapshot_id < {int(ids[low])}"
                          ).fetchone()[0]
    return (before if before is not None and before >= began else None), ids[low]


def _snapshot_note(conn, database: str, version: str, schema: str, name: str):
    """(the table as it was, the column renames, the statements that renamed or made tables, the key
    given for it) of a table a lake's snapshots hold, from its record's note; None where the note is not as keeping
    wrote it (the database may have been written by anyone)."""
    row = conn.execute(f"SELECT note FROM {_at(database, RECORD)} " + inline(
        "WHERE version = ? AND mode = ? AND table_schema = ? AND table_name = ?", [version, SNAPSHOT, schema, name])
    ).fetchone()
    try:
        note = json.loads(row[0])
        t = note["table"]
        # oid -1: no table of this connection's catalog (an oid is the connection's, not the lake's)
        table = Table(**{**t, "oid": -1, "columns": tuple(catalog.Column(**c) for c in t["columns"]),
                         **{k: tuple(t[k]) for k in ("primary_key", "references", "constraints")},
                         "constrained": frozenset(t["constrained"]), "uses": frozenset(t["uses"])})
        renames = {tuple(n): [(str(a), str(b)) for a, b in pairs] for n, pairs in note["renames"]}
        ran = [str(sql) for sql in note["ran"]]
        key = note.get("key") or []
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
    if (table.schema, table.name) != (schema, name) or not all(isinstance(c.name, str) for c in table.columns) \
            or not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        return None
    return table, renames, ran, key


def unrestored(conn, database: str, version: str) -> None:
    """Say, before a downgrade that does not ask for its kept data back runs, what of it is then
    forgotten: a hand-written downgrade may have read it itself, or may have meant to restore it. (A
    lake's snapshots hold what they hold whatever duckmig forgets: nothing is said of them.)"""
    held = [k for k in listing(conn, database) if k.version == version and k.state == "kept"]
    if not held:
        return
    what = ", ".join(f"{k.table} ({k.rows:,} rows)" for k in held)
    warnings.warn(Restoring(
        f"{version}: its downgrade does not ask for the data it kept back, so what it kept of {what} is forgotten "
        "once the downgrade runs (a downgrade that puts it back ends its down section with `-- migrate:restore`, or "
        "has `restore = True` on its Python class)"), stacklevel=3)


def prepare(runner, database: str, version: str) -> None:
    """Before ``version``'s downgrade runs on a lake: turn each table its snapshots hold into kept
    data as keeping writes it (the lake's table before the migration's snapshot against the table
    in it), so that ``restore`` puts it back after the downgrade's statements."""
    rows = [r for r in _rows(runner.conn, database, version) if r[4] == SNAPSHOT and r[11] == "kept"]
    if not rows:
        return
    found_in = _snapshots(runner.conn, database, version)
    if found_in is None or found_in[0] is None:
        return  # check() said so
    from . import diff

    before, applied = found_in
    now = catalog.tables(runner.conn)
    for _v, schema, name, *_rest in rows:
        read = _snapshot_note(runner.conn, database, version, schema, name)
        if read is None:
            return  # check() said so
        table, renames, ran, key = read
        keeper = Keeper(version, database, runner.place.schema, renames=renames,
                        settings=Settings(keys={table.label: key} if key else {}))
        after = diff.followed({table.oid: table}, now, ran, runner.place.schema)
        runner.execute(f"DELETE FROM {_at(database, RECORD)} WHERE version = {literal(version)} AND mode = "
                       f"{literal(SNAPSHOT)} AND table_schema = {literal(schema)} AND table_name = {literal(name)}")
        keeper._keep(runner, Copy(table, "", snapshot=True), after,
                     f"(SELECT * FROM {quote(database)}.{table.qualified} AT (VERSION => {before}))",
                     f" AT (VERSION => {applied})")


def refuse(version: str, problems: list[str]) -> errors.StateError:
    return errors.StateError(
        f"{version} was not reverted: duckmig cannot restore what it kept: {'; '.join(problems)}; nothing was "
        "reverted", "to revert its schema only and leave its data as it is, forget its kept data with "
        "{do:prune} first")


def restore(runner, database: str, version: str) -> int:
    """Put back ``version``'s kept data (after its downgrade's statements ran), then forget it.
    Returns the statements run. Raises MigrationFailed where a table is not as the data needs."""
    import duckdb

    try:
        return _restore(runner, database, version)
    except duckdb.Error as exc:
        raise refusals.failed(version, None, f"{errors.first_line(str(exc))} (while putting back the data it "
                              "kept, after its downgrade's statements)", "down") from exc


def _restore(runner, database: str, version: str) -> int:
    import duckdb

    ran = 0
    for _v, schema, name, kept, mode, key, values, column_values, rows, _c, _s, state in _rows(
            runner.conn, database, version):
        if state != "kept" or mode == SNAPSHOT:  # a snapshot expired: check() said its data cannot come back
            continue
        table = f"{quote(database)}.{quote(schema)}.{quote(name)}"
        label = name if schema == "main" else f"{schema}.{name}"
        have = {r[0] for r in runner.conn.execute(inline(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ?",
            [database, schema, name])).fetchall()}
        names = [r[0] for r in runner.conn.execute(inline(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND schema_name = ? AND table_name = ? "
            "AND column_name <> ? ORDER BY column_index", [_unquoted_parts(kept)[0], SCHEMA, _unquoted_parts(kept)[2],
                                                           CHANGE])).fetchall()]
        missing = [n for n in names if n not in have] if have else []
        if mode == "table" and have and have != set(names):
            # Replaced (CREATE OR REPLACE) and not brought back by the downgrade: the table as it was is.
            runner.execute(f"DROP TABLE {table}")
            have, missing = set(), []
        not_null: list[str] = []
        if missing or not have:
            # The downgrade did not bring the schema back: the table as it was (kept with its data) is.
            definition = runner.conn.execute(f"SELECT definition FROM {_at(database, RECORD)} WHERE version = "
                                             f"{literal(version)} AND kept_table = {literal(kept)}").fetchone()[0]
            columns = {c[0]: c for c in json.loads(definition)["columns"]} if definition else {}
            if not have:
                key_of = json.loads(definition)["key"] if definition else []
                # Kept statement by statement, a kept table holds some of its columns: the table has them all.
                made = list(columns) if mode in _STATEMENT_MODES else names
                parts = [_column_sql(columns[n]) + ("" if columns[n][3] else " NOT NULL") for n in made]
                if key_of:
                    parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in key_of)})")
                runner.execute(_one_statement(runner.conn, f"CREATE TABLE {table} ({', '.join(parts)})", version))
            for n in missing:
                runner.execute(_one_statement(runner.conn, f"ALTER TABLE {table} ADD COLUMN {_column_sql(columns[n])}",
                                              version))
                if not columns[n][3]:
                    not_null.append(n)
            warnings.warn(Restoring(
                f"{version}: its downgrade left {'no table ' + label if not have else label + ' without ' + ', '.join(missing)}"
                ": brought back as it was, from what duckmig kept"), stacklevel=2)
        cols = ", ".join(quote(n) for n in names)
        for sql in _restoring(table, kept, mode, key, values, column_values, names, cols):
            cursor = runner.execute(sql)
            ran += 1
            if sql.startswith("DELETE") and mode == "rows":
                deleted = cursor.fetchone()[0]
                expected = runner.conn.execute(f"SELECT count(*) FROM {kept} WHERE {CHANGE} = 'added'").fetchone()[0]
                # A table the downgrade made anew (a lake's, rebuilt) holds none of them: nothing to take away.
                emptied = not deleted and not runner.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                if deleted != expected and not emptied:
                    raise errors.MigrationFailed(
                        version, None, f"cannot restore {label}: {expected - deleted} of the rows the migration "
                        "wrote changed since, and without a key nothing identifies them; nothing was reverted", "down")
        for n in not_null:  # once the values are back; DuckDB refuses it after updates in the transaction
            try:
                runner.execute(f"ALTER TABLE {table} ALTER COLUMN {quote(n)} SET NOT NULL")
            except duckdb.Error:
                warnings.warn(Restoring(f"{version}: {label}.{n} is back with its values, but not NOT NULL "
                                        "again (DuckDB sets it only in a transaction of its own): run "
                                        f"`ALTER TABLE {table} ALTER COLUMN {quote(n)} SET NOT NULL`"), stacklevel=2)
        runner.execute(f"DROP TABLE {kept}")
        del rows
    forget(runner, database, version)
    return ran


def forget(runner, database: str, version: str) -> None:
    """Drop what ``version`` kept and its record (it is reverted: what it kept belongs to nothing now),
    and duckmig's schema with the last of it."""
    if exists(runner.conn, database):
        for row in _rows(runner.conn, database, version):
            if row[11] == "kept" and row[3]:
                runner.execute(f"DROP TABLE IF EXISTS {row[3]}")
        runner.execute(f"DELETE FROM {_at(database, RECORD)} WHERE version = {literal(version)}")
        runner.execute(f"DELETE FROM {_at(database, DOWNGRADES)} WHERE version = {literal(version)}")
        left = runner.conn.execute(f"SELECT (SELECT count(*) FROM {_at(database, RECORD)}) + "
                                   f"(SELECT count(*) FROM {_at(database, DOWNGRADES)})").fetchone()[0]
        others = runner.conn.execute(inline("SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND "
                                            "schema_name = ? AND table_name NOT IN (?, ?)",
                                            [database, SCHEMA, RECORD, DOWNGRADES])).fetchone()[0]
        if not left and not others:  # nothing kept any more: the database as it was before keeping
            runner.execute(f"DROP SCHEMA {quote(database)}.{quote(SCHEMA)} CASCADE")


def _one_statement(conn, sql: str, version: str) -> str:
    """``sql``, made of a kept table's recorded definition, if it is one statement: the record may have
    been written by anyone, and its types and defaults go into SQL as they stand."""
    try:
        if len(conn.extract_statements(sql)) == 1:
            return sql
    except Exception:  # noqa: BLE001 - not parsed: not run
        pass
    raise errors.StateError(f"{version} was not reverted: the record of the table it kept was altered (its definition "
                            "is not one column list DuckDB reads); nothing was reverted",
                            "to revert its schema only, forget its kept data with {do:prune} first")


def _column_sql(column: list) -> str:
    name, type_, default, _nullable = column
    return f"{quote(name)} {type_}" + (f" DEFAULT {default}" if default is not None else "")


_STATEMENT_MODES = ("removed", "changed", "column")


def _restoring(table, kept, mode, key, values, column_values, names, cols) -> list[str]:
    if mode == "removed":  # a DELETE's rows, as it found them
        return [f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {kept}"]
    if mode in _STATEMENT_MODES[1:]:  # an UPDATE's old values, a dropped column's: put back on their rows
        on = " AND ".join(f"t.{quote(k)} = k.{quote(k)}" for k in key)
        restored = [n for n in names if n not in key]
        return [f"UPDATE {table} t SET {', '.join(f'{quote(n)} = k.{quote(n)}' for n in restored)} "
                f"FROM {kept} k WHERE {on}"]
    if mode == "table":
        return [f"DELETE FROM {table}",
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {kept} WHERE {CHANGE} = 'removed'"]
    if mode == "rows":
        m = [quote(n) for n in values]
        h = _hash(m)
        return [f"DELETE FROM {table} WHERE rowid IN (SELECT t.rid FROM (SELECT rowid AS rid, {h} AS h, "
                f"row_number() OVER (PARTITION BY {h}) AS n FROM {table}) t JOIN (SELECT {h} AS h, count(*) AS c "
                f"FROM {kept} WHERE {CHANGE} = 'added' GROUP BY 1) k ON t.h = k.h AND t.n <= k.c)",
                f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {kept} WHERE {CHANGE} = 'removed'"]
    on = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM k.{quote(k)}" for k in key)
    out = [f"DELETE FROM {table} t USING {kept} k WHERE k.{CHANGE} = 'added' AND {on}"]
    restored = [n for n in names if n not in key]
    if restored:
        out.append(f"UPDATE {table} t SET {', '.join(f'{quote(n)} = k.{quote(n)}' for n in restored)} "
                   f"FROM {kept} k WHERE k.{CHANGE} = 'changed' AND {on}")
    if column_values:
        out.append(f"UPDATE {table} t SET {', '.join(f'{quote(n)} = k.{quote(n)}' for n in column_values)} "
                   f"FROM {kept} k WHERE k.{CHANGE} = 'column' AND {on}")
    out.append(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {kept} WHERE {CHANGE} = 'removed'")
    return out
