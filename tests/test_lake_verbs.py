"""Every verb on a DuckLake, on a DuckDB-file catalog and on PostgreSQL: the ledger lives in the lake."""

from __future__ import annotations

import pytest

from duckmig_magic import Migrator
from duckmig_magic.engine import lake

from conftest import STATE
from lake_support import make_store

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
pytestmark = pytest.mark.ducklake


@pytest.fixture(params=["duckdb", "postgres", "postgres+s3"])
def spec(request, tmp_path, lake_home, monkeypatch):
    """A new lake of each catalog kind, data in a temporary folder; and on PostgreSQL with its data in
    an S3 bucket, as a lake is deployed."""
    store = make_store("s3" if request.param.endswith("s3") else "folder", request, tmp_path, monkeypatch)
    if request.param == "duckdb":
        return store.lake(f"ducklake:{tmp_path / 'catalog.ducklake'}")
    # Nothing inlined in the catalog on S3: every row a migration writes goes to the bucket
    inline = {"DATA_INLINING_ROW_LIMIT": 0} if store.server else {}
    return store.lake(f"ducklake:postgres:{request.getfixturevalue('postgres').database()}", **inline)


def three(project):
    project.sql(V1, "create", "CREATE TABLE metrics (id INTEGER, v DOUBLE);\n"
                "INSERT INTO metrics VALUES (1, 1.0), (2, 2.0);", "DROP TABLE metrics;")
    project.sql(V2, "add_unit", "ALTER TABLE metrics ADD COLUMN unit VARCHAR;",
                "ALTER TABLE metrics DROP COLUMN unit;")
    project.sql(V3, "more", "INSERT INTO metrics VALUES (3, 3.0, 'x');", "DELETE FROM metrics WHERE id = 3;")


def test_every_verb_on_a_lake(spec, project):
    three(project)
    m = Migrator(spec, str(project.directory))
    assert "ALTER TABLE metrics ADD COLUMN unit VARCHAR;" in m.sql()
    assert m.verify(roundtrip=True).ok
    assert [r.version for r in m.up()] == [V1, V2, V3]
    conn = m.db.connection
    assert conn.execute("SELECT current_database()").fetchone() == ("lake",)
    assert conn.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 'duckdb_migrations'"
                        ).fetchall() == [("lake",)]
    assert [s.state for s in m.status()] == ["applied"] * 3
    assert conn.execute("SELECT count(*), sum(v) FROM metrics").fetchone() == (3, 6.0)
    if spec.s3:  # the rows are in Parquet files in the bucket
        files = conn.execute("SELECT data_file FROM ducklake_list_files('lake', 'metrics')").fetchall()
        assert files and all(f.startswith(spec.data_path) for (f,) in files), files
    assert [r.version for r in m.down()] == [V3]
    assert conn.execute("SELECT count(*) FROM metrics").fetchone() == (2,)
    assert [(r.version, r.direction) for r in m.redo()] == [(V2, "down"), (V2, "up")]
    assert [(e.version, e.event) for e in m.history()] == [
        (V1, "applied"), (V2, "applied"), (V3, "applied"), (V3, "reverted"), (V2, "reverted"), (V2, "applied")]
    assert [r.version for r in m.down("base")] == [V2, V1]
    assert m.stamp(V2) == [V1, V2]
    assert conn.execute(f"SELECT version, status FROM {STATE} ORDER BY 1").fetchall() == [
        (V1, "applied"), (V2, "applied")]
    (project.versions / f"{V2}_add_unit.sql").write_text("-- migrate:up\nALTER TABLE metrics ADD COLUMN unit TEXT;\n")
    assert [s.state for s in m.status()][:2] == ["applied", "modified"]
    assert [r.action for r in m.repair()] == ["accepted the edited file"]
    assert m.verify().ok


def test_a_users_connection_with_a_lake_attached_and_in_use(spec, project, tmp_path):
    """A notebook's own connection: the lake attached under the user's name, in use; duckmig works
    there and leaves the connection as it was."""
    import duckdb

    three(project)
    conn = duckdb.connect()
    try:
        conn.execute("INSTALL ducklake; LOAD ducklake; INSTALL postgres; LOAD postgres")
        if spec.s3:  # the user's own secret for the bucket
            conn.execute(spec.s3_secret_sql(__import__("os").environ))
        conn.execute(f"ATTACH '{spec.spec}' AS warehouse (DATA_PATH '{spec.data_path}')")
        conn.execute("USE warehouse")
        m = Migrator(conn, str(project.directory))
        assert [r.version for r in m.up()] == [V1, V2, V3]
        assert conn.execute("SELECT current_database()").fetchone() == ("warehouse",)
        assert conn.execute("SELECT count(*) FROM warehouse.metrics").fetchone() == (3,)
        assert conn.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 'duckdb_migrations'"
                            ).fetchall() == [("warehouse",)]
        assert [r.version for r in m.down()] == [V3]
        assert [s.state for s in m.status()] == ["applied", "applied", "pending"]
    finally:
        conn.close()


