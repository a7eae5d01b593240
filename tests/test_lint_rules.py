"""Every lint rule, against real DuckDB: the trap springs (DuckDB refuses, or data is lost) on the
releases where the rule fires and not on the others, so a fix in DuckDB fails a test here; the rule
fires on the trap; and a statement that looks alike neither springs anything nor fires the rule.

Marked ``versions``: ``make test`` runs this file on duckdb 1.5.5 as well as on the newest."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

from duckmig_magic import Migrator
from duckmig_magic.engine.lint import BY_ID, RULES, duckdb_version

pytestmark = pytest.mark.versions

VERSION = duckdb_version()
IDX = "CREATE TABLE t(id INT, a INT, b VARCHAR); CREATE INDEX t_a ON t(a); INSERT INTO t VALUES (1, 1, '7')"
ONE = "CREATE TABLE t(a INT); INSERT INTO t VALUES (1)"
FK = ("CREATE TABLE p(id INT PRIMARY KEY); INSERT INTO p VALUES (1); CREATE TABLE c(a INT REFERENCES p(id)); "
      "INSERT INTO c VALUES (1)")


def case(rule, setup, up, trap, near, near_setup=None):
    return pytest.param(rule, setup, up, trap, near_setup or setup, near, id=rule)


# (rule, the live database, the migration, what DuckDB does to it where the rule holds, a look-alike)
# trap: ("refuses", words of DuckDB's message) or ("breaks", a query that then fails) or
# ("gives", a query, what it then returns).
CASES = [
    case("DM101", IDX, ["ALTER TABLE t RENAME COLUMN b TO c"], ("refuses", "Cannot alter entry"),
         ["ALTER TABLE t ADD COLUMN c INT"]),
    case("DM102", IDX, ["DROP INDEX t_a", "ALTER TABLE t ALTER a TYPE BIGINT"], ("refuses", "an index depends on it"),
         ["DROP INDEX t_a", "ALTER TABLE t ALTER id TYPE BIGINT"]),
    case("DM103", "CREATE TABLE t(id INT PRIMARY KEY, b INT)", ["ALTER TABLE t ALTER id TYPE BIGINT"],
         ("refuses", "Cannot change the type"), ["ALTER TABLE t ALTER b TYPE BIGINT"]),
    case("DM104", "CREATE TABLE t(a INT, b INT, CHECK (a < b))", ["ALTER TABLE t DROP COLUMN b"],
         ("refuses", "CHECK constraint"), ["ALTER TABLE t DROP COLUMN b"],
         near_setup="CREATE TABLE t(a INT, b INT CHECK (b > 0))"),
    case("DM105", ONE, ["UPDATE t SET a = 2", "ALTER TABLE t ADD COLUMN b INT"], ("refuses", "Failed to commit"),
         ["INSERT INTO t VALUES (2)", "ALTER TABLE t ADD COLUMN b INT"]),
    case("DM106", ONE, ["ALTER TABLE t ADD COLUMN b DOUBLE DEFAULT random()",
                        "ALTER TABLE t ADD COLUMN c DOUBLE DEFAULT random()"], ("refuses", "Failed to commit"),
         ["ALTER TABLE t ADD COLUMN c DOUBLE DEFAULT 1.0", "ALTER TABLE t ADD COLUMN b DOUBLE DEFAULT random()",
          "ALTER TABLE t RENAME a TO z"]),
    case("DM107", ONE, ["ALTER TABLE t ADD CHECK (a > 0)"], ("refuses", "Not implemented"),
         ["ALTER TABLE t ADD PRIMARY KEY (a)"]),
    case("DM108", ONE, ["ALTER TABLE t ADD UNIQUE (a)"], ("refuses", "No support for that ALTER TABLE option"),
         ["CREATE UNIQUE INDEX u ON t(a)"]),
    case("DM109", ONE, ["ALTER TABLE t ADD COLUMN b INT CHECK (b > 0)"], ("refuses", "constraints"),
         ["ALTER TABLE t ADD COLUMN b INT DEFAULT 1"]),
    case("DM110", ONE, ["ALTER TABLE t ADD COLUMN b INT UNIQUE"], ("refuses", "constraints not yet supported"),
         ["ALTER TABLE t ADD COLUMN b INT"]),
    case("DM111", ONE, ["UPDATE t SET a = 2", "ALTER TABLE t ALTER a SET NOT NULL"],
         ("refuses", "outstanding updates"), ["INSERT INTO t VALUES (3)", "ALTER TABLE t ALTER a SET NOT NULL"]),
    case("DM112", FK, ["DROP TABLE p"], ("refuses", "main key table"), ["DROP TABLE c", "DROP TABLE p"]),
    case("DM113", "CREATE SEQUENCE s; CREATE TABLE t(a INT DEFAULT nextval('s'))", ["DROP SEQUENCE s"],
         ("refuses", "Dependency Error"), ["DROP SEQUENCE s"], near_setup="CREATE SEQUENCE s; CREATE TABLE t(a INT)"),
    case("DM114", "CREATE TYPE m AS ENUM ('a'); CREATE TABLE t(a m)", ["DROP TYPE m"],
         ("refuses", "Dependency Error"), ["DROP TYPE m"],
         near_setup="CREATE TYPE m AS ENUM ('a'); CREATE TABLE t(a VARCHAR)"),
    case("DM115", "CREATE TYPE m AS ENUM ('a'); CREATE TABLE t(a m)", ["DROP TYPE m"],
         ("gives", "SELECT count(*) FROM duckdb_types() WHERE type_name = 'm'", [(0,)]), ["DROP TYPE m"],
         near_setup="CREATE TYPE m AS ENUM ('a'); CREATE TABLE t(a VARCHAR)"),
    case("DM116", FK, ["DELETE FROM c", "DELETE FROM p WHERE id = 1"], ("refuses", "still referenced"),
         ["DELETE FROM c", "INSERT INTO p VALUES (2)"]),
    case("DM117", "CREATE TABLE t(a INT); CREATE UNIQUE INDEX u ON t(a)", ["DROP INDEX u", "CREATE UNIQUE INDEX u ON t(a)"],
         ("refuses", "already exists"), ["DROP INDEX u", "CREATE UNIQUE INDEX u2 ON t(a)"]),
    case("DM130", "CREATE TABLE t(a INT); INSERT INTO t VALUES (NULL)", ["ALTER TABLE t ALTER a SET NOT NULL"],
         ("refuses", "NOT NULL constraint failed"), ["ALTER TABLE t ALTER a SET NOT NULL"], near_setup=ONE),
    case("DM131", "CREATE TABLE t(a INT); INSERT INTO t VALUES (1), (1)", ["CREATE UNIQUE INDEX u ON t(a)"],
         ("refuses", "duplicates"), ["CREATE UNIQUE INDEX u ON t(a)"],
         near_setup="CREATE TABLE t(a INT); INSERT INTO t VALUES (1), (2), (NULL), (NULL)"),
    case("DM132", "CREATE TABLE t(a VARCHAR); INSERT INTO t VALUES ('1'), ('x')", ["ALTER TABLE t ALTER a TYPE INT"],
         ("refuses", "Conversion Error"), ["ALTER TABLE t ALTER a TYPE INT USING TRY_CAST(a AS INT)"]),
    # Deleted rows keep their values, and DuckDB casts them too.
    case("DM132", "CREATE TABLE t(a VARCHAR); INSERT INTO t VALUES ('1'), ('x'); DELETE FROM t WHERE a = 'x'",
         ["ALTER TABLE t ALTER a TYPE INT"], ("refuses", "Conversion Error"),
         ["ALTER TABLE t ALTER a TYPE INT"], near_setup="CREATE TABLE t(a VARCHAR); INSERT INTO t VALUES ('1')"),
    case("DM133", "CREATE TABLE t(id INT PRIMARY KEY); INSERT INTO t SELECT range FROM range(3000)",
         ["UPDATE t SET id = id + 1"], ("refuses", "Duplicate key"), ["UPDATE t SET id = id + 1"],
         near_setup="CREATE TABLE t(id INT PRIMARY KEY); INSERT INTO t SELECT range FROM range(2000)"),
    case("DM134", ONE, ["ALTER TABLE t ADD COLUMN b INT NOT NULL"], ("refuses", "NOT NULL constraint failed"),
         ["ALTER TABLE t ADD COLUMN b INT"]),
    case("DM201", "CREATE TABLE t(a INT); CREATE VIEW v AS SELECT a FROM t", ["ALTER TABLE t RENAME a TO b"],
         ("breaks", "SELECT * FROM v"), ["ALTER TABLE t RENAME a TO b"],
         near_setup="CREATE TABLE t(a INT); CREATE TABLE u(a INT); CREATE VIEW v AS SELECT a FROM u"),
    case("DM202", "CREATE TABLE t(a INT, b INT); CREATE VIEW v AS SELECT a, b FROM t", ["ALTER TABLE t DROP COLUMN b"],
         ("breaks", "SELECT * FROM v"), ["ALTER TABLE t DROP COLUMN b"],
         near_setup="CREATE TABLE t(a INT, b INT); CREATE VIEW v AS SELECT a FROM t"),
    case("DM203", ONE, ["DROP TABLE t"], ("gives", "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'",
                                           [(0,)]), ["CREATE TABLE u(a INT)", "DROP TABLE u"]),
    case("DM204", "CREATE TABLE t(a INT, b INT); INSERT INTO t VALUES (1, 2)", ["ALTER TABLE t DROP COLUMN b"],
         ("gives", "SELECT * FROM t", [(1,)]), ["ALTER TABLE t ALTER b DROP DEFAULT"]),
    case("DM205", "CREATE SCHEMA s", ["DROP SCHEMA s"],
         ("gives", "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 's'", [(0,)]),
         ["DROP TABLE IF EXISTS s.t"]),
    case("DM206", "CREATE SEQUENCE q; CREATE TABLE t(a INT DEFAULT nextval('q'))", ["DROP SEQUENCE q CASCADE"],
         ("gives", "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'", [(0,)]),
         ["DROP SEQUENCE q"], near_setup="CREATE SEQUENCE q; CREATE TABLE t(a INT)"),
    case("DM207", ONE, ["ALTER TABLE t RENAME TO u"], ("breaks", "SELECT * FROM t"),
         ["ALTER TABLE t ALTER a SET DEFAULT 1"]),
    case("DM208", "CREATE TABLE t(a DOUBLE); INSERT INTO t VALUES (1.5)", ["ALTER TABLE t ALTER a TYPE INT"],
         ("gives", "SELECT a FROM t", [(2,)]), ["ALTER TABLE t ALTER a TYPE DECIMAL(18, 3)"]),
]


def _run(setup: str, statements: list[str]) -> tuple[duckdb.DuckDBPyConnection, Exception | None]:
    """``statements`` in one transaction, as a migration runs, on a database made by ``setup``."""
    conn = duckdb.connect()
    conn.execute(setup)
    try:
        conn.execute("BEGIN TRANSACTION")
        for s in statements:
            conn.execute(s)
        conn.execute("COMMIT")
    except duckdb.Error as exc:
        return conn, exc
    return conn, None


def _lint(tmp_path, setup: str, statements: list[str], down: str | None = "SELECT 1") -> set[str]:
    return {f.rule for f in Migrator(*_project(tmp_path, setup, statements, down)).lint().findings}


def test_every_rule_has_a_case():
    # DM135 is a lake's: its traps and look-alikes run on a real DuckLake, in test_lint_lake.py
    assert {p.values[0] for p in CASES} | {"DM209", "DM135"} == set(BY_ID)


@pytest.mark.parametrize("rule, setup, up, trap, near_setup, near", CASES)
def test_trap_springs_where_the_rule_holds(rule, setup, up, trap, near_setup, near):
    holds = VERSION in BY_ID[rule].versions
    conn, failed = _run(setup, up)
    if trap[0] == "refuses":
        assert (failed is not None and trap[1] in str(failed)) == holds, (
            f"{rule} on duckdb {duckdb.__version__}: {'expected' if holds else 'did not expect'} {trap[1]!r}, "
            f"got {failed!r}")
    elif holds:
        assert failed is None, failed
        if trap[0] == "breaks":
            with pytest.raises(duckdb.Error):
                conn.execute(trap[1]).fetchall()
        else:
            assert conn.execute(trap[1]).fetchall() == trap[2]


@pytest.mark.parametrize("rule, setup, up, trap, near_setup, near", CASES)
def test_rule_fires_on_the_trap_where_it_holds(tmp_path, rule, setup, up, trap, near_setup, near):
    assert (rule in _lint(tmp_path, setup, up)) == (VERSION in BY_ID[rule].versions)


@pytest.mark.parametrize("rule, setup, up, trap, near_setup, near", CASES)
def test_near_miss_runs_and_does_not_fire(tmp_path, rule, setup, up, trap, near_setup, near):
    _, failed = _run(near_setup, near)
    if BY_ID[rule].severity == "error":
        assert failed is None, failed
    assert rule not in _lint(tmp_path, near_setup, near)


def test_no_downgrade_is_told_and_a_downgrade_silences_it(tmp_path):
    assert "DM209" in _lint(tmp_path / "a", ONE, ["ALTER TABLE t ADD COLUMN b INT"], down=None)
    assert "DM209" not in _lint(tmp_path / "b", ONE, ["ALTER TABLE t ADD COLUMN b INT"])


ON_A_FILE = """
import duckdb, sys
conn = duckdb.connect(sys.argv[1])
conn.execute("BEGIN TRANSACTION")
for statement in sys.argv[2:]:
    conn.execute(statement)
