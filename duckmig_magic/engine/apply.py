"""Applying and reverting: a run of migrations against the database, each atomic with its ledger event.

A ``Run`` is what every step of one run shares: the connection, its ledger, the
interrupt guard, the progress callback and what the run did so far. ``up`` and
``down`` plan again under the write lock, then run the plan by one of three
strategies, each landing and reporting exactly what one transaction per
migration would:

- ``apply_alone``: one migration, in a transaction with its event (or, for a
  ``transaction:false`` section, statement by statement, its event after);
- ``apply_in_groups``: consecutive SQL migrations share a transaction (group
  commit), each with its event in it, where a failure is replayed to land what
  one transaction each would have landed;
- ``apply_as_one``: the whole run in one transaction (``--single-transaction``),
  all of it lands or none of it.

A failure is rolled back, then recorded in a transaction of its own; the run
then raises ``RunStopped``, which says what the run kept and what it did not
try. Every statement runs through the guarded runner (runner.py); Ctrl-C is
handled as interrupts.py describes.
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path
from typing import Any

from .. import errors
from . import interrupts, keep, ordering, plan, pyform, refusals, runner, sqlfile, trust
from .database import is_busy, transaction
from .ledger import Ledger, Row
from .runner import Runner
from .versions import Script, has_downgrade
from .workspace import Workspace


@dataclass
class StepResult:
    """What one migration's run did."""

    version: str
    description: str
    direction: str  # "up" or "down"
    execution_ms: float
    statements: int
    replays: int = 0  # failed statements its code caught, after which the transaction was replayed


# progress(event, index, total, item, result): "start" and "done" around each migration
Progress = Callable[[str, int, int, "Script | Row", "StepResult | None"], None]
Planner = Callable[[list[Script], dict[str, Row]], list[Script]]


@dataclass
class Run:
    """One run's shared state. ``noted``: version -> what its applied event records in its detail."""

    work: Workspace
    conn: Any
    guard: interrupts.Interrupts
    progress: Progress | None = None
    group_seconds: float = 0.0
    noted: dict[str, str] = field(default_factory=dict)
    ledger: Ledger = None  # type: ignore[assignment]  # set once the write lock is held
    results: list[StepResult] = field(default_factory=list)
    keeping: keep.Settings = field(default_factory=keep.Settings)
    told_bare: bool = False  # the migrations without a downgrade are said once, though a lost race plans again

    def runner(self) -> Runner:
        return self.work.runner(self.conn, self.guard)

    @property
    def shared_connection(self) -> bool:
        """Someone else's connection, where something could end the transaction unseen."""
        return not self.work.db.owned

    def notify(self, event: str, index: int, total: int, item, result: StepResult | None) -> None:
        if self.progress:
            self.progress(event, index, total, item, result)


# -- the two verbs ------------------------------------------------------------------------------------


def up(work: Workspace, planner: Planner, *, single_transaction: bool = False, progress: Progress | None = None,
       group_seconds: float = 0.0, noted: dict[str, str] | None = None,
       keeping: keep.Settings | None = None) -> list[StepResult]:
    """Apply what ``planner(scripts, rows)`` picks, planned again under the write lock."""
    scripts = work.scripts.scripts()
    todo = planner(scripts, work.rows())
    if not todo:
        return []  # without opening the database for writing, so nothing is created
    if single_transaction:
        outside = [s.version for s in todo if not s.transactional]
        if outside:
            raise errors.ConfigError(
                f"cannot apply in a single transaction: {', '.join(outside)} {'runs' if len(outside) == 1 else 'run'} "
                "outside one (transaction:false)",
                "apply without {flag:single_transaction}, or up to the version before it first")
    with work.db.connect(write=True) as conn, interrupts.watch(conn) as guard:
        run = Run(work, conn, guard, progress, group_seconds, noted or {}, keeping=keeping or keep.Settings())
        return _until_won(run, work.db.wait, lambda: _up_locked(run, scripts, planner, single_transaction))


