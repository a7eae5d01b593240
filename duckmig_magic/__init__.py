"""duckmig: versioned DuckDB migrations, authored in notebooks and applied anywhere.

    from duckmig_magic import Migrator
    m = Migrator("metrics.db", "migrations")
    m.up()

In IPython or Jupyter: ``%load_ext duckmig_magic``.
"""

__version__ = "0.1.0"
__all__ = ["Migrator", "BaseMigration", "Session", "DuckmigError", "errors",
           "load_ipython_extension", "unload_ipython_extension"]

# The names below are imported when first used, not with the package: the
# ``duckmig`` command imports this package before its entry can catch a Ctrl-C
# (see ``cli``), so this module runs no import of its own.
_LAZY = {"Migrator": ".engine", "BaseMigration": ".engine", "Session": ".engine",
         "DuckmigError": ".errors", "errors": None}

TYPE_CHECKING = False  # not typing's: importing typing would be an import of its own
if TYPE_CHECKING:  # for type checkers and editors: the same names, imported as usual
    from . import errors
    from .engine import BaseMigration, Migrator, Session
    from .errors import DuckmigError


# The engine's door is the same function; it is written again here, not imported, for the reason above.
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


def load_ipython_extension(ipython):
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython):
    from .magics import unload

    unload(ipython)
