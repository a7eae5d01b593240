"""Writing a migration from its body, as a notebook cell or an export does.

A migration written this way is identified by its slug: saving the same slug
again updates the same version file instead of adding another. The file is the
body with a header of comments: where it came from (``duckmig-source``, written
when the file is created and kept by later saves) and, for SQL, its
description. ``compose`` and ``decompose`` are inverse, so a notebook built
from files exports back to the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from .. import errors
from ..errors import BadSlug, MigrationApplied  # noqa: F401  named here too: notebooks catch them
from . import pyform, sqlfile
from .identity import Recorded
from .versions import Script, ScriptDirectory, check_new_version, checksum, slugify, write_atomically

SOURCE_KEY = "duckmig-source:"
_SQL_HEADER = re.compile(r"^-- (duckmig-source|description): ?(.*)$")
_PY_HEADER = re.compile(r"^# (duckmig-source): ?(.*)$")


@dataclass
class Saved:
    # "created", "updated", "unchanged", "restored" (its file was gone; the ledger knows its version) or
    # "downgrade stored" (an applied migration's downgrade alone changed: the file and the ledger take it)
    action: str
    script: Script
    applied: bool = False  # the ledger has its version applied, as the file now is

    @property
    def path(self) -> Path:
        return self.script.path

    @property
    def version(self) -> str:
        return self.script.version


def compose(body: str, kind: str, *, description: str | None = None, source: str | None = None) -> str:
    """The file's text for a migration body."""
    lines = []
    if source:  # a line break (in a notebook's file name, say) would end the comment and start code
        source = " ".join(source.splitlines())
    if kind == "python":
        if source:
            lines.append(f"# {SOURCE_KEY} {source}")
    else:
        if source:
            lines.append(f"-- {SOURCE_KEY} {source}")
        if description:
            lines.append(f"-- description: {' '.join(description.split())}")
    body = sqlfile.normalize(body).strip("\n")
    return "\n".join(lines + [body]) + "\n"


def decompose(text: str, kind: str) -> tuple[str, str | None, str | None]:
    """(body, description, source) of a file's text: the inverse of ``compose``."""
    pattern = _PY_HEADER if kind == "python" else _SQL_HEADER
    lines = sqlfile.normalize(text).split("\n")
    found: dict[str, str] = {}
    while lines and (m := pattern.match(lines[0])) and m[1] not in found:
        found[m[1]] = m[2]
        lines.pop(0)
    return "\n".join(lines).strip("\n"), found.get("description"), found.get("duckmig-source")


def check_slug(slug: str) -> str:
    if not slug or slugify(slug) != slug:
        raise BadSlug(slug, slugify(slug))
    return slug


def validate(text: str, kind: str, path: str, version: str | None = None) -> None:
    """Raise the file's error now, before anything is written; runs nothing (Python is read as a
    syntax tree: a notebook's cells may come from anyone)."""
    if kind == "python":
        pyform.outline(text, path, version)
    else:
        parsed = sqlfile.parse(text, path)
        if parsed.down:
            parsed.down.statements(path)


@dataclass
class Planned:
    """What ``save`` is about to do, every check made and nothing written yet."""

    action: str  # "created", "updated", "unchanged" or "restored"
    slug: str
    kind: str
    text: str
    description: str | None
    script: Script | None  # the file it updates or leaves; None for a new one
    version: str | None = None  # the version a new file must get; None: the next free one
    reserved: frozenset[str] = frozenset()  # versions a new file must not get: the ledger's, whose files are gone
    applied: bool = False  # the ledger has this version applied with the text the file will hold


def save(directory: ScriptDirectory, slug: str, body: str, **kw) -> Saved:
    """Create or update the version file of ``slug``; refuse to change an applied one.

    Takes the arguments of ``prepare``; the text is validated before any file
    is touched.
    """
    return write(directory, prepare(directory, slug, body, **kw))


