"""Who holds a database file that another process has locked, and what it is doing there.

DuckDB names the holder of a file's lock by its program and process id. What to
tell the user depends on what that process is: a ``duckmig`` command that is
applying migrations will let go when it is done (wait for it), a notebook's
kernel busy right now may be mid-migration (wait), an idle kernel keeps a
connection open until it is closed (close it, or restart the kernel). This
module looks, on Linux, at the process's command line and at whether it is
using the CPU; elsewhere, or where the process cannot be read, it knows nothing
and says so by returning None.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import errors

# The verbs of the command, as they appear on its command line; the engine does not import the
# verbs layer, and a verb missing here is told as "a duckmig command".
_VERBS = frozenset({"up", "down", "redo", "stamp", "repair", "restore", "verify", "preview", "status", "history",
                    "sql", "export", "notebook", "new", "init"})
# CPU time a process must use while we watch it to count as busy: a quarter of the time watched.
WATCH_SECONDS, BUSY_SHARE = 0.2, 0.25


@dataclass(frozen=True)
class Holder:
    """What the holder is: ``kind`` "command" (a ``duckmig`` command; ``verb`` its verb, if read) or
    "kernel" (a Jupyter kernel; ``busy``: it used the CPU while watched)."""

    kind: str
    verb: str | None = None
    busy: bool = False


def look(pid: int | None) -> Holder | None:
    """What process ``pid`` is, if it is a ``duckmig`` command or a Jupyter kernel; None otherwise,
    or where it cannot be read (not Linux, gone, another user's and hidden)."""
    if not pid or pid == os.getpid():
        return None
    argv = _argv(pid)
    if argv is None:
        return None
    if any(Path(a).name == "duckmig" or "duckmig_magic" in a for a in argv):
        return Holder("command", next((a for a in argv if a in _VERBS), None))
    if any("ipykernel" in a or "jupyter" in Path(a).name for a in argv[:3]):
        return Holder("kernel", busy=_busy(pid))
    return None


def _argv(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a] or None


def _cpu(pid: int) -> int | None:
    """The process's CPU time so far (all its threads), in clock ticks."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the program's name, in parentheses, may hold blanks
    return int(fields[11]) + int(fields[12])  # utime, stime


def _busy(pid: int) -> bool:
    before = _cpu(pid)
    time.sleep(WATCH_SECONDS)
    after = _cpu(pid)
    if before is None or after is None:
        return False
    return (after - before) / os.sysconf("SC_CLK_TCK") >= WATCH_SECONDS * BUSY_SHARE


def locked(database: object, pid: int | None, program: str | None) -> errors.DatabaseLocked:
    """The error of a database that process ``pid`` (``program``) holds, told by what that process is."""
    found = look(pid)
    doing = None if found is None else found.kind if found.kind == "command" else "busy" if found.busy else "idle"
    return errors.DatabaseLocked(database, pid, program, doing, found.verb if found else None)
