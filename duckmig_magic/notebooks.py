"""Moving migrations between notebooks and version files, both ways.

``export_notebook`` writes each ``%%migration`` cell of a notebook as its
version file, exactly as running the cell would: created, updated, unchanged,
or refused when its migration is applied and the text changed. Everything is
checked before the first file is written, so an export that fails writes
nothing. ``build_notebook`` goes the other way: a notebook with one
``%%migration`` cell per version file, which exports back to the same files,
byte for byte.

    from duckmig_magic.notebooks import export_notebook
    for result in export_notebook("analysis.ipynb", "migrations"):
        print(result.action, result.path)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import errors
from .cells import MAGIC, LineError, migration_line, parse
from .engine import Migrator, ScriptDirectory, authoring, checksum, write_atomically

# Cell metadata of a built notebook: where its file came from, and the file's checksum, so that a cell
# still holding exactly that file exports with the same provenance.
METADATA_KEY = "duckmig"
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
TOO_DEEP = "its JSON is nested too deeply to be read (a notebook's nests a few levels)"


@dataclass
class CellExport:
    """What exporting one ``%%migration`` cell did."""

    index: int  # the cell's position in the notebook, counted from 0 as nbformat does
    cell_id: str | None
    slug: str
    action: str  # "created", "updated", "unchanged", "refused", or (a check) "stale"
    path: Path | None  # the version file written or left; for a refused cell, the applied one
    version: str | None
    reason: str | None = None  # why a cell was refused


@dataclass
class MigrationCell:
    """A ``%%migration`` cell, read as the magic reads it."""

    index: int
    cell_id: str | None
    slug: str
    python: bool
    description: str | None
    version: str | None
    body: str
    metadata: dict


class InexactRoundTrip(UserWarning):
    """A version file that a built notebook does not give back byte for byte."""


# -- reading ----------------------------------------------------------------------------


def read_notebook(path: str | os.PathLike):
    """The notebook at ``path`` as an nbformat 4 NotebookNode (formats 2 and 3 are converted).

    Raises a ConfigError naming the file where it is missing, or is not a
    notebook this can read.
    """
    import nbformat

    path = Path(path)
    if not path.is_file():
        if path.is_dir():
            raise _not_a_notebook(path, "it is a folder")
        raise errors.ConfigError(f"notebook {path} does not exist", "check the path (relative to the current folder)")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise _not_a_notebook(path, "it is not UTF-8 text (a notebook is JSON)") from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise _not_a_notebook(path, "the file is empty")
    if text.lstrip()[:1] not in ("{", "["):
        raise _not_a_notebook(path, "it is not JSON, as a notebook is")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.ConfigError(f"{path}:{exc.lineno}:{exc.colno}: the notebook is not valid JSON ({exc.msg})",
                                 "the file is truncated or was edited by hand: restore it from version control, or "
                                 "open it in Jupyter and save it again") from None
    except RecursionError:  # JSON nested deeper than Python's recursion limit: no notebook is
        raise _not_a_notebook(path, TOO_DEEP) from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise _not_a_notebook(path, "it is JSON, but has no nbformat version")
    major = data["nbformat"]
    if not isinstance(major, int) or isinstance(major, bool) or not 2 <= major <= 4:
        newer = isinstance(major, int) and major > 4
        raise errors.ConfigError(f"{path} is a notebook of nbformat {major}, which cannot be read here (formats 2 to "
                                 "4 can)", "upgrade nbformat (`pip install -U nbformat`) to read it" if newer else
                                 "open it in Jupyter and save it, which writes the current format (4)")
    # Schema complaints are captured instead of logged (Jupyter opens such notebooks too); the checks
    # below refuse only what export cannot read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            nb = nbformat.reads(text, as_version=4, capture_validation_error={})
        except RecursionError:  # nested less deeply, but too deeply for nbformat's own walks through it
            raise _not_a_notebook(path, TOO_DEEP) from None
        except Exception as exc:  # nbformat's conversion raises what it meets: KeyError, ValidationError, ...
            raise _not_a_notebook(path, _first_line(exc)) from None
    if not isinstance(nb.get("cells"), list):
        raise _not_a_notebook(path, "it has no list of cells")
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("source"), str) or "cell_type" not in cell:
            raise _not_a_notebook(path, f"cell {index} has no cell_type or source")
    # Ids nbformat made up for cells without one are not in the file: keep only the file's own.
    ids = [c.get("id") if isinstance(c, dict) else None for c in data.get("cells", [])] if major == 4 else []
    for index, cell in enumerate(nb.cells):
        cell["id"] = ids[index] if index < len(ids) and isinstance(ids[index], str) else None
    return nb


def _not_a_notebook(path: Path, detail: str) -> errors.ConfigError:
    return errors.ConfigError(f"{path} is not a Jupyter notebook: {detail}",
                              "give the .ipynb file that holds the migration cells")


def migration_cells(nb, path: str | os.PathLike) -> list[MigrationCell]:
    """The notebook's ``%%migration`` cells, their lines parsed exactly as the magic parses them.

    Other cells, their outputs and other magics are left alone. A line the
    magic would refuse raises a ConfigError naming the cell.
    """
    found = []
    for index, cell in enumerate(nb.cells):
        read = migration_line(cell.source) if cell.get("cell_type") == "code" else None
        if read is None:
            continue
        line, body = read
        try:
            args = parse(line)
        except LineError as exc:
            said = f"{MAGIC} {line}".rstrip()
            raise errors.ConfigError(f"{path} cell {index}: {exc.message}\n  line: {said}",
                                     "fix the cell's first line; `%%migration?` in a notebook shows its arguments") from None
        found.append(MigrationCell(index, cell.get("id"), args.slug, args.python, args.description,
                                   args.version, body, _own_metadata(cell)))
    return found


def _own_metadata(cell) -> dict:
    """The cell's duckmig metadata (a built notebook's provenance of the cell); anything else under
    that key tells nothing: the notebook is anyone's data."""
    metadata = cell.get("metadata")
    own = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return own if isinstance(own, dict) else {}


