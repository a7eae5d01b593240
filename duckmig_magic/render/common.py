"""What the renderers share: state labels and colours, times, one-line cells, tables as text and as
HTML, and text made safe for a terminal."""

from __future__ import annotations

import re
import sys
import unicodedata
import warnings
from contextlib import contextmanager
from html import escape as _escape

from ..engine import IgnoredFile, KeptNothing, NoDowngrade, Restoring, StoredDowngrade
from ..errors import DuckmigError
from ..wording import cut, plural  # noqa: F401  the renderers' plural

LABELS = {"applied": "applied", "pending": "pending", "failed": "failed", "modified": "modified",
          "missing": "missing", "out_of_order": "out of order", "draft": "draft"}
SHOUTED = {"failed", "modified", "missing"}  # a terminal's table has no colour: these stand out in capitals
# Background colours for the state badges; the label is always written too,
# so the state reads without colour (printouts, colour blindness, screen readers).
COLOURS = {"applied": "#1a7f37", "pending": "#57606a", "failed": "#cf222e", "modified": "#bc4c00",
           "missing": "#8250df", "out_of_order": "#9a6700", "draft": "#8c959f"}

FONT = "font-family:var(--jp-ui-font-family,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif);font-size:13px"
MONO = "font-family:var(--jp-code-font-family,SFMono-Regular,Menlo,Consolas,monospace);font-size:12px"
CELL = "padding:3px 10px;border-bottom:1px solid rgba(128,128,128,0.25);text-align:left;vertical-align:top"
HEAD = "padding:3px 10px;border-bottom:2px solid rgba(128,128,128,0.5);text-align:left;font-weight:600"
TABLE = "border-collapse:collapse;margin:4px 0"
MUTED = "color:#6e7781"
PRE = f"{MONO};margin:2px 0;white-space:pre-wrap"

# C0 and C1 controls but newline and tab, DEL, and the bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def label(state: str, *, shout: bool = False) -> str:
    text = LABELS.get(state, state)
    return text.upper() if shout and state in SHOUTED else text


def duration(ms) -> str:
    if ms is None:
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def when(at) -> str:
    """A time to the second, as 2024-01-31 12:00:00 (``isoformat`` takes a tenth of ``strftime``'s time,
    which status spends on each of thousands of rows)."""
    return at.isoformat(" ", "seconds")[:19] if at else ""


def count(n) -> str:
    return "-" if n is None else f"{n:,}"


# -- text ------------------------------------------------------------------------------------------


def terminal_safe(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``): nothing in it can move the
    cursor, recolour the terminal, rewrite a line or reorder what is shown."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


def cell(value, width: int = 60) -> str:
    """A value as one line of at most ``width`` characters, safe for a terminal; None as empty."""
    if value is None:
        return ""
    text = str(value)
    # Most cells (versions, states, times, plain descriptions) need nothing done: said so by C-speed
    # checks, a table of 10,000 rows is laid out without a regex per cell.
    if len(text) <= width and text.isascii() and text.isprintable() and "  " not in text and text == text.strip():
        return text
    return cut(terminal_safe(text), width)


def width(text: str) -> int:
    """The columns ``text`` takes on a terminal: East Asian wide characters take two, combining marks none,
    nor Hangul's vowel and final jamo and its fillers, which join the syllable before them."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.category(ch) in ("Mn", "Me") or _joins(ord(ch))
               else 2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _joins(code: int) -> bool:
    return 0x1160 <= code <= 0x11FF or 0xD7B0 <= code <= 0xD7FF or code in (0x3164, 0xFFA0)


def error_line(error: str | None) -> str:
    """An error on one line, without DuckDB's ``LINE n:`` excerpt and caret (the statement is shown apart)."""
    lines = (line.strip() for line in (error or "").splitlines())
    return " ".join(line for line in lines if line and not line.startswith("LINE ") and line.strip("^"))


def _plain_row(row: list, max_width: int) -> bool:
    """Whether every cell of ``row`` is a string ``cell`` would leave as it is, told for the whole row at
    once: a table of 10,000 rows is then laid out without a call per cell."""
    try:
        line = "|".join(row)
    except TypeError:  # a cell that is not a string
        return False
    return (line.isascii() and line.isprintable() and "  " not in line and " |" not in line and "| " not in line
            and line == line.strip() and (len(line) <= max_width or max(map(len, row)) <= max_width))


