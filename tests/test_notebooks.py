"""Notebooks and version files, both ways: `duckmig export`, `duckmig notebook`, `%migrate export`,
and the tutorial notebooks run by a real kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from IPython.core.error import UsageError
from nbformat import v3, v4

from duckmig_magic.engine import sqlfile
from duckmig_magic.notebooks import build_notebook, export_notebook, read_notebook

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

TAGS = "-- migrate:up\nALTER TABLE metrics ADD COLUMN tags VARCHAR;\n\n-- migrate:down\nALTER TABLE metrics DROP COLUMN tags;"
METRICS = "-- migrate:up\nCREATE TABLE metrics (id INTEGER PRIMARY KEY);\n\n-- migrate:down\nDROP TABLE metrics;"
PYTHON = '''from duckmig_magic import BaseMigration


class Seed(BaseMigration):
    def upgrade(self, session):
        session.exec("INSERT INTO metrics (id) VALUES (1)")

    def downgrade(self, session):
        session.exec("DELETE FROM metrics")'''


def notebook(path: Path, *cells, version: int = 4) -> Path:
    """Write a notebook; a cell is its source (code), ("md", text), or (id, source)."""
    if version == 3:
        ws = v3.new_worksheet(cells=[v3.new_code_cell(input=c, language="python") for c in cells])
        nbformat.write(v3.new_notebook(worksheets=[ws]), str(path), version=3)
        return path
    nb = v4.new_notebook()
    for i, c in enumerate(cells):
        if isinstance(c, tuple) and c[0] == "md":
            nb.cells.append(v4.new_markdown_cell(c[1], id=f"m{i}"))
        elif isinstance(c, tuple):
            nb.cells.append(v4.new_code_cell(c[1], id=c[0]))
        else:
            nb.cells.append(v4.new_code_cell(c, id=f"c{i}"))
    nbformat.write(nb, str(path))
    return path


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def versions(project) -> dict[str, str]:
    return {p.name[16:]: p.read_text() for p in sorted(project.versions.iterdir())}


# -- export ---------------------------------------------------------------------------------------------


def test_export_writes_each_migration_cell_and_ignores_the_rest(project, cli):
    nb = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Metrics\n%%migration not_a_cell", id="intro"),
        v4.new_code_cell("import duckdb", id="imports"),
        v4.new_code_cell("%%migration create_metrics --description 'Create metrics'\n" + METRICS, id="c-1",
                         outputs=[v4.new_output("stream", text="created: somewhere\n")], execution_count=3),
        v4.new_code_cell("%%time\nx = 1", id="timed"),
        v4.new_code_cell("%%migrationx add_tags\nSELECT 1", id="other-magic"),
        v4.new_code_cell("print(1)\n%%migration not_first_line\n" + TAGS, id="later"),
        v4.new_code_cell("\n\n%%migration add_tags --apply\n" + TAGS, id="c-2"),
        v4.new_code_cell("%%migration seed --python\n" + PYTHON, id="c-3"),
    ])
    nbformat.write(nb, str(project.root / "analysis.ipynb"))
    r = cli("export", "analysis.ipynb")
    names = sorted(p.name for p in project.versions.iterdir())
    assert [n[16:] for n in names] == ["create_metrics.sql", "add_tags.sql", "seed.py"]
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        f"created: migrations/versions/{names[0]} (cell 2, version {names[0][:15]})",
        f"created: migrations/versions/{names[1]} (cell 6, version {names[1][:15]})",
        f"created: migrations/versions/{names[2]} (cell 7, version {names[2][:15]})",
        "3 created",
    ]
    assert versions(project) == {
        "create_metrics.sql": "-- duckmig-source: analysis.ipynb#cell=c-1\n-- description: Create metrics\n"
                              + METRICS + "\n",
        "add_tags.sql": "-- duckmig-source: analysis.ipynb#cell=c-2\n" + TAGS + "\n",
        "seed.py": "# duckmig-source: analysis.ipynb#cell=c-3\n" + PYTHON + "\n",
    }
    assert not project.db.exists()  # --apply is the cell's business when it runs, not the export's


def test_export_twice_changes_nothing(project, cli):
    notebook(project.root / "nb.ipynb", "%%migration create_metrics\n" + METRICS, "%%migration add_tags\n" + TAGS)
    assert cli("export", "nb.ipynb").code == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in project.versions.iterdir()}
    r = cli("export", "nb.ipynb")
    assert (r.code, r.out.splitlines()[-1]) == (0, "2 unchanged")
    assert [line.split(":")[0] for line in r.out.splitlines()[:-1]] == ["unchanged", "unchanged"]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in project.versions.iterdir()} == before


def test_changed_cell_updates_its_own_file(project, cli):
    path = notebook(project.root / "nb.ipynb", "%%migration create_metrics\n" + METRICS)
    cli("export", "nb.ipynb")
    (name,) = [p.name for p in project.versions.iterdir()]
    notebook(path, "%%migration create_metrics\n" + METRICS.replace("PRIMARY KEY", "PRIMARY KEY, v DOUBLE"))
    r = cli("export", "nb.ipynb")
    assert r.out.splitlines() == [f"updated: migrations/versions/{name} (cell 0, version {name[:15]})",
                                  "1 updated"]
    assert [p.name for p in project.versions.iterdir()] == [name]
    assert "v DOUBLE" in (project.versions / name).read_text()


def test_applied_migration_whose_cell_changed_is_refused_unless_forced(project, cli):
    path = notebook(project.root / "nb.ipynb", "%%migration create_metrics\n" + METRICS)
    cli("export", "nb.ipynb")
    assert cli("--database", "app.db", "up").code == 0
    (file,) = project.versions.iterdir()
    applied = file.read_bytes()
    notebook(path, "%%migration create_metrics\n" + METRICS.replace("PRIMARY KEY", "PRIMARY KEY, v DOUBLE"),
             "%%migration add_tags\n" + TAGS)

    r = cli("--database", "app.db", "export", "nb.ipynb")
    assert r.code == 3
    (added,) = [p.name for p in project.versions.iterdir() if p != file]
    assert r.out.splitlines() == [
                         f"refused: cell 0 (create_metrics): {file.name[:15]} ({file.name}) is already applied "
                         "and its text changed; the file was left as it was",
                         f"created: migrations/versions/{added} (cell 1, version {added[:15]})","1 created, 1 refused",
                         "hint: revert a refused migration first (`duckmig down VERSION` keeps VERSION and "
                         "reverts the newer ones), or pass --force to overwrite its file"]
    assert file.read_bytes() == applied

    r = cli("--database", "app.db", "export", "nb.ipynb", "--force")
    assert (r.code, r.out.splitlines()[0]) == (0, f"updated: migrations/versions/{file.name} (cell 0, "
                                                  f"version {file.name[:15]})")
    assert "v DOUBLE" in file.read_text()
    assert cli("--database", "app.db", "verify").code == 3


def test_refused_results_through_the_library(project):
    from duckmig_magic import Migrator

    path = notebook(project.root / "nb.ipynb", ("cell-a", "%%migration create_metrics\n" + METRICS))
    m = Migrator(str(project.db), str(project.directory))
    (first,) = export_notebook(path, m)
    m.up()
    notebook(path, ("cell-a", "%%migration create_metrics\n" + METRICS.replace("id", "key")))
    (result,) = export_notebook(path, m)
    assert (result.index, result.cell_id, result.slug, result.action, result.path, result.version) == \
        (0, "cell-a", "create_metrics", "refused", first.path, first.version)
    assert result.reason.endswith("is already applied and its text changed; the file was left as it was")
    # a directory alone knows of nothing applied
    (forced,) = export_notebook(path, project.directory)
    assert forced.action == "updated"


def test_provenance_is_relative_to_the_project(project, cli, monkeypatch):
    (project.root / "notebooks").mkdir()
    notebook(project.root / "notebooks" / "deep.ipynb", ("x1", "%%migration create_metrics\n" + METRICS))
    (project.root / "elsewhere").mkdir()
    monkeypatch.chdir(project.root / "elsewhere")
    assert cli("export", "../notebooks/deep.ipynb", "--dir", "../migrations").code == 0
    assert versions(project)["create_metrics.sql"].splitlines()[0] == \
        "-- duckmig-source: notebooks/deep.ipynb#cell=x1"


def test_nbformat_3_is_converted(project, cli):
    notebook(project.root / "old.ipynb", "%%migration create_metrics\n" + METRICS, "x = 1", version=3)
    assert json.loads((project.root / "old.ipynb").read_text())["nbformat"] == 3
    r = cli("export", "old.ipynb")
    assert r.code == 0, r.err
    # its cells have no ids, so the header names the notebook alone
    assert versions(project) == {"create_metrics.sql": "-- duckmig-source: old.ipynb\n" + METRICS + "\n"}


def test_json_output(project, cli):
    notebook(project.root / "nb.ipynb", ("id1", "%%migration create_metrics\n" + METRICS))
    r = cli("export", "nb.ipynb", "--json")
    (name,) = [p.name for p in project.versions.iterdir()]
    assert json.loads(r.out) == [{"index": 0, "cell_id": "id1", "slug": "create_metrics", "action": "created",
                                  "path": f"migrations/versions/{name}", "version": name[:15], "reason": None}]


GOOD = "%%migration create_metrics\n" + METRICS


def test_two_cells_of_one_id_are_refused_and_nothing_is_written(project, cli):
    """The id is the provenance's ``#cell=``: shared, it would point at a cell that may not be the source."""
    path = notebook(project.root / "nb.ipynb", ("same", "%%migration create_metrics\n" + METRICS),
                    ("same", "%%migration add_tags\n" + TAGS))
    data = json.loads(path.read_text())
    data["cells"][1]["id"] = "same"  # nbformat.write makes ids unique; a merge of two branches does not
    path.write_text(json.dumps(data))
    before = tree(project.root)
    r = cli("export", "nb.ipynb")
    assert (r.code, r.out) == (2, "")
    assert r.err.startswith("duckmig: error: nb.ipynb: cells 0 and 1 have one id, 'same'")
    assert tree(project.root) == before
    data["cells"][1]["id"] = "other"
    path.write_text(json.dumps(data))
    assert cli("export", "nb.ipynb").code == 0
    assert [t.splitlines()[0] for t in versions(project).values()] == [
        "-- duckmig-source: nb.ipynb#cell=same", "-- duckmig-source: nb.ipynb#cell=other"]