# -- export ---------------------------------------------------------------------------------


def export_notebook(path: str | os.PathLike, target, *, force: bool = False,
                    check: bool = False) -> list[CellExport]:
    """Write the ``%%migration`` cells of the notebook at ``path`` as version files.

    ``target`` is a Migrator (its database tells which migrations are applied)
    or a migrations directory (nothing counts as applied). A cell whose
    migration is applied and whose text changed is refused unless ``force``;
    the other cells are still written. Any other problem (a file that is not a
    notebook, two cells of one slug, a line or a body the magic would refuse)
    raises before anything is written. Returns one result per cell, in order.
    With ``check`` nothing is written: a cell whose file export would create or
    change is "stale".
    """
    path = Path(path)
    nb = read_notebook(path)
    cells = migration_cells(nb, path)
    if not cells:
        what = f"has no %%migration cell among its {len(nb.cells)} cells" if nb.cells else "has no cells"
        raise errors.ConfigError(f"{path} {what}: nothing to export",
                                 "a migration cell starts with `%%migration SLUG` on its first line")
    _check_unique(path, cells)
    _check_cell_ids(path, nb, cells)
    scripts = target.scripts if isinstance(target, Migrator) else ScriptDirectory(target)

    def prepare(slug: str, body: str, *, python: bool, **kw) -> authoring.Planned:
        if isinstance(target, Migrator):  # its database tells which migrations are applied
            return target.prepare(slug, body, python=python, **kw)
        return authoring.prepare(scripts, slug, body, kind="python" if python else "sql", **kw)

    planned: list[tuple[MigrationCell, authoring.Planned | None, CellExport | None]] = []
    for c in cells:
        where = f"{path} cell {c.index} ({MAGIC} {c.slug})"
        try:
            plan = prepare(c.slug, c.body, python=c.python, description=c.description,
                           source=_source_of(c, path, scripts.directory), force=force, where=where,
                           version=c.version)
        except authoring.MigrationApplied as exc:
            refused = CellExport(c.index, c.cell_id, c.slug, "refused", exc.script.path, exc.script.version,
                                 exc.message_text())
            planned.append((c, None, refused))
            continue
        planned.append((c, plan, None))
    _inside(scripts, [p for _, p, _ in planned if p is not None])
    done: dict[int, CellExport] = {}
    # Files with a version of their own first, so that the next free version never takes theirs.
    for c, chosen, told in sorted(planned, key=lambda item: item[1] is None or item[1].version is None):
        if chosen is None:
            assert told is not None  # a cell has a plan, or the refusal that took its place
            done[c.index] = told
            continue
        if check:
            same = chosen.action == "unchanged"
            done[c.index] = CellExport(c.index, c.cell_id, c.slug, "unchanged" if same else "stale",
                                       chosen.script.path if chosen.script else None,
                                       chosen.script.version if chosen.script else chosen.version,
                                       None if same else f"export would {chosen.action[:-1]} its file")
            continue
        saved = authoring.write(scripts, chosen)
        done[c.index] = CellExport(c.index, c.cell_id, c.slug, saved.action, saved.path, saved.version)
    return [done[c.index] for c in cells]


