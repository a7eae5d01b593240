"""What DuckLake does, as duckmig's design relies on it (checked on duckdb and DuckLake 1.5.5).

These are facts about DuckDB, not about duckmig: a DuckLake release that changes
one fails here first. In short:

- Refused: PRIMARY KEY, UNIQUE, CHECK, FOREIGN KEY, indexes, ON CONFLICT and
  INSERT OR REPLACE, sequences, user-defined types and ENUM columns, generated
  columns, SET NOT NULL on an empty table or after another ALTER of the table in
  the same transaction, a column type narrowed or changed by USING, ADD COLUMN
  with a default that is not a constant; ``txid_current()`` fails with an
  INTERNAL error. ``LAKE_LIMITS`` in duckmig_magic/engine/refusals.py knows each message.
- Accepted, and transactional: CREATE/ALTER/DROP of tables, views, macros and
  schemas, with data; a column type widened; MERGE INTO; ROLLBACK leaves no table
  and no Parquet file behind.
- A table gets a new oid at each ALTER, so a table is told by its name there.
- A table altered and then renamed in one transaction commits without error, and
  then the lake cannot be read (a column that "already exists"), or forgets the
  alteration; renamed first and altered after, or made in the same transaction,
  it is kept. duckmig refuses such a rename (``lake.altered_then_renamed``).
- A failed statement aborts the transaction, and a COMMIT after it returns
  without error and keeps nothing, as in DuckDB itself.
- ``current_transaction_id()`` is the same for every statement of a transaction
  and new for each autocommit statement, on DuckDB files, attached databases and
  DuckLake alike: an open-transaction check that needs no ``txid_current()``.
- Two clients (separate DuckDB instances, or processes) of one PostgreSQL catalog:
  when both UPDATE the same row, both UPDATEs succeed and the second COMMIT fails
  with "Failed to commit DuckLake transaction", leaving no transaction open. Two
  that only INSERT both commit. An UPDATE conflicts with any other write to its table.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from duckmig_magic.engine import catalog, lake, refusals
from lake_support import wait_for

pytestmark = pytest.mark.ducklake
CONFLICT = "Failed to commit DuckLake transaction"


def _open(database, extension_home, data_path=None):
    # Module-wide connections name the extension directory; the product's default one is HOME's.
    directory = str(extension_home / ".duckdb" / "extensions")
    return lake.connect(lake.parse(database, data_path=data_path), config={"extension_directory": directory})


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def conn(request, tmp_path_factory, extension_home):
    """A lake of each catalog kind with a table ``t`` (one row) and an empty table ``e``, shared
    by the module: tests leave it as they found it."""
    folder = tmp_path_factory.mktemp("lake")
    database = (f"ducklake:{folder / 'catalog.ducklake'}" if request.param == "duckdb"
                else f"ducklake:postgres:{request.getfixturevalue('postgres').database()}")
    c = _open(database, extension_home, str(folder / "data"))
    c.execute("CREATE TABLE t (id INTEGER NOT NULL, v VARCHAR DEFAULT 'x')")
    c.execute("INSERT INTO t VALUES (1, 'a')")
    c.execute("CREATE TABLE e (a INTEGER)")
    yield c
    c.close()


REFUSED = [
    # id, statement, DuckDB's exception, words of its message
    ("primary-key", "CREATE TABLE k (id INTEGER PRIMARY KEY)", duckdb.NotImplementedException,
     "PRIMARY KEY/UNIQUE constraints are not supported in DuckLake"),
    ("unique", "CREATE TABLE k (id INTEGER UNIQUE)", duckdb.NotImplementedException,
     "PRIMARY KEY/UNIQUE constraints are not supported in DuckLake"),
    ("check", "CREATE TABLE k (id INTEGER CHECK (id > 0))", duckdb.NotImplementedException,
     "CHECK constraints are not supported in DuckLake"),
    ("add-primary-key", "ALTER TABLE t ADD PRIMARY KEY (id)", duckdb.NotImplementedException,
     "Adding indexes or constraints is not supported in DuckLake"),
    ("foreign-key", "CREATE TABLE k (id INTEGER REFERENCES t (id))", duckdb.BinderException,
     "there is no primary key or unique constraint for referenced table"),
    ("index", "CREATE INDEX ti ON t (id)", duckdb.NotImplementedException, "DuckLake does not support indexes"),
    ("on-conflict-nothing", "INSERT INTO t VALUES (1, 'b') ON CONFLICT DO NOTHING", duckdb.BinderException,
     "There are no UNIQUE/PRIMARY KEY constraints that refer to this table"),
    ("on-conflict-update", "INSERT INTO t VALUES (1, 'b') ON CONFLICT (id) DO UPDATE SET v = 'b'",
     duckdb.BinderException, "not referenced by a UNIQUE/PRIMARY KEY CONSTRAINT or INDEX"),
    ("insert-or-replace", "INSERT OR REPLACE INTO t VALUES (1, 'b')", duckdb.BinderException,
     "There are no UNIQUE/PRIMARY KEY constraints that refer to this table"),
    ("sequence", "CREATE SEQUENCE s", duckdb.NotImplementedException, "DuckLake does not support sequences"),
    ("user-type", "CREATE TYPE mood AS ENUM ('a', 'b')", duckdb.NotImplementedException,
     "DuckLake does not support user-defined types"),
    ("enum-column", "CREATE TABLE k (m ENUM ('a', 'b'))", duckdb.InvalidInputException,
     "Failed to convert DuckDB type to DuckLake - unsupported type ENUM"),
    ("generated", "CREATE TABLE k (a INTEGER, b INTEGER GENERATED ALWAYS AS (a + 1))",
     duckdb.NotImplementedException, "DuckLake does not support generated columns"),
    ("set-not-null-empty", "ALTER TABLE e ALTER COLUMN a SET NOT NULL", duckdb.CatalogException,
     "Cannot SET NOT NULL on table e - the table has transaction-local changes or no stats are available"),
    ("narrower-type", "ALTER TABLE t ALTER COLUMN id TYPE SMALLINT", duckdb.CatalogException,
     "Cannot change type of column id from INTEGER to SMALLINT - only widening type promotions are allowed"),
    ("other-type", "ALTER TABLE t ALTER COLUMN id TYPE VARCHAR", duckdb.CatalogException,
     "Cannot change type of column id from INTEGER to VARCHAR - only widening type promotions are allowed"),
    ("type-using", "ALTER TABLE t ALTER COLUMN id SET DATA TYPE BIGINT USING id * 2",
     duckdb.NotImplementedException, "Column type cannot be modified using an expression"),
    ("add-column-computed-default", "ALTER TABLE t ADD COLUMN n INTEGER DEFAULT 1 + 1",
     duckdb.NotImplementedException, "We cannot add a column with a non-literal default value"),
]


@pytest.mark.parametrize("sql, exception, words", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused(conn, sql, exception, words):
    conn.execute("BEGIN")  # as a migration runs; and DuckDB 1.x runs ADD COLUMN ... DEFAULT in a transaction
    try:
        with pytest.raises(exception) as caught:
            conn.execute(sql)
    finally:
        conn.execute("ROLLBACK")
    assert words in str(caught.value)
    assert refusals.lake_limit(str(caught.value)), "duckmig's LAKE_LIMITS should know this refusal"


NOT_NULL = "Cannot SET NOT NULL on table t - the table has transaction-local changes or no stats are available"


@pytest.mark.parametrize("statements, refused", [
    (["ALTER TABLE t ALTER COLUMN v SET NOT NULL", "ALTER TABLE t ADD COLUMN w INTEGER",
      "ALTER TABLE t DROP COLUMN w"], None),
    (["INSERT INTO t VALUES (2, 'b')", "ALTER TABLE t ALTER COLUMN v SET NOT NULL"], None),
    (["ALTER TABLE t ADD COLUMN w INTEGER", "ALTER TABLE t ALTER COLUMN v SET NOT NULL"], NOT_NULL),
    (["ALTER TABLE t ALTER COLUMN id DROP NOT NULL", "ALTER TABLE t ALTER COLUMN id SET NOT NULL"], NOT_NULL),
    (["ALTER TABLE t ALTER COLUMN v SET NOT NULL", "ALTER TABLE t ALTER COLUMN id DROP NOT NULL",
      "ALTER TABLE t ALTER COLUMN id SET NOT NULL"], NOT_NULL),
    (["ALTER TABLE t RENAME TO t2", "ALTER TABLE t2 ALTER COLUMN v SET NOT NULL"], NOT_NULL.replace(" t ", " t2 ")),
    (["ALTER TABLE t ALTER COLUMN id TYPE BIGINT", "ALTER TABLE t ALTER COLUMN id TYPE INTEGER"],
     "Cannot change type of column id from BIGINT to INTEGER - only widening type promotions are allowed"),
], ids=["first", "after-insert", "after-add-column", "after-drop-not-null", "second", "after-rename", "back-again"])
def test_alters_in_one_transaction(conn, statements, refused):
    """SET NOT NULL only as the first ALTER of its table in a transaction; a type only widens."""
    conn.execute("BEGIN")
    try:
        for sql in statements[:-1]:
            conn.execute(sql)
        if refused is None:
            conn.execute(statements[-1])
        else:
            with pytest.raises(duckdb.CatalogException) as caught:
                conn.execute(statements[-1])
            assert refused in str(caught.value)
            assert refusals.lake_limit(str(caught.value)), "duckmig's LAKE_LIMITS should know this refusal"
    finally:
        conn.execute("ROLLBACK")


def test_an_alter_gives_a_table_a_new_oid(conn):
    oid = "SELECT table_oid FROM duckdb_tables() WHERE database_name = 'lake' AND table_name = 't'"
    conn.execute("BEGIN")
    try:
        first = conn.execute(oid).fetchone()
        conn.execute("ALTER TABLE t ADD COLUMN w INTEGER")
        second = conn.execute(oid).fetchone()
        conn.execute("ALTER TABLE t ALTER COLUMN w SET DEFAULT 1")
        assert len({first, second, conn.execute(oid).fetchone()}) == 3
    finally:
        conn.execute("ROLLBACK")


def test_txid_current_is_an_internal_error(conn):
    with pytest.raises(duckdb.InternalException, match="DuckTransaction::Get called on non-DuckDB transaction"):
        conn.execute("SELECT txid_current()")


ACCEPTED = [
    "CREATE VIEW v AS SELECT id FROM t", "CREATE MACRO plus_one(x) AS x + 1", "CREATE SCHEMA s",
    "ALTER TABLE t ADD COLUMN w INTEGER", "ALTER TABLE t RENAME COLUMN v TO v2", "ALTER TABLE t ALTER COLUMN id TYPE BIGINT",
    "ALTER TABLE t ALTER COLUMN v SET DEFAULT 'y'", "ALTER TABLE t ALTER COLUMN v SET NOT NULL",
    "ALTER TABLE t DROP COLUMN v", "ALTER TABLE t RENAME TO t2", "COMMENT ON TABLE t IS 'c'",
    "CREATE OR REPLACE TABLE t AS SELECT 1 AS id", "UPDATE t SET v = 'z' WHERE id = 1", "DELETE FROM t",
    "ALTER TABLE t ALTER COLUMN id TYPE DOUBLE", "ALTER TABLE t ALTER COLUMN v DROP DEFAULT",
    "ALTER TABLE t ALTER COLUMN id DROP NOT NULL", "COMMENT ON COLUMN t.v IS 'c'",
    "CREATE TABLE k (made TIMESTAMP DEFAULT now())", "ALTER TABLE t ADD COLUMN n INTEGER DEFAULT 7",
    "MERGE INTO t USING (SELECT 1 AS id, 'z' AS v) s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v "
    "WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)",
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_accepted_in_a_transaction(conn, sql):
    conn.execute("BEGIN")
    try:
        conn.execute(sql)
    finally:
        conn.execute("ROLLBACK")


def test_ddl_and_data_roll_back(conn):
    data = Path(conn.execute("SELECT options['data_path'] FROM duckdb_databases() WHERE database_name = 'lake'"
                             ).fetchone()[0])
    before = catalog.snapshot(conn)
    rows = conn.execute("SELECT * FROM t").fetchall()
    conn.execute("BEGIN")
    for sql in ["CREATE TABLE x AS SELECT range AS i FROM range(100000)", "ALTER TABLE t ADD COLUMN w INTEGER",
                "UPDATE t SET w = 1", "INSERT INTO t VALUES (2, 'b', 2)", "CREATE VIEW v AS SELECT 1 AS one",
                "CREATE MACRO m(x) AS x", "CREATE SCHEMA s"]:
        conn.execute(sql)
    assert catalog.snapshot(conn) != before
    assert list(data.rglob("*.parquet"))  # written during the transaction
    conn.execute("ROLLBACK")
    assert catalog.snapshot(conn) == before
    assert conn.execute("SELECT * FROM t").fetchall() == rows
    assert not list(data.rglob("*.parquet"))


def test_commit_after_a_failed_statement_keeps_nothing(conn):
    conn.execute("BEGIN")
    conn.execute("INSERT INTO t VALUES (2, 'b')")
    with pytest.raises(duckdb.InvalidInputException):
        conn.execute("SELECT error('boom')")
    with pytest.raises(duckdb.TransactionException, match=r"Current transaction is aborted \(please ROLLBACK\)"):
        conn.execute("SELECT 1")
    conn.execute("COMMIT")  # no error ...
    assert conn.execute("SELECT id FROM t").fetchall() == [(1,)]  # ... and nothing kept


def test_use_and_current_database(conn):
    assert conn.execute("SELECT current_database(), current_schema()").fetchone() == ("lake", "main")
    assert conn.execute("SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
                        ).fetchone() == ("ducklake",)
    conn.execute("BEGIN")
    try:
        conn.execute("CREATE TEMP TABLE scratch (i INTEGER)")
        assert conn.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 'scratch'").fetchone() == (
            "temp",)
        conn.execute("USE memory")  # a migration can move away: unqualified names then miss the lake
        conn.execute("CREATE TABLE elsewhere (i INTEGER)")
        assert conn.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = 'elsewhere'"
                            ).fetchone() == ("memory",)
    finally:
        conn.execute("ROLLBACK")
        conn.execute("USE lake")  # USE is not undone by ROLLBACK


def test_catalog_functions_describe_the_lake(conn):
    conn.execute("BEGIN")
    try:
        conn.execute("CREATE VIEW v AS SELECT id FROM t")
        conn.execute("CREATE MACRO plus_one(x) AS x + 1")
        found = catalog.snapshot(conn)
        tables = catalog.tables(conn)
    finally:
        conn.execute("ROLLBACK")
    assert {("table", "main.t"), ("view", "main.v"), ("macro", "main.plus_one")} <= set(found)
    # A column without a default reads DEFAULT NULL in a lake, and none in a DuckDB file.
    assert found[("column", "main.t.id")] == "INTEGER NOT NULL DEFAULT NULL"
    assert found[("column", "main.t.v")] == "VARCHAR DEFAULT 'x'"
    assert sorted((t.name, t.primary_key) for t in tables.values()) == [("e", ()), ("t", ())]


# -- a table altered, then renamed, in one transaction ---------------------------------


@pytest.fixture(params=["duckdb", "postgres"])
def fresh(request, tmp_path, extension_home):
    """(database, data path) of a new lake holding table ``t`` (id INTEGER, v VARCHAR) with a row."""
    database = (f"ducklake:{tmp_path / 'catalog.ducklake'}" if request.param == "duckdb"
                else f"ducklake:postgres:{request.getfixturevalue('postgres').database()}")
    with _open(database, extension_home, str(tmp_path / "data")) as c:
        c.execute("CREATE TABLE t (id INTEGER, v VARCHAR)")
        c.execute("INSERT INTO t VALUES (1, 'a')")
    return database


BROKEN = "Column with name id already exists!"
_COLUMNS = ("SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
            "WHERE database_name = 'lake' GROUP BY ALL ORDER BY ALL")


@pytest.mark.parametrize("statements, refused, after", [
    (["ALTER TABLE t ADD COLUMN w INTEGER", "ALTER TABLE t RENAME TO t2"], True, BROKEN),
    (["ALTER TABLE t RENAME COLUMN v TO v2", "ALTER TABLE t RENAME TO t2"], True, BROKEN),
    (["ALTER TABLE t ALTER COLUMN v SET DEFAULT 'x'", "ALTER TABLE t RENAME TO t2"], True, BROKEN),
    (["COMMENT ON COLUMN t.v IS 'c'", "ALTER TABLE t RENAME TO t2"], True, BROKEN),
    (["ALTER TABLE t RENAME TO t2", "ALTER TABLE t2 ADD COLUMN w INTEGER", "ALTER TABLE t2 RENAME TO t3"], True,
     [("t3", ["id", "v"])]),  # no error, and no column w
    (["ALTER TABLE t RENAME TO t2", "ALTER TABLE t2 ADD COLUMN w INTEGER", "ALTER TABLE t2 DROP COLUMN v"], False,
     [("t2", ["id", "w"])]),
    (["UPDATE t SET v = 'b'", "ALTER TABLE t RENAME TO t2"], False, [("t2", ["id", "v"])]),
    (["CREATE TABLE k (a INTEGER)", "ALTER TABLE k ADD COLUMN b INTEGER", "ALTER TABLE k RENAME TO k2"], False,
     [("k2", ["a", "b"]), ("t", ["id", "v"])]),
], ids=["add-column", "rename-column", "set-default", "comment", "between-renames", "rename-first", "rows-only",
        "made-here"])
def test_a_rename_after_an_alter(fresh, extension_home, statements, refused, after):
    with _open(fresh, extension_home) as c:
        c.execute("BEGIN")
        for sql in statements:
            c.execute(sql)
        # What duckmig refuses before the rename runs: exactly the cases DuckLake gets wrong.
        assert bool(lake.altered_then_renamed(c, "lake", statements[-1], statements[:-1])) is refused
        c.execute("COMMIT")  # no error, whatever comes of it
    if after == BROKEN:
        with pytest.raises(duckdb.CatalogException, match=BROKEN):
            _open(fresh, extension_home)  # the lake cannot be opened again
    else:
        with _open(fresh, extension_home) as c:
            assert c.execute(_COLUMNS).fetchall() == after


# -- telling an open transaction without txid_current() ------------------------------


def _opens_one_transaction(c) -> bool:
    """Whether two statements share a transaction id: in a transaction they do, in autocommit never."""
    first = c.execute("SELECT current_transaction_id()").fetchone()[0]
    return c.execute("SELECT current_transaction_id()").fetchone()[0] == first


def _tells_an_open_transaction(c):
    assert not _opens_one_transaction(c)
    c.execute("BEGIN")
    assert _opens_one_transaction(c)
    c.execute("ROLLBACK")
    assert not _opens_one_transaction(c)


@pytest.mark.parametrize("kind", ["memory", "file", "attached"])
def test_current_transaction_id_on_duckdb(kind, tmp_path):
    c = duckdb.connect(":memory:" if kind == "memory" else str(tmp_path / "f.db"))
    if kind == "attached":
        c.execute(f"ATTACH '{tmp_path / 'other.db'}' AS other")
        c.execute("USE other")
    _tells_an_open_transaction(c)


def test_current_transaction_id_on_a_lake(conn):
    _tells_an_open_transaction(conn)


# -- two clients of one PostgreSQL catalog ------------------------------------------


@pytest.fixture(scope="module")
def pg_lake(extension_home, postgres, tmp_path_factory):
    """A lake on the PostgreSQL catalog and two clients of it (two DuckDB instances)."""
    database = f"ducklake:postgres:{postgres.database()}"
    a = _open(database, extension_home, str(tmp_path_factory.mktemp("data")))
    b = _open(database, extension_home)
    yield database, a, b
    a.close()
    b.close()


@pytest.fixture
def clients(pg_lake):
    """The two clients, the lake holding a fresh ``lock`` table (one row) and ``events`` table."""
    _, a, b = pg_lake
    a.execute("CREATE OR REPLACE TABLE lock (id INTEGER, n BIGINT)")
    a.execute("INSERT INTO lock VALUES (1, 0)")
    a.execute("CREATE OR REPLACE TABLE events (v VARCHAR)")
    a.execute("CREATE OR REPLACE VIEW held AS SELECT 'nobody' AS who")
    for name in ("n1", "n2", "n3"):
        a.execute(f"DROP TABLE IF EXISTS {name}")
    return a, b


@pytest.mark.parametrize("first, second, conflict", [
    ("UPDATE lock SET n = n + 1 WHERE id = 1", "UPDATE lock SET n = n + 1 WHERE id = 1", True),
    ("INSERT INTO events VALUES ('a')", "INSERT INTO events VALUES ('b')", False),
    ("INSERT INTO lock VALUES (2, 0)", "UPDATE lock SET n = n + 1 WHERE id = 1", True),
    ("DELETE FROM lock WHERE id = 1", "DELETE FROM lock WHERE id = 1", True),
    ("CREATE TABLE n1 (a INTEGER)", "CREATE TABLE n1 (a INTEGER)", True),
    ("ALTER TABLE events ADD COLUMN x INTEGER", "ALTER TABLE events ADD COLUMN y INTEGER", True),
    ("CREATE TABLE n2 (a INTEGER)", "CREATE TABLE n3 (a INTEGER)", False),
    ("CREATE OR REPLACE VIEW held AS SELECT 'a' AS who", "CREATE OR REPLACE VIEW held AS SELECT 'b' AS who", True),
    ("CREATE OR REPLACE VIEW held AS SELECT 'a' AS who", "INSERT INTO events VALUES ('b')", False),
], ids=["same-row-update", "inserts", "insert-then-update", "deletes", "same-create", "alters", "creates",
        "view-replaces", "view-replace-and-insert"])
def test_two_clients_conflict_at_commit(clients, first, second, conflict):
    a, b = clients
    a.execute("BEGIN")
    b.execute("BEGIN")
    a.execute(first)  # neither statement waits nor fails: DuckLake checks at COMMIT
    b.execute(second)
    a.execute("COMMIT")
    if not conflict:
        b.execute("COMMIT")
        return
    with pytest.raises(duckdb.TransactionException, match=f"Failed to commit: {CONFLICT}.\nTransaction conflict - "):
        b.execute("COMMIT")
    with pytest.raises(duckdb.TransactionException, match="no transaction is active"):
        b.execute("ROLLBACK")  # the failed COMMIT ended it


def test_snapshot_is_taken_at_begin(clients):
    a, b = clients
    a.execute("BEGIN")
    assert a.execute("SELECT n FROM lock").fetchone() == (0,)
    b.execute("UPDATE lock SET n = 100")
    assert a.execute("SELECT n FROM lock").fetchone() == (0,)
    a.execute("COMMIT")
    assert a.execute("SELECT n FROM lock").fetchone() == (100,)


def test_a_view_is_read_at_the_transactions_snapshot(clients):
    """duckmig's lock is a view, read with the plan in one statement and checked in each
    transaction: what it reads must be the transaction's snapshot, as data is."""
    a, b = clients
    a.execute("BEGIN")
    assert a.execute("FROM held").fetchall() == [("nobody",)]
    b.execute("CREATE OR REPLACE VIEW held AS SELECT 'b' AS who")
    assert a.execute("FROM held").fetchall() == [("nobody",)]
    a.execute("COMMIT")
    assert a.execute("FROM held").fetchall() == [("b",)]


