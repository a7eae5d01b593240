"""A statement is judged by what it runs: a wrapper (EXPLAIN ANALYZE, PREPARE/EXECUTE, a WITH
clause's INSERT/UPDATE/DELETE/COPY) is refused where the statement it wraps is, by a preview, a
round trip and a real run; a failure is reported rolled back only where that is known; a parser
error names the failing statement's line.

Every refusal is checked by its effects as well: no file written, the tables and the ledger as
they were (``state``: every file's bytes, every table's rows).
"""

from __future__ import annotations

import textwrap

import duckdb
import pytest
from test_catalogue import state

from duckmig_magic import errors
from duckmig_magic.engine import dryrun, sqlfile, wrappers

V1, V2 = "20250101_000001", "20250102_000002"
# A refusal names the statement it refused; a file DuckDB cannot parse is refused too, and names none.
REFUSED = (errors.PreviewRefused, errors.MigrationFileError)


def items(project):
    project.sql(V1, "items", "CREATE TABLE items (id INTEGER, name VARCHAR);\nINSERT INTO items VALUES (1, 'a');",
                "DROP TABLE items;")
    project.migrator().up()


def python(body: str) -> str:
    return ("from duckmig_magic import BaseMigration\n\n\nclass M(BaseMigration):\n"
            "    def upgrade(self, session):\n" + textwrap.indent(textwrap.dedent(body).strip(), " " * 8) + "\n\n"
            "    def downgrade(self, session):\n        pass\n")


def parses(sql: str) -> bool:
    try:
        duckdb.extract_statements(sql)
    except duckdb.Error:
        return False
    return True


# -- the cases, through the command ----------------------------------------------------------


def test_explain_analyze_copy_to_is_refused_by_a_preview_and_writes_no_file(project, cli):
    items(project)
    project.sql(V2, "leak", "EXPLAIN ANALYZE COPY (SELECT 42) TO 'x.csv';", "SELECT 1;")
    before = state(project.root)
    r = cli("preview", "-d", "app.db")
    assert r.code != 0
    assert "EXPLAIN ANALYZE runs the statement it wraps: COPY ... TO writes a file" in r.err + r.out
    assert not (project.root / "x.csv").exists()
    assert state(project.root) == before


def test_verify_roundtrip_refuses_explain_analyze_copy_to(project, cli):
    items(project)
    project.sql(V2, "leak", "EXPLAIN ANALYZE COPY (SELECT 42) TO 'x.csv';", "SELECT 1;")
    before = state(project.root)
    r = cli("verify", "--roundtrip", "-d", "app.db")
    assert r.code != 0 and "EXPLAIN ANALYZE runs the statement it wraps" in r.out
    assert not (project.root / "x.csv").exists()
    assert state(project.root) == before


@pytest.mark.parametrize("verb", ["up", "preview"])
def test_explain_analyze_cannot_empty_the_ledger(project, cli, verb):
    items(project)
    project.sql(V2, "empty", "EXPLAIN ANALYZE CREATE OR REPLACE TABLE duckdb_migrations AS "
                "SELECT * FROM duckdb_migrations LIMIT 0;", "SELECT 1;")
    before = state(project.root)
    r = cli(verb, "-d", "app.db")
    assert r.code != 0 and "changes the ledger table duckdb_migrations" in r.err
    assert "EXPLAIN ANALYZE runs the statement it wraps" in r.err
    assert state(project.root) == before


@pytest.mark.parametrize("sql", ["EXPLAIN ANALYZE COMMIT", "EXPLAIN (ANALYZE) ROLLBACK", "EXPLAIN COMMIT"])
def test_transaction_control_inside_explain_is_refused(project, sql):
    items(project)
    project.sql(V2, "commit", f"INSERT INTO items VALUES (2, 'b');\n{sql};", "SELECT 1;")
    before = state(project.root)
    with pytest.raises(errors.MigrationFileError,
                       match=r"(runs the statement it wraps|judged by the statement).*; transaction control \("):
        project.migrator().up()
    assert state(project.root) == before


def test_a_python_migration_is_judged_by_what_it_runs(project):
    items(project)
    project.write(f"{V2}_leaky.py", python("""
        session.exec("EXPLAIN ANALYZE COPY (SELECT 42) TO 'x.csv'")
    """), dedent=False)
    before = state(project.root)
    with pytest.raises(errors.PreviewRefused, match="EXPLAIN ANALYZE runs the statement it wraps"):
        project.migrator().preview()
    assert not (project.root / "x.csv").exists() and state(project.root) == before
    project.write(f"{V2}_leaky.py", python("""
        session.exec("EXPLAIN ANALYZE DELETE FROM duckdb_migrations")
    """), dedent=False)
    with pytest.raises(errors.MigrationFailed, match="changes the ledger table duckdb_migrations"):
        project.migrator().up()
    assert project.query("SELECT version, status FROM duckdb_migrations ORDER BY 1") == [(V1, "applied"),
                                                                                         (V2, "failed")]


