"""A replay after a caught failure runs the transaction's statements again in few calls, to the same
effect: merged INSERTs hold what the INSERTs one by one held, and a large section runs as DuckDB
parsed it only where the connection's parser reads its text alike."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duckmig_magic.engine import replay, sqlfile

COLUMNS = ("INTEGER", "BIGINT", "DOUBLE", "VARCHAR", "DECIMAL(18,3)", "BOOLEAN", "DATE")

_literal = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.tuples(st.integers(-(10**20), 10**20), st.integers(0, 10**6)).map(lambda p: f"{p[0]}.{p[1]}"),
    st.text(alphabet="ab'1-. 0", max_size=6).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.sampled_from(["NULL", "TRUE", "FALSE", "'2024-01-31'", "'12'", "'1.50'", "0.10", "1.5", "007"]),
)


def _effect(conn, log):
    return conn.execute("SELECT *, typeof(COLUMNS(*)) FROM t ORDER BY rowid").fetchall()


def _fresh(column: str):
    conn = duckdb.connect()
    conn.execute(f"CREATE TABLE t (a {column}, b VARCHAR)")
    return conn


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(COLUMNS), st.lists(st.lists(st.tuples(_literal, _literal), min_size=1, max_size=3),
                                          min_size=1, max_size=12))
def test_merged_inserts_hold_what_the_inserts_one_by_one_held(column, statements):
    """Whatever literals a run of INSERTs writes into a column of any type, running them again as
    ``batches`` gives them leaves the table as running them one by one did, or fails (then the
    runner replays one by one)."""
    one_by_one, log = _fresh(column), []
    for rows in statements:
        sql = "INSERT INTO t VALUES " + ", ".join(f"({a}, {b})" for a, b in rows)
        try:
            one_by_one.execute(sql)
        except duckdb.Error:
            one_by_one.close()
            one_by_one = _fresh(column)  # the log holds only what succeeded: run it again without this one
            for done, _ in log:
                one_by_one.execute(done)
            continue
        log.append((sql, None))
    merged = _fresh(column)
    calls = list(replay.batches(log, lambda: True))
    try:
        for sql, _ in calls:
            merged.execute(sql)
    except duckdb.Error:
        return
    assert _effect(merged, log) == _effect(one_by_one, log)


def test_consecutive_inserts_of_one_table_are_one_insert_and_others_a_script():
    log = [("CREATE TABLE t (a INTEGER, b VARCHAR)", None)] + [
        (f"INSERT INTO t VALUES ({i}, 'x{i}')", None) for i in range(5)] + [
        ("INSERT INTO t VALUES (?, ?)", [9, "p"]), ("INSERT INTO t VALUES (5, 'x')", None),
        ("INSERT INTO t VALUES (1.5, 'x')", None),  # another literal type: not merged with the one before
        ("INSERT INTO t VALUES (6, 'x') RETURNING a", None)]
    calls = list(replay.batches(log, lambda: True))
    assert calls == [
        ("CREATE TABLE t (a INTEGER, b VARCHAR)\n;\nINSERT INTO t VALUES (0, 'x0'),\n(1, 'x1'),\n(2, 'x2'),\n"
         "(3, 'x3'),\n(4, 'x4')", None),
        ("INSERT INTO t VALUES (?, ?)", [9, "p"]),
        ("INSERT INTO t VALUES (5, 'x')\n;\nINSERT INTO t VALUES (1.5, 'x')\n;\nINSERT INTO t VALUES (6, 'x') RETURNING a",
         None)]


def test_a_block_is_parsed_once_and_reused_while_the_parser_reads_alike(monkeypatch):
    monkeypatch.setattr(replay, "BLOCK", 3)
    log = replay.Log()
    log.extend((f"INSERT INTO t VALUES ({i})", None) for i in range(7))
    first = list(replay.batches(log, lambda: True))
    assert first == [("INSERT INTO t VALUES (0),\n(1),\n(2)\n;\nINSERT INTO t VALUES (3),\n(4),\n(5)\n;\n"
                      "INSERT INTO t VALUES (6)", None)]
    assert sorted(log.blocks) == [(0, 3), (3, 6)]
    log.append(("INSERT INTO t VALUES (7)", None))
    again = list(replay.batches(log, lambda: True))
    assert [type(call).__name__ for call, _ in again] == ["Statement", "Statement", "str"]
    assert again[2] == ("INSERT INTO t VALUES (6),\n(7)", None)
    assert [call for call, _ in replay.batches(log, lambda: False)] == [first[0][0].replace(
        "INSERT INTO t VALUES (6)", "INSERT INTO t VALUES (6),\n(7)")]


def _caught(n: int) -> str:
    return ("from duckmig_magic import BaseMigration\n\n\nclass M(BaseMigration):\n"
            "    def upgrade(self, session):\n"
            "        session.exec('CREATE TABLE t (id INTEGER, name VARCHAR)')\n"
            f"        for i in range({n}):\n"
            "            session.exec(f\"INSERT INTO t VALUES ({i}, 'n{i}')\")\n"
            "            session.exec('INSERT INTO t VALUES (?, ?)', [i, 'p'])\n"
            "            try:\n"
            "                session.exec(\"INSERT INTO t VALUES ('not a number', 'x')\")\n"
            "            except Exception:\n"
            "                pass\n")


@pytest.mark.parametrize("block", [2, 256])
def test_a_migration_that_catches_many_failures_keeps_each_row_once(project, monkeypatch, block):
    monkeypatch.setattr(replay, "BLOCK", block)
    project.write("20250101_000001_loop.py", _caught(12), dedent=False)
    result = project.migrator().up()
    assert [r.replays for r in result] == [12]
    expected = [row for i in range(12) for row in ((i, f"n{i}"), (i, "p"))]
    assert project.query("SELECT * FROM t ORDER BY rowid") == expected
    assert project.query("SELECT version, status FROM duckdb_migrations") == [("20250101_000001", "applied")]


def _large(project, version: str):
    """A section of one statement long enough to run as parsed, which divides."""
    rows = ",\n".join(f"({i}, 'row {i}')" for i in range(8_000))
    return project.sql(version, "large", "CREATE TABLE r (i INTEGER, s VARCHAR);\n"
                       f"CREATE TABLE d AS SELECT i, i / 2 AS half FROM (VALUES\n{rows}) v(i, s);")


def test_a_large_statement_runs_as_its_text_would_where_the_parser_is_set_otherwise(project):
    """``integer_division`` changes how DuckDB parses `/`: a large statement after a migration that
    set it runs as its text reads on that connection, not as duckmig's parser read it."""
    project.sql("20250101_000001", "set", "SET integer_division = true;")
    _large(project, "20250101_000002")
    project.migrator().up()
    assert project.query("SELECT half FROM d WHERE i = 7") == [(3,)]
    assert project.query("SELECT count(*) FROM d") == [(8_000,)]


def test_a_large_statement_runs_as_parsed_on_a_connection_that_parses_alike(project):
    path = _large(project, "20250101_000001")
    assert sqlfile.parse(path.read_text()).up.typed().statements is not None
    project.migrator().up()
    assert project.query("SELECT half FROM d WHERE i = 7") == [(3.5,)]
    assert project.query("SELECT sum(i) FROM d") == [(sum(range(8_000)),)]
