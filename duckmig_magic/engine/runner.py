"""The guarded statement runner: the one place a migration's statements run.

SQL sections, a Python migration's session, preview and ``verify --roundtrip``
all run statements through a ``Runner``. It owns the engine's transaction and:

- refuses transaction control (what DuckDB's parser types a transaction
  statement) in a section that runs in a transaction, and statements that
  change the ledger tables (reading them is fine). A SQL file is refused before
  the run starts (``check``); in a Python migration the statement raises, and
  the migration fails even if its code catches that;
- keeps the transaction alive through a failed statement (a savepoint by replay,
  as DuckDB has no SAVEPOINT): it rolls back, replays in order the statements of
  the open transaction that succeeded, then raises the original error into the
  migration's code, which may catch it and go on;
- checks after a migration's statements that the transaction open is still the
  one it began, so nothing is reported as rolled back or committed on a guess;
- runs every migration in the database and schema the run started in;
- gives a Python migration its ``Session``, whose statements it runs.

A replay runs statements a second time, so it cannot restore what lives
outside the transaction: sequences advanced by ``nextval`` (DuckDB does not
roll them back; the replayed statements take new values), the values of volatile
functions (``random()``, ``uuid()``, ``now()`` is the new transaction's), and
side effects outside the database (``COPY ... TO`` a file, a Python migration's
own work between statements). Queries (SELECT) are not replayed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .keep import Keeper

import sys
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from types import FrameType

from .. import errors
from . import dryrun, lake, pyform, refusals, replay, sqlfile, statements, wrappers
from .database import TRANSACTION_ID, begin, commit, in_transaction, is_busy, rollback, transaction_id
from .interrupts import Interrupts, is_interrupt
from .ledger import Place

LEDGER = ("duckdb_migrations", "duckdb_migrations_history", "duckdb_migrations_lock")


def check(steps, path, *, transactional: bool, protected: tuple[str, ...] = LEDGER) -> None:
    """Refuse, before anything runs, a statement the runner would refuse: ``steps`` are
    (line, statement, kinds) as ``sqlfile.Section.typed`` gives them. An EXECUTE of a statement
    the section prepared is judged by what it prepared."""
    prepared: dict[str, str] = {}
    for line, sql, kinds in _judged(steps, protected):
        refused = refusal(sql, kinds, path, line, transactional=transactional, protected=protected,
                          lookup=prepared.get)
        if refused is not None:
            raise refused
        if kinds & {"PREPARE", "MULTI"} and (found := wrappers.preparation(sql)):
            prepared[found[0]] = found[1]


def _judged(steps, protected: tuple[str, ...]) -> list:
    """The (line, statement, kinds) of ``steps`` in which ``refusal`` may find something, told
    without reading their layers: the others wrap nothing, are no transaction control and name no
    ledger table (most of a large file)."""
    # Lower-cased, then searched case-sensitively: IGNORECASE alternatives are several times slower.
    # The whole text first: where no statement names a ledger table, none is searched alone.
    names = statements.named(tuple(n.lower() for n in protected), fold=False)
    named = names.search("\n".join(sql for _, sql, _ in steps).lower()) is not None
    may_wrap = wrappers.may_wrap
    return [step for step in steps if "TRANSACTION" in step[2] or may_wrap(step[1], step[2])
            or (named and names.search(step[1].lower()))]


def refusal(sql: str, kinds: frozenset[str], path, line: int | None, *, transactional: bool,
            protected: tuple[str, ...], lookup: wrappers.Lookup | None = None,
            layers: list[wrappers.Layer] | None = None) -> errors.MigrationFileError | None:
    """The error that refuses ``sql`` (transaction control in a transaction, a change to the ledger),
    if any: the statement as written or one it wraps (``wrappers.layers``)."""
    for layer in layers or wrappers.layers(sql, kinds, lookup):
        if layer.sql is None:
            continue  # EXECUTE of a statement prepared outside the run, not known here: DuckDB's to run
        control = transactional and statements.is_transaction_control(layer.kinds)
        table = None if control else statements.changed_ledger_table(layer.sql, layer.kinds, protected)
        if not (control or table):
            continue
        # How a wrapper runs the statement refused, as the start of the reason.
        wraps = f"{layer.said}, `{errors.cut(layer.sql, 60)}`; " if layer.said else ""
        said = f"`{errors.cut(sql, 60)}`"
        if control:
            return errors.MigrationFileError(
                path, f"{said}: {wraps}transaction control (BEGIN, COMMIT, ROLLBACK, ABORT, END) is refused in a "
                "migration that runs in a transaction: duckmig owns it and commits it together with the ledger row",
                line, "remove it: the migration commits as a whole, or not at all (a SQL section that must control "
                "its own transactions can be marked `-- migrate:up transaction:false`)", statement=sql)
        rule = "a migration may read the ledger tables but not change them"
        why = f" ({wraps}{rule})" if wraps else f": {rule}"
        return errors.MigrationFileError(path, f"{said} changes the ledger table {table}{why}", line,
                                         "leave the ledger to duckmig: its repair, stamp and down change it",
                                         statement=sql)
    return None


class Runner:
    """Migrations' statements on ``conn``: in one transaction of the engine's (``transaction``),
    or each on its own for a ``transaction:false`` section.

    ``replays`` counts the savepoints restored; ``ran`` holds every statement that succeeded.
    """

    def __init__(self, conn, place: Place, *, protected: tuple[str, ...] = LEDGER,
                 interrupts: Interrupts | None = None, dry: bool = False, own_connection: bool = False):
        self.conn, self.place, self.protected = conn, place, tuple(protected)
        self.dry = dry  # a preview or a round trip: what a rollback would not undo is refused (see dryrun)
        self.own_connection = own_connection  # no one else's, thrown away after: USE is let through a dry run
        self.interrupts = interrupts or Interrupts()
        self.transactional = False  # a transaction of the engine's is open
        self.replays = 0
        self.ran: list[str] = []
        self.control: list[str] = []  # transaction control that ran as written (transaction:false)
        self.prepared: dict[str, str] = {}  # name -> text of each statement the run prepared (PREPARE)
        self.version: str | None = None
        self.direction = "up"
        self.path: Path | str | None = None
        self._txid: int | None = None  # the engine's transaction, when it is to be checked (``transaction(verify=...)``)
        self._moved = False  # a statement that may change the current database or schema ran
        self._log = replay.Log()  # what to replay: the open transaction's statements
        self._broken: Exception | None = None  # what the migration's code may not swallow
        self._failure: tuple[BaseException, str] | None = None  # the last statement that failed, and why
        self._code_ran = False  # a Python migration's code ran in the engine's transaction, and no lake is attached
        self._step = 0  # where in the log the statements start that one transaction of a real run would hold
        self._in_lake: bool | None = None  # the run's database is a DuckLake (asked once, when it matters)
        # What keeps the data the running migration destroys (keep.py): told of each statement before it runs.
        self.keeper: Keeper | None = None

    @classmethod
    def adopt(cls, conn) -> Runner:
        """A runner for a connection someone else opened, in the transaction it has open, if any."""
        runner = cls(conn, Place.current(conn))
        if in_transaction(conn):
            runner._began(verify=True)
        return runner

    # -- the engine's transaction ---------------------------------------------------------

    @contextmanager
    def transaction(self, *, keep: bool = True, verify: bool = True):
        """BEGIN ... COMMIT; with ``keep=False`` always rolled back (preview, verify --roundtrip).

        ``verify``: check after each migration that the transaction open is still this one. It
        costs a query each, and can be left out where only SQL sections run on a connection that
        only duckmig uses: every statement of those was typed by DuckDB's parser, so none of
        them can end the transaction.
        """
        begin(self.conn)
        self._log, self._code_ran = replay.Log(), False
        self._began(verify)
        try:
            yield self
        except BaseException as exc:
            lost = self._lost(exc)
            if lost is not None:
                raise lost from exc
            raise
        else:
            if keep:
                self.transactional = False
                commit(self.conn)
            else:
                self._rollback()
        finally:
            self.transactional, self._log = False, replay.Log()

    def _began(self, verify: bool) -> None:
        self._txid = transaction_id(self.conn) if verify else None
        self.transactional = True

    def _lost(self, exc: BaseException) -> errors.TransactionLost | None:
        """Roll back after ``exc``; a TransactionLost if what the failure report would say,
        "rolled back: nothing of it remains", cannot be known true.

        Checked where the transaction's id is known (always after a Python migration ran, whatever
        ``verify`` said): the transaction open must still be the engine's, and no other transaction
        may have begun on the database since (a cursor or a connection of the migration's own,
        whose writes committed as they ran). DuckDB numbers transactions in order, for all of a
        database's connections, so the first after the rollback is the engine's own plus one.
        """
        import duckdb

        if self._txid is None or not isinstance(exc, errors.MigrationFailed) or isinstance(exc, errors.TransactionLost):
            self._rollback()
            return None
        why = None
        try:
            if transaction_id(self.conn) != self._txid:
                why = ("its transaction had ended before: COMMIT or ROLLBACK ran on the connection without going "
                       "through the session, so what it wrote before may be committed")
        except duckdb.TransactionException:
            pass  # aborted by a statement that failed: still the engine's, and the rollback undoes it
        after = self._rollback(probe=self._code_ran and why is None)
        if after is not None and after != self._txid + 1:
            why = ("another transaction ran on the database while it did (a cursor, or a connection of the "
                   "migration's own), and what that one wrote is committed")
        if why is None:
            return None
        return errors.TransactionLost(exc.version, exc.statement, f"{exc.error.strip()}; and {why}", exc.direction)

    def _rollback(self, *, probe: bool = False) -> int | None:
        """Roll back; with ``probe``, the id of the transaction that comes next (before the run's
        database is chosen again, which is one)."""
        import duckdb

        self.transactional = False
        rollback(self.conn)
        after = transaction_id(self.conn) if probe else None
        try:  # a rolled-back ATTACH takes the database a migration moved to with it
            self.place.use(self.conn)
        except duckdb.Error:
            pass
        return after

    # -- one migration --------------------------------------------------------------------

    def run(self, version: str, steps, direction: str = "up", *, path: Path | str | None = None) -> int:
        """Run one migration: SQL ``steps`` [(line, statement, kinds)], or a Python method that takes
        a session. Returns how many statements ran; a failure raises MigrationFailed, Ctrl-C
        KeyboardInterrupt."""
        self.version, self.direction, self.path = version, direction, path
        # A dry run's steps share one transaction that applying gives each step alone.
        self._step = len(self._log) if self.dry else 0
        self._broken = self._failure = None
        self._moved = False
        before = len(self.ran)
        try:
            if callable(steps):
                self._python(steps)
            else:
                self._sql(steps)
        except BaseException:
            if not self.transactional and self.control and in_transaction(self.conn):
                rollback(self.conn)  # the transaction a transaction:false section began and did not end
            raise
        self._after()
        return len(self.ran) - before

    def _sql(self, steps) -> None:
        import duckdb

        if self._batched(steps):
            return
        for _, statement, kinds in steps:
            try:
                self.execute(statement, None, kinds, restore=False)
            except duckdb.Error as exc:
                raise refusals.failed(self.version, statement, str(exc), self.direction,
                                      partial=not self.transactional) from exc
            except errors.MigrationFileError as exc:  # refused: it says why, and what to do instead
                raise refusals.failed(self.version, statement, exc.detail, self.direction,
                                      partial=not self.transactional, hint=exc.hint) from exc

    def _batched(self, steps) -> bool:
        """Run a section's statements as one script, one call into DuckDB rather than one a statement
        (a file of 80,000 INSERTs spends most of its time in those calls otherwise), a large statement
        as DuckDB parsed it when the file was read (``_calls``), so that it is not parsed again. Only where
        nothing is lost by it: in the engine's transaction of a real run, on a database that is no
        DuckLake, each statement of a kind that moves nothing the runner follows (no USE, SET,
        ATTACH, PREPARE or EXECUTE, nothing that wraps another) and none that a rule refuses. True
        if it ran. False where the statements must go one by one, or where the script failed:
        then the transaction is as it was before it, and one by one names the failing statement."""
        import duckdb

        large = any(len(sql) >= sqlfile.LARGE for _, sql, _ in steps)
        if not self.transactional or self.dry or (len(steps) < 2 and not large) or self._broken is not None:
            return False
        if not all(kinds <= _BATCHED for _, _, kinds in steps):
            return False
        for _, sql, kinds in _judged(steps, self.protected):
            found = wrappers.layers(sql, kinds, self._lookup)
            if len(found) > 1 or refusal(sql, kinds, "", None, transactional=True, protected=self.protected,
                                         layers=found) is not None:
                return False  # one by one, a wrapper is followed and a refused statement told with its line
        if self._in_lake is None:
            self._in_lake = lake.attached(self.conn, self.place.database)
        if self._in_lake:
            return False
        if self.keeper is not None:
            if not self.keeper.batchable():
                return False  # a table kept statement by statement: each is read just before it runs
            for _, sql, kinds in steps:
                self.keeper.before(self, sql, kinds)
        try:
            with self.interrupts.engine(), self.interrupts.statement():
                for call in self._calls(steps, large):
                    self.conn.execute(call)
        except (duckdb.Error, RuntimeError) as exc:
            self._refused(exc)  # Ctrl-C and another thread on the connection are not the script's
            self._restore(exc, steps[0][1], counted=False)
            return False
        self.interrupts.check()
        for _, sql, kinds in steps:
            self.ran.append(sql.strip())
            if kinds != {"SELECT"}:
                self._log.append((sql, None))
            if "DROP" in kinds:  # DEALLOCATE is a DROP
                self._prepared_now(wrappers.layers(sql, kinds, self._lookup))
        return True

    def _calls(self, steps, large: bool) -> list:
        """What ``_batched`` hands DuckDB: each statement of at least ``sqlfile.LARGE`` characters as DuckDB
        parsed it when the file was read (``sqlfile.Parsed``), not to be parsed again, where the
        connection's parser reads its text alike; the others, in between, as scripts."""
        parsed = getattr(steps, "statements", None)
        if parsed is not None and not (large and sqlfile.parses_alike(self.conn)):
            parsed = None
        calls: list = []
        script: list[str] = []
        for i, (_, sql, _) in enumerate(steps):
            if parsed is not None and len(sql) >= sqlfile.LARGE:
                if script:
                    calls.append("\n;\n".join(script))
                    script = []
                calls.append(parsed[i])
            else:
                script.append(sql)
        if script:  # a newline before each `;`: a line may end in a comment
            calls.append("\n;\n".join(script))
        return calls

    def _python(self, method) -> None:
        if self.transactional:
            # Its code may end the transaction, or write beside it: a failure checks (``_lost``). A
            # DuckLake begins transactions of its own on its catalog, so with one attached, other
            # transactions prove nothing.
            txid, lakes = self.conn.execute("SELECT current_transaction_id(), count(*) FILTER "
                                            "(WHERE type = 'ducklake') FROM duckdb_databases()").fetchone()
            self._txid = self._txid if self._txid is not None else txid
            self._code_ran = not lakes
        session = Session(self)
        try:
            with self.interrupts.user_code():
                method(session)
        except BaseException as exc:
            raise self._python_failure(exc, session) from exc
        if self._broken is not None:  # refused, and the migration's code caught it and went on
            raise self._python_failure(self._broken, session)

    def _python_failure(self, exc: BaseException, session) -> BaseException:
        import duckdb

        if self.interrupts.requested:
            return KeyboardInterrupt()
        exc = self._broken or exc
        if isinstance(exc, (errors.ConnectionBusy, errors.MigrationFailed, errors.PreviewRefused)):
            return exc
        where = self._where(exc)
        if isinstance(exc, errors.MigrationFileError):  # refused: it says why, and what to do instead
            return refusals.failed(self.version, exc.statement, exc.detail, self.direction, where=where, hint=exc.hint)
        if self._failure is not None and exc is self._failure[0]:
            return refusals.failed(self.version, self._failure[1], str(exc), self.direction, where=where)
        if isinstance(exc, duckdb.Error):  # a statement the session did not run: not ours to name
            return refusals.failed(self.version, None, str(exc), self.direction, where=where)
        message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not isinstance(exc, Exception):
            message += " (raised by the migration itself: it cannot exit or stop the run, so it failed)"
        # The code raised, not a statement: the last statement it ran is context, not the failure.
        return refusals.failed(self.version, None, message, self.direction, where=where, last=session.statement)

    def _where(self, exc: BaseException) -> str | None:
        if self.path is None:
            return None
        line = pyform.error_line(exc, self.path) or getattr(exc, "line", None)
        return f"{Path(self.path).name}:{line}" if line else Path(self.path).name

    def _after(self) -> None:
        """After a migration's statements: the transaction open is still the engine's, and the
        connection is back in the run's database and schema for the next migration."""
        import duckdb

        if not self.transactional:
            if self.control and in_transaction(self.conn):
                rollback(self.conn)
                raise errors.MigrationFailed(
                    self.version, self.control[-1], "its section ends inside a transaction it began "
                    "(BEGIN without COMMIT); duckmig rolled that transaction back", self.direction, partial=True)
            if self._moved:
                self._home("SELECT NULL")
            return
        if self._txid is None:
            if self._moved:
                self._home("SELECT NULL")
            return
        try:
            txid = self._home(TRANSACTION_ID)
        except duckdb.TransactionException as exc:
            raise errors.TransactionLost(self.version, None, "its transaction was aborted by a statement "
                                         f"duckmig did not run ({errors.first_line(str(exc))})",
                                         self.direction) from exc
        if txid != self._txid:
            raise errors.TransactionLost(self.version, None, "its transaction ended before duckmig committed it: "
                                         "COMMIT or ROLLBACK ran on the connection without going through the "
                                         "session (or another thread used the connection)", self.direction)

    def _home(self, probe: str):
        """``probe``'s value, asked in the run's database and schema, where a migration that moved
        is moved back to. The transaction id is one for all of a connection's databases, but the
        probe is still asked at home: the database a migration moved to may be gone (detached)."""
        import duckdb

        try:
            value, database, schema = self.conn.execute(
                f"SELECT ({probe}), current_database(), current_schema()").fetchone()
        except duckdb.BinderException:  # the current database is gone (detached, or its ATTACH rolled back)
            database = schema = None
        if (database, schema) == (self.place.database, self.place.schema):
            return value
        self.place.use(self.conn)
        return self.conn.execute(probe).fetchone()[0]

    # -- one statement ------------------------------------------------------------------

    def execute(self, sql: str, parameters=None, kinds: frozenset[str] | None = None, *, restore: bool = True):
        """Run one statement, guarded; returns DuckDB's cursor.

        In the engine's transaction a failed statement leaves the transaction as it was before
        it (``restore``), then its error is raised.
        """
        if self._broken is not None:
            raise self._broken
        if kinds is None:
            kinds = sqlfile.kinds(sql)
        found = wrappers.layers(sql, kinds, self._lookup)
        if refusal(sql, kinds, "", None, transactional=self.transactional, protected=self.protected,
                   layers=found) is not None:  # the line is looked up only then
            refused = refusal(sql, kinds, self.path or self.version or "<migration>", self._line(),
                              transactional=self.transactional, protected=self.protected, layers=found)
            assert refused is not None  # the same statement, refused again with its line
            self._broken = refused
            raise refused
        if self.dry and (reason := dryrun.refusal(sql, kinds, self._lookup, own_connection=self.own_connection)):
            self._broken = errors.PreviewRefused(self.version or "<migration>", sql, reason)
            raise self._broken
        if self.transactional and (table := lake.altered_then_renamed(self.conn, self.place.database, sql,
                                                                       (s for s, _ in islice(self._log, self._step, None)))):
            self._broken = errors.MigrationFileError(
                self.path or self.version or "<migration>", f"`{errors.cut(sql, 60)}` renames {table}, which an "
                "earlier statement of the transaction altered: DuckLake would commit that and then not open the lake "
                "again (or forget the alteration), so duckmig refused it", self._line(),
                "a DuckLake limit. Instead, rename the table first and alter it after, or rename it in a migration "
                "of its own", statement=sql)
            raise self._broken
        if self.keeper is not None:
            self.keeper.before(self, sql, kinds)
        with self.interrupts.engine():
            cursor = self._execute(sql, parameters, restore)
        self.interrupts.check()
        self.ran.append(sql.strip())
        runs = wrappers.kinds_run(found) if len(found) > 1 else kinds
        self._moved = self._moved or bool(runs & _MOVES)
        if self.transactional and not runs - {"EXPLAIN"} <= {"SELECT"}:
            self._log.append((sql, _copy(parameters)))
        elif not self.transactional and any(statements.is_transaction_control(layer.kinds) for layer in found
                                            if layer.prepared is None):
            self.control.append(sql.strip())
        if len(found) > 1 or kinds & {"DROP", "MULTI"}:
            self._prepared_now(found)
        return cursor

    def keep_statement(self, sql: str) -> None:
        """Run a statement of the engine's own (keeping data) in the open transaction, logged so that
        a replay of the transaction runs it again in its place."""
        with self.interrupts.engine():
            self.conn.execute(sql)
        if self.transactional:
            self._log.append((sql, None))

    def _lookup(self, name: str) -> str | None:
        """The text of the statement prepared as ``name``: one this run prepared; else, outside a
        dry run, the one DuckDB holds for the connection (a dry run refuses what it did not see)."""
        if name in self.prepared or self.dry:
            return self.prepared.get(name)
        row = self.conn.execute("SELECT statement FROM duckdb_prepared_statements() WHERE name = ?",
                                [name]).fetchone()
        return row[0] if row else None

    def _prepared_now(self, found: list[wrappers.Layer]) -> None:
        """Keep what a PREPARE that ran prepared, and forget what a DEALLOCATE dropped."""
        for layer in found:
            if layer.prepared is not None or layer.sql is None:
                continue
            if layer.kinds & {"PREPARE", "MULTI"} and (done := wrappers.preparation(layer.sql)):
                self.prepared[done[0]] = done[1]
            elif layer.kinds == {"DROP"} and (name := wrappers.deallocated(layer.sql)):
                self.prepared.pop(name, None)

    def _execute(self, sql: str, parameters, restore: bool):
        import duckdb

        try:
            with self.interrupts.statement():
                return self.conn.execute(sql, parameters) if parameters is not None else self.conn.execute(sql)
        except (duckdb.Error, RuntimeError) as exc:
            self._refused(exc)
            if "Current transaction is aborted" in str(exc) and self.transactional:
                # Every statement the runner ran that failed was undone; this abort came from elsewhere.
                self._broken = errors.TransactionLost(self.version, sql, "its transaction was aborted before this "
                                                      "statement, by one duckmig did not run", self.direction)
                raise self._broken from exc
            self._failure = (exc, sql.strip())
            if self.transactional and restore:
                self._restore(exc, sql)
            raise

    def _refused(self, exc: BaseException) -> None:
        """Ctrl-C, and another thread on the connection, are not the statement's failure."""
        import duckdb

        if self.interrupts.requested or (isinstance(exc, RuntimeError) and is_interrupt(exc)):
            self.interrupts.requested = True
            raise KeyboardInterrupt from exc
        if is_busy(exc):
            self._broken = errors.ConnectionBusy()
            raise self._broken from exc
        if not isinstance(exc, duckdb.Error):
            raise exc  # not DuckDB's

    def _restore(self, exc: BaseException, failed: str, *, counted: bool = True) -> None:
        """A savepoint by replay: roll back, then run again, in order, what succeeded before.
        ``counted``: a replay the migration's own failure caused, which its result reports."""
        import duckdb

        self._rollback()
        begin(self.conn)
        self._began(verify=self._txid is not None)
        if self._replayed():
            self.replays += counted
            return
        self._rollback()  # a statement failed on its second run: again one by one, to name it
        begin(self.conn)
        self._began(verify=self._txid is not None)
        for sql, parameters in self._log:
            try:
                with self.interrupts.statement():
                    self.conn.execute(sql, parameters) if parameters is not None else self.conn.execute(sql)
            except (duckdb.Error, RuntimeError) as again:
                self._refused(again)
                self._broken = refusals.failed(
                    self.version, sql, f"{errors.first_line(str(exc))} (in `{errors.cut(failed, 60)}`); "
                    "bringing the transaction back to before it, this earlier statement failed on its second "
                    f"run: {errors.first_line(str(again))}", self.direction)
                raise self._broken from again
        self.replays += counted

    def _replayed(self) -> bool:
        """Run the open transaction's log again in as few calls as do the same (``replay.batches``:
        replays after each of many caught failures run the log many times). False if a statement
        failed: nothing says which."""
        import duckdb

        for sql, parameters in replay.batches(self._log, lambda: sqlfile.parses_alike(self.conn)):
            try:
                with self.interrupts.statement():
                    self.conn.execute(sql, parameters) if parameters is not None else self.conn.execute(sql)
            except (duckdb.Error, RuntimeError) as again:
                self._refused(again)
                return False
        return True

    def _line(self) -> int | None:
        """The line of the migration's own file that called the session, if it is a Python file."""
        if self.path is None:
            return None
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename == str(self.path):
                return frame.f_lineno
            frame = frame.f_back
        return None