def down(work: Workspace, target: str | None, steps: int | None, *, trust_stored_python: bool = False,
         stored_downgrade: bool = False, edited: bool = False, progress: Progress | None = None) -> list[StepResult]:
    """Revert as ``plan.down(rows, target, steps)`` says, planned again under the write lock; which
    downgrade reverts each is ``downgrade``'s choice."""
    plan.down(work.rows(), target, steps)  # raises before the database is opened to write
    with work.db.connect(write=True) as conn, interrupts.watch(conn) as guard:
        run = Run(work, conn, guard, progress)
        # Planned again after another runner won: only a target means the same thing then.
        return _until_won(run, work.db.wait if target is not None else 0,
                          lambda: _down_locked(run, target, steps, Trust(trust_stored_python, stored_downgrade, edited)))


def _say_no_downgrade(run: Run, todo: list[Script]) -> None:
    """Warn, once the write lock is held and before anything runs, of the migrations about to be
    applied without a downgrade: a run that cannot start says only why."""
    bare = [s for s in todo if not has_downgrade(s)]
    if not bare or run.told_bare:
        return
    run.told_bare = True
    keeping = run.keeping
    names = ", ".join(s.version for s in bare[:5]) + (f" and {len(bare) - 5} more" if len(bare) > 5 else "")
    have = "has" if len(bare) == 1 else "have"
    if keeping.on and all(keeps(s) and s.kind == "sql" for s in bare):
        said = ("where it destroys data, duckmig keeps that and generates a downgrade from the catalog as it "
                "applies it, for `down`; else `down` cannot revert it. `preview` proposes one to paste under "
                "`-- migrate:down`")
    else:
        said = "`down` cannot revert it: `preview` proposes one to paste under `-- migrate:down`"
    warnings.warn(keep.NoDowngrade(f"{names} {have} no downgrade: {said}"), stacklevel=3)


def _up_locked(run: Run, scripts: list[Script], planner: Planner, single_transaction: bool) -> list[StepResult]:
    todo: list[Script] = []
    rows: dict[str, Row] = {}
    results = run.results
    try:
        run.ledger = run.work.ensure_ledger(run.conn)
        # Plan again under the write lock: another runner may have applied some meanwhile.
        rows = run.ledger.rows(plan=True)
        todo = planner(scripts, rows)
        _say_no_downgrade(run, todo)
        if single_transaction and todo:
            return apply_as_one(run, todo)
        i = 0
        while i < len(todo):
            run.guard.check()
            group = list(takewhile(run_together(run), todo[i:])) if not run.ledger.shared else []
            if len(group) > 1:
                apply_in_groups(run, group, len(todo))
                i += len(group)
                continue
            run.notify("start", i + 1, len(todo), todo[i], None)
            results.append(apply_alone(run, todo[i]))
            run.notify("done", i + 1, len(todo), todo[i], results[-1])
            i += 1
    except KeyboardInterrupt:
        done = {r.version for r in results}
        left = [s for s in todo if s.version not in done]
        what = f"before {left[0].version}: nothing of it ran" if left else "after the last migration"
        raise _interrupted(what, None, results) from None
    except errors.Interrupted as exc:
        raise _interrupted(exc.what, exc.version, results) from None
    except errors.MigrationFailed as exc:
        kept = [s.version for s in todo[:exc.group]] if exc.group else [r.version for r in results]
        _told_order(exc, scripts, rows)
        raise _stopped(exc, kept, [s.version for s in todo]) from exc
    return results


def _told_order(failed: errors.MigrationFailed, scripts: list[Script], rows: dict[str, Row]) -> None:
    """Where a migration failed for want of what a later pending migration makes (cells run out of
    order make migrations out of order), make the hint name that migration and the order."""
    if failed.version is None or failed.direction != "up":
        return
    pending = [s for s in scripts if s.version > failed.version
               and (s.version not in rows or rows[s.version].status != "applied")]
    found = ordering.maker(failed.error, failed.version, pending)
    if found is None:
        return
    script, what = found
    failed.hint = failed.specific_hint = (
        f"{script.version} ({script.name}), pending after it, creates {what}: migrations run in version order, and "
        f"a notebook cell's migration takes its version when the cell first runs, so cells run out of order give "
        f"versions out of order. Give {failed.version} a version after {script.version} (rename its file), or move "
        f"what {script.version} creates into a migration before {failed.version}; then run it again")


