"""Migrations that fight the engine's promises, written as an attacker would.

A migration is atomic with its ledger row, a failure leaves nothing behind and
is recorded, and preview and ``verify --roundtrip`` change nothing: also when
the migration runs COMMIT or ROLLBACK, moves to another database, catches a
failed statement and goes on, exits, or finds the ledger tampered with. Each
test checks the tables, the ledger and the files, not only the exit code.
Ctrl-C with real signals is in test_interrupts.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest
from test_catalogue import state

from duckmig_magic import Migrator, errors
from duckmig_magic.cli import WORDS
from test_migrator import python_file as class_form
from conftest import STATE

V1, V2, V3, V4 = "20250101_000001", "20250102_000002", "20250103_000003", "20250104_000004"
DUCKDB_1 = duckdb.__version__.startswith("1.")


def python_file(project, version: str, slug: str, upgrade: str, downgrade: str = "pass") -> Path:
    """A class-form migration described by its slug; the line of ``upgrade``'s first statement is 9."""
    return class_form(project, version, slug, upgrade, downgrade, description=slug)


@pytest.fixture
def base(project):
    """V1 applied: table t with rows 1, 2, 3."""
    project.sql(V1, "base", "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR);\n"
                "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');", "DROP TABLE t;")
    project.migrator().up()
    return project


def ledger(project) -> list[tuple[str, str]]:
    return project.query(f"SELECT version, status FROM {STATE} ORDER BY version")


def rows(project, table: str = "t") -> list[tuple]:
    return project.query(f"SELECT * FROM {table} ORDER BY ALL")


def without_failure_of(before: dict, after: dict, version: str) -> dict:
    """``after`` with the ledger's record of ``version``'s failure taken out (its row and one event)."""
    for table in ("duckdb_migrations",):
        key = ("main", table)
        sql, found = after["app.db"][key]
        new = [r for r in found if r not in before["app.db"][key][1]]
        assert len(new) == 1 and f"'{version}'" in new[0] and "'failed'" in new[0], new
        after["app.db"][key] = (sql, [r for r in found if r not in new])
    return after


# -- transaction control: refused in a transactional section -----------------------------------------------


REFUSED_SQL = [
    # (command, the pending migration's up section, the line and the statement refused)
    ("preview", "DELETE FROM t;\nROLLBACK;\nDELETE FROM t;", 3, "ROLLBACK"),
    ("preview", "DROP TABLE t;\nEND;", 3, "END"),
    ("verify --roundtrip", "INSERT INTO t VALUES (9, 'z');\nCOMMIT;", 3, "COMMIT"),
    ("up", "INSERT INTO t VALUES (9, 'z');\nCOMMIT;\nSELECT CAST('x' AS INTEGER);", 3, "COMMIT"),
    ("up", "INSERT INTO t VALUES (9, 'z');\nROLLBACK;\nINSERT INTO t VALUES (10, 'y');", 3, "ROLLBACK"),
    ("up", "BEGIN TRANSACTION;\nINSERT INTO t VALUES (9, 'z');", 2, "BEGIN TRANSACTION"),
    ("up", "INSERT INTO t VALUES (9, 'z');\n  abort ;", 3, "abort"),
    ("up", "START TRANSACTION READ ONLY;", 2, "START TRANSACTION READ ONLY"),
    ("up --single-transaction", "INSERT INTO t VALUES (9, 'z');\nCOMMIT WORK;", 3, "COMMIT WORK"),
    ("sql", "COMMIT;", 2, "COMMIT"),
]


@pytest.mark.parametrize("command, up, line, statement", REFUSED_SQL,
                         ids=[f"{c}: {s}" for c, _, _, s in REFUSED_SQL])
def test_transaction_control_in_a_sql_file_is_refused_before_the_run_starts(base, cli, command, up, line,
                                                                           statement):
    base.sql(V2, "ok", "INSERT INTO t VALUES (4, 'd');", "DELETE FROM t WHERE id = 4;")
    path = base.sql(V3, "fights", up, "SELECT 1;")
    before = state(base.root)
    r = cli(*command.split(), "-d", "app.db", "--dir", "migrations")
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith(f"duckmig: error: migrations/versions/{path.name}:{line}: `{statement}`: transaction "
                            "control (BEGIN, COMMIT, ROLLBACK, ABORT, END) is refused in a migration that runs in "
                            "a transaction"), r.err
    assert "transaction:false" in r.err
    assert state(base.root) == before  # not even the migration before it ran
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")]


def test_transaction_control_in_a_downgrade_is_refused_before_anything_is_reverted(base, cli):
    path = base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    base.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    assert cli("up", "-d", "app.db").code == 0
    # The downgrade is edited to commit half-way, and stored by repair as the author intends.
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;\nCOMMIT;\nSELECT 1;")
    assert cli("repair", "-d", "app.db").code == 0
    before = state(base.root)
    r = cli("down", V1, "-d", "app.db")
    assert r.code == 2
    assert f"{path.name}:" in r.err and ": `COMMIT`: transaction control" in r.err
    assert state(base.root) == before
    assert ledger(base) == [(V1, "applied"), (V2, "applied"), (V3, "applied")]