@pytest.mark.parametrize("metadata", [[1], "x", 5])
def test_cell_metadata_of_another_shape_tells_nothing(project, cli, metadata):
    """A cell's ``duckmig`` metadata is a built notebook's provenance; another shape there is not one."""
    path = notebook(project.root / "nb.ipynb", ("c1", "%%migration create_metrics\n" + METRICS))
    data = json.loads(path.read_text())
    data["cells"][0]["metadata"] = {"duckmig": metadata}
    path.write_text(json.dumps(data))
    r = cli("export", "nb.ipynb")
    assert (r.code, r.err) == (0, "")
    assert versions(project) == {"create_metrics.sql": "-- duckmig-source: nb.ipynb#cell=c1\n" + METRICS + "\n"}


def test_provenance_cannot_inject_lines(project):
    path = notebook(project.root / "a\n-- migrate:up\nDROP TABLE x;\n.ipynb", ("c1", GOOD))
    (result,) = export_notebook(path, project.directory)
    text = result.path.read_text()
    assert text.splitlines()[0] == "-- duckmig-source: a -- migrate:up DROP TABLE x; .ipynb#cell=c1"
    up = sqlfile.parse(text).up
    assert [s for _, s in up.statements(result.path)] == ["CREATE TABLE metrics (id INTEGER PRIMARY KEY)"]


