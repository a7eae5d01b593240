"""Opening the target database: a path, ``:memory:``, or a connection the user has.

The engine connects per operation when it owns the path, so a notebook or a
colleague's process is locked out only while a command runs; a connection the
user passes in is used as it is and never closed.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .. import errors
from . import holders, lake
from .interrupts import is_interrupt
from .ledger import Place
from .refusals import hint as refusal_hint
from .refusals import lock_holder as refusal_lock_holder
from .sqltext import literal

_engine_locks: dict[int | str, threading.RLock] = {}
_HEADERS = 3 * 4096  # a DuckDB file starts with three 4 KiB headers
_engine_locks_guard = threading.Lock()


def is_connection(obj) -> bool:
    import duckdb

    return isinstance(obj, duckdb.DuckDBPyConnection)


class Database:
    """Where migrations go; ``connect()`` yields a connection for one operation."""

    def __init__(self, target, *, wait: float = 0.0, files: Path | None = None):
        """``files``: the folder where relative file names that migrations read are looked for, after the
        current folder (``files_found_in``); the migrations directory."""
        self.wait, self.files = wait, files
        self.owned = not is_connection(target)  # the user's connection is never closed nor committed
        self._place: Place | None = None
        if is_connection(target):
            self.connection, self.path = target, None
            self.label = _describe(target)
            try:  # the user's connection: pinned to its database now, whatever USE runs later
                self._place = Place.default(target)
            except Exception:  # a closed connection: the verb will fail clearly
                pass
        elif lake.is_lake(target):  # attached once for the Migrator's life, as :memory: is kept open
            target = lake.as_lake(target)
            self.connection, self.path, self.label = lake.connect(target), None, target.label
        else:
            self.connection = None
            self.path = str(target) if target is not None else ":memory:"
            self.label = self.path
            if self.path == ":memory:":
                import duckdb

                # One in-memory database for the Migrator's life, or every verb would see a new one.
                self.connection = duckdb.connect(":memory:")

    def close(self) -> None:
        """Close the connection this Database opened and keeps (a DuckLake's, or that of :memory:, whose
        data goes with it); a connection the user gave is left open."""
        if self.owned and self.connection is not None:
            self.connection.close()

    def place(self, conn) -> Place:
        """The database and schema the ledger is in and migrations run in: the database the user's
        connection was in when it was handed over, or the file's or :memory:'s; and that database's
        default schema (main), whatever schema the connection uses, so that a notebook and the
        command line see one ledger."""
        if self._place is None:
            self._place = Place.default(conn)
        return self._place

    @property
    def is_file(self) -> bool:
        return self.connection is None

    @property
    def file(self) -> str:
        """The database file's path; only for a database that is a file (``is_file``)."""
        assert self.path is not None
        return self.path

    def exists(self) -> bool:
        """False for a database file not created yet: reading it must not create it.

        Raises a ConfigError when not even its folder exists: a mistyped path
        is told at once, not shown as a database with nothing applied.
        """
        if not self.is_file:
            return True
        path = Path(self.file)
        if not path.parent.exists():
            raise errors.no_database_folder(path)
        return path.exists()

    @contextmanager
    def connect(self, *, write: bool):
        """A connection for one operation, serialised by an engine lock per connection, with DuckDB's
        progress bar off.

        The user's connection is moved to the pinned database and schema for a
        write, and its own current ones (its search_path) are put back after.
        """
        if self.connection is not None:
            with _lock_for(self.connection), _busy_as_error():
                if not self.owned:
                    usable(self.connection, self.label, write=write)
                if write and not self.owned and in_transaction(self.connection):
                    raise errors.transaction_open()
                if write and not self.owned:
                    with _kept_search_path(self.connection, self.place(self.connection)), \
                            no_progress_bar(self.connection), files_found_in(self.connection, self.files):
                        yield self.connection
                else:
                    with no_progress_bar(self.connection), files_found_in(self.connection, self.files if write else None):
                        yield self.connection
            return
        path = Path(self.file)
        if not path.parent.exists():
            raise errors.no_database_folder(path)
        # Connections to one file from one process share DuckDB's instance, so its file
        # lock does not keep two threads apart; the engine's lock on the path does.
        with _lock_for(str(path.resolve())):
            conn = self._open(write)
            try:
                with no_progress_bar(conn), files_found_in(conn, self.files if write else None):
                    yield conn
            finally:
                conn.close()

    def _open(self, write: bool):
        import duckdb

        deadline = time.monotonic() + self.wait
        # A file shorter than DuckDB's headers may be one another process is creating
        # right now, and a lock whose holder is gone was let go of just now: both are
        # waited for a moment even without --wait.
        creating = time.monotonic() + max(self.wait, 0.5)
        delay = 0.05
        while True:
            try:
                return duckdb.connect(self.file, read_only=not write and Path(self.file).exists())
            except duckdb.IOException as exc:
                holder = refusal_lock_holder(str(exc))
                locked = holder is not None
                if not locked and not write and "replaying WAL" in str(exc):
                    # DuckDB 1.x cannot replay the log of a crashed run read-only; read-write it can.
                    write = True
                    continue
                pid = holder[0] if holder else 0
                # A lock let go of just now (DuckDB found no holder), or a file another
                # process has not finished creating: worth another look for a moment.
                transient = not pid if locked else _being_created(self.file)
                if transient and time.monotonic() < creating:
                    time.sleep(0.02)
                    continue
                if holder is None:
                    raise errors.database_unavailable(self.path, errors.first_line(str(exc))) from exc
                if time.monotonic() >= deadline:
                    raise holders.locked(self.path, pid or None, holder[1]) from exc
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
            except duckdb.ConnectionException as exc:
                if not write and "different configuration" in str(exc):
                    # This process holds the file read-write (a notebook's own connection):
                    # a read-write connection shares that instance, a read-only one cannot.
                    write = True
                    continue
                if "different configuration" in str(exc):  # held read-only here: a notebook's own connection
                    raise errors.ConfigError(
                        f"cannot open database {self.path} for writing: this process holds it open read-only (a "
                        "connection made with read_only=True, in this notebook's kernel say), and DuckDB opens a "
                        "file one way at a time in a process",
                        "close that connection (con.close()), or open one that can write (duckdb.connect(PATH)) "
                        "and give duckmig that very connection (in a notebook: `%migrate connect VARIABLE`)") from exc
                raise errors.database_unavailable(self.path, errors.first_line(str(exc))) from exc
            except duckdb.Error as exc:
                if is_interrupt(exc):  # Ctrl-C while DuckDB opened the file: not a fault of the file
                    raise KeyboardInterrupt from None
                raise errors.database_unavailable(self.path, errors.first_line(str(exc))) from exc