def _down_locked(run: Run, target: str | None, steps: int | None, given: Trust) -> list[StepResult]:
    todo: list[str] = []
    try:
        run.ledger = run.work.ensure_ledger(run.conn)
        rows = run.ledger.rows(plan=True)  # again under the write lock: another runner may have reverted some
        todo = plan.down(rows, target, steps)
        # Every downgrade loads before the first runs: an irreversible one stops nothing halfway.
        scripts = run.work.scripts
        files = {s.version: s for s in scripts.scripts()} if scripts.exists() else {}
        downs = {version: downgrade(run.work, rows[version], files.get(version), given, run.conn)
                 for version in todo}
        database = run.work.db.place(run.conn).database
        for version in todo:  # kept data that cannot come back as kept stops the run before anything runs
            if downs[version].restore and (problems := keep.check(run.conn, database, version)):
                raise keep.refuse(version, problems)
            if not downs[version].restore:
                keep.unrestored(run.conn, database, version)
        for i, version in enumerate(todo, 1):
            run.guard.check()
            row = rows[version]
            run.notify("start", i, len(todo), row, None)
            run.results.append(revert(run, row, downs[version]))
            run.notify("done", i, len(todo), row, run.results[-1])
    except KeyboardInterrupt:
        raise _interrupted("before the next downgrade: nothing of it ran", None, run.results, "down") from None
    except errors.Interrupted as exc:
        raise _interrupted(exc.what, exc.version, run.results, "down") from None
    except errors.MigrationFailed as exc:
        raise _stopped(exc, [r.version for r in run.results], todo) from exc
    return run.results


def _stopped(failed: errors.MigrationFailed, done: list[str], planned: list[str]) -> errors.MigrationFailed:
    """The failure, with what the run kept before it and what it did not try after it."""
    rest = planned[planned.index(failed.version) + 1:] if failed.version in planned else []
    return errors.RunStopped(failed, done, rest) if done or rest else failed


