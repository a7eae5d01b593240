"""Fixtures of the DuckLake tests, made of the real parts in ``lake_parts.py``: DuckDB's own
extensions in a home folder, and a PostgreSQL server for the session. Where a part is
missing, the tests that need it skip, saying why."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from lake_parts import Unavailable, build_extension_home, start_postgres


@pytest.fixture(scope="session")
def extension_home(tmp_path_factory) -> Path:
    """A home folder whose ``.duckdb/extensions`` holds ducklake and postgres for this duckdb."""
    home = tmp_path_factory.mktemp("home")
    try:
        build_extension_home(home)
    except Unavailable as exc:
        pytest.skip(str(exc))
    return home


@pytest.fixture
def lake_home(extension_home, monkeypatch) -> Path:
    """``HOME`` pointed at ``extension_home``: plain ``INSTALL``/``LOAD`` find the extensions."""
    monkeypatch.setenv("HOME", str(extension_home))
    return extension_home


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL server for the session, in a temporary folder the server's user may write.

    Tests ask for ``extension_home`` or ``lake_home`` before it, so that where the
    extensions are missing they skip without starting a server."""
    folder = Path(tempfile.mkdtemp(prefix="duckmig-pg-"))
    try:
        try:
            server, stop = start_postgres(folder)
        except Unavailable as exc:
            pytest.skip(str(exc))
        try:
            yield server
        finally:
            stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