def test_transaction_control_runs_as_written_in_a_transaction_false_section_and_is_recorded(base):
    base.sql(V2, "own", "BEGIN;\nINSERT INTO t VALUES (4, 'd');\nCOMMIT;\nINSERT INTO t VALUES (5, 'e');",
             options="transaction:false")
    m = base.migrator()
    [result] = m.up()
    assert result.statements == 4
    assert rows(base)[-2:] == [(4, "d"), (5, "e")]
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]
    assert m.history(V2)[-1].detail == "transaction:false; it ran its own transaction control: BEGIN, COMMIT"


def test_a_transaction_false_section_that_leaves_its_transaction_open_fails_and_it_is_rolled_back(base):
    base.sql(V2, "open", "INSERT INTO t VALUES (4, 'd');\nBEGIN;\nINSERT INTO t VALUES (5, 'e');",
             options="transaction:false")
    m = base.migrator()
    with pytest.raises(errors.MigrationFailed) as info:
        m.up()
    assert (info.value.version, info.value.statement, info.value.partial) == (V2, "BEGIN", True)
    assert "ends inside a transaction it began (BEGIN without COMMIT)" in info.value.error
    assert rows(base)[-1] == (4, "d")  # committed before its BEGIN; what came after was rolled back
    assert ledger(base) == [(V1, "applied"), (V2, "failed")]


PYTHON_CONTROL = ["COMMIT", "ROLLBACK", "BEGIN", "END", "ABORT", "COMMIT; SELECT 1"]


@pytest.mark.parametrize("statement", PYTHON_CONTROL)
def test_transaction_control_in_a_python_migration_raises_inside_it_and_fails_it(base, statement):
    path = python_file(base, V2, "commits", f"""
        session.exec("INSERT INTO t VALUES (4, 'd')")
        session.exec({statement!r})
        session.exec("INSERT INTO t VALUES (5, 'e')")
    """)
    before = state(base.root)
    with pytest.raises(errors.MigrationFailed) as info:
        base.migrator().up()
    exc = info.value
    first = statement.split(";")[0]
    assert (exc.version, exc.statement, exc.where) == (V2, first, f"{path.name}:10")
    assert exc.error.startswith(f"`{first}`: transaction control (BEGIN, COMMIT, ROLLBACK, ABORT, END) is refused")
    assert "rolled back: nothing of it remains" in str(exc)
    assert without_failure_of(before, state(base.root), V2) == before
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")]


def test_a_python_migration_that_catches_the_refusal_still_fails(base):
    python_file(base, V2, "sneaky", """
        session.exec("INSERT INTO t VALUES (4, 'd')")
        try:
            session.exec("COMMIT")
        except Exception:
            pass
        session.exec("INSERT INTO t VALUES (5, 'e')")
    """)
    with pytest.raises(errors.MigrationFailed, match="`COMMIT`: transaction control") as info:
        base.migrator().up()
    assert info.value.where.endswith(":11")
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")]
    assert ledger(base) == [(V1, "applied"), (V2, "failed")]


def test_commit_in_a_python_downgrade_is_refused_and_the_migration_stays_applied(base):
    python_file(base, V2, "two", 'session.exec("CREATE TABLE two (x INTEGER)")',
                'session.exec("DROP TABLE two")\nsession.exec("COMMIT")\nsession.exec("DROP TABLE t")')
    m = base.migrator()
    m.up()
    with pytest.raises(errors.MigrationFailed, match="reverting 20250102_000002 failed: `COMMIT`"):
        m.down()
    assert base.tables() >= {"t", "two"}
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]


def test_commit_in_a_single_transaction_run_commits_none_of_the_migrations_before_it(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);")
    python_file(project, V3, "commits", 'session.exec("CREATE TABLE three (x INTEGER)")\nsession.exec("COMMIT")')
    with pytest.raises(errors.MigrationFailed) as info:
        project.migrator().up(single_transaction=True)
    assert (info.value.version, info.value.group) == (V3, 2)
    assert project.tables() == {"duckdb_migrations"}
    assert ledger(project) == [(V3, "failed")]


