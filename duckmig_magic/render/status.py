"""A status report as the terminal's table and as the notebook's HTML."""

from __future__ import annotations

from ..engine import STATES, lake_limit
from ..wording import PYTHON, Words
from .common import (
    CELL,
    COLOURS,
    FONT,
    HEAD,
    MONO,
    MUTED,
    TABLE,
    badge,
    cell,
    code_spans,
    duration,
    error_line,
    escape,
    failure_html,
    label,
    plural,
    terminal_safe,
    text_table,
    when,
)

NEW = "{do:new DESCRIPTION}"
DOWN, REPAIR = "{do:down}", "{do:repair}"
EXPORT = "{do:export NOTEBOOK.ipynb}"
RESTORE = "{do:restore}"
TEXT_COLUMNS = ["VERSION", "STATE", "KIND", "APPLIED AT (UTC)", "MS", "DESCRIPTION"]
HTML_COLUMNS = ("version", "description", "kind", "state", "applied at (UTC)", "execution time")
MAX_ROWS = 50


def downgrade_differs(words: Words) -> str:
    return (f"the ledger stores a downgrade other than the file's; {words(DOWN)} runs the file's, "
            f"{words(REPAIR)} stores it in the ledger")


def missing(report, words: Words) -> str:
    """What to do about applied migrations whose files are gone; empty if there are none."""
    gone = report.by_state("missing")
    if not gone:
        return ""
    return (f"{plural(len(gone), 'applied migration')} {'has' if len(gone) == 1 else 'have'} no version file: "
            f"{words(RESTORE)} writes them back from the text the ledger stored; or take them from version "
            f"control, or export again the notebook that wrote them ({words(EXPORT)} gives each cell back its "
            "version)")


def text(report, words: Words = PYTHON) -> str:
    lines = [f"database:  {report.database}", f"directory: {report.directory}", ""]
    if not report.migrations:
        return terminal_safe("\n".join(lines + [f"no migrations yet: create one with {words(NEW)}"]))
    labels = {state: label(state, shout=True) for state in STATES}  # looked up, not made, for each of thousands
    lines.append(text_table(TEXT_COLUMNS, [
        [m.version, labels.get(m.state) or label(m.state), m.kind or "", when(m.applied_at),
         "" if m.execution_ms is None else f"{m.execution_ms:.1f}", m.description] for m in report]))
    for m in report.by_state("failed"):
        lines.append(f"\n{m.version} failed: {error_line(m.error)}")
        if m.statement:
            lines.append(f"  statement: {cell(m.statement, 160)}")
    lines += [f"\n{m.version}: {downgrade_differs(words)}" for m in report if m.downgrade_differs]
    lines += [f"\n{note}" for note in [missing(report, words), drafts(report)] if note]
    lines += ["", ", ".join(f"{n} {label(s)}" for s, n in report.counts().items() if n)]
    held = [f"{plural(report.kept_rows, 'row')}, {kept_size(report.kept_bytes)}"] if report.kept_rows else []
    if report.kept_in_snapshots:
        held.append(f"{plural(report.kept_in_snapshots, 'table')} in the lake's snapshots")
    if held:
        lines.append(f"kept for downgrades: {'; '.join(held)} (see {words(KEPT)})")
    return terminal_safe("\n".join(lines))


KEPT = "{do:kept}"


def kept_size(n: float) -> str:
    """Bytes as a person reads them: 512 bytes, 1.5 MB."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def html(report, words: Words = PYTHON, *, max_rows: int = MAX_ROWS) -> str:
    """The whole status view: header, errors of failed migrations, and the table.

    Past ``max_rows`` the table keeps every migration that needs attention
    (pending, failed, drifted) first and the newest applied ones next, and
    folds the rest into one line per gap, so a ledger of thousands stays small.
    """
    parts = [header(report, words), failures(report), missing_html(report, words)]
    if report.migrations:
        parts.append(table(fold(report.migrations, max_rows)))
    return f'<div style="{FONT}">' + "".join(parts) + "</div>"


def header(report, words: Words = PYTHON) -> str:
    where = (f'<div><span style="{MUTED}">database</span> <code style="{MONO}">{escape(report.database)}</code>'
             f' &nbsp; <span style="{MUTED}">directory</span> <code style="{MONO}">{escape(report.directory)}'
             "</code></div>")
    if not report.migrations:
        return where + (f'<div style="margin:4px 0;{MUTED}">no migrations yet: write one in a '
                        f'<code style="{MONO}">%%migration SLUG</code> cell, or run {code_spans(words(NEW))}</div>')
    badges = " ".join(badge(s, f"{n:,} {label(s)}") for s, n in report.counts().items() if n)
    return where + f'<div style="margin:4px 0">{plural(len(report.migrations), "migration")}: {badges}</div>'


PREVIEW = "{do:preview}"


def confirm_html(risks: list[str], words: Words = PYTHON) -> str:
    """The question the dashboard's "up" asks before it applies what cannot be taken back."""
    items = "".join(f'<div style="margin:2px 0 2px 12px">• {code_spans(r)}</div>' for r in risks)
    bold = '<span style="font-weight:600">{}</span>'.format
    return (f'<div style="border-left:4px solid {COLOURS["modified"]};padding:2px 8px;margin:4px 0">'
            f'{bold("Applying the pending migrations cannot all be taken back:")}{items}'
            f'<div>Click {bold("apply anyway")} to apply them, or {bold("cancel")}; {code_spans(words(PREVIEW))} '
            'shows what they change.</div></div>')


def checking_html() -> str:
    return f'<div style="{MUTED}">checking what applying would do (a preview, rolled back) ...</div>'


def drafts(report) -> str:
    """What a draft is, where there are any."""
    found = report.by_state("draft")
    if not found:
        return ""
    return (f"{plural(len(found), 'draft')} ({', '.join(m.version for m in found)}): "
            f"{'an untouched template' if len(found) == 1 else 'untouched templates'}, skipped until written")


def missing_html(report, words: Words = PYTHON) -> str:
    note = missing(report, words)
    return f'<div style="margin:4px 0">{badge("missing")} {code_spans(note)}</div>' if note else ""


def failures(report, limit: int = 10) -> str:
    failed = report.by_state("failed")
    out = [failure_html(f'{badge("failed")} <code style="{MONO}">{escape(m.version)}</code> {escape(m.description)}',
                        m.error, m.statement, lake_limit(m.error or "")) for m in failed[:limit]]
    if len(failed) > limit:
        out.append(f'<div style="{MUTED}">and {plural(len(failed) - limit, "more failed migration")}</div>')
    return "".join(out)


def table(items) -> str:
    """Rows of migrations; an int in ``items`` stands for that many folded rows."""
    head = "".join(f'<th style="{HEAD}">{escape(h)}</th>' for h in HTML_COLUMNS)
    rows = []
    for item in items:
        if isinstance(item, int):
            rows.append(f'<tr><td colspan="{len(HTML_COLUMNS)}" style="{CELL};text-align:center;{MUTED}">'
                        f'⋯ {plural(item, "more migration")} not shown</td></tr>')
            continue
        cells = [f'<code style="{MONO}">{escape(item.version)}</code>', escape(item.description),
                 escape(item.kind), badge(item.state), escape(when(item.applied_at)),
                 f'<span style="white-space:nowrap">{escape(duration(item.execution_ms))}</span>']
        rows.append("<tr>" + "".join(f'<td style="{CELL}">{c}</td>' for c in cells) + "</tr>")
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