_MOVES = {"SET", "ATTACH", "DETACH"}
# The statement types a section may run as one script (see ``Runner._batched``).
_BATCHED = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "COPY"})  # USE and SET schema/search_path are SET statements


def _copy(parameters):
    if parameters is None:
        return None
    return dict(parameters) if isinstance(parameters, dict) else list(parameters)


class Session:
    """What a Python migration's ``upgrade``/``downgrade`` receives.

    It runs statements on the engine's connection inside the engine's
    transaction, through the engine's guarded runner: transaction control and
    changes to the ledger tables are refused, and a statement that fails leaves
    the transaction as it was before it, so a migration may catch the error and
    go on. ``commit()`` is accepted and deferred: the engine commits the
    migration together with its ledger row, so a migration stays atomic.
    """

    def __init__(self, runner):
        if not isinstance(runner, Runner):  # a bare duckdb connection: guarded as the engine would
            runner = Runner.adopt(runner)
        self._runner = runner
        self._conn = runner.conn
        self.statement: str | None = None  # the one running, for error reports
        self.statements: list[str] = []
        self.commits = 0
        self._result: _Result | None = None

    def exec(self, sql, parameters=None):
        """Run SQL (a string, or an object with a ``.text`` such as SQLAlchemy's ``text()``)."""
        sql = getattr(sql, "text", sql)
        if not isinstance(sql, str):
            raise TypeError(f"session.exec() takes SQL text, not {type(sql).__name__}")
        if parameters is not None:
            return self._run(sql, parameters, None)
        self.statement = sql.strip()  # what failed, if DuckDB cannot even split it
        result = None
        for _, statement, kinds in sqlfile.classify(sql):
            result = self._run(statement, None, kinds)
        return result

    execute = exec

    def _run(self, sql: str, parameters, kinds):
        if self._result is not None:
            self._result._keep_rows()
        self.statement = sql.strip()
        self.statements.append(self.statement)
        self._result = _Result(self._runner.execute(sql, parameters, kinds))
        return self._result

    def commit(self) -> None:
        """Deferred: the engine commits when the migration and its ledger row are done."""
        self.commits += 1

    def flush(self) -> None:
        """Accepted for SQLModel compatibility; statements already ran."""

    def rollback(self) -> None:
        raise RuntimeError("a migration cannot roll back its own transaction; raise an exception to abort it")

    def close(self) -> None:
        """Accepted; the engine owns the connection."""


