"""The Python migration form, kept from weiser's migration system so its users can move over.

    from duckmig_magic import BaseMigration

    class Migration_20250710_000001(BaseMigration):
        def __init__(self):
            super().__init__(version="20250710_000001", description="Add tags column")

        def upgrade(self, session):
            self.execute_sql(session, "ALTER TABLE metrics ADD COLUMN tags VARCHAR")
            session.commit()

        def downgrade(self, session):
            self.execute_sql(session, "ALTER TABLE metrics DROP COLUMN tags")
            session.commit()

A Python migration is code: loading one runs it, with the rights of whoever
runs duckmig. Review it as you would any other program. What the commands that
run nothing need of it (its class, version and description) is read from its
syntax tree by ``outline``, which runs none of it.
"""

from __future__ import annotations

import ast
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import errors

if TYPE_CHECKING:  # the session is the runner's: runner.py imports this module
    from .runner import Session


class BaseMigration:
    """Base class of a Python migration; override ``upgrade`` and ``downgrade``."""

    def __init__(self, version: str | None = None, description: str = ""):
        self.version = version  # None: taken from the file name (migrations written in notebook cells)
        self.description = description

    def upgrade(self, session: Session) -> None:
        raise NotImplementedError("this migration defines no upgrade()")

    def downgrade(self, session: Session) -> None:
        raise NotImplementedError("this migration defines no downgrade()")

    def execute_sql(self, session: Session, sql) -> None:
        """Run one or more SQL statements on the migration's session."""
        session.exec(sql)


def load(source: str, path: Path | str, expected_version: str | None) -> BaseMigration:
    """Run a migration module's source and return its one migration, checked."""
    path = Path(path)
    name = f"duckmig_migration_{abs(hash(str(path)))}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    code = _compiled(source, path, lambda text: compile(text, str(path), "exec"))
    try:
        sys.modules[name] = module  # dataclasses and typing look modules up by name
        exec(code, module.__dict__)
    except Exception as exc:
        raise errors.MigrationFileError(path, f"the file does not import: {type(exc).__name__}: {exc}",
                                        _line_in(exc, path),
                                        "fix the import (is the package installed?); nothing was run") from exc
    finally:
        sys.modules.pop(name, None)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, BaseMigration) and c is not BaseMigration
               and c.__module__ == name]
    if len(classes) != 1:
        raise _not_one_class(path, [c.__name__ for c in classes])
    try:
        migration = classes[0]()
    except Exception as exc:
        raise errors.MigrationFileError(path, f"{classes[0].__name__}() failed: {type(exc).__name__}: {exc}",
                                        _line_in(exc, path), "fix the class's __init__; nothing was run") from exc
    version = getattr(migration, "version", None)
    if version is None:
        migration.version = version = expected_version
    if expected_version is not None and version != expected_version:
        raise _version_mismatch(path, classes[0].__name__, version, expected_version)
    return migration


@dataclass(frozen=True)
class Outline:
    """What a Python migration file says of itself, read from its syntax tree: nothing of it runs.

    Each field is None where only running the file could tell: a class derived
    from a base imported from elsewhere, a version or description computed
    rather than written as a string.
    """

    class_name: str | None
    version: str | None
    description: str | None


def outline(source: str, path: Path | str, expected_version: str | None) -> Outline:
    """The class, version and description of a migration module, without running any of it.

    Raises what the text alone proves: a syntax error, no migration class or
    more than one, a version written in the class that differs from the file
    name's. Anything that needs the module run (an import that fails, a
    constructor that raises) is found when the migration is applied.
    """
    path = Path(path)
    tree = _compiled(source, path, lambda text: ast.parse(text, str(path)))
    top = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    constants = _string_constants(tree)
    bases = _base_names(tree)
    kinds: dict[str, str] = {}  # class name: "yes", "maybe" (a base only running tells) or "no"
    for node in _module_level(tree.body):
        if isinstance(node, ast.ClassDef):
            found = [_base_kind(b, bases, kinds) for b in node.bases]
            kind = "yes" if "yes" in found else "maybe" if "maybe" in found else "no"
            # A class inside `if` or `try` may never be defined: only running tells.
            kinds[node.name] = kind if top.get(node.name) is node or kind == "no" else "maybe"
    sure = [name for name, kind in kinds.items() if kind == "yes"]
    maybe = [name for name, kind in kinds.items() if kind == "maybe"]
    if len(sure) > 1 or not sure and not maybe:
        raise _not_one_class(path, sure)
    if len(sure) + len(maybe) != 1:
        return Outline(None, None, None)
    name = (sure + maybe)[0]
    version, description = _init_arguments(top.get(name), constants, bases)
    if sure and isinstance(version, str) and expected_version is not None and version != expected_version:
        raise _version_mismatch(path, name, version, expected_version)
    return Outline(name, version if isinstance(version, str) else None,
                   description if isinstance(description, str) else None)


