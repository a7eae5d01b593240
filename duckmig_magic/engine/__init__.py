"""The engine: files, ledger, plans and runs; the one surface the command, the magics and the views use.

It imports nothing of IPython, ipywidgets, nbformat or pandas, so the command
and CI stay light. Everything an outer layer needs is named here; the modules
behind it are the engine's own layout (see each one's docstring):

    versions, sqlfile, pyform   the version files: names, parsing, the Python class form
    ledger, database, lake      the ledger table, connections, DuckLake targets
    plan, workspace             what the files and the ledger say, and what runs
    runner, interrupts          the one place statements run, and Ctrl-C
    apply, upkeep               running (up, down) and upkeep (stamp, repair, restore, verify)
    keep                        what migrations destroy, kept for their downgrades to put back
    catalog, diff, preview      schema snapshots, their diffs, and previews
    jsondata                    results as JSON-safe data
    lint, linting               DuckDB's traps as rules, and the lint of a workspace's migrations
    schemadiff, declarative     the SQL from one catalog to another; declared schemas and drift
    migrator                    the facade: one method a verb
"""

from typing import TYPE_CHECKING

# Each name of the door and where it is held (None: the module of that name). A name is imported when
# first used (PEP 562), so a verb loads only the modules it needs: `duckmig status` none of apply,
# lint or preview. A new name: a row here, in __all__, and its import below, which type checkers read
# (tests/test_imports.py checks that the three agree).
_LAZY = {
    "Migrator": ".migrator", "no_cycles": ".migrator",
    "Progress": ".apply", "StepResult": ".apply",
    "is_connection": ".database",
    "SchemaChange": ".diff",
    "SchemaDiff": ".declarative",
    "is_interrupt": ".interrupts",
    "Kept": ".keep", "KeptNothing": ".keep", "NoDowngrade": ".keep", "Restoring": ".keep",
    "redact": ".lake",
    "Event": ".ledger",
    "STATES": ".plan", "MigrationStatus": ".plan", "StatusReport": ".plan",
    "Preview": ".preview", "PreviewWarning": ".preview",
    "plain": ".jsondata",
    "BaseMigration": ".pyform",
    "lake_limit": ".refusals",
    "Session": ".runner",
    "StoredDowngrade": ".trust",
    "Finding": ".upkeep", "NotRestored": ".upkeep", "Problem": ".upkeep", "Repair": ".upkeep",
    "Restored": ".upkeep", "VerifyReport": ".upkeep",
    "IgnoredFile": ".versions", "ScriptDirectory": ".versions", "checksum": ".versions",
    "has_downgrade": ".versions", "write_atomically": ".versions",
    "authoring": None, "lake": None, "lint": None, "probe": None,
}
__all__ = ["Migrator", "no_cycles", "MigrationStatus", "StatusReport", "STATES", "StepResult", "Progress", "VerifyReport",
           "Problem", "Finding", "Restored", "NotRestored", "Repair", "Event", "Preview", "PreviewWarning", "SchemaChange", "SchemaDiff", "plain",
           "BaseMigration", "Session", "StoredDowngrade", "IgnoredFile", "ScriptDirectory", "checksum",
           "has_downgrade", "write_atomically", "is_connection", "is_interrupt", "lake_limit", "redact",
           "authoring", "lake", "lint", "probe", "Kept", "KeptNothing", "NoDowngrade", "Restoring"]

if TYPE_CHECKING:
    from . import authoring, lake, lint, probe
    from .apply import Progress, StepResult
    from .database import is_connection
    from .declarative import SchemaDiff
    from .diff import SchemaChange
    from .interrupts import is_interrupt
    from .jsondata import plain
    from .keep import Kept, KeptNothing, NoDowngrade, Restoring
    from .lake import redact
    from .ledger import Event
    from .migrator import Migrator, no_cycles
    from .plan import STATES, MigrationStatus, StatusReport
    from .preview import Preview, PreviewWarning
    from .pyform import BaseMigration
    from .refusals import lake_limit
    from .runner import Session
    from .trust import StoredDowngrade
    from .upkeep import Finding, NotRestored, Problem, Repair, Restored, VerifyReport
    from .versions import IgnoredFile, ScriptDirectory, checksum, has_downgrade, write_atomically


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    module = _LAZY[name]
    value = import_module(f".{name}" if module is None else module, __name__)
    if module is not None:
        value = getattr(value, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
