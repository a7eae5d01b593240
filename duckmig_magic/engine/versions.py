"""Version files on disk: names, discovery, checksums and creation.

A version file is ``versions/YYYYMMDD_HHMMSS_slug.sql`` (or ``.py``) under the
migrations directory, VERSION in UTC. This layer reads and writes files and
knows nothing of the database.
"""

from __future__ import annotations

import ast
import codecs
import errno
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path

from .. import errors
from . import pyform, sqlfile
from .sqlfile import checksum

VERSION_FORMAT = "%Y%m%d_%H%M%S"
VERSION_RE = re.compile(r"[0-9]{8}_[0-9]{6}")  # fullmatch it
# A version file's name is ASCII, so its characters are its bytes, and file systems allow a name 255
# of them. Files are written through a temporary ".NAME.<16 hex digits>.tmp" beside them
# (write_atomically), which needs 22 more: a longer name could not be written, and a name from the
# ledger (restore) is whatever the database's writer chose.
NAME_MAX = 255 - len("..0123456789abcdef.tmp")
_FILE_SHAPE = r"(?P<version>[0-9]{8}_[0-9]{6})_(?P<slug>[a-z0-9_]+)\.(?P<ext>sql|py)"
FILE_RE = re.compile(rf"(?=.{{1,{NAME_MAX}}}\Z){_FILE_SHAPE}")  # fullmatch it
SLUG_MAX = 60


class IgnoredFile(UserWarning):
    """A file in versions/ whose name does not match the pattern; it is not run."""


def name_problem(name: str) -> str:
    """Why ``name``, which ``FILE_RE`` does not match, is not a version file's name."""
    if len(name) > NAME_MAX and re.fullmatch(_FILE_SHAPE, name):
        return f"the name is longer than {NAME_MAX} characters, the most a version file's name may have"
    return "the name does not match YYYYMMDD_HHMMSS_slug.sql or .py (slug: a-z, 0-9 and _)"


def slugify(description: str) -> str:
    """A file-name-safe slug: ``[a-z0-9_]``, at most 60 characters, never empty."""
    ascii_ = unicodedata.normalize("NFKD", description).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")
    return slug[:SLUG_MAX].rstrip("_") or "migration"


# Never through a link, even one put in a file's place since the folder was read.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes. ``status`` reads thousands of small files, and ``open()`` builds a buffered
    file object for each: reading with the descriptor alone takes half the time."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise errors.linked_version_file(Path(path)) from None
        raise
    return _read_fd(fd)


def read_all(scripts: list[Script], folder: str | os.PathLike) -> None:
    """Read now every one of ``scripts``, the files of ``folder``, that is not read yet.

    Each is opened by its name in the open folder: the kernel then does not
    resolve the folder's path again for each file, which is a third of the
    time of reading thousands of small ones. A file that cannot be read is
    left unread, and raises its error when something asks for its text.
    """
    try:
        folder_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) \
            if os.open in os.supports_dir_fd else None
    except OSError:
        folder_fd = None
    try:
        for s in scripts:
            if s._raw is None and s._text is None:
                try:
                    s._raw = _read_fd(os.open(s.file, _READ_FLAGS) if folder_fd is None
                                     else os.open(s.name, _READ_FLAGS, dir_fd=folder_fd))
                except OSError:
                    pass
    finally:
        if folder_fd is not None:
            os.close(folder_fd)