def test_a_commit_that_bypasses_the_session_is_caught_and_never_reported_as_rolled_back(base, cli):
    # The transaction is ended on the connection itself: the engine cannot know what was committed,
    # so it says so, and never "rolled back" or "unchanged".
    python_file(base, V2, "backdoor", """
        session.exec("INSERT INTO t SELECT max(id) + 1, 'x' FROM t")
        session._conn.execute("COMMIT")
        session.exec("INSERT INTO t SELECT max(id) + 1, 'y' FROM t")
    """)
    r = cli("preview", "-d", "app.db")
    assert r.code == 1 and "unchanged" not in r.out + r.err and "rolled back" not in r.err
    assert "its transaction ended before duckmig committed it" in r.err
    assert "duckmig cannot tell what of it was committed: check the database" in r.err
    assert rows(base)[3:] == [(4, "x"), (5, "y")]  # the back door committed them, as the message warned
    r = cli("up", "-d", "app.db")
    assert r.code == 1 and "rolled back" not in r.err and "cannot tell what of it was committed" in r.err
    assert ledger(base) == [(V1, "applied"), (V2, "failed")]
    assert rows(base)[3:] == [(4, "x"), (5, "y"), (6, "x"), (7, "y")]


# -- the ledger stays in the database and schema the run started in ----------------------------------------


def test_a_migration_that_moves_to_another_database_cannot_move_the_ledger(base, cli):
    base.sql(V2, "visits", "ATTACH 'other.db' AS arch;\nUSE arch;\nSELECT count(*) FROM duckdb_tables();",
             "SELECT 1;")
    base.sql(V3, "after", "CREATE TABLE after_move (x INTEGER);", "DROP TABLE after_move;")
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (0, "applied 2 migrations\n"), r.err
    assert ledger(base) == [(V1, "applied"), (V2, "applied"), (V3, "applied")]
    assert "after_move" in base.tables()  # the next migration ran back in app.db
    with duckdb.connect(str(base.root / "other.db")) as other:
        assert other.execute("SELECT table_name FROM duckdb_tables()").fetchall() == []
    assert cli("up", "-d", "app.db").out == "nothing to apply\n"


def test_a_migration_that_writes_to_another_database_fails_with_an_error_that_says_so(base, cli):
    base.sql(V2, "elsewhere", "ATTACH 'other.db' AS arch;\nUSE arch;\nCREATE TABLE x (i INTEGER);")
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    assert 'Attempting to write to database "app" in a transaction that has already modified database "arch"' \
        in r.err
    assert "hint: a migration's transaction writes to one database only, the one its ledger is in" in r.err
    after = state(base.root)
    with duckdb.connect(str(base.root / "other.db")) as other:  # created by ATTACH, left empty
        assert other.execute("SELECT table_name FROM duckdb_tables()").fetchall() == []
    del after["other.db"]
    assert without_failure_of(before, after, V2) == before


def test_a_migration_writing_to_two_databases_fails_at_the_second(base):
    base.sql(V2, "two", f"ATTACH '{base.root / 'other.db'}' AS arch;\nCREATE TABLE arch.x (i INTEGER);\n"
                        "INSERT INTO t VALUES (4, 'd');")
    with pytest.raises(errors.MigrationFailed) as info:
        base.migrator().up()
    assert info.value.statement == "INSERT INTO t VALUES (4, 'd')"
    assert "a single transaction can only write to a single attached database" in info.value.error
    assert "writes to one database only" in info.value.hint
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")] and ledger(base) == [(V1, "applied"), (V2, "failed")]


def test_a_users_connection_keeps_its_current_database_and_the_ledger_stays_where_it_was_connected(base, cli):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nUSE scratch;", "DROP TABLE two;")
    conn = duckdb.connect(str(base.db))
    try:
        m = Migrator(conn, str(base.directory))
        conn.execute(f"ATTACH '{base.root / 'scratch.db'}' AS scratch")
        conn.execute("USE scratch")
        assert [r.version for r in m.up()] == [V2]
        assert conn.execute("SELECT current_database(), current_setting('search_path')").fetchone() == (
            "scratch", "scratch.main")
        assert conn.execute("SELECT database_name, table_name FROM duckdb_tables() ORDER BY ALL").fetchall() == [
            ("app", "duckdb_migrations"), ("app", "t"), ("app", "two")]
        assert [s.state for s in m.status()] == ["applied", "applied"]
        conn.execute("USE app")
        m.down()
        assert conn.execute("SELECT current_database()").fetchone() == ("app",)
        m.up()
    finally:
        conn.close()
    assert cli("up", "-d", "app.db").out == "nothing to apply\n"  # one ledger: the command sees it all applied
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]


def test_in_a_notebook_use_of_another_database_does_not_make_a_second_ledger(base, shell, capsys):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    shell.run_cell(f"import duckdb\ncon = duckdb.connect({str(base.db)!r})")
    shell.run_line_magic("migrate", "connect con")
    shell.run_cell(f"con.execute(\"ATTACH '{base.root / 'scratch.db'}' AS scratch\")\ncon.execute('USE scratch')")
    result = shell.run_cell("%migrate up")
    assert result.error_in_exec is None
    con = shell.user_ns["con"]
    assert con.execute("SELECT current_database()").fetchone() == ("scratch",)
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'scratch'").fetchone() == (0,)
    con.close()
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]


