"""The documentation site builds in strict mode (a broken link, a missing page or a failing tutorial
fails it), with the tutorials' outputs and a reference that names every verb, setting and error family."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from duckmig_magic import commands, errors
from duckmig_magic import config as settings

ROOT = Path(__file__).parent.parent
NEEDED = ("mkdocs", "material", "mkdocs_jupyter", "mkdocstrings", "mkdocstrings_handlers.python")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name.partition(".")[0]) is None
           or importlib.util.find_spec(name) is None]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if MISSING:
        pytest.skip(f"the docs extra is not installed ({', '.join(MISSING)} missing): pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCKMIG_", "JPY_"))}
    env["NO_MKDOCS_2_WARNING"] = "1"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-5000:]
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def test_the_tutorials_are_in_the_site_with_their_outputs(site):
    assert "applied 2 migrations in" in page(site, "tutorials/01_quick_start")
    production = page(site, "tutorials/02_notebook_to_production")
    assert "checked 2 applied migrations: ok" in production and "exit code: 3" in production


def test_the_reference_names_every_verb_setting_and_error_family(site):
    verbs, command = page(site, "reference/commands"), page(site, "command")
    for name in commands.VERBS:
        assert f'id="{name}"' in verbs, name
        assert f"<code>{name}" in command, name  # the README's table of commands, included
    said = page(site, "reference/settings")
    for name in (*settings.KEYS, *settings.VARIABLES):
        assert name in said, name
    families = page(site, "reference/errors")
    for name, value in vars(errors).items():
        if isinstance(value, type) and issubclass(value, errors.DuckmigError):
            assert f'id="{name.lower()}"' in families, name


def test_the_api_reference_comes_from_the_docstrings(site):
    from duckmig_magic import Migrator

    api = page(site, "reference/api")
    first = Migrator.up.__doc__.split(".")[0].split()
    assert " ".join(first[:4]) in " ".join(api.split()), first
