"""The migrator: plans from files and ledger, and runs them against the database.

``Migrator(database_or_connection, directory)`` is the one API the CLI, the
magics and the widgets call. Each migration is atomic with its ledger event;
consecutive SQL migrations share a transaction (group commit) where that lands
and reports exactly what one transaction each would. A failure is rolled back,
then recorded in a transaction of its own. Every statement of a migration runs through the guarded runner (runner.py);
Ctrl-C is handled as interrupts.py describes.
"""

from __future__ import annotations

import gc
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from itertools import takewhile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

from .. import errors
from . import authoring, catalog, identity, interrupts, plan, pyform, runner, trust
from .database import Database, is_busy, transaction
from .ledger import Event, Ledger, Place, Row
from .plan import STATES, MigrationStatus, StatusReport, status_state  # noqa: F401 - this module's API too
from .ledger import tables as ledger_tables
from .preview import Preview, check_keys, check_sample
from .preview import run as run_preview
from .runner import Runner
from .versions import Script, ScriptDirectory, python_template

DOWNGRADE_DIFFERS = "downgrade differs"  # the state of a verify problem; each interface words its detail
_DOWNGRADE_DIFFERS_DETAIL = "the ledger stores a downgrade other than the file's; down runs the file's, repair stores it"


@dataclass
class StepResult:
    """What one migration's run did."""

    version: str
    description: str
    direction: str  # "up" or "down"
    execution_ms: float
    statements: int
    replays: int = 0  # failed statements its code caught, after which the transaction was replayed


class Problem(NamedTuple):
    """What ``verify`` found wrong with one migration."""

    version: str
    state: str  # modified, missing, failed; with roundtrip also skipped, irreversible, roundtrip
    detail: str
    hint: str | None = None  # what to write instead, where the cause tells it (a DuckLake limit, say)


UNTRUSTED_PYTHON = "it is Python code from the database, written back only when trusted"


class Restored(NamedTuple):
    """What ``restore`` did for one migration whose file was gone: its path, or why not."""

    version: str
    path: str | None
    skipped: str | None


class Repair(NamedTuple):
    """What ``repair`` did to one migration's ledger row."""

    version: str
    action: str


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0
    roundtrip: list[str] = field(default_factory=list)  # versions that round-tripped cleanly
    replays: int = 0  # transactions replayed after a failed statement that a migration caught

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[str, int, int, "Script | Row", "StepResult | None"], None]


