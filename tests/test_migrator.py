"""The running layer: Migrator against real DuckDB files.

Each test states one thing that must hold of issue 2 (atomicity, checksums,
missing files, order, down semantics, stamp/repair/history/verify, ledger
adoption, connections and locks) and would fail if it broke.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import threading
from datetime import date

import warnings

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.engine.trust import StoredDowngrade
from conftest import STATE

V1, V2, V3, V4 = "20250101_000001", "20250102_000002", "20250103_000003", "20250104_000004"
LEDGER = {"duckdb_migrations"}

# Third statements that fail. DuckDB treats them differently: a binder error leaves the
# transaction usable, a runtime error aborts it so that a later COMMIT silently rolls back.
FAILING = {
    "catalog": ("SELECT * FROM no_such_table", "Catalog Error: Table with name no_such_table does not exist!"),
    "conversion": ("SELECT CAST('x' AS INTEGER)", "Conversion Error: Could not convert string 'x' to INT32"),
    "constraint": ("INSERT INTO base VALUES (1)",
                   "Constraint Error: Duplicate key \"id: 1\" violates primary key constraint."),
}


def state(m: Migrator) -> dict[str, str]:
    return {s.version: s.state for s in m.status()}


def applied_rows(project) -> list[tuple[str, str]]:
    return project.query(f"SELECT version, status FROM {STATE} ORDER BY version")


def events(m: Migrator) -> list[tuple[str, str]]:
    return [(e.version, e.event) for e in m.history()]


def python_file(project, version: str, slug: str, upgrade: str, downgrade: str = "pass",
                description: str = "a python migration"):
    def body(code: str) -> str:
        return textwrap.indent(textwrap.dedent(code).strip(), " " * 8)

    return project.write(f"{version}_{slug}.py", (
        "from duckmig_magic import BaseMigration\n\n\n"
        "class Migration(BaseMigration):\n"
        "    def __init__(self):\n"
        f"        super().__init__(version={version!r}, description={description!r})\n\n"
        f"    def upgrade(self, session):\n{body(upgrade)}\n\n"
        f"    def downgrade(self, session):\n{body(downgrade)}\n"), dedent=False)


def three_files(project):
    project.sql(V1, "base", "CREATE TABLE base (id INTEGER PRIMARY KEY);\nINSERT INTO base VALUES (1);",
                "DROP TABLE base;")
    project.sql(V3, "later", "CREATE TABLE later (x INTEGER);", "DROP TABLE later;")


def failing_second(project, form: str, third: str):
    """V2: two statements that work, then ``third``; in the SQL or the Python form."""
    first, second = "CREATE TABLE a (x INTEGER);", "INSERT INTO base VALUES (2);"
    if form == "sql":
        return project.sql(V2, "three", f"{first}\n{second}\n{third};", "DROP TABLE a;\nDELETE FROM base WHERE id = 2;")
    # session.commit() between the statements, as weiser's examples do: it must not commit.
    return python_file(project, V2, "three", f"""
        self.execute_sql(session, "{first}")
        session.commit()
        session.exec("{second}")
        session.commit()
        session.exec({third!r})
        session.commit()
    """, 'session.exec("DROP TABLE a")\nsession.exec("DELETE FROM base WHERE id = 2")')


# -- atomicity -----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["sql", "python"])
@pytest.mark.parametrize("kind", list(FAILING))
def test_failure_at_third_statement_leaves_no_trace(project, form, kind):
    third, message = FAILING[kind]
    three_files(project)
    path = failing_second(project, form, third)
    m = project.migrator()

    with pytest.raises(errors.MigrationFailed) as info:
        m.up()

    exc = info.value
    assert (exc.version, exc.statement, exc.partial) == (V2, third, False)
    assert exc.error.startswith(message)
    assert "rolled back: nothing of it remains" in str(exc)
    assert exc.exit_code == 1
    # nothing of V2's first two statements, and V3 was not run
    assert project.tables() == {"base"} | LEDGER
    assert project.query("SELECT id FROM base ORDER BY id") == [(1,)]
    assert applied_rows(project) == [(V1, "applied"), (V2, "failed")]
    failed = m.status().by_state("failed")
    assert [(s.version, s.statement) for s in failed] == [(V2, exc.statement)]
    assert failed[0].error.startswith(message)
    assert state(m) == {V1: "applied", V2: "failed", V3: "pending"}
    assert events(m) == [(V1, "applied"), (V2, "failed")]

    # fix the file, run up again: V2 and V3 apply
    path.write_text(path.read_text().replace(third, "SELECT 42"))
    assert [r.version for r in m.up()] == [V2, V3]
    assert state(m) == {V1: "applied", V2: "applied", V3: "applied"}
    assert project.query("SELECT id FROM base ORDER BY id") == [(1,), (2,)]
    assert project.tables() == {"base", "a", "later"} | LEDGER
    row = m.status().migrations[1]
    assert (row.error, row.statement) == (None, None)


def test_python_migration_that_catches_a_failed_statement_goes_on_in_a_live_transaction(project):
    # DuckDB aborts the transaction at the failed statement, where COMMIT would silently roll
    # back; the engine replays what ran before it, so the migration goes on and lands whole.
    python_file(project, V1, "swallow", """
        session.exec("CREATE TABLE a (x INTEGER)")
        try:
            session.exec("SELECT CAST('x' AS INTEGER)")
        except Exception:
            pass
        session.exec("INSERT INTO a VALUES (1)")
    """)
    m = project.migrator()
    [result] = m.up()
    assert (result.version, result.statements, result.replays) == (V1, 2, 1)
    assert project.query("SELECT x FROM a") == [(1,)]
    assert state(m) == {V1: "applied"}


def test_python_migration_raising_a_python_error(project):
    three_files(project)
    python_file(project, V2, "boom", """
        session.exec("CREATE TABLE a (x INTEGER)")
        raise ValueError("boom")
    """)
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed) as info:
        m.up()
    # the exception where the file raised it; the statement before it only as context: it did not fail
    assert (info.value.version, info.value.statement, info.value.error, info.value.where, info.value.last) == (
        V2, None, "ValueError: boom", f"{V2}_boom.py:10", "CREATE TABLE a (x INTEGER)")
    assert str(info.value).splitlines()[:3] == [f"applying {V2} failed: ValueError: boom", f"  at: {V2}_boom.py:10",
                                                "  last statement before it (it ran): CREATE TABLE a (x INTEGER)"]
    assert project.tables() == {"base"} | LEDGER
    assert state(m) == {V1: "applied", V2: "failed", V3: "pending"}


def test_transaction_false_failure_is_recorded_as_partial(project):
    three_files(project)
    project.sql(V2, "notx", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\nSELECT CAST('x' AS INTEGER);",
                "DROP TABLE a;", options="transaction:false")
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed) as info:
        m.up()
    exc = info.value
    assert (exc.version, exc.statement, exc.partial) == (V2, "SELECT CAST('x' AS INTEGER)", True)
    assert "it ran outside a transaction: the statements before this one were committed" in str(exc)
    # the first two statements stay: that is what transaction:false means
    assert project.query("SELECT x FROM a") == [(1,)]
    assert "later" not in project.tables()
    failed = m.status().by_state("failed")[0]
    assert failed.error.startswith("Conversion Error")
    assert "transaction:false" in failed.error and "committed" in failed.error
    assert m.history()[-1].event == "failed"

    # fix it so it can run again on top of what stayed, and go on
    project.sql(V2, "notx", "CREATE TABLE IF NOT EXISTS a (x INTEGER);\nSELECT 1;", "DROP TABLE a;",
                options="transaction:false")
    assert [r.version for r in m.up()] == [V2, V3]
    assert state(m) == {V1: "applied", V2: "applied", V3: "applied"}


def test_sql_that_does_not_parse_in_second_file_stops_the_run_before_the_first(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    bad = project.sql(V2, "two", "SELECT 1;\nCREATE TABLE two (x INTEGER;")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);")
    m = project.migrator()
    with pytest.raises(errors.MigrationFileError, match="Parser Error") as info:
        m.up()
    assert info.value.path == bad
    assert str(info.value).startswith(f"{bad}:")
    assert not project.db.exists()


def test_python_file_that_does_not_import_stops_the_run_before_the_first(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    bad = project.write(f"{V2}_two.py", "import no_such_module_for_duckmig\n")
    m = project.migrator()
    with pytest.raises(errors.MigrationFileError, match="the file does not import") as info:
        m.up()
    assert (info.value.path, info.value.line) == (bad, 1)
    assert not project.db.exists()


# -- checksums -------------------------------------------------------------------------


def two_applied(project) -> Migrator:
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    m = project.migrator()
    m.up()
    return m


def test_edited_file_is_modified_and_blocks_up_until_repaired(project):
    m = two_applied(project)
    # Its upgrade edited: what was applied is not what the file says (a downgrade alone is no drift).
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);\n-- edited",
                "DROP TABLE two;\nCREATE TABLE two_was_reverted (x INTEGER);")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")

    assert state(m) == {V1: "applied", V2: "modified", V3: "pending"}
    report = m.verify()
    assert (report.ok, report.checked, report.problems) == (
        False, 2, [(V2, "modified", "the file changed since it was applied", None)])
    with pytest.raises(errors.DriftError) as info:
        m.up()
    assert info.value.drifted == [(V2, "modified")]
    assert info.value.exit_code == 3
    # the Python API's words for what to do
    assert "allow_drift=True" in str(info.value) and "`Migrator.repair()`" in str(info.value)
    assert "three" not in project.tables()
    with pytest.raises(errors.DriftError):
        m.sql()

    assert m.repair() == [(V2, "accepted the edited file")]
    assert state(m) == {V1: "applied", V2: "applied", V3: "pending"}
    assert m.verify().ok
    assert [r.version for r in m.up()] == [V3]
    # the repaired row reverts with the edited downgrade
    m.down(V1)
    assert project.tables() == {"one", "two_was_reverted"} | LEDGER


def test_a_downgrade_edited_alone_is_no_drift_and_runs(project):
    m = two_applied(project)
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;\nCREATE TABLE two_was_reverted (x INTEGER);")
    assert state(m) == {V1: "applied", V2: "applied"}
    assert m.verify().problems == [(V2, "downgrade differs", m.verify().problems[0].detail, None)]
    m.down()
    assert project.tables() == {"one", "two_was_reverted"} | LEDGER


def test_allow_drift_applies_on_top_of_an_edited_file(project):
    m = two_applied(project)
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER, y INTEGER);", "DROP TABLE two;")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    assert [r.version for r in m.up(allow_drift=True)] == [V3]
    assert state(m) == {V1: "applied", V2: "modified", V3: "applied"}


@pytest.mark.parametrize("applied_as, edited_as", [
    ("\n", "\r\n"),
    ("\r\n", "\n"),
    ("\n", "\r"),
])
def test_line_endings_are_not_an_edit(project, applied_as, edited_as):
    text = "-- migrate:up\nCREATE TABLE one (x INTEGER);\n\n-- migrate:down\nDROP TABLE one;\n"
    path = project.versions / f"{V1}_one.sql"
    path.write_bytes(text.replace("\n", applied_as).encode())
    m = project.migrator()
    m.up()
    path.write_bytes(text.replace("\n", edited_as).encode())
    assert state(m) == {V1: "applied"}
    assert m.verify().ok


# -- missing and changed files: down uses the stored downgrade ---------------------------


@pytest.mark.parametrize("form", ["sql", "python"])
def test_deleted_file_is_missing_and_still_reverts(project, form):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    if form == "sql":
        path = project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    else:
        path = python_file(project, V2, "two", 'session.exec("CREATE TABLE two (x INTEGER)")',
                           'session.exec("DROP TABLE two")')
    m = project.migrator()
    m.up()
    path.unlink()

    assert state(m) == {V1: "applied", V2: "missing"}
    assert m.verify().problems == [(V2, "missing", "applied, but its file is gone", None)]
    with pytest.raises(errors.DriftError) as info:
        m.up()
    assert info.value.drifted == [(V2, "missing")]

    with pytest.warns(StoredDowngrade, match=f"{V2}: its file is gone, so the "):
        assert [(r.version, r.direction) for r in m.down(trust_stored_python=form == "python")] == [(V2, "down")]
    assert project.tables() == {"one"} | LEDGER
    assert state(m) == {V1: "applied"}


@pytest.mark.parametrize("form", ["sql", "python"])
def test_file_changed_after_applying_reverts_with_the_stored_downgrade_only_when_asked(project, form):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    if form == "sql":
        project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    else:
        python_file(project, V2, "two", 'session.exec("CREATE TABLE two (x INTEGER)")',
                    'session.exec("DROP TABLE two")')
    m = project.migrator()
    m.up()
    # another branch: the file now holds a different migration whose downgrade would fail here
    if form == "sql":
        project.sql(V2, "two", "CREATE TABLE other (x INTEGER);", "DROP TABLE other;")
    else:
        python_file(project, V2, "two", 'session.exec("CREATE TABLE other (x INTEGER)")',
                    'session.exec("DROP TABLE other")')
    assert state(m) == {V1: "applied", V2: "modified"}
    with pytest.raises(errors.DriftError, match="was not reverted"):
        m.down(trust_stored_python=form == "python")
    assert project.tables() == {"one", "two"} | LEDGER and state(m) == {V1: "applied", V2: "modified"}
    with pytest.warns(StoredDowngrade, match=f"{V2}: {V2}_two.{'sql' if form == 'sql' else 'py'} changed since"):
        m.down(trust_stored_python=form == "python", stored_downgrade=True)
    assert project.tables() == {"one"} | LEDGER
    assert state(m) == {V1: "applied", V2: "pending"}


# -- out of order ----------------------------------------------------------------------


def test_pending_older_than_newest_applied_is_out_of_order(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    m = project.migrator()
    m.up()
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    project.sql(V4, "four", "CREATE TABLE four (x INTEGER);", "DROP TABLE four;")

    assert state(m) == {V1: "applied", V2: "out_of_order", V3: "applied", V4: "pending"}
    with pytest.raises(errors.OutOfOrder) as info:
        m.up()
    assert (info.value.versions, info.value.newest_applied) == ([V2], V3)
    assert str(info.value) == (
        f"pending {V2} older than the newest applied migration {V3}\n"
        "  hint: apply them anyway with out_of_order=True, or give them newer versions")
    assert project.tables() == {"one", "three"} | LEDGER

    assert [r.version for r in m.up(out_of_order=True)] == [V2, V4]
    assert set(state(m).values()) == {"applied"}


# -- down ---------------------------------------------------------------------------------


def four_applied(project) -> Migrator:
    for v, name in [(V1, "one"), (V2, "two"), (V3, "three"), (V4, "four")]:
        project.sql(v, name, f"CREATE TABLE {name} (x INTEGER);", f"DROP TABLE {name};")
    m = project.migrator()
    m.up()
    return m


@pytest.mark.parametrize("args, reverted", [
    ({}, [V4]),
    ({"steps": 1}, [V4]),
    ({"steps": 2}, [V4, V3]),
    ({"steps": 9}, [V4, V3, V2, V1]),
    ({"target": V2}, [V4, V3]),
    ({"target": V1}, [V4, V3, V2]),
    ({"target": V4}, []),
    ({"target": "base"}, [V4, V3, V2, V1]),
])
def test_down(project, args, reverted):
    m = four_applied(project)
    assert [r.version for r in m.down(**args)] == reverted
    kept = [v for v in (V1, V2, V3, V4) if v not in reverted]
    assert [v for v, s in state(m).items() if s == "applied"] == kept
    names = {V1: "one", V2: "two", V3: "three", V4: "four"}
    assert project.tables() == {names[v] for v in kept} | LEDGER


@pytest.mark.parametrize("args, error, message", [
    ({"target": "20990101_000000"}, errors.StateError, "no migration 20990101_000000 among the applied migrations"),
    ({"target": "yesterday"}, errors.ConfigError, "'yesterday' is not a version: versions look like 20250710_000001"),
    ({"steps": 0}, errors.ConfigError, "--steps must be 1 or more, not 0"),
    ({"target": V2, "steps": 1}, errors.ConfigError, "give a target version or --steps, not both"),
])
def test_down_refuses(project, args, error, message):
    m = four_applied(project)
    project.sql("20250105_000005", "five", "CREATE TABLE five (x INTEGER);")
    with pytest.raises(error) as info:
        m.down(**args)
    assert type(info.value) is error
    assert info.value.message == message
    assert [v for v, s in state(m).items() if s == "applied"] == [V1, V2, V3, V4]


def test_down_to_a_pending_version(project):
    m = four_applied(project)
    project.sql("20250105_000005", "five", "CREATE TABLE five (x INTEGER);")
    with pytest.raises(errors.StateError) as info:
        m.down("20250105_000005")
    assert info.value.message == "no migration 20250105_000005 among the applied migrations"


def test_down_on_an_empty_ledger(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    m = project.migrator()
    with pytest.raises(errors.StateError) as info:
        m.down()
    assert str(info.value) == ("nothing to revert: no migration is applied\n"
                               "  hint: `Migrator.status()` shows the state")
    assert not project.db.exists()


def test_irreversible_migration_stops_before_reverting_anything(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    m = project.migrator()  # V1 destroys nothing: nothing kept, no downgrade generated
    m.up()
    with pytest.raises(errors.StateError) as info:
        m.down("base")
    assert info.value.message == f"{V1} has no downgrade, so it cannot be reverted"
    assert "write a `-- migrate:down` section" in str(info.value)
    assert project.tables() == {"one", "two"} | LEDGER
    assert state(m) == {V1: "applied", V2: "applied"}


def test_failing_downgrade_keeps_the_migration_applied(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;\nSELECT CAST('x' AS INTEGER);")
    m = project.migrator()
    m.up()
    with pytest.raises(errors.MigrationFailed) as info:
        m.down()
    assert (info.value.version, info.value.direction, info.value.statement) == (
        V1, "down", "SELECT CAST('x' AS INTEGER)")
    assert "`Migrator.repair()`" in str(info.value)
    assert project.tables() == {"one"} | LEDGER
    assert state(m) == {V1: "applied"}
    assert events(m) == [(V1, "applied"), (V1, "failed")]


def test_redo(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);\nINSERT INTO two VALUES (1);", "DROP TABLE two;")
    m = project.migrator()
    m.up()
    project.query("INSERT INTO two VALUES (2)")
    assert [(r.version, r.direction) for r in m.redo()] == [(V2, "down"), (V2, "up")]
    assert project.query("SELECT x FROM two") == [(1,)]
    assert events(m) == [(V1, "applied"), (V2, "applied"), (V2, "reverted"), (V2, "applied")]


def test_redo_applies_the_edited_newest_migration(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    m = project.migrator()
    m.up()
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER, y INTEGER);", "DROP TABLE two;")
    assert state(m)[V2] == "modified"
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoredDowngrade)  # the file's downgrade reverts it, not the stored one
        m.redo()
    assert state(m) == {V1: "applied", V2: "applied"}
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'two'") == [("x",), ("y",)]
    applied, reverted, again = [(e.event, e.checksum, e.detail) for e in m.history(V2)]
    assert applied[1] == reverted[1] != again[1] == m.scripts.get(V2).checksum  # the edit, recorded
    assert again[::2] == ("applied", "redo: the file was edited since it was applied")
    m.redo()  # unedited: nothing to say
    assert m.history(V2)[-1].detail is None


@pytest.mark.parametrize("damage, error", [
    ("delete", errors.StateError),
    ("break", errors.MigrationFileError),
    ("drift", errors.DriftError),
])
def test_redo_that_could_not_apply_again_reverts_nothing(project, damage, error):
    one = project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    two = project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    m = project.migrator()
    m.up()
    if damage == "delete":
        two.unlink()
    elif damage == "break":
        project.sql(V2, "two", "CREATE TABLE two (x INTEGER;", "DROP TABLE two;")
    else:  # its upgrade edited (a downgrade edited alone is no drift)
        one.write_text(one.read_text().replace("CREATE", "-- edited\nCREATE"))
    with pytest.raises(error) as info:
        m.redo()
    if damage == "delete":
        assert info.value.message == (f"no migration {V2} in the migrations directory: redo would revert it "
                                      "and could not apply it again")
    elif damage == "break":
        assert "Parser Error" in info.value.message
    assert project.tables() == {"one", "two"} | LEDGER
    assert [e.event for e in m.history()] == ["applied", "applied"]


# -- stamp, repair, history ----------------------------------------------------------------


def test_stamp_records_without_running(project):
    for v, name in [(V1, "one"), (V2, "two"), (V3, "three")]:
        project.sql(v, name, f"CREATE TABLE {name} (x INTEGER);", f"DROP TABLE {name};")
    project.query("CREATE TABLE one (x INTEGER); CREATE TABLE two (x INTEGER)")  # made by hand
    m = project.migrator()
    assert m.stamp(V2) == [V1, V2]
    assert state(m) == {V1: "applied", V2: "applied", V3: "pending"}
    assert project.tables() == {"one", "two"} | LEDGER
    assert events(m) == [(V1, "stamped"), (V2, "stamped")]
    assert m.stamp(V2) == []
    assert [r.version for r in m.up()] == [V3]
    m.down(V1)  # stamped rows revert with their stored downgrade
    assert project.tables() == {"one"} | LEDGER
    with pytest.raises(errors.StateError, match=f"^no migration {V4} in the migrations directory or the ledger"):
        m.stamp(V4)


def test_repair(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    modified = project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    missing = project.sql(V3, "three", "CREATE TABLE three (x INTEGER);", "DROP TABLE three;")
    m = project.migrator()
    m.up()
    failing = project.sql(V4, "four", "SELECT CAST('x' AS INTEGER);")
    with pytest.raises(errors.MigrationFailed):
        m.up()
    modified.write_text(modified.read_text().replace("-- migrate:up\n", "-- migrate:up\n-- reviewed\n"))
    missing.unlink()
    failing.unlink()
    assert state(m) == {V1: "applied", V2: "modified", V3: "missing", V4: "failed"}

    assert m.repair() == [(V2, "accepted the edited file"), (V3, "forgot the row of a missing file"),
                          (V4, "cleared the failed attempt")]
    assert state(m) == {V1: "applied", V2: "applied"}
    assert m.repair() == []
    assert events(m)[-3:] == [(V2, "repaired"), (V3, "repaired"), (V4, "repaired")]
    assert m.verify().ok


def test_repair_of_a_failed_migration_whose_file_is_still_there(project):
    path = project.sql(V1, "one", "SELECT CAST('x' AS INTEGER);")
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed):
        m.up()
    assert m.repair() == [(V1, "cleared the failed attempt")]
    assert state(m) == {V1: "pending"}
    path.write_text("-- migrate:up\nCREATE TABLE one (x INTEGER);\n")
    assert [r.version for r in m.up()] == [V1]


def test_history_events_in_order(project):
    project.query("CREATE TABLE duckdb_migrations (id INTEGER PRIMARY KEY, version VARCHAR, "
                  "description VARCHAR, applied_at TIMESTAMP)")
    project.query("INSERT INTO duckdb_migrations VALUES (1, ?, 'one', TIMESTAMP '2025-01-01 00:00:00')", [V1])
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    bad = project.sql(V3, "three", "SELECT CAST('x' AS INTEGER);")
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed):
        m.up()
    m.down()
    bad.unlink()
    m.stamp(V2)
    m.repair()
    assert events(m) == [(V1, "adopted"), (V2, "applied"), (V3, "failed"), (V2, "reverted"),
                         (V2, "stamped"), (V3, "repaired")]
    seqs = [e.seq for e in m.history()]
    assert seqs == sorted(seqs) == list(range(1, 7))
    assert [e.event for e in m.history(V2)] == ["applied", "reverted", "stamped"]


@pytest.mark.parametrize("group_seconds", [0.25, 0], ids=["grouped", "one transaction each"])
def test_the_ledger_keeps_text_as_written(project, group_seconds):
    """Events are written with their values in the statement's text, not as parameters: quotes,
    a backslash, line breaks and other scripts come back as they were, in grouped SQL migrations'
    events (written together) and a Python migration's (alone), with a NUL (which ends a
    statement's text for duckdb 1.x's parser) in its description."""
    odd = "it's \"odd\" \\' naïve ✓ ''"
    down = f"SELECT '{odd.replace(chr(39), chr(39) * 2)}';\nDROP TABLE one;\n"
    project.write(f"{V1}_one.sql", f"-- description: {odd}\n-- migrate:up\nCREATE TABLE one (x INTEGER);\n"
                                   f"-- migrate:down\n{down}", dedent=False)
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;  -- 'it''s'\n")
    python_file(project, V3, "three", "session.exec('SELECT 1')", description=f"nul \x00 {odd}")
    project.migrator(group_seconds=group_seconds).up()
    rows = {v: (d, dg, src) for v, d, dg, src in project.query(
        f"SELECT version, description, downgrade, source FROM {STATE}")}
    assert rows[V1][:2] == (odd, down)
    assert rows[V2][1].rstrip("\n") == "DROP TABLE two;  -- 'it''s'"
    assert rows[V3][0] == f"nul \x00 {odd}"
    assert [rows[v][2] for v in (V1, V2, V3)] == [s.text for s in project.migrator().scripts.scripts()]
    assert state(project.migrator()) == {V1: "applied", V2: "applied", V3: "applied"}


# -- verify --roundtrip -----------------------------------------------------------------------


def test_verify_roundtrip(project):
    project.sql(V1, "base", "CREATE TABLE base (x INTEGER);", "DROP TABLE base;")
    m = project.migrator()
    m.up()
    project.sql(V2, "good", "CREATE TABLE good (x INTEGER);\nALTER TABLE base ADD COLUMN y INTEGER;",
                "DROP TABLE good;\nALTER TABLE base DROP COLUMN y;")
    project.sql(V3, "bad", "CREATE TABLE bad (x INTEGER);", "SELECT 1;")
    project.sql(V4, "irreversible", "CREATE TABLE irreversible (x INTEGER);")
    before = project.query("SELECT * FROM duckdb_migrations")

    report = m.verify(roundtrip=True)

    assert report.roundtrip == [V2]
    assert report.problems == [
        (V3, "roundtrip", "the downgrade does not restore the schema: "
                          "column main.bad.x remains; table main.bad remains", None),
        (V4, "irreversible", "no downgrade to check", None),
    ]
    assert not report.ok
    assert project.tables() == {"base"} | LEDGER
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'base'") == [("x",)]
    assert project.query("SELECT * FROM duckdb_migrations") == before
    assert state(m) == {V1: "applied", V2: "pending", V3: "pending", V4: "pending"}


def test_verify_roundtrip_on_a_database_not_created_yet_creates_nothing(project):
    project.sql(V1, "good", "CREATE TABLE good (x INTEGER);", "DROP TABLE good;")
    report = project.migrator().verify(roundtrip=True)
    assert (report.ok, report.roundtrip) == (True, [V1])
    assert not project.db.exists()


# -- status creates nothing -----------------------------------------------------------------------


def test_status_on_a_database_never_migrated_creates_nothing(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    m = project.migrator()
    assert state(m) == {V1: "pending"}
    assert m.history() == []
    assert m.verify().ok
    assert not project.db.exists()


def test_status_on_an_existing_database_without_ledger_creates_no_table(project):
    project.query("CREATE TABLE mine (x INTEGER)")
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    m = project.migrator()
    assert state(m) == {V1: "pending"}
    assert m.history() == []
    assert project.tables() == {"mine"}


def test_status_on_a_users_connection_creates_no_table(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    conn = duckdb.connect(":memory:")
    assert state(Migrator(conn, project.directory)) == {V1: "pending"}
    assert conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


# -- adopting weiser's legacy ledger ------------------------------------------------------------------

LEGACY = ("CREATE TABLE duckdb_migrations (id INTEGER PRIMARY KEY, version VARCHAR, "
          "description VARCHAR, applied_at TIMESTAMP)")


def legacy_project(project):
    project.query(LEGACY)
    project.query("CREATE TABLE metrics (id INTEGER, tags VARCHAR)")
    project.query("INSERT INTO duckdb_migrations VALUES "
                  f"(7, '{V1}', 'Create metrics', TIMESTAMP '2025-07-10 08:00:00'), "
                  f"(8, '{V2}', 'Add tags column', TIMESTAMP '2025-07-10 09:00:00')")
    project.sql(V1, "create_metrics", "CREATE TABLE metrics (id INTEGER);", "DROP TABLE metrics;")
    python_file(project, V2, "add_tags_column", """
        self.execute_sql(session, "ALTER TABLE metrics ADD COLUMN tags VARCHAR")
        session.commit()
    """, """
        self.execute_sql(session, "ALTER TABLE metrics DROP COLUMN tags")
        session.commit()
    """, description="Add tags column")


def test_status_reads_a_legacy_ledger_without_changing_it(project):
    legacy_project(project)
    project.sql(V3, "add_priority", "ALTER TABLE metrics ADD COLUMN priority INTEGER;")
    before = project.query("SELECT * FROM duckdb_migrations ORDER BY id")
    m = project.migrator()
    report = m.status()
    assert [(s.version, s.state, s.description) for s in report] == [
        (V1, "applied", "Create metrics"), (V2, "applied", "Add tags column"), (V3, "pending", "add priority")]
    assert str(report.migrations[0].applied_at) == "2025-07-10 08:00:00"
    assert m.history() == []
    assert m.verify().ok
    assert project.query("SELECT * FROM duckdb_migrations ORDER BY id") == before
    assert project.tables() == {"duckdb_migrations", "metrics"}


def test_first_up_adopts_the_legacy_ledger_in_place(project):
    legacy_project(project)
    project.sql(V3, "add_priority", "ALTER TABLE metrics ADD COLUMN priority INTEGER;",
                "ALTER TABLE metrics DROP COLUMN priority;")
    m = project.migrator()
    assert [r.version for r in m.up()] == [V3]

    rows = project.query("SELECT version, description, status, CAST(applied_at AS VARCHAR), legacy_id, "
                         "checksum IS NOT NULL, kind, filename FROM duckdb_migrations ORDER BY version")
    assert rows[:2] == [
        (V1, "Create metrics", "applied", "2025-07-10 08:00:00", 7, True, "sql", f"{V1}_create_metrics.sql"),
        (V2, "Add tags column", "applied", "2025-07-10 09:00:00", 8, True, "python", f"{V2}_add_tags_column.py"),
    ]
    assert rows[2][:3] == (V3, "add priority", "applied")
    assert state(m) == {V1: "applied", V2: "applied", V3: "applied"}
    assert m.verify().ok
    assert events(m) == [(V1, "adopted"), (V2, "adopted"), (V3, "applied")]
    # the adopted rows revert with the downgrade taken from the files at adoption
    m.down(V1)
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'metrics'") == [("id",)]


def test_first_down_adopts_the_legacy_ledger(project):
    legacy_project(project)
    assert [r.version for r in project.migrator().down()] == [V2]
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 'metrics'") == [("id",)]
    assert project.query(f"SELECT version, legacy_id FROM {STATE}") == [(V1, 7)]


def test_adopted_row_whose_file_is_gone_is_missing_not_modified(project):
    legacy_project(project)
    project.query("INSERT INTO duckdb_migrations VALUES (9, '20250105_000000', 'Gone', NULL)")
    m = project.migrator()
    assert state(m) == {V1: "applied", V2: "applied", "20250105_000000": "missing"}
    m.stamp(V2)  # something that writes: adopts the table
    assert state(m) == {V1: "applied", V2: "applied", "20250105_000000": "missing"}
    assert project.query(f"SELECT checksum, legacy_id FROM {STATE} WHERE version = '20250105_000000'") == [
        (None, 9)]
    assert m.verify().problems == [("20250105_000000", "missing", "applied, but its file is gone", None)]
    with pytest.raises(errors.StateError, match="^20250105_000000 has no downgrade, so it cannot be reverted"):
        m.down()


def test_table_with_another_layout_is_refused(project):
    project.query("CREATE TABLE duckdb_migrations (name VARCHAR, run_on DATE)")
    project.query("INSERT INTO duckdb_migrations VALUES ('x', DATE '2025-01-01')")
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    m = project.migrator()
    for verb in (m.status, m.up, m.history, lambda: m.stamp(V1)):
        with pytest.raises(errors.ConfigError) as info:
            verb()
        assert str(info.value) == (
            "table duckdb_migrations exists but is not a duckmig ledger (columns: name, run_on)\n"
            "  hint: rename that table, or choose another ledger table with `Migrator(..., table=TABLE)`")
    assert project.tables() == {"duckdb_migrations"}
    assert project.query("SELECT * FROM duckdb_migrations") == [("x", date(2025, 1, 1))]


# -- the user's connection ---------------------------------------------------------------------------


def test_users_connection_is_used_and_left_open(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);\nINSERT INTO one VALUES (1);", "DROP TABLE one;")
    conn = duckdb.connect(str(project.db))
    m = Migrator(conn, project.directory)
    assert [r.version for r in m.up()] == [V1]
    assert conn.execute("SELECT x FROM one").fetchall() == [(1,)]
    m.down()
    assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'one'").fetchone() == (0,)
    conn.execute("CREATE TABLE still_usable (x INTEGER)")
    conn.close()
    assert project.tables() == {"still_usable"} | LEDGER


@pytest.mark.parametrize("ledger_exists", [False, True])
def test_users_open_transaction_is_refused_and_not_committed(project, ledger_exists):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    conn = duckdb.connect(":memory:")
    m = Migrator(conn, project.directory)
    if ledger_exists:
        m.up()
        project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", "DROP TABLE two;")
    conn.execute("BEGIN TRANSACTION")
    conn.execute("CREATE TABLE mine (x INTEGER)")
    verbs = [m.up, lambda: m.stamp(V1), lambda: m.verify(roundtrip=True)] + ([m.down, m.redo] if ledger_exists else [])
    for verb in verbs:
        with pytest.raises(errors.ConfigError) as info:
            verb()
        assert str(info.value) == (
            "the connection has a transaction open; duckmig will not commit it for you\n"
            "  hint: finish it with COMMIT or ROLLBACK on that connection, then run the migration again")
    conn.execute("ROLLBACK")
    tables = {r[0] for r in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == (({"one"} | LEDGER) if ledger_exists else set())


def test_users_open_transaction_is_refused_before_a_transaction_false_migration_runs(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);", "DROP TABLE one;")
    conn = duckdb.connect(":memory:")
    m = Migrator(conn, project.directory)
    m.up()
    project.sql(V2, "two", "CREATE TABLE two (x INTEGER);", options="transaction:false")
    conn.execute("BEGIN TRANSACTION")
    with pytest.raises(errors.ConfigError, match="^the connection has a transaction open"):
        m.up()
    # the statement did not run inside the user's transaction either
    assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'two'").fetchone() == (0,)
    conn.execute("ROLLBACK")


# -- locks and paths -----------------------------------------------------------------------------------

HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


@pytest.fixture
def holder(project):
    """Another process holding the database open, until its stdin closes."""
    duckdb.connect(str(project.db)).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(project.db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    yield proc
    proc.stdin.close()
    proc.wait(timeout=30)


def test_database_held_by_another_process(project, holder):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    m = project.migrator()
    for verb in (m.up, m.status):
        with pytest.raises(errors.DatabaseLocked) as info:
            verb()
        assert info.value.pid == holder.pid
        assert info.value.message.startswith(f"database {project.db} is locked by process {holder.pid} (")
        assert "retry with `Migrator(..., wait=SECONDS)`" in str(info.value)
        assert info.value.exit_code == 2


def test_wait_for_another_process_to_let_go(project, holder):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    timer = threading.Timer(0.5, holder.stdin.close)
    timer.start()
    try:
        assert [r.version for r in project.migrator(wait=30).up()] == [V1]
    finally:
        timer.join()
    assert "one" in project.tables()


def test_database_in_a_missing_folder(project):
    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    path = project.root / "no" / "such" / "app.db"
    m = Migrator(str(path), project.directory)
    for verb in (m.up, m.status, lambda: m.stamp(V1)):
        with pytest.raises(errors.ConfigError) as info:
            verb()
        assert str(info.value) == (f"cannot open database {path}: folder {path.parent} does not exist\n"
                                   "  hint: create the folder first, or fix the database given to Migrator")
    assert not (project.root / "no").exists()


def test_missing_migrations_directory(project, tmp_path):
    m = Migrator(str(project.db), str(tmp_path / "nowhere"))
    with pytest.raises(errors.ConfigError, match=f"^migrations directory {re.escape(str(tmp_path / 'nowhere'))} "
                       "does not exist\n"):
        m.up()
    assert not project.db.exists()


# -- weiser's names ----------------------------------------------------------------------------------


def test_seed_api_names(project):
    m = project.migrator()
    path = m.create_migration("Add tags column")
    assert path.suffix == ".py" and path.parent == project.versions
    path.write_text(path.read_text().replace("-- your change here", "CREATE TABLE tagged (x INTEGER)")
                    .replace("-- undo it here", "DROP TABLE tagged"))
    version = path.name[:15]
    assert [s.state for s in m.migration_status()] == ["pending"]
    assert [r.version for r in m.migrate_up()] == [version]
    assert "tagged" in project.tables()
    with pytest.raises(errors.StateError, match="^no migration 20990101_000000 among the applied migrations"):
        m.migrate_down("20990101_000000")
    assert [r.version for r in m.migrate_down()] == [version]
    assert "tagged" not in project.tables()


# -- single transaction -------------------------------------------------------------


def test_single_transaction_applies_all_or_nothing(project):
    three_files(project)
    failing_second(project, "sql", "INSERT INTO base VALUES (1)")  # duplicate key at its third statement
    m = project.migrator()
    with pytest.raises(errors.MigrationFailed) as caught:
        m.up(single_transaction=True)
    assert caught.value.version == V2 and caught.value.group == 1
    assert "rolled back with the 1 migration before it in the single transaction" in str(caught.value)
    assert project.tables() == {"duckdb_migrations"}  # V1's table is gone too
    assert state(m) == {V1: "pending", V2: "failed", V3: "pending"}

    project.sql(V2, "three", "CREATE TABLE a (x INTEGER);", "DROP TABLE a;")
    assert [r.version for r in m.up(single_transaction=True)] == [V1, V2, V3]
    assert state(m) == {V1: "applied", V2: "applied", V3: "applied"}
    assert [e for e in events(m) if e[1] == "applied"] == [(V1, "applied"), (V2, "applied"), (V3, "applied")]


def test_single_transaction_refuses_a_migration_outside_transactions(project):
    three_files(project)
    project.sql(V2, "vacuum", "VACUUM;", options="transaction:false")
    with pytest.raises(errors.ConfigError) as caught:
        project.migrator().up(single_transaction=True)
    assert str(caught.value).startswith(f"cannot apply in a single transaction: {V2} runs outside one")
    assert not project.db.exists()


def test_status_asked_while_the_run_holds_the_connection(project):
    """A progress callback that asks for the status in the middle of ``up`` (as a view refreshing
    itself might): status reads the ledger on the caller's thread, which holds the engine's lock."""
    import threading

    import duckdb

    for i in (1, 2):
        project.sql(f"2025010{i}_000000", f"m{i}", f"CREATE TABLE t{i} (x INTEGER);")
    conn = duckdb.connect(str(project.db))
    seen, done = [], []

    def progress(event, i, n, script, result):
        if event == "done":
            seen.append(m.status().counts()["pending"])

    m = Migrator(conn, str(project.directory), progress=progress, group_seconds=0)
    worker = threading.Thread(target=lambda: done.append(m.up()), daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "status deadlocked inside the run"
    assert [r.version for r in done[0]] == ["20250101_000000", "20250102_000000"] and seen == [1, 0]
    conn.close()


def test_status_of_a_folder_gone_while_the_caller_holds_the_engine_lock(project):
    """status lists the files in a thread beside the caller's, which must never wait for the engine's
    lock that the caller may hold (as a run does): a folder that is gone is told by the caller's own
    thread, with the applied migrations the ledger records."""
    import shutil

    project.sql(V1, "one", "CREATE TABLE one (x INTEGER);")
    m = project.migrator()
    m.up()
    shutil.rmtree(project.versions)
    told = []

    def ask():
        with m.db.connect(write=False):  # the engine's lock, held
            with pytest.raises(errors.ConfigError) as caught:
                m.status()
            told.append(str(caught.value))

    caller = threading.Thread(target=ask, daemon=True)
    caller.start()
    caller.join(30)
    assert not caller.is_alive(), "status waited for the lock its caller holds"
    assert f"does not exist, and the ledger records 1 applied migration ({V1})" in told[0]


@pytest.mark.parametrize("files", [1, 3], ids=["one event", "a group's events"])
def test_a_migration_of_megabytes_is_recorded_whole(project, files):
    """A statement of megabytes is bound into the ledger's INSERT rather than written into its text
    (which DuckDB 1.x reads in time that grows faster than its length): the ledger holds the file as it
    is, so status sees it unchanged and restore writes it back byte for byte."""
    rows = ", ".join(f"({i}, 'name {i}')" for i in range(40_000))  # about 800 KB
    paths = [project.sql(f"2025010{n}_000001", f"big_{n}", f"CREATE TABLE t{n} (id INTEGER, name VARCHAR);\n"
                         f"INSERT INTO t{n} VALUES {rows};", f"DROP TABLE t{n};") for n in range(1, files + 1)]
    m = project.migrator()
    m.up()
    assert [s.state for s in m.status().migrations] == ["applied"] * files
    written = {p: p.read_bytes() for p in paths}
    for p in paths:
        p.unlink()
    m.restore()
    assert {p: p.read_bytes() for p in paths} == written
    with duckdb.connect(str(project.db)) as conn:
        assert conn.execute("SELECT count(*) FROM t1").fetchone()[0] == 40_000
