"""The schema diff: the ordered SQL that takes a database from one catalog to another.

``compare(a, b)`` reads two ``catalog.Catalog`` models and gives a ``SchemaPlan``: every difference
(``changes``, in the catalog's terms), the statements that make ``a`` into ``b`` in an order DuckDB
accepts, the renames it found likely but was not told about (``candidates``), and what it cannot
express (``cannot``). The order:

    schemas created; views and macros dropped (a macro a default may call: later); indexes dropped;
    tables to rebuild copied aside; tables dropped, referencing ones first; types and sequences;
    ALTERs, tables created (new and rebuilt, referenced ones first), views and macros, each after
    those of them it names; the rebuilt tables refilled; indexes created; macros, sequences and
    types dropped; schemas dropped.

A table is rebuilt, keeping its rows, where DuckDB has no ALTER for the change: a primary key or a
CHECK, UNIQUE or FOREIGN KEY constraint added or dropped, a column of a constraint dropped, retyped
or renamed, a table a foreign key references altered (with the tables that reference it), a table
with indexes altered beyond ADD COLUMN and defaults (DuckDB refuses it while an index depends on
the table, and a DROP INDEX lets go of the table only when its transaction commits), or the
columns in another order (``order=False`` keeps ALTERs and states the order in ``notes`` instead).

Renames are never guessed: a table that disappears while one with the same columns appears, or a
column that disappears while one of the same type appears at its place, is a candidate. Undecided
candidates are planned as renames, which keeps the data, and listed so that the caller asks; the
``renames`` given ({old: new}) and ``no_renames`` (old names) decide them. A column is not planned
as renamed into one that a constraint or NOT NULL binds only after (its values would have to pass
it): that candidate is listed, and planned as a drop and an add until ``renames`` names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import statements
from .catalog import Catalog, Column, Entry, Table, column_text
from .sqltext import quote

_REBUILD_PREFIX = "duckmig_rebuild_"


@dataclass(frozen=True)
class Change:
    """One difference between two catalogs: an object and what differs about it."""

    kind: str  # schema, type, sequence, table, column, constraint, index, view, macro
    name: str  # as a person writes it: table.column for a column; no "main."
    change: str  # created, dropped, renamed, changed, type changed, default changed, ...
    before: str | None = None
    after: str | None = None

    def __str__(self) -> str:
        detail = ""
        if self.change.endswith("changed") and (self.before, self.after) != (None, None):
            detail = f": {self.before or 'none'} -> {self.after or 'none'}"
        elif self.before is not None and self.after is not None:
            detail = f": {self.before} -> {self.after}"
        elif self.after is not None:
            detail = f": {self.after}"
        elif self.before is not None:
            detail = f" (was {self.before})"
        return f"{self.kind} {self.name} {self.change}{detail}"


@dataclass(frozen=True)
class Candidate:
    """A likely rename: ``old`` disappears while ``new`` appears with the same shape."""

    kind: str  # table or column
    old: str
    new: str
    decided: bool  # named in renames or no_renames

    def __str__(self) -> str:
        return f"{self.kind} {self.old} -> {self.new}"


@dataclass
class SchemaPlan:
    changes: list[Change] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # tables rebuilt, by label
    inverse_renames: dict[str, str] = field(default_factory=dict)  # the renames back, as ``compare`` takes them
    unused: list[str] = field(default_factory=list)  # renames given that matched nothing

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def undecided(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.decided]

    @property
    def sql(self) -> str:
        return "\n".join(self.statements)


def _label(schema: str, name: str) -> str:
    return name if schema == "main" else f"{schema}.{name}"


def _key(schema: str, name: str) -> str:
    return f"{schema}.{name}".lower()


def _lookup(names: dict[str, str], table: Table, column: str | None = None) -> str | None:
    """The value ``names`` gives a table (or a column of it), by any of the ways a person names it."""
    if not names:
        return None
    wanted = [table.label.lower(), table.qualified_label.lower()]
    if column is not None:
        wanted = [f"{w}.{column.lower()}" for w in wanted]
    return next((names[w] for w in wanted if w in names), None)


@dataclass
class _Pair:
    a: Table
    b: Table
    columns: list[tuple[Column | None, Column | None, bool]] = field(default_factory=list)  # (a, b, renamed)
    rebuild: bool = False
    alters: list[str] = field(default_factory=list)
    structural: bool = False  # an ALTER other than ADD COLUMN or SET/DROP DEFAULT
    order_note: str = ""  # the columns' order ALTERs leave, where it is not the one wanted (order=False)

    @property
    def renamed(self) -> bool:
        return self.a.qualified_label.lower() != self.b.qualified_label.lower()


def compare(a: Catalog, b: Catalog, *, renames: dict[str, str] | None = None,
            no_renames: set[str] | list[str] | None = None, order: bool = True, guess: bool = True) -> SchemaPlan:
    """The plan that makes a database at ``a`` into ``b``.

    ``renames`` maps an old name to its new one: ``table=new_table`` or ``table.column=new_column``
    (``new`` may repeat the table: ``t.c=t.d``); ``no_renames`` names tables or columns
    (``table.column``) that are dropped, not renamed, whatever appears. With ``guess`` False no
    candidate is looked for: only the renames given are made (a downgrade knows its renames).
    """
    given = {k.strip().lower(): v.strip() for k, v in (renames or {}).items()}
    refused = {n.strip().lower() for n in (no_renames or ())}
    plan = SchemaPlan()
    pairs, gone, new = _match_tables(a, b, given, refused, plan, guess)
    for p in pairs:
        if not p.renamed and p.a.columns == p.b.columns and p.a.body == p.b.body:
            p.columns = [(c, c, False) for c in p.a.columns]  # the same table: nothing to compare
            continue
        _match_columns(p, given, refused, plan, guess)
        _table_changes(p, plan, order)
    for p in pairs:
        if p.renamed:
            plan.inverse_renames[p.b.qualified_label.lower()] = p.a.qualified_label
        for x, y, renamed in p.columns:
            if renamed and x is not None and y is not None:
                plan.inverse_renames[f"{p.b.qualified_label}.{y.name}".lower()] = x.name
    made = {c.old.lower() for c in plan.candidates if c.decided} | \
           {f"main.{c.old}".lower() for c in plan.candidates if c.decided}
    plan.unused = [k for k in given if k not in made]
    _rebuild_users(a, b, pairs)
    # DuckDB keeps a dropped index's hold on its table until the transaction commits: a table with
    # indexes takes no ALTER but ADD COLUMN and SET/DROP DEFAULT in the migration that drops them.
    indexed = {e.table.lower() for (kind, _), e in a.entries.items() if kind == "index"}
    for p in pairs:
        if p.structural and p.a.qualified_label.lower() in indexed:
            p.rebuild = True
    _force_rebuilds(a, pairs, gone)
    for p in pairs:
        if p.rebuild:
            plan.rebuilt.append(p.b.label)  # created as it is wanted: its columns in their order
        elif p.order_note:
            plan.notes.append(p.order_note)
    _emit(a, b, pairs, gone, new, plan)
    return plan


# -- matching --------------------------------------------------------------------------------------


def _match_tables(a: Catalog, b: Catalog, given: dict[str, str], refused: set[str], plan: SchemaPlan, guess: bool):
    b_by_key = {_key(t.schema, t.name): t for t in b.tables.values()}
    pairs, gone = [], []
    taken: set[int] = set()
    for t in sorted(a.tables.values(), key=lambda t: t.oid):
        target = _lookup(given, t)
        if target is not None:
            schema, name = _split(target) or (t.schema, target.strip('"'))
            other = b_by_key.get(_key(schema, name))
            if other is not None and other.oid not in taken and _key(t.schema, t.name) not in b_by_key:
                pairs.append(_Pair(t, other))
                taken.add(other.oid)
                plan.candidates.append(Candidate("table", t.label, other.label, True))
                continue
        other = b_by_key.get(_key(t.schema, t.name))
        if other is not None:
            pairs.append(_Pair(t, other))
            taken.add(other.oid)
        else:
            gone.append(t)
    new = [t for t in b.tables.values() if t.oid not in taken]
    if not guess:
        return pairs, gone, new
    still_gone = []
    for t in gone:
        shape = _shape(t)
        alike = [n for n in new if _shape(n) == shape and n.schema.lower() == t.schema.lower()]
        if not alike:
            still_gone.append(t)
            continue
        decided = _lookup({r: r for r in refused}, t) is not None
        for n in alike:
            plan.candidates.append(Candidate("table", t.label, n.label, decided))
        if decided or len(alike) > 1:
            still_gone.append(t)  # refused, or more than one to choose from: the caller decides
            continue
        pairs.append(_Pair(t, alike[0]))
        new.remove(alike[0])
    return pairs, still_gone, new


def _split(target: str) -> tuple[str, str] | None:
    if "." not in target:
        return None
    schema, _, name = target.partition(".")
    return schema.strip('"'), name.strip('"')


def _shape(t: Table) -> tuple:
    return (tuple((c.name.lower(), c.type, c.nullable, c.default) for c in t.columns), t.primary_key,
            t.constraints)


def _match_columns(p: _Pair, given: dict[str, str], refused: set[str], plan: SchemaPlan, guess: bool) -> None:
    b_cols = {c.name.lower(): c for c in p.b.columns}
    used: set[str] = set()
    kept: list[tuple[Column, Column, bool]] = []
    dropped: list[Column] = []
    for c in p.a.columns:
        target = _lookup(given, p.a, c.name)
        if target is not None:
            target = target.rpartition(".")[2].strip('"')
            other = b_cols.get(target.lower())
            if other is not None and other.name.lower() not in used and c.name.lower() not in b_cols:
                kept.append((c, other, True))
                used.add(other.name.lower())
                plan.candidates.append(Candidate("column", f"{p.a.label}.{c.name}", f"{p.b.label}.{other.name}",
                                                 True))
                continue
        other = b_cols.get(c.name.lower())
        if other is not None and other.name.lower() not in used:
            kept.append((c, other, other.name != c.name))
            used.add(other.name.lower())
        else:
            dropped.append(c)
    added = [c for c in p.b.columns if c.name.lower() not in used]
    a_at = {c.name.lower(): i for i, c in enumerate(p.a.columns)}
    b_at = {c.name.lower(): i for i, c in enumerate(p.b.columns)}
    for c in list(dropped) if guess else []:
        alike = [n for n in added if n.type == c.type and b_at[n.name.lower()] == a_at[c.name.lower()]]
        if not alike:
            continue
        n = alike[0]
        decided = _lookup({r: r for r in refused}, p.a, c.name) is not None
        plan.candidates.append(Candidate("column", f"{p.a.label}.{c.name}", f"{p.b.label}.{n.name}", decided))
        if decided or (n.name.lower() in p.b.constrained and c.name.lower() not in p.a.constrained) or (
                c.nullable and not n.nullable):
            # Not into a column that a new constraint or NOT NULL binds: the old values would have to pass
            # it (a FOREIGN KEY to a table just made, NULLs). Still listed; named in ``renames``, planned so.
            continue
        kept.append((c, n, True))
        dropped.remove(c)
        added.remove(n)
    p.columns = [(x, y, r) for x, y, r in kept] + [(c, None, False) for c in dropped] + \
                [(None, c, False) for c in added]


# -- what each table needs ----------------------------------------------------------------------------


def _table_changes(p: _Pair, plan: SchemaPlan, order: bool) -> None:
    a, b = p.a, p.b
    if p.renamed:
        plan.changes.append(Change("table", a.label, "renamed", a.label, b.label))
    constrained = a.constrained
    if [_renamed_to(p, k).lower() for k in a.primary_key] != [k.lower() for k in b.primary_key]:
        plan.changes.append(Change("table", b.label, "primary key changed", _cols(a.primary_key), _cols(b.primary_key)))
        p.rebuild = True
    if set(a.constraints) != set(b.constraints):
        for text in a.constraints:
            if text not in b.constraints:
                plan.changes.append(Change("constraint", b.label, "dropped", text, None))
        for text in b.constraints:
            if text not in a.constraints:
                plan.changes.append(Change("constraint", b.label, "created", None, text))
        p.rebuild = True
    q = quote
    name = a.sql_name
    head = f"ALTER TABLE {name}"
    renames: list[str] = []
    drops: list[str] = []
    retypes: list[str] = []
    defaults: list[str] = []
    nulls: list[str] = []
    add_not_null: list[str] = []
    added: list[tuple[str, str, str | None]] = []  # (quoted name, type, default)
    for x, y, renamed in p.columns:
        if y is None:
            assert x is not None
            plan.changes.append(Change("column", f"{b.label}.{x.name}", "dropped", _text(x), None))
            drops.append(f"{head} DROP COLUMN {q(x.name)};")
            # DuckDB drops no column that a constraint's index, or one after it, depends on.
            at = [c.name.lower() for c in a.columns].index(x.name.lower())
            if constrained & {c.name.lower() for c in a.columns[at:]}:
                p.rebuild = True
            continue
        if x is None:
            plan.changes.append(Change("column", f"{b.label}.{y.name}", "added", None, _text(y)))
            added.append((q(y.name), y.type, y.default))
            if not y.nullable:
                add_not_null.append(f"{head} ALTER COLUMN {q(y.name)} SET NOT NULL;")
                if y.default is not None and _volatile(y.default):
                    # DuckDB refuses SET NOT NULL in the transaction where a volatile default filled
                    # the column ("outstanding updates"): the table is made anew with the column in it.
                    p.rebuild = True
                if y.default is None:
                    plan.notes.append(f"column {b.label}.{y.name} is added NOT NULL without a default: "
                                      "that fails where the table holds rows")
            continue
        if renamed:
            plan.changes.append(Change("column", f"{b.label}.{y.name}", "renamed", x.name, y.name))
            renames.append(f"{head} RENAME COLUMN {q(x.name)} TO {q(y.name)};")
            if x.name.lower() in constrained:
                p.rebuild = True
        if x.type != y.type:
            plan.changes.append(Change("column", f"{b.label}.{y.name}", "type changed", x.type, y.type))
            retypes.append(f"{head} ALTER COLUMN {q(y.name)} TYPE {y.type};")
            if x.name.lower() in constrained:
                p.rebuild = True
        if _default(x) != _default(y):
            plan.changes.append(Change("column", f"{b.label}.{y.name}", "default changed", x.default, y.default))
            defaults.append(f"{head} ALTER COLUMN {q(y.name)} "
                            + (f"SET DEFAULT {y.default};" if y.default is not None else "DROP DEFAULT;"))
        if x.nullable != y.nullable:
            plan.changes.append(Change("column", f"{b.label}.{y.name}", "nullability changed",
                                       "NULL" if x.nullable else "NOT NULL", "NULL" if y.nullable else "NOT NULL"))
            nulls.append(f"{head} ALTER COLUMN {q(y.name)} " + ("DROP NOT NULL;" if y.nullable else "SET NOT NULL;"))
            if x.name.lower() in {k.lower() for k in a.primary_key}:
                p.rebuild = True
    # After ALTERs the kept columns stand in their old order and the added ones come last.
    position = {c.name: i for i, c in enumerate(a.columns)}
    altered_order = [y.name.lower() for x, y, _ in sorted(
        ((x, y, r) for x, y, r in p.columns if x is not None and y is not None),
        key=lambda t: position[t[0].name])] + \
        [y.name.lower() for x, y, _ in p.columns if x is None and y is not None]
    wanted = [c.name.lower() for c in b.columns]
    if altered_order != wanted:
        if order:
            p.rebuild = True
            plan.changes.append(Change("table", b.label, "column order changed", ", ".join(
                c.name for c in a.columns), ", ".join(c.name for c in b.columns)))
        else:
            p.order_note = (f"the columns of {b.label} come back in the order {', '.join(altered_order)}, "
                            f"not {', '.join(wanted)}: compare them by name")
    olds = {x.name.lower() for x, y, _ in p.columns if x is not None and y is not None}
    if any(r and y.name.lower() != x.name.lower() and y.name.lower() in olds for x, y, r in p.columns
           if x is not None and y is not None):
        p.rebuild = True  # a swap of names: the ALTERs would collide
    p.structural = bool(drops or renames or retypes or nulls or add_not_null or p.renamed)
    # DuckDB keeps a table's last column: where every column goes, the new ones come first
    all_dropped = len(drops) == len(a.columns)
    adds, late_defaults = _volatile_defaults_last(added, head, b.label, plan, rewrites_after=all_dropped)
    if all_dropped:
        p.alters = adds + late_defaults + drops + add_not_null
    else:
        p.alters = drops + renames + retypes + defaults + nulls + adds + late_defaults + add_not_null
    if p.renamed:
        p.alters.append(f"{head} RENAME TO {q(b.name)};")
        if a.schema.lower() != b.schema.lower():
            p.rebuild = True  # DuckDB does not move a table between schemas


def _volatile_defaults_last(adds: list[tuple[str, str, str | None]], head: str, label: str,
                            plan: SchemaPlan, *, rewrites_after: bool) -> tuple[list[str], list[str]]:
    """The ADD COLUMN statements, and the SET DEFAULTs to run after them all. Before 2.0 DuckDB fails
    the commit where an ALTER rewrites a table after an ADD COLUMN with a volatile DEFAULT (DM106), so
    such a column, unless it is the last ALTER that rewrites the table (``rewrites_after``: DROP COLUMNs
    follow the ADDs), is added without its default, which is set after."""
    from .lint import duckdb_version
    from .lint.refused import volatile

    out, late = [], []
    refused = duckdb_version() < (2, 0, 0)
    for i, (name, type_, default) in enumerate(adds):
        later = rewrites_after or i < len(adds) - 1
        if refused and default is not None and later and volatile(default):
            out.append(f"{head} ADD COLUMN {name} {type_};")
            late.append(f"{head} ALTER COLUMN {name} SET DEFAULT {default};")
            plan.notes.append(f"column {label}.{name.strip(chr(34))} is added before its volatile default is "
                              "set (DuckDB before 2.0 fails the commit otherwise): the rows there hold NULL in it")
        else:
            out.append(f"{head} ADD COLUMN {name} {type_}" + (f" DEFAULT {default};" if default is not None else ";"))
    return out, late


def _volatile(default: str) -> bool:
    from .lint.refused import volatile

    return volatile(default)


def _default(c: Column) -> str | None:
    """A column's default; a DuckLake reports a column without one as DEFAULT NULL, which is the same."""
    return None if c.default is not None and c.default.strip().upper() == "NULL" else c.default


