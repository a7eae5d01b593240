"""Ctrl-C while migrations run: prompt, and never in the middle of the engine's own work.

Python runs a SIGINT handler only between bytecodes, and DuckDB does not always
check for signals while a statement runs (it ignored one for over 30 s), so
``watch`` also wakes a thread at once, through ``signal.set_wakeup_fd``, which
calls ``interrupt()`` on the connection while a migration's statement runs.
The interrupt then surfaces as ``KeyboardInterrupt`` at one of three places:
in a migration's own Python code (as usual), when a statement is interrupted,
or at the next ``check()`` the engine makes between its steps. Never in the
middle of writing the ledger, committing or rolling back, so the engine always
finishes what it is doing and can say what happened.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager


class Interrupts:
    """Whether Ctrl-C was pressed, and where it may take effect at once."""

    def __init__(self, conn=None):
        self.conn = conn
        self.requested = False
        self._user_code = False  # a migration's own Python code runs: raise there, as Python would
        self._statement = False  # a statement runs on ``conn``: interrupt it
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise KeyboardInterrupt if Ctrl-C was pressed: at a step where the engine may stop."""
        if self.requested:
            raise KeyboardInterrupt

    @contextmanager
    def user_code(self):
        self.check()
        self._user_code = True
        try:
            yield
        finally:
            self._user_code = False

    @contextmanager
    def engine(self):
        """The engine's own work, called from a migration's code: not to be cut in the middle."""
        inside, self._user_code = self._user_code, False
        try:
            yield
        finally:
            self._user_code = inside

    @contextmanager
    def statement(self):
        self.check()
        with self._lock:
            self._statement = True
        try:
            yield
        finally:
            with self._lock:
                self._statement = False

    def _handler(self, signum, frame):
        self.requested = True
        if self._user_code:
            raise KeyboardInterrupt

    def _interrupt(self) -> None:
        with self._lock:
            if self._statement and self.conn is not None:
                self.conn.interrupt()


def is_interrupt(exc: BaseException) -> bool:
    """DuckDB's ways of saying a statement was interrupted (1.x raises RuntimeError)."""
    import duckdb

    return isinstance(exc, (KeyboardInterrupt, duckdb.InterruptException)) or (
        type(exc) is RuntimeError and "interrupted" in str(exc).lower())


@contextmanager
def watch(conn):
    """``Interrupts`` for one operation on ``conn``. Signals are handled so only in the main thread,
    and only where SIGINT still has Python's default handler; elsewhere nothing changes."""
    guard = Interrupts(conn)
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield guard
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, guard._handler)
    watcher = threading.Thread(target=_watch, args=(guard, read, previous_fd), daemon=True,
                               name="duckmig-interrupts")
    watcher.start()
    try:
        yield guard
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(previous_fd)
        os.close(write)  # the watcher reads the end of the pipe and stops
        watcher.join()
        os.close(read)


def _watch(guard: Interrupts, read: int, previous_fd: int) -> None:
    while data := os.read(read, 64):
        if previous_fd != -1:  # an event loop's own wakeup fd (asyncio's) still hears of every signal
            try:
                os.write(previous_fd, data)
            except OSError:
                pass
        if signal.SIGINT in data:
            guard.requested = True
            guard._interrupt()
