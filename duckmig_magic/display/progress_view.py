"""Progress of ``up``, ``down`` and ``redo`` in a notebook: a bar, or a line per migration where no
widget frontend runs."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from ..engine import StepResult
from ..render import progress
from ..render.progress import TextProgress, summary
from .view import View, widget_frontend


class ProgressView(View):
    """A ``Migrator(progress=...)`` callback drawn as a bar with the current migration's name.

    Ends with the summary (``finish``) or the failed migration (``fail``).
    ``state`` is idle, running, done or failed.
    """

    def __init__(self, verb: str = "up", *, show_at_start: bool = False):
        self.show_at_start = show_at_start  # display this view when the first migration starts
        self._start(verb)

    def _start(self, verb: str) -> None:
        self.verb = verb
        self.state = "idle"
        self.done = 0
        self.total = 0
        self.label = ""
        self.current: str | None = None  # version of the migration that runs now
        self.results: list[StepResult] = []  # what each finished migration did

    def __call__(self, event, index, total, item, result) -> None:
        if self.show_at_start:
            self.show_at_start = False
            self.show()
        if self.state != "running":
            self.state, self.done = "running", 0
        self.total = total
        if event == "start":
            self.current = item.version
            self.label = progress.started(self.verb, index, total, item)
        else:
            self.done = index
            self.results.append(result)
        self._sync()

    def finish(self) -> None:
        self.state, self.current = "done", None
        self.done = self.total = max(self.total, len(self.results))
        self.label = summary(self.verb, self.results)
        self._sync()
        self._publish()

    def fail(self, error: BaseException) -> None:
        """End with what the run did and where it stopped; the error itself is the cell's to show,
        once, below the bar."""
        version = getattr(error, "version", None) or self.current
        self.state = "failed"
        done = f"{summary(self.verb, self.results, timed=False)}, then " if self.results else ""
        self.label = f"{done}failed at {version}: the error is below" if version else "failed: the error is below"
        self._sync()
        self._publish()

    def reset(self, verb: str) -> None:
        self.show_at_start = False  # its caller placed it, and shows it
        self._start(verb)
        self._sync()

    def to_text(self) -> str:
        if self.state == "running":
            return f"[{self.done}/{self.total}] {self.label}"
        return self.label

    def to_html(self) -> str:
        return progress.html(self.done, self.total, self.label, self.state)

    def _build(self, parts):
        import ipywidgets as w

        parts.bar = w.IntProgress(min=0, max=1, layout=w.Layout(width="240px"))
        parts.label = w.Label()
        return w.HBox([parts.bar, parts.label])

    def _sync(self) -> None:
        if self._widget is None:
            return
        bar = self._parts.bar
        bar.max = max(self.total, 1)
        bar.value = bar.max if self.state == "done" else self.done
        bar.bar_style = {"done": "success", "failed": "danger"}.get(self.state, "info")
        self._parts.label.value = self.label


@contextmanager
def shown(migrator, verb: str, view: ProgressView | None = None):
    """Show the progress of ``migrator``'s run inside the block; yields the progress in use.

    ``view`` is a ``ProgressView`` placed by the caller (the status view's own).
    Without one, where a widget frontend runs, a bar is displayed at the first
    migration and updated to the summary at the end; elsewhere the migrator's
    own progress stays, or lines are written to stdout if it has none. The
    caller passes what it yields to the verb it runs.
    """
    used: ProgressView | TextProgress
    if view is None and not widget_frontend():
        if migrator.progress is not None:
            yield migrator.progress
            return
        used = TextProgress(sys.stdout)
    elif view is None:
        used = ProgressView(verb, show_at_start=True)
    else:
        view.reset(verb)
        used = view
    try:
        yield used
    except BaseException as exc:
        used.fail(exc)
        raise
    else:
        if isinstance(used, ProgressView):
            used.finish()


def run(migrator, verb: str, *args, progress: ProgressView | None = None, **kwargs):
    """``migrator.up/down/redo(*args, **kwargs)`` with its progress shown (see ``shown``); returns its results."""
    with shown(migrator, verb, progress) as view:
        return getattr(migrator, verb)(*args, progress=view, **kwargs)