def _check_unique(path: Path, cells: list[MigrationCell]) -> None:
    for key in ("slug", "version"):
        seen: dict[str, int] = {}
        for c in cells:
            value = getattr(c, key)
            if value is None:
                continue
            if value in seen:
                both = f"{path}: cells {seen[value]} and {c.index} both"
                if key == "slug":
                    raise errors.ConfigError(f"{both} write migration {value!r}", "each migration is one cell: "
                                             "rename the slug of one of them, or delete one")
                raise errors.ConfigError(f"{both} ask for --version {value}",
                                         "drop --version from the newer cell: it then takes the next free version")
            seen[value] = c.index


def _check_cell_ids(path: Path, nb, cells: list[MigrationCell]) -> None:
    """Refuse a migration cell whose id another cell of the notebook has too.

    The id is the ``#cell=`` of the version file's provenance line: shared, it
    names no one cell, and the line would point at a cell that may not be the
    source. Making it unique here would name a cell the file does not have, and
    the notebook would keep the fault; so, as for two cells of one slug, export
    refuses and the notebook is put right once (Jupyter gives duplicates new ids).
    """
    holders: dict[str, list[int]] = {}
    for index, cell in enumerate(nb.cells):
        if isinstance(cell.get("id"), str):
            holders.setdefault(cell["id"], []).append(index)
    for c in cells:
        if isinstance(c.cell_id, str) and _CELL_ID.match(c.cell_id) and len(holders[c.cell_id]) > 1:
            cells_ = " and ".join(str(i) for i in holders[c.cell_id])
            raise errors.ConfigError(f"{path}: cells {cells_} have one id, {c.cell_id!r}, and a migration's file "
                                     "names its cell by its id", "give each cell an id of its own: Jupyter does "
                                     "when it opens the notebook and saves it again")


def _inside(scripts: ScriptDirectory, planned: list[authoring.Planned]) -> None:
    """Every new file lands in versions/, whatever a cell says. Slugs and versions are checked
    already; this holds even if those checks are loosened one day."""
    root = scripts.versions_dir.resolve()
    for p in planned:
        if p.script is None and (scripts.versions_dir / f"{p.version}_{p.slug}.sql").resolve().parent != root:
            raise authoring.BadSlug(p.slug, authoring.slugify(p.slug))


def provenance(notebook: Path, directory: Path, cell_id: str | None) -> str:
    """``NOTEBOOK#cell=ID``, the notebook relative to the project (the migrations directory's parent),
    so that the header is the same on every machine."""
    try:
        where = Path(os.path.relpath(notebook.resolve(), Path(directory).resolve().parent)).as_posix()
    except ValueError:  # another drive
        where = notebook.resolve().as_posix()
    return f"{where}#cell={cell_id}" if isinstance(cell_id, str) and _CELL_ID.match(cell_id) else where


