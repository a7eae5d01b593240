"""Every verb of ``commands``, as the command and the magics call it: the result object it returns,
its exit code, and that it prints nothing (the interfaces do the printing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from duckmig_magic import commands, config
from duckmig_magic.commands import Exported, History, Initialized, NotebookBuilt, Ran, Repaired, Sql, Stamped, Verified
from duckmig_magic.engine import StatusReport, VerifyReport
from duckmig_magic.engine import Repair
from duckmig_magic.engine.preview import Preview

V1, V2, V3 = "20250101_000001", "20250102_000002", "20250103_000003"
NAMES = {V1: "one", V2: "two", V3: "three"}
NOTEBOOK = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
    {"cell_type": "code", "id": "c1", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "%%migration one\n-- migrate:up\nCREATE TABLE one (x BIGINT);\n"},
    {"cell_type": "code", "id": "c2", "metadata": {}, "outputs": [], "execution_count": None,
     "source": "%%migration four\n-- migrate:up\nCREATE TABLE four (x INTEGER);\n"}]}


def shape(result):
    """A result without its times and paths of the moment: what a table row can compare."""
    if isinstance(result, Ran):
        return "ran", result.verb, [(s.version, s.direction) for s in result.steps]
    if isinstance(result, StatusReport):
        return "status", [(m.version, m.state) for m in result]
    if isinstance(result, History):
        return "history", [(e.version, e.event) for e in result.events]
    if isinstance(result, Preview):
        return "preview", result.versions, result.ok, [(t.table, t.rows_after, t.added) for t in result.tables]
    if isinstance(result, commands.Created):
        return "created", result.path.name[16:]
    if isinstance(result, Exported):
        return "exported", [(c.action, c.slug) for c in result.cells]
    if isinstance(result, NotebookBuilt):
        return "notebook", result.path, result.cells, result.inexact
    return result  # the others compare whole


SQL_V1 = f"-- {V1} one ({V1}_one.sql)\nBEGIN TRANSACTION;\nCREATE TABLE one (x INTEGER);\nCOMMIT;\n"

# (verbs run first, the verb, its arguments, the result's shape, the exit code)
CASES = [
    ([], "init", {}, Initialized(Path("migrations/versions"), False), 0),
    ([], "new", {"description": "Add tags"}, ("created", "add_tags.sql"), 0),
    ([], "new", {"description": "Add tags", "python": True}, ("created", "add_tags.py"), 0),
    ([], "up", {}, ("ran", "up", [(V1, "up"), (V2, "up"), (V3, "up")]), 0),
    ([], "up", {"target": V2}, ("ran", "up", [(V1, "up"), (V2, "up")]), 0),
    (["up"], "up", {}, ("ran", "up", []), 0),
    (["up"], "down", {}, ("ran", "down", [(V3, "down")]), 0),
    (["up"], "down", {"target": V1}, ("ran", "down", [(V3, "down"), (V2, "down")]), 0),
    (["up"], "down", {"steps": 2}, ("ran", "down", [(V3, "down"), (V2, "down")]), 0),
    (["up"], "down", {"target": "base"}, ("ran", "down", [(V3, "down"), (V2, "down"), (V1, "down")]), 0),
    (["up"], "redo", {}, ("ran", "redo", [(V3, "down"), (V3, "up")]), 0),
    ([], "status", {}, ("status", [(V1, "pending"), (V2, "pending"), (V3, "pending")]), 0),
    (["up"], "status", {}, ("status", [(V1, "applied"), (V2, "applied"), (V3, "applied")]), 0),
    (["up", "edit"], "status", {}, ("status", [(V1, "modified"), (V2, "applied"), (V3, "applied")]), 0),
    (["up"], "history", {"version": V2}, ("history", [(V2, "applied")]), 0),
    ([], "history", {}, ("history", []), 0),
    (["up"], "verify", {}, Verified(VerifyReport([], 3, []), False), 0),
    (["up", "edit"], "verify", {}, Verified(VerifyReport([(V1, "modified", "the file changed since it was applied", None)],
                                                         3, []), False), 3),
    ([], "verify", {"roundtrip": True}, Verified(VerifyReport([], 0, [V1, V2, V3]), True), 0),
    ([], "stamp", {"version": V2}, Stamped([V1, V2]), 0),
    (["up"], "repair", {}, Repaired([]), 0),
    (["up", "edit"], "repair", {}, Repaired([Repair(V1, "accepted the edited file")]), 0),
    ([], "sql", {"target": V1}, Sql(SQL_V1), 0),
    (["up"], "sql", {}, Sql(""), 0),
    ([], "preview", {}, ("preview", [V1, V2, V3], True, [("one", 0, 0), ("three", 0, 0), ("two", 0, 0)]), 0),
    (["broken"], "preview", {}, ("preview", [V1, V2, V3, "20250104_000004"], False,
                                 [("one", 0, 0), ("three", 0, 0), ("two", 0, 0)]), 1),
    ([], "export", {"notebook": "nb.ipynb"}, ("exported", [("updated", "one"), ("created", "four")]), 0),
    (["up"], "export", {"notebook": "nb.ipynb"}, ("exported", [("refused", "one"), ("created", "four")]), 3),
    ([], "notebook", {}, ("notebook", None, 3, []), 0),
]


def prepare(project, step: str) -> None:
    if step == "edit":
        project.sql(V1, "one", "CREATE TABLE one (x BIGINT);", "DROP TABLE one;")
    elif step == "broken":
        project.sql("20250104_000004", "broken", "INSERT INTO nowhere VALUES (1);")
    else:
        commands.run(step, project.migrator())


@pytest.mark.parametrize("given, verb, args, expected, code", CASES,
                         ids=[" ".join(c[0] + ["|", c[1]] + [f"{k}={v}" for k, v in c[2].items()]) for c in CASES])
def test_verb(project, monkeypatch, capsys, given, verb, args, expected, code):
    monkeypatch.chdir(project.root)
    for name, table in NAMES.items():
        project.sql(name, table, f"CREATE TABLE {table} (x INTEGER);", f"DROP TABLE {table};")
    (project.root / "nb.ipynb").write_text(json.dumps(NOTEBOOK))
    for step in given:
        prepare(project, step)
    on = commands.VERBS[verb].on
    target = config.Settings(None, "migrations") if on == commands.DIRECTORY else \
        project.migrator()
    capsys.readouterr()
    result = commands.run(verb, target, **args)
    assert capsys.readouterr() == ("", "")  # a verb prints nothing
    assert shape(result) == expected
    assert commands.exit_code(result) == code


def test_export_without_a_database_counts_nothing_as_applied(project, monkeypatch):
    monkeypatch.chdir(project.root)
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    project.migrator().up()
    (project.root / "nb.ipynb").write_text(json.dumps(NOTEBOOK))
    result = commands.run("export", config.Settings(None, "migrations"), notebook="nb.ipynb")
    assert shape(result) == ("exported", [("updated", "one"), ("created", "four")])


def test_arguments_are_checked_by_name(project):
    with pytest.raises(TypeError, match="up has no argument steps"):
        commands.run("up", project.migrator(), steps=1)