@pytest.mark.parametrize("move", ["USE app.other", "SET schema = 'other'"])
def test_a_users_connection_in_another_schema_keeps_the_ledger_and_migrations_in_main(base, cli, move):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    conn = duckdb.connect(str(base.db))
    try:
        conn.execute("CREATE SCHEMA other")
        conn.execute(move)
        m = Migrator(conn, str(base.directory))
        assert [r.version for r in m.up()] == [V2]
        assert conn.execute("SELECT current_schema()").fetchone() == ("other",)  # put back as it was
        assert [s.state for s in m.status()] == ["applied", "applied"]
    finally:
        conn.close()
    assert base.query("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL") == [
        ("main", "duckdb_migrations"), ("main", "t"), ("main", "two")]
    assert cli("up", "-d", "app.db").out == "nothing to apply\n"  # the command line sees what the notebook did
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]


def test_a_ledger_an_older_run_left_in_another_schema_is_kept_where_it_is(base, cli):
    base.query("CREATE SCHEMA other; CREATE TABLE other.duckdb_migrations AS FROM duckdb_migrations; "
               "DROP TABLE main.duckdb_migrations")
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (0, "applied 1 migration\n"), r.err
    assert base.query("SELECT version, status FROM other.duckdb_migrations ORDER BY seq") == [
        (V1, "applied"), (V2, "applied")]
    assert base.query("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY ALL") == [
        ("main", "t"), ("main", "two"), ("other", "duckdb_migrations")]


# -- a failed statement that the migration catches: a savepoint by replay ---------------------------------


PROBE = """
    session.exec(text("INSERT INTO t VALUES (4, 'd')"))
    try:
        session.exec(text("SELECT tenant_id FROM t LIMIT 1"))
    except Exception:
        session.exec(text("ALTER TABLE t ADD COLUMN tenant_id INTEGER DEFAULT 0"))
    session.exec(text("UPDATE t SET tenant_id = 7 WHERE id = 4"))
    session.commit()
"""


def probe_file(project, version: str = V2) -> Path:
    """The seed's probe pattern, with SQLAlchemy's text() as its migrations write it."""
    down = 'session.exec("DELETE FROM t WHERE id = 4")\nsession.exec("ALTER TABLE t DROP COLUMN tenant_id")'
    path = python_file(project, version, "tenant", PROBE, down)
    path.write_text("from sqlalchemy import text\n" + path.read_text())
    return path


def test_the_seeds_probe_pattern_runs_unchanged_and_atomically(base, cli):
    probe_file(base)
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (0, "applied 1 migration\n")
    assert r.err.startswith(f"[1/1] applying {V2} tenant ... ok (") and r.err.endswith(" ms, 1 replay)\n"), r.err
    assert rows(base) == [(1, "a", 0), (2, "b", 0), (3, "c", 0), (4, "d", 7)]  # the insert before, once
    assert ledger(base) == [(V1, "applied"), (V2, "applied")]
    r = cli("up", "-d", "app.db", "--json")
    assert r.out == "[]\n"


def test_replays_are_counted_in_the_result_preview_and_roundtrip(base, cli):
    probe_file(base)
    m = base.migrator()
    before = state(base.root)
    p = m.preview()
    assert (p.ok, p.replays) == (True, 1)
    assert p.table("t").added == 1
    r = cli("preview", "-d", "app.db")
    assert r.out.splitlines()[0] == f"preview of {V2} (rolled back: the database is unchanged; 1 replay)"
    report = m.verify(roundtrip=True)
    assert (report.ok, report.roundtrip, report.replays) == (True, [V2], 2)  # the probe runs up twice
    assert state(base.root) == before
    [result] = m.up()
    assert (result.statements, result.replays) == (3, 1)  # the failed probe is not counted


def test_an_uncaught_failure_after_a_replay_is_reported_as_its_own_statement(base):
    path = python_file(base, V2, "twice", """
        session.exec("INSERT INTO t VALUES (4, 'd')")
        try:
            session.exec("SELECT CAST('x' AS INTEGER)")
        except Exception:
            pass
        session.exec("INSERT INTO nope VALUES (1)")
    """)
    before = state(base.root)
    with pytest.raises(errors.MigrationFailed) as info:
        base.migrator().up()
    exc = info.value
    assert (exc.statement, exc.where) == ("INSERT INTO nope VALUES (1)", f"{path.name}:14")
    assert exc.error.startswith("Catalog Error: Table with name nope does not exist!")
    assert "aborted" not in str(exc)
    assert without_failure_of(before, state(base.root), V2) == before


def test_an_uncaught_failure_names_the_statement_duckdb_refused_and_the_python_line(base, cli):
    path = python_file(base, V2, "probe", """
        session.exec("INSERT INTO t VALUES (4, 'd')")
        session.exec("SELECT tenant_id FROM t")
        session.exec("ALTER TABLE t ADD COLUMN tenant_id INTEGER")
    """)
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    assert f"applying {V2} failed: Binder Error: Referenced column \"tenant_id\" not found" in r.err
    assert "  statement: SELECT tenant_id FROM t\n" in r.err and f"  at: {path.name}:10\n" in r.err
    assert "aborted" not in r.err
    status = cli("status", "-d", "app.db").out
    assert "statement: SELECT tenant_id FROM t" in status and f"(at {path.name}:10)" in status


