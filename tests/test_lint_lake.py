"""DM135, what a DuckLake refuses that a DuckDB file takes, against a real lake: each trap is refused
by the lake itself (its own words) and found by the lint before anything runs; each look-alike
runs on the lake and the lint says nothing of it. On a DuckDB file the rule never fires."""

from __future__ import annotations

import json

import pytest

from duckmig_magic.engine import refusals
from test_lake_limits import TRIPS

V1, V2 = "20250101_000001", "20250101_000002"
LAKE = ["--database", "ducklake:lake.ducklake", "--data-path", "lake-data/"]
TABLE = "CREATE TABLE t (id INTEGER, small TINYINT, amount FLOAT, day DATE, name VARCHAR, n INTEGER, v VARCHAR);"

# (the migration, words of the lake's refusal)
TRAPS = [
    ("CREATE INDEX t_id ON t (id);", "does not support indexes"),
    ("CREATE UNIQUE INDEX t_id ON t (id);", "does not support indexes"),
    ("CREATE SEQUENCE ids;", "does not support sequences"),
    ("CREATE TYPE mood AS ENUM ('a', 'b');", "does not support user-defined types"),
    ("CREATE TABLE a (id INTEGER PRIMARY KEY);", "constraints are not supported in DuckLake"),
    ("CREATE TABLE a (id INTEGER, UNIQUE (id));", "constraints are not supported in DuckLake"),
    ("CREATE TABLE a (id INTEGER CHECK (id > 0));", "constraints are not supported in DuckLake"),
    ("CREATE TABLE a (id INTEGER REFERENCES t (id));", "no primary key or unique constraint"),
    ("CREATE TABLE a (id INTEGER, next INTEGER GENERATED ALWAYS AS (id + 1));", "does not support generated"),
    ("CREATE TABLE a (id INTEGER, next AS (id + 1));", "does not support generated"),
    ("CREATE TABLE a (m ENUM('a', 'b'));", "unsupported type ENUM"),
    ("CREATE TABLE a (u UNION(i INTEGER, s VARCHAR));", "unsupported type UNION"),
    ("ALTER TABLE t ADD PRIMARY KEY (id);", "not supported in DuckLake"),
    ("ALTER TABLE t ADD COLUMN z INTEGER UNIQUE;", "Adding columns with constraints not yet supported"),
    ("ALTER TABLE t ALTER id TYPE VARCHAR;", "only widening type promotions are allowed"),
    ("ALTER TABLE t ALTER id TYPE SMALLINT;", "only widening type promotions are allowed"),
    ("ALTER TABLE t ALTER name TYPE INTEGER;", "only widening type promotions are allowed"),
    ("INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING;", "no UNIQUE/PRIMARY KEY constraints"),
    ("INSERT OR REPLACE INTO t (id) VALUES (1);", "no UNIQUE/PRIMARY KEY constraints"),
    ("ALTER TABLE t ADD COLUMN z INTEGER DEFAULT 1 + 1;", "non-literal default value"),
    ("ALTER TABLE t ADD COLUMN z TIMESTAMP DEFAULT now();", "non-literal default value"),
    ("ALTER TABLE t ALTER id SET DATA TYPE BIGINT USING id * 2;", "cannot be modified using an expression"),
    ("ALTER TABLE t ADD COLUMN z INTEGER;\nALTER TABLE t ALTER n SET NOT NULL;", "no stats are available"),
    ("ALTER TABLE t DROP COLUMN small;\nALTER TABLE t RENAME TO t2;", "which an earlier statement of the transaction"),
]