class Migrator:
    """Apply, revert and inspect the migrations of ``directory`` on one database.

    ``database`` is a path, ``":memory:"`` or an open ``duckdb`` connection (used
    as it is and never closed). ``progress(event, index, total, item, result)``
    is called with ``"start"`` and ``"done"`` around each migration.
    """

    _noted: dict[str, str] = {}  # version: what the next apply of it records in its event's detail (redo's)

    def __init__(self, database=":memory:", directory="migrations", *, table: str = "duckdb_migrations",
                 wait: float = 0.0, progress: Progress | None = None, group_seconds: float = 0.25):
        self.db = Database(database, wait=wait)
        self.group_seconds = group_seconds
        self.scripts = ScriptDirectory(directory)
        self.table = table
        self.progress = progress

    @property
    def directory(self) -> Path:
        return self.scripts.directory

    def __repr__(self) -> str:
        return f"Migrator({self.db.label!r}, {str(self.directory)!r})"

    # -- reading -------------------------------------------------------------

    def _rows(self, *, source: bool = False) -> dict[str, Row]:
        if not self.db.exists():
            return {}
        with self.db.connect(write=False) as conn:
            return self._ledger(conn).rows(source=source)

    def status(self) -> StatusReport:
        """Every migration with its state; creates nothing, not even the database file."""
        with _no_cycles():
            scripts = self.scripts.scripts()
            if not self.db.exists():
                return self._status(scripts, {})
            with self.db.connect(write=False) as conn:
                # The ledger is read while the files are: DuckDB's work and the reads both let go of the
                # GIL. This thread keeps the engine's lock (it may hold it already); the other only queries.
                with ThreadPoolExecutor(1) as pool:
                    rows = pool.submit(self._ledger(conn).rows)
                    _read_all(scripts)
                    found = rows.result()
            return self._status(scripts, found)

    def _status(self, scripts: list[Script], rows: dict[str, Row]) -> StatusReport:
        return plan.status(scripts, rows, self.db.label, str(self.scripts.versions_dir))

    def history(self, version: str | None = None) -> list[Event]:
        """The ledger's events, oldest first."""
        if not self.db.exists():
            return []
        with self.db.connect(write=False) as conn:
            return self._ledger(conn).history(version)

    # -- planning --------------------------------------------------------------

    def plan(self, target: str | None = None, *, out_of_order: bool = False,
             allow_drift: bool = False) -> list[Script]:
        """The scripts ``up(target)`` would run, in order, each checked; raises on any problem.

        Runs nothing: a Python file is read as a syntax tree, not imported."""
        return self._plan(self.scripts.scripts(), self._rows(), target, out_of_order, allow_drift, execute=False)

    def _plan(self, scripts: list[Script], rows: dict[str, Row], target, out_of_order, allow_drift,
              execute: bool = True, checked: set[str] | None = None) -> list[Script]:
        """``checked``: the versions a run checked already (it plans again under the write lock)."""
        todo = plan.up(self._status(scripts, rows), scripts, target, out_of_order=out_of_order,
                       allow_drift=allow_drift)
        checked = set() if checked is None else checked
        for s in todo:  # every file of the run is checked before the first one starts
            if s.version not in checked:
                s.load() if execute else s.check()
                self._check_sql(s)
                checked.add(s.version)
        return todo

    def _check_sql(self, s: Script) -> None:
        """Refuse a SQL file whose sections have statements the runner would refuse, before any runs."""
        if s.kind == "sql":
            for section in filter(None, (s.sql.up, s.sql.down)):
                runner.check(section.typed(s.path), s.path, transactional=section.transaction,
                             protected=self._protected)

    def sql(self, target: str | None = None, *, out_of_order: bool = False, allow_drift: bool = False) -> str:
        """The SQL that ``up`` would run, as a script a person can read; runs nothing."""
        parts = []
        for s in self.plan(target, out_of_order=out_of_order, allow_drift=allow_drift):
            parts.append(f"-- {s.version} {s.description} ({s.name})")
            if s.kind == "python":
                parts.append("-- Python migration: its statements are known only when it runs; "
                             "`duckmig preview` runs it inside a transaction and rolls back\n")
                continue
            tx = s.sql.up.transaction
            body = "\n".join(_terminated(stmt) for _, stmt in s.sql.up.statements(s.path))
            parts.append(("BEGIN TRANSACTION;\n" if tx else "-- transaction:false\n") + body
                         + ("\nCOMMIT;\n" if tx else "\n"))
        return "\n".join(parts)

    # -- running ------------------------------------------------------------------

    def up(self, target: str | None = None, *, out_of_order: bool = False, allow_drift: bool = False,
           single_transaction: bool = False) -> list[StepResult]:
        """Apply pending migrations through ``target`` (all when None), each atomically.

        With ``single_transaction`` the whole run is one transaction, as Flyway's
        ``group``: all of it lands or none of it does.
        """
        checked: set[str] = set()
        return self._up(lambda scripts, rows: self._plan(scripts, rows, target, out_of_order, allow_drift,
                                                         checked=checked),
                        single_transaction)

    def _up(self, plan: Callable[[list[Script], dict[str, Row]], list[Script]],
            single_transaction: bool = False) -> list[StepResult]:
        scripts = self.scripts.scripts()
        todo = plan(scripts, self._rows())
        if not todo:
            return []  # without opening the database for writing, so nothing is created
        if single_transaction:
            outside = [s.version for s in todo if not s.transactional]
            if outside:
                raise errors.NotTransactional(outside)
        results: list[StepResult] = []
        with self.db.connect(write=True) as conn, interrupts.watch(conn) as guard:
            return self._until_won(conn, self.db.wait, lambda: self._up_locked(
                conn, guard, scripts, plan, single_transaction, results))

    def _up_locked(self, conn, guard, scripts, plan, single_transaction, results) -> list[StepResult]:
        todo: list[Script] = []
        try:
            ledger = self._ensure_ledger(conn)
            # Plan again under the write lock: another runner may have applied some meanwhile.
            rows = ledger.rows(plan=True)
            todo = plan(scripts, rows)
            if single_transaction and todo:
                return self._apply_group(conn, ledger, todo, rows, guard)
            i = 0
            while i < len(todo):
                guard.check()
                group = list(takewhile(self._groups, todo[i:])) if not ledger.shared else []
                if len(group) > 1:
                    self._apply_grouped(conn, ledger, group, guard, results, len(todo))
                    i += len(group)
                    continue
                self._notify("start", i + 1, len(todo), todo[i], None)
                results.append(self._apply(conn, ledger, todo[i], guard))
                self._notify("done", i + 1, len(todo), todo[i], results[-1])
                i += 1
        except KeyboardInterrupt:
            left = [s for s in todo if s.version not in {r.version for r in results}]
            what = f"before {left[0].version}: nothing of it ran" if left else "after the last migration"
            raise _interrupted(what, None, results) from None
        except errors.Interrupted as exc:
            raise _interrupted(exc.what, exc.version, results) from None
        return results

    def _until_won(self, conn, wait: float, attempt: Callable[[], list[StepResult]]) -> list[StepResult]:
        """``attempt()``, planned and run again while another runner's transaction wins, for up to
        ``wait`` seconds (see ``_lost``)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return attempt()
            except errors.CommitFailed as exc:
                self._lost(conn, exc, deadline)

    def _lost(self, conn, exc: errors.CommitFailed, deadline: float) -> None:
        """A COMMIT was refused. On a shared catalog where another runner's transaction won, wait
        and let the caller plan again until ``deadline`` (``wait``), then say who won; else re-raise."""
        ledger = self._ledger(conn)
        if not (ledger.shared and (isinstance(exc, errors.LedgerMoved) or "DuckLake transaction" in exc.reason)):
            raise exc
        if time.monotonic() < deadline:
            time.sleep(0.05 + random.random() * 0.2)  # apart, so that the two do not collide again in step
            return
        holder, other, since = ledger.holder() or ("another runner", "a migration", None)
        raise errors.RunnerConflict(exc.version, holder, other or "a migration",
                                    f"{since:%Y-%m-%d %H:%M:%S}" if since else "a moment") from exc

    def _groups(self, s: Script) -> bool:
        """Whether ``s`` may share a transaction with its neighbours (group commit): a transactional
        SQL section, whose statements DuckDB's parser typed, so none can end the transaction. Not on
        a DuckLake: statements that each migration may run alone (an ALTER of a table, then its
        RENAME) break a lake when one transaction holds both. Nor a migration that names the ledger:
        a group writes its events at its end, and what it reads there must be what it would read
        alone."""
        return (self.group_seconds > 0 and s.kind == "sql" and s.transactional
                and self.table.lower() not in s.text.lower())

    def _apply_grouped(self, conn, ledger: Ledger, scripts: list[Script], guard: interrupts.Interrupts,
                       results: list[StepResult], total: int) -> None:
        """Apply consecutive SQL migrations, several to a transaction (group commit), each with its
        event in it; ``results`` takes each once it is committed.

        What lands, what the ledger says and what is reported are what one transaction per
        migration gives: when a migration fails (or Ctrl-C), its group is rolled back, the
        migrations before it in the group are applied again in a transaction of their own, and
        the failing one runs again alone, as ``_apply`` runs one (a failure is recorded there). A
        group whose COMMIT is refused is applied again one migration to a transaction, so the
        refusal names the one it was; so is a group whose events DuckDB refused to write.
        """
        i = 0
        while i < len(scripts):
            began, group, running = time.perf_counter(), [], None
            run = self._runner(conn, guard)
            try:
                with run.transaction(verify=not self.db.owned):
                    ledger.unmoved()
                    events: list[dict] = []
                    for s in scripts[i:]:
                        if group and time.perf_counter() - began >= self.group_seconds:
                            break
                        guard.check()
                        self._notify("start", len(results) + len(group) + 1, total, s, None)
                        running = s
                        group.append(self._apply_in(run, s, events))
                        running = None
                        self._notify("done", len(results) + len(group), total, s, group[-1])
                    # The group's events go last, in one statement, as a single transaction's do.
                    _record_group(ledger, events)
            except errors.TransactionLost:
                raise  # what was committed is not known: nothing is applied again on a guess
            except (errors.CommitFailed, _Unrecorded):
                ledger.rolled_back()
                for s in scripts[i:i + len(group)]:
                    results.append(self._apply(conn, ledger, s, guard))
            except (errors.MigrationFailed, KeyboardInterrupt) as exc:
                if isinstance(exc, KeyboardInterrupt) and group and running is None \
                        and _status_of(ledger, group[-1].version) == "applied":
                    results.extend(group)  # without the engine's handler, the interrupt came after COMMIT
                    raise errors.Interrupted(f"after applying {group[-1].version}, which was committed",
                                             group[-1].version) from None
                self._reapply(conn, ledger, scripts[i:i + len(group)], group, guard)
                results.extend(group)
                if isinstance(exc, KeyboardInterrupt):
                    if running is None:
                        raise  # between two migrations: the run says which it did not start
                    raise errors.Interrupted(f"applying {running.version} was rolled back: nothing of it "
                                             "remains", running.version) from None
                # Again alone, as one transaction each runs it: its error is DuckDB's for that case (a
                # duplicate key is worded one way inside a transaction, another against committed rows),
                # and what failed only because it shared a transaction does not fail.
                results.append(self._apply(conn, ledger, running, guard))
                self._notify("done", len(results), total, running, results[-1])
                group.append(results[-1])
            else:
                results.extend(group)
            i += len(group)

    def _apply_in(self, run: Runner, s: Script, events: list[dict]) -> StepResult:
        """Run ``s`` in the transaction ``run`` has open; ``events`` takes its applied event, which
        the caller writes in that transaction."""
        start, replays = time.perf_counter(), run.replays
        count = run.run(s.version, _up_steps(s), "up", path=s.path)
        ms = _ms(start)
        events.append({**_record_of(s), "execution_ms": ms, "detail": self._noted.get(s.version)})
        return StepResult(s.version, s.description, "up", ms, count, run.replays - replays)

    def _reapply(self, conn, ledger: Ledger, scripts: list[Script], results: list[StepResult],
                 guard: interrupts.Interrupts) -> None:
        """Apply again, in one transaction, the migrations of a group that were rolled back with it;
        their results take the times the ledger records. The Ctrl-C that stopped the group does
        not stop this: what one transaction each would have committed is committed."""
        if not scripts:
            return
        ledger.rolled_back()
        ledger.unmoved()
        pressed, guard.requested = guard.requested, False
        run, again, s, events = self._runner(conn, guard), [], scripts[0], []
        try:
            with run.transaction(verify=not self.db.owned):
                for s in scripts:
                    start = time.perf_counter()
                    again.append(self._apply_in(run, s, events))
                _record_group(ledger, events)
        except errors.MigrationFailed as exc:  # it succeeded a moment ago: it is not deterministic
            self._record_failure(conn, ledger, _record_of(s), exc, start)
            raise
        except _Unrecorded:
            ledger.rolled_back()
            again = [self._apply(conn, ledger, s, guard) for s in scripts]
        finally:
            guard.requested = guard.requested or pressed
        for result, redone in zip(results, again):
            result.execution_ms, result.replays = redone.execution_ms, redone.replays

    def _apply_group(self, conn, ledger: Ledger, todo: list[Script], rows: dict[str, Row],
                     guard: interrupts.Interrupts) -> list[StepResult]:
        results, script, start = [], todo[0], time.perf_counter()
        run = self._runner(conn, guard)
        try:
            # Checked after each migration only where something could end the transaction unseen, as
            # for one migration: a Python migration's code, or a connection someone else holds.
            with run.transaction(verify=not self.db.owned or any(s.kind == "python" for s in todo)):
                for i, script in enumerate(todo, 1):
                    self._notify("start", i, len(todo), script, None)
                    start, replays = time.perf_counter(), run.replays
                    count = run.run(script.version, _up_steps(script), "up", path=script.path)
                    results.append(StepResult(script.version, script.description, "up", _ms(start), count,
                                              run.replays - replays))
                    self._notify("done", i, len(todo), script, results[-1])
                # The rows go last, as for one migration: written, they prove the transaction live.
                _recorded(script.version, lambda: ledger.record_applied(
                    [{**_record_of(s), "execution_ms": r.execution_ms} for s, r in zip(todo, results)]))
        except KeyboardInterrupt:
            raise errors.Interrupted("the single transaction was rolled back: nothing of the run remains",
                                     script.version) from None
        except errors.MigrationFailed as exc:
            self._record_failure(conn, ledger, _record_of(script), exc, start)
            raise errors.MigrationFailed(exc.version, exc.statement, exc.error, group=len(results),
                                         where=exc.where, last=exc.last) from exc
        except errors.CommitFailed as exc:
            raise errors.CommitFailed(exc.reason, script.version) from exc
        return results

    def down(self, target: str | None = None, *, steps: int | None = None,
             trust_stored_python: bool = False) -> list[StepResult]:
        """Revert one step; with ``target``, everything newer than it (``"base"``: all).

        Each migration is reverted by its file's downgrade while the file is as it
        was applied; else by the downgrade the ledger stored, shown first in a
        ``trust.StoredDowngrade`` warning, and if that is Python, only with
        ``trust_stored_python``.
        """
        plan.down(self._rows(), target, steps)  # raises before the database is opened to write
        results: list[StepResult] = []
        with self.db.connect(write=True) as conn, interrupts.watch(conn) as guard:
            # Planned again after another runner won: only a target means the same thing then.
            return self._until_won(conn, self.db.wait if target is not None else 0, lambda: self._down_locked(
                conn, guard, target, steps, trust_stored_python, results))

    def _down_locked(self, conn, guard, target, steps, trust_stored_python, results) -> list[StepResult]:
        try:
            ledger = self._ensure_ledger(conn)
            rows = ledger.rows(plan=True)  # again under the write lock: another runner may have reverted some
            todo = plan.down(rows, target, steps)
            # Every downgrade loads before the first runs: an irreversible one stops nothing halfway.
            files = {s.version: s for s in self.scripts.scripts()} if self.scripts.exists() else {}
            downs = {version: self._downgrade(rows[version], files.get(version), trust_stored_python)
                     for version in todo}
            for i, version in enumerate(todo, 1):
                guard.check()
                row = rows[version]
                self._notify("start", i, len(todo), row, None)
                result = self._revert(conn, ledger, row, downs[version], guard)
                results.append(result)
                self._notify("done", i, len(todo), row, result)
        except KeyboardInterrupt:
            raise _interrupted("before the next downgrade: nothing of it ran", None, results,
                               "down") from None
        except errors.Interrupted as exc:
            raise _interrupted(exc.what, exc.version, results, "down") from None
        return results

    def redo(self, *, out_of_order: bool = False, allow_drift: bool = False,
             trust_stored_python: bool = False) -> list[StepResult]:
        """Revert the newest applied migration and apply it again, by the rules of ``up``.

        Both steps are checked before the first runs, so a redo that could not
        apply again (file gone, drift, a file that does not parse) reverts nothing;
        pending migrations older than it are out of order, and refused as ``up``
        refuses them (``out_of_order`` lets the redo go on: they stay pending).
        Editing the newest migration's own file is what redo is for: that is
        not drift. The revert is ``down``'s, ``trust_stored_python`` included.
        """
        rows, scripts = self._rows(), self.scripts.scripts()
        newest = plan.down(rows, None, None)[0]
        if newest not in {s.version for s in scripts}:
            raise errors.UnknownVersion(newest, "in the migrations directory: redo would revert it "
                                                "and could not apply it again")

        def again(scripts, rows):
            return [s for s in self._plan(scripts, {v: r for v, r in rows.items() if v != newest}, newest,
                                          True, allow_drift) if s.version == newest]

        late = [m.version for m in self._status(scripts, rows).by_state("out_of_order", "failed")
                if m.version < newest]
        if late and not out_of_order:
            raise errors.OutOfOrder(late, newest)
        again(scripts, rows)
        edited = rows[newest].checksum not in (None, next(s for s in scripts if s.version == newest).checksum)
        reverted = self.down(trust_stored_python=trust_stored_python)
        # An edit redo applies is recorded with the apply, in its event's detail.
        self._noted = {newest: "redo: the file was edited since it was applied"} if edited else {}
        try:
            return reverted + self._up(again)
        except errors.Interrupted as exc:
            raise errors.Interrupted(f"{exc.what}; its revert before that stays: {newest} is not applied now",
                                     exc.version) from None
        finally:
            self._noted = {}

    def stamp(self, version: str) -> list[str]:
        """Record every migration through ``version`` as applied, running none of them."""
        scripts = self.scripts.scripts()
        plan.check_version(version, [s.version for s in scripts])
        rows = self._rows()
        todo = [s for s in scripts if s.version <= version
                and (s.version not in rows or rows[s.version].status != "applied")
                and not (s.version not in rows and s.is_draft)]
        for s in todo:
            s.check()
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            with transaction(conn):
                for s in todo:
                    ledger.record(version=s.version, description=s.description, kind=s.kind,
                                  checksum=s.checksum, status="applied", execution_ms=None,
                                  downgrade=s.downgrade_source, filename=s.name, source=s.text, event="stamped",
                                  detail=f"stamped through {version}")
        return [s.version for s in todo]

    def repair(self) -> list[Repair]:
        """Accept the files as they are: new checksums and downgrades for modified files, the file's
        downgrade where the ledger stores another, failed attempts cleared, rows of missing files
        forgotten. Returns (version, action)."""
        report = self.status()
        changed = [m for m in report if m.state in ("modified", "missing", "failed") or m.downgrade_differs]
        if not changed:
            return []
        scripts = {s.version: s for s in self.scripts.scripts()}
        for m in changed:
            if m.state in ("modified", "applied"):
                scripts[m.version].check()
        actions = []
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            with transaction(conn):
                for m in changed:
                    if m.state == "modified":
                        s = scripts[m.version]
                        ledger.update(m.version, "repaired", detail="accepted the edited file", checksum=s.checksum,
                                      downgrade=s.downgrade_source, description=s.description, filename=s.name,
                                      source=s.text)
                        actions.append(Repair(m.version, "accepted the edited file"))
                    elif m.state == "missing":
                        ledger.forget(m.version, "repaired", "forgot the row of a missing file")
                        actions.append(Repair(m.version, "forgot the row of a missing file"))
                    elif m.state == "failed":
                        ledger.forget(m.version, "repaired", "cleared the failed attempt")
                        actions.append(Repair(m.version, "cleared the failed attempt"))
                    else:
                        s = scripts[m.version]
                        ledger.update(m.version, "repaired", detail="stored the file's downgrade",
                                      downgrade=s.downgrade_source)
                        actions.append(Repair(m.version, "stored the file's downgrade"))
        return actions

    def restore(self, *, trust_stored_python: bool = False) -> list[Restored]:
        """Write back the version files of applied migrations whose files are gone, each with the text
        the ledger stored when it was applied (checked against its checksum). Overwrites nothing and
        runs nothing; a migration applied before its text was stored cannot be restored, and says so.

        The ledger is data that anyone who can write the database can change, and a version file is
        code that `down` trusts: a Python file is written only with ``trust_stored_python``, as a
        stored Python downgrade runs only so (see ``trust``)."""
        from .versions import FILE_RE, checksum, write_atomically

        rows = self._rows(source=True)
        scripts = self.scripts.scripts() if self.scripts.exists() else []  # the whole folder may be gone
        gone = self._status(scripts, rows).by_state("missing")
        out = []
        for m in gone:
            row = rows[m.version]
            match = FILE_RE.fullmatch(row.filename or "")
            if not row.source:
                out.append(Restored(m.version, None, "the ledger holds no text of it (it was applied by an older "
                                                     "duckmig, or adopted)"))
            elif not match or match["version"] != m.version:
                out.append(Restored(m.version, None, f"the ledger's file name {row.filename!r} is not a version "
                                                     "file's name"))
            elif match["ext"] == "py" and not trust_stored_python:
                out.append(Restored(m.version, None, UNTRUSTED_PYTHON))
            elif checksum(row.source) != row.checksum:
                out.append(Restored(m.version, None, "the stored text does not match the checksum it was applied "
                                                     "with"))
            else:
                path = self.scripts.versions_dir / row.filename
                if path.exists() or path.is_symlink():
                    out.append(Restored(m.version, None, f"{path.name} exists"))
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(path, row.source)
                out.append(Restored(m.version, str(path), None))
        return out

    def verify(self, *, roundtrip: bool = False) -> VerifyReport:
        """Check checksums of applied migrations; with ``roundtrip``, run up, down, up for each
        pending migration inside a transaction that is rolled back, comparing schemas."""
        scripts = self.scripts.scripts()
        report = VerifyReport()
        status = self._status(scripts, self._rows())
        for m in status:
            if m.state in ("modified", "missing", "failed"):
                detail = {"modified": "the file changed since it was applied",
                          "missing": "applied, but its file is gone",
                          "failed": f"the last attempt failed: {m.error}"}[m.state]
                report.problems.append(Problem(m.version, m.state, detail))
            elif m.downgrade_differs:
                report.problems.append(Problem(m.version, DOWNGRADE_DIFFERS, _DOWNGRADE_DIFFERS_DETAIL))
        report.checked = sum(1 for m in status if m.is_applied)
        if roundtrip:
            pending = [s for s in scripts if status_state(status, s.version) in plan.TO_APPLY]
            self._roundtrip(pending, report)
        return report

    def _roundtrip(self, pending: list[Script], report: VerifyReport) -> None:
        for s in pending:
            s.load()
            self._check_sql(s)  # refused before anything runs, as for up
        if not pending:
            return
        with self._scratch() as (conn, place), interrupts.watch(conn) as guard:
            run = self._runner(conn, guard, place, dry=True)
            try:
                with run.transaction(keep=False):
                    self._roundtrips(run, pending, report)
            except errors.TransactionLost:
                raise  # what it committed is not known: no report can say the database is as it was
            except errors.MigrationFailed as exc:
                report.problems.append(Problem(exc.version, "roundtrip", str(exc).splitlines()[0],
                                               exc.specific_hint))
            except errors.PreviewRefused as exc:
                report.problems.append(Problem(exc.version, "roundtrip", f"refused `{exc.statement}`: {exc.why}"))
            except KeyboardInterrupt:
                raise errors.Interrupted("verify --roundtrip was rolled back") from None
            finally:
                report.replays = run.replays

    @staticmethod
    def _roundtrips(run: Runner, pending: list[Script], report: VerifyReport) -> None:
        """Up, down, up for each of ``pending``, comparing the schema after each step."""
        for s in pending:
            if not s.transactional:
                report.problems.append(Problem(s.version, "skipped", "transaction:false: cannot run "
                                        "inside the rolled-back transaction"))
                continue
            before = catalog.snapshot(run.conn)
            run.run(s.version, _up_steps(s), "up", path=s.path)
            after_up = catalog.snapshot(run.conn)
            down = _down_steps(s.version, s.kind, s.downgrade_source, s.path)
            if down is None:
                report.problems.append(Problem(s.version, "irreversible", "no downgrade to check"))
                continue
            run.run(s.version, down, "down", path=s.path)
            restored = catalog.snapshot(run.conn)
            if restored != before:
                report.problems.append(Problem(s.version, "roundtrip", "the downgrade does not restore the "
                                        "schema: " + catalog.describe_difference(before, restored)))
                continue
            run.run(s.version, _up_steps(s), "up", path=s.path)
            if catalog.snapshot(run.conn) != after_up:
                report.problems.append(Problem(s.version, "roundtrip", "applying again after the downgrade "
                                        "gives a different schema"))
                continue
            report.roundtrip.append(s.version)

    @contextmanager
    def _scratch(self):
        """The database to try migrations on, and its place; an empty one in memory if the file is not
        created yet, so that trying creates nothing."""
        if self.db.exists():
            with self.db.connect(write=True) as conn:
                yield conn, self.db.place(conn)
            return
        import duckdb

        with duckdb.connect(":memory:") as conn:
            yield conn, Place.current(conn)

    def new(self, description: str, *, python: bool = False, up: str = "", down: str = "",
            slug: str | None = None) -> Script:
        """Create a version file from a template; SQL by default, the class form with ``python``."""
        from . import sqlfile

        if python:
            return self.scripts.create(description, lambda v: python_template(v, description),
                                       kind="python", slug=slug)
        return self.scripts.create(
            description, lambda v: sqlfile.render(up, down, description=description), slug=slug)

    def save(self, slug: str, body: str, *, python: bool = False, description: str | None = None,
             source: str | None = None, force: bool = False, where: str | None = None,
             version: str | None = None) -> "authoring.Saved":
        """Create or update the version file of ``slug`` from a migration body (a notebook cell's).

        Saving the same slug again updates its file; an applied migration whose
        text changed is refused unless ``force``. A new file gets ``version``,
        else the next free one.
        """
        return authoring.write(self.scripts, self.prepare(slug, body, python=python, description=description,
                                                          source=source, force=force, where=where,
                                                          version=version))

    def prepare(self, slug: str, body: str, *, python: bool = False, **kw) -> "authoring.Planned":
        """What ``save`` would do, with all its checks, writing nothing; ``authoring.write`` does it."""
        rows = self._rows()
        applied = {v for v, r in rows.items() if r.status == "applied"}
        files = {s.version for s in self.scripts.scripts()} if self.scripts.exists() else set()
        return authoring.prepare(self.scripts, slug, body, kind="python" if python else "sql", applied=applied,
                                 recorded=identity.recorded(rows, files), **kw)

    # -- preview -----------------------------------------------------------------------

    def preview(self, target: str | None = None, *, script: str | Script | None = None, keys=None,
                sample: int = 20, out_of_order: bool = False, allow_drift: bool = False) -> Preview:
        """What ``up(target)`` would do to the schema and the rows; the database is left as it was.

        ``script`` (a version, or a ``Script``) previews that one pending migration
        alone. ``keys`` names the columns that identify rows where a table has no
        primary key (``{"events": ["day", "seq"]}``); without one, whole rows are
        compared. ``sample`` bounds the changed rows shown a table.
        """
        keys, sample = check_keys(keys), check_sample(sample)
        if script is not None:
            if not isinstance(script, Script):
                plan.check_format(script)
                scripts = self.scripts.scripts()
                state = status_state(self._status(scripts, self._rows()), script)
                if state is None:
                    raise errors.UnknownVersion(script)
                if state not in plan.TO_APPLY:
                    raise errors.PreviewNotPossible(script, f"it is {state.replace('_', ' ')}, not pending",
                                                    "a preview runs migrations that are not applied yet")
                script = next(s for s in scripts if s.version == script)
            script.load()
            todo = [script]
        else:
            todo = self.plan(target, out_of_order=out_of_order, allow_drift=allow_drift)
        return self._preview([(s.version, s.transactional, _up_steps(s), s.path) for s in todo], keys, sample)

    def preview_body(self, body: str, *, python: bool = False, name: str = "cell", keys=None,
                     sample: int = 20) -> Preview:
        """Preview a migration's text that is saved nowhere (a notebook cell's), alone, on the
        database as it is: the SQL form, or the Python class form with ``python``. Writes no file."""
        from . import sqlfile

        keys, sample = check_keys(keys), check_sample(sample)
        if python:
            return self._preview([(name, True, pyform.load(body, name, None).upgrade, name)], keys, sample)
        up = sqlfile.parse(body, name).up
        return self._preview([(name, up.transaction, up.typed(name), name)], keys, sample)

    def _preview(self, todo: list[tuple[str, bool, object, object]], keys, sample: int) -> Preview:
        for version, transactional, steps, path in todo:
            if not transactional:
                raise errors.PreviewNotPossible(
                    version, "it runs outside a transaction (transaction:false), and a preview applies "
                    "migrations inside one that it rolls back", "apply it to a copy of the database to see "
                    "what it does")
            if not callable(steps):
                runner.check(steps, path, transactional=True, protected=self._protected)
        steps = [(version, up, path) for version, _, up, path in todo]
        if not steps:
            return Preview([])
        with self._scratch() as (conn, place), interrupts.watch(conn) as guard:
            try:
                try:
                    return run_preview(self._runner(conn, guard, place, dry=True), steps, keys=keys, sample=sample)
                except errors.TransactionLost:
                    raise  # what it committed is not known: no preview can say the database is unchanged
                except errors.MigrationFailed as exc:
                    failed = exc
                # The diff of the migrations before the failing one, as a run of its own.
                done = steps[:next((i for i, (v, _, _) in enumerate(steps) if v == failed.version), 0)]
                result = Preview([])
                if done:
                    try:
                        result = run_preview(self._runner(conn, guard, place, dry=True), done, keys=keys, sample=sample)
                    except errors.MigrationFailed:
                        pass
            except KeyboardInterrupt:
                raise errors.Interrupted("the preview was rolled back") from None
        result.versions, result.failed = [v for v, _, _ in steps], failed
        return result

    # -- the seed's names ------------------------------------------------------------

    def migration_status(self) -> StatusReport:
        return self.status()

    def migrate_up(self, target: str | None = None) -> list[StepResult]:
        return self.up(target)

    def migrate_down(self, version: str | None = None) -> list[StepResult]:
        return self.down(version)

    def create_migration(self, description: str, *, python: bool = True) -> Path:
        """The seed's call: creates a Python migration and returns its path."""
        return self.new(description, python=python).path

    # -- internals ---------------------------------------------------------------------

    @property
    def _protected(self) -> tuple[str, str]:
        """The ledger's tables, which a migration may read but not change."""
        return ledger_tables(self.table)

    def _ledger(self, conn, place: Place | None = None) -> Ledger:
        return Ledger(conn, self.table, place or self.db.place(conn))

    def _runner(self, conn, guard: interrupts.Interrupts, place: Place | None = None, *, dry: bool = False) -> Runner:
        return Runner(conn, place or self.db.place(conn), protected=self._protected, interrupts=guard, dry=dry)

    def _ensure_ledger(self, conn) -> Ledger:
        ledger = self._ledger(conn)
        layout = ledger.layout()
        if not ledger.ready():
            files = {}
            if layout == "legacy" and self.scripts.exists():  # adopted rows take their files' checksums
                for s in self.scripts.scripts():
                    try:
                        files[s.version] = (s.checksum, s.downgrade_source, s.kind, s.name)
                    except errors.MigrationFileError:
                        files[s.version] = (s.checksum, None, s.kind, s.name)
            with transaction(conn):
                ledger.ensure(files)
        return ledger

    def _notify(self, event, i, n, item, result) -> None:
        if self.progress:
            self.progress(event, i, n, item, result)

    def _apply(self, conn, ledger: Ledger, s: Script, guard: interrupts.Interrupts) -> StepResult:
        record = _record_of(s)
        start = time.perf_counter()
        run = self._runner(conn, guard)
        if s.transactional:
            try:
                with run.transaction(verify=s.kind == "python" or not self.db.owned):
                    ledger.unmoved()
                    count = run.run(s.version, _up_steps(s), "up", path=s.path)
                    ms = _ms(start)
                    # The ledger row is the migration's last statement, after the runner checked that
                    # the transaction is still its own: DuckDB refuses every statement in a transaction
                    # an error aborted (where COMMIT would silently roll back), so a row written here
                    # proves the transaction is live: no query after COMMIT is needed.
                    _recorded(s.version, lambda: ledger.record(**record, status="applied", execution_ms=ms,
                                                               detail=self._noted.get(s.version)))
            except KeyboardInterrupt:
                # Asked, not assumed: without the engine's signal handler (outside the main thread) the
                # interrupt may come after COMMIT.
                if _status_of(ledger, s.version) == "applied":
                    raise errors.Interrupted(f"after applying {s.version}, which was committed", s.version) from None
                raise errors.Interrupted(f"applying {s.version} was rolled back: nothing of it remains",
                                         s.version) from None
            except errors.MigrationFailed as exc:
                self._record_failure(conn, ledger, record, exc, start)
                raise
            except errors.CommitFailed as exc:  # nothing to record: the disk that refused it refuses that too
                raise errors.CommitFailed(exc.reason, s.version) from exc
        else:
            try:
                count = run.run(s.version, _up_steps(s), "up", path=s.path)
            except KeyboardInterrupt:
                if run.ran:  # committed as it went: what ran stays, and the ledger says so
                    self._record_failure(conn, ledger, record, errors.MigrationFailed(
                        s.version, run.ran[-1], "interrupted (Ctrl-C) after this statement", partial=True), start)
                    raise errors.Interrupted(f"{s.version} runs outside a transaction (transaction:false): what "
                                             "it committed before the interrupt stays, and it is recorded as "
                                             "failed", s.version) from None
                raise errors.Interrupted(f"applying {s.version}: none of its statements ran", s.version) from None
            except errors.MigrationFailed as exc:
                self._record_failure(conn, ledger, record, exc, start)
                raise
            ms = _ms(start)
            detail = "transaction:false" + (f"; it ran its own transaction control: {', '.join(run.control)}"
                                            if run.control else "")
            try:
                with transaction(conn):
                    ledger.record(**record, status="applied", execution_ms=ms, detail=detail)
            except errors.CommitFailed as exc:
                raise errors.MigrationFailed(s.version, "COMMIT", f"{exc.reason}\n(its ledger row could not "
                                             "be written)", partial=True) from exc
        return StepResult(s.version, s.description, "up", ms, count, run.replays)

    def _record_failure(self, conn, ledger: Ledger, record: dict, exc: errors.MigrationFailed, start) -> None:
        import duckdb

        ledger.rolled_back()
        ledger.unmoved()
        error = exc.error
        if exc.where:
            error += f"\n(at {exc.where})"
        if exc.partial:  # status must tell that a rerun starts on top of what was committed
            error += "\n(transaction:false: the statements before this one were committed)"
        try:
            with transaction(conn):
                ledger.record(**record, status="failed", execution_ms=_ms(start), error=error,
                              statement=exc.statement)
        except (errors.CommitFailed, duckdb.Error):
            pass  # a full disk refuses this write too; the run's own error says what happened

    def _downgrade(self, row: Row, script: Script | None, trust_stored_python: bool):
        """The downgrade of ``row`` by the trust rule (see ``trust``), ready to run; raises if there is none."""
        if trust.as_applied(row, script):
            path = script.path
            steps = _down_steps(row.version, script.kind, script.downgrade_source, path)
        else:
            path = Path(self.scripts.versions_dir / row.filename) if row.filename else Path(row.version)
            steps = _down_steps(row.version, row.kind, trust.stored(row, script, trust_stored_python), path)
        if steps is None:
            raise errors.IrreversibleMigration(row.version)
        if not callable(steps):
            runner.check(steps, path, transactional=True, protected=self._protected)
        return steps

    def _revert(self, conn, ledger: Ledger, row: Row, steps, guard: interrupts.Interrupts) -> StepResult:
        start = time.perf_counter()
        run = self._runner(conn, guard)
        path = self.scripts.versions_dir / row.filename if row.filename else None
        try:
            with run.transaction(verify=callable(steps) or not self.db.owned):
                ledger.unmoved()
                count = run.run(row.version, steps, "down", path=path)
                ms = _ms(start)  # one figure, the ledger's and the result's, as for an apply
                _recorded(row.version, lambda: ledger.forget(row.version, "reverted", execution_ms=ms), "down")
        except KeyboardInterrupt:
            if _status_of(ledger, row.version) != "applied":
                raise errors.Interrupted(f"after reverting {row.version}, which was committed", row.version) from None
            raise errors.Interrupted(f"reverting {row.version} was rolled back: it is still applied",
                                     row.version) from None
        except errors.CommitFailed as exc:
            raise errors.CommitFailed(exc.reason, row.version) from exc
        except errors.MigrationFailed as exc:
            ledger.unmoved()
            with transaction(conn):
                ledger.update(row.version, "failed", execution_ms=_ms(start), error=f"revert failed: {exc.error}",
                              statement=exc.statement)
            raise
        if ledger.row(row.version) is not None:
            raise errors.MigrationFailed(row.version, None, "the transaction did not commit "
                                         "(DuckDB rolled it back); nothing was reverted", "down")
        return StepResult(row.version, row.description or "", "down", ms, count, run.replays)