def _read_fd(fd: int) -> bytes:
    """The bytes of the file open as ``fd``, which is closed."""
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@dataclass
class Script:
    """One version file, read lazily."""

    # The path as found. ``status`` reads thousands of files, and on them making
    # a Path and its str() costs more than reading the file: ``path`` is lazy.
    file: str | os.PathLike
    version: str
    slug: str
    kind: str  # "sql" or "python"
    _text: str | None = field(default=None, repr=False)
    # ``status`` reads these of thousands of files: plain attributes cost less than cached properties.
    _raw: bytes | None = field(default=None, repr=False, compare=False)
    _checksum: str | None = field(default=None, repr=False, compare=False)
    _name: str | None = field(default=None, repr=False, compare=False)

    @cached_property
    def path(self) -> Path:
        return Path(self.file)

    @property
    def name(self) -> str:
        return self._name or os.path.basename(self.file)

    def read(self) -> bytes:
        """The file's bytes, read once; ``text`` and ``checksum`` use them."""
        if self._raw is None:
            self._raw = read_bytes(self.file)
        return self._raw

    @property
    def text(self) -> str:
        if self._text is None:
            raw = self.read()
            try:
                self._text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = raw.count(b"\n", 0, exc.start) + 1
                raise errors.MigrationFileError(self.path, "the file is not UTF-8 text", line,
                                                "save the file as UTF-8") from exc
        return self._text

    @property
    def checksum(self) -> str:
        if self._checksum is None:
            text, raw, self._raw = self.text, self._raw, None  # the text is kept; its bytes are no longer needed
            if raw is not None and b"\r" not in raw and not raw.startswith(codecs.BOM_UTF8):
                self._checksum = hashlib.sha256(raw).hexdigest()  # normalising would change nothing
            else:
                self._checksum = checksum(text)
        return self._checksum

    @cached_property
    def sql(self) -> sqlfile.SqlMigration:
        return sqlfile.parse(self.text, self.path)

    @cached_property
    def migration(self) -> pyform.BaseMigration:
        """The Python migration, imported: this runs the file's code, so only a verb that runs it asks."""
        return pyform.load(self.text, self.path, self.version)

    @cached_property
    def outline(self) -> pyform.Outline:
        """The Python file's class, version and description, read without running any of it."""
        return pyform.outline(self.text, self.path, self.version)

    @property
    def description(self) -> str:
        """The description a person gave; for SQL files, the header line, else the slug.

        A Python file's is read from its text unless it is imported already.
        """
        if self.kind == "python":
            loaded = self.__dict__.get("migration")
            given = getattr(loaded, "description", "") if loaded is not None else self.outline.description
            return given or _humanize(self.slug)
        return self.sql.description or _humanize(self.slug)

    @property
    def quick_description(self) -> str:
        """The description without importing Python code (for status)."""
        if self.kind == "sql" and "description:" in self.text:
            m = sqlfile._DESCRIPTION.search(sqlfile.normalize(self.text).split("-- migrate:", 1)[0])
            if m and m["text"]:
                return m["text"]
        return _humanize(self.slug)

    @property
    def is_draft(self) -> bool:
        """An untouched template of ``new``: nothing written in it yet, so planning skips it (status
        calls it a draft) instead of every run refusing it."""
        if self.kind == "sql" and not self.text.rstrip().endswith("-- migrate:down"):
            return False  # most files, told without normalising them or splitting them into lines
        text = sqlfile.normalize(self.text)
        if self.kind == "python":
            m = re.match(r"# Migration: (.*)\n", text)
            return m is not None and text == python_template(self.version, m[1])
        lines = [line.strip() for line in text.split("\n") if line.strip()]
        return lines[-2:] == ["-- migrate:up", "-- migrate:down"] and all(
            sqlfile._DESCRIPTION.match(line) for line in lines[:-2])

    @property
    def transactional(self) -> bool:
        return self.kind == "python" or self.sql.up.transaction

    @property
    def downgrade_source(self) -> str | None:
        """What the ledger keeps so this migration can be reverted without its file."""
        if self.kind == "python":
            return self.text
        return self.sql.down.sql if self.sql.down else None

    def check(self) -> None:
        """Raise the file's error if any, running nothing: SQL is parsed, Python read as a syntax tree."""
        if self.kind == "python":
            _ = self.outline  # read for its check: the syntax tree is parsed
        else:
            _ = self.sql  # read for its check: the file is parsed
            if self.sql.down:
                self.sql.down.statements(self.path)

    def load(self) -> None:
        """Parse (SQL) or import (Python) now, raising the file's error if any; importing runs the
        file's code, so only the verbs that run migrations load them."""
        if self.kind == "python":
            _ = self.migration  # read for its load: the file is imported
        else:
            self.check()


def _humanize(slug: str) -> str:
    return slug.replace("_", " ")


