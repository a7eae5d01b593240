"""A database that duckmig 0.1.0 wrote (a state table plus a history table) is adopted in place.

The fixture is a real 0.1.0 database with applied, reverted, re-applied, failed and repaired
migrations, its migration files, and what 0.1.0's `status --json` and `history --json` printed.
"""

import gzip
import json
import shutil
from pathlib import Path

import pytest

from conftest import STATE

FIXTURE = Path(__file__).parent / "fixtures" / "duckmig-0.1.0"
INDEXED = "20250714_000000"  # the newest applied migration: down reverts it


@pytest.fixture
def old(project):
    shutil.copytree(FIXTURE / "migrations", project.directory, dirs_exist_ok=True)
    with gzip.open(FIXTURE / "duckmig-0.1.0.duckdb.gz") as src, open(project.db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return project


def printed(name: str):
    return json.loads((FIXTURE / f"{name}.json").read_text())


def read(cli, verb: str):
    """What `duckmig --json VERB` prints, in the keys 0.1.0 printed (a later one is checked here)."""
    r = cli("--json", verb, "-d", "app.db")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    if verb == "status":
        assert not any(m.pop("downgrade_differs") for m in out["migrations"])
        assert (out.pop("kept_rows"), out.pop("kept_bytes"), out.pop("kept_in_snapshots")) == (0, 0, 0)  # 0.1.0 kept nothing
    return out


def test_status_and_history_read_as_0_1_0_printed_them_without_changing_the_file(old, cli):
    before = old.db.read_bytes()
    assert read(cli, "status") == printed("status")
    assert read(cli, "history") == printed("history")
    assert old.db.read_bytes() == before
    assert old.tables() >= {"duckdb_migrations", "duckdb_migrations_history"}


def test_adoption_keeps_status_and_history_and_leaves_one_table(old, cli):
    r = cli("stamp", "20250701_000000", "-d", "app.db")  # writes nothing new, but opens to write: adopts
    assert r.code == 0, r.err
    assert "duckdb_migrations_history" not in old.tables()
    assert read(cli, "status") == printed("status")
    assert read(cli, "history") == printed("history")
    events = old.query("SELECT count(*), count(DISTINCT seq) FROM duckdb_migrations")
    assert events == [(len(printed("history")), len(printed("history")))]
    # The failed attempt's statement and error are kept in its state, not only in the history.
    assert old.query(f"SELECT version, status, statement IS NOT NULL FROM {STATE} WHERE status = 'failed'") == [
        ("20250721_000000", "failed", True)]


def test_down_and_up_after_adoption(old, cli):
    r = cli("down", "-d", "app.db")
    assert r.code == 0, r.err
    assert "reverted 1 migration" in r.out
    assert not old.query("SELECT * FROM duckdb_indexes() WHERE index_name = 'idx_metrics_check_id'")
    status = {m["version"]: m["state"] for m in read(cli, "status")["migrations"]}
    assert status == {m["version"]: m["state"] if m["version"] != INDEXED else "pending"
                      for m in printed("status")["migrations"]}
    history = read(cli, "history")
    assert history[:-1] == printed("history")
    assert (history[-1]["seq"], history[-1]["version"], history[-1]["event"]) == (15, INDEXED, "reverted")

    r = cli("up", "-d", "app.db")  # the index again, then the migration that failed fails again
    assert r.code == 1
    assert old.query("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'idx_metrics_check_id'") == [(1,)]
    assert [(e["version"], e["event"]) for e in read(cli, "history")[-2:]] == [
        (INDEXED, "applied"), ("20250721_000000", "failed")]
