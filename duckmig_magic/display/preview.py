"""The preview view: what a migration would do, laid out for a reviewer."""

from __future__ import annotations

from ..text import format_table
from . import html
from .view import View


class PreviewView(View):
    """A ``Preview`` shown with its warnings first, then the summary, then a tab per table
    with its schema changes and its sample of changed rows, before and after side by side.

    Everything else is the preview's own: ``view.summary``, ``view.rows("metrics")``, ...
    """

    def __init__(self, preview):
        self.preview = preview

    def __getattr__(self, name):
        if name.startswith("_") or name == "preview":
            raise AttributeError(name)
        return getattr(self.preview, name)

    def to_html(self) -> str:
        return html.preview(self.preview)

    def to_text(self) -> str:
        return "\n".join(preview_lines(self.preview))

    def _build(self):
        import ipywidgets as w

        p = self.preview
        self.header = w.HTML(html.preview_header(p) + html.preview_failed(p))
        self.warnings = w.HTML(html.preview_warnings(p))
        self.summary_table = w.HTML(html.preview_summary(p))
        names = html.preview_tables(p)
        self.tabs = w.Tab(children=[w.HTML(html.preview_table(p, name)) for name in names], titles=names)
        self.tabs.layout.display = None if names else "none"
        other = [r for r in p.schema_changes if r[0] not in ("table", "column")]
        self.other = w.HTML(html.table(html.SCHEMA_COLUMNS, other) if other else "")
        downgrade = html.text(str(p.proposed_downgrade))
        self.downgrade = w.Accordion(
            children=[w.HTML(f'<pre style="{html.MONO};margin:0;white-space:pre-wrap">{downgrade}</pre>')],
            titles=["proposed downgrade"], selected_index=None)
        self.downgrade.layout.display = None if downgrade else "none"
        return w.VBox([self.header, self.warnings, self.summary_table, self.tabs, self.other, self.downgrade])


def preview_lines(p) -> list[str]:
    """The preview as text for a terminal."""
    if not p.versions:
        return ["nothing to preview: no migration is pending"]
    lines = [f"preview of {', '.join(p.versions)}: nothing was applied"]
    if not p.ok:
        f = p.failed
        lines.append(f"{f.version} fails: " + (f"the changes below are those of {', '.join(p.covers)} alone"
                                               if p.covers else "no migration before it"))
        lines.append(f"  {' '.join(f.error.split())}")
    if p.warning_list:
        lines += ["", "WARNINGS: data would be lost"] + [f"  {w[4]}" for w in p.warning_list]
    if p.tables:
        lines += ["", format_table([c.upper() for c in html.SUMMARY_COLUMNS], [
            [t.table, ", ".join(t.key) if t.key_source else "(whole row)",
             *("" if n is None else f"{n:,}" for n in (t.rows_before, t.rows_after, t.added, t.removed,
                                                       t.changed, t.unchanged))] for t in p.tables])]
    if p.schema_changes:
        lines += ["", format_table([c.upper() for c in html.SCHEMA_COLUMNS], [list(r) for r in p.schema_changes])]
    for t in p.tables:
        if t.sample:
            lines += ["", f"{t.table}:", format_table(t.sample_columns, [list(r) for r in t.sample], max_width=30)]
    downgrade = str(p.proposed_downgrade)
    if downgrade:
        lines += ["", "proposed downgrade:"] + [f"  {line}" for line in downgrade.splitlines()]
    return lines
