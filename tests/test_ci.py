"""duckmig where CI runs it: the GitHub Action's script, the pre-commit hooks, ``export --check``."""

from __future__ import annotations


import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRAP = "-- migrate:up\nALTER TABLE t RENAME b TO c;\n-- migrate:down\nALTER TABLE t RENAME c TO b;\n"
FINE = "-- migrate:up\nCREATE TABLE u (a INTEGER);\n-- migrate:down\nDROP TABLE u;\n"


def environment(**extra: str) -> dict:
    """This interpreter's scripts first on PATH (its duckmig, its python), this checkout's package first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCKMIG_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return {**env, **extra}


def scratch_project(root: Path, migration: str) -> None:
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "versions" / "20250101_000001_change.sql").write_text(migration)
    with duckdb.connect(str(root / "app.db")) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, a INTEGER, b VARCHAR); CREATE INDEX t_a ON t (a)")


def action(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", str(ROOT / "ci" / "duckmig-action.sh")], cwd=root, capture_output=True, text=True,
                          env=environment(DUCKMIG_DATABASE="app.db", DUCKMIG_DIR="migrations"), timeout=300)


def test_the_action_runs_its_one_script():
    import yaml

    spec = yaml.safe_load((ROOT / "action.yml").read_text())
    assert spec["runs"]["using"] == "composite"
    assert [step["run"] for step in spec["runs"]["steps"]] == ["$GITHUB_ACTION_PATH/ci/duckmig-action.sh"]


def test_the_action_script_annotates_lint_findings_and_roundtrip_problems(tmp_path):
    scratch_project(tmp_path, TRAP)
    done = action(tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("::error file=migrations/versions/20250101_000001_change.sql,line=2,title=DM101::")
    assert any(line.startswith("::error title=duckmig verify::20250101_000001: ") for line in lines), lines
    assert not (tmp_path / "migrations" / "versions").joinpath("x").exists()
    with duckdb.connect(str(tmp_path / "app.db")) as conn:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'duckdb_migrations'").fetchone() \
            in ((0,), (1,))


def test_the_action_script_is_quiet_and_succeeds_on_good_migrations(tmp_path):
    scratch_project(tmp_path, FINE)
    done = action(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::error" not in done.stdout
    assert "1 round-tripped, 0 problems" in done.stdout


def notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"%%migration change\n{body}")]
    nbformat.write(nb, path)


def duckmig(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "duckmig_magic", *args], cwd=root, capture_output=True, text=True,
                          env=environment(), timeout=120)


def test_export_check_writes_nothing_and_says_which_cell_is_stale(tmp_path):
    (tmp_path / "migrations" / "versions").mkdir(parents=True)
    notebook(tmp_path / "nb.ipynb", FINE)
    done = duckmig(tmp_path, "export", "--check", "nb.ipynb", "--dir", "migrations")
    assert done.returncode == 3
    assert done.stdout.startswith("stale: cell 0 (change): export would create its file\n1 stale\n")
    assert list((tmp_path / "migrations" / "versions").iterdir()) == []
    assert duckmig(tmp_path, "export", "nb.ipynb", "--dir", "migrations").returncode == 0
    done = duckmig(tmp_path, "export", "--check", "nb.ipynb", "--dir", "migrations")
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "1 unchanged")
    notebook(tmp_path / "nb.ipynb", FINE.replace("u (a", "u (b"))
    done = duckmig(tmp_path, "export", "--check", "nb.ipynb", "--dir", "migrations")
    assert done.returncode == 3 and "export would update its file" in done.stdout


def test_pre_commit_runs_the_hooks_on_a_scratch_repository(tmp_path):
    pytest.importorskip("pre_commit")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    if head.returncode or shutil.which("git") is None:
        pytest.skip("the hooks are read from this checkout's git history")
    shown = subprocess.run(["git", "show", f"{head.stdout.strip()}:.pre-commit-hooks.yaml"], cwd=ROOT,
                           capture_output=True)
    if shown.returncode:
        pytest.skip(".pre-commit-hooks.yaml is not committed yet")
    repo = tmp_path / "project"
    repo.mkdir()
    scratch_project(repo, TRAP)
    (repo / "pyproject.toml").write_text('[tool.duckmig]\ndatabase = "app.db"\n')
    notebook(repo / "nb.ipynb", FINE)
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {head.stdout.strip()}\n  hooks:\n  - id: duckmig-lint\n"
        "  - id: duckmig-export-check\n")
    env = environment(PRE_COMMIT_HOME=str(tmp_path / "cache"), GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@b",
                      GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@b")
    for command in (["git", "init", "-q"], ["git", "add", "-A"]):
        subprocess.run(command, cwd=repo, check=True, env=env)

    def pre_commit() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo,
                              capture_output=True, text=True, env=env, timeout=600)

    done = pre_commit()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "20250101_000001_change.sql:2: DM101 error" in done.stdout
    # The cell of slug "change" holds another text than its file.
    assert "stale: cell 0 (change): export would update its file" in done.stdout
    assert duckmig(repo, "export", "nb.ipynb").returncode == 0
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    done = pre_commit()
    assert done.returncode == 0, done.stdout + done.stderr