def test_prepare_is_judged_when_prepared_and_execute_by_what_was_prepared(project, monkeypatch):
    monkeypatch.chdir(project.root)
    items(project)
    project.sql(V2, "prepared", "PREPARE p AS COPY (SELECT 1) TO 'p.csv';\nEXECUTE p;", "SELECT 1;")
    before = state(project.root)
    with pytest.raises(errors.PreviewRefused, match="PREPARE p keeps the statement it wraps"):
        project.migrator().preview()
    assert not (project.root / "p.csv").exists() and state(project.root) == before
    project.sql(V2, "prepared", "PREPARE p AS DELETE FROM duckdb_migrations;\nEXECUTE p;", "SELECT 1;")
    before = state(project.root)
    with pytest.raises(errors.MigrationFileError,
                       match="`PREPARE p AS DELETE FROM duckdb_migrations` changes the ledger table"):
        project.migrator().up()
    assert state(project.root) == before


def test_a_preview_refuses_execute_of_a_statement_prepared_before_it(project, monkeypatch):
    monkeypatch.chdir(project.root)
    items(project)
    project.sql(V2, "run", "EXECUTE elsewhere;", "SELECT 1;")
    before = state(project.root)
    with pytest.raises(errors.PreviewRefused, match="EXECUTE runs the statement prepared as elsewhere"):
        project.migrator().preview()
    assert not (project.root / "e.csv").exists() and state(project.root) == before


def test_a_real_run_judges_execute_by_the_statement_duckdb_holds(project):
    from duckmig_magic.engine.ledger import Place
    from duckmig_magic.engine.runner import Runner

    conn = duckdb.connect(str(project.db))
    conn.execute("CREATE TABLE duckdb_migrations (version VARCHAR); INSERT INTO duckdb_migrations VALUES ('x')")
    conn.execute("PREPARE wipe AS DELETE FROM duckdb_migrations")
    runner = Runner(conn, Place.current(conn))
    with pytest.raises(errors.MigrationFileError,
                       match=r"changes the ledger table duckdb_migrations \(EXECUTE runs the statement prepared "
                             "as wipe"):
        with runner.transaction():
            runner.execute("EXECUTE wipe")
    assert conn.execute("SELECT count(*) FROM duckdb_migrations").fetchone() == (1,)


def test_a_with_clause_that_deletes_is_judged_as_the_delete(project):
    sql = "WITH d AS (DELETE FROM duckdb_migrations RETURNING *) SELECT count(*) FROM d"
    if not parses(sql):
        pytest.skip(f"duckdb {duckdb.__version__} has no data-modifying WITH")
    items(project)
    project.sql(V2, "cte", sql + ";", "SELECT 1;")
    before = state(project.root)
    with pytest.raises(errors.MigrationFileError,
                       match=r"changes the ledger table duckdb_migrations \(a WITH clause runs the statement in its "
                             "parentheses"):
        project.migrator().up()
    assert state(project.root) == before


@pytest.mark.parametrize("sql, refused", [
    ("SELECT * FROM checkpoint()", "checkpoint() writes the database file"),
    ("FROM force_checkpoint()", "force_checkpoint() writes"),
    ("SELECT * FROM query('SELECT 1')", None),
    ("SELECT * FROM query('FROM checkpoint()')", "query() runs the SQL its text holds: checkpoint()"),
    ("SELECT * FROM query('SEL' || 'ECT 1')", "query() runs SQL built when it runs"),
    ("CREATE MACRO m() AS TABLE FROM checkpoint()", "checkpoint() writes"),
    ("SELECT * FROM query_table('items')", None),
    ("EXPLAIN (FORMAT json) SELECT 1", None),
    ("EXPLAIN ANALYZE INSTALL httpfs", "EXPLAIN ANALYZE runs the statement it wraps: INSTALL writes"),
    ("EXPLAIN ANALYZE CHECKPOINT", "EXPLAIN ANALYZE runs the statement it wraps: CALL runs procedures"),
    ("EXPLAIN (ANALYZE false) COPY (SELECT 1) TO 'x.csv'", "EXPLAIN ANALYZE runs the statement it wraps: COPY"),
    ("EXPLAIN ANALYZE EXECUTE nowhere", "EXPLAIN ANALYZE runs the statement it wraps: EXECUTE runs the statement"),
])
def test_what_a_dry_run_refuses_inside_wrappers_and_table_functions(sql, refused):
    found = dryrun.refusal(sql)
    assert (found is None) if refused is None else (found or "").startswith(refused), found