def usable(conn, label: str, *, write: bool) -> None:
    """Raise what keeps a connection the user gave from serving: it is closed, or read-only for a write."""
    import duckdb

    try:
        row = conn.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
                           ).fetchone()
    except duckdb.ConnectionException as exc:
        if "closed" in str(exc):
            raise errors.ConfigError(f"the connection to {label} is closed", "open it again and give duckmig the "
                                     "new connection (in a notebook: `%migrate connect VARIABLE`), or the "
                                     "database's path") from None
        raise
    except duckdb.Error:  # an aborted transaction: the operation says what it means
        return
    if write and row and row[0]:
        raise errors.ConfigError(f"the connection to {label} is read-only (made with read_only=True): migrations "
                                 "write to the database and to its ledger",
                                 "give duckmig a connection that can write (duckdb.connect(PATH) without read_only, "
                                 "in a notebook: `%migrate connect VARIABLE`), or the database's path")


@contextmanager
def no_progress_bar(conn):
    """DuckDB's own progress bar off on ``conn`` inside the block, and the connection's setting put back
    after: duckmig shows its own progress, and in a notebook DuckDB's bar is a widget of its own that a
    saved notebook keeps as ``FloatProgress(...)`` text."""
    import duckdb

    try:
        shown = conn.execute("SELECT current_setting('enable_progress_bar')").fetchone()[0]
        if shown:
            conn.execute("SET enable_progress_bar = false")
    except (duckdb.Error, RuntimeError) as exc:
        if is_interrupt(exc):  # DuckDB's word for a Ctrl-C, which it consumed: said as Python says it
            raise KeyboardInterrupt from None
        if not isinstance(exc, duckdb.Error):
            raise
        shown = False  # a closed connection, or an aborted transaction: the operation will say so
    try:
        yield conn
    except BaseException:
        if shown:
            _show_progress_bar(conn, failing=True)
        raise
    if shown:
        _show_progress_bar(conn, failing=False)


@contextmanager
def files_found_in(conn, folder: Path | None):
    """Inside the block, a relative file name that a statement on ``conn`` reads (``read_csv('orders.csv')``,
    ``COPY t FROM 'orders.csv'``, a glob) is looked for in the current folder first, as DuckDB does, then
    in ``folder``; the connection's own ``file_search_path`` comes after, and is put back after.

    DuckDB's ``file_search_path`` does this for reads only (checked on 1.5.5 and 2.0.1): a file a
    statement writes (``COPY ... TO``, ``ATTACH``) is still relative to the current folder, so no write
    lands anywhere it did not land before. A folder whose path holds a comma (the list's separator)
    cannot be listed and is left out.
    """
    import duckdb

    if folder is None or "," in str(folder):
        yield conn
        return
    try:
        before = conn.execute("SELECT current_setting('file_search_path')").fetchone()[0] or ""
        conn.execute(f"SET file_search_path = {literal(','.join(filter(None, [str(folder), before])))}")
    except duckdb.Error:  # a closed connection, or an aborted transaction: the operation will say so
        yield conn
        return
    try:
        yield conn
    finally:
        try:
            conn.execute(f"SET file_search_path = {literal(before)}")
        except duckdb.Error:  # a closed connection, or a database gone: nothing to put back
            pass