class ScriptDirectory:
    """The migrations directory and the version files in its ``versions/``."""

    def __init__(self, directory: str | os.PathLike, applied: Callable[[], list[str]] | None = None):
        """``applied``: the versions the ledger knows as applied, asked only when the folder is missing,
        so that the error says how to get their files back rather than how to start afresh."""
        self.directory = Path(directory)
        self.versions_dir = self.directory / "versions"
        self.applied = applied

    def exists(self) -> bool:
        return self.versions_dir.is_dir()

    def make(self) -> bool:
        """Create the directory and its versions/ folder; False if they exist already.

        Raises a ConfigError where a file stands in the way, before creating anything.
        """
        if self.exists():
            return False
        self._check_no_file_in_the_way()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        return True

    def _check_no_file_in_the_way(self) -> None:
        for path in reversed([self.versions_dir, *self.versions_dir.parents]):
            if path.exists() and not path.is_dir():
                raise errors.ConfigError(f"{path} is a file, not a folder: the migrations directory holds its "
                                         "version files in its versions/ folder",
                                         "move that file out of the way, or point {setting:directory} at another folder")

    def scripts(self) -> list[Script]:
        """Every version file in version order; warns about files it ignores."""
        if not self.exists():
            self._check_no_file_in_the_way()
            missing = self.versions_dir if self.directory.is_dir() else self.directory
            applied = self.applied() if self.applied is not None else []
            if applied:
                listed = ", ".join(applied[:3]) + (f" ... {applied[-1]}" if len(applied) > 3 else "")
                raise errors.ConfigError(
                    f"migrations directory {missing} does not exist, and the ledger records "
                    f"{errors.plural(len(applied), 'applied migration')} ({listed})",
                    "{do:restore} writes their files back from the ledger; or export the notebook that holds them "
                    "({do:export NOTEBOOK.ipynb}); or point {setting:directory} at the folder that holds versions/")
            raise errors.ConfigError(f"migrations directory {missing} does not exist", "create it with {do:init}, or "
                                     "point {setting:directory} at the folder that holds versions/")
        found: dict[str, Script] = {}
        twins: dict[str, list[Script]] = {}
        with os.scandir(self.versions_dir) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "_")) or name.endswith((".pyc", "~")):
                    continue
                m = FILE_RE.fullmatch(name)
                if m and entry.is_symlink():
                    # Read, it would bring a file from anywhere into the ledger and into runs; ignored, it
                    # would show a migration as missing that is there. As writing does, refuse it.
                    raise errors.linked_version_file(Path(entry.path))
                if not entry.is_file():
                    if m:  # other folders may hold anything; one named as a version file looks like a mistake
                        warnings.warn(IgnoredFile(
                            f"{self.versions_dir / name}: ignored, it is "
                            f"{'a folder' if entry.is_dir() else 'not a regular file'}, not a version file"),
                            stacklevel=2)
                    continue
                if not m:
                    warnings.warn(IgnoredFile(f"{self.versions_dir / name}: ignored, {name_problem(name)}"),
                                  stacklevel=2)
                    continue
                version, slug, ext = m.groups()
                script = Script(entry.path, version, slug, "python" if ext == "py" else "sql", _name=name)
                if script.version in found:
                    twins.setdefault(script.version, [found[script.version]]).append(script)
                else:
                    found[script.version] = script
        for version, same in twins.items():
            paths = sorted(s.path for s in same)
            raise errors.MigrationFileError(paths[0], f"version {version} is used by {len(paths)} files: "
                                            + ", ".join(p.name for p in paths),
                                            hint="give one of them a new version (rename it, or recreate it with "
                                                 "{do:new})")
        return [found[v] for v in sorted(found)]

    def get(self, version: str) -> Script | None:
        return next((s for s in self.scripts() if s.version == version), None)

    def create(self, description: str, text_for, *, kind: str = "sql",
               now: datetime | None = None, slug: str | None = None, version: str | None = None,
               reserved: frozenset[str] = frozenset()) -> Script:
        """Write a new version file; never reuses a version, even within one second.

        ``text_for(version)`` gives the file's text. Creators in other processes
        wait for one another, so two of them never take one version. With
        ``version``, the file gets exactly that one, or a ConfigError is raised.
        ``reserved`` versions are skipped too (the ledger's, whose files are gone).
        """
        exact = version
        if exact is not None:
            now = check_new_version(exact)
        self.make()
        slug = slugify(slug or description)
        moment = (now or datetime.now(timezone.utc)).replace(microsecond=0, tzinfo=None)
        ext = "py" if kind == "python" else "sql"
        with _locked(self.versions_dir):
            taken = {s.version for s in self.scripts()} | (set(reserved) if exact is None else set())
            while True:
                version = moment.strftime(VERSION_FORMAT)
                if exact is not None and version in taken:
                    holder = next(s.path for s in self.scripts() if s.version == exact)
                    raise errors.version_taken(exact, holder)
                if version not in taken:
                    path = self.versions_dir / f"{version}_{slug}.{ext}"
                    try:
                        with open(path, "x", encoding="utf-8", newline="\n") as fh:
                            try:
                                fh.write(text_for(version))
                            except BaseException:
                                path.unlink()  # a half-written version file would break every run
                                raise
                        return Script(path, version, slug, kind)
                    except FileExistsError:
                        pass
                taken.add(version)
                moment += timedelta(seconds=1)


