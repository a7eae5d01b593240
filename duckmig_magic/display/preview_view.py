"""The preview view: what a migration would do, laid out for a reviewer."""

from __future__ import annotations

from ..render import changes
from .view import View


class PreviewView(View):
    """A ``Preview`` shown with its warnings first, then the summary, then a tab per table
    with its schema changes and its sample of changed rows, before and after side by side.

    Everything else is the preview's own: ``view.summary``, ``view.warnings``,
    ``view.rows("metrics")``, ...; the widgets are ``view.parts``.
    """

    def __init__(self, preview):
        self.preview = preview

    def __getattr__(self, name):
        if name.startswith("_") or name == "preview":
            raise AttributeError(name)
        return getattr(self.preview, name)

    def to_html(self) -> str:
        return changes.html(self.preview)

    def to_text(self) -> str:
        return changes.text(self.preview)

    def _build(self, parts):
        import ipywidgets as w

        p = self.preview
        parts.header = w.HTML(changes.header(p) + changes.failure(p))
        parts.warnings = w.HTML(changes.warnings_html(p))
        parts.summary = w.HTML(changes.summary(p))
        names = changes.table_names(p)
        parts.tabs = w.Tab(children=[w.HTML(changes.table(p, name)) for name in names], titles=names)
        parts.tabs.layout.display = None if names else "none"
        parts.other = w.HTML(changes.other(p))
        parts.downgrade = w.Accordion(children=[w.HTML(changes.downgrade(p, folded=False))],
                                      titles=["proposed downgrade"], selected_index=None)
        parts.downgrade.layout.display = None if changes.downgrade(p) else "none"
        return w.VBox([parts.header, parts.warnings, parts.summary, parts.tabs, parts.other, parts.downgrade])
