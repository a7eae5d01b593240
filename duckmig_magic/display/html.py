"""Self-contained HTML for notebooks opened without a widget frontend.

GitHub, nbviewer and nbconvert drop style sheets and scripts, so every style is
inline and there is no script at all. Every value is escaped: a description or
a cell holding ``<script>`` shows as text.
"""

from __future__ import annotations

from html import escape

# Background colours for the state badges; the label is always written too,
# so the state reads without colour (printouts, colour blindness, screen readers).
STATE_COLOURS = {
    "applied": "#1a7f37",
    "pending": "#57606a",
    "failed": "#cf222e",
    "modified": "#bc4c00",
    "missing": "#8250df",
    "out_of_order": "#9a6700",
}
STATE_LABELS = {"applied": "applied", "pending": "pending", "failed": "failed", "modified": "modified",
                "missing": "missing", "out_of_order": "out of order"}
STATUS_COLUMNS = ("version", "description", "kind", "state", "applied at (UTC)", "execution time")
MAX_ROWS = 50

FONT = "font-family:var(--jp-ui-font-family,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif);font-size:13px"
MONO = "font-family:var(--jp-code-font-family,SFMono-Regular,Menlo,Consolas,monospace);font-size:12px"
CELL = "padding:3px 10px;border-bottom:1px solid rgba(128,128,128,0.25);text-align:left;vertical-align:top"
HEAD = "padding:3px 10px;border-bottom:2px solid rgba(128,128,128,0.5);text-align:left;font-weight:600"
TABLE = "border-collapse:collapse;margin:4px 0"
MUTED = "color:#6e7781"


def text(value) -> str:
    """Any value as escaped HTML text; None as empty."""
    return "" if value is None else escape(str(value), quote=True)


def badge(state: str, label: str | None = None) -> str:
    colour = STATE_COLOURS.get(state, "#57606a")
    return (f'<span style="display:inline-block;padding:0 7px;border-radius:9px;background:{colour};'
            f'color:#ffffff;font-size:12px;line-height:18px;white-space:nowrap">'
            f'{text(label if label is not None else STATE_LABELS.get(state, state))}</span>')


def table(headers, rows, *, raw: bool = False) -> str:
    """A table of ``rows``; cells are escaped unless ``raw`` (already HTML)."""
    head = "".join(f'<th style="{HEAD}">{text(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c if raw else text(c)}</td>' for c in row) + "</tr>"
                   for row in rows)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def duration(ms) -> str:
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


# -- status --------------------------------------------------------------------


def status(report, *, max_rows: int = MAX_ROWS) -> str:
    """The whole status view: header, errors of failed migrations, and the table.

    Past ``max_rows`` the table keeps every migration that needs attention
    (pending, failed, drifted) first and the newest applied ones next, and
    folds the rest into one line per gap, so a ledger of thousands stays small.
    """
    parts = [status_header(report), status_errors(report)]
    if report.migrations:
        parts.append(status_table(fold(report.migrations, max_rows)))
    return f'<div style="{FONT}">' + "".join(parts) + "</div>"


def status_header(report) -> str:
    counts = report.counts()
    badges = " ".join(badge(s, f"{n:,} {STATE_LABELS[s]}") for s, n in counts.items() if n)
    lines = [
        f'<div><span style="{MUTED}">database</span> <code style="{MONO}">{text(report.database)}</code>'
        f' &nbsp; <span style="{MUTED}">directory</span> <code style="{MONO}">{text(report.directory)}</code></div>',
    ]
    if report.migrations:
        lines.append(f'<div style="margin:4px 0">{plural(len(report.migrations), "migration")}: {badges}</div>')
    else:
        lines.append(f'<div style="margin:4px 0;{MUTED}">no migrations yet: write one in a '
                     f'<code style="{MONO}">%%migration SLUG</code> cell, or run '
                     f'<code style="{MONO}">duckmig new DESCRIPTION</code></div>')
    return "".join(lines)


def status_errors(report, limit: int = 10) -> str:
    failed = report.by_state("failed")
    out = []
    for m in failed[:limit]:
        statement = (f'<div style="{MUTED}">statement:</div><pre style="{MONO};margin:0;white-space:pre-wrap">'
                     f'{text(m.statement)}</pre>' if m.statement else "")
        out.append(f'<div style="border-left:4px solid {STATE_COLOURS["failed"]};padding:2px 8px;margin:6px 0">'
                   f'<div>{badge("failed")} <code style="{MONO}">{text(m.version)}</code> {text(m.description)}</div>'
                   f'<pre style="{MONO};margin:2px 0;white-space:pre-wrap">{text(m.error)}</pre>{statement}</div>')
    if len(failed) > limit:
        out.append(f'<div style="{MUTED}">and {plural(len(failed) - limit, "more failed migration")}</div>')
    return "".join(out)