def _text(c: Column) -> str:
    return column_text(Column(c.name, c.type, c.nullable, _default(c)))


def _renamed_to(p: _Pair, column: str) -> str:
    return next((y.name for x, y, _ in p.columns if x is not None and y is not None and x.name.lower() ==
                 column.lower()), column)


def _cols(names) -> str | None:
    return "(" + ", ".join(names) + ")" if names else None


def _rebuild_users(a: Catalog, b: Catalog, pairs: list[_Pair]) -> None:
    """A type or sequence changed is dropped and created again, which DuckDB refuses while a table
    uses it: such tables are rebuilt around it."""
    b_entries = {(k, n.lower()): e for (k, n), e in b.entries.items()}
    changed = {e.oid for (k, n), e in a.entries.items() if k in ("type", "sequence")
               and (k, n.lower()) in b_entries and b_entries[k, n.lower()].sql != e.sql}
    for p in pairs:
        if p.a.uses & changed:
            p.rebuild = True


def _force_rebuilds(a: Catalog, pairs: list[_Pair], gone: list[Table]) -> None:
    """A table a foreign key references takes no structural ALTER and cannot be dropped while the
    referencing table stands: rebuild both, until nothing more must be."""
    by_key = {p.a.qualified_label.lower(): p for p in pairs}
    referencing: dict[str, list[_Pair]] = {}
    for p in pairs:
        for ref in p.a.references:
            referencing.setdefault(_key(p.a.schema, ref), []).append(p)
    changed = True
    while changed:
        changed = False
        for key, refs in referencing.items():
            target = by_key.get(key)
            if target is None:
                continue
            if target.rebuild or target.structural:
                for r in refs:
                    if not r.rebuild:
                        r.rebuild = changed = True
                if not target.rebuild:
                    target.rebuild = changed = True


