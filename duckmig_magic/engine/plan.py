"""Planning: from the version files, the ledger's rows, a target and flags to what runs.

Pure functions: they read no file beyond what a script already holds, open no
database and run nothing, so each rule is tested on tables of inline cases. The
Migrator loads and checks the files they pick, and runs them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .. import errors
from . import identity, trust
from .ledger import Row
from .versions import Script, is_version, same_upgrade

STATES = ("applied", "pending", "failed", "modified", "missing", "out_of_order", "draft")
TO_APPLY = ("pending", "failed", "out_of_order")  # the states up applies


@dataclass(slots=True)
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
    downgrade_differs: bool = False  # the ledger stores a downgrade other than the file's (the file's runs)

    @property
    def is_applied(self) -> bool:
        return self.state in ("applied", "modified", "missing")


@dataclass
class StatusReport:
    database: str
    directory: str
    migrations: list[MigrationStatus]
    kept_rows: int = 0  # what migrations kept of the data they destroyed (``Migrator.kept``), in total
    kept_bytes: int = 0
    kept_in_snapshots: int = 0  # tables whose state before a migration a DuckLake's snapshots hold instead

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


def status(scripts: list[Script], rows: dict[str, Row], database: str = "", directory: str = "") -> StatusReport:
    """Every migration, from its file or its ledger row or both, with its state."""
    newest_applied = max((v for v, r in rows.items() if r.status == "applied"), default=None)
    out: dict[str, MigrationStatus] = {}
    for s in scripts:
        row = rows.get(s.version)
        if row is None:
            state = "out_of_order" if newest_applied and s.version < newest_applied else "pending"
            state = "draft" if s.is_draft else state  # an untouched template: planning skips it
            out[s.version] = MigrationStatus(s.version, s.quick_description, s.kind, state, file=s.name)
            continue
        if row.status == "failed":
            state = "failed"
        elif row.checksum is not None and row.checksum != s.checksum and not same_upgrade(row, s):
            state = "modified"
        else:
            state = "applied"  # a file whose downgrade alone changed is as applied: repair stores the downgrade
        out[s.version] = _from_row(row, state, s.name, row.description or s.quick_description)
        out[s.version].downgrade_differs = state == "applied" and (
            trust.differs(row.downgrade, s) or (row.checksum is not None and row.checksum != s.checksum))
    for version, row in rows.items():
        if version not in out:
            out[version] = _from_row(row, "missing" if row.status == "applied" else "failed",
                                     row.filename, row.description or "")
    return StatusReport(database, directory, [out[v] for v in sorted(out)])


def up(report: StatusReport, scripts: list[Script], target: str | None = None, *, out_of_order: bool = False,
       allow_drift: bool = False) -> list[Script]:
    """The scripts ``up(target)`` runs, in order; raises DriftError (OutOfOrder among them), ConfigError (no version), or
    StateError for a version no file or ledger row has, for a run that may not start."""
    drift = [(m.version, m.state) for m in report.by_state("modified", "missing")]
    if drift and not allow_drift:
        raise errors.DriftError(f"applied migrations differ from their files: "
                                f"{', '.join(f'{v} ({state})' for v, state in drift)}",
                                _drift_hint(drift, identity.copies(report)), drift)
    if target is not None:
        check_version(target, [s.version for s in scripts])
    states = {m.version: m.state for m in report}
    todo = [s for s in scripts if states[s.version] in TO_APPLY and (target is None or s.version <= target)]
    late = [s.version for s in todo if states[s.version] == "out_of_order"
            or (states[s.version] == "failed" and report.current and s.version < report.current)]
    if late and not out_of_order:
        raise errors.OutOfOrder(late, report.current)
    return todo


def down(rows: dict[str, Row], target: str | None = None, steps: int | None = None) -> list[str]:
    """The versions ``down`` reverts, newest first: one step, ``steps`` of them, everything newer than
    ``target``, or all with ``"base"``."""
    applied = sorted((v for v, r in rows.items() if r.status == "applied"), reverse=True)
    if not applied:
        raise errors.StateError("nothing to revert: no migration is applied", "{do:status} shows the state")
    if target is not None and steps is not None:
        raise errors.ConfigError("give a target version or --steps, not both", "{do:down VERSION} keeps VERSION and "
                                 "reverts the newer ones; {do:down --steps N} reverts N")
    if target is None:
        n = 1 if steps is None else steps
        if n < 1:
            raise errors.ConfigError(f"--steps must be 1 or more, not {n}",
                                     "{do:down} alone reverts the newest migration")
        return applied[:n]
    if target == "base":
        return applied
    check_format(target)
    if target not in applied:
        raise errors.unknown_version(target, "among the applied migrations")
    return [v for v in applied if v > target]


def _drift_hint(drift: list[tuple[str, str]], copies: list[tuple[str, str, str]]) -> str:
    """What to do about drift: edits are accepted or undone; a missing file is lost work, not an edit
    (forgetting its row would apply the migration again), so it is restored."""
    if all(state != "missing" for _, state in drift):
        return ("{do:verify} shows the details; accept intended edits with {do:repair}, restore the files, "
                "or pass {flag:allow_drift} to apply on top of them")
    first = ""
    if copies:  # (pending version, missing version, slug): a migration written again under a new version
        one = len(copies) == 1
        first = (f"pending {', '.join(f'{new} ({slug}, applied as {old})' for new, old, slug in copies)} "
                 f"{'is' if one else 'are'} most likely {'that migration' if one else 'those migrations'} "
                 f"written again under a new version, and applying would run {'it' if one else 'them'} "
                 f"twice: delete {'its file' if one else 'their files'}; then ")
    return (first + "restore the files of the missing migrations: a migration's version lives in its file. "
            "{do:restore} writes them back from the text the ledger stored when each was applied; or take them "
            "from version control, or export again the notebook that wrote them ({do:export NOTEBOOK.ipynb} gives "
            "each cell back the version the database applied it as); {do:verify} shows the details")


def status_state(report: StatusReport, version: str) -> str | None:
    return next((m.state for m in report if m.version == version), None)


def check_format(version: str) -> None:
    if not is_version(version):
        raise errors.not_a_version(version)


def check_version(version: str, known: Iterable[str]) -> None:
    check_format(version)
    if version not in set(known):
        raise errors.unknown_version(version)


def _from_row(row: Row, state: str, file: str | None, description: str) -> MigrationStatus:
    return MigrationStatus(row.version, description, row.kind, state, row.applied_at, row.execution_ms,
                           row.error, row.statement, file)
