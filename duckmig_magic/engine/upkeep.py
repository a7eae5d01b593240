"""Upkeep of the ledger against the files: stamp, repair, restore and verify (with its round trip).

None of these runs a migration for good: ``stamp`` and ``repair`` write ledger
events only, ``restore`` writes version files only, and ``verify --roundtrip``
runs migrations inside a transaction that it rolls back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple

from .. import errors
from . import catalog, declarative, interrupts, keep, plan
from .apply import down_steps, keeps, up_steps
from .database import transaction
from .preview import propose_downgrade
from .runner import Runner
from .versions import FILE_RE, Script, checksum, has_downgrade, write_atomically
from .workspace import Workspace


class _Worded(str, Enum):
    """A str enum that str() and format() give as its value, on every Python (3.11 made format()
    of a str mixin give ``Class.NAME``)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, format_spec: str) -> str:
        return str.__format__(self, format_spec)


class Finding(_Worded):
    """What ``verify`` found wrong with a migration; the value is what the command prints and its JSON holds."""

    MODIFIED = "modified"
    MISSING = "missing"
    FAILED = "failed"
    DOWNGRADE_DIFFERS = "downgrade differs"  # each interface words its detail
    SKIPPED = "skipped"
    IRREVERSIBLE = "irreversible"
    ROUNDTRIP = "roundtrip"
    SCHEMA = "schema drift"  # the database's catalog differs from what its applied migrations make


class Problem(NamedTuple):
    """What ``verify`` found wrong with one migration."""

    version: str
    state: Finding
    detail: str
    hint: str | None = None  # what to write instead, where the cause tells it (a DuckLake limit, say)


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    checked: int = 0
    roundtrip: list[str] = field(default_factory=list)  # versions that round-tripped cleanly
    replays: int = 0  # transactions replayed after a failed statement that a migration caught
    schema_checked: bool = False  # the catalog was compared with the applied migrations replayed

    @property
    def ok(self) -> bool:
        return not self.problems


class NotRestored(_Worded):
    """Why ``restore`` left a migration's file unwritten."""

    NO_TEXT = "the ledger holds no text of it (it was applied by an older duckmig, or adopted)"
    BAD_NAME = "the ledger's file name is not a version file's name"
    UNTRUSTED_PYTHON = "it is Python code from the database, written back only when trusted"
    CHECKSUM = "the stored text does not match the checksum it was applied with"
    EXISTS = "a file of that name exists"


class Restored(NamedTuple):
    """What ``restore`` did for one migration whose file was gone: its path, or why not."""

    version: str
    path: str | None
    skipped: NotRestored | None
    name: str | None = None  # the file name the ledger gives, where the reason is about it

    @property
    def reason(self) -> str | None:
        """Why it was not restored, in a sentence."""
        if self.skipped is NotRestored.BAD_NAME:
            return f"the ledger's file name {self.name!r} is not a version file's name"
        if self.skipped is NotRestored.EXISTS:
            return f"{self.name} exists"
        return self.skipped.value if self.skipped else None


class Repair(NamedTuple):
    """What ``repair`` did to one migration's ledger row."""

    version: str
    action: str


def stamp(work: Workspace, version: str) -> list[str]:
    """Record every migration through ``version`` as applied, running none of them."""
    scripts = work.scripts.scripts()
    plan.check_version(version, [s.version for s in scripts])
    rows = work.rows()
    todo = [s for s in scripts if s.version <= version
            and (s.version not in rows or rows[s.version].status != "applied")
            and not (s.version not in rows and s.is_draft)]
    for s in todo:
        s.check()
    with work.db.connect(write=True) as conn:
        ledger = work.ensure_ledger(conn)
        with transaction(conn):
            for s in todo:
                ledger.record(version=s.version, description=s.description, kind=s.kind,
                              checksum=s.checksum, status="applied", execution_ms=None,
                              downgrade=s.downgrade_source, filename=s.name, source=s.text, event="stamped",
                              detail=f"stamped through {version}")
    return [s.version for s in todo]


