"""Shared fixtures: a project folder with a real DuckDB file and a migrations directory."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from hypothesis import settings

# The property tests draw the same examples on every run (derandomize), so `make test` passes or fails
# for the code, not for the draw; HYPOTHESIS_PROFILE=explore draws new ones each run, to look for more.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

from duckmig_magic import Migrator
from duckmig_magic.config import VARIABLES
from duckmig_magic.cli import main
from lake_support import extension_home, lake_home, postgres, s3_server, store  # noqa: F401 - fixtures of the DuckLake tests


@dataclass
class Project:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "app.db"

    @property
    def directory(self) -> Path:
        return self.root / "migrations"

    @property
    def versions(self) -> Path:
        return self.directory / "versions"

    def write(self, name: str, text: str, *, dedent: bool = True) -> Path:
        """Write a version file (text dedented unless told otherwise)."""
        self.versions.mkdir(parents=True, exist_ok=True)
        path = self.versions / name
        path.write_text(textwrap.dedent(text) if dedent else text, encoding="utf-8")
        return path

    def sql(self, version: str, slug: str, up: str, down: str | None = None, options: str = "") -> Path:
        body = f"-- migrate:up{(' ' + options) if options else ''}\n{up}\n"
        if down is not None:
            body += f"\n-- migrate:down\n{down}\n"
        return self.write(f"{version}_{slug}.sql", body, dedent=False)

    def migrator(self, **kw) -> Migrator:
        return Migrator(str(self.db), str(self.directory), **kw)

    def query(self, sql: str, params=None):
        with duckdb.connect(str(self.db)) as conn:
            return conn.execute(sql, params or []).fetchall()

    def tables(self) -> set[str]:
        if not self.db.exists():
            return set()
        return {r[0] for r in self.query("SELECT table_name FROM duckdb_tables()")}


@pytest.fixture
def project(tmp_path) -> Project:
    p = Project(tmp_path)
    p.versions.mkdir(parents=True)
    return p


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch, project):
    """Run `duckmig ARGS` in-process from the project folder; returns exit code, stdout, stderr."""
    monkeypatch.chdir(project.root)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


_SUMMARY: list[str] = []


@pytest.fixture
def report():
    """``report(line)``: a line for the summary at the end of the run, shown with or without -s."""
    return _SUMMARY.append


def pytest_terminal_summary(terminalreporter):
    if _SUMMARY:
        terminalreporter.section("duckmig counts")
        for line in _SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture
def shell(project, monkeypatch):
    """A fresh IPython shell with the extension loaded, working in the project folder."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.chdir(project.root)
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    sh = InteractiveShell.instance(config=config)
    sh.run_line_magic("load_ext", "duckmig_magic")
    yield sh
    InteractiveShell.clear_instance()


# Each migration's state in the ledger: its newest event's row, unless that leaves it pending.
STATE = ("(FROM duckdb_migrations QUALIFY row_number() OVER (PARTITION BY version ORDER BY seq DESC) = 1 "
         "AND status <> 'pending')")