# -- the statements ---------------------------------------------------------------------------------------


def _emit(a: Catalog, b: Catalog, pairs: list[_Pair], gone: list[Table], new: list[Table], plan: SchemaPlan) -> None:
    st = plan.statements
    a_entries = {(k, n.lower()): e for (k, n), e in a.entries.items()}
    b_entries = {(k, n.lower()): e for (k, n), e in b.entries.items()}
    rebuilt = [p for p in pairs if p.rebuild]
    altered = [p for p in pairs if not p.rebuild and p.alters]
    b_rebuilt = {p.b.qualified_label.lower() for p in rebuilt}

    def differs(kind: str) -> tuple[list[Entry], list[Entry], list[tuple[Entry, Entry]]]:
        dropped = [e for k, e in a_entries.items() if k[0] == kind and k not in b_entries]
        created = [e for k, e in b_entries.items() if k[0] == kind and k not in a_entries]
        changed = [(e, b_entries[k]) for k, e in a_entries.items() if k[0] == kind and k in b_entries
                   and e.sql != b_entries[k].sql]
        return dropped, created, changed

    found = {kind: differs(kind) for kind in ("schema", "type", "sequence", "index", "view", "macro")}
    for kind, (dropped, created, changed) in found.items():
        plan.changes += [Change(kind, _label(e.schema, e.name) if kind != "schema" else e.name, "dropped",
                                e.shape or e.sql, None) for e in dropped]
        plan.changes += [Change(kind, _label(e.schema, e.name) if kind != "schema" else e.name, "created",
                                None, e.shape or e.sql) for e in created]
        plan.changes += [Change(kind, _label(x.schema, x.name), "changed", x.shape or x.sql, y.shape or y.sql)
                         for x, y in changed]
    for t in gone:
        plan.changes.append(Change("table", t.label, "dropped", None, None))
    for t in new:
        plan.changes.append(Change("table", t.label, "created", None, None))

    def by_oid(entries):
        return sorted(entries, key=lambda e: e.oid)

    # 1. schemas created
    st += [e.sql for e in by_oid(found["schema"][1])]
    # 2. views and macros dropped or changed, newest first; but a macro dropped that a table of a names
    # (a default may call it, and DuckDB refuses to drop one a default calls) goes last, where b gives
    # its name to nothing else
    later = []
    if found["macro"][0]:
        called = set().union(*(statements.identifiers(t.create) for t in a.tables.values()))
        named = {(e.schema.lower(), e.name.lower()) for e in b.entries.values()}
        named |= {(table.schema.lower(), table.name.lower()) for table in b.tables.values()}
        later = [e for e in found["macro"][0]
                 if e.name.lower() in called and (e.schema.lower(), e.name.lower()) not in named]
    going = [e for kind in ("view", "macro") for e in found[kind][0] + [x for x, _ in found[kind][2]]
             if e not in later]
    st += [e.drop for e in sorted(going, key=lambda e: -e.oid)]
    # 3. indexes dropped: gone or changed (a dropped or rebuilt table takes its own with it)
    idx_drop = found["index"][0] + [x for x, _ in found["index"][2]]
    taken = {p.a.qualified_label.lower() for p in rebuilt} | {t.qualified_label.lower() for t in gone}
    st += [e.drop for e in by_oid(idx_drop) if e.table.lower() not in taken]
    # 4. the rows of tables to rebuild, copied aside
    copies = {}
    for i, p in enumerate(rebuilt):
        copies[id(p)] = "temp." + quote(f"{_REBUILD_PREFIX}{i}")
        st.append(f"CREATE TEMP TABLE {copies[id(p)]} AS SELECT * FROM {p.a.sql_name};")
    # 5. tables dropped: those that reference others first
    st += [f"DROP TABLE {t.sql_name};" for t in _drop_order(gone + [p.a for p in rebuilt])]
    # 6. types and sequences: changed ones dropped and created again, new ones created
    for kind in ("type", "sequence"):
        dropped, created, changed = found[kind]
        for x, y in changed:
            st += [x.drop, y.sql]
            if kind == "sequence":
                plan.notes.append(f"sequence {y.label} is created again: it starts at its START again, "
                                  "not where it had come to")
        st += [e.sql for e in by_oid(created)]
    # 7. ALTERs, oldest table first; 8. tables created, new and rebuilt, referenced ones first; and the
    # views and macros made here. DuckDB binds a view or a macro when it is made, and a default may call
    # a macro: each comes after those of them it names (a table's ALTERs together, in their order).
    creating = [(p.b, p) for p in rebuilt] + [(t, None) for t in new]
    coming = [e for kind in ("view", "macro") for e in found[kind][1] + [y for _, y in found[kind][2]]]
    st += _made_in_order([({p.a.name, p.b.name}, p.alters) for p in sorted(altered, key=lambda p: p.a.oid)]
                         + [({t.name}, [t.create]) for t, _ in _create_order([t for t, _ in creating])]
                         + [({e.name}, [e.sql]) for e in by_oid(coming)])
    # the rebuilt tables refilled
    for t, p in _create_order_pairs(creating):
        if p is None:
            continue
        pairs_cols = [(x, y) for x, y, _ in p.columns if x is not None and y is not None]
        if pairs_cols:
            into = ", ".join(quote(y.name) for _, y in pairs_cols)
            values = ", ".join(quote(x.name) if x.type == y.type else f"CAST({quote(x.name)} AS {y.type})"
                               for x, y in pairs_cols)
            st.append(f"INSERT INTO {t.sql_name} ({into}) SELECT {values} FROM {copies[id(p)]};")
        st.append(f"DROP TABLE {copies[id(p)]};")
    # 9. indexes created
    idx_make = found["index"][1] + [y for _, y in found["index"][2]]
    idx_make += [e for k, e in b_entries.items() if k[0] == "index" and e.table.lower() in b_rebuilt
                 and e not in idx_make]
    st += [e.sql for e in by_oid(idx_make)]
    # 10. macros, sequences and types gone
    st += [e.drop for e in sorted(later, key=lambda e: -e.oid)]
    st += [e.drop for kind in ("sequence", "type") for e in sorted(found[kind][0], key=lambda e: -e.oid)]
    # 11. schemas gone
    st += [e.drop for e in sorted(found["schema"][0], key=lambda e: -e.oid)]