def prune(work: Workspace, through: str | None) -> list[keep.Kept]:
    """Forget what migrations kept (through ``through``), in one transaction; returns what was freed."""
    with work.db.connect(write=True) as conn, interrupts.watch(conn) as guard:
        place = work.db.place(conn)
        if not keep.exists(conn, place.database):
            return []
        r = work.runner(conn, guard, place)
        with r.transaction():
            return keep.prune(r, place.database, through)


def store_downgrade(work: Workspace, script: Script) -> None:
    """Store the downgrade of an applied migration whose file changed in its downgrade alone."""
    with work.db.connect(write=True) as conn:
        ledger = work.ensure_ledger(conn)
        with transaction(conn):
            ledger.update(script.version, "repaired", detail="stored the edited downgrade",
                          downgrade=script.downgrade_source, checksum=script.checksum, source=script.text)


def repair(work: Workspace, report: plan.StatusReport) -> list[Repair]:
    """Accept the files as they are: new checksums and downgrades for modified files, the file's
    downgrade where the ledger stores another, failed attempts cleared, rows of missing files
    forgotten."""
    changed = [m for m in report if m.state in ("modified", "missing", "failed") or m.downgrade_differs]
    if not changed:
        return []
    scripts = {s.version: s for s in work.scripts.scripts()}
    for m in changed:
        if m.state in ("modified", "applied"):
            scripts[m.version].check()
    actions = []
    with work.db.connect(write=True) as conn:
        ledger = work.ensure_ledger(conn)
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
                else:  # the file's downgrade alone differs from what the ledger holds: it is stored
                    s = scripts[m.version]
                    ledger.update(m.version, "repaired", detail="stored the file's downgrade",
                                  downgrade=s.downgrade_source, checksum=s.checksum, source=s.text)
                    actions.append(Repair(m.version, "stored the file's downgrade"))
    return actions


def restore(work: Workspace, *, trust_stored_python: bool = False) -> list[Restored]:
    """Write back the version files of applied migrations whose files are gone, each with the text
    the ledger stored when it was applied (checked against its checksum). Overwrites nothing and
    runs nothing; a migration applied before its text was stored cannot be restored, and says so.

    The ledger is data that anyone who can write the database can change, and a version file is
    code that ``down`` trusts: a Python file is written only with ``trust_stored_python``, as a
    stored Python downgrade runs only so (see ``trust``)."""
    rows = work.rows(source=True)
    scripts = work.scripts.scripts() if work.scripts.exists() else []  # the whole folder may be gone
    out = []
    for m in work.status(scripts, rows).by_state("missing"):
        row = rows[m.version]
        match = FILE_RE.fullmatch(row.filename or "")
        if not row.source:
            out.append(Restored(m.version, None, NotRestored.NO_TEXT))
        elif not match or match["version"] != m.version:
            out.append(Restored(m.version, None, NotRestored.BAD_NAME, row.filename))
        elif match["ext"] == "py" and not trust_stored_python:
            out.append(Restored(m.version, None, NotRestored.UNTRUSTED_PYTHON))
        elif checksum(row.source) != row.checksum:
            out.append(Restored(m.version, None, NotRestored.CHECKSUM))
        else:
            path = work.scripts.versions_dir / match[0]  # the ledger's file name, matched whole
            if path.exists() or path.is_symlink():
                out.append(Restored(m.version, None, NotRestored.EXISTS, path.name))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, row.source)
            out.append(Restored(m.version, str(path), None))
    return out


_DETAILS = {Finding.MODIFIED: "the file changed since it was applied",
            Finding.MISSING: "applied, but its file is gone",
            Finding.DOWNGRADE_DIFFERS: "the ledger stores a downgrade other than the file's; down runs the file's, "
                                       "repair stores it"}


