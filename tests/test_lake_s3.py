"""A DuckLake as deployed: catalog in PostgreSQL, Parquet files in an S3-compatible bucket (a local
moto server) reached through httpfs and the DuckDB secret duckmig makes from the ``S3_*`` options
and the AWS_* variables. The credentials never show; an ENCRYPTED lake keeps its files unreadable
without the catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.engine import lake

from lake_parts import S3_KEY_ID, S3_SECRET
from lake_support import make_store

pytestmark = pytest.mark.ducklake
V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"


@pytest.fixture
def s3(request, tmp_path, lake_home, monkeypatch):
    return make_store("s3", request, tmp_path, monkeypatch)


def duckmig(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duckmig_magic", *args], cwd=cwd, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")})


def test_an_encrypted_lake_on_s3(s3, postgres, project):
    """ENCRYPTED: the Parquet files in the bucket are encrypted with keys kept in the catalog; through
    the lake the rows read back, from the bucket alone they do not."""
    project.sql(V1, "events", "CREATE TABLE events AS SELECT range AS id, 'secret row ' || range AS body "
                "FROM range(1000);", "DROP TABLE events;")
    project.sql(V2, "more", "INSERT INTO events SELECT range + 1000, 'more' FROM range(10);",
                "DELETE FROM events WHERE id >= 1000;")
    spec = s3.lake(f"ducklake:postgres:{postgres.database()}", ENCRYPTED=True, DATA_INLINING_ROW_LIMIT=0)
    m = Migrator(spec, str(project.directory))
    assert [r.version for r in m.up()] == [V1, V2]
    conn = m.db.connection
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (1010,)
    files = [f for (f,) in conn.execute("SELECT data_file FROM ducklake_list_files('lake', 'events')").fetchall()]
    assert files and all(f.startswith(spec.data_path) for f in files)
    assert [r.version for r in m.down()] == [V2]
    with duckdb.connect() as plain:  # the bucket's objects alone: no key, no rows
        s3.reader(plain)
        with pytest.raises(duckdb.Error):
            plain.execute(f"SELECT * FROM read_parquet('{files[0]}')").fetchall()
        blobs = plain.execute(f"SELECT filename, content FROM read_blob('{spec.data_path}**')").fetchall()
    assert len(blobs) >= len(files) and all(b"secret row" not in content for _, content in blobs)
    m.db.connection.close()
    again = Migrator(spec, str(project.directory))  # opened again: the lake says it is encrypted
    assert [st.state for st in again.status()] == ["applied", "pending"]
    assert again.db.connection.execute("SELECT count(*) FROM events").fetchone() == (1000,)


def test_the_command_on_s3_settings_from_pyproject_and_credentials_from_the_environment(s3, postgres, project):
    """pyproject.toml names the lake and where the bucket is; the credentials come from the
    environment only. Every verb's output, and every error met on the way, is free of them."""
    catalog = postgres.database()
    options = "\n".join(f"{k.lower()} = {json.dumps(v)}" for k, v in s3.options().items())
    (project.root / "pyproject.toml").write_text(
        f'[tool.duckmig]\ndatabase = "ducklake:postgres:{catalog}"\ndata_path = "{s3.path()}"\n\n'
        f"[tool.duckmig.options]\n{options}\n")
    project.sql(V1, "events", "CREATE TABLE events (id INTEGER, body VARCHAR);", "DROP TABLE events;")
    project.sql(V2, "fill", "INSERT INTO events SELECT range, 'x' FROM range(100);", "DELETE FROM events;")
    seen = []
    for args in (["preview"], ["verify", "--roundtrip"], ["sql"], ["up"], ["status"], ["status", "--json"],
                 ["history", "--json"], ["verify"], ["down"], ["redo"]):
        done = duckmig(*args, cwd=project.root)
        assert done.returncode == 0, (args, done.stderr)
        seen.append(done.stdout + done.stderr)
    project.sql(V3, "broken", "INSERT INTO nowhere VALUES (1);")
    failed = duckmig("up", cwd=project.root)
    assert failed.returncode == 1 and "nowhere" in failed.stderr
    seen.append(failed.stdout + failed.stderr)
    with duckdb.connect() as conn:  # the ledger keeps no credential either
        s3.reader(conn)
        conn.execute(f"ATTACH 'ducklake:postgres:{catalog}' AS l (READ_ONLY)")
        seen.append(repr(conn.execute("FROM l.duckdb_migrations").fetchall()))
    for text in seen:
        assert S3_SECRET not in text and S3_KEY_ID not in text
    assert "pyproject" not in S3_SECRET and S3_SECRET not in (project.root / "pyproject.toml").read_text()


@pytest.mark.parametrize("words, says", [
    # nothing listens there; the server speaks plain HTTP: met when the first file is written
    (["--option", "S3_ENDPOINT=127.0.0.1:9"], "check the S3_ENDPOINT, S3_USE_SSL and S3_URL_STYLE options"),
    (["--option", "S3_USE_SSL=true"], "check the S3_ENDPOINT, S3_USE_SSL and S3_URL_STYLE options"),
    (["--option", "S3_URL_STYLE=sideways"], "S3_URL_STYLE must be path or vhost, not 'sideways'"),
    (["--option", "S3_USE_SSL=perhaps"], "S3_USE_SSL must be true or false"),
    (["--option", f"S3_SECRET={S3_SECRET}"], "looks like a credential"),
    (["--option", f"KEY_ID={S3_KEY_ID}"], "looks like a credential"),
    (["--option", f"SECRET={S3_SECRET}"], "looks like a credential"),
])
def test_a_wrong_s3_setting_is_one_error_without_the_credentials(s3, postgres, project, words, says):
    project.sql(V1, "events", "CREATE TABLE events AS SELECT range AS id FROM range(10);")
    database = f"ducklake:postgres:{postgres.database()}"
    given = dict(w.split("=", 1) for w in s3.words()[1::2])
    given.update(w.split("=", 1) for w in words[1::2])
    args = [w for name, value in given.items() for w in ("--option", f"{name}={value}")]
    done = duckmig("--database", database, "--data-path", s3.path(), "--dir", str(project.directory), *args,
                   "--option", "DATA_INLINING_ROW_LIMIT=0", "up", cwd=project.root)
    assert done.returncode == (1 if "check the" in says else 2), done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert S3_SECRET not in done.stdout + done.stderr and S3_KEY_ID not in done.stdout + done.stderr


def test_credentials_in_pyproject_are_refused(s3, project):
    (project.root / "pyproject.toml").write_text(
        '[tool.duckmig]\ndatabase = "ducklake:lake.ducklake"\n\n[tool.duckmig.options]\n'
        f's3_secret = "{S3_SECRET}"\n')
    done = duckmig("status", cwd=project.root)
    assert done.returncode == 2 and "looks like a credential" in done.stderr and "AWS_SECRET_ACCESS_KEY" in done.stderr
    assert S3_SECRET not in done.stderr


def test_the_secret_duckmig_makes_is_scoped_to_the_bucket(s3):
    spec = s3.lake("ducklake:postgres:dbname=x")
    sql = spec.s3_secret_sql({"AWS_ACCESS_KEY_ID": "k" * 8, "AWS_SECRET_ACCESS_KEY": "s" * 8})
    assert f"SCOPE 's3://{s3.server.bucket}'" in sql and "KEY_ID 'kkkkkkkk'" in sql
    assert "DATA_PATH" not in spec.attach_sql().replace(f"DATA_PATH '{s3.path()}'", "") and "S3_" not in spec.attach_sql()
    assert lake.parse("ducklake:x.ducklake").s3_secret_sql(os.environ) is None  # no S3 settings: DuckDB's own
    with pytest.raises(errors.LakeSettingError, match="looks like a credential"):
        lake.parse("ducklake:x.ducklake", options={"s3_session_token": "t"})