def test_a_replay_does_not_restore_sequences_or_volatile_values_as_documented(base):
    # DuckDB does not roll sequences back, and the replay runs each statement a second time.
    base.sql(V2, "seq", "CREATE SEQUENCE ids START 1;")
    base.migrator().up()
    python_file(base, V3, "volatile", """
        session.exec("CREATE TABLE r (id INTEGER, x DOUBLE)")
        first = session.exec("INSERT INTO r SELECT nextval('ids'), random() RETURNING id, x").fetchone()
        try:
            session.exec("SELECT CAST('x' AS INTEGER)")
        except Exception:
            pass
        session.exec("CREATE TABLE seen AS SELECT ? AS id, ? AS x", list(first))
    """)
    [result] = base.migrator().up()
    assert result.replays == 1
    (seen_id, seen_x), = rows(base, "seen")
    (kept_id, kept_x), = rows(base, "r")
    assert (seen_id, kept_id) == (1, 2)  # the replayed INSERT took the sequence's next value
    assert kept_x != seen_x  # and random() gave another value than the one the migration saw
    assert base.query("SELECT nextval('ids')") == [(3,)]


def test_a_replay_repeats_side_effects_outside_the_database_as_documented(base):
    out = base.root / "out.csv"
    python_file(base, V2, "exports", f"""
        session.exec("COPY t TO {out.as_posix()!r} (HEADER false)")
        import os
        os.remove({str(out)!r})  # someone took the file away
        try:
            session.exec("SELECT CAST('x' AS INTEGER)")
        except Exception:
            pass
    """)
    [result] = base.migrator().up()
    assert result.replays == 1
    assert out.read_text() == "1,a\n2,b\n3,c\n"  # the replayed COPY wrote it again


def test_a_replay_that_cannot_run_again_fails_the_migration_and_says_why(base):
    (base.root / "data.csv").write_text("id,v\n4,d\n")
    python_file(base, V2, "gone", f"""
        session.exec("INSERT INTO t SELECT * FROM read_csv({str(base.root / 'data.csv')!r})")
        import os
        os.remove({str(base.root / 'data.csv')!r})
        try:
            session.exec("SELECT CAST('x' AS INTEGER)")
        except Exception:
            pass
        session.exec("INSERT INTO t VALUES (5, 'e')")
    """)
    with pytest.raises(errors.MigrationFailed) as info:
        base.migrator().up()
    exc = info.value
    assert exc.statement.startswith("INSERT INTO t SELECT * FROM read_csv(")
    assert "bringing the transaction back to before it, this earlier statement failed on its second run" in exc.error
    assert exc.error.startswith("Conversion Error: Could not convert string 'x' to INT32 "
                                "(in `SELECT CAST('x' AS INTEGER)`)")
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")] and ledger(base) == [(V1, "applied"), (V2, "failed")]


# -- exits and other BaseExceptions raised by a migration ------------------------------------------------


