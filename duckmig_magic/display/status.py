"""The status dashboard: every migration with its state, and buttons to move the database."""

from __future__ import annotations

from .. import errors
from ..text import status_lines
from . import html, progress
from .view import View

PAGE_SIZE = 50


class StatusView(View):
    """Status of ``migrator``'s migrations, with up / down one step / refresh buttons.

    In a notebook the buttons call the engine and redraw the view in place;
    they are disabled while an action runs. Without a widget frontend the
    view renders as a static HTML table (``to_html``) or text (``to_text``).
    """

    def __init__(self, migrator, *, report=None, page_size: int = PAGE_SIZE):
        self.migrator = migrator
        self.report = report if report is not None else migrator.status()
        self.page_size = page_size
        self.page = None  # None: the page with the first migration that needs attention
        self.filter = "all"
        self.message = ""  # HTML: what the last action did, or its error
        self.busy = False
        self.progress = progress.ProgressView()

    # -- actions -----------------------------------------------------------------

    def up(self):
        """Apply every pending migration, as the "up" button does."""
        return self._act("up")

    def down(self):
        """Revert the newest applied migration, as the "down one step" button does."""
        return self._act("down")

    def refresh(self) -> None:
        """Read the status again."""
        try:
            self.report = self.migrator.status()
        except Exception as exc:  # shown in the view: a button has no cell to raise into
            self.message = _error_html(exc)
        self._sync()
        self._publish()

    def _act(self, verb: str):
        if self.busy:
            return None
        self.busy = True
        self.message = ""
        self._sync()
        results = None
        try:
            results = progress.run(self.migrator, verb, progress=self.progress)
            self.message = html.text(progress.summary(verb, results))
        except Exception as exc:  # shown in the view: a button has no cell to raise into
            self.message = _error_html(exc)
        finally:
            self.busy = False
            self.page = None
            self.refresh()
        return results

    # -- what the buttons may do -----------------------------------------------------

    @property
    def pending(self) -> list:
        return self.report.by_state("pending", "failed", "out_of_order")

    @property
    def newest_applied(self):
        applied = [m for m in self.report.migrations if m.is_applied]
        return applied[-1] if applied else None

    # -- rendering -------------------------------------------------------------------------

    def to_text(self) -> str:
        return "\n".join(status_lines(self.report))

    def to_html(self) -> str:
        return self.message + html.status(self.report)

    def rows(self) -> list:
        """The migrations the current filter shows, in version order."""
        if self.filter == "all":
            return self.report.migrations
        return self.report.by_state(self.filter)

    def pages(self) -> int:
        return max(1, -(-len(self.rows()) // self.page_size))

    def current_page(self) -> int:
        if self.page is not None:
            return min(self.page, self.pages() - 1)
        rows = self.rows()
        first = next((i for i, m in enumerate(rows) if m.state != "applied"), len(rows) - 1)
        return max(first, 0) // self.page_size

    def _build(self):
        import ipywidgets as w

        self.header = w.HTML()
        self.errors = w.HTML()
        self.up_button = w.Button(description="up", icon="arrow-up", button_style="primary")
        self.down_button = w.Button(description="down one step", icon="arrow-down")
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.up_button.on_click(lambda _: self.up())
        self.down_button.on_click(lambda _: self.down())
        self.refresh_button.on_click(lambda _: self._refresh_clicked())
        self.state_filter = w.Dropdown(description="show", layout=w.Layout(width="220px"))
        self.state_filter.observe(self._filter_changed, "value")
        self.toolbar = w.HBox([self.up_button, self.down_button, self.refresh_button, self.state_filter])
        self.message_box = w.HTML()
        self.table = w.HTML()
        self.prev_button = w.Button(description="previous", icon="chevron-left", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="next", icon="chevron-right", layout=w.Layout(width="110px"))
        self.page_label = w.Label()
        self.prev_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(1))
        self.pager = w.HBox([self.prev_button, self.page_label, self.next_button])
        self.progress.widget.layout.display = "none"
        self._widget = w.VBox([self.header, self.errors, self.toolbar, self.progress.widget, self.message_box,
                               self.table, self.pager])
        self._sync()
        return self._widget

    def _refresh_clicked(self) -> None:
        self.message = ""
        self.refresh()

    def _filter_changed(self, change) -> None:
        if self._syncing:
            return
        self.filter = change["new"]
        self.page = None
        self._sync()

    def _turn(self, step: int) -> None:
        self.page = min(max(self.current_page() + step, 0), self.pages() - 1)
        self._sync()

    _syncing = False

    def _sync(self) -> None:
        """Bring the widgets in line with the report and the busy flag."""
        if self._widget is None:
            return
        report = self.report
        self.header.value = html.status_header(report)
        self.errors.value = html.status_errors(report)
        pending, newest = self.pending, self.newest_applied
        self.up_button.disabled = self.busy or not pending
        self.up_button.tooltip = (f"apply {html.plural(len(pending), 'pending migration')}" if pending
                                  else "nothing to apply")
        self.down_button.disabled = self.busy or newest is None
        self.down_button.tooltip = (f"revert {newest.version} {newest.description}".strip() if newest
                                    else "nothing to revert")
        self.refresh_button.disabled = self.busy
        self.progress.widget.layout.display = None if self.busy else "none"
        self.message_box.value = self.message
        counts = report.counts()
        options = [(f"all ({len(report.migrations):,})", "all")]
        options += [(f"{html.STATE_LABELS[s]} ({n:,})", s) for s, n in counts.items() if n]
        if self.filter not in [v for _, v in options]:
            self.filter, self.page = "all", None
        self._syncing = True
        try:
            self.state_filter.options = options
            self.state_filter.value = self.filter
        finally:
            self._syncing = False
        self.state_filter.layout.display = None if report.migrations else "none"
        rows, page = self.rows(), self.current_page()
        shown = rows[page * self.page_size:(page + 1) * self.page_size]
        self.table.value = html.status_table(shown) if shown else ""
        self.pager.layout.display = None if self.pages() > 1 else "none"
        self.prev_button.disabled = page == 0
        self.next_button.disabled = page >= self.pages() - 1
        start = page * self.page_size
        self.page_label.value = f"{start + 1:,}–{start + len(shown):,} of {len(rows):,}"


def _error_html(exc: Exception) -> str:
    """An error as the message a user reads: ours with its hint, anything else with its kind."""
    if isinstance(exc, errors.DuckmigError):
        message, hint = exc.message, exc.hint
    else:
        message, hint = f"{type(exc).__name__}: {str(exc).strip()}", None
    hint = f'<div style="{html.MUTED}">hint: {html.text(hint)}</div>' if hint else ""
    return (f'<div style="border-left:4px solid {html.STATE_COLOURS["failed"]};padding:2px 8px">'
            f'<pre style="{html.MONO};margin:0;white-space:pre-wrap">{html.text(message)}</pre>{hint}</div>')
