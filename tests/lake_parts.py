"""Real parts for running against a DuckLake: DuckDB's own extensions and a PostgreSQL server.

The DuckLake tests (``lake_support.py`` makes fixtures of these) and the benchmark
(``benchmarks/bench_engine.py``) both use them, so nothing here needs pytest: what
is missing raises ``Unavailable`` saying what and how to get it, which a test turns
into a skip and the benchmark into a skipped row.

Extensions. ``INSTALL ducklake`` downloads from extensions.duckdb.org, which a test
machine may not reach. The same builds are published on PyPI
(``duckdb-extension-ducklake``, ``duckdb-extension-postgres-scanner``), one per
duckdb release, each holding ``extensions/v<duckdb version>/<name>.duckdb_extension``.
What was checked on duckdb 1.5.5:

- ``INSTALL ducklake FROM '<package>/extensions'`` fails: a local repository is
  laid out ``<repo>/v<version>/<platform>/<name>.duckdb_extension`` and the package
  has no ``<platform>`` folder. Laid out that way, ``INSTALL ... FROM '<repo>'`` works.
- ``INSTALL '<file>.duckdb_extension'`` installs the file into the connection's
  ``extension_directory`` as ``v<version>/<platform>/<name>.duckdb_extension`` (with
  its ``.info``); that is what ``build_extension_home`` does.
- Once a file is there, the product's plain ``INSTALL ducklake`` is a no-op, ``LOAD``
  loads it, and ``ATTACH 'ducklake:...'`` autoloads it. With nothing there, ``INSTALL``
  and ``LOAD`` fail at once with "Failed to download extension".
- ``extension_directory`` defaults to ``$HOME/.duckdb/extensions``, read from ``HOME``
  when a connection looks for an extension. So a home folder whose
  ``.duckdb/extensions`` holds them is built, and ``HOME`` is pointed at it: the
  product's own connections load them exactly as a user's would.

httpfs. ``duckdb-extension-httpfs`` is published the same way; it is installed
beside the others where its package is there, and the lakes whose data is in
object storage need it (the others run without it).

Object storage. ``moto[server]`` (PyPI) serves an S3-compatible API on a free
localhost port, from memory, with no network: ``start_s3`` runs it as a
subprocess and makes a bucket. It takes any credentials.

PostgreSQL. Debian's ``postgresql`` package (``make test`` and ``make bench``
install it when root); the server runs from ``initdb`` in a temporary folder on a
free localhost port, as the ``postgres`` user when run as root (the server refuses
root).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The Python package that carries each extension DuckLake needs; and httpfs, for data in object storage.
_PACKAGES = {"ducklake": "duckdb_extension_ducklake", "postgres_scanner": "duckdb_extension_postgres_scanner"}
_OPTIONAL = {"httpfs": "duckdb_extension_httpfs"}


class Unavailable(Exception):
    """Something a DuckLake run needs is not here; the message says what, and how to get it."""


def extension_files(optional: bool = True) -> dict[str, Path]:
    """{extension: file} for this duckdb from the installed packages, httpfs's where it is there;
    raises Unavailable."""
    found = {name: extension_file(name, package) for name, package in _PACKAGES.items()}
    for name, package in _OPTIONAL.items() if optional else ():
        try:
            found[name] = extension_file(name, package)
        except Unavailable:
            pass
    return found


def extension_file(name: str, package: str) -> Path:
    """The file of extension ``name`` that Python package ``package`` holds for this duckdb."""
    import duckdb

    version = duckdb.__version__
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"{package.replace('_', '-')}=={version} is not installed here; `make test` and "
                          "`make bench` run DuckLake in their .venv-lake")
    path = Path(spec.submodule_search_locations[0]) / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise Unavailable(f"{package.replace('_', '-')} installed here is not built for duckdb {version}")
    return path


def httpfs_file() -> Path:
    """httpfs's file for this duckdb; raises Unavailable saying how to get it."""
    return extension_file("httpfs", _OPTIONAL["httpfs"])


def build_extension_home(home: Path) -> Path:
    """Install the packaged extensions into ``home``'s default DuckDB extension directory."""
    import duckdb

    files = extension_files()
    directory = Path(home) / ".duckdb" / "extensions"
    directory.mkdir(parents=True)
    with duckdb.connect(config={"extension_directory": str(directory)}) as conn:
        for path in files.values():
            conn.execute(f"INSTALL '{path}'")
    return directory