def _until_won(run: Run, wait: float, attempt: Callable[[], list[StepResult]]) -> list[StepResult]:
    """``attempt()``, planned and run again while another runner's transaction wins, for up to
    ``wait`` seconds; then say who won."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return attempt()
        except errors.CommitFailed as exc:
            _lost(run, exc, deadline)


def _lost(run: Run, exc: errors.CommitFailed, deadline: float) -> None:
    """A COMMIT was refused. On a shared catalog where another runner's transaction won, wait
    and let the caller plan again until ``deadline``, then say who won; else re-raise."""
    ledger = run.work.ledger(run.conn)
    if not (ledger.shared and (isinstance(exc, errors.LedgerMoved) or "DuckLake transaction" in exc.reason)):
        raise exc
    if time.monotonic() < deadline:
        time.sleep(0.05 + random.random() * 0.2)  # apart, so that the two do not collide again in step
        return
    holder, other, since = ledger.holder() or ("another runner", "a migration", None)
    at = f"{since:%Y-%m-%d %H:%M:%S}" if since else "a moment"
    raise errors.RunFailed(
        f"another runner won: {holder} recorded {other or 'a migration'} at {at} UTC while this run's transaction "
        f"for {exc.version} was open, so DuckDB refused this one's COMMIT\n  rolled back: nothing of it remains",
        "run it again: it plans from what the other runner did; or retry with {setting:wait}, which retries until "
        "the other runner is done") from exc


# -- applying: three strategies ---------------------------------------------------------------------


def run_together(run: Run) -> Callable[[Script], bool]:
    """Whether a script may share a transaction with its neighbours (group commit): a transactional
    SQL section, whose statements DuckDB's parser typed, so none can end the transaction. Not on
    a DuckLake (the caller checks): statements that each migration may run alone (an ALTER of a
    table, then its RENAME) break a lake when one transaction holds both. Nor a migration that
    names the ledger: a group writes its events at its end, and what it reads there must be what
    it would read alone."""
    table = run.work.table.lower()
    return lambda s: (run.group_seconds > 0 and s.kind == "sql" and s.transactional
                      and table not in s.text.lower())


def apply_alone(run: Run, s: Script) -> StepResult:
    """Apply ``s`` in a transaction of its own, its applied event the transaction's last statement;
    a ``transaction:false`` section statement by statement, its event after."""
    if not s.transactional:
        return _apply_outside(run, s)
    ledger, record, start = run.ledger, _record_of(s), time.perf_counter()
    r = run.runner()
    try:
        with r.transaction(verify=s.kind == "python" or run.shared_connection):
            ledger.unmoved()
            count = _kept_run(run, r, s)
            ms = _ms(start)
            # The ledger row is the migration's last statement, after the runner checked that
            # the transaction is still its own: DuckDB refuses every statement in a transaction
            # an error aborted (where COMMIT would silently roll back), so a row written here
            # proves the transaction is live: no query after COMMIT is needed.
            _recorded(s.version, lambda: ledger.record(**record, status="applied", execution_ms=ms,
                                                       detail=run.noted.get(s.version)))
    except KeyboardInterrupt:
        # Asked, not assumed: without the engine's signal handler (outside the main thread) the
        # interrupt may come after COMMIT.
        if _status_of(ledger, s.version) == "applied":
            raise errors.Interrupted(f"after applying {s.version}, which was committed", s.version) from None
        raise errors.Interrupted(f"applying {s.version} was rolled back: nothing of it remains",
                                 s.version) from None
    except errors.MigrationFailed as exc:
        record_failure(run, record, exc, start)
        raise
    except errors.CommitFailed as exc:  # nothing to record: the disk that refused it refuses that too
        raise errors.CommitFailed(exc.reason, s.version, exc.refused) from exc
    return StepResult(s.version, s.description, "up", ms, count, r.replays)


def _apply_outside(run: Run, s: Script) -> StepResult:
    """A ``transaction:false`` section: each statement commits as it runs; the event follows."""
    ledger, record, start = run.ledger, _record_of(s), time.perf_counter()
    if run.keeping.on and s.sql.up.keep and any(keep.destroys(sql, kinds) for _, sql, kinds in up_steps(s)):
        warnings.warn(keep.KeptNothing(
            f"{s.version} runs outside a transaction (transaction:false): duckmig keeps nothing of what it "
            "destroys, since what it kept could not land together with it"), stacklevel=2)
    r = run.runner()
    try:
        count = r.run(s.version, up_steps(s), "up", path=s.path)
    except KeyboardInterrupt:
        if r.ran:  # committed as it went: what ran stays, and the ledger says so
            record_failure(run, record, errors.MigrationFailed(
                s.version, r.ran[-1], "interrupted (Ctrl-C) after this statement", partial=True), start)
            raise errors.Interrupted(f"{s.version} runs outside a transaction (transaction:false): what "
                                     "it committed before the interrupt stays, and it is recorded as "
                                     "failed", s.version) from None
        raise errors.Interrupted(f"applying {s.version}: none of its statements ran", s.version) from None
    except errors.MigrationFailed as exc:
        record_failure(run, record, exc, start)
        raise
    ms = _ms(start)
    detail = "transaction:false" + (f"; it ran its own transaction control: {', '.join(r.control)}"
                                    if r.control else "")
    try:
        with transaction(run.conn):
            ledger.record(**record, status="applied", execution_ms=ms, detail=detail)
    except errors.CommitFailed as exc:
        raise refusals.failed(s.version, "COMMIT", f"{exc.reason}\n(its ledger row could not be written)",
                              partial=True) from exc
    return StepResult(s.version, s.description, "up", ms, count, r.replays)


def apply_in_groups(run: Run, scripts: list[Script], total: int) -> None:
    """Apply consecutive SQL migrations, several to a transaction (group commit), each with its
    event in it; ``run.results`` takes each once it is committed.

    What lands, what the ledger says and what is reported are what one transaction per
    migration gives: when a migration fails (or Ctrl-C), its group is rolled back, the
    migrations before it in the group are applied again in a transaction of their own, and
    the failing one runs again alone, as ``apply_alone`` runs one (a failure is recorded there).
    A group whose COMMIT is refused is applied again one migration to a transaction, so the
    refusal names the one it was; so is a group whose events DuckDB refused to write.
    """
    ledger, results = run.ledger, run.results
    i = 0
    while i < len(scripts):
        began = time.perf_counter()
        group: list[StepResult] = []
        running: Script | None = None  # the migration under way
        r = run.runner()
        try:
            with r.transaction(verify=run.shared_connection):
                ledger.unmoved()
                events: list[dict] = []
                for s in scripts[i:]:
                    if group and time.perf_counter() - began >= run.group_seconds:
                        break
                    run.guard.check()
                    run.notify("start", len(results) + len(group) + 1, total, s, None)
                    running = s
                    group.append(_apply_in(run, r, s, events))
                    running = None
                    run.notify("done", len(results) + len(group), total, s, group[-1])
                # The group's events go last, in one statement, as a single transaction's do.
                _record_group(ledger, events)
        except errors.TransactionLost:
            raise  # what was committed is not known: nothing is applied again on a guess
        except (errors.CommitFailed, _Unrecorded):
            if not group:
                raise  # refused before any migration of it ran: nothing to apply again alone
            ledger.rolled_back()
            for s in scripts[i:i + len(group)]:
                results.append(apply_alone(run, s))
        except (errors.MigrationFailed, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt) and group and running is None \
                    and _status_of(ledger, group[-1].version) == "applied":
                results.extend(group)  # without the engine's handler, the interrupt came after COMMIT
                raise errors.Interrupted(f"after applying {group[-1].version}, which was committed",
                                         group[-1].version) from None
            _reapply(run, scripts[i:i + len(group)], group)
            if running is None:
                raise  # between two migrations (a Ctrl-C): the run says which it did not start
            if isinstance(exc, KeyboardInterrupt):
                raise errors.Interrupted(f"applying {running.version} was rolled back: nothing of it "
                                         "remains", running.version) from None
            # Again alone, as one transaction each runs it: its error is DuckDB's for that case (a
            # duplicate key is worded one way inside a transaction, another against committed rows),
            # and what failed only because it shared a transaction does not fail.
            results.append(apply_alone(run, running))
            run.notify("done", len(results), total, running, results[-1])
            group.append(results[-1])
        else:
            results.extend(group)
        i += len(group)


def _apply_in(run: Run, r: Runner, s: Script, events: list[dict]) -> StepResult:
    """Run ``s`` in the transaction ``r`` has open; ``events`` takes its applied event, which
    the caller writes in that transaction."""
    start, replays = time.perf_counter(), r.replays
    count = _kept_run(run, r, s)
    ms = _ms(start)
    events.append({**_record_of(s), "execution_ms": ms, "detail": run.noted.get(s.version)})
    return StepResult(s.version, s.description, "up", ms, count, r.replays - replays)


def _reapply(run: Run, scripts: list[Script], results: list[StepResult]) -> None:
    """Apply again, in one transaction, the migrations of a group that were rolled back with it,
    and add them to ``run.results``; their ``results`` take the times the ledger records. The
    Ctrl-C that stopped the group does not stop this: what one transaction each would have
    committed is committed."""
    if not scripts:
        return
    ledger, guard = run.ledger, run.guard
    ledger.rolled_back()
    ledger.unmoved()
    pressed, guard.requested = guard.requested, False
    r, s = run.runner(), scripts[0]
    again: list[StepResult] = []
    events: list[dict] = []
    start = time.perf_counter()
    try:
        with r.transaction(verify=run.shared_connection):
            for s in scripts:
                start = time.perf_counter()
                again.append(_apply_in(run, r, s, events))
            _record_group(ledger, events)
    except errors.MigrationFailed as exc:  # it succeeded a moment ago: it is not deterministic
        record_failure(run, _record_of(s), exc, start)
        raise
    except _Unrecorded:
        ledger.rolled_back()
        for s in scripts:  # each lands alone, and is kept as it lands
            run.results.append(apply_alone(run, s))
        return
    finally:
        guard.requested = guard.requested or pressed
    for result, redone in zip(results, again, strict=True):
        result.execution_ms, result.replays = redone.execution_ms, redone.replays
    run.results.extend(results)


def apply_as_one(run: Run, todo: list[Script]) -> list[StepResult]:
    """The whole run in one transaction: every migration's event is written at its end, so all of
    it lands or none of it does."""
    results: list[StepResult] = []
    script, start = todo[0], time.perf_counter()
    r = run.runner()
    try:
        # Checked after each migration only where something could end the transaction unseen, as
        # for one migration: a Python migration's code, or a connection someone else holds.
        with r.transaction(verify=run.shared_connection or any(s.kind == "python" for s in todo)):
            for i, script in enumerate(todo, 1):
                run.notify("start", i, len(todo), script, None)
                start, replays = time.perf_counter(), r.replays
                count = _kept_run(run, r, script)
                results.append(StepResult(script.version, script.description, "up", _ms(start), count,
                                          r.replays - replays))
                run.notify("done", i, len(todo), script, results[-1])
            # The rows go last, as for one migration: written, they prove the transaction live.
            _recorded(script.version, lambda: run.ledger.record_applied(
                [{**_record_of(s), "execution_ms": x.execution_ms} for s, x in zip(todo, results, strict=True)]))
    except KeyboardInterrupt:
        raise errors.Interrupted("the single transaction was rolled back: nothing of the run remains",
                                 script.version) from None
    except errors.TransactionLost as exc:  # what of the run was committed is not known: not "rolled back"
        record_failure(run, _record_of(script), exc, start)
        raise
    except errors.MigrationFailed as exc:
        record_failure(run, _record_of(script), exc, start)
        raise refusals.failed(exc.version, exc.statement, exc.error, group=len(results), where=exc.where,
                              last=exc.last) from exc
    except errors.CommitFailed as exc:
        raise errors.CommitFailed(exc.reason, script.version, exc.refused) from exc
    return results


def record_failure(run: Run, record: dict, exc: errors.MigrationFailed, start: float) -> None:
    """Record a failed attempt in a transaction of its own, after the migration's was rolled back."""
    import duckdb

    ledger = run.ledger
    ledger.rolled_back()
    ledger.unmoved()
    error = exc.error
    if exc.where:
        error += f"\n(at {exc.where})"
    if exc.partial:  # status must tell that a rerun starts on top of what was committed
        error += "\n(transaction:false: the statements before this one were committed)"
    try:
        with transaction(run.conn):
            ledger.record(**record, status="failed", execution_ms=_ms(start), error=error,
                          statement=exc.statement)
    except (errors.CommitFailed, duckdb.Error):
        pass  # a full disk refuses this write too; the run's own error says what happened


