"""The preview view: what a migration would do, laid out for a reviewer."""

from __future__ import annotations

from ..text import preview_lines
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