_UNKNOWN = object()  # an argument that is not a string written in the file


def _compiled(source: str, path: Path, parse):
    """``parse(source)``, its syntax errors as MigrationFileError; a leading BOM is accepted, as Python does."""
    try:
        return parse(source[1:] if source.startswith("\ufeff") else source)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes, before Python 3.12
        raise errors.MigrationFileError(path, f"Python syntax error: {getattr(exc, 'msg', exc)}",
                                        getattr(exc, "lineno", None), "fix the file; nothing was run") from exc


def _module_level(statements):
    """The statements that run when the module is imported, into `if`, `try` and `with` blocks but not
    into functions and classes."""
    for node in statements:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _module_level(getattr(node, field, None) or [])
        for clause in (getattr(node, "handlers", None) or []) + (getattr(node, "cases", None) or []):
            yield from _module_level(clause.body)


def _base_names(tree: ast.Module) -> set[str]:
    """The names the module binds to duckmig's BaseMigration by importing it."""
    names = {"BaseMigration"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names if a.name == "BaseMigration")
    return names


def _base_kind(base: ast.expr, bases: set[str], kinds: dict[str, str]) -> str:
    if isinstance(base, ast.Name) and base.id in bases or isinstance(base, ast.Attribute) \
            and base.attr == "BaseMigration":
        return "yes"
    if isinstance(base, ast.Name) and base.id in kinds:
        return kinds[base.id]
    if isinstance(base, ast.Name) and base.id == "object":
        return "no"
    return "maybe"


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments, for a description kept in a constant."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            found.update((t.id, node.value.value) for t in node.targets if isinstance(t, ast.Name))
    return found


def _init_arguments(cls: ast.ClassDef | None, constants: dict[str, str], bases: set[str]):
    """(version, description) as the class's ``__init__`` passes them to ``BaseMigration.__init__``;
    None where it passes none, ``_UNKNOWN`` where they are not written as strings."""
    if cls is None:
        return _UNKNOWN, _UNKNOWN
    init = next((f for f in cls.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                 and f.name == "__init__"), None)
    if init is None:
        return None, None  # BaseMigration's own: no version (the file name's), no description
    for node in ast.walk(init):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__":
            owner = node.func.value
            args = node.args
            if isinstance(owner, ast.Name) and owner.id in bases:
                args = args[1:]  # BaseMigration.__init__(self, ...)
            elif not (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super"):
                continue
            given = dict(zip(("version", "description"), args, strict=False))  # a call may give the version alone
            given.update((k.arg, k.value) for k in node.keywords if k.arg in ("version", "description"))
            if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in args):
                return _UNKNOWN, _UNKNOWN
            return tuple(_literal(given.get(key), constants) for key in ("version", "description"))
    return _UNKNOWN, _UNKNOWN


def _literal(node: ast.expr | None, constants: dict[str, str]):
    if node is None:
        return None
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str)):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    return _UNKNOWN


def _not_one_class(path: Path, names: list[str]) -> errors.MigrationFileError:
    found = "no" if not names else f"{len(names)} ({', '.join(names)})"
    return errors.MigrationFileError(
        path, f"a Python migration defines exactly one BaseMigration subclass; this file defines {found}",
        hint="`from duckmig_magic import BaseMigration` and derive one class from it")


def _version_mismatch(path: Path, name: str, version, expected: str) -> errors.MigrationFileError:
    return errors.MigrationFileError(path, f"class {name} has version {version!r} but the file name says {expected}",
                                     hint=f'pass version="{expected}" to super().__init__, or rename the file')


def error_line(exc: BaseException, path: Path | str) -> int | None:
    """The line of ``path`` where an exception raised inside a migration passed, if any."""
    return _line_in(exc, path)


def _line_in(exc: BaseException, path: Path | str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    return line
