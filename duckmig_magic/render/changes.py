"""A preview, what a migration would change, as the terminal's text and as the notebook's HTML:
warnings first, then the schema, the rows, the samples and the proposed downgrade."""

from __future__ import annotations

from ..engine import SchemaChange
from ..wording import PYTHON, Words
from .common import (
    CELL,
    COLOURS,
    FONT,
    HEAD,
    MONO,
    MUTED,
    PRE,
    TABLE,
    badge,
    cell,
    count,
    error_line,
    escape,
    failure_html,
    html_table,
    plural,
    terminal_safe,
    text_table,
)

SCHEMA_COLUMNS = SchemaChange._fields
SUMMARY_COLUMNS = ("table", "key", "rows before", "rows after", "added", "removed", "changed", "unchanged")
# Row and cell backgrounds, translucent so that the text keeps the theme's colour: JupyterLab's own
# error background where it has one (light or dark), else a tint that reads on white and on black.
CHANGE_COLOURS = {
    "removed": "background:rgba(207,34,46,0.16);background:var(--jp-rendermime-error-background,"
               "rgba(207,34,46,0.16))",
    "added": "background:rgba(26,127,55,0.16);background:color-mix(in srgb,var(--jp-success-color1,#1a7f37) "
             "22%,transparent)",
}
CHANGE_STATES = {"added": "applied", "removed": "failed", "changed": "modified"}  # the badge of each change
ABSENT = "—"  # a value the row cannot have: after a removed row, before an added one
NUMBER = f"{CELL};text-align:right;font-variant-numeric:tabular-nums"
MAX_VALUE = 120
DOWN = "{do:down}"
TITLE = "font-weight:600;margin:10px 0 2px"


def key(t) -> str:
    return ", ".join(t.key) if t.key_source else "(whole row)"


def counts(t) -> tuple:
    return (t.rows_before, t.rows_after, t.added, t.removed, t.changed, t.unchanged)


# -- text ---------------------------------------------------------------------------------------------


def text(p) -> str:
    replays = f"; {plural(p.replays, 'replay')}" if p.replays else ""
    lines = [f"preview of {', '.join(p.versions)} (rolled back: the database is unchanged{replays})"
             if p.versions else "nothing to preview: no migration is pending"]
    if p.failed is not None:
        lines.append(f"FAILED: {p.failed.version}: {error_line(p.failed.error)}")
        if p.failed.statement:
            lines.append(f"  statement: {cell(p.failed.statement, 160)}")
        if p.failed.specific_hint:
            lines.append(f"  hint: {p.failed.specific_hint}")
        lines.append(f"  the diff below shows only the migrations before it: {', '.join(p.covers)}"
                     if p.covers else "  no diff: the first migration failed")
    if p.warning_list:
        lines += ["", "warnings:"] + [f"  {w.message}" for w in p.warning_list]
    if p.covers:
        lines += ["", "schema:", text_table([c.upper() for c in SCHEMA_COLUMNS], p.schema_changes)
                  if p.schema_changes else "  no change"]
        lines += ["", "rows:", text_table(["TABLE", "KEY", "BEFORE", "AFTER", "ADDED", "REMOVED", "CHANGED",
                                           "UNCHANGED"], [[t.table, key(t), *map(count, counts(t))] for t in p.tables])
                  if p.tables else "  no table's rows change"]
        if changed_values(p):
            lines.append(changed_values(p))
        for t in p.tables:
            if t.sample:
                lines += ["", f"{t.table}: {len(t.sample)} of {count(t.added + t.removed + (t.changed or 0))} rows "
                              "added, removed or changed:", _sample_text(t)]
        down = p.proposed_downgrade
        if down.statements or down.cannot:
            lines += ["", "proposed downgrade:", str(down)]
    return terminal_safe("\n".join(lines))


def changed_values(p) -> str:
    """``changed values: t.score 857, ...``: how many values each column has changed, where any did
    (values written into an added column count); empty where none did."""
    changed = [f"{t.table}.{c} {count(n)}" for t in p.tables for c, n in (t.column_changes or {}).items() if n]
    return "changed values: " + ", ".join(changed) if changed else ""


def _sample_text(t) -> str:
    at = t.sample_columns.index("_change")
    return text_table(t.sample_columns, [[ABSENT if _absent(name, row[at]) else "NULL" if v is None else v
                                          for name, v in zip(t.sample_columns, row, strict=True)] for row in t.sample])


