"""What a notebook says when a run stops, run by a real kernel: every migration's outcome, the failure
once, the migration a `%%migration --apply` did not apply, a Python migration's own line, and no
progress bar of DuckDB's own under duckmig's."""

from __future__ import annotations

import textwrap

import pytest
from conftest import STATE

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
BROKEN = "SELECT CAST('x' AS INTEGER);"


def run_notebook(root, *cells: str):
    """Run ``cells`` in a fresh kernel in ``root``; errors do not stop the run. Returns the cells."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells])
    NotebookClient(nb, kernel_name="python3", timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(root)}}).execute()
    return nb.cells


def usage_error(cell) -> str:
    """The UsageError a cell raised: IPython shows it on stderr, one message and no traceback, after
    the warning lines duckmig printed there first (a migration without a downgrade)."""
    text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr")
    before, sep, error = text.partition("UsageError: ")
    assert sep and "UsageError: " not in error and "Traceback" not in text
    assert all(line.startswith("warning: ") for line in before.splitlines())
    return error


def said(cell) -> str:
    """Everything a cell's outputs say, as the saved notebook's text: streams, text/plain, errors."""
    parts = []
    for o in cell.outputs:
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type == "error":
            parts.append(f"{o.ename}: {o.evalue}")
        else:
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture
def partial(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", f"CREATE TABLE two (x INTEGER);\n{BROKEN}", "DROP TABLE two;")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    return project


def test_a_partial_run_says_each_outcome_and_the_failure_once(partial):
    connect, up, apply_cell = run_notebook(
        partial.root,
        "%load_ext duckmig_magic\n%migrate connect app.db",
        "%migrate up",
        "%%migration four --apply\n-- migrate:up\nCREATE TABLE four (x INTEGER);",
    )
    assert connect.outputs[0].output_type == "stream"
    text = said(up)
    bar = next(o for o in up.outputs if o.output_type == "display_data")
    assert bar.data["text/plain"] == f"applied 1 migration, then failed at {V2}: the error is below"
    lines = [line for line in usage_error(up).splitlines() if line.startswith(("applying", "  ")) and "^" not in line]
    assert lines == [
        f"applying {V2} failed: Conversion Error: Could not convert string 'x' to INT32",
        f"  statement: {BROKEN[:-1]}", "  rolled back: nothing of it remains",
        f"  applied before it, and kept: {V1}", f"  not tried: {V3}",
        "  hint: fix the migration and run it again"]
    assert text.count("Could not convert string") == 1  # in the error only, not in the bar too

    error = usage_error(apply_cell)
    four = next(p.name[:15] for p in partial.versions.glob("*_four.sql"))
    assert error.splitlines()[:2] == [
        f"{four} was not applied: {V2}, pending before it, failed first",
        f"applying {V2} failed: Conversion Error: Could not convert string 'x' to INT32"]
    assert f"  not tried: {V3}, {four}" in error.splitlines()
    assert partial.query(f"SELECT version, status FROM {STATE} ORDER BY version") == [
        (V1, "applied"), (V2, "failed")]


def test_a_python_migration_that_raises_is_reported_at_its_line(project):
    project.write(f"{V1}_checks.py", '''\
        from duckmig_magic import BaseMigration


        class Checks(BaseMigration):
            def upgrade(self, session):
                session.exec("CREATE TABLE t (id INTEGER)")
                session.exec("ALTER TABLE t ADD COLUMN score INTEGER")
                total = session.exec("SELECT count(*) FROM t").fetchone()[0]
                if total == 0:
                    raise RuntimeError("no rows to score")
        ''')
    _, up = run_notebook(project.root, "%load_ext duckmig_magic\n%migrate connect app.db", "%migrate up")
    error = usage_error(up)
    assert error.splitlines()[:3] == [
        f"applying {V1} failed: RuntimeError: no rows to score", f"  at: {V1}_checks.py:10",
        "  last statement before it (it ran): SELECT count(*) FROM t"]
    assert "statement: ALTER" not in error


def test_duckdb_progress_bar_is_off_while_duckmig_runs_and_the_users_setting_stays(project):
    # DuckDB shows its bar for a statement that runs longer than progress_bar_time: the heavy ones here
    heavy = "SELECT sum(hash(range)) AS h FROM range(100000000)"
    project.sql(V1, "heavy", f"CREATE TABLE heavy AS {heavy};", "DROP TABLE heavy;")
    cells = run_notebook(
        project.root,
        "import duckdb\ncon = duckdb.connect('app.db')\ncon.execute('SET progress_bar_time = 100')\n"
        "%load_ext duckmig_magic\n%migrate connect con",
        f"con.execute('{heavy}').fetchall()",  # the bar, as the user has it
        "%migrate up",
        "%migrate down",
        "%migrate preview",
        "print(con.execute(\"SELECT current_setting('enable_progress_bar')\").fetchone()[0])",
    )
    assert "FloatProgress" in said(cells[1])  # DuckDB shows its bar on this connection
    for cell in cells[2:5]:
        assert "FloatProgress" not in said(cell), cell.source
        assert not [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"], said(cell)
    assert said(cells[5]) == "True\n"
