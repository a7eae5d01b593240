"""The status dashboard: every migration with its state, and buttons to move the database."""

from __future__ import annotations

from .. import commands, errors
from ..engine import has_downgrade
from ..render import status
from ..render.common import error_html, escape, label, plural
from ..render.progress import stopped_html, summary
from .progress_view import ProgressView, shown
from .view import NOTEBOOK_WORDS, View

PAGE_SIZE = 50
DOWN = "{do:down}"


class StatusView(View):
    """Status of ``migrator``'s migrations, with up / down one step / refresh buttons.

    In a notebook the buttons call the engine and redraw the view in place;
    they are disabled while an action runs. Without a widget frontend the
    view renders as a static HTML table (``to_html``) or text (``to_text``).
    Hints name what to do in ``words`` (the magics' by default).
    """

    def __init__(self, migrator, *, report=None, page_size: int = PAGE_SIZE, words=NOTEBOOK_WORDS):
        self.migrator = migrator
        self.report = report if report is not None else migrator.status()
        self.page_size = page_size
        self.words = words
        self.page: int | None = None  # None: the page with the first migration that needs attention
        self.filter = "all"
        self.message = ""  # HTML: what the last action did, or its error
        self.busy = False
        self.progress = ProgressView()
        self.confirming: list[str] | None = None  # what "up" would do that cannot be taken back, asked about

    # -- actions -----------------------------------------------------------------

    def up(self, *, confirmed: bool = False):
        """Apply every pending migration, as the "up" button does.

        Where the preview shows a pending migration losing data, or one has no
        downgrade, the first call applies nothing: it shows that and asks to
        confirm, and returns None; the button's second click (``confirmed``)
        applies. A `%migrate up` typed in a cell is its own confirmation.
        """
        if self.busy:
            return None
        if not confirmed:
            self.confirming = self._risks()
            if self.confirming:
                self.message = status.confirm_html(self.confirming, self.words)
                self._sync()
                self._publish()
                return None
        self.confirming = None
        return self._act("up")

    def down(self):
        """Revert the newest applied migration, as the "down one step" button does."""
        self.confirming = None
        return self._act("down")

    def _risks(self) -> list[str]:
        """What applying the pending migrations would do that could not be taken back: data the preview
        shows lost, migrations without a downgrade, and a preview that fails or cannot run."""
        self.busy, self.message = True, status.checking_html()
        self._sync()
        try:
            todo = self.migrator.plan()
            if not todo:
                return []
            risks = [f"{s.version} has no downgrade: {self.words(DOWN)} could not revert it"
                     for s in todo if not has_downgrade(s)]
            preview = self.migrator.preview(sample=1)
        except errors.PreviewNotPossible as exc:
            return [exc.message_text(self.words)]
        except Exception:  # up meets it too, and shows it
            return []
        finally:
            self.busy, self.message = False, ""
        if preview.failed is not None:
            risks.append(f"in the preview, {preview.failed.version} fails: "
                         f"{errors.first_line(preview.failed.error)}")
        return [w.message for w in preview.warning_list] + risks

    def refresh(self) -> None:
        """Read the status again."""
        try:
            self.report = self.migrator.status()
        except Exception as exc:  # shown in the view: a button has no cell to raise into
            self.message = error_html(exc, self.words)
        self._sync()
        self._publish()

    def _act(self, verb: str):
        if self.busy:
            return None
        self.busy = True
        self.message = ""
        self._sync()
        results = None
        failed: Exception | None = None
        try:
            with shown(self.migrator, verb, self.progress) as progress:
                results = commands.run(verb, self.migrator, progress=progress).steps
            self.message = escape(summary(verb, results))
        except Exception as exc:  # shown in the view: a button has no cell to raise into
            self.message = error_html(exc, self.words)
            failed = exc
        finally:
            self.busy = False
            self.page = None
            self.refresh()
        if isinstance(failed, errors.MigrationFailed) and failed.version in {m.version for m in
                                                                            self.report.by_state("failed")}:
            # Its error shows above the buttons with the other failed migrations': said once.
            self.message = stopped_html(failed, self.words)
            self._sync()
            self._publish()
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
        return status.text(self.report, self.words)

    def to_html(self) -> str:
        return self.message + status.html(self.report, self.words)

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

    def _build(self, parts):
        import ipywidgets as w

        parts.header = w.HTML()
        parts.errors = w.HTML()
        parts.up_button = w.Button(description="up", icon="arrow-up", button_style="primary")
        parts.down_button = w.Button(description="down one step", icon="arrow-down")
        parts.refresh_button = w.Button(description="refresh", icon="refresh")
        parts.cancel_button = w.Button(description="cancel", icon="times")
        parts.up_button.on_click(lambda _: self.up(confirmed=self.confirming is not None))
        parts.cancel_button.on_click(lambda _: self._cancel())
        parts.down_button.on_click(lambda _: self.down())
        parts.refresh_button.on_click(lambda _: self._refresh_clicked())
        parts.state_filter = w.Dropdown(description="show", layout=w.Layout(width="220px"))
        parts.state_filter.observe(self._filter_changed, "value")
        parts.toolbar = w.HBox([parts.up_button, parts.cancel_button, parts.down_button, parts.refresh_button,
                                parts.state_filter])
        parts.message = w.HTML()
        parts.table = w.HTML()
        parts.prev_button = w.Button(description="previous", icon="chevron-left", layout=w.Layout(width="110px"))
        parts.next_button = w.Button(description="next", icon="chevron-right", layout=w.Layout(width="110px"))
        parts.page_label = w.Label()
        parts.prev_button.on_click(lambda _: self._turn(-1))
        parts.next_button.on_click(lambda _: self._turn(1))
        parts.pager = w.HBox([parts.prev_button, parts.page_label, parts.next_button])
        self.progress.widget.layout.display = "none"
        return w.VBox([parts.header, parts.errors, parts.toolbar, self.progress.widget, parts.message,
                       parts.table, parts.pager])

    def _refresh_clicked(self) -> None:
        self.message, self.confirming = "", None
        self.refresh()

    def _cancel(self) -> None:
        self.message, self.confirming = "", None
        self._sync()
        self._publish()

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
        p, report = self._parts, self.report
        p.header.value = status.header(report, self.words)
        p.errors.value = status.failures(report) + status.missing_html(report, self.words)
        pending, newest = self.pending, self.newest_applied
        p.up_button.disabled = self.busy or not pending
        p.up_button.tooltip = f"apply {plural(len(pending), 'pending migration')}" if pending else "nothing to apply"
        asking = self.confirming is not None
        p.up_button.description = "apply anyway" if asking else "up"
        p.up_button.button_style = "danger" if asking else "primary"
        p.cancel_button.layout.display = None if asking else "none"
        p.cancel_button.disabled = self.busy
        p.down_button.disabled = self.busy or newest is None
        p.down_button.tooltip = (f"revert {newest.version} {newest.description}".strip() if newest
                                 else "nothing to revert")
        p.refresh_button.disabled = self.busy
        self.progress.widget.layout.display = None if self.busy else "none"
        p.message.value = self.message
        counts = report.counts()
        options = [(f"all ({len(report.migrations):,})", "all")]
        options += [(f"{label(s)} ({n:,})", s) for s, n in counts.items() if n]
        if self.filter not in [v for _, v in options]:
            self.filter, self.page = "all", None
        self._syncing = True
        try:
            p.state_filter.options = options
            p.state_filter.value = self.filter
        finally:
            self._syncing = False
        p.state_filter.layout.display = None if report.migrations else "none"
        rows, page = self.rows(), self.current_page()
        shown = rows[page * self.page_size:(page + 1) * self.page_size]
        p.table.value = status.table(shown) if shown else ""
        p.pager.layout.display = None if self.pages() > 1 else "none"
        p.prev_button.disabled = page == 0
        p.next_button.disabled = page >= self.pages() - 1
        start = page * self.page_size
        p.page_label.value = f"{start + 1:,}–{start + len(shown):,} of {len(rows):,}"