def _absent(column: str, change: str) -> bool:
    """A value the row cannot have: the before side of an added row, the after side of a removed one."""
    return (change == "added" and column.endswith("_before")) or (change == "removed" and column.endswith("_after"))


def proposal(p, script, python: bool, words: Words = PYTHON) -> str:
    """The preview's proposed downgrade, said as what to paste into a cell without one."""
    down = p.proposed_downgrade
    if p.versions != [script.version]:
        before = p.versions[:-1]
        up_to = "{do:up " + before[-1] + "}"
        return (f"{script.version} has no downgrade. One proposed from this preview would also undo "
                f"{', '.join(before)}, pending before it, so none is shown: {words(up_to)}, "
                "then run this cell again")
    if not down.statements and not down.cannot and not down.restores:
        return f"{script.version} has no downgrade, and the preview shows no change that one would undo"
    if python:
        where = "as its downgrade"
        lines = ["    restore = True  # put back the data duckmig keeps when it applies the migration"] \
            if down.restores else []
        lines += ["    def downgrade(self, session):"]
        lines += [f"        session.exec({s.rstrip(';')!r})" for s in down.statements] or ["        pass"]
        lines += [f"        # cannot be undone: {c}" for c in down.cannot]
        lines += [f"        # puts back what duckmig keeps: {r}" for r in down.restores]
    else:
        where, lines = "under `-- migrate:down`", ["-- migrate:down", str(down)]
    return terminal_safe(f"{script.version} has no downgrade, so {words(DOWN)} could not revert it. "
                         f"Proposed from the preview, to paste {where} (nothing was written):\n" + "\n".join(lines))


# -- HTML ---------------------------------------------------------------------------------------------


def html(p) -> str:
    """The whole preview: warnings first, the summary, then each table's changes and sample rows."""
    parts = [header(p), failure(p), warnings_html(p), summary(p)]
    for name in table_names(p):
        parts.append(f'<div style="{TITLE}">table <code style="{MONO}">{escape(name)}</code></div>')
        parts.append(table(p, name))
    parts += [other(p, titled=True), downgrade(p)]
    return f'<div style="{FONT}">' + "".join(parts) + "</div>"


def table_names(p) -> list[str]:
    """Tables with a part of their own: those diffed, then any other the schema changes name."""
    names = [t.table for t in p.tables]
    for r in p.schema_changes:
        if r.kind in ("table", "column") and r.name not in names:
            names.append(r.name)
    return names


def header(p) -> str:
    if not p.versions:
        return f'<div style="{MUTED}">nothing to preview: no migration is pending</div>'
    return (f'<div>preview of <code style="{MONO}">{escape(", ".join(p.versions))}</code>'
            f'<span style="{MUTED}"> — nothing was applied: the database is as it was</span></div>')


def failure(p) -> str:
    if p.ok:
        return ""
    f = p.failed
    covers = (f"the changes below are those of {escape(', '.join(p.covers))} alone" if p.covers
              else "the preview stops here")
    return failure_html(f'{badge("failed")} <code style="{MONO}">{escape(f.version)}</code> fails: {covers}',
                        f.error, f.statement, f.specific_hint)


def warnings_html(p) -> str:
    if not p.warning_list:
        return ""
    items = "".join(f'<div style="margin:2px 0">{badge("failed", w.kind)} {escape(w.message)}</div>'
                    for w in p.warning_list)
    return (f'<div style="border-left:4px solid {COLOURS["failed"]};padding:4px 8px;margin:6px 0">'
            f'<div style="font-weight:600">{plural(len(p.warning_list), "warning")}: data would be lost</div>'
            f'{items}</div>')


def summary(p) -> str:
    if not p.tables:
        if not p.versions or (p.failed is not None and not p.covers):  # nothing ran to the end: nothing to say
            return ""
        return f'<div style="{MUTED};margin:6px 0">no table changes</div>'
    values = changed_values(p)
    values = f'<div style="margin:2px 0">{escape(values)}</div>' if values else ""
    rows = [f'<tr><td style="{CELL}"><code style="{MONO}">{escape(t.table)}</code></td>'
            f'<td style="{CELL}">{escape(key(t))}</td>'
            + "".join(f'<td style="{NUMBER}">{"" if n is None else f"{n:,}"}</td>' for n in counts(t)) + "</tr>"
            for t in p.tables]
    head = "".join(f'<th style="{HEAD}">{escape(h)}</th>' for h in SUMMARY_COLUMNS)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{values}'


