"""The engine tells an open transaction by ``current_transaction_id()``, which every DuckDB catalog
answers (``txid_current()`` is an internal error on a DuckLake one): on a user's connection to a
DuckDB file, and on one whose current database is an attached one that is not ``main``."""

from __future__ import annotations

import textwrap

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.engine.database import in_transaction

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
LEDGER = {"duckdb_migrations"}


@pytest.fixture(params=["file", "attached"])
def conn(request, tmp_path):
    """A user's connection: to a DuckDB file, or to :memory: moved to an attached file ``other``."""
    if request.param == "file":
        c = duckdb.connect(str(tmp_path / "app.db"))
    else:
        c = duckdb.connect(":memory:")
        c.execute(f"ATTACH '{tmp_path / 'other.db'}' AS other")
        c.execute("USE other")
    yield c
    c.close()


def tables(conn, database: str | None = None) -> set[str]:
    database = database or conn.execute("SELECT current_database()").fetchone()[0]
    return {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                       [database]).fetchall()}


def python_file(project, version: str, slug: str, upgrade: str) -> None:
    project.write(f"{version}_{slug}.py", (
        "from duckmig_magic import BaseMigration\n\n\n"
        "class Migration(BaseMigration):\n"
        "    def __init__(self):\n"
        f"        super().__init__(version={version!r}, description='python')\n\n"
        f"    def upgrade(self, session):\n{textwrap.indent(textwrap.dedent(upgrade).strip(), ' ' * 8)}\n\n"
        "    def downgrade(self, session):\n        pass\n"), dedent=False)


def test_in_transaction(conn):
    assert not in_transaction(conn)
    conn.execute("BEGIN")
    assert in_transaction(conn)
    with pytest.raises(duckdb.Error):
        conn.execute("SELECT error('boom')")
    assert in_transaction(conn)  # open, and aborted
    conn.execute("ROLLBACK")
    assert not in_transaction(conn)


def test_up_status_down(conn, project):
    database = conn.execute("SELECT current_database()").fetchone()[0]
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);\nINSERT INTO one VALUES (1);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    m = Migrator(conn, project.directory)
    assert [s.state for s in m.status()] == ["pending", "pending"]
    assert [r.version for r in m.up()] == [V1, V2]
    assert {s.version: s.state for s in m.status()} == {V1: "applied", V2: "applied"}
    assert tables(conn, database) == {"one", "two"} | LEDGER
    assert not in_transaction(conn)  # committed, nothing left open
    assert [r.version for r in m.down()] == [V2]
    assert {s.version: s.state for s in m.status()} == {V1: "applied", V2: "pending"}
    assert tables(conn, database) == {"one"} | LEDGER
    assert conn.execute("SELECT current_database()").fetchone() == (database,)
    conn.execute("CREATE TABLE still_usable (x INTEGER)")


def test_open_transaction_is_refused_and_not_committed(conn, project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    m = Migrator(conn, project.directory)
    m.up()
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    conn.execute("BEGIN TRANSACTION")
    conn.execute("CREATE TABLE mine (x INTEGER)")
    for verb in (m.up, m.down, lambda: m.stamp(V2)):
        with pytest.raises(errors.ConfigError, match="^the connection has a transaction open"):
            verb()
    assert in_transaction(conn)  # still the user's, still open
    conn.execute("ROLLBACK")
    assert tables(conn) == {"one"} | LEDGER
    assert {s.version: s.state for s in m.status()} == {V1: "applied", V2: "pending"}


@pytest.mark.parametrize("moves", [False, True], ids=["in-place", "in-another-database"])
def test_a_commit_behind_the_sessions_back_is_caught(conn, project, tmp_path, moves):
    # Moved to a third database, the transaction is ended there: the check, asked back in the
    # run's database, still sees that the transaction open is not the engine's.
    move = f"session.exec(\"ATTACH '{tmp_path / 'third.db'}' AS third\")\nsession._conn.execute(\"USE third\")\n"
    python_file(project, V1, "backdoor", (move if moves else "") + textwrap.dedent("""
        session.exec("CREATE TABLE one (x INTEGER)")
        session._conn.execute("COMMIT")
        session._conn.execute("BEGIN")
    """))
    with pytest.raises(errors.TransactionLost, match="its transaction ended before duckmig committed it"):
        Migrator(conn, project.directory).up()
    assert not in_transaction(conn)


def test_a_migration_that_moves_away_keeps_its_transaction(conn, project, tmp_path):
    database = conn.execute("SELECT current_database()").fetchone()[0]
    project.sql(V1, "visits", f"ATTACH '{tmp_path / 'arch.db'}' AS arch;\nUSE arch;\nSELECT count(*) FROM duckdb_tables();")
    project.sql(V2, "after", "CREATE TABLE after_move (x INTEGER);")
    m = Migrator(conn, project.directory)
    assert [r.version for r in m.up()] == [V1, V2]
    assert "after_move" in tables(conn, database)
    assert {s.version: s.state for s in m.status()} == {V1: "applied", V2: "applied"}


@pytest.mark.ducklake
def test_on_a_lake_where_txid_current_is_an_internal_error(lake_home, project, tmp_path):
    from duckmig_magic.engine import lake

    conn = lake.connect(lake.parse(f"ducklake:{tmp_path / 'catalog.ducklake'}", data_path=str(tmp_path / "data")))
    try:
        with pytest.raises(duckdb.Error, match="non-DuckDB transaction"):
            conn.execute("SELECT txid_current()")
        test_in_transaction(conn)
        project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
        conn.execute("BEGIN")
        conn.execute("CREATE TABLE mine (x INTEGER)")
        with pytest.raises(errors.ConfigError, match="^the connection has a transaction open"):
            Migrator(conn, project.directory).up()
        assert in_transaction(conn) and tables(conn) == {"mine"}  # still the user's, nothing of the run in it
        conn.execute("ROLLBACK")
        assert tables(conn) == set()
    finally:
        conn.close()