class _Result:
    """The result of ``session.exec``: rows on demand, as weiser's users expect.

    A result stays readable after the session runs another statement, as in
    SQLAlchemy: its rows are kept before the connection moves on.
    """

    def __init__(self, cursor):
        self._cursor = cursor
        self._rows: list | None = None

    def _keep_rows(self) -> None:
        import duckdb

        if self._rows is None:
            try:
                self._columns = [d[0] for d in self._cursor.description or []]
                self._rows = self._cursor.fetchall()
            except duckdb.Error:  # the connection holds no result any more
                self._columns, self._rows = [], []
            self._cursor = None

    def fetchone(self):
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        if self._rows is None:
            return self._cursor.fetchall()
        rows, self._rows = self._rows, []
        return rows

    def all(self):
        return self.fetchall()

    def first(self):
        return self.fetchone()

    def one(self):
        rows = self.fetchall()
        if len(rows) != 1:
            raise ValueError(f"expected exactly one row, got {len(rows)}")
        return rows[0]

    def scalar(self):
        row = self.fetchone()
        return None if row is None else row[0]

    def df(self):
        if self._rows is None:
            return self._cursor.df()
        import pandas

        return pandas.DataFrame.from_records(self.fetchall(), columns=self._columns)

    def __iter__(self):
        return iter(self.fetchall())
