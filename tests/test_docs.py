"""Every verb is whole: a renderer for its result, a `%migrate` form, a row in the README's table of
commands; and the errors word as a Migrator call exactly the verbs the Migrator has."""

import inspect
import re
from pathlib import Path

import pytest

from duckmig_magic import Migrator, commands, engine, errors
from duckmig_magic.magics import PARSERS
from duckmig_magic.render.results import TEXTS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
VERBS = sorted(commands.VERBS)
# What a verb's return annotation may name: a record of commands, or one of the engine's (imported
# there for type checkers only, so that a verb loads only its own parts of the engine).
NAMES = {**{n: getattr(engine, n) for n in engine.__all__}, **vars(commands)}


def result_of(name: str) -> type:
    return eval(commands.VERBS[name].function.__annotations__["return"], NAMES)  # the one a renderer needs


@pytest.mark.parametrize("name", VERBS)
def test_every_verb_has_a_renderer(name):
    result = result_of(name)
    assert result.__name__ in TEXTS, f"render/results.py TEXTS has no entry for {result.__name__}, what {name} returns"


def test_the_verbs_results_are_told_apart_by_name():
    """TEXTS finds a result's text by its class's name: no two verbs' result classes share one."""
    results = {result_of(name) for name in VERBS}
    assert len({r.__name__ for r in results}) == len(results)


@pytest.mark.parametrize("name", VERBS)
def test_every_verb_has_a_magic_form(name):
    assert f"migrate {name}" in PARSERS[name].prog


@pytest.mark.parametrize("name", VERBS)
def test_every_verb_has_a_readme_row(name):
    assert re.search(rf"^\| `{name}\b", README, re.M), f"README.md's table of commands has no row for {name}"


def test_the_errors_know_the_migrators_verbs():
    methods = {n for n, f in inspect.getmembers(Migrator, inspect.isfunction) if not n.startswith("_")}
    assert errors.API_VERBS == methods


@pytest.mark.parametrize("verb, python", [("repair", "`Migrator.repair()`"), ("init", "`duckmig init`")])
def test_an_action_is_worded_as_a_call_only_where_the_migrator_has_it(verb, python):
    assert errors.PYTHON(f"{{do:{verb}}}") == python


def test_the_docs_table_of_rules_is_the_catalogue():
    from duckmig_magic.engine.lint import table_of_rules

    start = "<!-- rules: generated from duckmig_magic/engine/lint (tests/test_docs.py checks it) -->\n"
    lint_page = (Path(__file__).parent.parent / "docs" / "lint.md").read_text(encoding="utf-8")
    table = lint_page.split(start, 1)[1].split("\n<!-- end of rules -->", 1)[0]
    assert table == table_of_rules(), "regenerate docs/lint.md's table of rules from engine.lint.table_of_rules()"
