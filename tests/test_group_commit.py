"""Group commit: consecutive SQL migrations share a transaction, and nothing else changes.

Each migration set runs twice on its own database: one transaction per migration
(``group_seconds=0``) and grouped (everything in one group, and the default 250 ms).
The database, the ledger (states and events, in order, with their numbers), the
progress lines, the results and the error must be the same both ways.
"""

from __future__ import annotations

import io
import re

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.cli import WORDS
from duckmig_magic.render.progress import TextProgress

from duckmig_magic.engine.ledger import COLUMNS

from conftest import STATE


def v(i: int) -> str:
    return f"20250101_{i:06d}"


def sql(i: int, body: str | None = None) -> tuple[str, str]:
    body = body or f"CREATE TABLE t{i} AS SELECT range AS id FROM range({i * 10});\nINSERT INTO log VALUES ({i});"
    return f"{v(i)}_step_{i}.sql", f"-- migrate:up\n{body}\n-- migrate:down\nDROP TABLE IF EXISTS t{i};\n"


def python(i: int, body: str = "") -> tuple[str, str]:
    return f"{v(i)}_py_{i}.py", (
        "from duckmig_magic import BaseMigration\n\n\n"
        f"class Migration_{v(i)}(BaseMigration):\n"
        "    def __init__(self):\n"
        f"        super().__init__(version=\"{v(i)}\", description=\"py {i}\")\n\n"
        "    def upgrade(self, session):\n"
        f"        session.exec(\"INSERT INTO log VALUES ({i})\")\n{body}")


def outside(i: int) -> tuple[str, str]:
    return f"{v(i)}_outside_{i}.sql", f"-- migrate:up transaction:false\nINSERT INTO log VALUES ({i});\n"


BASE = (f"{v(0)}_base.sql", "-- migrate:up\nCREATE TABLE log (i INTEGER);\n")
FAIL = "SELECT * FROM no_such_table;"


def run_of(n: int, **special) -> list[tuple[str, str]]:
    """``n`` SQL migrations after the base; ``special`` replaces some by index (``f7=...``)."""
    files = [BASE]
    for i in range(1, n + 1):
        files.append(special.get(f"f{i}") or sql(i))
    return files


SETS = {
    "all succeed": run_of(12),
    "the 7th fails": run_of(12, f7=sql(7, FAIL)),
    "the first of a group fails": run_of(6, f1=sql(1, FAIL)),
    "the last fails": run_of(6, f6=sql(6, f"INSERT INTO log VALUES (6);\n{FAIL}")),
    "a Python migration between": run_of(9, f4=python(4)),
    "transaction:false between": run_of(9, f5=outside(5)),
    "fails after a Python one": run_of(9, f4=python(4), f7=sql(7, FAIL)),
    "a Python one fails": run_of(6, f3=python(3, "        raise ValueError('no')\n")),
    "a migration reads the ledger": run_of(8, f5=sql(5, "CREATE TABLE seen AS SELECT count(*) AS n FROM "
                                                        "duckdb_migrations WHERE status = 'applied';")),
    "a duplicate key across migrations": run_of(6, f2=sql(2, "CREATE TABLE u (x INTEGER PRIMARY KEY);\n"
                                                             "INSERT INTO u VALUES (1);"),
                                                f4=sql(4, "INSERT INTO u VALUES (1);")),
    "a constraint fails late": run_of(8, f5=sql(5, "CREATE TABLE u (x INTEGER PRIMARY KEY);\n"
                                                    "INSERT INTO u VALUES (1), (1);")),
}


