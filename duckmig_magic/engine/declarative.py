"""The schema as declared, as the migrations made it, and as the database holds it.

Three catalogs meet here, all read by ``catalog.read`` and compared by ``schemadiff.compare``:

    desired    the DDL a person writes for the schema they want, built in a scratch database in memory
    replayed   the applied migrations run again on an empty database in memory (no data)
    live       the database itself, without the ledger

``propose(a, b)`` is the migration from one to the other with its downgrade; ``drift`` lists
what the database holds that its migrations did not make.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import errors
from . import catalog, interrupts, sqlfile
from .apply import up_steps
from .authoring import Saved
from .catalog import Catalog
from .ledger import Place
from .preview import Preview, plain
from .runner import Runner
from .schemadiff import Candidate, Change, SchemaPlan, compare
from .workspace import Workspace

# What a schema file may hold: DDL, which the scratch database runs. Data has no place in it.
ALLOWED = frozenset({"CREATE", "ALTER", "DROP"})
_MACRO = re.compile(r"\b(MACRO|FUNCTION)\b", re.IGNORECASE)


@dataclass
class SchemaDiff:
    """The migration that takes ``source``'s other side to it: up and down, what differs, the
    renames it took for likely (``candidates``; undecided ones must be decided before saving), what
    it cannot express, and the preview of applying it (its data-loss warnings first)."""

    source: str
    changes: list[Change] = field(default_factory=list)
    up: list[str] = field(default_factory=list)
    down: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    cannot: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preview: Preview | None = None
    saved: Saved | None = None  # when saved as a version file
    applied_by_hand: bool = False  # --from-migrations: the database has the migration already
    unused: list[str] = field(default_factory=list)  # renames given that match nothing
    rebuilt: list[str] = field(default_factory=list)  # tables rebuilt with their rows, where DuckDB has no ALTER

    @property
    def empty(self) -> bool:
        return not self.changes

    @property
    def failed(self):
        """The preview's failure: applying the migration to the database fails (exit code 1)."""
        return self.preview.failed if self.preview is not None else None

    @property
    def undecided(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.decided]

    @property
    def body(self) -> str:
        """The migration as a ``%%migration`` cell holds it."""
        return sqlfile.render("\n".join(self.up), "\n".join(self.down))

    def to_dict(self) -> dict:
        return plain({
            "source": self.source,
            "changes": [{"kind": c.kind, "name": c.name, "change": c.change, "before": c.before, "after": c.after}
                        for c in self.changes],
            "up": self.up, "down": self.down,
            "renames": [{"kind": c.kind, "old": c.old, "new": c.new, "decided": c.decided} for c in self.candidates],
            "cannot": self.cannot, "notes": self.notes, "rebuilt": self.rebuilt,
            "warnings": [w.message for w in self.preview.warning_list] if self.preview else [],
            "saved": str(getattr(self.saved, "path", "")) or None,
        })


def propose(a: Catalog, b: Catalog, source: str, *, renames=None, no_renames=None) -> SchemaDiff:
    """The migration from ``a`` to ``b``, and its downgrade from ``b`` back to ``a``."""
    forward: SchemaPlan = compare(a, b, renames=renames, no_renames=no_renames)
    back = compare(b, a, renames=forward.inverse_renames, guess=False)
    return SchemaDiff(source, forward.changes, forward.statements, back.statements, forward.candidates,
                      forward.cannot + [f"downgrade: {c}" for c in back.cannot], forward.notes,
                      unused=forward.unused, rebuilt=forward.rebuilt)


# -- the three catalogs ---------------------------------------------------------------------------------


def scratch(*, sealed: bool):
    """A database in memory; ``sealed``: it reads no file and loads no extension (a schema file's DDL
    builds it, and DDL such as CREATE TABLE AS could read any file)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {"enable_external_access": False, "autoinstall_known_extensions": False,
              "autoload_known_extensions": False} if sealed else {}
    return duckdb.connect(":memory:", config=config)


def read_schema_file(path: str | Path) -> tuple[str, str]:
    """(text, name for messages) of a schema file; a missing or unreadable one is refused."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise errors.ConfigError(f"schema file {path} is not there", "give the path of a .sql file holding the "
                                 "CREATE statements of the schema you want") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise errors.ConfigError(f"schema file {path} cannot be read: {exc}") from None


