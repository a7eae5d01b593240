"""The files and the database one Migrator works on, and the engine's ways into them.

A ``Workspace`` reads the version files and the ledger, plans from them, opens
the connections migrations run on, and builds the guarded runner for each. The
layers above it (``apply``, ``upkeep``, the ``Migrator`` facade) decide what to
run; this module only reads and checks.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .. import errors
from . import interrupts, plan
from .database import Database, files_found_in, transaction
from .ledger import Ledger, Place, Row
from .ledger import tables as ledger_tables
from .plan import StatusReport
from .versions import Script, ScriptDirectory

if TYPE_CHECKING:  # the runner is loaded by what checks or runs statements: status does neither
    from .runner import Runner


class Workspace:
    """``database`` (a path, ``":memory:"``, a DuckLake or an open connection) with its ledger
    ``table``, and the migrations ``directory``."""

    def __init__(self, database, directory, *, table: str = "duckdb_migrations", wait: float = 0.0):
        # Weakly: a bound method would make a cycle, and keep a lake's connection open until Python's
        # cyclic collector ran, where it used to close with the last reference to the Migrator.
        applied = weakref.WeakMethod(self._applied)
        self.scripts = ScriptDirectory(directory, applied=lambda: method() if (method := applied()) else [])
        self.db = Database(database, wait=wait, files=self.scripts.directory.absolute())
        self.table = table

    @property
    def protected(self) -> tuple[str, str, str]:
        """The ledger's tables, which a migration may read but not change."""
        return ledger_tables(self.table)

    # -- reading -----------------------------------------------------------------------------

    def rows(self, *, source: bool = False) -> dict[str, Row]:
        """The ledger's state of each migration; none where the database does not exist yet."""
        if not self.db.exists():
            return {}
        with self.db.connect(write=False) as conn:
            return self.ledger(conn).rows(source=source)

    def _applied(self) -> list[str]:
        """The versions the ledger holds as applied, for the error of a missing folder; none where the
        ledger cannot be read (that error is told where it is met, not in another's hint)."""
        try:
            return sorted(v for v, row in self.rows().items() if row.status == "applied")
        except Exception:  # noqa: BLE001 - a hint's detail: any failure leaves the plain message
            return []

    def status(self, scripts: list[Script], rows: dict[str, Row]) -> StatusReport:
        return plan.status(scripts, rows, self.db.label, str(self.scripts.versions_dir))

    def plan(self, scripts: list[Script], rows: dict[str, Row], target: str | None, out_of_order: bool,
             allow_drift: bool, *, execute: bool = True, checked: set[str] | None = None) -> list[Script]:
        """The scripts ``up(target)`` runs, each loaded (``execute``) or parsed, and checked; raises on
        any problem. ``checked``: the versions a run checked already (it plans again under the write
        lock, and each file is checked once)."""
        todo = plan.up(self.status(scripts, rows), scripts, target, out_of_order=out_of_order,
                       allow_drift=allow_drift)
        checked = set() if checked is None else checked
        for s in todo:  # every file of the run is checked before the first one starts
            if s.version not in checked:
                s.load() if execute else s.check()
                self.check_sql(s)
                checked.add(s.version)
        return todo

    def check_sql(self, s: Script) -> None:
        """Refuse a SQL file whose sections have statements the runner would refuse, before any runs."""
        from . import runner

        if s.kind == "sql":
            for section in filter(None, (s.sql.up, s.sql.down)):
                runner.check(section.typed(s.path), s.path, transactional=section.transaction,
                             protected=self.protected)

    # -- the database ------------------------------------------------------------------------

    def ledger(self, conn, place: Place | None = None) -> Ledger:
        return Ledger(conn, self.table, place or self.db.place(conn))

    def ensure_ledger(self, conn) -> Ledger:
        """The ledger on ``conn``, created (or an older layout adopted) first where it is not ready."""
        ledger = self.ledger(conn)
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

    def runner(self, conn, guard: interrupts.Interrupts, place: Place | None = None, *,
               dry: bool = False) -> Runner:
        from .runner import Runner

        return Runner(conn, place or self.db.place(conn), protected=self.protected, interrupts=guard, dry=dry)

    @contextmanager
    def scratch(self) -> Iterator[tuple[object, Place]]:
        """The database to try migrations on, and its place; an empty one in memory if the file is not
        created yet, so that trying creates nothing."""
        if self.db.exists():
            with self.db.connect(write=True) as conn:
                yield conn, self.db.place(conn)
            return
        import duckdb

        with duckdb.connect(":memory:") as conn, files_found_in(conn, self.db.files):
            yield conn, Place.default(conn)

    def file_of(self, row: Row) -> Path:
        """Where ``row``'s version file is, or was."""
        return self.scripts.versions_dir / row.filename if row.filename else Path(row.version)