EXITS = [
    ("sys.exit(0)", "import sys\nsys.exit(0)", "SystemExit: 0"),
    ("sys.exit(3)", "import sys\nsys.exit(3)", "SystemExit: 3"),
    ("KeyboardInterrupt", "raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("GeneratorExit", "raise GeneratorExit('closed')", "GeneratorExit: closed"),
    ("BaseException", "raise BaseException('stop')", "BaseException: stop"),
]


@pytest.mark.parametrize("code, message", [e[1:] for e in EXITS], ids=[e[0] for e in EXITS])
def test_an_exit_or_base_exception_in_a_migration_is_a_failure_of_it(base, cli, code, message):
    python_file(base, V2, "exits", f'session.exec("INSERT INTO t VALUES (4, \'d\')")\n{code}')
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (1, "")
    assert f"duckmig: error: applying {V2} failed: {message} (raised by the migration itself: it cannot exit or " \
           "stop the run, so it failed)" in r.err
    assert "Traceback" not in r.err
    assert without_failure_of(before, state(base.root), V2) == before


# -- a ledger that is not as the engine wrote it: a named error, and nothing changes ----------------------


LEGACY = "CREATE TABLE duckdb_migrations (id INTEGER, version VARCHAR, description VARCHAR, applied_at TIMESTAMP);\n"
TAMPERED = [
    # (name, SQL run on the database, the error, what it says)
    ("ledger without the column that orders its events",
     "ALTER TABLE duckdb_migrations DROP COLUMN seq",
     errors.ConfigError, "table duckdb_migrations exists but is not a duckmig ledger"),
    ("extra NOT NULL column",
     "ALTER TABLE duckdb_migrations ADD COLUMN owner VARCHAR DEFAULT 'me'; "
     "ALTER TABLE duckdb_migrations ALTER COLUMN owner DROP DEFAULT; "
     "ALTER TABLE duckdb_migrations ALTER COLUMN owner SET NOT NULL",
     errors.ConfigError, "ledger duckdb_migrations has NOT NULL column that duckmig does not write: owner"),
    ("status outside the closed set",
     f"UPDATE duckdb_migrations SET status = 'APPLIED' WHERE version = '{V1}'",
     errors.ConfigError, f"has rows whose status duckmig does not know: 'APPLIED' ({V1}); the statuses "
                         "are 'applied', 'failed' and 'pending'"),
    ("legacy ledger with a duplicate version",
     "DROP TABLE duckdb_migrations; DROP TABLE t; " + LEGACY
     + f"INSERT INTO duckdb_migrations VALUES (1, '{V1}', 'a', now()), (2, '{V1}', 'b', now())",
     errors.ConfigError, f"(the seed's layout) records version {V1} more than once"),
    ("legacy ledger with a NULL version",
     "DROP TABLE duckdb_migrations; DROP TABLE t; " + LEGACY
     + f"INSERT INTO duckdb_migrations VALUES (1, '{V1}', 'a', now()), (2, NULL, 'b', now())",
     errors.ConfigError, "(the seed's layout) has 1 row without a version"),
]


@pytest.mark.parametrize("command", ["status", "up", "down"])
@pytest.mark.parametrize("sql, error, says", [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED])
def test_a_tampered_ledger_gets_a_named_error_and_nothing_changes(base, cli, command, sql, error, says):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    with duckdb.connect(str(base.db)) as conn:
        conn.execute(sql)
    before = state(base.root)
    with pytest.raises(error) as raised:
        getattr(base.migrator(), command)()
    assert says in str(raised.value) and raised.value.hint
    r = cli(command, "-d", "app.db")
    assert (r.code, r.out, r.err) == (2, "", f"duckmig: error: {raised.value.render(WORDS)}\n")
    assert state(base.root) == before


LEDGER_WRITES = [
    ("DROP TABLE duckdb_migrations;", "duckdb_migrations"),
    ("DELETE FROM duckdb_migrations_history;", "duckdb_migrations_history"),
    ("UPDATE main.duckdb_migrations SET status = 'failed';", "duckdb_migrations"),
    ('ALTER TABLE "DUCKDB_MIGRATIONS" ADD COLUMN x INTEGER;', "duckdb_migrations"),
    ("TRUNCATE duckdb_migrations_history;", "duckdb_migrations_history"),
    ("CREATE OR REPLACE TABLE duckdb_migrations AS SELECT 1 AS x;", "duckdb_migrations"),
]


@pytest.mark.parametrize("statement, table", LEDGER_WRITES, ids=[s for s, _ in LEDGER_WRITES])
def test_a_sql_migration_that_changes_the_ledger_is_refused_before_it_runs(base, cli, statement, table):
    path = base.sql(V2, "tamper", f"INSERT INTO t VALUES (4, 'd');\n{statement}")
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith(f"duckmig: error: migrations/versions/{path.name}:3: `{statement[:-1]}` changes the "
                            f"ledger table {table}: a migration may read the ledger tables but not change them")
    assert state(base.root) == before


def test_a_python_migration_that_changes_the_ledger_fails_and_the_ledger_is_intact(base):
    path = python_file(base, V2, "tamper", """
        session.exec("INSERT INTO t VALUES (4, 'd')")
        try:
            session.exec("DELETE FROM duckdb_migrations")
        except Exception:
            pass
    """)
    before = state(base.root)
    with pytest.raises(errors.MigrationFailed) as info:
        base.migrator().up()
    assert info.value.where == f"{path.name}:11"
    assert info.value.error.startswith("`DELETE FROM duckdb_migrations` changes the ledger table duckdb_migrations")
    assert without_failure_of(before, state(base.root), V2) == before


def test_a_migration_may_read_the_ledger(base):
    base.sql(V2, "reads", "CREATE TABLE seen AS SELECT version FROM duckdb_migrations;\n"
                          "CREATE VIEW last AS SELECT * FROM t JOIN duckdb_migrations m ON m.version = t.v;")
    base.migrator().up()
    assert rows(base, "seen") == [(V1,)]


def test_the_ledger_rule_follows_the_ledgers_name(project):
    project.sql(V1, "mine", "CREATE TABLE duckdb_migrations (x INTEGER);\nDROP TABLE duckdb_migrations;")
    project.sql(V2, "drops", "DROP TABLE ledger;")
    m = project.migrator(table="ledger")
    with pytest.raises(errors.MigrationFileError, match="`DROP TABLE ledger` changes the ledger table ledger"):
        m.up()
    assert not project.db.exists()
    assert [r.version for r in m.up(V1)] == [V1]
    assert project.tables() == {"ledger"}


def test_a_users_connection_used_by_another_thread_at_the_same_time(base):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nINSERT INTO two VALUES (1);", "DROP TABLE two;")
    before = state(base.root)
    conn = duckdb.connect(str(base.db))
    busy = threading.Event()
    other: list = []

    def another_thread():
        busy.set()
        try:
            other.append(conn.execute("SELECT sum(hash(range)) FROM range(400000000)").fetchone())
        except duckdb.Error as exc:
            other.append(exc)

    def progress(event, *_):
        if event == "start":  # the user's other thread takes the connection as the migration starts
            threading.Thread(target=another_thread).start()
            busy.wait()
            threading.Event().wait(0.3)  # its query runs now (for about two seconds)

    try:
        m = Migrator(conn, str(base.directory), progress=progress)
        if DUCKDB_1:  # DuckDB 1.x makes one call wait for the other: both work, one after the other
            assert [r.version for r in m.up()] == [V2]
        else:  # DuckDB 2.x refuses a call while another runs: duckmig stops, and changes nothing
            with pytest.raises(errors.ConnectionBusy) as info:
                m.up()
            assert str(info.value).startswith("the connection is in use by another thread at the same time")
        while not other:
            threading.Event().wait(0.05)
        conn.execute("BEGIN")  # no transaction of the engine's was left open on it
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    if DUCKDB_1:
        assert ledger(base) == [(V1, "applied"), (V2, "applied")] and rows(base, "two") == [(1,)]
    else:
        assert state(base.root) == before


# -- redo keeps the rules of up ------------------------------------------------------------------------


def test_redo_refuses_an_older_pending_migration_as_up_does(base, cli):
    base.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    assert cli("up", "-d", "app.db").code == 0
    base.sql(V2, "late", "DELETE FROM t;", "SELECT 1;")  # older than V3, and pending
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert r.code == 3 and f"pending {V2} older than the newest applied migration {V3}" in r.err
    r = cli("redo", "-d", "app.db")
    assert (r.code, r.out) == (3, "")
    assert r.err == f"duckmig: error: pending {V2} older than the newest applied migration {V3}\n" \
                    "  hint: apply them anyway with --out-of-order, or give them newer versions\n"
    assert state(base.root) == before
    r = cli("redo", "--out-of-order", "-d", "app.db")  # the flag lets the redo go on; V2 stays pending
    assert (r.code, r.out) == (0, f"redid {V3}\n")
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")]
    assert ledger(base) == [(V1, "applied"), (V3, "applied")]


def test_redo_refuses_drift_of_other_migrations_as_up_does(base, cli):
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    assert cli("up", "-d", "app.db").code == 0
    base.sql(V1, "base", "CREATE TABLE t (id INTEGER PRIMARY KEY, v VARCHAR);", "DROP TABLE t;")  # edited
    before = state(base.root)
    r = cli("redo", "-d", "app.db")
    assert r.code == 3 and f"applied migrations differ from their files: {V1} (modified)" in r.err
    assert state(base.root) == before
    assert cli("redo", "--allow-drift", "-d", "app.db").out == f"redid {V2}\n"
    # Editing the newest migration's own file is what redo is for: not drift.
    base.sql(V2, "two", "CREATE TABLE two (x INTEGER, y INTEGER);", "DROP TABLE two;")
    assert cli("redo", "--allow-drift", "-d", "app.db").out == f"redid {V2}\n"
    assert base.query("SELECT count(*) FROM duckdb_columns() WHERE table_name = 'two'") == [(2,)]


# -- DuckDB's commit refusals, each with the hint that fits its cause --------------------------------------


def test_a_write_conflict_at_commit_says_so(base, cli):
    python_file(base, V2, "conflict", f"""
        session.exec("UPDATE t SET v = 'z' WHERE id = 1")
        import duckdb
        with duckdb.connect({str(base.db)!r}) as other:  # another connection, in this process
            other.execute("ALTER TABLE t ADD COLUMN w INTEGER")
    """)
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    message, hint = r.err.split("\n  hint: ")
    assert f"duckmig: error: DuckDB could not commit {V2}: " in message and "another transaction has altered" \
        in message
    assert hint.startswith("another connection changed the same table while this ran and committed first")
    assert rows(base) == [(1, "a", None), (2, "b", None), (3, "c", None)]
    assert ledger(base) == [(V1, "applied")]


def test_a_read_only_folder_at_commit_says_so(base, cli):
    python_file(base, V2, "readonly", f"""
        session.exec("INSERT INTO t VALUES (4, 'd')")
        import subprocess
        subprocess.run(["chattr", "+i", {str(base.root)!r}], check=True)  # no WAL file can be created now
    """)
    if subprocess.run(["chattr", "+i", str(base.root)], capture_output=True).returncode:
        pytest.skip("the folder is made read-only with chattr +i, which this file system or user cannot")
    subprocess.run(["chattr", "-i", str(base.root)], check=True)
    try:
        r = cli("up", "-d", "app.db")
    finally:
        subprocess.run(["chattr", "-i", str(base.root)], check=True)
    assert r.code == 1
    message, hint = r.err.split("\n  hint: ")
    assert f"DuckDB could not commit {V2}: " in message and "Operation not permitted" in message
    assert hint.startswith("make the database file and its folder writable")
    assert rows(base) == [(1, "a"), (2, "b"), (3, "c")] and ledger(base) == [(V1, "applied")]


def test_a_full_disk_at_commit_says_so(base, cli, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    size = base.db.stat().st_size + 64 * 1024
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(full)],
                      capture_output=True).returncode:
        pytest.skip("a full disk is a tmpfs, and mounting one needs root")
    try:
        (full / "app.db").write_bytes(base.db.read_bytes())
        base.sql(V2, "big", "INSERT INTO t SELECT range + 10, 'x' FROM range(200000);")
        r = cli("up", "-d", str(full / "app.db"))
        assert r.code == 1
        message, hint = r.err.split("\n  hint: ")
        assert "No space left on device" in message or "Could not write" in message
        assert hint.startswith("make room on the disk")
        with duckdb.connect(str(full / "app.db")) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (3,)
    finally:
        subprocess.run(["umount", str(full)], check=True)


