"""How duckmig words small things the same way everywhere: counts, one-line forms, long text cut."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """``1 row``, ``1,000 rows``."""
    return f"{n:,} {noun}{'s' * (n != 1)}"


def cut(text: str, width: int) -> str:
    """``text`` on one line, whitespace runs as one space, cut to ``width`` with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def first_line(message: str) -> str:
    """The first line of a message (DuckDB's come with a caret excerpt below)."""
    return message.strip().splitlines()[0] if message.strip() else message
