"""Progress of ``up``, ``down`` and ``redo``: a line per migration for a terminal, a bar as HTML, and
the sentence that sums a run up."""

from __future__ import annotations

from typing import TextIO

from ..errors import Interrupted
from .common import COLOURS, FONT, MUTED, code_spans, duration, escape, plural, terminal_safe

VERBS = {"up": ("applying", "applied"), "down": ("reverting", "reverted"), "redo": ("redoing", "redid")}


def summary(verb: str, steps, *, timed: bool = True) -> str:
    """``applied 3 migrations in 41.0 ms``, or that there was nothing to do; ``timed=False`` leaves
    out the time."""
    if not steps:
        return {"up": "nothing to apply", "down": "nothing to revert"}.get(verb, "nothing to do")
    took = f" in {duration(sum(s.execution_ms for s in steps))}" if timed else ""
    if verb == "redo":
        return f"redid {steps[0].version}{took}"
    return f"{VERBS[verb][1]} {plural(len(steps), 'migration')}{took}"


def stopped_html(failed, words) -> str:
    """A run that a failed migration stopped, when its error is shown elsewhere in the view: where it
    stopped, what it kept, what it did not try, and the hint."""
    lines = [f"{'up' if failed.direction == 'up' else 'down'} stopped: {failed.version} failed (its error is "
             "shown above)"] + getattr(failed, "run_lines", "").split("\n  ")[1:]
    hint = failed.hint_text(words)
    return (f'<div style="{FONT};border-left:4px solid {COLOURS["failed"]};padding:2px 8px">'
            + "".join(f"<div>{escape(line)}</div>" for line in lines)
            + (f'<div style="{MUTED}">hint: {code_spans(hint)}</div>' if hint else "") + "</div>")


def started(verb: str, index: int, total: int, item) -> str:
    """``applying 1/2: VERSION description``, for a bar's label."""
    name = " ".join(filter(None, [item.version, getattr(item, "description", None)]))
    return terminal_safe(f"{VERBS.get(verb, ('running',))[0]} {index}/{total}: {name}")


def html(done: int, total: int, label: str, state: str) -> str:
    """A static bar: ``state`` is running, done or failed."""
    colour = {"done": COLOURS["applied"], "failed": COLOURS["failed"]}.get(state, "#0969da")
    width = 100 if state == "done" or total == 0 else round(100 * done / total)
    return (f'<div style="{FONT}"><span style="display:inline-block;width:240px;height:10px;'
            f'background:rgba(128,128,128,0.25);border-radius:5px;vertical-align:middle;overflow:hidden">'
            f'<span style="display:block;width:{width}%;height:100%;background:{colour}"></span></span>'
            f' <span>{escape(label)}</span></div>')


class TextProgress:
    """``Migrator(progress=...)`` callback that writes one line per migration to ``stream``."""

    def __init__(self, stream: TextIO):
        self.stream: TextIO | None = stream
        self.open = False  # a "... " line waits for its outcome

    def __call__(self, event, index, total, item, result) -> None:
        self.open = event == "start"
        if event == "start":
            verb = "reverting" if hasattr(item, "status") else "applying"  # a revert's item is a ledger row
            desc = getattr(item, "description", "") or ""
            self._write(terminal_safe(f"[{index}/{total}] {verb} {item.version} {desc} ... "))
        else:
            replays = getattr(result, "replays", 0)
            again = f", {plural(replays, 'replay')}" if replays else ""
            self._write(f"ok ({result.execution_ms:.1f} ms{again})\n")

    def fail(self, error=None) -> None:
        """End the open line, so that the error is printed on a line of its own."""
        if self.open:
            self._write("interrupted\n" if isinstance(error, Interrupted) else "failed\n")
            self.open = False

    def _write(self, text: str) -> None:
        """Write ``text``; once the stream's reader is gone (``2>&1 | head``), write nothing more: a
        progress line that cannot be shown must not stop the migrations it tells of."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            self.stream = None