def prepare(directory: ScriptDirectory, slug: str, body: str, *, kind: str = "sql",
            description: str | None = None, source: str | None = None, applied: AbstractSet[str] = frozenset(),
            force: bool = False, where: str | None = None, version: str | None = None,
            recorded: Sequence[Recorded] = ()) -> Planned:
    """Check everything ``save`` would check and say what it would do, writing nothing.

    ``where`` names the origin in error messages (a cell, a notebook).
    ``version`` is the version a new file gets (default: the next free one);
    an existing file of the slug must already have it. ``recorded`` are the
    ledger's migrations whose files are gone (``identity.recorded``): a slug
    among them gets its file back with the version the database knows it by.
    """
    check_slug(slug)
    if version is not None:
        check_new_version(version)
    text = compose(body, kind, description=description, source=source)
    # Errors name lines of the body when it comes from elsewhere (a cell), else of the file.
    checked = sqlfile.normalize(body) if where else text
    scripts = directory.scripts() if directory.exists() else []
    existing = [s for s in scripts if s.slug == slug]
    if len(existing) > 1:
        raise errors.StateError(f"slug {slug!r} names {len(existing)} version files: "
                                f"{', '.join(s.name for s in existing)}",
                                "use a slug that names one migration, or remove the extra file")
    ext = "py" if kind == "python" else "sql"
    gone = [r for r in recorded if r.slug == slug]
    if existing:
        script = existing[0]
        elsewhere = [r for r in gone if r.status == "applied"]
        if elsewhere:
            raise errors.DriftError(
                f"{_at(where)}slug {slug!r} is {script.path.name}, but the database applied {slug!r} as "
                f"{elsewhere[0].version} ({elsewhere[0].filename}), whose file is gone: the files and the ledger "
                "disagree", f"if {script.path.name} is that migration written again under a new version, delete it "
                "and run this again: the migration then gets its own version back; if it is another migration, give "
                "it another slug")
        if version is not None and script.version != version:
            raise errors.ConfigError(f"{_at(where)}--version {version}, but slug {slug!r} is {script.path.name}",
                                     "drop --version (the slug finds its file), or use a new slug for a new migration")
        if script.kind != kind:
            raise _other_kind(script.name, script.kind, kind)
        old_body, old_desc, old_source = decompose(script.text, kind)
        new_body, new_desc, _ = decompose(text, kind)
        if (old_body, old_desc) == (new_body, new_desc):
            # a different source line alone is no change
            return Planned("unchanged", slug, kind, text, description, script, applied=script.version in applied)
        # Where a migration was born (or that it was born nowhere known) stays in its file, so putting a
        # text back restores its bytes.
        text = compose(body, kind, description=description, source=old_source)
        if script.version in applied and not force and kind == "sql" and _downgrade_only(script.text, text):
            # What was applied is unchanged: no drift. The file and the ledger take the new downgrade.
            if script.path.is_symlink():
                raise errors.symlink_refused(script.path)
            validate(checked, kind, where or str(script.path), script.version)
            return Planned("downgrade stored", slug, kind, text, description, script, applied=True)
        if script.version in applied and not force:
            raise MigrationApplied(f"{script.version} ({script.name}) is already applied and its text changed; the "
                                   "file was left as it was", script,
                                   max((v for v in applied if v < script.version), default="base"))
        if script.path.is_symlink():  # refused now, so that an export writes all of its files or none
            raise errors.symlink_refused(script.path)
        validate(checked, kind, where or str(script.path), script.version)
        return Planned("updated", slug, kind, text, description, script)
    if gone:
        return _restore(directory, gone, slug, body, kind, description, source, force, where, version, checked,
                        applied)
    holder = next((s.path for s in scripts if s.version == version), None)
    holder = holder or next((directory.versions_dir / r.filename for r in recorded if r.version == version), None)
    if holder is not None:
        raise errors.version_taken(version, holder, where)
    validate(checked, kind, where or f"{slug}.{ext}", version)
    return Planned("created", slug, kind, text, description, None, version, frozenset(r.version for r in recorded))


