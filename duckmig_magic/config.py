"""Settings: flags, then ``DUCKMIG_*`` variables, then ``[tool.duckmig]`` in the nearest
``pyproject.toml`` (searched from the current folder upward).

A DuckLake's ATTACH options are settings too: its data path (``--data-path``,
``DUCKMIG_DATA_PATH``, ``data_path``) in the same order, and the others
(``--option NAME=VALUE``, the table ``[tool.duckmig.options]``) flags first,
name by name. Those of pyproject.toml belong to a lake: a database given by
flag or variable that is no lake leaves them aside, and a pyproject.toml whose
own database is no lake is refused. Paths in pyproject.toml are relative to
its folder: the database, the catalog file inside a ``ducklake:`` database,
the data path, the directory.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from . import errors
from .engine import lake

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_DIRECTORY = "migrations"
VARIABLES = ("DUCKMIG_DATABASE", "DUCKMIG_DIR", "DUCKMIG_TABLE", "DUCKMIG_DATA_PATH")  # the settings' variables
KEYS = ("database", "directory", "table", "data_path", "options", "keep", "keep_limit", "lint")
DEFAULT_KEEP_LIMIT = 50_000_000  # rows of a table above which nothing of it is kept (README: Keeping)


@dataclass
class Settings:
    database: str | None
    directory: str
    table: str = "duckdb_migrations"
    source: str | None = None  # the pyproject.toml the settings came from, if any
    data_path: str | None = None  # a DuckLake's DATA_PATH
    options: dict = field(default_factory=dict)  # a DuckLake's other ATTACH options, by upper-case name
    keep: bool = True  # keep what migrations destroy, for their downgrades to put back
    keep_limit: int = DEFAULT_KEEP_LIMIT  # rows of a table above which nothing of it is kept

    @property
    def target(self):
        """What ``Migrator`` opens: the database, or the ``lake.Lake`` it names, with its data path and
        options."""
        if self.database is None or not lake.is_lake(self.database):
            return self.database
        return lake.parse(self.database, data_path=self.data_path, options=self.options)


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml, from ``start`` (the current folder) up. A folder that cannot be
    searched raises a ConfigError: skipping it could take the settings of a project further up."""
    try:
        here = (start or Path.cwd()).resolve()
    except FileNotFoundError:  # the current folder was deleted
        raise _unreadable("the current folder", "it does not exist any more") from None
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        try:
            if candidate.is_file():
                return candidate
        except OSError as exc:
            raise _unreadable(folder, exc.strerror or str(exc)) from None
    return None


def read_pyproject(path: Path) -> dict:
    """``[tool.duckmig]`` of ``path``, checked; its options by upper-case name, typed as ATTACH takes them."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _bad(path, f"not valid TOML: {exc}", "fix the file or remove [tool.duckmig]") from exc
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    section = data.get("tool", {}).get("duckmig", {})
    if not isinstance(section, dict):
        raise _bad(path, "[tool.duckmig] must be a table")
    unknown = set(section) - set(KEYS)
    if unknown:
        raise _bad(path, f"unknown setting{'s' * (len(unknown) > 1)} in [tool.duckmig]: {', '.join(sorted(unknown))}",
                   f"the settings are {', '.join(KEYS)}")
    if "lint" in section:
        lint_settings_of(section["lint"], path)  # checked now: a bad one is told by every verb
        section = {k: v for k, v in section.items() if k != "lint"}
    for key, value in section.items():
        if key == "keep" and not isinstance(value, bool):
            raise _bad(path, f"[tool.duckmig] keep must be true or false, not {value!r}",
                       "keep = false turns keeping off for every migration")
        if key == "keep_limit" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise _bad(path, f"[tool.duckmig] keep_limit must be a whole number of rows, not {value!r}",
                       f"keep_limit = {DEFAULT_KEEP_LIMIT} keeps nothing of a table of more rows than that")
        if key not in ("options", "keep", "keep_limit") and not isinstance(value, str):
            raise _bad(path, f"[tool.duckmig] {key} must be a string, not {value!r}")
    options = section.get("options", {})
    if not isinstance(options, dict):
        raise _bad(path, f"[tool.duckmig] options must be a table of ATTACH options, not {options!r}",
                   'write them under [tool.duckmig.options], a line each: metadata_schema = "lake_1"')
    with _told_where(f"{path}: [tool.duckmig.options]"):
        options = {name.upper(): lake.option(name.upper(), value) for name, value in options.items()}
    with _told_where(f"{path}: [tool.duckmig]"):
        if "DATA_PATH" in options:
            if "data_path" in section:
                raise errors.data_path_twice("data_path", "DATA_PATH in [tool.duckmig.options]")
            section = {**section, "data_path": options.pop("DATA_PATH")}
        elif not section.get("data_path", "x").strip():
            raise errors.empty_lake_option("data_path")
        given = ["data_path"] * ("data_path" in section) + [f"options.{name.lower()}" for name in options]
        database = section.get("database")
        if given and database is not None and not lake.is_lake(database):
            raise errors.lake_setting_without_lake(given[0], database)
    return {**section, "options": options} if "options" in section else section


def lint_settings_of(table: object, path: Path):
    """``[tool.duckmig.lint]`` of the pyproject.toml at ``path``, checked."""
    from .engine import lint  # the lint's rules, only where a pyproject.toml sets them

    return lint.settings_from(table, f"{path}: [tool.duckmig.lint]", set(lint.BY_ID))


def lint_settings(cwd: Path | None = None):
    """The lint's settings from ``[tool.duckmig.lint]`` in the nearest pyproject.toml (none: every rule)."""
    from .engine import lint

    pyproject = find_pyproject(cwd)
    if pyproject is None:
        return lint.LintSettings()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return lint.LintSettings()  # read_pyproject tells what is wrong with it, before any verb runs
    table = data.get("tool", {}).get("duckmig", {})
    return lint_settings_of(table.get("lint", {}), pyproject) if isinstance(table, dict) else lint.LintSettings()


