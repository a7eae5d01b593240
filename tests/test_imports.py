"""What each entry point loads: the command and CI never load the notebook stack, the magics load no
pandas or widgets until they show something, exporting a notebook loads no IPython, and neither the
command nor the magics load the other."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

# Also on duckdb 1.5, which loads pandas and numpy to bind a query's first parameter: a bound value on
# status's way would load them there alone.
pytestmark = pytest.mark.duckdb15

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

# What `duckmig status` has no use for: the other verbs' modules, and the statements' runner.
NOT_STATUS = [f"duckmig_magic.engine.{m}" for m in ("apply", "upkeep", "linting", "lint", "authoring", "preview",
                                                     "diff", "runner", "replay", "dryrun", "wrappers", "ordering")]
NOT_STATUS += ["duckmig_magic.notebooks", "duckmig_magic.cells", "duckmig_magic.render.changes"]
# What `up` of migrations that destroy nothing has no use for: the preview's and upkeep's modules.
NOT_UP = [f"duckmig_magic.engine.{m}" for m in ("upkeep", "authoring", "preview", "diff")]
NOT_UP += ["duckmig_magic.notebooks", "duckmig_magic.render.changes"]

# (what runs, the modules it must not load)
CASES = [
    ("import duckmig_magic", HEAVY),
    ("import duckmig_magic.engine", HEAVY),
    ("import duckmig_magic.cli", HEAVY + ["duckmig_magic.magics", "duckmig_magic.display"]),
    # a whole command, in process: status and up need none of them either
    (COMMAND + "assert main(['up', *args]) == 0 and main(['status', *args]) == 0", HEAVY),
    (COMMAND + "assert main(['up', *args]) == 0", HEAVY + NOT_UP),
    # status, on a database with a ledger, loads only what status uses
    (COMMAND + "import subprocess\nsubprocess.run([sys.executable, '-m', 'duckmig_magic.cli', 'up', *args], "
     "check=True, capture_output=True)\nassert main(['status', *args[:-1]]) == 0", HEAVY + NOT_STATUS),
    # lint (with its rules that read rows), up of a migration that destroys data (the lint's catalog,
    # keeping), and down putting it back
    (COMMAND + "import duckdb\nwith duckdb.connect(str(root / 'app.db')) as c:\n"
     "    c.execute('CREATE TABLE t AS SELECT range AS id, range AS b FROM range(50)')\n"
     "(root / 'm' / 'versions' / '20250102_000001_two.sql').write_text('-- migrate:up\\nALTER TABLE t DROP COLUMN b;"
     "\\nDELETE FROM t WHERE id < 5;\\n-- migrate:down\\nALTER TABLE t ADD COLUMN b BIGINT;\\n-- migrate:restore\\n')\n"
     "assert [main([verb, *args]) for verb in ('lint', 'up', 'down', 'status')] == [0, 0, 0, 0]", HEAVY),
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


# -- the import graph: layers and cycles, read from the source ---------------------------------------

PACKAGE = Path(__file__).parent.parent / "duckmig_magic"
# Imports of the package's own modules made inside a function, each kept off start-up for a reason.
LAZY = {
    ("duckmig_magic", "duckmig_magic.magics"): "the IPython extension's entry points: IPython loads only when asked",
    ("duckmig_magic.cli", "duckmig_magic.command_line"): "the command itself, imported inside main()'s Ctrl-C "
                                                         "handling, so that no instant of it escapes",
    ("duckmig_magic.cli", "duckmig_magic.engine"): "only to ask whether an error is DuckDB's word for Ctrl-C, "
                                                   "once DuckDB is loaded",
    ("duckmig_magic.command_line", "duckmig_magic"): "the package's version, read only for --version",
    ("duckmig_magic.magics", "duckmig_magic.notebooks"): "nbformat, only to read the running notebook",
    ("duckmig_magic.commands", "duckmig_magic.notebooks"): "nbformat, only for export and notebook",
    ("duckmig_magic.display.view", "duckmig_magic.display.frame"): "pandas, only for a DataFrame shown as a view",
    ("duckmig_magic.config", "duckmig_magic.engine.lint"): "the lint's rules, only to read [tool.duckmig.lint]",
    ("duckmig_magic.commands", "duckmig_magic.engine.lint"): "the catalogue of rules, only for `lint --rules`",
    # the facade: a verb's own module, in the methods of that verb (status and history use none of them)
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.apply"): "up, down, redo and preview run migrations",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.upkeep"): "stamp, repair, restore, verify, prune, "
                                                                      "and save's stored downgrade",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.linting"): "the lint: lint, up's check, preview's warnings",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.authoring"): "save and prepare: a body as a version file",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.preview"): "preview only",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.runner"): "preview's check of a cell's statements",
    ("duckmig_magic.engine.migrator", "duckmig_magic.engine.declarative"): "diff: a declared schema, built in memory",
    ("duckmig_magic.engine.workspace", "duckmig_magic.engine.runner"): "only what checks or runs statements",
    ("duckmig_magic.engine.apply", "duckmig_magic.engine.preview"): "the downgrade generated by a migration that "
                                                                     "keeps: up of one that destroys nothing needs none",
    ("duckmig_magic.engine.linting", "duckmig_magic.engine.preview"): "a preview's warnings, only for preview",
    ("duckmig_magic.engine.linting", "duckmig_magic.engine.lake"): "whether a connection handed over has a lake in use",
    ("duckmig_magic.engine.schemadiff", "duckmig_magic.engine.lint"): "the running release, for an added column's default",
    ("duckmig_magic.engine.schemadiff", "duckmig_magic.engine.lint.refused"): "which defaults are volatile (DM106's)",
    ("duckmig_magic.engine.upkeep", "duckmig_magic.engine.lint"): "the running release, when a round trip fails on a key",
    ("duckmig_magic.engine.keep", "duckmig_magic.engine.diff"): "keeping and restoring: status only lists",
    ("duckmig_magic.render.results", "duckmig_magic.render.changes"): "a preview's text, with the diff it names",
    ("duckmig_magic.render.results", "duckmig_magic.engine"): "upkeep's states, for the text of verify and restore",
}
# A door's ``_LAZY`` table (the package's, the engine's) is its own list of lazy imports, each name
# loaded with its module when first used: its edges are in the graph, lazy, and need no row above.
# Which layer may import which: a module imports its own layer and the ones below it.
LAYERS = ["errors", "engine", "commands", "render", "display", "interfaces"]


def _layer(module: str) -> str:
    part = module.split(".")[1] if "." in module else ""
    if part in ("errors", "wording"):
        return "errors"
    if part in ("engine", "render", "display"):
        return part
    if part in ("commands", "arguments", "config", "notebooks", "cells"):
        return "commands"
    return "interfaces"  # the package itself, cli, magics, __main__


def _graph(*, named: bool = False) -> dict[str, dict[str, bool]]:
    """module -> {module it imports: whether only inside a function}; with ``named``, the module each
    ``from MODULE import ...`` names, rather than the submodules it may import from a package."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: dict[str, bool] = {}
        for target in _door(tree, package):
            edges.setdefault(target, True)
        for node, inside in _imports(tree):
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found = f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules and not named else target
                if found in modules and found != module:
                    edges[found] = edges.get(found, True) and inside
        graph[module] = edges
    return graph