def desired(text: str, where: str) -> tuple[Catalog, list[str]]:
    """The catalog the DDL ``text`` builds in a sealed scratch database, and what of the DDL the
    catalog does not keep; bad DDL is refused with its line."""
    import duckdb

    try:
        statements = sqlfile.classify(text)
    except duckdb.Error as exc:
        line = sqlfile._failing_line(text, exc)
        raise errors.ConfigError(f"{where} line {line}: DuckDB cannot parse it: {_first_line(exc)}",
                                 "write the schema as DuckDB DDL: CREATE TABLE, CREATE VIEW, CREATE INDEX, ...") \
            from None
    if not statements:
        raise errors.ConfigError(f"{where} holds no statement", "write the CREATE statements of the schema you want")
    for line, statement, kinds in statements:
        other = sorted(kinds - ALLOWED)
        if other:
            raise errors.ConfigError(
                f"{where} line {line}: `{sqlfile.one_line(statement)[:60]}` is not DDL ({', '.join(other)}): "
                "a schema holds CREATE, ALTER and DROP only; its tables' rows come from the database",
                "move data statements into a migration of their own ({do:new DESCRIPTION})")
    with scratch(sealed=True) as conn:
        for line, statement, _ in statements:
            try:
                conn.execute(statement)
            except duckdb.Error as exc:
                raise errors.ConfigError(f"{where} line {line}: {_first_line(exc)}",
                                         "the schema is built statement by statement in an empty database: "
                                         "create what a statement uses before it") from None
        lost = [f"{where} line {line}: DuckDB's catalog keeps no default value of a macro's parameter, so the "
                "migration creates the macro without it" for line, statement, _ in statements
                if _MACRO.search(statement) and ":=" in statement]
        return catalog.read(conn), lost


def live(work: Workspace) -> Catalog:
    """The database's catalog, without duckmig's ledger; empty where the database is not created yet."""
    if not work.db.exists():
        return Catalog()
    with work.db.connect(write=False) as conn:
        place = work.db.place(conn)
        return catalog.read(conn).without({f"{place.schema}.{t}" for t in work.protected})


def replayed(work: Workspace) -> Catalog:
    """The catalog the applied migrations make when run again, in order, on an empty database in memory."""
    scripts = work.scripts.scripts() if work.scripts.exists() else []
    status = work.status(scripts, work.rows())
    applied = [m for m in status if m.is_applied]
    by_version = {s.version: s for s in scripts}
    gone = [m.version for m in applied if m.version not in by_version]
    if gone:
        raise errors.StateError(f"the files of applied migrations {', '.join(gone)} are gone, and the schema they "
                                "made is replayed from them", "{do:restore} writes them back from the ledger")
    with scratch(sealed=False) as conn, interrupts.watch(conn) as guard:
        # Dry, as a preview runs: a statement whose effect reaches past this memory (COPY ... TO a file,
        # ATTACH, SET of a setting that names a file, a wrapper of any) is refused, so checking the schema
        # writes nothing anywhere. USE changes only this connection, which is thrown away after.
        run = Runner(conn, Place.default(conn), protected=work.protected, interrupts=guard, dry=True,
                     own_connection=True)
        batch: list = []  # migrations that run in a transaction: one for all of them in a row

        def flush() -> None:
            if batch:
                with run.transaction(verify=False):
                    for s in batch:
                        run.run(s.version, up_steps(s), "up", path=s.path)
                batch.clear()

        try:
            for m in applied:
                s = by_version[m.version]
                s.load()
                if s.transactional:
                    batch.append(s)
                    continue
                flush()
                run.run(s.version, up_steps(s), "up", path=s.path)
            flush()
        except errors.PreviewRefused as exc:
            raise errors.StateError(
                f"cannot replay {exc.version} in memory: it runs `{sqlfile.one_line(exc.statement)[:160]}`, and "
                f"{exc.why}; the replay that checks the schema writes nothing outside memory, so it refused it",
                "compare the database with the schema you declare instead ({do:diff --to SCHEMA.sql}), or move "
                "that statement out of the migrations that make the schema") from None
        return catalog.read(conn)


def drift(work: Workspace) -> list[Change]:
    """What the database's catalog holds that its applied migrations do not make, and the reverse,
    in the schema diff's terms (a rename is a drop and an add: nothing is guessed)."""
    return compare(replayed(work), live(work), guess=False).changes


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