# -- notebook: files to a notebook, and back ------------------------------------------------------------


ROUND_TRIP = {
    "20250701_000000_create_metrics.sql": "-- duckmig-source: notebooks/explore.ipynb#cell=a1b2\n"
                                          "-- description: Create the metrics table, with 'quotes' & $dollars {x}\n"
                                          + METRICS + "\n",
    "20250702_000000_add_tags.sql": TAGS + "\n",
    "20250703_000000_described.sql": "-- description: Only a description\n" + TAGS.replace("tags", "t2") + "\n",
    "20250704_000000_seed.py": "# duckmig-source: analysis.ipynb\n" + PYTHON.replace(
        "class Seed(BaseMigration):\n",
        'class Seed(BaseMigration):\n    def __init__(self):\n'
        '        super().__init__(version="20250704_000000", description="Seed")\n\n') + "\n",
    "20250705_000000_plain.py": PYTHON.replace("Seed", "Plain").replace("(1)", "(2)") + "\n",
    "20250706_000000_no_transaction.sql": "-- migrate:up transaction:false\nCHECKPOINT;\n",
}


def test_round_trip_gives_the_same_files_byte_for_byte(project, cli):
    for name, text in ROUND_TRIP.items():
        (project.versions / name).write_bytes(text.encode())
    r = cli("notebook", "-o", "built.ipynb")
    assert (r.code, r.out, r.err) == (0, "wrote built.ipynb: 6 migration cells\n", "")
    r = cli("export", "built.ipynb", "--dir", "fresh")
    assert r.code == 0, r.err
    assert r.out.splitlines()[-1] == "6 created"
    assert tree(project.root / "fresh" / "versions") == tree(project.versions)
    # and into the directory it came from: nothing to do
    assert cli("export", "built.ipynb").out.splitlines()[-1] == "6 unchanged"
    assert cli("--database", "app.db", "up").code == 0


