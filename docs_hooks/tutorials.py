"""MkDocs hook: the tutorials in ``notebooks/`` run, each in a fresh folder, and go into the site with
their outputs as ``tutorials/NAME.ipynb`` (mkdocs-jupyter renders them).

They are stored without outputs, so the site shows what they print today. A cell that fails, or that
writes to stderr, fails the build: the site never shows a tutorial that does not run.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_runs: list[Path] = []  # this build's folders, removed after it


@event_priority(100)  # before mkdocs-jupyter's own on_files, which takes the notebooks as pages
def on_files(files: Files, config) -> Files:
    # A File of a folder of its own, not File.generated: mkdocs-jupyter reads the notebook from its path.
    source = Path(tempfile.mkdtemp(prefix="duckmig-docs-"))
    _runs.append(source)
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        ran = source / "tutorials" / path.name
        ran.parent.mkdir(exist_ok=True)
        shutil.move(run(path), ran)
        files.append(File(f"tutorials/{path.name}", src_dir=str(source), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def run(path: Path) -> Path:
    """Run the tutorial at ``path`` in a folder of its own, as a user runs it from its folder; returns
    the notebook with its outputs."""
    folder = Path(tempfile.mkdtemp(prefix="duckmig-docs-"))
    _runs.append(folder)
    copy = folder / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(str(copy), as_version=4)
    try:
        NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(folder)}}).execute()
    except CellExecutionError as exc:
        raise PluginError(f"{path.name} failed as the docs build ran it:\n{exc}") from None
    stderr = [o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "stream" and o.name == "stderr"]
    if stderr:
        raise PluginError(f"{path.name} wrote to stderr as the docs build ran it:\n{''.join(stderr)}")
    nbformat.write(nb, str(copy))
    return copy


def on_post_build(config) -> None:
    while _runs:
        shutil.rmtree(_runs.pop(), ignore_errors=True)


def on_build_error(error) -> None:
    on_post_build(None)