@dataclass
class Postgres:
    """A running server; ``database()`` makes an empty database and returns its conninfo."""

    bin: Path
    port: int
    data: Path
    user: str
    _made: int = 0

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def database(self) -> str:
        self._made += 1
        name = f"lake{self._made}"
        self.psql(f"CREATE DATABASE {name}")
        return self.conninfo(name)

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        return subprocess.run([str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-d", self.conninfo(dbname), "-c", sql],
                              check=True, capture_output=True, text=True).stdout


def postgres_bin() -> Path | None:
    """The newest server binaries: Debian keeps them under /usr/lib/postgresql/N/bin."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(folder: Path) -> tuple[Postgres, callable]:
    """initdb in ``folder`` and start a server; returns it and the function that stops it.
    Raises Unavailable when there is no server to start, or it does not start."""
    bin_ = postgres_bin()
    if bin_ is None:
        raise Unavailable("no PostgreSQL server here (Debian: apt-get install postgresql; `make test` and "
                          "`make bench` do it as root)")
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as Debian's postgres user
        if shutil.which("runuser") is None:
            raise Unavailable("running as root without runuser: cannot start PostgreSQL as another user")
        try:
            import pwd
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no postgres user to run PostgreSQL as") from None
        as_user = ["runuser", "-u", "postgres", "--"]
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    data, log = folder / "data", folder / "server.log"

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=timeout)

    done = run(str(bin_ / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
               "-E", "UTF8", "--locale=C")
    if done.returncode:
        raise Unavailable(f"PostgreSQL's initdb failed: {(done.stderr or done.stdout).strip()[-300:]}")
    for _attempt in range(3):  # another process may take the free port before the server does
        port = _free_port()
        # fsync off: these servers hold throwaway catalogs, and clients are killed, never the server
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=100")
        done = run(str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start")
        if done.returncode == 0:
            break
    else:
        tail = log.read_text(errors="replace")[-400:] if log.exists() else done.stderr
        raise Unavailable(f"PostgreSQL did not start: {tail.strip()}")

    def stop() -> None:
        run(str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")

    return Postgres(bin_, port, data, "postgres"), stop


# Credentials the local S3 server takes (it takes any); tests check they never show.
S3_KEY_ID, S3_SECRET = "AKIADUCKMIGTEST0001", "duckmig-s3-secret-Zq8vN3"


@dataclass
class S3:
    """A running S3-compatible server on localhost, and how duckmig reaches it."""

    port: int
    bucket: str = "lake"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def options(self) -> dict[str, str | bool]:
        """The lake options that point DuckDB's secret at this server."""
        return {"S3_ENDPOINT": self.endpoint, "S3_URL_STYLE": "path", "S3_USE_SSL": False, "S3_REGION": "us-east-1"}

    def words(self) -> list[str]:
        """The same options as the command takes them."""
        return [w for name, value in self.options().items()
                for w in ("--option", f"{name}={str(value).lower() if isinstance(value, bool) else value}")]

    @staticmethod
    def environ() -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": S3_KEY_ID, "AWS_SECRET_ACCESS_KEY": S3_SECRET}

    def secret_sql(self) -> str:
        """A secret for a plain DuckDB connection that reads the lake (as a test's checks do)."""
        return (f"CREATE OR REPLACE SECRET (TYPE s3, KEY_ID '{S3_KEY_ID}', SECRET '{S3_SECRET}', "
                f"ENDPOINT '{self.endpoint}', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')")


def start_s3() -> tuple[S3, callable]:
    """Start moto's S3 server on a free port and make its bucket; returns it and the function that
    stops it. Raises Unavailable when moto is not installed or the server does not start."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        raise Unavailable("moto[server] is not installed here (pip install 'moto[server]'); `make test` installs it "
                          "in .venv-lake")
    for _attempt in range(3):  # another process may take the free port before the server does
        port = _free_port()
        # Its log goes to a file: a pipe nobody reads fills after a few thousand requests, and the
        # server then blocks on its next log line, with the request that DuckDB waits for.
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
                break
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        else:
            log.seek(0)
            err = log.read().decode(errors="replace")[-300:] if proc.poll() is not None else "no answer"
            proc.kill()
            proc.wait()
            log.close()
            continue
        server = S3(port)
        urllib.request.urlopen(urllib.request.Request(f"http://{server.endpoint}/{server.bucket}", method="PUT")).close()

        def stop(proc=proc, log=log) -> None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()

        return server, stop
    raise Unavailable(f"moto's S3 server did not start: {err.strip()}")
