"""The example migration set, end to end through the command."""

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).parent.parent / "examples" / "migrations"


def test_examples_apply_and_revert(project, cli):
    shutil.rmtree(project.directory)
    shutil.copytree(EXAMPLES, project.directory)
    r = cli("up", "--database", project.db)
    assert (r.code, r.out) == (0, "applied 5 migrations\n")
    assert project.query("SELECT count(*), count(*) FILTER (WHERE processed) FROM metrics") == [(100, 67)]
    r = cli("down", "--database", project.db)
    assert r.code == 0
    assert project.query("SELECT count(*) FROM duckdb_indexes() WHERE index_name = 'idx_metrics_check_id'") == [(0,)]
    r = cli("status", "--database", project.db)
    assert "4 applied, 1 pending" in r.out
