"""The engine: files, ledger, plans and runs. It imports nothing of IPython,
ipywidgets, nbformat or pandas, so the CLI and CI stay light."""

from .migrator import Migrator, MigrationStatus, StatusReport, StepResult, VerifyReport
from .pyform import BaseMigration, Session

__all__ = ["Migrator", "MigrationStatus", "StatusReport", "StepResult", "VerifyReport",
           "BaseMigration", "Session"]