def test_export_and_its_versions_on_a_lake(project, cli, lake_home):
    """`export` reads the lake's ledger: files lost after `up` come back with the versions it knows."""
    import shutil

    from test_identity import CELLS, files, write_notebook

    database = f"ducklake:{project.root / 'catalog.ducklake'}"
    # DuckLake has no keys: the same cells without the PRIMARY KEY
    cells = {slug: body.replace(" PRIMARY KEY", "") for slug, body in CELLS.items()}
    write_notebook(project.root / "nb.ipynb", cells)
    assert cli("--database", database, "export", "nb.ipynb").code == 0
    assert cli("--database", database, "up").code == 0
    kept = files(project)
    shutil.rmtree(project.versions)
    r = cli("--database", database, "export", "nb.ipynb")
    assert r.code == 0, r.err
    assert files(project) == kept


def test_a_lake_runs_each_migration_in_its_own_transaction(spec, project):
    """No group commit on a lake: an ALTER and a RENAME of one table, in two migrations, break a
    DuckLake when one transaction holds both; each alone is fine."""
    project.sql(V1, "create", "CREATE TABLE metrics (id INTEGER);")
    project.sql(V2, "add_unit", "ALTER TABLE metrics ADD COLUMN unit VARCHAR;")
    project.sql(V3, "rename", "ALTER TABLE metrics RENAME TO measures;")
    m = Migrator(spec, str(project.directory))
    transactions = []
    m.progress = lambda event, *rest: transactions.append(m.db.connection.execute(
        "SELECT current_transaction_id()").fetchone()[0]) if event == "done" else None
    assert [r.version for r in m.up()] == [V1, V2, V3]
    assert len(set(transactions)) == 3
    m.db.connection.close()
    # the lake opens again, as it was left: its data path is the one it keeps
    again = Migrator(lake.parse(spec.spec, options={f"S3_{k}": v for k, v in spec.s3.items()}), str(project.directory))
    assert again.db.connection.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'measures' "
                                       "ORDER BY column_index").fetchall() == [("id",), ("unit",)]
    assert [s.state for s in again.status()] == ["applied"] * 3


def test_the_lock_is_a_view_of_who_recorded_last(spec, project):
    """One row: the runner, the version and the time of the last recorded event; a lock table of an
    earlier build (one row, replaced at every event) becomes that view."""
    three(project)
    m = Migrator(spec, str(project.directory))
    m.up(V1)
    conn = m.db.connection
    conn.execute("BEGIN TRANSACTION")
    conn.execute("DROP VIEW duckdb_migrations_lock")
    conn.execute("CREATE TABLE duckdb_migrations_lock (holder VARCHAR, version VARCHAR, since TIMESTAMP)")
    conn.execute(f"INSERT INTO duckdb_migrations_lock VALUES ('old (pid 1)', '{V1}', now()::TIMESTAMP)")
    conn.execute("COMMIT")
    assert [r.version for r in m.up()] == [V2, V3]
    assert conn.execute("SELECT table_type FROM information_schema.tables WHERE table_name = "
                        "'duckdb_migrations_lock'").fetchall() == [("VIEW",)]
    [(runner, version, recorded_at, run)] = conn.execute("FROM duckdb_migrations_lock").fetchall()
    assert (runner.split(" (pid ")[1], version) == (f"{__import__('os').getpid()})", V3)
    assert recorded_at == conn.execute("SELECT max(occurred_at) FROM duckdb_migrations").fetchone()[0] and len(run) == 16


def test_a_table_of_that_name_that_is_no_lock_is_left_alone(spec, project):
    from duckmig_magic import errors

    three(project)
    m = Migrator(spec, str(project.directory))
    m.db.connection.execute("CREATE TABLE duckdb_migrations_lock (id INTEGER)")
    m.db.connection.execute("INSERT INTO duckdb_migrations_lock VALUES (7)")
    with pytest.raises(errors.ConfigError, match="table duckdb_migrations_lock exists but is not a duckmig "
                                                       r"ledger \(columns: id\)"):
        m.up()
    assert m.db.connection.execute("FROM duckdb_migrations_lock").fetchall() == [(7,)]
    assert [s.state for s in m.status()] == ["pending"] * 3


def test_schema_drift_and_a_declared_schema_on_a_lake(spec, project):
    """verify --schema leaves the ledger's lock view out, and takes a lake's DEFAULT NULL for no default."""
    three(project)
    m = Migrator(spec, str(project.directory))
    m.up()
    assert m.verify(schema=True).ok
    m.db.connection.execute("ALTER TABLE metrics ADD COLUMN note VARCHAR")
    assert [p.detail for p in m.verify(schema=True).problems] == ["column metrics.note added: VARCHAR"]
    d = m.diff("CREATE TABLE metrics (id INTEGER, v DOUBLE, unit VARCHAR);")
    assert d.up == ['ALTER TABLE "metrics" DROP COLUMN "note";']
    assert [w.kind for w in d.preview.warning_list] == []  # the column holds no value: nothing lost