def _source_of(c: MigrationCell, notebook: Path, directory: Path) -> str | None:
    """The provenance of a cell; a cell of a built notebook that still holds exactly its file keeps
    the file's own."""
    kept = c.metadata.get("source")
    if "sha256" in c.metadata and (kept is None or isinstance(kept, str)):
        text = authoring.compose(c.body, "python" if c.python else "sql", description=c.description, source=kept)
        if checksum(text) == c.metadata["sha256"]:
            return kept
    return provenance(notebook, directory, c.cell_id)


# -- build --------------------------------------------------------------------------------------


def build_notebook(directory: str | os.PathLike, *, database: str | None = None,
                   folder: str | os.PathLike | None = None):
    """A notebook with a header, a connect cell and one ``%%migration`` cell per version file, in order.

    Exporting it gives back the same files byte for byte. ``database`` is what
    the connect cell connects to (default: a new in-memory database, so running
    the cells only stores them); ``folder`` is where the notebook will be saved,
    for the relative path of the migrations directory (default: the current
    folder). Files that would not come back byte for byte are reported with an
    InexactRoundTrip warning.
    """
    import nbformat.v4 as v4

    scripts = ScriptDirectory(directory)
    found = scripts.scripts()
    folder = Path(folder or ".")
    relative = _relative(directory, folder)
    if database in (None, ":memory:"):
        database = ":memory:"
    elif database.startswith("ducklake:"):
        # A notebook is shared: a password in the connection string stays out of it (***), as in messages.
        from .engine import redact

        database = redact(database)
    else:
        database = _relative(database, folder)
    connect = f"%migrate connect {shlex.quote(database)} --dir {shlex.quote(relative)}"
    nb = v4.new_notebook()
    nb.metadata.update({"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                        "language_info": {"name": "python"}})
    nb.cells.append(v4.new_markdown_cell(
        f"# Migrations in `{relative}`\n\n"
        f"One `%%migration` cell per version file, oldest first ({len(found)} in all). Running a cell stores "
        "it in its version file; `%migrate export` (or `duckmig export NOTEBOOK.ipynb` in a terminal) writes "
        "every cell at once. `%migrate up` applies them to the connected database.", id="duckmig-header"))
    nb.cells.append(v4.new_code_cell(f"%load_ext duckmig_magic\n{connect}", id="duckmig-connect"))
    for s in found:
        body, description, source = authoring.decompose(s.text, s.kind)
        words = [MAGIC, s.slug, "--version", s.version]
        if s.kind == "python":
            words.append("--python")
        elif description:
            words += ["--description", shlex.quote(description)]
        composed = authoring.compose(body, s.kind, description=description, source=source)
        problem = _inexact(s, composed)
        if problem:
            warnings.warn(InexactRoundTrip(f"{s.path}: {problem}"), stacklevel=2)
        cell = v4.new_code_cell(" ".join(words) + "\n" + body, id=f"migration-{s.version}")
        cell.metadata[METADATA_KEY] = {"source": source, "sha256": checksum(composed)}
        nb.cells.append(cell)
    return nb


def _relative(path, folder: Path) -> str:
    """``path`` as seen from ``folder``, where the notebook's kernel runs."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()
    except ValueError:  # another drive
        return Path(path).resolve().as_posix()


def _inexact(script, composed: str) -> str | None:
    try:
        authoring.check_slug(script.slug)
    except authoring.BadSlug:
        return (f"slug {script.slug!r} cannot be written from a cell (a-z, 0-9 and single _), "
                "so exporting the notebook refuses it")
    if composed != script.text:
        return ("export writes this file normalised (header spacing, blank lines at its ends, line "
                "endings), so its checksum would change")
    return None


def write_notebook(nb, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Save ``nb`` at ``path``; an existing file is replaced only with ``force``."""
    import nbformat

    path = Path(path)
    if path.exists() and not force:
        raise errors.ConfigError(f"{path} exists already; it was left as it was",
                                 "choose another file with -o, or pass --force to replace it")
    if not path.parent.is_dir():
        raise errors.ConfigError(f"cannot write {path}: folder {path.parent} does not exist",
                                 "create the folder first, or choose another file with -o")
    write_atomically(path, nbformat.writes(nb) + "\n")
    return path


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
