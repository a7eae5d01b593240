"""Plain-text renderings for terminals: aligned tables, status, progress lines."""

from __future__ import annotations

import sys
import warnings
from contextlib import contextmanager
from typing import TextIO

from .engine.versions import IgnoredFile
from .errors import Interrupted

STATE_LABELS = {"applied": "applied", "pending": "pending", "failed": "FAILED", "modified": "MODIFIED",
                "missing": "MISSING", "out_of_order": "out of order"}


@contextmanager
def ignored_files_as_lines(prefix: str):
    """Show each file that versions/ ignores as one line on stderr, every time, not a warning trace."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", IgnoredFile)
        shown = warnings.showwarning

        def show(message, category, *args, **kwargs):
            if issubclass(category, IgnoredFile):
                print(f"{prefix}{message}", file=sys.stderr)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def format_table(headers: list[str], rows: list[list], max_width: int = 60) -> str:
    """Columns aligned with two spaces; cells longer than ``max_width`` are cut with an ellipsis."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value, width: int) -> str:
    text = "" if value is None else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def status_lines(report) -> list[str]:
    lines = [f"database:  {report.database}", f"directory: {report.directory}", ""]
    if not report.migrations:
        return lines + ["no migrations yet: create one with `duckmig new DESCRIPTION`"]
    rows = [[m.version, STATE_LABELS[m.state], m.kind or "", _when(m.applied_at),
             "" if m.execution_ms is None else f"{m.execution_ms:.1f}", m.description] for m in report]
    lines.append(format_table(["VERSION", "STATE", "KIND", "APPLIED AT (UTC)", "MS", "DESCRIPTION"], rows))
    for m in report.by_state("failed"):
        lines.append(f"\n{m.version} failed: {error_line(m.error)}")
        if m.statement:
            lines.append(f"  statement: {_cell(m.statement, 160)}")
    counts = report.counts()
    lines.append("")
    lines.append(", ".join(f"{n} {STATE_LABELS[s].lower()}" for s, n in counts.items() if n))
    return lines


def preview_lines(p) -> list[str]:
    """A preview as a terminal shows it: warnings first, then schema, rows, samples, downgrade."""
    replays = f"; {p.replays} replay{'s' * (p.replays != 1)}" if p.replays else ""
    lines = [f"preview of {', '.join(p.versions)} (rolled back: the database is unchanged{replays})"
             if p.versions else "nothing to preview: no migration is pending"]
    if p.failed is not None:
        lines.append(f"FAILED: {p.failed.version}: {error_line(p.failed.error)}")
        if p.failed.statement:
            lines.append(f"  statement: {_cell(p.failed.statement, 160)}")
        lines.append(f"  the diff below shows only the migrations before it: {', '.join(p.covers)}"
                     if p.covers else "  no diff: the first migration failed")
    if p.warning_list:
        lines += ["", "warnings:"] + [f"  {w[-1]}" for w in p.warning_list]
    if p.covers:
        lines += ["", "schema:"]
        lines.append(format_table(["KIND", "NAME", "COLUMN", "CHANGE", "BEFORE", "AFTER"],
                                  [list(r) for r in p.schema_changes]) if p.schema_changes else "  no change")
        lines += ["", "rows:"]
        lines.append(format_table(["TABLE", "KEY", "BEFORE", "AFTER", "ADDED", "REMOVED", "CHANGED", "UNCHANGED"],
                                  [[r[0], r[1]] + [_count(n) for n in r[2:]] for r in map(p._summary_row, p.tables)])
                     if p.tables else "  no table's rows change")
        changed = [f"{t.table}.{c} {_count(n)}" for t in p.tables for c, n in (t.column_changes or {}).items() if n]
        if changed:
            lines.append("changed values: " + ", ".join(changed))
        for t in p.tables:
            if not t.sample:
                continue
            total = t.added + t.removed + (t.changed or 0)
            lines += ["", f"{t.table}: {len(t.sample)} of {_count(total)} rows added, removed or changed:"]
            at = t.sample_columns.index("_change")
            lines.append(format_table(t.sample_columns, [
                ["" if _absent(name, row[at]) else "NULL" if v is None else v
                 for name, v in zip(t.sample_columns, row)] for row in t.sample]))
        down = p.proposed_downgrade
        if down.statements or down.cannot:
            lines += ["", "proposed downgrade:", str(down)]
    return lines


def _count(n) -> str:
    return "-" if n is None else f"{n:,}"


def _absent(column: str, change: str) -> bool:
    """A value the row cannot have: the before side of an added row, the after side of a removed one."""
    return (change == "added" and column.endswith("_before")) or (change == "removed" and column.endswith("_after"))


def error_line(error: str | None) -> str:
    """An error on one line, without DuckDB's ``LINE n:`` excerpt and caret (the statement is shown apart)."""
    lines = (line.strip() for line in (error or "").splitlines())
    return " ".join(line for line in lines if line and not line.startswith("LINE ") and line.strip("^"))


def _when(at) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else ""


class TextProgress:
    """``Migrator(progress=...)`` callback that writes one line per migration."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.open = False  # a "... " line waits for its outcome

    def __call__(self, event, index, total, item, result) -> None:
        self.open = event == "start"
        if event == "start":
            verb = "applying" if not hasattr(item, "status") else "reverting"
            desc = getattr(item, "description", "") or ""
            self.stream.write(f"[{index}/{total}] {verb} {item.version} {desc} ... ")
            self.stream.flush()
        else:
            replays = getattr(result, "replays", 0)
            again = f", {replays} replay{'s' * (replays != 1)}" if replays else ""
            self.stream.write(f"ok ({result.execution_ms:.1f} ms{again})\n")
            self.stream.flush()

    def fail(self, error=None) -> None:
        """End the open line, so that the error is printed on a line of its own."""
        if self.open:
            self.stream.write("interrupted\n" if isinstance(error, Interrupted) else "failed\n")
            self.stream.flush()
            self.open = False