# -- the ledger checked by effect: a migration may read it, not change it ---------------------------------
# Each migration reaches the ledger around the statement checks (through the session's connection, or a
# statement prepared earlier), as an attacker would; the check at the end of its transaction finds it.


def test_a_migration_that_deletes_ledger_events_fails_and_is_rolled_back(base, cli):
    python_file(base, V2, "erase", """
        session.exec("INSERT INTO t VALUES (4, 'd')")
        session._conn.execute("DELETE FROM duckdb_migrations")
    """)
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert r.code == 1, r.err
    assert (f"duckmig: error: applying {V2} failed: it changed the ledger duckdb_migrations: 1 event (the newest "
            "seq 1) when it began, 0 events at its end\n  rolled back: nothing of it remains\n  hint: a migration may "
            "read duckdb_migrations, not change it") in r.err
    assert "Traceback" not in r.err
    assert without_failure_of(before, state(base.root), V2) == before
    assert ledger(base) == [(V1, "applied"), (V2, "failed")]


def test_a_migration_that_rewrites_a_ledger_event_in_place_fails(base, cli):
    python_file(base, V2, "forge", """
        session._conn.execute("UPDATE duckdb_migrations SET checksum = 'forged'")
    """)
    before = state(base.root)
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    assert f"applying {V2} failed: it changed the ledger duckdb_migrations: 1 event (the newest seq 1) when it " \
           "began, 1 event (the newest seq 1), rewritten at its end" in r.err
    assert without_failure_of(before, state(base.root), V2) == before
    assert base.query("SELECT count(*) FROM duckdb_migrations WHERE checksum = 'forged'") == [(0,)]


