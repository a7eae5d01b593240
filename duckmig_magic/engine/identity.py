"""Which version a cell's migration is, when its version file is gone.

A ``%%migration`` cell names its migration by its slug; the version lives in
the file's name. When ``versions/`` is lost (never committed, another
checkout), the ledger still knows the version each slug was applied as: it
stores each file's name. Writing the cell again must then give the file back
its own version, not a new one that would apply the migration a second time.
"""

from __future__ import annotations

from typing import NamedTuple

from .versions import FILE_RE


class Recorded(NamedTuple):
    """A ledger row of a migration whose version file is gone, as the name of that file tells it."""

    version: str
    slug: str
    kind: str  # "sql" or "python"
    status: str  # "applied" or "failed"
    checksum: str | None
    filename: str


def recorded(rows: dict, files: set[str]) -> list[Recorded]:
    """The ledger's ``rows`` (by version) whose version has no file among ``files`` (versions), with the
    slug of the file each was applied from; rows adopted without a file name tell no slug."""
    out = []
    for version, row in rows.items():
        m = FILE_RE.fullmatch(row.filename or "")
        if version in files or not m or m["version"] != version:
            continue
        out.append(Recorded(version, m["slug"], "python" if m["ext"] == "py" else "sql", row.status,
                            row.checksum, row.filename))
    return out


def copies(report) -> list[tuple[str, str, str]]:
    """(pending version, missing version, slug): a pending file with the slug of an applied migration
    whose file is gone, most likely that migration written again under a new version."""
    missing: dict[str, str] = {}  # slug -> version
    for m in report.by_state("missing"):
        found = FILE_RE.fullmatch(m.file or "")
        if found:
            missing.setdefault(found["slug"], m.version)
    out = []
    for m in report.by_state("pending", "out_of_order"):
        found = FILE_RE.fullmatch(m.file or "")
        if found and found["slug"] in missing:
            out.append((m.version, missing[found["slug"]], found["slug"]))
    return out
