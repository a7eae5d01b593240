"""What each entry point loads: the command and CI never load the notebook stack, the magics load no
pandas or widgets until they show something, exporting a notebook loads no IPython, and neither the
command nor the magics load the other."""

import json
import subprocess
import sys

import duckdb
import pytest

HEAVY = ["pandas", "ipywidgets", "nbformat", "IPython"]

PROBE = """
import json, pathlib, sys, tempfile
root = pathlib.Path(tempfile.mkdtemp())
(root / 'm' / 'versions').mkdir(parents=True)
(root / 'm' / 'versions' / '20250101_000001_one.sql').write_text('-- migrate:up\\nCREATE TABLE one (x INTEGER);\\n')
{code}
print(json.dumps(sorted(n for n in sys.modules if n in {forbidden!r} or n.split(".")[0] in {forbidden!r})))
"""
COMMAND = ("from duckmig_magic.cli import main\n"
           "args = ['-d', str(root / 'app.db'), '--dir', str(root / 'm'), '--json']\n")
NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{
    "cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "execution_count": None,
    "source": "%%migration two\n-- migrate:up\nCREATE TABLE two (x INTEGER);\n"}]}

# (what runs, the modules it must not load)
CASES = [
    ("import duckmig_magic", HEAVY),
    ("import duckmig_magic.engine", HEAVY),
    ("import duckmig_magic.cli", HEAVY + ["duckmig_magic.magics", "duckmig_magic.display"]),
    # a whole command, in process: status and up need none of them either
    pytest.param(COMMAND + "assert main(['up', *args]) == 0 and main(['status', *args]) == 0", HEAVY,
                 marks=pytest.mark.xfail(int(duckdb.__version__.split(".")[0]) < 2, strict=True,
                                         reason="duckdb 1.x imports pandas itself when it binds a query parameter")),
    # reading a notebook's cells needs nbformat, and not the magics
    (f"(root / 'nb.ipynb').write_text({json.dumps(NOTEBOOK)!r})\n" + COMMAND
     + "assert main(['export', str(root / 'nb.ipynb'), '--dir', str(root / 'm')]) == 0",
     ["IPython", "duckmig_magic.magics", "pandas", "ipywidgets"]),
    ("import duckmig_magic.magics", ["pandas", "ipywidgets", "nbformat", "duckmig_magic.cli"]),
    # the notebook views render as HTML and text without building a widget or a DataFrame
    ("from duckmig_magic import Migrator\nfrom duckmig_magic.display import StatusView\n"
     "v = StatusView(Migrator(str(root / 'app.db'), str(root / 'm')))\nv._repr_mimebundle_(); v.to_text()",
     ["pandas", "ipywidgets"]),
]


@pytest.mark.parametrize("code, forbidden", CASES)
def test_what_is_loaded(code, forbidden):
    run = subprocess.run([sys.executable, "-c", PROBE.format(code=code, forbidden=set(forbidden))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == []


def test_the_probe_sees_a_heavy_import():
    run = subprocess.run([sys.executable, "-c", PROBE.format(code="import pandas", forbidden=set(HEAVY))],
                         capture_output=True, text=True, timeout=120)
    assert "pandas" in json.loads(run.stdout.splitlines()[-1])