NEAR = [
    "CREATE TABLE a (unique_id INTEGER, check_me VARCHAR, \"primary\" INTEGER);",
    "CREATE TABLE a (id INTEGER NOT NULL DEFAULT 3, note VARCHAR DEFAULT 'unique');",
    "CREATE TABLE a AS SELECT id AS unique_id FROM t;",
    "CREATE TABLE a (id INTEGER, day TIMESTAMP DEFAULT CAST('2020-01-01' AS TIMESTAMP));",
    "ALTER TABLE t ADD COLUMN z INTEGER DEFAULT 5;",
    "ALTER TABLE t ADD COLUMN z INTEGER DEFAULT -1;",
    "ALTER TABLE t ADD COLUMN z VARCHAR DEFAULT 'none';",
    "ALTER TABLE t ADD COLUMN z INTEGER;\nALTER TABLE t ALTER COLUMN z SET DEFAULT 7;",
    "ALTER TABLE t ALTER id TYPE BIGINT;",
    "ALTER TABLE t ALTER small TYPE INTEGER;",
    "ALTER TABLE t ALTER amount TYPE DOUBLE;",
    "ALTER TABLE t ALTER day TYPE TIMESTAMP;",
    "ALTER TABLE t ALTER n SET NOT NULL;",
    "INSERT INTO t (id) VALUES (1);",
    "CREATE VIEW v AS SELECT id AS unique_id FROM t;",
    "CREATE MACRO plus_one(x) AS x + 1;",
    "CREATE SCHEMA other;",
    "ALTER TABLE t RENAME TO t2;\nALTER TABLE t2 DROP COLUMN small;",
    "CREATE TABLE a (id INTEGER);\nALTER TABLE a ADD COLUMN z INTEGER;\nALTER TABLE a RENAME TO b;",
]


def _lake(project, cli, up: str) -> list[str]:
    """A lake with t, then ``up`` pending: the rules the lint finds in it."""
    project.sql(V1, "t", TABLE + "\nINSERT INTO t VALUES (1, 1, 1.5, '2020-01-01', 'x', 1, 'a');", "DROP TABLE t;")
    assert cli("up", *LAKE).code == 0
    project.sql(V2, "next", up, "SELECT 1;")
    r = cli("lint", "--json", "--no-data", *LAKE)
    assert r.code in (0, 1), r.err
    return [f["rule"] for f in json.loads(r.out)["findings"] if f["section"] == "up"]


@pytest.mark.parametrize("up, refusal", TRAPS, ids=[t[0] for t in TRAPS])
def test_the_lake_refuses_the_trap_and_the_lint_finds_it_first(lake_home, project, cli, up, refusal):
    assert "DM135" in _lake(project, cli, up)
    r = cli("up", *LAKE)
    assert r.code == 1 and "nothing was applied" in r.err, r.err  # stopped by the lint before it ran
    assert "DM135" in r.err or "(and 1 more error)" in r.err  # the first error is named; a file's own rule may be
    r = cli("up", "--no-lint", *LAKE)
    assert r.code in (1, 2) and refusal in r.err, r.err  # the lake's (or DuckDB's parser's) own refusal


@pytest.mark.parametrize("up", NEAR)
def test_a_look_alike_runs_on_the_lake_and_is_not_told(lake_home, project, cli, up):
    assert "DM135" not in _lake(project, cli, up)
    r = cli("up", *LAKE)
    assert r.code == 0, r.err


@pytest.mark.parametrize("up, phrase", [t[1:] for t in TRIPS], ids=[t[0] for t in TRIPS])
def test_each_limit_the_lake_words_is_found_first_in_its_words(lake_home, project, cli, up, phrase):
    """Every row of refusals.LAKE_LIMITS, tripped as test_lake_limits trips it: the finding says what to
    write instead in the words the failure would have had."""
    (instead,) = [instead for p, _, instead in refusals.LAKE_LIMITS if p == phrase]
    project.sql(V1, "t", TABLE, "DROP TABLE t;")
    assert cli("up", *LAKE).code == 0
    project.sql(V2, "next", up, "SELECT 1;")
    r = cli("lint", "--json", "--no-data", *LAKE)
    found = [f for f in json.loads(r.out)["findings"] if f["rule"] == "DM135"]
    assert [f["fix"] for f in found] == [instead[0].upper() + instead[1:]], r.out


def test_the_rule_is_silent_on_a_duckdb_file(project, cli):
    project.sql(V1, "t", TABLE, "DROP TABLE t;")
    assert cli("up", "--database", "app.db").code == 0
    project.sql(V2, "index", "CREATE INDEX t_id ON t (id);", "DROP INDEX t_id;")
    r = cli("lint", "--json", "--database", "app.db")
    assert "DM135" not in [f["rule"] for f in json.loads(r.out)["findings"]]
    assert cli("up", "--database", "app.db").code == 0
