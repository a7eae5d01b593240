"""The migrator: plans from files and ledger, and runs them against the database.

``Migrator(database_or_connection, directory)`` is the one API the CLI, the
magics and the widgets call. Each migration runs in its own transaction with
its ledger row; a failure is rolled back, then recorded in a transaction of its
own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from .. import errors
from . import authoring, catalog, pyform
from .database import Database, rolled_back, transaction
from .ledger import Event, Ledger, Row
from .versions import Script, ScriptDirectory, is_version, python_template

STATES = ("applied", "pending", "failed", "modified", "missing", "out_of_order")


@dataclass
class MigrationStatus:
    """One migration as the files and the ledger see it."""

    version: str
    description: str
    kind: str | None
    state: str
    applied_at: datetime | None = None
    execution_ms: float | None = None
    error: str | None = None
    statement: str | None = None
    file: str | None = None

    @property
    def is_applied(self) -> bool:
        return self.state in ("applied", "modified", "missing")


@dataclass
class StatusReport:
    database: str
    directory: str
    migrations: list[MigrationStatus]

    def counts(self) -> dict[str, int]:
        counts = {state: 0 for state in STATES}
        for m in self.migrations:
            counts[m.state] += 1
        return counts

    def by_state(self, *states: str) -> list[MigrationStatus]:
        return [m for m in self.migrations if m.state in states]

    @property
    def current(self) -> str | None:
        applied = [m.version for m in self.migrations if m.is_applied]
        return max(applied) if applied else None

    def __iter__(self):
        return iter(self.migrations)

    def __len__(self):
        return len(self.migrations)


@dataclass
class StepResult:
    """What one migration's run did."""

    version: str
    description: str
    direction: str  # "up" or "down"
    execution_ms: float
    statements: int