@contextmanager
def _no_cycles():
    """The cyclic garbage collector paused: ``status`` makes a few objects per file, none in a cycle,
    and the collector's passes, triggered by their number, would walk them (and a notebook's whole
    heap) for nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _read_all(scripts: list[Script]) -> None:
    for s in scripts:
        with suppress(OSError):  # a file that cannot be read is reported when status needs it
            s.read()


class _Unrecorded(Exception):
    """DuckDB refused to write a group's events; the group was rolled back."""


def _record_group(ledger: Ledger, events: list[dict]) -> None:
    """Write a group's applied events, its transaction's last statement. DuckDB refusing them
    raises ``_Unrecorded``: which migration's event it refused is not known, so the caller applies
    the group again one migration to a transaction, where the refused one fails alone (as with one
    transaction each) and the ones before it land."""
    import duckdb

    try:
        ledger.record_applied(events)
    except duckdb.Error as exc:
        if is_busy(exc):
            raise errors.ConnectionBusy() from exc
        raise _Unrecorded() from exc


def _recorded(version: str, write: Callable[[], None], direction: str = "up") -> None:
    """Write a migration's ledger row in its transaction; DuckDB refusing it fails the migration."""
    import duckdb

    try:
        write()
    except duckdb.Error as exc:
        if is_busy(exc):
            raise errors.ConnectionBusy() from exc
        raise errors.MigrationFailed(version, None, f"{errors.first_line(str(exc))} (while writing its ledger row, "
                                     "the transaction's last statement)", direction) from exc