def test_built_notebook(project, cli):
    for name in ("20250701_000000_create_metrics.sql", "20250704_000000_seed.py"):
        (project.versions / name).write_text(ROUND_TRIP[name])
    r = cli("--database", "data/app.db", "notebook")
    nb = nbformat.reads(r.out, as_version=4)
    nbformat.validate(nb)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]
    assert nb.cells[1].source == "%load_ext duckmig_magic\n%migrate connect data/app.db --dir migrations"
    assert nb.cells[2].source.splitlines()[0] == (
        "%%migration create_metrics --version 20250701_000000 "
        "--description 'Create the metrics table, with '\"'\"'quotes'\"'\"' & $dollars {x}'")
    assert nb.cells[2].source.splitlines()[1:] == METRICS.splitlines()
    assert nb.cells[3].source.splitlines()[0] == "%%migration seed --version 20250704_000000 --python"
    assert [c.id for c in nb.cells] == ["duckmig-header", "duckmig-connect", "migration-20250701_000000",
                                        "migration-20250704_000000"]
    assert cli("--database", "data/app.db", "notebook").out == r.out  # the same files build the same notebook


def test_a_cell_changed_in_a_built_notebook_records_that_notebook(project, cli):
    (project.versions / "20250701_000000_create_metrics.sql").write_text(ROUND_TRIP["20250701_000000_create_metrics.sql"])
    cli("notebook", "-o", "built.ipynb")
    nb = nbformat.read(str(project.root / "built.ipynb"), as_version=4)
    nb.cells[2].source = nb.cells[2].source.replace("PRIMARY KEY", "PRIMARY KEY, v DOUBLE")
    nbformat.write(nb, str(project.root / "built.ipynb"))
    cli("export", "built.ipynb", "--dir", "fresh")
    (text,) = [p.read_text() for p in (project.root / "fresh" / "versions").iterdir()]
    assert text.splitlines()[0] == "-- duckmig-source: built.ipynb#cell=migration-20250701_000000"


def test_notebook_warns_of_files_that_do_not_come_back_exactly(project, cli):
    (project.versions / "20250701_000000_crlf.sql").write_bytes(b"-- migrate:up\r\nSELECT 1;\r\n")
    (project.versions / "20250702_000000_double__underscore.sql").write_text("-- migrate:up\nSELECT 2;\n")
    r = cli("notebook", "-o", "built.ipynb")
    assert r.code == 0
    assert r.err.splitlines() == [
        "duckmig: warning: migrations/versions/20250701_000000_crlf.sql: export writes this file normalised "
        "(header spacing, blank lines at its ends, line endings), so its checksum would change",
        "duckmig: warning: migrations/versions/20250702_000000_double__underscore.sql: slug "
        "'double__underscore' cannot be written from a cell (a-z, 0-9 and single _), so exporting the "
        "notebook refuses it",
    ]


def test_notebook_force_replaces_a_file(project, cli):
    (project.root / "built.ipynb").write_text("mine")
    assert cli("notebook", "-o", "built.ipynb", "--force").code == 0
    assert read_notebook(project.root / "built.ipynb").cells[0].cell_type == "markdown"


