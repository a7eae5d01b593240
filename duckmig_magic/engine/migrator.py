"""The Migrator: the one API the command, the magics and the widgets call.

``Migrator(database_or_connection, directory)`` is a facade over the engine's
layers: the files and the ledger it reads (``workspace``), the plans made of
them (``plan``), the runs that apply and revert (``apply``), the upkeep of the
ledger against the files (``upkeep``) and the previews (``preview``). Each
method here is one call into them; the seed's API names are kept.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .. import errors
from . import identity, interrupts, plan, pyform, sqlfile
from . import keep as keep_module
from .plan import StatusReport, status_state
from .versions import Script, ScriptDirectory, python_template, read_all
from .workspace import Workspace

# What status and every verb use is imported here; the module of one verb (apply, upkeep, linting,
# preview, authoring) inside the methods that use it, so that a command loads only its verb's.
if TYPE_CHECKING:
    from . import authoring, declarative, upkeep
    from .apply import Progress, StepResult
    from .ledger import Event, Row
    from .lint import LintSettings
    from .lint import Report as LintReport
    from .preview import Preview


T = TypeVar("T")


class Migrator:
    """Apply, revert and inspect the migrations of ``directory`` on one database.

    ``database`` is a path, ``":memory:"``, a DuckLake (``ducklake:...``) or an open
    ``duckdb`` connection (used as it is and never closed). ``progress(event, index,
    total, item, result)``, given here or to ``up``, ``down`` and ``redo``, is called
    with ``"start"`` and ``"done"`` around each migration. ``keep``: keep what migrations
    destroy in the database, for their downgrades to put back (see ``kept``); nothing of a
    table of more than ``keep_limit`` rows is kept.
    """

    def __init__(self, database=":memory:", directory="migrations", *, table: str = "duckdb_migrations",
                 wait: float = 0.0, progress: Progress | None = None, group_seconds: float = 0.25,
                 keep: bool = True, keep_limit: int = keep_module.DEFAULT_LIMIT):
        self.work = Workspace(database, directory, table=table, wait=wait)
        self.group_seconds = group_seconds
        self.progress = progress
        self.keeping = keep_module.Settings(bool(keep), int(keep_limit))

    db = property(lambda self: self.work.db)
    scripts = property(lambda self: self.work.scripts)
    table = property(lambda self: self.work.table)

    @property
    def directory(self) -> Path:
        return self.scripts.directory

    def __repr__(self) -> str:
        return f"Migrator({self.db.label!r}, {str(self.directory)!r})"

    # -- reading -------------------------------------------------------------------------------

    def status(self) -> StatusReport:
        """Every migration with its state; creates nothing, not even the database file."""
        with no_cycles():
            if not self.db.exists():
                return self.work.status(self.scripts.scripts(), {})
            # The files are listed and read in another thread while this one connects and reads the
            # ledger: connecting, DuckDB's queries and reading files all let go of the GIL. This thread
            # keeps the engine's lock (it may hold it already); the other never takes it.
            with _beside(self._files) as files:
                with self.db.connect(write=False) as conn:
                    found = self.work.ledger(conn).rows()
                    kept = keep_module.listing(conn, self.db.place(conn).database)
            try:
                scripts = files()
            except errors.ConfigError:
                if self.scripts.exists():
                    raise
                scripts = self.scripts.scripts()  # a folder gone: told again, with what the ledger holds of it
            report = self.work.status(scripts, found)
            report.kept_rows, report.kept_bytes = sum(k.rows or 0 for k in kept), sum(k.bytes for k in kept)
            report.kept_in_snapshots = sum(1 for k in kept if k.state == keep_module.IN_SNAPSHOTS)
            return report

    def _files(self) -> list[Script]:
        """The version files, listed and read. Without the ledger: a folder that is gone is told in
        words that name the applied migrations (``ScriptDirectory.applied``), asked of the ledger
        under the engine's lock, which a thread beside the one that holds it must not wait for."""
        scripts = ScriptDirectory(self.scripts.directory).scripts()
        read_all(scripts, self.scripts.versions_dir)
        return scripts

    def history(self, version: str | None = None) -> list[Event]:
        """The ledger's events, oldest first."""
        if not self.db.exists():
            return []
        with self.db.connect(write=False) as conn:
            return self.work.ledger(conn).history(version)

    def plan(self, target: str | None = None, *, out_of_order: bool = False,
             allow_drift: bool = False) -> list[Script]:
        """The scripts ``up(target)`` would run, in order, each checked; raises on any problem.

        Runs nothing: a Python file is read as a syntax tree, not imported."""
        return self.work.plan(self.scripts.scripts(), self.work.rows(), target, out_of_order, allow_drift,
                              execute=False)

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

    # -- running -------------------------------------------------------------------------------

    def up(self, target: str | None = None, *, out_of_order: bool = False, allow_drift: bool = False,
           single_transaction: bool = False, progress: Progress | None = None,
           keep: bool | None = None, no_lint: bool = False,
           lint_settings: LintSettings | None = None, keys=None) -> list[StepResult]:
        """Apply pending migrations through ``target`` (all when None), each atomically.

        First the lint's rules that need no rows judge the migrations it would run
        (unless ``no_lint``): an error finding raises ``errors.LintRefused`` before
        the first one runs.

        With ``single_transaction`` the whole run is one transaction, as Flyway's
        ``group``: all of it lands or none of it does. A failure raises
        ``errors.RunStopped`` where the run did something before it or had more to do.
        ``keep=False`` keeps nothing of what this run destroys (the default: the Migrator's).
        ``keys`` (``{"table": ["c1", "c2"]}``, as for ``preview``): the columns that identify the rows
        of a table without a primary key, by which what is kept of it is matched again at ``down``.
        """
        from . import apply

        if not no_lint:
            self._lint_before_up(target, out_of_order, allow_drift, lint_settings)
        checked: set[str] = set()
        keeping = keep_module.Settings(self.keeping.on if keep is None else bool(keep), self.keeping.limit,
                                       keep_module.check_keys(keys))
        ran = apply.up(self.work, lambda scripts, rows: self.work.plan(scripts, rows, target, out_of_order,
                                                                      allow_drift, checked=checked),
                       single_transaction=single_transaction, progress=progress or self.progress,
                       group_seconds=self.group_seconds, keeping=keeping)
        keeping.unused_keys()
        return ran

    def down(self, target: str | None = None, *, steps: int | None = None, trust_stored_python: bool = False,
             stored_downgrade: bool = False, progress: Progress | None = None) -> list[StepResult]:
        """Revert one step; with ``target``, everything newer than it (``"base"``: all).

        Each migration is reverted by its file's downgrade; a file changed since it
        was applied is refused as drift (an ``errors.DriftError``), unless
        ``stored_downgrade`` asks for the downgrade the ledger stored when it was
        applied. That one also runs where the file is gone. It is shown first, in a
        ``StoredDowngrade`` warning, and if it is Python, it runs only with
        ``trust_stored_python``.
        """
        from . import apply

        return apply.down(self.work, target, steps, trust_stored_python=trust_stored_python,
                          stored_downgrade=stored_downgrade, progress=progress or self.progress)

    def redo(self, *, out_of_order: bool = False, allow_drift: bool = False, trust_stored_python: bool = False,
             stored_downgrade: bool = False, progress: Progress | None = None) -> list[StepResult]:
        """Revert the newest applied migration and apply it again, by the rules of ``up``.

        Both steps are checked before the first runs, so a redo that could not
        apply again (file gone, drift, a file that does not parse) reverts nothing;
        pending migrations older than it are out of order, and refused as ``up``
        refuses them (``out_of_order`` lets the redo go on: they stay pending).
        Editing the newest migration's own file is what redo is for: that is
        not drift, and the file's downgrade as it is now reverts it, unless
        ``stored_downgrade`` asks for the one the ledger stored (as ``down``).
        """
        from . import apply

        progress = progress or self.progress
        rows, scripts = self.work.rows(), self.scripts.scripts()
        newest = plan.down(rows, None, None)[0]
        if newest not in {s.version for s in scripts}:
            raise errors.unknown_version(newest, "in the migrations directory: redo would revert it and could not "
                                                 "apply it again")

        def again(scripts: list[Script], rows: dict[str, Row]) -> list[Script]:
            return [s for s in self.work.plan(scripts, {v: r for v, r in rows.items() if v != newest}, newest,
                                              True, allow_drift) if s.version == newest]

        late = [m.version for m in self.work.status(scripts, rows).by_state("out_of_order", "failed")
                if m.version < newest]
        if late and not out_of_order:
            raise errors.OutOfOrder(late, newest)
        again(scripts, rows)
        edited = rows[newest].checksum not in (None, next(s for s in scripts if s.version == newest).checksum)
        reverted = apply.down(self.work, None, None, trust_stored_python=trust_stored_python,
                              stored_downgrade=stored_downgrade, edited=True, progress=progress)
        # An edit redo applies is recorded with the apply, in its event's detail.
        noted = {newest: "redo: the file was edited since it was applied"} if edited else {}
        try:
            return reverted + apply.up(self.work, again, progress=progress, group_seconds=self.group_seconds,
                                       noted=noted, keeping=self.keeping)
        except errors.Interrupted as exc:
            raise errors.Interrupted(f"{exc.what}; its revert before that stays: {newest} is not applied now",
                                     exc.version) from None

    # -- kept data ---------------------------------------------------------------------------------

    def kept(self) -> list[keep_module.Kept]:
        """What migrations kept of the data they destroyed: version, table, rows and bytes each."""
        if not self.db.exists():
            return []
        with self.db.connect(write=False) as conn:
            return keep_module.listing(conn, self.db.place(conn).database)

    def prune(self, through: str | None = None) -> list[keep_module.Kept]:
        """Forget the kept data of every migration (through version ``through``); returns what was
        freed. A migration whose kept data is pruned reverts its schema only."""
        from . import upkeep

        if through is not None:
            plan.check_format(through)
        if not self.db.exists():
            return []
        return upkeep.prune(self.work, through)

    def _lint_before_up(self, target, out_of_order: bool, allow_drift: bool, settings) -> None:
        from . import linting

        # Planned without parsing: a statement DuckDB's parser refuses may be one a rule explains.
        scripts = self.scripts.scripts()
        todo = plan.up(self.work.status(scripts, self.work.rows()), scripts, target, out_of_order=out_of_order,
                       allow_drift=allow_drift)
        if not todo:
            return
        report = linting.lint_scripts(self.work, todo, settings=settings)
        refused = [f for f in report.findings if f.severity == "error"]
        if refused:
            raise errors.LintRefused(refused)

    # -- upkeep --------------------------------------------------------------------------------

    def stamp(self, version: str) -> list[str]:
        """Record every migration through ``version`` as applied, running none of them."""
        from . import upkeep

        return upkeep.stamp(self.work, version)

    def repair(self) -> list[upkeep.Repair]:
        """Accept the files as they are (see ``upkeep.repair``)."""
        from . import upkeep

        return upkeep.repair(self.work, self.status())

    def restore(self, *, trust_stored_python: bool = False) -> list[upkeep.Restored]:
        """Write back the files of applied migrations that are gone, from the ledger (see ``upkeep.restore``)."""
        from . import upkeep

        return upkeep.restore(self.work, trust_stored_python=trust_stored_python)

    def verify(self, *, roundtrip: bool = False, schema: bool = False) -> upkeep.VerifyReport:
        """Check checksums of applied migrations; with ``roundtrip``, run up, down, up for each
        pending migration inside a transaction that is rolled back, comparing the schema, and the
        content of each table it writes before up and after down; with ``schema``, compare the
        database's catalog with the applied migrations replayed on an empty database in memory,
        each difference a problem (drift done by hand)."""
        from . import upkeep

        return upkeep.verify(self.work, roundtrip=roundtrip, keeping=self.keeping, schema=schema)

    def lint(self, versions: list[str] | None = None, *, data: bool = True,
             settings: LintSettings | None = None, fix: bool = False) -> LintReport:
        """The lint's findings on the pending migrations (or ``versions``) and their downgrades, each
        judged on the catalog as it will be when it runs; runs nothing, changes nothing. ``data``
        False leaves out the rules that query the live rows. With ``fix``, the fixes that are
        mechanical (drop a table's indexes, ALTER, create them again) are written into the files of
        migrations not applied yet, and the report is that of the files as written, with the diffs."""
        from . import linting

        return linting.run(self.work, versions, data_rules=data, settings=settings, fix=fix)

    # -- the declared schema ---------------------------------------------------------------------

    def diff(self, to: str | Path | None = None, *, renames: dict[str, str] | None = None,
             no_renames=None, save: str | None = None, from_migrations: bool = False,
             description: str | None = None, keys=None, sample: int = 20) -> declarative.SchemaDiff:
        """The migration (up and down) that takes the database to the schema ``to`` declares: DDL
        text, or the path of a .sql file holding it. With ``from_migrations`` instead, the migration
        that brings the files in line with the database: what was done to it by hand.

        Likely renames are proposed, never taken silently: ``renames`` ({old: new}, a table or
        ``table.column``) and ``no_renames`` (old names) decide them. The result holds the preview of
        applying it to the database (its data-loss warnings first). ``save`` writes it as the version
        file of that slug, as a ``%%migration`` cell would; nothing is written while a rename is
        undecided, or when the migration fails on the database.
        """
        from . import authoring, declarative
        from .keep import check_keys
        from .preview import check_sample

        if (to is None) == (not from_migrations):
            raise errors.ConfigError("give the schema you want (to=SCHEMA), or from_migrations=True, one of them")
        keys, sample = check_keys(keys), check_sample(sample)
        if save is not None:
            authoring.check_slug(save)
        renames = dict(renames or {})
        if from_migrations:
            result = declarative.propose(declarative.replayed(self.work), declarative.live(self.work),
                                         "the database", renames=renames, no_renames=no_renames)
            result.applied_by_hand = True
        else:
            assert to is not None
            text, where = (declarative.read_schema_file(to) if isinstance(to, Path) or _a_path(str(to))
                           else (str(to), "the schema"))
            wanted, lost = declarative.desired(text, where)
            result = declarative.propose(declarative.live(self.work), wanted, where, renames=renames,
                                         no_renames=no_renames)
            result.cannot += lost
        if result.unused:
            raise errors.ConfigError(f"rename {', '.join(result.unused)}: no such table or column disappears while the "
                                     "new name appears", "name a rename as OLD=NEW, a table or TABLE.COLUMN")
        if not result.empty and not from_migrations and self.db.exists():
            result.preview = self.preview_body(result.body, name=save or "diff", keys=keys, sample=sample)
        if save is not None:
            result.saved = self._save_diff(result, save, description)
        return result

    def _save_diff(self, result: declarative.SchemaDiff, slug: str, description: str | None):
        if result.empty:
            raise errors.StateError(f"nothing to save as {slug}: the database already has {result.source}'s schema")
        if result.undecided:
            shown = "; ".join(f"{c} (or {c.old} dropped and {c.new} added)" for c in result.undecided)
            raise errors.ConfigError(f"not saved: likely renames are undecided: {shown}",
                                     "decide each: a rename as OLD=NEW (--rename, or renames={'OLD': 'NEW'} in "
                                     "Python), a drop and add as OLD (--no-rename, or no_renames=['OLD'])")
        if result.preview is not None and result.preview.failed is not None:
            raise errors.StateError(f"not saved: the migration fails on the database: {result.preview.failed.error}")
        return self.save(slug, result.body, description=description)

    # -- authoring -----------------------------------------------------------------------------

    def new(self, description: str, *, python: bool = False, up: str = "", down: str = "",
            slug: str | None = None) -> Script:
        """Create a version file from a template; SQL by default, the class form with ``python``."""
        if python:
            return self.scripts.create(description, lambda v: python_template(v, description),
                                       kind="python", slug=slug)
        return self.scripts.create(
            description, lambda v: sqlfile.render(up, down, description=description), slug=slug)

    def save(self, slug: str, body: str, *, python: bool = False, description: str | None = None,
             source: str | None = None, force: bool = False, where: str | None = None,
             version: str | None = None) -> authoring.Saved:
        """Create or update the version file of ``slug`` from a migration body (a notebook cell's).

        Saving the same slug again updates its file; an applied migration whose
        text changed is refused unless ``force``, but one whose downgrade alone changed
        is no drift: the file and the ledger take it ("downgrade stored"). A new file gets ``version``,
        else the next free one.
        """
        from . import authoring, upkeep

        saved = authoring.write(self.scripts, self.prepare(slug, body, python=python, description=description,
                                                           source=source, force=force, where=where,
                                                           version=version))
        if saved.action == "downgrade stored":
            upkeep.store_downgrade(self.work, saved.script)
        return saved

    def prepare(self, slug: str, body: str, *, python: bool = False, **kw) -> authoring.Planned:
        """What ``save`` would do, with all its checks, writing nothing; ``authoring.write`` does it."""
        from . import authoring

        rows = self.work.rows()
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
        from . import apply, linting
        from .keep import check_keys
        from .preview import check_sample

        keys, sample = check_keys(keys), check_sample(sample)
        rows = self.work.rows()  # read once: each read opens the database file
        if script is not None:
            if isinstance(script, Script):
                chosen = script
            else:
                plan.check_format(script)
                scripts = self.scripts.scripts()
                state = status_state(self.work.status(scripts, rows), script)
                if state is None:
                    raise errors.unknown_version(script)
                if state not in plan.TO_APPLY:
                    raise errors.PreviewNotPossible(f"cannot preview {script}: it is {state.replace('_', ' ')}, "
                                                    "not pending", "a preview runs migrations that are not applied yet")
                chosen = next(s for s in scripts if s.version == script)
            chosen.load()
            todo = [chosen]
        else:
            todo = self.work.plan(self.scripts.scripts(), rows, target, out_of_order, allow_drift, execute=False)
        result = self._preview([(s.version, s.transactional, apply.up_steps(s), s.path) for s in todo], keys, sample)
        result.warning_list += linting.preview_warnings(self.work, todo, rows)
        return result

    def preview_body(self, body: str, *, python: bool = False, name: str = "cell", keys=None,
                     sample: int = 20) -> Preview:
        """Preview a migration's text that is saved nowhere (a notebook cell's), alone, on the
        database as it is: the SQL form, or the Python class form with ``python``. Writes no file."""
        from .keep import check_keys
        from .preview import check_sample

        keys, sample = check_keys(keys), check_sample(sample)
        if python:
            return self._preview([(name, True, pyform.load(body, name, None).upgrade, name)], keys, sample)
        up = sqlfile.parse(body, name).up
        return self._preview([(name, up.transaction, up.typed(name), name)], keys, sample)

    def _preview(self, todo: list[tuple[str, bool, object, object]], keys, sample: int) -> Preview:
        from . import runner
        from .preview import Preview
        from .preview import run as run_preview

        for version, transactional, steps, path in todo:
            if not transactional:
                raise errors.PreviewNotPossible(
                    f"cannot preview {version}: it runs outside a transaction (transaction:false), and a preview "
                    "applies migrations inside one that it rolls back", "apply it to a copy of the database to see "
                    "what it does")
            if not callable(steps):
                runner.check(steps, path, transactional=True, protected=self.work.protected)
        steps = [(version, up, path) for version, _, up, path in todo]
        if not steps:
            return Preview([])
        with self.work.scratch() as (conn, place), interrupts.watch(conn) as guard:
            try:
                try:
                    return self._kept(run_preview(self.work.runner(conn, guard, place, dry=True), steps, keys=keys,
                                                  sample=sample))
                except errors.TransactionLost:
                    raise  # what it committed is not known: no preview can say the database is unchanged
                except errors.MigrationFailed as exc:
                    failed = exc
                # The diff of the migrations before the failing one, as a run of its own.
                done = steps[:next((i for i, (v, _, _) in enumerate(steps) if v == failed.version), 0)]
                result = Preview([])
                if done:
                    try:
                        result = self._kept(run_preview(self.work.runner(conn, guard, place, dry=True), done,
                                                        keys=keys, sample=sample))
                    except errors.MigrationFailed:
                        pass
            except KeyboardInterrupt:
                raise errors.Interrupted("the preview was rolled back") from None
        result.versions, result.failed = [v for v, _, _ in steps], failed
        return result

    def _kept(self, p: Preview) -> Preview:
        """The preview with its proposed downgrade asking for the data keeping brings back, where
        this Migrator keeps it."""
        from .preview import with_restore

        if self.keeping.on:
            p.proposed_downgrade = with_restore(p.proposed_downgrade, p.tables)
        return p

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