def _status_of(ledger: Ledger, version: str) -> str | None:
    row = ledger.row(version)
    return row.status if row else None


def _interrupted(what: str, version: str | None, results: list, direction: str = "up") -> errors.Interrupted:
    done = len(results)
    if done:
        verb = "applied" if direction == "up" else "reverted"
        what += f"; the {done} migration{'s' * (done != 1)} {verb} before it stay{'s' * (done == 1)} {verb}"
    return errors.Interrupted(what, version, done)


def _up_steps(s: Script):
    """What the runner runs: the Python class's method, or the SQL section's typed statements."""
    if s.kind == "python":
        return s.migration.upgrade
    return s.sql.up.typed(s.path)


def _down_steps(version: str, kind: str | None, source: str | None, path: Path):
    """The downgrade as the ledger stored it: SQL statements, or the Python class's method."""
    from . import sqlfile

    if not source or not source.strip():
        return None
    if kind == "python":
        return pyform.load(source, path, version).downgrade
    steps = sqlfile.Section(source, 1).typed(path)
    return steps or None


def _record_of(s: Script) -> dict:
    return dict(version=s.version, description=s.description, kind=s.kind, checksum=s.checksum,
                downgrade=s.downgrade_source, filename=s.name, source=s.text)


def _terminated(statement: str) -> str:
    return statement if statement.rstrip().endswith(";") else statement + ";"


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