@dataclass
class VerifyReport:
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (version, state, detail)
    checked: int = 0
    roundtrip: list[str] = field(default_factory=list)  # versions that round-tripped cleanly

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

    def __init__(self, database=":memory:", directory="migrations", *, table: str = "duckdb_migrations",
                 wait: float = 0.0, progress: Progress | None = None):
        self.db = Database(database, wait=wait)
        self.scripts = ScriptDirectory(directory)
        self.table = table
        self.progress = progress

    @property
    def directory(self) -> Path:
        return self.scripts.directory

    def __repr__(self) -> str:
        return f"Migrator({self.db.label!r}, {str(self.directory)!r})"

    # -- reading -------------------------------------------------------------

    def _rows(self) -> dict[str, Row]:
        if not self.db.exists():
            return {}
        with self.db.connect(write=False) as conn:
            return Ledger(conn, self.table).rows()

    def status(self) -> StatusReport:
        """Every migration with its state; creates nothing, not even the database file."""
        return self._status(self.scripts.scripts(), self._rows())

    def _status(self, scripts: list[Script], rows: dict[str, Row]) -> StatusReport:
        newest_applied = max((v for v, r in rows.items() if r.status == "applied"), default=None)
        out: dict[str, MigrationStatus] = {}
        for s in scripts:
            row = rows.get(s.version)
            if row is None:
                state = "out_of_order" if newest_applied and s.version < newest_applied else "pending"
                out[s.version] = MigrationStatus(s.version, s.quick_description, s.kind, state, file=s.name)
                continue
            if row.status == "failed":
                state = "failed"
            elif row.checksum is not None and row.checksum != s.checksum:
                state = "modified"
            else:
                state = "applied"
            out[s.version] = _from_row(row, state, s.name, row.description or s.quick_description)
        for version, row in rows.items():
            if version not in out:
                out[version] = _from_row(row, "missing" if row.status == "applied" else "failed",
                                         row.filename, row.description or "")
        return StatusReport(self.db.label, str(self.scripts.versions_dir),
                            [out[v] for v in sorted(out)])

    def history(self, version: str | None = None) -> list[Event]:
        """The ledger's events, oldest first."""
        if not self.db.exists():
            return []
        with self.db.connect(write=False) as conn:
            return Ledger(conn, self.table).history(version)

    # -- planning --------------------------------------------------------------

    def plan(self, target: str | None = None, *, out_of_order: bool = False,
             allow_drift: bool = False) -> list[Script]:
        """The scripts ``up(target)`` would run, in order, each parsed; raises on any problem."""
        scripts = self.scripts.scripts()
        report = self._status(scripts, self._rows())
        drift = [(m.version, m.state) for m in report.by_state("modified", "missing")]
        if drift and not allow_drift:
            raise errors.DriftError(drift)
        if target is not None:
            self._check_version(target, [s.version for s in scripts])
        states = {m.version: m.state for m in report}
        todo = [s for s in scripts if states[s.version] in ("pending", "failed", "out_of_order")
                and (target is None or s.version <= target)]
        late = [s.version for s in todo if states[s.version] == "out_of_order"
                or (states[s.version] == "failed" and report.current and s.version < report.current)]
        if late and not out_of_order:
            raise errors.OutOfOrder(late, report.current)
        for s in todo:  # every file of the run is checked before the first one starts
            s.load()
            if s.kind == "sql":
                s.sql.up.statements(s.path)
        return todo

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

    def up(self, target: str | None = None, *, out_of_order: bool = False,
           allow_drift: bool = False) -> list[StepResult]:
        """Apply pending migrations through ``target`` (all when None), each atomically."""
        todo = self.plan(target, out_of_order=out_of_order, allow_drift=allow_drift)
        if not todo:
            return []
        results = []
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            for i, script in enumerate(todo, 1):
                self._notify("start", i, len(todo), script, None)
                result = self._apply(conn, ledger, script)
                results.append(result)
                self._notify("done", i, len(todo), script, result)
        return results

    def down(self, target: str | None = None, *, steps: int | None = None) -> list[StepResult]:
        """Revert one step; with ``target``, everything newer than it (``"base"``: all)."""
        rows = self._rows()
        applied = sorted((v for v, r in rows.items() if r.status == "applied"), reverse=True)
        if not applied:
            raise errors.NothingToRevert()
        if target is not None and steps is not None:
            raise errors.ConfigError("give a target version or --steps, not both")
        if target is None:
            n = 1 if steps is None else steps
            if n < 1:
                raise errors.ConfigError(f"--steps must be 1 or more, not {n}")
            todo = applied[:n]
        elif target == "base":
            todo = applied
        else:
            self._check_version(target, list(rows))
            if target not in applied:
                raise errors.UnknownVersion(target, "among the applied migrations")
            todo = [v for v in applied if v > target]
        results = []
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            for i, version in enumerate(todo, 1):
                row = rows[version]
                self._notify("start", i, len(todo), row, None)
                result = self._revert(conn, ledger, row)
                results.append(result)
                self._notify("done", i, len(todo), row, result)
        return results

    def redo(self) -> list[StepResult]:
        """Revert the newest applied migration and apply it again."""
        reverted = self.down()
        return reverted + self.up(reverted[0].version, out_of_order=True)

    def stamp(self, version: str) -> list[str]:
        """Record every migration through ``version`` as applied, running none of them."""
        scripts = self.scripts.scripts()
        self._check_version(version, [s.version for s in scripts])
        rows = self._rows()
        todo = [s for s in scripts if s.version <= version
                and (s.version not in rows or rows[s.version].status != "applied")]
        for s in todo:
            s.load()
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            with transaction(conn):
                for s in todo:
                    ledger.record(version=s.version, description=s.description, kind=s.kind,
                                  checksum=s.checksum, status="applied", execution_ms=None,
                                  downgrade=s.downgrade_source, filename=s.name, event="stamped",
                                  detail=f"stamped through {version}")
        return [s.version for s in todo]

    def repair(self) -> list[tuple[str, str]]:
        """Accept the files as they are: new checksums and downgrades for modified files,
        failed attempts cleared, rows of missing files forgotten. Returns (version, action)."""
        report = self.status()
        changed = report.by_state("modified", "missing", "failed")
        if not changed:
            return []
        scripts = {s.version: s for s in self.scripts.scripts()}
        for m in changed:
            if m.state == "modified":
                scripts[m.version].load()
        actions = []
        with self.db.connect(write=True) as conn:
            ledger = self._ensure_ledger(conn)
            with transaction(conn):
                for m in changed:
                    if m.state == "modified":
                        s = scripts[m.version]
                        ledger.update(m.version, checksum=s.checksum, downgrade=s.downgrade_source,
                                      description=s.description, filename=s.name)
                        ledger.event(m.version, "repaired", s.checksum, detail="accepted the edited file")
                        actions.append((m.version, "accepted the edited file"))
                    elif m.state == "missing":
                        ledger.forget(m.version, "repaired", "forgot the row of a missing file")
                        actions.append((m.version, "forgot the row of a missing file"))
                    else:
                        ledger.forget(m.version, "repaired", "cleared the failed attempt")
                        actions.append((m.version, "cleared the failed attempt"))
        return actions

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
                report.problems.append((m.version, m.state, detail))
        report.checked = sum(1 for m in status if m.is_applied)
        if roundtrip:
            pending = [s for s in scripts if status_state(status, s.version) in ("pending", "out_of_order", "failed")]
            self._roundtrip(pending, report)
        return report

    def _roundtrip(self, pending: list[Script], report: VerifyReport) -> None:
        for s in pending:
            s.load()
        if not pending:
            return
        with self.db.connect(write=True) as conn, rolled_back(conn):
            try:
                for s in pending:
                    if not s.transactional:
                        report.problems.append((s.version, "skipped", "transaction:false: cannot run "
                                                "inside the rolled-back transaction"))
                        continue
                    before = catalog.snapshot(conn)
                    self._run(conn, s.version, _up_steps(s), "up")
                    after_up = catalog.snapshot(conn)
                    down = _down_steps(s.version, s.kind, s.downgrade_source, s.path)
                    if down is None:
                        report.problems.append((s.version, "irreversible", "no downgrade to check"))
                        continue
                    self._run(conn, s.version, down, "down")
                    restored = catalog.snapshot(conn)
                    if restored != before:
                        report.problems.append((s.version, "roundtrip", "the downgrade does not restore the "
                                                "schema: " + catalog.describe_difference(before, restored)))
                        continue
                    self._run(conn, s.version, _up_steps(s), "up")
                    if catalog.snapshot(conn) != after_up:
                        report.problems.append((s.version, "roundtrip", "applying again after the downgrade "
                                                "gives a different schema"))
                        continue
                    report.roundtrip.append(s.version)
            except errors.MigrationFailed as exc:
                report.problems.append((exc.version, "roundtrip", str(exc).splitlines()[0]))

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
             source: str | None = None, force: bool = False, where: str | None = None) -> "authoring.Saved":
        """Create or update the version file of ``slug`` from a migration body (a notebook cell's).

        Saving the same slug again updates its file; an applied migration whose
        text changed is refused unless ``force``.
        """
        applied = {v for v, r in self._rows().items() if r.status == "applied"}
        return authoring.save(self.scripts, slug, body, kind="python" if python else "sql",
                              description=description, source=source, applied=applied, force=force,
                              where=where)

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

    def _ensure_ledger(self, conn) -> Ledger:
        ledger = Ledger(conn, self.table)
        if ledger.layout() != "current":
            files = {}
            if self.scripts.exists():
                for s in self.scripts.scripts():
                    try:
                        files[s.version] = (s.checksum, s.downgrade_source, s.kind, s.name)
                    except errors.MigrationFileError:
                        files[s.version] = (s.checksum, None, s.kind, s.name)
            with transaction(conn):
                ledger.ensure(files)
        return ledger

    def _check_version(self, version: str, known: Iterable[str]) -> None:
        if not is_version(version):
            raise errors.ConfigError(f"{version!r} is not a version: versions look like 20250710_000001")
        if version not in set(known):
            raise errors.UnknownVersion(version)

    def _notify(self, event, i, n, item, result) -> None:
        if self.progress:
            self.progress(event, i, n, item, result)

    def _apply(self, conn, ledger: Ledger, s: Script) -> StepResult:
        record = dict(version=s.version, description=s.description, kind=s.kind, checksum=s.checksum,
                      downgrade=s.downgrade_source, filename=s.name)
        start = time.perf_counter()
        if s.transactional:
            try:
                with transaction(conn):
                    count = self._run(conn, s.version, _up_steps(s), "up")
                    ms = _ms(start)
                    ledger.record(**record, status="applied", execution_ms=ms)
            except errors.MigrationFailed as exc:
                self._record_failure(conn, ledger, record, exc, start)
                raise
        else:
            try:
                count = self._run(conn, s.version, _up_steps(s), "up")
            except errors.MigrationFailed as exc:
                failed = errors.MigrationFailed(exc.version, exc.statement, exc.error, partial=True)
                self._record_failure(conn, ledger, record, failed, start)
                raise failed from exc
            ms = _ms(start)
            with transaction(conn):
                ledger.record(**record, status="applied", execution_ms=ms, detail="transaction:false")
        # COMMIT after a failed statement silently rolls back; believe only the ledger.
        row = ledger.row(s.version)
        if row is None or row.status != "applied" or row.checksum != s.checksum:
            raise errors.MigrationFailed(s.version, None, "the transaction did not commit "
                                         "(DuckDB rolled it back); nothing was applied")
        return StepResult(s.version, s.description, "up", ms, count)

    def _record_failure(self, conn, ledger: Ledger, record: dict, exc: errors.MigrationFailed, start) -> None:
        with transaction(conn):
            ledger.record(**record, status="failed", execution_ms=_ms(start), error=exc.error,
                          statement=exc.statement)

    def _revert(self, conn, ledger: Ledger, row: Row) -> StepResult:
        path = Path(self.scripts.versions_dir / row.filename) if row.filename else Path(row.version)
        steps = _down_steps(row.version, row.kind, row.downgrade, path)
        if steps is None:
            raise errors.IrreversibleMigration(row.version)
        start = time.perf_counter()
        try:
            with transaction(conn):
                count = self._run(conn, row.version, steps, "down")
                ledger.forget(row.version, "reverted", execution_ms=_ms(start))
        except errors.MigrationFailed as exc:
            with transaction(conn):
                ledger.update(row.version, error=f"revert failed: {exc.error}", statement=exc.statement)
                ledger.event(row.version, "failed", row.checksum, _ms(start), f"revert failed: {exc.error}")
            raise
        if ledger.row(row.version) is not None:
            raise errors.MigrationFailed(row.version, None, "the transaction did not commit "
                                         "(DuckDB rolled it back); nothing was reverted", "down")
        return StepResult(row.version, row.description or "", "down", _ms(start), count)

    def _run(self, conn, version: str, steps, direction: str) -> int:
        """Run one migration's steps on ``conn``; any error becomes MigrationFailed."""
        import duckdb

        if callable(steps):
            session = pyform.Session(conn)
            try:
                steps(session)
            except Exception as exc:
                if isinstance(exc, errors.DuckmigError):
                    raise
                message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, duckdb.Error) else str(exc)
                raise errors.MigrationFailed(version, session.statement, message, direction) from exc
            return len(session.statements)
        for _, statement in steps:
            try:
                conn.execute(statement)
            except duckdb.Error as exc:
                raise errors.MigrationFailed(version, statement, str(exc), direction) from exc
        return len(steps)


def status_state(report: StatusReport, version: str) -> str | None:
    return next((m.state for m in report if m.version == version), None)


def _up_steps(s: Script):
    if s.kind == "python":
        return s.migration.upgrade
    return s.sql.up.statements(s.path)


def _down_steps(version: str, kind: str | None, source: str | None, path: Path):
    """The downgrade as the ledger stored it: SQL statements, or the Python class's method."""
    from . import sqlfile

    if not source or not source.strip():
        return None
    if kind == "python":
        return pyform.load(source, path, version).downgrade
    steps = sqlfile.Section(source, 1).statements(path)
    return steps or None


def _from_row(row: Row, state: str, file: str | None, description: str) -> MigrationStatus:
    return MigrationStatus(row.version, description, row.kind, state, row.applied_at, row.execution_ms,
                           row.error, row.statement, file)


def _terminated(statement: str) -> str:
    return statement if statement.rstrip().endswith(";") else statement + ";"


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)