# -- reverting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trust:
    """What the user said, for this run, of downgrades other than the file's as applied:
    ``python``, run a Python one stored in the ledger; ``stored``, run the stored one although
    the file is there; ``edited``, run the file's own although it changed since it was applied
    (redo, whose point is the edit)."""

    python: bool = False
    stored: bool = False
    edited: bool = False


@dataclass(frozen=True)
class Down:
    """A downgrade ready to run: its ``steps`` (SQL statements or a Python method), and whether the data
    the migration kept is put back after them (``restore``)."""

    steps: Any
    restore: bool = False


def downgrade(work: Workspace, row: Row, script: Script | None, given: Trust, conn=None) -> Down:
    """The downgrade of ``row`` by the trust rule (see ``trust``), ready to run; raises if there is none.

    The repository's file is trusted, not the database: while the file is there, its downgrade
    runs, and a file changed since it was applied is drift unless the user said which to run.
    The downgrade the ledger stored runs only when the file is gone, or changed and the stored one
    asked for: a file as it was applied runs its own, whatever is asked, since the ledger's copy of
    it can only differ by someone's hand. A migration applied without any downgrade runs the one
    duckmig generated when it applied it (``conn``: where to look for it), shown first."""
    applied_as = script is not None and trust.as_applied(row, script)
    if script is not None and (applied_as or (given.edited and not given.stored)):
        path = script.path
        source: str | None = script.downgrade_source
        kind: str | None = script.kind
    elif script is not None and not given.stored:
        raise errors.DriftError(
            f"{row.version} was not reverted: {script.name} changed since it was applied, so its downgrade may not "
            "undo what was applied; nothing was reverted",
            "restore the file as it was applied (from version control, say) and revert again; or accept the edit "
            "with {do:repair}, then the file's downgrade reverts it; or, to revert with the downgrade the ledger "
            "stored when it was applied (shown before it runs), pass {flag:stored_downgrade}",
            [(row.version, "modified")])
    else:
        path = work.file_of(row)
        kind = row.kind
        source = None if not (row.downgrade or "").strip() and conn is not None \
            else trust.stored(row, script, given.python)
    steps = down_steps(row.version, kind, source, path)
    if kind == "python":  # ``restore = True`` on the class asks for the kept data back after downgrade()
        restore = steps is not None and bool(getattr(getattr(steps, "__self__", None), "restore", False))
    else:
        restore = keep.restores(source)
    if steps is None:
        generated = keep.generated(conn, work.db.place(conn).database, row.version) if conn is not None else None
        if generated is None:
            raise errors.irreversible(row.version)
        if script is not None and not given.stored:
            # Stored in the database, which anyone who can write the file can write: it runs in place of
            # a file that is there only when asked for, as the ledger's stored downgrade does.
            raise errors.StateError(
                f"{row.version} was not reverted: its file has no downgrade, and the one duckmig generated from the "
                "catalog when it applied it is stored in the database, which runs in place of a file that is "
                f"there only when asked for; nothing was reverted. The generated downgrade:\n{trust.shown(generated)}",
                "to revert with it, pass {flag:stored_downgrade}; or write a `-- migrate:down` section (then "
                "{do:repair} stores it)")
        warnings.warn(keep.Restoring(
            f"{row.version} has no downgrade of its own: the one duckmig generated when it applied it reverts it:\n"
            f"{trust.shown(generated)}"), stacklevel=3)
        steps, restore = down_steps(row.version, "sql", generated, path) or [], True
    if not callable(steps):
        runner.check(steps, path, transactional=True, protected=work.protected)
    return Down(steps, restore)