# -- every statement type DuckDB's parser knows, in every wrapper it has ---------------------------------

# One example of each of DuckDB's statement types (duckdb.StatementType), run on a database with
# the table items; the types no statement is written as (INVALID, RELATION, LOGICAL_PLAN, MULTI as
# the outer type of a PIVOT) are covered by the statements that yield them.
EXAMPLES = {
    "SELECT": "SELECT count(*) FROM items",
    "INSERT": "INSERT INTO items VALUES (7, 'g')",
    "UPDATE": "UPDATE items SET name = 'z'",
    "CREATE": "CREATE TABLE made AS SELECT 1 AS x",
    "DELETE": "DELETE FROM items",
    "ALTER": "ALTER TABLE items ADD COLUMN extra INTEGER",
    "TRANSACTION": "COMMIT",
    "COPY": "COPY items TO 'w.csv'",
    "COPY FROM": "COPY items FROM 'items.csv'",
    "ANALYZE": "ANALYZE",
    "VARIABLE_SET": "SET VARIABLE answer = 42",
    "CREATE_FUNC": "CREATE MACRO twice(x) AS x * 2",
    "DROP": "DROP TABLE items",
    "EXPORT": "EXPORT DATABASE 'dump'",
    "PRAGMA": "PRAGMA enable_profiling",
    "VACUUM": "VACUUM",
    "CALL": "CHECKPOINT",
    "SET": "SET threads = 1",
    "LOAD": "INSTALL httpfs",
    "ATTACH": "ATTACH 'other.db' AS other",
    "DETACH": "DETACH other",
    "COPY_DATABASE": "COPY FROM DATABASE memory TO other",
    "MERGE_INTO": "MERGE INTO items USING (SELECT 1 AS id) s ON items.id = s.id WHEN MATCHED THEN DELETE",
    "EXTENSION": "UPDATE EXTENSIONS",
    "LEDGER": "DELETE FROM duckdb_migrations",
    "LEDGER CREATE": "CREATE OR REPLACE TABLE duckdb_migrations AS SELECT * FROM duckdb_migrations LIMIT 0",
    "SECRET": "CREATE PERSISTENT SECRET s (TYPE s3)",
    "PIVOT": "PIVOT items ON name USING count(*)",
}
WRAPPERS = {
    "EXPLAIN": "EXPLAIN {}",
    "EXPLAIN ANALYZE": "EXPLAIN ANALYZE {}",
    "EXPLAIN (ANALYZE, FORMAT json)": "EXPLAIN (ANALYZE, FORMAT json) {}",
    "PREPARE/EXECUTE": "PREPARE wrapped AS {};\nEXECUTE wrapped",
    "EXPLAIN ANALYZE EXECUTE": "PREPARE wrapped AS {};\nEXPLAIN ANALYZE EXECUTE wrapped",
    "WITH": "WITH w AS ({} RETURNING *) SELECT count(*) FROM w",
}


def judged(sql: str, lookup=None) -> str | None:
    """How the rules refuse ``sql`` (a statement, or two), or None: a dry run's reason, transaction
    control, a change to the ledger."""
    from duckmig_magic.engine import runner

    prepared: dict[str, str] = {}
    for _, text, kinds in sqlfile.classify(sql):
        refused = runner.refusal(text, kinds, "f.sql", 1, transactional=True, protected=runner.LEDGER,
                                 lookup=prepared.get)
        if refused is not None:
            return refused.detail
        reason = dryrun.refusal(text, kinds, prepared.get)
        if reason is not None:
            return reason
        if found := wrappers.preparation(text):
            prepared[found[0]] = found[1]
    return None


CASES = [(kind, wrapper) for kind in EXAMPLES for wrapper in WRAPPERS]


