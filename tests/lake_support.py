"""Fixtures of the DuckLake tests, made of the real parts in ``lake_parts.py``: DuckDB's own
extensions in a home folder, a PostgreSQL server and an S3-compatible server for the session.
Where a part is missing, the tests that need it skip, saying why.

``store`` is where a lake keeps its data: a local folder, or a bucket of the S3 server reached
through httpfs and the secret duckmig makes from the ``S3_*`` options and the AWS_* variables."""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from duckmig_magic.engine import lake
from lake_parts import S3, Unavailable, build_extension_home, httpfs_file, start_postgres, start_s3


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


@pytest.fixture(scope="session")
def s3_server(extension_home):
    """An S3-compatible server (moto) for the session, with a bucket; skips where httpfs or moto is missing."""
    try:
        httpfs_file()
        server, stop = start_s3()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        stop()


@dataclass
class Store:
    """Where a test's lakes keep their Parquet files: ``kind`` "folder" (under ``root``) or "s3" (under a
    prefix of its own in the server's bucket)."""

    kind: str
    root: Path
    server: S3 | None = None

    def path(self, name: str = "data") -> str:
        if self.server is None:
            return str(self.root / name)
        return f"s3://{self.server.bucket}/{self.root.name}/{name}/"

    def options(self) -> dict:
        return self.server.options() if self.server else {}

    def words(self) -> list[str]:
        """The options as the command takes them (``--option S3_ENDPOINT=...``)."""
        return self.server.words() if self.server else []

    def lake(self, database: str, name: str = "data", **options) -> lake.Lake:
        return lake.parse(database, data_path=self.path(name), options={**self.options(), **options})

    def reader(self, conn) -> None:
        """Let a plain DuckDB connection (a test's own checks) read the lake's files."""
        if self.server is not None:
            conn.execute("LOAD httpfs")
            conn.execute(self.server.secret_sql())


STORES = ["folder", "s3"]


@pytest.fixture(params=STORES)
def store(request, tmp_path, lake_home, monkeypatch) -> Store:
    """Each lake test that takes it runs with its data in a folder, then in the S3 bucket."""
    return make_store(request.param, request, tmp_path, monkeypatch)


def make_store(kind: str, request, tmp_path: Path, monkeypatch) -> Store:
    """A ``Store`` of ``kind``; for "s3", the session's server and its credentials in the environment
    (as a CI job's secrets arrive), which subprocesses inherit."""
    if kind == "folder":
        return Store("folder", tmp_path)
    server = request.getfixturevalue("s3_server")
    for name, value in S3.environ().items():
        monkeypatch.setenv(name, value)
    return Store("s3", tmp_path, server)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