def text_table(headers: list[str], rows: list[list], max_width: int = 60) -> str:
    """Columns aligned with two spaces; cells longer than ``max_width`` are cut with an ellipsis.

    Laid out here rather than by a library: a general one guesses each cell's type and strips
    escapes from it, which took most of the time of ``duckmig status`` on 10,000 migrations."""
    table = [list(headers)]
    plain = all(map(str.isascii, headers))  # then a character is a column
    for row in rows:
        if not _plain_row(row, max_width):
            row = [cell(v, max_width) for v in row]
            plain = plain and all(map(str.isascii, row))
        table.append(row)
    measure = len if plain else width
    widths = [max(map(measure, column)) for column in zip(*table, strict=True)]
    if plain:
        return "\n".join("  ".join(map(str.ljust, row, widths)).rstrip() for row in table)
    return "\n".join("  ".join(text.ljust(n - width(text) + len(text)) for text, n in zip(row, widths, strict=True))
                     .rstrip() for row in table)


# -- HTML -------------------------------------------------------------------------------------------


def escape(value) -> str:
    """Any value as escaped HTML text; None as empty."""
    return "" if value is None else _escape(str(value), quote=True)


def code_spans(text: str) -> str:
    """Escaped text with its `backticked` parts as code, as hints write commands."""
    parts = escape(text).split("`")
    return "".join(f'<code style="{MONO}">{p}</code>' if i % 2 else p for i, p in enumerate(parts))


def badge(state: str, text: str | None = None) -> str:
    return (f'<span style="display:inline-block;padding:0 7px;border-radius:9px;'
            f'background:{COLOURS.get(state, COLOURS["pending"])};color:#ffffff;font-size:12px;line-height:18px;'
            f'white-space:nowrap">{escape(label(state) if text is None else text)}</span>')


def html_table(headers, rows, *, raw: bool = False) -> str:
    """A table of ``rows``; cells are escaped unless ``raw`` (already HTML)."""
    head = "".join(f'<th style="{HEAD}">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f'<td style="{CELL}">{c if raw else escape(c)}</td>' for c in row) + "</tr>"
                   for row in rows)
    return f'<table style="{TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def failure_html(title: str, error: str | None, statement: str | None = None, hint: str | None = None) -> str:
    """A failure set apart by a red rule: its title (HTML), the error, the statement and the hint as text."""
    stmt = (f'<div style="{MUTED}">statement:</div><pre style="{MONO};margin:0;white-space:pre-wrap">'
            f'{escape(statement)}</pre>' if statement else "")
    hint = f'<div style="{MUTED}">hint: {code_spans(hint)}</div>' if hint else ""
    return (f'<div style="border-left:4px solid {COLOURS["failed"]};padding:2px 8px;margin:6px 0">'
            f'<div>{title}</div><pre style="{PRE}">{escape(error)}</pre>{stmt}{hint}</div>')


def error_html(exc: BaseException, words) -> str:
    """An error as the message a user reads: ours with its hint in ``words``, anything else with its kind."""
    if isinstance(exc, DuckmigError):
        message, hint = exc.message_text(words), exc.hint_text(words)
    else:
        message, hint = f"{type(exc).__name__}: {str(exc).strip()}", None
    hint = f'<div style="{MUTED}">hint: {code_spans(hint)}</div>' if hint else ""
    return (f'<div style="border-left:4px solid {COLOURS["failed"]};padding:2px 8px">'
            f'<pre style="{MONO};margin:0;white-space:pre-wrap">{escape(message)}</pre>{hint}</div>')


@contextmanager
def ignored_files_as_lines(prefix: str):
    """Show each file that versions/ ignores, and each stored downgrade about to run, as lines on
    stderr, every time, not a warning trace."""
    as_lines = (IgnoredFile, StoredDowngrade, KeptNothing, NoDowngrade, Restoring)
    with warnings.catch_warnings():
        for category in as_lines:
            warnings.simplefilter("always", category)
        shown = warnings.showwarning

        def show(message, category, *args, **kwargs):
            if issubclass(category, as_lines):
                try:
                    print(terminal_safe(f"{prefix}{message}"), file=sys.stderr)
                except BrokenPipeError:  # `2>&1 | head`: a line nobody can read must not stop what it tells of
                    pass
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield
