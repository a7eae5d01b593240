"""DuckLake targets: the spelling parsed into data (pure), and opened on real catalogs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from duckmig_magic import cli, errors
from duckmig_magic.engine import lake, refusals
from duckmig_magic.engine.database import Database

PG = "dbname=lake host=db.internal user=me"

VALID = [
    # id, database, data_path, options, (kind, ATTACH statement, label)
    ("duckdb-file", "ducklake:metadata.ducklake", None, None,
     ("duckdb", "ATTACH 'ducklake:metadata.ducklake' AS \"lake\"", "ducklake:metadata.ducklake")),
    ("duckdb-prefix", "ducklake:duckdb:m.ducklake", None, None,
     ("duckdb", "ATTACH 'ducklake:duckdb:m.ducklake' AS \"lake\"", "ducklake:duckdb:m.ducklake")),
    ("postgres", f"ducklake:postgres:{PG}", "/data/lake", None,
     ("postgres", f"ATTACH 'ducklake:postgres:{PG}' AS \"lake\" (DATA_PATH '/data/lake')", f"ducklake:postgres:{PG}")),
    ("postgres-empty-conninfo", "ducklake:postgres:", None, None,  # libpq takes PGHOST, PGDATABASE, ...
     ("postgres", "ATTACH 'ducklake:postgres:' AS \"lake\"", "ducklake:postgres:")),
    ("prefix-any-case", "DuckLake:Postgres:dbname=x", None, None,
     ("postgres", "ATTACH 'ducklake:postgres:dbname=x' AS \"lake\"", "ducklake:postgres:dbname=x")),
    ("blanks-around", "  ducklake: m.ducklake ", None, None,
     ("duckdb", "ATTACH 'ducklake:m.ducklake' AS \"lake\"", "ducklake:m.ducklake")),
    ("sqlite", "ducklake:sqlite:meta.sqlite", "d/", None,
     ("sqlite", "ATTACH 'ducklake:sqlite:meta.sqlite' AS \"lake\" (DATA_PATH 'd/')", "ducklake:sqlite:meta.sqlite")),
    ("windows-drive-is-a-path", "ducklake:C:\\lakes\\m.ducklake", None, None,
     ("duckdb", "ATTACH 'ducklake:C:\\lakes\\m.ducklake' AS \"lake\"", "ducklake:C:\\lakes\\m.ducklake")),
    ("url-is-a-path", "ducklake:s3://bucket/m.ducklake", None, None,
     ("duckdb", "ATTACH 'ducklake:s3://bucket/m.ducklake' AS \"lake\"", "ducklake:s3://bucket/m.ducklake")),
    ("quotes-doubled", r"ducklake:postgres:password='a b\'c' dbname=x", "/it's", None,  # libpq quotes so
     ("postgres", r"""ATTACH 'ducklake:postgres:password=''a b\''c'' dbname=x' AS "lake" (DATA_PATH '/it''s')""",
      "ducklake:postgres:password=*** dbname=x")),
    ("password-hidden", "ducklake:postgres:dbname=x password=s3cret host=h", None, None,
     ("postgres", "ATTACH 'ducklake:postgres:dbname=x password=s3cret host=h' AS \"lake\"",
      "ducklake:postgres:dbname=x password=*** host=h")),
    ("uri-password-hidden", "ducklake:postgres:postgresql://me:s3cret@h/lake", None, None,
     ("postgres", "ATTACH 'ducklake:postgres:postgresql://me:s3cret@h/lake' AS \"lake\"",
      "ducklake:postgres:postgresql://me:***@h/lake")),
    ("options-typed-from-text", "ducklake:m.ducklake", None,
     {"encrypted": "TRUE", "data_inlining_row_limit": "0", "metadata_schema": "lake_1"},
     ("duckdb", "ATTACH 'ducklake:m.ducklake' AS \"lake\" (ENCRYPTED true, DATA_INLINING_ROW_LIMIT 0, "
                "METADATA_SCHEMA 'lake_1')", "ducklake:m.ducklake")),
    ("options-typed", "ducklake:m.ducklake", "d", {"OVERRIDE_DATA_PATH": False, "BUSY_TIMEOUT": 100},
     ("duckdb", "ATTACH 'ducklake:m.ducklake' AS \"lake\" (DATA_PATH 'd', OVERRIDE_DATA_PATH false, "
                "BUSY_TIMEOUT 100)", "ducklake:m.ducklake")),
    ("data-path-as-option", "ducklake:m.ducklake", None, {"data_path": "d"},
     ("duckdb", "ATTACH 'ducklake:m.ducklake' AS \"lake\" (DATA_PATH 'd')", "ducklake:m.ducklake")),
]


@pytest.mark.parametrize("database, data_path, options, expected", [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_parse(database, data_path, options, expected):
    target = lake.parse(database, data_path=data_path, options=options)
    assert (target.kind, target.attach_sql(), target.label) == expected


INVALID = [
    # id, database, data_path, options, error, words of the message
    ("not-a-lake", "metadata.ducklake", None, None, errors.ConfigError, "starts with ducklake:"),
    ("no-catalog", "ducklake:", None, None, errors.ConfigError, "names no catalog"),
    ("blank-catalog", "ducklake:   ", None, None, errors.ConfigError, "names no catalog"),
    ("duckdb-prefix-no-path", "ducklake:duckdb:", None, None, errors.ConfigError, "names no catalog"),
    ("sqlite-no-path", "ducklake:sqlite:", None, None, errors.ConfigError, "names no catalog"),
    ("postgresql-is-not-a-kind", "ducklake:postgresql:dbname=x", None, None, errors.ConfigError,
     "no catalog kind postgresql"),
    ("unknown-kind", "ducklake:oracle:x", None, None, errors.ConfigError, "no catalog kind oracle"),
    ("unknown-option", "ducklake:m.ducklake", None, {"compression": "zstd"}, errors.LakeSettingError,
     "COMPRESSION is not an ATTACH option"),
    ("read-only", "ducklake:m.ducklake", None, {"read_only": True}, errors.LakeSettingError,
     "READ_ONLY attaches the lake read-only"),
    ("snapshot", "ducklake:m.ducklake", None, {"snapshot_version": 3}, errors.LakeSettingError,
     "SNAPSHOT_VERSION attaches an old snapshot"),
    ("empty-data-path", "ducklake:m.ducklake", "", None, errors.LakeSettingError, "DATA_PATH is empty"),
    ("blank-schema", "ducklake:m.ducklake", None, {"metadata_schema": " "}, errors.LakeSettingError,
     "METADATA_SCHEMA is empty"),
    ("bool-word", "ducklake:m.ducklake", None, {"encrypted": "yes"}, errors.LakeSettingError,
     "ENCRYPTED must be true or false, not 'yes'"),
    ("int-word", "ducklake:m.ducklake", None, {"data_inlining_row_limit": "ten"}, errors.LakeSettingError,
     "DATA_INLINING_ROW_LIMIT must be a whole number, not 'ten'"),
    ("negative-int", "ducklake:m.ducklake", None, {"busy_timeout": "-1"}, errors.LakeSettingError,
     "BUSY_TIMEOUT must be a whole number, not '-1'"),
    ("negative-number", "ducklake:m.ducklake", None, {"busy_timeout": -5}, errors.LakeSettingError,
     "BUSY_TIMEOUT must be a whole number, not -5"),
    ("other-digits", "ducklake:m.ducklake", None, {"busy_timeout": "\u0663"}, errors.LakeSettingError,
     "BUSY_TIMEOUT must be a whole number, not '\u0663'"),
    ("bool-for-int", "ducklake:m.ducklake", None, {"busy_timeout": True}, errors.LakeSettingError,
     "BUSY_TIMEOUT must be a whole number, not True"),
    ("int-for-string", "ducklake:m.ducklake", None, {"metadata_schema": 3}, errors.LakeSettingError,
     "METADATA_SCHEMA must be a string, not 3"),
    ("data-path-twice", "ducklake:m.ducklake", "a", {"DATA_PATH": "b"}, errors.LakeSettingError, "given twice"),
]


@pytest.mark.parametrize("database, data_path, options, error, words", [c[1:] for c in INVALID],
                         ids=[c[0] for c in INVALID])
def test_parse_refuses(database, data_path, options, error, words):
    with pytest.raises(error) as caught:
        lake.parse(database, data_path=data_path, options=options)
    assert type(caught.value) is error
    assert words in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize("database, expected", [
    ("ducklake:m.ducklake", "ducklake:/p/m.ducklake"),
    ("DuckLake: m.ducklake ", "ducklake:/p/m.ducklake"),
    ("ducklake:duckdb:m.ducklake", "ducklake:duckdb:/p/m.ducklake"),
    ("ducklake:sqlite:m.sqlite", "ducklake:sqlite:/p/m.sqlite"),
    ("ducklake:postgres:dbname=x host=h", "ducklake:postgres:dbname=x host=h"),
    ("ducklake:mysql:db=x", "ducklake:mysql:db=x"),
    ("ducklake:s3://bucket/m.ducklake", "ducklake:s3://bucket/m.ducklake"),
    ("ducklake:duckdb:", "ducklake:duckdb:"),  # no path: parse says so
])
def test_with_catalog_path(database, expected):
    assert lake.with_catalog_path(database, lambda path: "/p/" + path) == expected


@pytest.mark.parametrize("target, expected", [
    ("ducklake:x", True), ("DUCKLAKE:x", True), (" ducklake:x", True), ("app.db", False), (":memory:", False),
    ("ducklake.db", False), (None, False), (lake.Lake("x", "duckdb"), True)])
def test_is_lake(target, expected):
    assert lake.is_lake(target) is expected


@pytest.mark.parametrize("message, words", [
    ("Not implemented Error: PRIMARY KEY/UNIQUE constraints are not supported in DuckLake", "no PRIMARY KEY"),
    ("Not implemented Error: DuckLake does not support indexes", "no indexes"),
    ("Binder Error: There are no UNIQUE/PRIMARY KEY constraints that refer to this table, specify ON CONFLICT "
     "columns manually", "INSERT OR REPLACE and ON CONFLICT"),
    ("Catalog Error: Table with name x does not exist!", None),
])
def test_limit(message, words):
    found = refusals.lake_limit(message)
    assert (found is None) if words is None else (words in found)


# -- opened for real ------------------------------------------------------------

@pytest.fixture(params=["duckdb", "postgres"])
def lake_spec(request, tmp_path, lake_home):
    """(database, data_path) of a new lake of each catalog kind, data in a temporary folder."""
    if request.param == "duckdb":
        return f"ducklake:{tmp_path / 'catalog.ducklake'}", str(tmp_path / "data")
    return f"ducklake:postgres:{request.getfixturevalue('postgres').database()}", str(tmp_path / "data")


@pytest.mark.ducklake
def test_connect_attaches_and_uses_the_lake(lake_spec, tmp_path):
    database, data_path = lake_spec
    conn = lake.connect(lake.parse(database, data_path=data_path))
    try:
        assert conn.execute("SELECT current_database(), current_schema()").fetchone() == ("lake", "main")
        assert conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = 'lake'").fetchone() == (
            "ducklake",)
        conn.execute("CREATE TABLE t AS SELECT range AS i FROM range(100)")  # beyond inlining: Parquet files
    finally:
        conn.close()
    assert list((tmp_path / "data").rglob("*.parquet"))
    # Opened again without the data path: the lake keeps its own.
    with lake.connect(lake.parse(database)) as again:
        assert again.execute("SELECT count(*) FROM t").fetchone() == (100,)


@pytest.mark.ducklake
def test_connect_with_an_explicit_extension_directory(tmp_path, extension_home, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the default directory is empty: only the setting finds them
    target = lake.parse(f"ducklake:{tmp_path / 'c.ducklake'}")
    with lake.connect(target, config={"extension_directory": str(extension_home / ".duckdb" / "extensions")}) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("lake",)


def test_connect_without_the_extension_says_what_to_install(tmp_path):
    target = lake.parse(f"ducklake:{tmp_path / 'c.ducklake'}")
    with pytest.raises(errors.ConfigError) as caught:  # an empty repository: no network needed
        lake.connect(target, config={"extension_directory": str(tmp_path / "empty"),
                                     "custom_extension_repository": str(tmp_path / "no-repository")})
    assert str(caught.value).startswith("cannot load DuckDB's ducklake extension: IO Error: ")
    assert "INSTALL 'FILE.duckdb_extension'" in caught.value.hint
    assert not (tmp_path / "c.ducklake").exists()


@pytest.mark.ducklake
def test_new_postgres_lake_needs_a_data_path(lake_home, postgres):
    with pytest.raises(errors.ConfigError) as caught:
        lake.connect(lake.parse(f"ducklake:postgres:{postgres.database()}"))
    assert caught.value.hint_text().startswith("give one with `lake.parse(..., data_path=DIR)` (a folder or a URL")
    assert "give one with --data-path DIR (DUCKMIG_DATA_PATH) (" in caught.value.render(cli.WORDS)


@pytest.mark.ducklake
def test_unreachable_catalog_is_named_without_its_password(lake_home, postgres, tmp_path):
    database = f"ducklake:postgres:dbname=nowhere host=127.0.0.1 port={postgres.port} user=postgres password=s3cret"
    with pytest.raises(errors.ConfigError) as caught:
        lake.connect(lake.parse(database, data_path=str(tmp_path)))
    message = str(caught.value)
    assert message.startswith("cannot attach DuckLake ducklake:postgres:dbname=nowhere host=127.0.0.1 ")
    assert 'database "nowhere" does not exist' in message
    assert "s3cret" not in message and message.count("password=***") == 2  # the label, and DuckDB's words


@pytest.mark.ducklake
def test_file_catalog_held_by_another_process_names_it(tmp_path, lake_home):
    import subprocess
    import sys

    catalog = tmp_path / "c.ducklake"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys\nc = duckdb.connect()\nc.execute(\"ATTACH 'ducklake:{catalog}' "
                               f"AS l\")\nprint('ready', flush=True)\nsys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(errors.DatabaseLocked) as caught:
            lake.connect(lake.parse(f"ducklake:{catalog}"))
        assert caught.value.pid == holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)


@pytest.mark.ducklake
def test_database_keeps_one_attached_connection(lake_spec):
    database, data_path = lake_spec
    db = Database(lake.parse(database, data_path=data_path))
    assert (db.label, db.owned, db.is_file, db.exists()) == (lake.parse(database).label, True, False, True)
    with db.connect(write=True) as first:
        first.execute("CREATE TABLE kept (i INTEGER)")
    with db.connect(write=False) as second:
        assert second is first
        assert second.execute("SELECT current_database()").fetchone() == ("lake",)
    db.connection.close()  # one process attaches a DuckDB-file catalog once
    again = Database(database)  # the string alone: the lake keeps its data path
    with again.connect(write=False) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    again.connection.close()


@pytest.mark.ducklake
def test_command_reads_a_lake_named_by_its_string(cli, project, lake_home):
    project.sql("20250101_000001", "first", "CREATE TABLE t (i INTEGER);", "DROP TABLE t;")
    run = cli("--database", f"ducklake:{project.root / 'c.ducklake'}", "status")
    assert (run.code, run.err) == (0, "")
    assert f"database:  ducklake:{project.root / 'c.ducklake'}" in run.out
    assert "20250101_000001  pending" in run.out


# -- the settings of a lake, given to the command and to the magic ------------------------------------------

DUCKMIG = Path(sys.executable).with_name("duckmig")
V1 = "20250101_000001"


def duckmig(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed command, as a process (HOME, and with it DuckDB's extensions, inherited)."""
    return subprocess.run([str(DUCKMIG), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def write_through(database: str, *options: str, sql: str = "CREATE TABLE written AS SELECT range AS i FROM range(100)"
                  ) -> dict[str, str]:
    """A client of the lake, attached by DuckDB alone without a data path, runs ``sql`` (by default, writes a
    table of 100 rows: its Parquet files land where the lake keeps its data). Returns the options the lake keeps."""
    import duckdb

    with duckdb.connect() as conn:
        conn.execute(f"ATTACH '{database}' AS other" + (f" ({', '.join(options)})" if options else ""))
        conn.execute("USE other")
        conn.execute(sql)
        return {name: value for name, _, value, *_ in conn.execute("FROM other.options()").fetchall()}


@pytest.mark.ducklake
def test_command_creates_the_lake_with_its_data_path_and_options(lake_spec, project, tmp_path):
    database, data_path = lake_spec
    project.sql(V1, "first", "CREATE TABLE t (i INTEGER);", "DROP TABLE t;")
    run = duckmig("--database", database, "--option", "METADATA_SCHEMA=meta", "status", "--data-path", data_path,
                  cwd=project.root)
    assert (run.returncode, run.stderr) == (0, "")
    assert f"{V1}  pending" in run.stdout
    assert not (tmp_path / "data").exists()  # status writes no data
    # `up` on a lake waits for the ledger without a primary key; the lake the command created is checked
    # by another client instead, attached with the metadata schema only: the lake keeps the data path.
    kept = write_through(database, "METADATA_SCHEMA 'meta'")  # found in the schema given: not a new lake
    assert kept["data_path"] == f"{data_path}/"
    assert [p.relative_to(tmp_path / "data").parts[:2] for p in (tmp_path / "data").rglob("*.parquet")] == [
        ("main", "written")]


@pytest.mark.ducklake
def test_pyproject_names_the_lake_relative_to_itself(project, lake_home):
    (project.root / "pyproject.toml").write_text(
        '[tool.duckmig]\ndatabase = "ducklake:lake/c.ducklake"\ndata_path = "lake-data/"\ndirectory = "migrations"\n'
        '\n[tool.duckmig.options]\nmetadata_schema = "meta"\n')
    (project.root / "lake").mkdir()
    below = project.root / "src" / "deeper"
    below.mkdir(parents=True)
    project.sql(V1, "first", "CREATE TABLE t (i INTEGER);", "DROP TABLE t;")
    run = duckmig("status", "--json", cwd=below)
    assert (run.returncode, run.stderr) == (0, "")
    assert json.loads(run.stdout)["database"] == f"ducklake:{project.root / 'lake' / 'c.ducklake'}"
    assert not (below / "lake").exists() and not (below / "lake-data").exists()
    write_through(f"ducklake:{project.root / 'lake' / 'c.ducklake'}", "METADATA_SCHEMA 'meta'")
    assert len(list((project.root / "lake-data" / "main" / "written").glob("*.parquet"))) == 1


@pytest.mark.ducklake
def test_a_data_path_other_than_the_lakes_is_refused(project, lake_home):
    catalog = f"ducklake:{project.root / 'c.ducklake'}"
    assert duckmig("-d", catalog, "--data-path", "first", "status", cwd=project.root).returncode == 0
    run = duckmig("-d", catalog, "--data-path", "second/", "status", cwd=project.root)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == (f"duckmig: error: {catalog} keeps its Parquet files in first/, and the data path given is "
                          "second/\n  hint: leave the data path out (the lake keeps its own), or set the ATTACH option "
                          "OVERRIDE_DATA_PATH to true to write to second/ while attached\n")
    run = duckmig("-d", catalog, "--data-path", "second/", "--option", "override_data_path=true", "status",
                  cwd=project.root)
    assert (run.returncode, run.stderr) == (0, "")


@pytest.mark.ducklake
def test_magic_connects_to_a_lake_with_its_data_path(shell, project, lake_home, capsys):
    from IPython.core.error import UsageError

    database = "ducklake:c.ducklake"
    said = (f"connected: {database}; migrations: migrations/versions\n"
            "found: a database without a ledger (duckdb_migrations): no migration applied yet\n")
    shell.run_line_magic("migrate", f"connect {database} --data-path lake-data/ --option busy_timeout=5")
    assert capsys.readouterr().out == said
    shell.run_line_magic("migrate", f"connect {database} --data-path lake-data/")  # a connect cell run again
    assert capsys.readouterr().out == said
    assert shell.run_line_magic("migrate", "status").empty
    with pytest.raises(UsageError) as refused:  # the connection there was stays
        shell.run_line_magic("migrate", f"connect {database} --data-path elsewhere/")
    assert str(refused.value).startswith(f"{database} keeps its Parquet files in lake-data/, and the data path "
                                         "given is elsewhere/\n  hint: ")
    capsys.readouterr()
    shell.run_line_magic("migrate", "connect")
    assert capsys.readouterr().out == f"connected: {database}; migrations: migrations/versions\n"
    shell.run_line_magic("migrate", "connect app.db")  # lets go of the lake, for another client to attach
    write_through(database)
    assert len(list((project.root / "lake-data" / "main" / "written").glob("*.parquet"))) == 1
    assert not (project.root / "elsewhere").exists()
    # A connect that attaches the lake and then refuses what it finds lets go of it too.
    write_through(database, sql="CREATE TABLE duckdb_migrations (x INTEGER)")
    with pytest.raises(UsageError) as refused:
        shell.run_line_magic("migrate", f"connect {database}")
    assert str(refused.value).startswith("table duckdb_migrations exists but is not a duckmig ledger (columns: x)")
    write_through(database, sql="DROP TABLE duckdb_migrations")