def verify(work: Workspace, *, roundtrip: bool = False, keeping: keep.Settings | None = None,
           schema: bool = False) -> VerifyReport:
    """Check checksums of applied migrations; with ``roundtrip``, run up, down, up for each
    pending migration inside a transaction that is rolled back, comparing schemas; with ``schema``,
    replay the applied migrations on an empty database in memory and list each difference of the
    database's catalog from what they make (drift done by hand)."""
    scripts = work.scripts.scripts()
    report = VerifyReport()
    status = work.status(scripts, work.rows())
    for m in status:
        if m.state in ("modified", "missing", "failed"):
            found = Finding(m.state)
            detail = _DETAILS.get(found) or f"the last attempt failed: {m.error}"
            report.problems.append(Problem(m.version, found, detail))
        elif m.downgrade_differs:
            report.problems.append(Problem(m.version, Finding.DOWNGRADE_DIFFERS, _DETAILS[Finding.DOWNGRADE_DIFFERS]))
    report.checked = sum(1 for m in status if m.is_applied)
    if roundtrip:
        pending = [s for s in scripts if plan.status_state(status, s.version) in plan.TO_APPLY]
        _roundtrip(work, pending, report, keeping or keep.Settings())
    if schema:
        report.schema_checked = True
        report.problems += [Problem("", Finding.SCHEMA, str(change)) for change in declarative.drift(work)]
    return report


def _roundtrip(work: Workspace, pending: list[Script], report: VerifyReport, keeping: keep.Settings) -> None:
    for s in pending:
        s.load()
        work.check_sql(s)  # refused before anything runs, as for up
    if not pending:
        return
    with work.scratch() as (conn, place), interrupts.watch(conn) as guard:
        run = work.runner(conn, guard, place, dry=True)
        try:
            with run.transaction(keep=False):
                _roundtrips(run, pending, report, keeping)
        except errors.TransactionLost:
            raise  # what it committed is not known: no report can say the database is as it was
        except errors.MigrationFailed as exc:
            if _key_refused_in_one_transaction(exc):
                report.problems.append(Problem(exc.version or "", Finding.SKIPPED, ONE_TRANSACTION_KEYS))
            else:
                report.problems.append(Problem(exc.version or "", Finding.ROUNDTRIP, str(exc).splitlines()[0],
                                               exc.specific_hint))
        except errors.PreviewRefused as exc:
            report.problems.append(Problem(exc.version, Finding.ROUNDTRIP, f"refused `{exc.statement}`: {exc.why}"))
        except KeyboardInterrupt:
            raise errors.Interrupted("verify --roundtrip was rolled back") from None
        finally:
            report.replays = run.replays


# DuckDB 1.x checks a key against the rows its transaction deleted or rewrote, so the round trip, which
# runs up and down in one transaction, cannot put back rows the upgrade removed from a keyed table.
ONE_TRANSACTION_KEYS = ("cannot be checked in one transaction on DuckDB 1.x: it refuses to insert again a key that "
                        "the upgrade removed or rewrote in the same transaction (\"Duplicate key\"); `down` runs in a "
                        "transaction of its own, where this does not arise. Check it on a copy of the database "
                        "(up, then down), or on DuckDB 2")


def _key_refused_in_one_transaction(exc: errors.MigrationFailed) -> bool:
    from .lint import duckdb_version

    return exc.direction == "down" and "Duplicate key" in exc.error and duckdb_version() < (2, 0, 0)