def ran(tmp_path, name: str, files, group_seconds: float, ledger: str | None = None):
    """Run ``files``; ``ledger`` is SQL that makes the ledger first."""
    root = tmp_path / name
    (root / "migrations" / "versions").mkdir(parents=True)
    for file, text in files:
        (root / "migrations" / "versions" / file).write_text(text)
    if ledger:
        with duckdb.connect(str(root / "app.db")) as conn:
            conn.execute(ledger)
    lines = io.StringIO()
    m = Migrator(str(root / "app.db"), str(root / "migrations"), progress=TextProgress(lines),
                 group_seconds=group_seconds)
    try:
        results, error = m.up(), None
    except errors.DuckmigError as exc:
        results, error = None, exc
    with duckdb.connect(str(root / "app.db")) as conn:
        tables = {(s, t): conn.execute(f'SELECT * FROM "{s}"."{t}" ORDER BY ALL').fetchall() for s, t in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE table_name <> 'duckdb_migrations'").fetchall()}
        state = conn.execute(f"SELECT version, status, checksum, error, statement, description, kind, downgrade, "
                             f"filename FROM {STATE} ORDER BY version").fetchall()
        events = conn.execute("SELECT seq, version, event, status, checksum, error, detail FROM duckdb_migrations "
                              "ORDER BY seq").fetchall()
    timed = re.compile(r"\d+\.\d+ ms")
    return {
        "tables": tables, "state": state, "events": events,
        "progress": timed.sub("T ms", lines.getvalue()),
        "results": None if results is None else [(r.version, r.direction, r.statements) for r in results],
        "error": None if error is None else (type(error), error.exit_code, timed.sub("T ms", error.render(WORDS))),
        "status": [(s.version, s.state, s.error) for s in m.status()],
    }


@pytest.mark.parametrize("files", SETS.values(), ids=SETS.keys())
def test_grouped_runs_land_and_report_what_one_transaction_each_does(tmp_path, files):
    alone = ran(tmp_path, "alone", files, 0)
    assert alone["events"] and alone["progress"]
    for seconds in (60, 0.25):
        assert ran(tmp_path, f"grouped{seconds}", files, seconds) == alone


@pytest.mark.parametrize("files", [run_of(6), run_of(6, f5=sql(5, FAIL))], ids=["the group", "its re-apply"])
def test_a_group_whose_events_are_refused_lands_as_one_transaction_each(tmp_path, files):
    """A group's events are written in one INSERT; a ledger that refuses one of them (a CHECK
    someone added) has the group applied again one migration to a transaction, also when the
    group is re-applied after a failure of its own, so the refused migration fails alone, its
    failure recorded, as one transaction each gives. The progress lines differ: the group's
    were printed before its events were refused."""
    columns = ", ".join(f"{c} {t}" for c, t in COLUMNS.items())
    ledger = f"CREATE TABLE duckdb_migrations ({columns}, CHECK (version <> '{v(3)}' OR status <> 'applied'))"
    alone = ran(tmp_path, "alone", files, 0, ledger)
    assert alone["error"][0] is errors.RunStopped and "CHECK" in alone["error"][2]
    assert [s[:2] for s in alone["state"]][-2:] == [(v(2), "applied"), (v(3), "failed")]
    grouped = ran(tmp_path, "grouped", files, 60, ledger)
    assert {k: x for k, x in grouped.items() if k != "progress"} == {k: x for k, x in alone.items() if k != "progress"}


def test_a_group_shares_its_transactions(tmp_path):
    """Grouped, 30 migrations take a few COMMITs; each in its own, 30 (as DuckDB counts them)."""
    files = run_of(30)
    commits = {}
    for seconds in (0, 60):
        root = tmp_path / str(seconds)
        (root / "migrations" / "versions").mkdir(parents=True)
        for file, text in files:
            (root / "migrations" / "versions" / file).write_text(text)
        conn = duckdb.connect(str(root / "app.db"))
        seen = []
        Migrator(conn, str(root / "migrations"), group_seconds=seconds,
                 progress=lambda event, *rest: seen.append(conn.execute(
                     "SELECT current_transaction_id()").fetchone()[0]) if event == "done" else None).up()
        commits[seconds] = len(set(seen))
        conn.close()
    assert commits == {0: 31, 60: 1}


def test_nothing_reported_applied_is_uncommitted_when_up_returns(tmp_path):
    """The failure's run: every migration the results and the progress call applied is committed,
    as another connection sees it after up returns."""
    out = ran(tmp_path, "grouped", SETS["the 7th fails"], 60)
    assert out["progress"].count("ok (T ms)") == 7  # the base and 1-6
    assert [s for s in out["state"] if s[1] == "applied"] == [s for s in out["state"] if s[0] < v(7)]
    assert out["tables"][("main", "log")] == [(i,) for i in range(1, 7)]
    assert out["error"][0] is errors.RunStopped  # it says what it kept: the base and 1-6


def test_single_transaction_stays_all_or_nothing(tmp_path):
    root = tmp_path / "one"
    (root / "migrations" / "versions").mkdir(parents=True)
    for file, text in SETS["the 7th fails"]:
        (root / "migrations" / "versions" / file).write_text(text)
    with pytest.raises(errors.MigrationFailed):
        Migrator(str(root / "app.db"), str(root / "migrations")).up(single_transaction=True)
    with duckdb.connect(str(root / "app.db")) as conn:
        assert conn.execute(f"SELECT version, status FROM {STATE}").fetchall() == [(v(7), "failed")]
        assert {t for (t,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()} == {
            "duckdb_migrations"}
