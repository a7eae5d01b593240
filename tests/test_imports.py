"""`import duckmig_magic` stays light: the command and CI never load the notebook stack."""

import json
import subprocess
import sys

import duckdb
import pytest

HEAVY = ["pandas", "ipywidgets", "nbformat", "IPython"]

PROBE = """
import json, sys
{code}
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {heavy!r})))
"""


@pytest.mark.parametrize("code", [
    "import duckmig_magic",
    "import duckmig_magic.engine",
    "import duckmig_magic.cli",
    # a whole command, in process: status and up need none of them either
    pytest.param(
    "from duckmig_magic.cli import main\n"
    "import pathlib, tempfile\n"
    "root = pathlib.Path(tempfile.mkdtemp())\n"
    "(root / 'm' / 'versions').mkdir(parents=True)\n"
    "(root / 'm' / 'versions' / '20250101_000001_one.sql').write_text('-- migrate:up\\nCREATE TABLE one (x INTEGER);\\n')\n"
    "args = ['-d', str(root / 'app.db'), '--dir', str(root / 'm'), '--json']\n"
    "assert main(['up', *args]) == 0 and main(['status', *args]) == 0",
    marks=pytest.mark.xfail(int(duckdb.__version__.split(".")[0]) < 2, strict=True,
                            reason="duckdb 1.x imports pandas itself when it binds a query parameter")),
])
def test_no_heavy_imports(code):
    run = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=set(HEAVY))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == []


def test_the_probe_sees_a_heavy_import():
    run = subprocess.run([sys.executable, "-c", PROBE.format(code="import pandas", heavy=set(HEAVY))],
                         capture_output=True, text=True, timeout=120)
    assert "pandas" in json.loads(run.stdout.splitlines()[-1])