def _roundtrips(run: Runner, pending: list[Script], report: VerifyReport, keeping: keep.Settings) -> None:
    """Up, down, up for each of ``pending``, comparing the schema after each step, and the content
    of each table the migration wrote before it and after its downgrade: the data duckmig keeps
    when it applies it must come back."""
    database = run.place.database
    for s in pending:
        if not s.transactional:
            report.problems.append(Problem(s.version, Finding.SKIPPED, "transaction:false: cannot run "
                                   "inside the rolled-back transaction"))
            continue
        before = _own(catalog.snapshot(run.conn))
        measured = _up(run, s, keeping, measure=True)
        after_up = _own(catalog.snapshot(run.conn))
        down = down_steps(s.version, s.kind, s.downgrade_source, s.path)
        restore = keep.restores(s.downgrade_source) if s.kind == "sql" else \
            bool(down is not None and getattr(getattr(down, "__self__", None), "restore", False))
        if down is None and (generated := keep.generated(run.conn, database, s.version)) is not None:
            down, restore = down_steps(s.version, "sql", generated, s.path) or [], True
        if down is None:
            report.problems.append(Problem(s.version, Finding.IRREVERSIBLE, "no downgrade to check"))
            continue
        run.run(s.version, down, "down", path=s.path)
        if restore:
            keep.restore(run, database, s.version)
        else:
            keep.forget(run, database, s.version)
        restored = _own(catalog.snapshot(run.conn))
        if restored != before:
            report.problems.append(Problem(s.version, Finding.ROUNDTRIP, "the downgrade does not restore the "
                                   "schema: " + catalog.describe_difference(before, restored)))
            continue
        differ = _content_differs(run.conn, database, measured)
        if differ:
            report.problems.append(Problem(s.version, Finding.ROUNDTRIP, "the downgrade does not restore the "
                                   "data: " + "; ".join(differ), _unrestored(s, keeping, restore)))
            continue
        _up(run, s, keeping)
        if _own(catalog.snapshot(run.conn)) != after_up:
            report.problems.append(Problem(s.version, Finding.ROUNDTRIP, "applying again after the downgrade "
                                   "gives a different schema"))
            continue
        report.roundtrip.append(s.version)


def _unrestored(s: Script, keeping: keep.Settings, restore: bool) -> str | None:
    """Why keeping did not bring back the data a round trip lost, where the cause is keeping's."""
    if not keeping.on:
        return "keeping is off for this run: nothing the migration destroys is kept for its downgrade to put back"
    if not keeps(s):
        return "the migration turns keeping off (keep:false): nothing it destroys is kept for its downgrade to put back"
    if not restore:
        return "end its down section with `-- migrate:restore`: the downgrade then puts back what up kept"
    return None


def _up(run: Runner, s: Script, keeping: keep.Settings, *, measure: bool = False) -> dict:
    """Apply ``s`` with ``run`` as ``up`` would, keeping what it destroys; with ``measure``, the content
    of each table it writes, before it writes it."""
    if not (keeping.on and keeps(s)) and not measure:
        run.run(s.version, up_steps(s), "up", path=s.path)
        return {}
    keeper = keep.Keeper(s.version, run.place.database, run.place.schema, keeping if keeps(s) else
                         keep.Settings(False, keeping.limit), generate=s.kind == "sql" and not has_downgrade(s),
                         propose=propose_downgrade, measured={})
    keeper.start(run.conn)
    run.keeper = keeper
    try:
        run.run(s.version, up_steps(s), "up", path=s.path)
    finally:
        run.keeper = None
    if keeper.settings.on:
        keeper.finish(run)
    return keeper.measured or {}


def _own(snapshot: dict) -> dict:
    """A catalog snapshot without what duckmig keeps (its own schema)."""
    return {(kind, name): d for (kind, name), d in snapshot.items()
            if name != keep.SCHEMA and not name.startswith(keep.SCHEMA + ".")}


def _content_differs(conn, database: str, measured: dict) -> list[str]:
    """Each table whose content is not what ``measured`` says it was, with its counts."""
    tables = {(t.schema, t.name): t for t in catalog.tables(conn).values()}
    out = []
    for (schema, name), (rows, content) in measured.items():
        label = name if schema == "main" else f"{schema}.{name}"
        table = tables.get((schema, name))
        if table is None:
            out.append(f"table {label} is gone ({rows} rows before)")
            continue
        now_rows, now = keep.content_by_name(conn, database, table)
        if (now_rows, now) != (rows, content):
            out.append(f"table {label} holds other content than before up: {now_rows} rows, {rows} before"
                       if now_rows != rows else f"table {label} holds other values than before up ({rows} rows)")
    return out