conn.execute("COMMIT")
print("committed")
"""


def _on_a_file(tmp_path, setup: str, statements) -> subprocess.CompletedProcess:
    """``statements`` in one transaction on a database file made by ``setup``, in a process of its own: some
    DuckDB releases abort the process at the commit."""
    db = tmp_path / f"f{abs(hash((setup, *statements)))}.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute(setup)
    return subprocess.run([sys.executable, "-c", ON_A_FILE, str(db), *statements], capture_output=True, text=True,
                          timeout=120)


def test_an_index_created_again_under_its_name_aborts_the_commit_where_dm117_holds(tmp_path):
    holds = VERSION in BY_ID["DM117"].versions
    done = _on_a_file(tmp_path, IDX, ["DROP INDEX t_a", "ALTER TABLE t RENAME COLUMN b TO c", "CREATE INDEX t_a ON t(a)"])
    assert (done.returncode != 0 and "pure virtual method called" in done.stderr) == holds, done
    near = _on_a_file(tmp_path, IDX, ["DROP INDEX t_a", "ALTER TABLE t DROP COLUMN b", "CREATE INDEX t_a ON t(a)"])
    assert near.returncode == 0, near.stderr
    assert ("DM117" in _lint(tmp_path / "a", IDX, ["DROP INDEX t_a", "ALTER TABLE t RENAME COLUMN b TO c",
                                                   "CREATE INDEX t_a ON t(a)"])) == holds
    assert "DM117" not in _lint(tmp_path / "b", IDX, ["DROP INDEX t_a", "ALTER TABLE t DROP COLUMN b",
                                                      "CREATE INDEX t_a ON t(a)"])


@pytest.mark.parametrize("alter", ["ALTER TABLE t RENAME COLUMN b TO c", "ALTER TABLE t RENAME TO u",
                                   "ALTER TABLE t DROP COLUMN b", "ALTER TABLE t ALTER b SET NOT NULL",
                                   "ALTER TABLE t ALTER b TYPE INT"])
def test_the_fix_of_an_alter_under_an_index_commits_on_a_file(tmp_path, alter):
    """DM101's rewrite (drop the indexes, ALTER, create them again) is what DuckDB commits; where it would not
    (a rename before 2.0: DM117), the finding says to create the index in a migration of its own."""
    found = [f for f in Migrator(*_project(tmp_path, IDX, [alter])).lint().findings if f.rule == "DM101"]
    assert found, alter
    if found[0].rewrite is None:
        assert VERSION < (2, 0, 0) and "in a migration of its own" in found[0].fix
        return
    assert "DM117" not in _lint(tmp_path / "again", IDX, list(found[0].rewrite))
    done = _on_a_file(tmp_path, IDX, list(found[0].rewrite))
    assert done.returncode == 0, (alter, done.stderr)


def _project(tmp_path, setup: str, statements: list[str], down: str | None = "SELECT 1") -> tuple[str, str]:
    """A database made by ``setup`` and one pending migration of ``statements`` (and ``down``)."""
    tmp_path.mkdir(exist_ok=True)
    db = tmp_path / "live.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute(setup)
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    body = "".join(f"{s};\n" for s in statements)
    (versions / "20250101_000001_case.sql").write_text(
        f"-- migrate:up\n{body}" + (f"-- migrate:down\n{down};\n" if down else ""))
    return str(db), str(versions.parent)


def test_rules_are_records_with_a_version_range_and_a_fix():
    for r in RULES:
        assert r.id.startswith("DM") and r.severity in ("error", "warning", "info")
        assert r.why.endswith(".") and r.fix