def revert(run: Run, row: Row, down: Down) -> StepResult:
    """Run ``row``'s downgrade in a transaction with its reverted event; the data the migration kept
    is put back after the downgrade's statements where it asks for it."""
    ledger, start = run.ledger, time.perf_counter()
    r = run.runner()
    path = run.work.file_of(row) if row.filename else None
    steps = down.steps
    try:
        with r.transaction(verify=callable(steps) or run.shared_connection):
            ledger.unmoved()
            if down.restore:  # a lake's snapshots read while its tables are as the migration left them
                keep.prepare(r, r.place.database, row.version)
            count = r.run(row.version, steps, "down", path=path)
            if down.restore:
                count += keep.restore(r, r.place.database, row.version)
            else:
                keep.forget(r, r.place.database, row.version)
            ms = _ms(start)  # one figure, the ledger's and the result's, as for an apply
            _recorded(row.version, lambda: ledger.forget(row.version, "reverted", execution_ms=ms), "down")
    except KeyboardInterrupt:
        if _status_of(ledger, row.version) != "applied":
            raise errors.Interrupted(f"after reverting {row.version}, which was committed", row.version) from None
        raise errors.Interrupted(f"reverting {row.version} was rolled back: it is still applied",
                                 row.version) from None
    except errors.CommitFailed as exc:
        raise errors.CommitFailed(exc.reason, row.version, exc.refused) from exc
    except errors.MigrationFailed as exc:
        ledger.unmoved()
        with transaction(run.conn):
            ledger.update(row.version, "failed", execution_ms=_ms(start), error=f"revert failed: {exc.error}",
                          statement=exc.statement)
        raise
    if ledger.row(row.version) is not None:
        raise errors.MigrationFailed(row.version, None, "the transaction did not commit "
                                     "(DuckDB rolled it back); nothing was reverted", "down")
    return StepResult(row.version, row.description or "", "down", ms, count, r.replays)


