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
    lint, linting               DuckDB's traps as rules, and the lint of a workspace's migrations
    schemadiff, declarative     the SQL from one catalog to another; declared schemas and drift
    migrator                    the facade: one method a verb
"""

from . import authoring, lake, lint, probe
from .apply import Progress, StepResult
from .database import is_connection
from .declarative import SchemaDiff
from .diff import SchemaChange
from .interrupts import is_interrupt
from .keep import Kept, KeptNothing, NoDowngrade, Restoring
from .lake import redact
from .ledger import Event
from .migrator import Migrator
from .plan import STATES, MigrationStatus, StatusReport
from .preview import Preview, PreviewWarning, plain
from .pyform import BaseMigration
from .refusals import lake_limit
from .runner import Session
from .trust import StoredDowngrade
from .upkeep import Finding, NotRestored, Problem, Repair, Restored, VerifyReport
from .versions import IgnoredFile, ScriptDirectory, checksum, has_downgrade, write_atomically

__all__ = ["Migrator", "MigrationStatus", "StatusReport", "STATES", "StepResult", "Progress", "VerifyReport",
           "Problem", "Finding", "Restored", "NotRestored", "Repair", "Event", "Preview", "PreviewWarning", "SchemaChange", "SchemaDiff", "plain",
           "BaseMigration", "Session", "StoredDowngrade", "IgnoredFile", "ScriptDirectory", "checksum",
           "has_downgrade", "write_atomically", "is_connection", "is_interrupt", "lake_limit", "redact",
           "authoring", "lake", "lint", "probe", "Kept", "KeptNothing", "NoDowngrade", "Restoring"]