@pytest.mark.parametrize("kind, wrapper", CASES, ids=[f"{w}-{k}" for k, w in CASES])
def test_a_wrapped_statement_is_run_or_refused_as_the_statement_itself(project, monkeypatch, kind, wrapper):
    monkeypatch.chdir(project.root)
    inner = EXAMPLES[kind]
    try:
        alone = judged(inner)
    except duckdb.Error:
        pytest.skip(f"duckdb {duckdb.__version__} does not parse {inner!r}")
    sql = WRAPPERS[wrapper].format(inner)
    try:
        wrapped = judged(sql)
    except (duckdb.Error, ValueError):
        return  # DuckDB's grammar does not let this wrapper wrap it: it cannot run
    if alone is not None:
        assert wrapped is not None, f"{sql!r} slipped through: alone, {alone}"
    items(project)
    (project.root / "items.csv").write_text("id,name\n9,i\n")
    project.sql(V2, "wrapped", sql + ";", "SELECT 1;")
    before = state(project.root)
    try:
        project.migrator().preview()
    except REFUSED as exc:
        if exc.statement is not None:
            assert wrapped is not None, f"refused, though the rules pass it: {exc}"
    except (errors.MigrationFailed, errors.PreviewNotPossible):
        pass  # DuckDB's own error (no httpfs to install, no table to merge into): nothing ran
    else:
        assert wrapped is None, f"{sql!r} ran in a preview though refused: {wrapped}"
    assert state(project.root) == before, "a preview left something behind"
    if wrapped is not None and ("LEDGER" in kind or kind == "TRANSACTION"):
        with pytest.raises((errors.MigrationFileError, errors.MigrationFailed),
                           match="transaction control|changes the ledger table"):
            project.migrator().up()
        assert (V1, "applied") in project.query("SELECT version, status FROM duckdb_migrations")
        assert project.query("SELECT count(*) FROM items") == [(1,)]


# -- a failure is reported rolled back only where it is known -----------------------------------------------

ESCAPES = {
    "commit through the raw connection": """
        session.exec("INSERT INTO items VALUES (2, 'b')")
        session._conn.execute("COMMIT")
        raise ValueError("boom")
    """,
    "a cursor of its own": """
        session._conn.cursor().execute("INSERT INTO items VALUES (2, 'b')")
        raise ValueError("boom")
    """,
    "a second connection": """
        import duckdb
        duckdb.connect("app.db").execute("INSERT INTO items VALUES (2, 'b')")
        raise ValueError("boom")
    """,
}


@pytest.mark.parametrize("how", ESCAPES)
@pytest.mark.parametrize("group_seconds", [0, 0.25])
def test_a_failure_after_writes_that_escaped_the_transaction_is_not_called_rolled_back(project, monkeypatch, how,
                                                                                         group_seconds):
    monkeypatch.chdir(project.root)
    items(project)
    project.write(f"{V2}_escape.py", python(ESCAPES[how]), dedent=False)
    with pytest.raises(errors.TransactionLost) as info:
        project.migrator(group_seconds=group_seconds).up()
    assert "nothing of it remains" not in str(info.value)
    assert "cannot tell what of it was committed" in str(info.value) and "boom" in str(info.value)
    assert project.query("SELECT id FROM items ORDER BY id") == [(1,), (2,)]  # what the report warns of


def test_a_failure_whose_writes_all_went_through_the_session_is_rolled_back(project, monkeypatch):
    monkeypatch.chdir(project.root)
    items(project)
    project.write(f"{V2}_plain.py", python("""
        session.exec("INSERT INTO items VALUES (2, 'b')")
        try:
            session.exec("INSERT INTO items VALUES ('not a number', 'c')")
        except Exception:
            pass
        raise ValueError("boom")
    """), dedent=False)
    with pytest.raises(errors.MigrationFailed) as info:
        project.migrator().up()
    assert not isinstance(info.value, errors.TransactionLost)
    assert "rolled back: nothing of it remains" in str(info.value)
    assert project.query("SELECT id FROM items") == [(1,)]


# -- parser errors name their statement's line ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["CREATE TABLE x AS EXECUTE p", "PREPARE p AS DROP TABLE t", "SELEC 2"])
def test_a_parser_error_names_the_failing_statements_line(project, bad):
    project.sql(V1, "bad", f"SELECT 1;\n\nSELECT 2;\n{bad};", "SELECT 1;")
    with pytest.raises(errors.MigrationFileError, match="Error: ") as info:
        project.migrator().up()
    assert info.value.line == 5, str(info.value)


def test_statement_lines_are_counted_in_a_large_section():
    sql = "".join(f"-- {i}\nINSERT INTO t VALUES ({i});\n" for i in range(2_000))
    pieces = sqlfile.split(sql)
    assert len(pieces) == 2_000
    assert pieces[1_999] == (4_000, "INSERT INTO t VALUES (1999)")
