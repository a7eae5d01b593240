"""duckmig: versioned DuckDB migrations, authored in notebooks and applied anywhere.

    from duckmig_magic import Migrator
    m = Migrator("metrics.db", "migrations")
    m.up()

In IPython or Jupyter: ``%load_ext duckmig_magic``.
"""

from . import errors
from .engine import BaseMigration, Migrator, Session
from .errors import DuckmigError

__version__ = "0.1.0"
__all__ = ["Migrator", "BaseMigration", "Session", "DuckmigError", "errors",
           "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython):
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload

    unload(ipython)