def table(p, name: str) -> str:
    """One table's schema changes and its sample of changed rows."""
    schema = [r for r in p.schema_changes if r.kind in ("table", "column") and r.name == name]
    t = next((t for t in p.tables if t.table == name), None)
    return (html_table(SCHEMA_COLUMNS, schema) if schema else "") + (sample(t) if t is not None else "")


def other(p, *, titled: bool = False) -> str:
    """Schema changes of things that are not tables: views, indexes, sequences, macros, schemas."""
    rows = [r for r in p.schema_changes if r.kind not in ("table", "column")]
    if not rows:
        return ""
    return (f'<div style="{TITLE}">other changes</div>' if titled else "") + html_table(SCHEMA_COLUMNS, rows)


def downgrade(p, *, folded: bool = True) -> str:
    d = p.proposed_downgrade
    if not d.statements and not d.cannot:
        return ""
    pre = f'<pre style="{PRE}">{escape(str(d))}</pre>'
    return f'<details style="margin:8px 0"><summary style="{TITLE}">proposed downgrade</summary>{pre}</details>' \
        if folded else pre


def value_columns(t) -> tuple[int, list[tuple[str, int | None, int | None]]]:
    """Where the sample's values start, and each shown column as (name, before index, after index)."""
    keyed = t.sample_columns[len(t.key):len(t.key) + 1] == ["_change"]  # a key column may be named _change
    start = len(t.key) + 1 if keyed else t.sample_columns.index("_change") + 1
    names, groups, i = t.sample_columns, [], start
    while i < len(names):
        if names[i].endswith("_before"):
            base = names[i][:-len("_before")]
            if i + 1 < len(names) and names[i + 1] == f"{base}_after":
                groups.append((base, i, i + 1))
                i += 2
                continue
            groups.append((base, i, None))
        else:
            groups.append((names[i][:-len("_after")], None, i))
        i += 1
    return start, groups


def sample(t) -> str:
    """The sampled rows: key, change, then each column's value before and after, side by side;
    removed rows red, added rows green, and in changed rows the values that changed."""
    total = sum(n or 0 for n in (t.added, t.removed, t.changed))
    if not t.sample:
        return f'<div style="{MUTED};margin:4px 0">no rows differ</div>' if total == 0 else ""
    start, groups = value_columns(t)
    top = "".join(f'<th rowspan="2" style="{HEAD}">{escape(k)}</th>' for k in t.sample_columns[:start - 1])
    top += f'<th rowspan="2" style="{HEAD}">change</th>'
    top += "".join(f'<th colspan="{(b is not None) + (a is not None)}" style="{HEAD};text-align:center">'
                   f'{escape(name)}</th>' for name, b, a in groups)
    sub = "".join((f'<th style="{HEAD};{MUTED}">before</th>' if b is not None else "")
                  + (f'<th style="{HEAD};{MUTED}">after</th>' if a is not None else "") for _, b, a in groups)
    rows = []
    for row in t.sample:
        change = row[start - 1]
        cells = [f'<td style="{CELL}">{value(v)}</td>' for v in row[:start - 1]]
        cells.append(f'<td style="{CELL}">{badge(CHANGE_STATES.get(change, "pending"), change)}</td>')
        for _, b, a in groups:
            differs = change == "changed" and b is not None and a is not None and row[b] != row[a]
            for index, side in ((b, "removed"), (a, "added")):
                if index is None:
                    continue
                extra = f";{CHANGE_COLOURS[side]}" if differs else ""
                absent = (change == "added" and side == "removed") or (change == "removed" and side == "added")
                shown = f'<span style="{MUTED}">{ABSENT}</span>' if absent else value(row[index])
                cells.append(f'<td style="{CELL}{extra}">{shown}</td>')
        rows.append(f'<tr style="{CHANGE_COLOURS.get(change, "")}">' + "".join(cells) + "</tr>")
    note = (f'<div style="{MUTED}">{plural(len(t.sample), "row")} of the {total:,} that differ</div>'
            if total > len(t.sample) else "")
    return (f'<table style="{TABLE}"><thead><tr>{top}</tr><tr>{sub}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{note}')


def value(v) -> str:
    """A cell value: NULL marked as such, long values cut."""
    if v is None:
        return f'<span style="{MUTED};font-style:italic">NULL</span>'
    s = str(v)
    return escape(s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 1] + "…")