def resolve(database: str | None = None, directory: str | None = None, table: str | None = None,
            cwd: Path | None = None, *, data_path: str | None = None, options: list[str] | None = None) -> Settings:
    """Flags win over the environment, which wins over pyproject.toml. ``data_path`` and ``options``
    (``NAME=VALUE`` words) are the flags of a DuckLake; the check of what they say happens here, before
    anything is opened."""
    pyproject = find_pyproject(cwd)
    section = read_pyproject(pyproject) if pyproject else {}
    base = pyproject.parent if pyproject else (cwd or Path.cwd())

    def from_file(key):
        value = section.get(key)
        if value is None or key == "table" or value == ":memory:":
            return value
        if key == "database" and lake.is_lake(value):
            return lake.with_catalog_path(value, lambda path: _under(base, path))
        return _under(base, value)  # relative to the pyproject.toml that says it

    database = database or os.environ.get("DUCKMIG_DATABASE") or from_file("database")
    flags = attach_options(options)
    flag_path = flags.pop("DATA_PATH", None)
    if data_path is not None and flag_path is not None:
        raise errors.data_path_twice("--data-path", "--option DATA_PATH")
    data_path = data_path if data_path is not None else flag_path
    env_path = os.environ.get("DUCKMIG_DATA_PATH") or None
    given = (["--data-path"] * (data_path is not None) + ["DUCKMIG_DATA_PATH"] * (env_path is not None)
             + [f"--option {name}" for name in flags])
    is_lake = database is not None and lake.is_lake(database)
    if given and database is not None and not is_lake:
        raise errors.lake_setting_without_lake(given[0], database)
    settings = Settings(
        database=database,
        directory=directory or os.environ.get("DUCKMIG_DIR") or from_file("directory") or DEFAULT_DIRECTORY,
        table=table or os.environ.get("DUCKMIG_TABLE") or from_file("table") or "duckdb_migrations",
        source=str(pyproject) if section else None,
        # The lake settings of pyproject.toml are its lake's; a database named otherwise that is no lake leaves them.
        data_path=next((p for p in (data_path, env_path, from_file("data_path") if is_lake else None)
                        if p is not None), None),
        options={**(section.get("options", {}) if is_lake else {}), **flags},
        keep=section.get("keep", True),
        keep_limit=section.get("keep_limit", DEFAULT_KEEP_LIMIT),
    )
    if is_lake:
        _ = settings.target  # parsed now: a bad option is told before anything is opened
    return settings


def attach_options(words: list[str] | None) -> dict[str, str]:
    """``NAME=VALUE`` words (of ``--option``) as ``{NAME: VALUE}``, names in upper case; the last of a name wins."""
    found = {}
    for word in words or []:
        name, equals, value = word.partition("=")
        if not equals or not name.strip():
            raise errors.ConfigError(f"--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not {word!r}",
                                     "for example --option METADATA_SCHEMA=lake_1 --option ENCRYPTED=true")
        found[name.strip().upper()] = value
    return found


def _bad(path: Path, said: str, hint: str | None = None) -> errors.ConfigError:
    """``[tool.duckmig]`` in the pyproject.toml at ``path`` that cannot be used."""
    return errors.ConfigError(f"{path}: {said}", hint or f"fix [tool.duckmig] in {path}")


def _unreadable(path: Path | str, reason: str) -> errors.ConfigError:
    """The search for pyproject.toml, from the current folder up, or the file it found, refused by the
    file system: settings from further up could be the wrong ones, so none are taken."""
    return errors.ConfigError(f"cannot look for settings (pyproject.toml) in {path}: {reason}",
                              f"run duckmig from a folder that exists and that you may read, or let yourself read {path}")


@contextmanager
def _told_where(where: str):
    """A DuckLake setting refused inside it names the table of pyproject.toml that gives it."""
    try:
        yield
    except errors.LakeSettingError as exc:
        exc.where = where
        raise


def _under(base: Path, value: str) -> str:
    """A path of pyproject.toml, relative to its folder; a URL, or a Windows drive's path, as it is."""
    if lake.URL.match(value) or PureWindowsPath(value).drive:
        return value
    return str(base / os.path.expanduser(value))