# -- %migrate export -----------------------------------------------------------------------------------


def test_migrate_export_reads_the_running_notebook(project, shell, capsys):
    notebook(project.root / "analysis.ipynb", ("k1", GOOD))
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("migrate", "export")
    assert str(info.value) == ("the file of this notebook is not known to the kernel\n  hint: give it: "
                               "`%migrate export NOTEBOOK.ipynb` (the file as last saved is exported)")
    shell.user_ns["__session__"] = str(project.root / "analysis.ipynb")
    shell.run_line_magic("migrate", "export")
    (name,) = [p.name for p in project.versions.iterdir()]
    assert capsys.readouterr().out.splitlines() == [
        f"created: migrations/versions/{name} (cell 0, version {name[:15]})", "1 created"]


def test_migrate_export_checks_the_connected_database(project, shell, capsys):
    path = notebook(project.root / "other.ipynb", GOOD)
    shell.run_line_magic("migrate", "connect app.db")
    shell.run_line_magic("migrate", "export other.ipynb")
    shell.run_line_magic("migrate", "up")
    notebook(path, GOOD.replace("PRIMARY KEY", "PRIMARY KEY, v DOUBLE"))
    capsys.readouterr()
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("migrate", "export other.ipynb")
    assert str(info.value).startswith("refused: cell 0 (create_metrics): ")
    assert "hint: revert a refused migration first (`%migrate down VERSION`" in str(info.value)


def test_migration_line_is_read_as_written(project, shell, capsys):
    """No $variable or {expression} expansion: the magic reads the line as export reads the file."""
    shell.user_ns["name"] = "expanded"
    shell.run_line_magic("migrate", "connect app.db")
    shell.run_cell_magic("migration", "add_tags --description 'costs $name {name}'", TAGS)
    assert versions(project)["add_tags.sql"].splitlines()[0] == "-- description: costs $name {name}"


def test_built_cells_run_as_they_export(project, shell, capsys):
    for name, text in ROUND_TRIP.items():
        (project.versions / name).write_bytes(text.encode())
    shell.run_line_magic("migrate", "connect app.db")
    capsys.readouterr()
    for c in build_notebook(project.directory).cells[2:]:
        result = shell.run_cell(c.source)
        assert result.success, result.error_in_exec
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == ["unchanged"] * 6
    assert tree(project.versions) == {k: v.encode() for k, v in ROUND_TRIP.items()}


# -- the tutorial notebooks ----------------------------------------------------------------------------


EXPECTED_OUTPUT = {  # (notebook, cell id): text its output must hold
    ("01_quick_start.ipynb", "preview"): "(rolled back: the database is unchanged)",
    ("01_quick_start.ipynb", "up"): "applied 2 migrations in",
    ("01_quick_start.ipynb", "add-unit"): 'under `-- migrate:down` (nothing was written):\n-- migrate:down\n'
                                          'ALTER TABLE "metrics" DROP COLUMN "unit";\n',
    ("02_notebook_to_production.ipynb", "up"): "applied 2 migrations",
    ("02_notebook_to_production.ipynb", "verify"): "checked 2 applied migrations: ok",
    ("02_notebook_to_production.ipynb", "verify-drift"): "exit code: 3",
    ("02_notebook_to_production.ipynb", "verify-again"): "checked 2 applied migrations: ok",
    ("02_notebook_to_production.ipynb", "export"): "2 unchanged",
}


def test_tutorials_are_stored_without_outputs():
    assert [p.name for p in NOTEBOOKS] == ["01_quick_start.ipynb", "02_notebook_to_production.ipynb"]
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert [(c.outputs, c.execution_count) for c in code] == [([], None)] * len(code), path.name