# -- what runs ----------------------------------------------------------------------------------------


def _kept_run(run: Run, r: Runner, s: Script) -> int:
    """Run ``s``'s upgrade with ``r``, keeping what it destroys (keep.py) unless that is turned off."""
    if not (run.keeping.on and keeps(s)):
        return r.run(s.version, up_steps(s), "up", path=s.path)
    generate = s.kind == "sql" and not has_downgrade(s)
    if s.kind == "sql" and not any(keep.destroys(sql, kinds) or (generate and keep.renames(sql))
                                   for _, sql, kinds in s.sql.up.typed(s.path)):
        # Nothing in it destroys data or renames: nothing to keep, and no downgrade generated, so the
        # keeper's reading of the catalog before it runs (for a file without a downgrade) is not spent.
        return r.run(s.version, up_steps(s), "up", path=s.path)
    keeper = keep.Keeper(s.version, r.place.database, r.place.schema, run.keeping,
                         generate=generate, propose=_propose_downgrade)
    keeper.start(r.conn)
    if s.kind == "sql":
        keeper.plan(r.conn, up_steps(s))
    r.keeper = keeper
    try:
        count = r.run(s.version, up_steps(s), "up", path=s.path)
    finally:
        r.keeper = None
    keeper.finish(r)
    return count