def status_row(m) -> list[str]:
    return [f'<code style="{MONO}">{text(m.version)}</code>', text(m.description), text(m.kind),
            badge(m.state), text(when(m.applied_at)),
            f'<span style="white-space:nowrap">{text(duration(m.execution_ms))}</span>']


def status_table(items) -> str:
    """Rows of migrations; an int in ``items`` stands for that many folded rows."""
    head = "".join(f'<th style="{HEAD}">{text(h)}</th>' for h in STATUS_COLUMNS)
    rows = []
    for item in items:
        if isinstance(item, int):
            rows.append(f'<tr><td colspan="{len(STATUS_COLUMNS)}" style="{CELL};text-align:center;{MUTED}">'
                        f'⋯ {plural(item, "more migration")} not shown</td></tr>')
        else:
            rows.append("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in status_row(item)) + "</tr>")
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def fold(migrations, max_rows: int = MAX_ROWS) -> list:
    """At most ``max_rows`` migrations in version order, each run of left-out ones as its count."""
    if len(migrations) <= max_rows:
        return list(migrations)
    attention = [i for i, m in enumerate(migrations) if m.state != "applied"]
    applied = [i for i, m in enumerate(migrations) if m.state == "applied"]
    keep = set(attention[:max_rows])
    room = max_rows - len(keep)
    if room:
        keep.update(applied[-room:])
    out, gap = [], 0
    for i, m in enumerate(migrations):
        if i in keep:
            if gap:
                out.append(gap)
                gap = 0
            out.append(m)
        else:
            gap += 1
    if gap:
        out.append(gap)
    return out


# -- progress ------------------------------------------------------------------


def progress(done: int, total: int, label: str, state: str) -> str:
    """A static bar: ``state`` is running, done or failed."""
    colour = {"done": STATE_COLOURS["applied"], "failed": STATE_COLOURS["failed"]}.get(state, "#0969da")
    width = 100 if state == "done" or total == 0 else round(100 * done / total)
    return (f'<div style="{FONT}"><span style="display:inline-block;width:240px;height:10px;'
            f'background:rgba(128,128,128,0.25);border-radius:5px;vertical-align:middle;overflow:hidden">'
            f'<span style="display:block;width:{width}%;height:100%;background:{colour}"></span></span>'
            f' <span>{text(label)}</span></div>')


# -- preview -------------------------------------------------------------------

SUMMARY_COLUMNS = ("table", "key", "rows before", "rows after", "added", "removed", "changed", "unchanged")
SCHEMA_COLUMNS = ("kind", "name", "column", "change", "before", "after")
CHANGE_COLOURS = {"removed": "#ffebe9", "added": "#dafbe1"}  # row and cell backgrounds, with dark text
INK = "color:#1f2328"
NUMBER = f"{CELL};text-align:right;font-variant-numeric:tabular-nums"
MAX_VALUE = 120
TITLE = "font-weight:600;margin:10px 0 2px"


def preview(p) -> str:
    """The whole preview: warnings first, the summary, then each table's changes and sample rows."""
    parts = [preview_header(p), preview_failed(p), preview_warnings(p), preview_summary(p)]
    for name in preview_tables(p):
        parts.append(f'<div style="{TITLE}">table <code style="{MONO}">{text(name)}</code></div>')
        parts.append(preview_table(p, name))
    other = [r for r in p.schema_changes if r[0] not in ("table", "column")]
    if other:
        parts.append(f'<div style="{TITLE}">other changes</div>' + table(SCHEMA_COLUMNS, other))
    parts.append(preview_downgrade(p))
    return f'<div style="{FONT}">' + "".join(parts) + "</div>"


def preview_tables(p) -> list[str]:
    """Tables with a tab of their own: those diffed, then any other the schema changes name."""
    names = [t.table for t in p.tables]
    for kind, name, *_ in p.schema_changes:
        if kind in ("table", "column") and name not in names:
            names.append(name)
    return names


def preview_header(p) -> str:
    if not p.versions:
        return f'<div style="{MUTED}">nothing to preview: no migration is pending</div>'
    return (f'<div>preview of <code style="{MONO}">{text(", ".join(p.versions))}</code>'
            f'<span style="{MUTED}"> — nothing was applied: the database is as it was</span></div>')


def preview_failed(p) -> str:
    if p.ok:
        return ""
    f = p.failed
    covers = (f"the changes below are those of {text(', '.join(p.covers))} alone" if p.covers
              else "no migration before it: there are no changes to show")
    statement = (f'<div style="{MUTED}">statement:</div><pre style="{MONO};margin:0;white-space:pre-wrap">'
                 f'{text(f.statement)}</pre>' if f.statement else "")
    return (f'<div style="border-left:4px solid {STATE_COLOURS["failed"]};padding:2px 8px;margin:6px 0">'
            f'<div>{badge("failed")} <code style="{MONO}">{text(f.version)}</code> fails: {covers}</div>'
            f'<pre style="{MONO};margin:2px 0;white-space:pre-wrap">{text(f.error)}</pre>{statement}</div>')


def preview_warnings(p) -> str:
    if not p.warning_list:
        return ""
    items = "".join(f'<div style="margin:2px 0">{badge("failed", kind)} {text(message)}</div>'
                    for kind, _table, _column, _count, message in p.warning_list)
    return (f'<div style="border-left:4px solid {STATE_COLOURS["failed"]};padding:4px 8px;margin:6px 0">'
            f'<div style="font-weight:600">{plural(len(p.warning_list), "warning")}: data would be lost</div>'
            f'{items}</div>')


def preview_summary(p) -> str:
    if not p.tables:
        return "" if not p.versions else f'<div style="{MUTED};margin:6px 0">no table changes</div>'
    head = "".join(f'<th style="{HEAD}">{text(h)}</th>' for h in SUMMARY_COLUMNS)
    rows = []
    for t in p.tables:
        key = ", ".join(t.key) if t.key_source else "(whole row)"
        counts = (t.rows_before, t.rows_after, t.added, t.removed, t.changed, t.unchanged)
        rows.append(f'<tr><td style="{CELL}"><code style="{MONO}">{text(t.table)}</code></td>'
                    f'<td style="{CELL}">{text(key)}</td>'
                    + "".join(f'<td style="{NUMBER}">{"" if n is None else f"{n:,}"}</td>' for n in counts)
                    + "</tr>")
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def preview_table(p, name: str) -> str:
    """One table's schema changes and its sample of changed rows."""
    schema = [r for r in p.schema_changes if r[0] in ("table", "column") and r[1] == name]
    parts = [table(SCHEMA_COLUMNS, schema)] if schema else []
    t = next((t for t in p.tables if t.table == name), None)
    if t is not None:
        parts.append(sample(t))
    return "".join(parts)


def value_columns(t) -> tuple[int, list[tuple[str, int | None, int | None]]]:
    """Where the sample's values start, and each shown column as (name, before index, after index)."""
    start = len(t.key) + 1 if t.sample_columns[len(t.key):len(t.key) + 1] == ["_change"] \
        else t.sample_columns.index("_change") + 1
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
    keys = t.sample_columns[:start - 1]
    top = "".join(f'<th rowspan="2" style="{HEAD}">{text(k)}</th>' for k in keys)
    top += f'<th rowspan="2" style="{HEAD}">change</th>'
    top += "".join(f'<th colspan="{(b is not None) + (a is not None)}" style="{HEAD};text-align:center">'
                   f'{text(name)}</th>' for name, b, a in groups)
    sub = "".join((f'<th style="{HEAD};{MUTED}">before</th>' if b is not None else "")
                  + (f'<th style="{HEAD};{MUTED}">after</th>' if a is not None else "") for _, b, a in groups)
    rows = []
    for row in t.sample:
        change = row[start - 1]
        shade = CHANGE_COLOURS.get(change)
        row_style = f"background:{shade};{INK}" if shade else ""
        cells = [f'<td style="{CELL}">{value(v)}</td>' for v in row[:start - 1]]
        cells.append(f'<td style="{CELL}">{badge(_CHANGE_STATES.get(change, "pending"), change)}</td>')
        for _, b, a in groups:
            differs = change == "changed" and b is not None and a is not None and row[b] != row[a]
            if b is not None:
                extra = f";background:{CHANGE_COLOURS['removed']};{INK}" if differs else ""
                cells.append(f'<td style="{CELL}{extra}">{value(row[b])}</td>')
            if a is not None:
                extra = f";background:{CHANGE_COLOURS['added']};{INK}" if differs else ""
                cells.append(f'<td style="{CELL}{extra}">{value(row[a])}</td>')
        rows.append(f'<tr style="{row_style}">' + "".join(cells) + "</tr>")
    note = (f'<div style="{MUTED}">{plural(len(t.sample), "row")} of the {total:,} that differ</div>'
            if total > len(t.sample) else "")
    return (f'<table style="{TABLE}"><thead><tr>{top}</tr><tr>{sub}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{note}')


_CHANGE_STATES = {"added": "applied", "removed": "failed", "changed": "modified"}


def value(v) -> str:
    """A cell value: NULL marked as such, long values cut."""
    if v is None:
        return f'<span style="{MUTED};font-style:italic">NULL</span>'
    s = str(v)
    return text(s if len(s) <= MAX_VALUE else s[:MAX_VALUE - 1] + "…")


def preview_downgrade(p) -> str:
    d = p.proposed_downgrade
    if not d.statements and not d.cannot:
        return ""
    return (f'<details style="margin:8px 0"><summary style="{TITLE}">proposed downgrade</summary>'
            f'<pre style="{MONO};margin:2px 0;white-space:pre-wrap">{text(str(d))}</pre></details>')