def _refs(t: Table) -> set[str]:
    return {_key(t.schema, r) for r in t.references}


def _drop_order(tables: list[Table]) -> list[Table]:
    """Referencing tables before the tables they reference."""
    left = {t.qualified_label.lower(): t for t in tables}
    out = []
    while left:
        referenced = set().union(*(_refs(t) for t in left.values()))
        free = [k for k in left if k not in referenced] or list(left)  # a cycle: DuckDB will say so
        for k in sorted(free, key=lambda k: -left[k].oid):
            out.append(left.pop(k))
    return out


def _made_in_order(items: list[tuple[set[str], list[str]]]) -> list[str]:
    """The statements of ``items`` ((the names of what they make or alter: a renamed table's both,
    statements), in the order preferred), each item after those of the others whose name it names (a
    name read as a word, whatever its schema: a needless wait costs nothing); where names wait on each
    other in a circle, in the order preferred."""
    left = [({n.lower() for n in names}, sqls, statements.identifiers(" ".join(sqls))) for names, sqls in items]
    out: list[str] = []
    while left:
        waited = [(i, words - own) for i, (own, _, words) in enumerate(left)]
        free = next((i for i, words in waited
                     if not any(words & own for j, (own, _, _) in enumerate(left) if j != i)), 0)
        out += left.pop(free)[1]
    return out


def _create_order(tables: list[Table]) -> list[tuple[Table, None]]:
    return [(t, None) for t, _ in _create_order_pairs([(t, None) for t in tables])]


def _create_order_pairs(items: list) -> list:
    """Referenced tables before the tables that reference them; else in the order they were made."""
    left = {t.qualified_label.lower(): (t, p) for t, p in items}
    out = []
    while left:
        free = [k for k, (t, _) in left.items() if not (_refs(t) & set(left) - {k})] or list(left)
        for k in sorted(free, key=lambda k: left[k][0].oid):
            out.append(left.pop(k))
    return out