@contextmanager
def _beside(work: Callable[..., T], *args) -> Iterator[Callable[[], T]]:
    """``work(*args)`` in another thread while the block runs, which waits for it at its end, raised or
    not; yields what gives its result, or raises its error. (A thread of its own: concurrent.futures
    would load logging and its own modules, a few milliseconds of every ``duckmig status``, for one call.)"""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, work(*args)))
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            outcome.append((False, exc))

    def result() -> T:
        done, value = outcome[0]
        if not done:
            raise value
        return value

    thread = threading.Thread(target=run, name="duckmig-files", daemon=True)
    thread.start()
    try:
        yield result
    finally:
        thread.join()


@contextmanager
def no_cycles() -> Iterator[None]:
    """The cyclic garbage collector paused: ``status`` makes a few objects per file, and laying out its
    text a few per row, none in a cycle; the collector's passes, triggered by their number, would walk
    them (and a notebook's whole heap) for nothing."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _a_path(to: str) -> bool:
    """Whether ``to`` names a schema file rather than holding DDL: one line, no statement's ``;``
    and no space (a file name with spaces is given as a ``Path``)."""
    return "\n" not in to and ";" not in to and " " not in to.strip()


def _terminated(statement: str) -> str:
    return statement if statement.rstrip().endswith(";") else statement + ";"
