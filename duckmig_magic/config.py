"""Settings: flags, then ``DUCKMIG_*`` variables, then ``[tool.duckmig]`` in the
nearest ``pyproject.toml`` (searched from the current folder upward)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from . import errors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_DIRECTORY = "migrations"
KEYS = {"database", "directory", "table"}


@dataclass
class Settings:
    database: str | None
    directory: str
    table: str = "duckdb_migrations"
    source: str | None = None  # the pyproject.toml the settings came from, if any


def find_pyproject(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_pyproject(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise errors.SettingsNotToml(path, exc) from exc
    section = data.get("tool", {}).get("duckmig", {})
    if not isinstance(section, dict):
        raise errors.SettingsNotATable(path)
    unknown = set(section) - KEYS
    if unknown:
        raise errors.UnknownSettings(path, unknown, ", ".join(sorted(KEYS)))
    for key, value in section.items():
        if not isinstance(value, str):
            raise errors.SettingNotAString(path, key, value)
    return section


def resolve(database: str | None = None, directory: str | None = None, table: str | None = None,
            cwd: Path | None = None) -> Settings:
    """Flags win over the environment, which wins over pyproject.toml."""
    pyproject = find_pyproject(cwd)
    section = read_pyproject(pyproject) if pyproject else {}
    base = pyproject.parent if pyproject else (cwd or Path.cwd())

    def from_file(key):
        value = section.get(key)
        if value is None or key == "table" or value == ":memory:":
            return value
        return str(base / os.path.expanduser(value))  # relative to the pyproject.toml that says it

    return Settings(
        database=database or os.environ.get("DUCKMIG_DATABASE") or from_file("database"),
        directory=directory or os.environ.get("DUCKMIG_DIR") or from_file("directory") or DEFAULT_DIRECTORY,
        table=table or os.environ.get("DUCKMIG_TABLE") or from_file("table") or "duckdb_migrations",
        source=str(pyproject) if section else None,
    )