def run_as_the_docs_say(notebook: Path, tool: str) -> subprocess.CompletedProcess:
    """Run ``notebook`` in its folder the way the tutorials' page tells a user to: the environment's own
    ``jupyter nbconvert --execute`` or ``papermill``, called by path, with the environment's ``bin/`` NOT
    on PATH (no activated venv), and the ``python3`` kernel as installed. The run is ``run.ipynb``."""
    tools = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCKMIG_", "JPY_", "VIRTUAL_ENV"))}
    # No folder that holds a `duckmig` command: a tutorial must reach it through its kernel, as a user's does.
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if d and Path(d).resolve() != tools.resolve() and not shutil.which("duckmig", path=d))
    command = {"nbconvert": [tools / "jupyter", "nbconvert", "--to", "notebook", "--execute", notebook.name,
                             "--output", "run.ipynb"],
               "papermill": [tools / "papermill", notebook.name, "run.ipynb"]}[tool]
    return subprocess.run([str(c) for c in command], cwd=notebook.parent, env=env, capture_output=True, text=True,
                          timeout=300)


def error_outputs(nb) -> list[str]:
    """Every output of a cell that says something went wrong: an error, or anything on stderr."""
    return [f"{c.id}: {o.get('ename', '')} {o.get('evalue', '')}{o.get('text', '')}" for c in nb.cells
            if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]


@pytest.mark.parametrize("tool", ["nbconvert", "papermill"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_tutorial_runs_headless_in_a_fresh_folder(path, tool, tmp_path):
    """As the docs tell a user, and as CI runs notebooks: no frontend tells the kernel which notebook it
    runs, and no activated environment puts `duckmig` on PATH."""
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    run = run_as_the_docs_say(copy, tool)
    assert run.returncode == 0, run.stderr[-3000:]  # a cell's error fails the run
    nb = nbformat.read(str(tmp_path / "run.ipynb"), as_version=4)
    assert error_outputs(nb) == []
    outputs = {c.id: "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in c.outputs)
               for c in nb.cells if c.cell_type == "code"}
    for (name, cell_id), text in EXPECTED_OUTPUT.items():
        if name == path.name:
            assert text in outputs[cell_id], (cell_id, outputs[cell_id])
    assert "FloatProgress" not in "".join(outputs.values())
    assert copy.read_bytes() == path.read_bytes()  # running it leaves the notebook alone


BREAK = {  # a tutorial changed so that one of its commands fails: (notebook, cell id, old text, new text)
    "01_quick_start.ipynb": ("create-metrics", "(3, 'disk', 80.25)", "(3, 'disk', 'eighty')"),  # `%migrate up`
    "02_notebook_to_production.ipynb": ("edit", "DEFAULT 80", "DEFAULT 90"),  # no drift: `verify` exits 0, not 3
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_a_tutorial_whose_command_fails_fails_its_headless_run(path, tmp_path):
    cell_id, old, new = BREAK[path.name]
    nb = nbformat.read(str(path), as_version=4)
    (cell,) = [c for c in nb.cells if c.id == cell_id]
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    nbformat.write(nb, str(tmp_path / path.name))
    run = run_as_the_docs_say(tmp_path / path.name, "nbconvert")
    assert run.returncode != 0
    assert "CellExecutionError" in run.stderr, run.stderr[-3000:]


def test_papermill_tells_the_kernel_its_notebook(project, shell, capsys):
    notebook(project.root / "analysis.ipynb", ("k1", GOOD))
    shell.user_ns["PAPERMILL_INPUT_PATH"] = "analysis.ipynb"  # what `papermill --inject-input-path` defines
    shell.run_line_magic("migrate", "export")
    assert capsys.readouterr().out.splitlines()[-1] == "1 created"


def test_binder_installs_the_package_and_jupyterlab():
    root = Path(__file__).parent.parent
    # repo2docker runs `pip install -r binder/requirements.txt` from the repository's root: "." is the package
    requirements = [line.split("#")[0].strip() for line in (root / "binder" / "requirements.txt").read_text().splitlines()]
    assert "." in requirements and any(r.startswith("jupyterlab") for r in requirements)
    assert (root / "notebooks" / "01_quick_start.ipynb").is_file()


def test_a_notebook_for_a_lake_keeps_its_password_out(project):
    project.sql("20250101_000001", "one", "CREATE TABLE one (x INTEGER);")
    nb = build_notebook(project.directory, folder=project.root,
                        database="ducklake:postgres:dbname=lake host=db.internal user=ci password=s3cret")
    connect = nb.cells[1].source
    assert "s3cret" not in connect
    assert connect.endswith("%migrate connect 'ducklake:postgres:dbname=lake host=db.internal user=ci "
                            "password=***' --dir migrations")