def write_atomically(path: Path, text: str) -> None:
    """Replace the file at ``path`` with ``text`` all at once: readers see the old text or the new.

    The text goes to a new file of a random name beside it, created with
    O_EXCL and O_NOFOLLOW, then renamed over ``path``: a link planted at either
    name is never followed, and a link at ``path`` itself is refused.
    """
    path = Path(path)
    if path.is_symlink():
        raise errors.symlink_refused(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _locked(directory: Path):
    """An exclusive lock, across processes and on every OS, on creating version files in ``directory``.

    The lock file lives in the temporary folder, named for the directory, so the
    migrations directory holds nothing but what its users put there.
    """
    from filelock import FileLock

    key = hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:24]
    return FileLock(os.path.join(tempfile.gettempdir(), f"duckmig-{key}.lock"), mode=0o666)


def python_template(version: str, description: str) -> str:
    cls = f"Migration_{version}"
    one_line = sqlfile.one_line(description)
    return f'''# Migration: {one_line}
# Version: {version}

from duckmig_magic import BaseMigration


class {cls}(BaseMigration):
    def __init__(self):
        super().__init__(version="{version}", description={one_line!r})

    def upgrade(self, session) -> None:
        """Apply the migration."""
        self.execute_sql(session, """
            -- your change here
        """)

    def downgrade(self, session) -> None:
        """Revert the migration."""
        self.execute_sql(session, """
            -- undo it here
        """)
'''


def is_version(text: str) -> bool:
    return bool(VERSION_RE.fullmatch(text))


def check_new_version(text: str) -> datetime:
    """The moment of a version a new file is to get; raises a ConfigError where ``text`` is no version,
    or has its pattern on a date or time the calendar does not have (20251399_000000)."""
    if not is_version(text):
        raise errors.not_a_version(text)
    try:
        return datetime.strptime(text, VERSION_FORMAT)
    except ValueError:
        t = text
        raise errors.not_a_version(text, f"{t[:4]}-{t[4:6]}-{t[6:8]} {t[9:11]}:{t[11:13]}:{t[13:15]} is not a "
                                   "date and time (a version is YYYYMMDD_HHMMSS in UTC, like 20250710_000001)") from None


def same_upgrade(row, script) -> bool:
    """Whether a SQL file differs from the text ``row`` recorded when it was applied in its downgrade
    alone: what was applied is what the file says, so it is no drift. Told from the stored text where
    the row has it, else from the checksum of the file with its down section as it was."""
    if script.kind != "sql" or row.checksum is None:
        return False
    try:
        now = script.sql
    except errors.MigrationFileError:
        return False
    if row.source:
        try:
            was = sqlfile.parse(row.source)
        except errors.MigrationFileError:
            return False
        return (was.up.sql.strip(), was.up.transaction, was.up.keep, was.description) == \
            (now.up.sql.strip(), now.up.transaction, now.up.keep, now.description)
    text = sqlfile.normalize(script.text)
    marker = next((m for m in sqlfile._MARKER.finditer(text)  # noqa: SLF001 - the parser's own marker
                   if m["which"].lower() == "down" and sqlfile._outside_quotes(text, m.start())), None)  # noqa: SLF001
    head = text[:marker.start()] if marker else text
    stored = row.downgrade or ""
    tried = {head, head.rstrip("\n") + "\n", head + "-- migrate:down\n" + stored,
             head.rstrip("\n") + "\n\n-- migrate:down\n" + stored, head + "-- migrate:down\n"}
    return any(checksum(t) == row.checksum for t in tried)


def has_downgrade(script) -> bool:
    """Whether a version file says how to revert it: a `-- migrate:down` section with a statement, or a
    ``downgrade`` method with more in it than ``pass``, a docstring or ``...``."""
    if script.kind == "sql":
        return script.downgrade_source is not None
    cls = type(script.migration)  # imported: only a verb that runs migrations asks
    if cls.downgrade is pyform.BaseMigration.downgrade:
        return False
    for node in ast.walk(ast.parse(script.text.lstrip("\ufeff"))):  # a BOM Python itself takes
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            for f in node.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name == "downgrade":
                    return not all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(
                        s.value, ast.Constant)) for s in f.body)
    return True  # inherited from a class of the author's own