def _door(tree: ast.Module, package: str) -> list[str]:
    """The modules a door's ``_LAZY`` table names: ``{name: ".module"}``, or None for the module ``name``."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["_LAZY"]:
            table = ast.literal_eval(node.value)
            return [package + (where if where else f".{name}") for name, where in table.items()]
    return []


def _doors() -> set[tuple[str, str]]:
    return {(module, other) for module, path in [("duckmig_magic", PACKAGE / "__init__.py"),
                                                 ("duckmig_magic.engine", PACKAGE / "engine" / "__init__.py")]
            for other in _door(ast.parse(path.read_text(encoding="utf-8")), module)}


def _imports(node: ast.AST, inside: bool = False):
    """The package's own imports (relative ones) under ``node``, each with whether it runs only when a
    function is called."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and ast.unparse(child.test) == "TYPE_CHECKING":
            continue  # read by the type checker only: nothing runs
        if isinstance(child, ast.ImportFrom) and child.level:
            yield child, inside
        yield from _imports(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))


def test_no_import_closes_a_cycle_lazy_imports_included():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in graph[module]:
            assert state.get(other) != 1, "import cycle: " + " -> ".join(path[path.index(other):] + [other])
            if other not in state:
                visit(other, path + [other])
        state[module] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_a_lazy_import_of_the_package_is_kept_off_start_up_for_a_reason():
    lazy = {(module, other) for module, edges in _graph().items() for other, inside in edges.items() if inside}
    assert lazy - _doors() == set(LAZY)


@pytest.mark.parametrize("door", ["duckmig_magic", "duckmig_magic.engine"])
def test_a_door_offers_what_type_checkers_see(door):
    """Its lazy names are its ``__all__`` and those its TYPE_CHECKING block imports, and each one is
    there when asked for."""
    path = PACKAGE.joinpath(*door.split(".")[1:], "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    checked = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.If)
               and ast.unparse(node.test) == "TYPE_CHECKING" for child in node.body
               for alias in getattr(child, "names", [])}
    table = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                 and [ast.unparse(t) for t in n.targets] == ["_LAZY"])
    offered = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                   and [ast.unparse(t) for t in n.targets] == ["__all__"])
    assert set(table) == checked
    # a name held elsewhere must not be a module's name too: importing that module would put the module
    # on the package under the name, before the door is asked for it
    assert not [n for n, where in table.items() if where and (path.parent / f"{n}.py").exists()]
    assert set(offered) - {"load_ipython_extension", "unload_ipython_extension"} == set(table)
    code = f"import {door} as d\nprint(all(getattr(d, n) is not None for n in {sorted(table)!r}))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "True", run.stderr


def test_each_layer_imports_only_itself_and_the_layers_below():
    for module, edges in _graph().items():
        for other in edges:
            if (module, other) in LAZY or module == "duckmig_magic":
                continue
            assert LAYERS.index(_layer(other)) <= LAYERS.index(_layer(module)), f"{module} imports {other}"


def test_outer_layers_import_the_engine_only_through_its_door():
    for module, edges in _graph(named=True).items():
        if _layer(module) != "engine":
            inner = [o for o in edges if o.startswith("duckmig_magic.engine.")]
            assert not inner, f"{module} imports {inner}: import them from duckmig_magic.engine"