def _restore(directory: ScriptDirectory, gone: list[Recorded], slug: str, body: str, kind: str,
             description: str | None, source: str | None, force: bool, where: str | None, version: str | None,
             checked: str, applied: AbstractSet[str]) -> Planned:
    """The file of a slug the ledger knows, written again with the version the database knows it by."""
    if version is not None:
        if version not in [r.version for r in gone]:
            raise errors.DriftError(f"{_at(where)}--version {version}, but the database knows slug {slug!r} as "
                                    f"{_recorded(gone)}, whose file is gone", "drop --version: the migration then "
                                    "gets its own version back; or use a new slug for a new migration")
        recorded = next(r for r in gone if r.version == version)
    elif len(gone) > 1:
        raise errors.DriftError(f"{_at(where)}the database knows slug {slug!r} as {len(gone)} migrations whose "
                                f"files are gone: {_recorded(gone)}; which one this is cannot be told",
                                "restore their files from version control, or give the cell --version with the "
                                "version it is")
    else:
        recorded = gone[0]
    if recorded.kind != kind:
        raise _other_kind(recorded.filename, recorded.kind, kind)
    text = compose(body, kind, description=description, source=source)
    if recorded.status == "applied" and recorded.checksum and checksum(text) != recorded.checksum:
        bare = compose(body, kind, description=description)  # written where the notebook's file was not known
        if checksum(bare) == recorded.checksum:
            text = bare
        elif not force:
            script = Script(directory.versions_dir / recorded.filename, recorded.version, slug, kind)
            raise MigrationApplied(f"{script.version} ({script.name}) is applied and its file is gone, but this text "
                                   "is not the one that was applied (their checksums differ); no file was written",
                                   script, max((v for v in applied if v < recorded.version), default="base"))
    validate(checked, kind, where or recorded.filename, recorded.version)
    return Planned("restored", slug, kind, text, description, None, recorded.version,
                   applied=recorded.status == "applied" and recorded.checksum in (None, checksum(text)))


def write(directory: ScriptDirectory, planned: Planned) -> Saved:
    """Do what ``prepare`` planned (the file; a stored downgrade's ledger row is the caller's)."""
    if planned.action in ("unchanged", "updated", "downgrade stored"):
        script = planned.script
        assert script is not None  # prepare gives these the file they leave or update
        if planned.action == "unchanged":
            return Saved("unchanged", script, planned.applied)
        write_atomically(script.path, planned.text)
        return Saved(planned.action, Script(script.path, script.version, planned.slug, planned.kind),
                     planned.applied)
    created = directory.create(planned.description or planned.slug.replace("_", " "), lambda _v: planned.text,
                               kind=planned.kind, slug=planned.slug, version=planned.version,
                               reserved=planned.reserved)
    return Saved(planned.action, created, planned.applied)


def _downgrade_only(old: str, new: str) -> bool:
    """Whether two texts of a SQL migration differ in their downgrade alone."""
    try:
        was, now = sqlfile.parse(old), sqlfile.parse(new)
    except errors.MigrationFileError:
        return False
    return (was.up.sql.strip(), was.up.transaction, was.up.keep, was.description) == \
        (now.up.sql.strip(), now.up.transaction, now.up.keep, now.description)


def _at(where: str | None) -> str:
    """Where a cell's text came from, before what is wrong with it."""
    return f"{where}: " if where else ""


def _recorded(rows: list[Recorded]) -> str:
    return ", ".join(f"{r.version} ({r.filename}, {r.status})" for r in rows)


def _other_kind(name: str, kind: str, new_kind: str) -> errors.StateError:
    return errors.StateError(f"{name} is a {kind} migration; this one is {new_kind}",
                             "keep the form of the existing file, or use a new slug")