def _show_progress_bar(conn, *, failing: bool) -> None:
    """Put DuckDB's progress bar back on ``conn``. A Ctrl-C DuckDB noticed meanwhile is raised, unless
    the operation is ``failing`` already: its own error (an engine ``Interrupted`` says what became of
    the migrations) is the one to tell."""
    import duckdb

    try:
        conn.execute("SET enable_progress_bar = true")
    except (duckdb.Error, RuntimeError) as exc:
        if not is_interrupt(exc):
            if isinstance(exc, duckdb.Error):  # a closed connection, or a database gone: nothing to put back
                return
            raise
        if not failing:
            raise KeyboardInterrupt from None


@contextmanager
def transaction(conn):
    """BEGIN ... COMMIT on ``conn``; refuses to run inside the user's open transaction.

    A DuckDB COMMIT after a failed statement silently rolls back, so a caller
    writes its proof (the ledger row) as the transaction's last statement: DuckDB
    refuses any statement once a transaction is aborted.
    """
    begin(conn)
    try:
        yield conn
    except BaseException:
        rollback(conn)
        raise
    else:
        commit(conn)


@contextmanager
def rolled_back(conn):
    """A transaction on ``conn`` that is always rolled back: for previews and dry runs."""
    begin(conn)
    try:
        yield conn
    finally:
        rollback(conn)


def begin(conn) -> None:
    import duckdb

    try:
        conn.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException as exc:
        raise errors.transaction_open() from exc


def commit(conn) -> None:
    """COMMIT; DuckDB rolls back a commit it refuses (a write conflict, a full disk, a file it may not
    write), which raises CommitFailed."""
    import duckdb

    try:
        conn.execute("COMMIT")
    except duckdb.Error as exc:
        rollback(conn)
        reason = errors.first_line(str(exc))
        raise errors.CommitFailed(reason, None, refusal_hint(reason)) from exc


def rollback(conn) -> None:
    import duckdb

    for _ in range(500):  # another thread's call on the connection ends soon: wait for it, up to 5 s
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error as exc:
            if is_busy(exc):
                time.sleep(0.01)
                continue
        return  # rolled back, or nothing open: the failure happened before BEGIN or after COMMIT


def is_busy(exc: BaseException) -> bool:
    """DuckDB 2.x refuses a call on a connection another thread is using (1.x makes it wait)."""
    import duckdb

    return isinstance(exc, getattr(duckdb, "ResourceInUseException", ()))


@contextmanager
def _busy_as_error():
    try:
        yield
    except Exception as exc:
        if is_busy(exc):
            raise errors.ConnectionBusy() from exc
        raise


@contextmanager
def _kept_search_path(conn, place: Place):
    """Move ``conn`` to ``place`` for the operation, and put its search_path back after."""
    import duckdb

    before = conn.execute("SELECT current_setting('search_path'), current_database(), current_schema()").fetchone()
    if before[1:] != (place.database, place.schema):
        place.use(conn)
    try:
        yield
    finally:
        try:
            conn.execute(f"SET search_path = {literal(before[0])}" if before[0] else "RESET search_path")
        except duckdb.Error:  # its database is gone (detached): it stays where the run left it
            pass


def in_transaction(conn) -> bool:
    """Whether ``conn`` has a transaction open.

    Probing with BEGIN would abort the open transaction, so this compares
    transaction ids instead: in autocommit each statement gets a new one.
    ``current_transaction_id()`` is asked, not ``txid_current()``, which only a
    DuckDB catalog answers (a DuckLake one raises an internal error).
    """
    import duckdb

    try:
        first = transaction_id(conn)
        return transaction_id(conn) == first
    except duckdb.TransactionException:  # open, and aborted by an earlier error
        return True


TRANSACTION_ID = "SELECT current_transaction_id()"


def transaction_id(conn) -> int:
    """The id of the transaction ``conn`` runs in: one for all its databases, whatever their catalog."""
    return conn.execute(TRANSACTION_ID).fetchone()[0]


def _being_created(path: str) -> bool:
    try:
        return Path(path).is_file() and Path(path).stat().st_size < _HEADERS
    except OSError:
        return False


def _lock_for(target) -> threading.RLock:
    """The engine's lock for a connection (by identity) or a database file (by resolved path)."""
    key = target if isinstance(target, str) else id(target)
    with _engine_locks_guard:
        return _engine_locks.setdefault(key, threading.RLock())


def _describe(conn) -> str:
    try:
        row = conn.execute("SELECT current_database(), path FROM duckdb_databases() "
                           "WHERE database_name = current_database()").fetchone()
    except Exception:  # a closed connection: described as such, the verb will fail clearly
        return "<connection>"
    if not row:
        return "<connection>"
    return row[1] or f"{row[0]} (in memory)"
