"""The Python migration form, kept from the seed so its users can move over.

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
runs duckmig. Review it as you would any other program.
"""

from __future__ import annotations

import sys
import traceback
import types
from pathlib import Path

from .. import errors
from . import sqlfile


class BaseMigration:
    """Base class of a Python migration; override ``upgrade`` and ``downgrade``."""

    def __init__(self, version: str | None = None, description: str = ""):
        self.version = version  # None: taken from the file name (migrations written in notebook cells)
        self.description = description

    def upgrade(self, session: "Session") -> None:
        raise NotImplementedError("this migration defines no upgrade()")

    def downgrade(self, session: "Session") -> None:
        raise NotImplementedError("this migration defines no downgrade()")

    def execute_sql(self, session: "Session", sql) -> None:
        """Run one or more SQL statements on the migration's session."""
        session.exec(sql)


class Session:
    """What a Python migration's ``upgrade``/``downgrade`` receives.

    It runs statements on the engine's connection inside the engine's
    transaction, through the engine's guarded runner: transaction control and
    changes to the ledger tables are refused, and a statement that fails leaves
    the transaction as it was before it, so a migration may catch the error and
    go on. ``commit()`` is accepted and deferred: the engine commits the
    migration together with its ledger row, so a migration stays atomic.
    """

    def __init__(self, runner):
        from .runner import Runner

        if not isinstance(runner, Runner):  # a bare duckdb connection: guarded as the engine would
            runner = Runner.adopt(runner)
        self._runner = runner
        self._conn = runner.conn
        self.statement: str | None = None  # the one running, for error reports
        self.statements: list[str] = []
        self.commits = 0
        self._result: _Result | None = None

    def exec(self, sql, parameters=None):
        """Run SQL (a string, or an object with a ``.text`` such as SQLAlchemy's ``text()``)."""
        sql = getattr(sql, "text", sql)
        if not isinstance(sql, str):
            raise TypeError(f"session.exec() takes SQL text, not {type(sql).__name__}")
        if parameters is not None:
            return self._run(sql, parameters, None)
        self.statement = sql.strip()  # what failed, if DuckDB cannot even split it
        result = None
        for _, statement, kinds in sqlfile.classify(sql):
            result = self._run(statement, None, kinds)
        return result

    execute = exec

    def _run(self, sql: str, parameters, kinds):
        if self._result is not None:
            self._result._keep_rows()
        self.statement = sql.strip()
        self.statements.append(self.statement)
        self._result = _Result(self._runner.execute(sql, parameters, kinds))
        return self._result

    def commit(self) -> None:
        """Deferred: the engine commits when the migration and its ledger row are done."""
        self.commits += 1

    def flush(self) -> None:
        """Accepted for SQLModel compatibility; statements already ran."""

    def rollback(self) -> None:
        raise RuntimeError("a migration cannot roll back its own transaction; raise an exception to abort it")

    def close(self) -> None:
        """Accepted; the engine owns the connection."""


class _Result:
    """The result of ``session.exec``: rows on demand, as the seed's users expect.

    A result stays readable after the session runs another statement, as in
    SQLAlchemy: its rows are kept before the connection moves on.
    """

    def __init__(self, cursor):
        self._cursor = cursor
        self._rows: list | None = None

    def _keep_rows(self) -> None:
        import duckdb

        if self._rows is None:
            try:
                self._columns = [d[0] for d in self._cursor.description or []]
                self._rows = self._cursor.fetchall()
            except duckdb.Error:  # the connection holds no result any more
                self._columns, self._rows = [], []
            self._cursor = None

    def fetchone(self):
        if self._rows is None:
            return self._cursor.fetchone()
        return self._rows.pop(0) if self._rows else None

    def fetchall(self):
        if self._rows is None:
            return self._cursor.fetchall()
        rows, self._rows = self._rows, []
        return rows

    def all(self):
        return self.fetchall()

    def first(self):
        return self.fetchone()

    def one(self):
        rows = self.fetchall()
        if len(rows) != 1:
            raise ValueError(f"expected exactly one row, got {len(rows)}")
        return rows[0]

    def scalar(self):
        row = self.fetchone()
        return None if row is None else row[0]

    def df(self):
        if self._rows is None:
            return self._cursor.df()
        import pandas

        return pandas.DataFrame.from_records(self.fetchall(), columns=self._columns)

    def __iter__(self):
        return iter(self.fetchall())


def load(source: str, path: Path | str, expected_version: str | None) -> BaseMigration:
    """Run a migration module's source and return its one migration, checked."""
    path = Path(path)
    name = f"duckmig_migration_{abs(hash(str(path)))}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    try:
        code = compile(source, str(path), "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes, before Python 3.12
        raise errors.PythonSyntaxError(path, f"Python syntax error: {getattr(exc, 'msg', exc)}",
                                       getattr(exc, "lineno", None), "fix the file; nothing was run") from exc
    try:
        sys.modules[name] = module  # dataclasses and typing look modules up by name
        exec(code, module.__dict__)
    except Exception as exc:
        raise errors.PythonImportFailed(path, f"the file does not import: {type(exc).__name__}: {exc}",
                                        _line_in(exc, path),
                                        "fix the import (is the package installed?); nothing was run") from exc
    finally:
        sys.modules.pop(name, None)
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, BaseMigration) and c is not BaseMigration
               and c.__module__ == name]
    if len(classes) != 1:
        found = "no" if not classes else f"{len(classes)} ({', '.join(c.__name__ for c in classes)})"
        raise (errors.SeveralMigrationClasses if classes else errors.NoMigrationClass)(
            path, f"a Python migration defines exactly one BaseMigration subclass; this file defines {found}",
            hint="`from duckmig_magic import BaseMigration` and derive one class from it")
    try:
        migration = classes[0]()
    except Exception as exc:
        raise errors.MigrationInitFailed(path, f"{classes[0].__name__}() failed: {type(exc).__name__}: {exc}",
                                         _line_in(exc, path), "fix the class's __init__; nothing was run") from exc
    version = getattr(migration, "version", None)
    if version is None:
        migration.version = version = expected_version
    if expected_version is not None and version != expected_version:
        raise errors.VersionMismatch(
            path, f"class {classes[0].__name__} has version {version!r} but the file name says {expected_version}",
            hint=f'pass version="{expected_version}" to super().__init__, or rename the file')
    return migration


def error_line(exc: BaseException, path: Path | str) -> int | None:
    """The line of ``path`` where an exception raised inside a migration passed, if any."""
    return _line_in(exc, path)


def _line_in(exc: BaseException, path: Path | str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == str(path):
            line = frame.lineno
    return line