def _propose_downgrade(*args, **options):
    """``preview.propose_downgrade``, loaded (with the diff it reads) only by a migration that destroys
    something and has no downgrade: the keeper calls it for that one alone."""
    from .preview import propose_downgrade

    return propose_downgrade(*args, **options)


def keeps(s: Script) -> bool:
    """Whether the migration lets duckmig keep what it destroys: no ``keep:false`` (SQL), no
    ``keep = False`` on the class (Python)."""
    if s.kind == "python":
        return bool(getattr(s.migration, "keep", True))
    return s.sql.up.keep


def up_steps(s: Script):
    """What the runner runs: the Python class's method, or the SQL section's typed statements."""
    if s.kind == "python":
        return s.migration.upgrade
    return s.sql.up.typed(s.path)


def down_steps(version: str, kind: str | None, source: str | None, path: Path):
    """A downgrade's source ready to run: SQL statements, or the Python class's method; None if empty
    (a SQL section of no statement but ``-- migrate:restore`` is an empty list: it restores)."""
    if not source or not source.strip():
        return None
    if kind == "python":
        return pyform.load(source, path, version).downgrade
    steps = sqlfile.Section(source, 1).typed(path)
    return steps or ([] if keep.restores(source) else None)


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
    except errors.LedgerChanged as exc:  # by one of the group: alone, it is the one that fails
        raise _Unrecorded() from exc
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
        raise refusals.failed(version, None, f"{errors.first_line(str(exc))} (while writing its ledger row, "
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


def _record_of(s: Script) -> dict:
    return dict(version=s.version, description=s.description, kind=s.kind, checksum=s.checksum,
                downgrade=s.downgrade_source, filename=s.name, source=s.text)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