_CLIENT = textwrap.dedent("""\
    import json, pathlib, sys, time
    from duckmig_magic.engine import lake
    database, statement, folder, name = sys.argv[1:]
    conn = lake.connect(lake.parse(database))
    conn.execute("BEGIN")
    conn.execute(statement)
    (pathlib.Path(folder) / (name + ".ready")).touch()
    while not (pathlib.Path(folder) / (name + ".go")).exists():
        time.sleep(0.01)
    try:
        conn.execute("COMMIT")
        print(json.dumps("committed"))
    except Exception as exc:
        print(json.dumps(f"{type(exc).__name__}: {exc}"))
""")


@pytest.mark.parametrize("statement, refused", [
    ("UPDATE lock SET n = n + 1 WHERE id = 1", True), ("INSERT INTO events VALUES ('x')", False)],
    ids=["lock-row", "inserts"])
def test_two_processes(pg_lake, clients, lake_home, tmp_path, statement, refused):
    """Each process holds its transaction open until the other's has begun and written."""
    database, a, _ = pg_lake
    runs = [subprocess.Popen([sys.executable, "-c", _CLIENT, database, statement, str(tmp_path), name],
                             stdout=subprocess.PIPE, text=True) for name in ("one", "two")]
    assert wait_for(lambda: all((tmp_path / f"{n}.ready").exists() or r.poll() is not None
                                for n, r in zip(("one", "two"), runs)), timeout=60)
    outcomes = []
    for name, run in zip(("one", "two"), runs):
        (tmp_path / f"{name}.go").touch()
        outcomes.append(json.loads(run.communicate(timeout=60)[0]))
    assert outcomes[0] == "committed"
    if refused:
        assert outcomes[1].startswith(f"TransactionException: TransactionContext Error: Failed to commit: {CONFLICT}")
        assert a.execute("SELECT n FROM lock").fetchone() == (1,)
    else:
        assert outcomes[1] == "committed"
        assert sorted(a.execute("SELECT v FROM events").fetchall()) == [("x",), ("x",)]