def test_a_downgrade_that_changes_the_ledger_fails_and_stays_applied(base, cli):
    python_file(base, V2, "undo", "session.exec('CREATE TABLE two (x INTEGER)')", """
        session.exec("DROP TABLE two")
        session._conn.execute("INSERT INTO duckdb_migrations SELECT * REPLACE (seq + 100 AS seq) FROM duckdb_migrations")
    """)
    assert cli("up", "-d", "app.db").code == 0
    before = state(base.root)
    r = cli("down", "-d", "app.db")
    assert r.code == 1
    assert f"reverting {V2} failed: it changed the ledger duckdb_migrations: 2 events (the newest seq 2) when it " \
           "began, 4 events (the newest seq 102) at its end" in r.err
    assert "two" in base.tables() and ledger(base) == [(V1, "applied"), (V2, "applied")]
    after = state(base.root)
    key = ("main", "duckdb_migrations")
    new = [r for r in after["app.db"][key][1] if r not in before["app.db"][key][1]]
    assert len(new) == 1 and "'failed'" in new[0] and "revert failed: it changed the ledger" in new[0]  # still applied
    after["app.db"][key] = before["app.db"][key]
    assert after == before


def test_a_section_outside_a_transaction_that_would_change_the_ledger_is_refused_before_it_runs(base, cli):
    # A statement prepared by one migration, run by the next outside a transaction, where nothing could roll it
    # back: EXECUTE is judged by the statement it runs, so the section is refused before that statement runs.
    python_file(base, V2, "prepare", 'session._conn.execute("PREPARE p AS DELETE FROM duckdb_migrations '
                                     f"WHERE version = '{V1}'\")")
    base.sql(V3, "run_it", "EXECUTE p;", options="transaction:false")
    r = cli("up", "-d", "app.db")
    assert r.code == 1
    assert (f"applying {V3} failed: `EXECUTE p` changes the ledger table duckdb_migrations (EXECUTE runs the "
            "statement prepared as p") in r.err
    assert ledger(base) == [(V1, "applied"), (V2, "applied"), (V3, "failed")]  # nothing of the ledger was deleted
