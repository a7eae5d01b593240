"""The Python migration form: loading a class-form file, and the Session its methods receive."""

from __future__ import annotations

import re
import textwrap

import duckdb
import pandas as pd
import pytest
from sqlmodel import text

from duckmig_magic import BaseMigration, errors
from duckmig_magic.engine import pyform
from duckmig_magic.engine import Session
from duckmig_magic.engine.versions import ScriptDirectory

VERSION = "20250710_120000"
NAME = f"{VERSION}_change.py"


def migration(upgrade: str = "pass", downgrade: str = "pass", version: str = VERSION, head: str = "") -> str:
    """A class-form file with the given method bodies."""
    return textwrap.dedent(head) + f'''from duckmig_magic import BaseMigration


class Migration_{version}(BaseMigration):
    def __init__(self):
        super().__init__(version={version!r}, description="Change things")

    def upgrade(self, session):
{textwrap.indent(textwrap.dedent(upgrade).strip(), " " * 8)}

    def downgrade(self, session):
{textwrap.indent(textwrap.dedent(downgrade).strip(), " " * 8)}
'''


TEXT, RUN = "the text", "running"  # what tells a Python file's error: its text alone, or only running it
LOADING = [
    # id, source, what tells the error (the text alone, or only running it), line, text the message holds
    ("syntax-error", "from duckmig_magic import BaseMigration\n\nclass M(BaseMigration)\n    pass\n",
     TEXT, 3, "Python syntax error: expected ':'"),
    ("nul-byte", "x = 1\x00\n", TEXT, None, "Python syntax error: source code"),
    ("missing-module", "from duckmig_magic import BaseMigration\nimport duckmig_no_such_module\n",
     RUN, 2,
     "the file does not import: ModuleNotFoundError: No module named 'duckmig_no_such_module'"),
    ("missing-name", "from duckmig_magic import Basemigration\n", RUN, 1,
     "the file does not import: ImportError: cannot import name 'Basemigration' from 'duckmig_magic'"),
    ("raises-on-import", "x = 1\n\nraise RuntimeError('not today')\n", RUN, 3,
     "the file does not import: RuntimeError: not today"),
    ("no-class", "from duckmig_magic import BaseMigration\n\nVERSION = '20250710_120000'\n",
     TEXT, None, "this file defines no"),
    ("class-not-derived", "class Migration_20250710_120000:\n    def upgrade(self, session):\n        pass\n",
     TEXT, None, "this file defines no"),
    ("two-classes", migration() + "\n\nclass Another(BaseMigration):\n    pass\n",
     TEXT, None, "this file defines 2 (Migration_20250710_120000, Another)"),
    ("version-differs", migration(version="20250101_000000"), TEXT, None,
     f"class Migration_20250101_000000 has version '20250101_000000' but the file name says {VERSION}"),
    ("constructor-raises", "from duckmig_magic import BaseMigration\n\nclass M(BaseMigration):\n"
                           "    def __init__(self):\n        raise ValueError('bad setup')\n",
     RUN, 5, "M() failed: ValueError: bad setup"),
    ("constructor-needs-arguments", "from duckmig_magic import BaseMigration\n\nclass M(BaseMigration):\n"
                                    "    def __init__(self, conn):\n        super().__init__()\n",
     RUN, None, "M() failed: TypeError:"),
]


@pytest.mark.parametrize("source, told, line, message", [c[1:] for c in LOADING], ids=[c[0] for c in LOADING])
def test_loading_error(project, source, told, line, message):
    path = project.write(NAME, source, dedent=False)
    [script] = ScriptDirectory(project.directory).scripts()
    with pytest.raises(errors.MigrationFileError) as info:
        script.load()
    exc = info.value
    assert (type(exc), exc.path, exc.line) == (errors.MigrationFileError, path, line)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert str(exc).startswith(where)
    assert message in exc.detail
    # the command refuses the whole run before anything touches the database
    with pytest.raises(errors.MigrationFileError, match=re.escape(message)):
        project.migrator().up()
    assert not project.db.exists()


def test_version_none_is_taken_from_the_file_name(project):
    project.write(NAME, '''
        from duckmig_magic import BaseMigration

        class FromACell(BaseMigration):
            def __init__(self):
                super().__init__(description="Written in a notebook")

            def upgrade(self, session):
                session.exec("CREATE TABLE t (x INTEGER)")
    ''')
    [script] = ScriptDirectory(project.directory).scripts()
    assert (script.migration.version, script.description) == (VERSION, "Written in a notebook")
    assert [r.version for r in project.migrator().up()] == [VERSION]
    assert "t" in project.tables()


def test_a_shared_base_class_imported_from_elsewhere_does_not_count(project, monkeypatch):
    (project.root / "shared_base.py").write_text(
        "from duckmig_magic import BaseMigration\n\n\nclass Common(BaseMigration):\n    pass\n")
    monkeypatch.syspath_prepend(str(project.root))
    project.write(NAME, f"""
        from shared_base import Common

        class Migration_{VERSION}(Common):
            def __init__(self):
                super().__init__(version="{VERSION}")
    """)
    [script] = ScriptDirectory(project.directory).scripts()
    assert type(script.migration).__name__ == f"Migration_{VERSION}"


@pytest.fixture
def session():
    conn = duckdb.connect()
    conn.execute("BEGIN TRANSACTION")
    yield Session(conn)
    conn.close()


def test_exec_runs_each_statement_of_a_string(session):
    session.exec("CREATE TABLE t (x INTEGER, s VARCHAR); INSERT INTO t VALUES (1, 'a;b'); INSERT INTO t VALUES (2, 'c')")
    assert session.exec("SELECT x, s FROM t ORDER BY x").fetchall() == [(1, "a;b"), (2, "c")]
    assert session.statements == ["CREATE TABLE t (x INTEGER, s VARCHAR)", "INSERT INTO t VALUES (1, 'a;b')",
                                  "INSERT INTO t VALUES (2, 'c')", "SELECT x, s FROM t ORDER BY x"]


def test_exec_of_sql_that_does_not_parse_names_it(session):
    with pytest.raises(duckdb.ParserException, match="SELEC"):
        session.exec("SELECT 1;\nSELEC 2")
    assert session.statement == "SELECT 1;\nSELEC 2"


def test_exec_takes_sqlalchemy_text(session):
    session.exec(text("CREATE TABLE t (x INTEGER)"))
    session.exec(text("INSERT INTO t VALUES (1), (2)"))
    assert session.exec(text("SELECT sum(x) FROM t")).fetchone() == (3,)


def test_exec_takes_any_object_with_text(session):
    class Statement:
        text = "SELECT 42"

    assert session.exec(Statement()).scalar() == 42


def test_exec_refuses_what_is_not_sql(session):
    with pytest.raises(TypeError, match="session.exec\\(\\) takes SQL text, not int"):
        session.exec(42)


def test_execute_with_parameters(session):
    session.execute("CREATE TABLE t (x INTEGER, s VARCHAR)")
    session.execute("INSERT INTO t VALUES (?, ?)", [1, "it's; -- fine"])
    session.execute("INSERT INTO t VALUES ($x, $s)", {"x": 2, "s": "two"})
    assert session.execute("SELECT s FROM t WHERE x = ?", [1]).fetchone() == ("it's; -- fine",)
    assert session.execute("SELECT count(*) FROM t").one() == (2,)


def test_results(session):
    session.exec("CREATE TABLE t AS SELECT range AS x, 'v' || range AS s FROM range(3)")
    r = session.exec("SELECT x, s FROM t ORDER BY x")
    assert r.fetchone() == (0, "v0")
    assert r.fetchall() == [(1, "v1"), (2, "v2")]
    assert r.fetchone() is None
    pd.testing.assert_frame_equal(session.exec("SELECT x, s FROM t ORDER BY x").df(),
                                  pd.DataFrame({"x": [0, 1, 2], "s": ["v0", "v1", "v2"]}))
    assert list(session.exec("SELECT x FROM t ORDER BY x")) == [(0,), (1,), (2,)]
    assert session.exec("SELECT x FROM t WHERE x > 5").first() is None
    assert session.exec("SELECT max(x) FROM t").scalar() == 2
    with pytest.raises(ValueError, match="expected exactly one row, got 3"):
        session.exec("SELECT x FROM t").one()


def test_a_result_stays_readable_after_the_next_statement(session):
    session.exec("CREATE TABLE t AS SELECT range AS x FROM range(4)")
    rows = session.exec("SELECT x FROM t ORDER BY x")
    first = rows.fetchone()
    frame = session.exec("SELECT x * 10 AS y FROM t ORDER BY x")
    session.exec("UPDATE t SET x = x + 100")
    assert (first, rows.fetchall()) == ((0,), [(1,), (2,), (3,)])
    pd.testing.assert_frame_equal(frame.df(), pd.DataFrame({"y": [0, 10, 20, 30]}))


def test_commit_is_deferred_and_rollback_refused(session):
    session.exec("CREATE TABLE t (x INTEGER)")
    session.commit()
    session.flush()
    assert session.commits == 1
    with pytest.raises(RuntimeError) as info:
        session.rollback()
    assert str(info.value) == "a migration cannot roll back its own transaction; raise an exception to abort it"
    session._conn.execute("ROLLBACK")
    assert session._conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'").fetchone() == (0,)


def test_a_migration_that_commits_then_fails_leaves_nothing(project):
    project.write(NAME, migration(upgrade='''
        session.exec("CREATE TABLE t (x INTEGER)")
        session.commit()
        self.execute_sql(session, "INSERT INTO t VALUES (1)")
        session.commit()
        session.exec("INSERT INTO t VALUES ('not a number')")
        session.commit()
    '''))
    with pytest.raises(errors.MigrationFailed) as info:
        project.migrator().up()
    assert (info.value.version, info.value.statement) == (VERSION, "INSERT INTO t VALUES ('not a number')")
    assert "Conversion Error" in info.value.error
    assert "t" not in project.tables()
    [status] = project.migrator().status()
    assert (status.state, status.statement) == ("failed", "INSERT INTO t VALUES ('not a number')")
    assert "Conversion Error" in status.error


def test_a_migration_that_rolls_back_fails_clearly(project):
    project.write(NAME, migration(upgrade='''
        session.exec("CREATE TABLE t (x INTEGER)")
        session.rollback()
    '''))
    with pytest.raises(errors.MigrationFailed) as info:
        project.migrator().up()
    assert info.value.error == ("RuntimeError: a migration cannot roll back its own transaction; "
                                "raise an exception to abort it")
    assert "t" not in project.tables()
    assert [s.state for s in project.migrator().status()] == ["failed"]


def test_a_python_exception_fails_the_migration(project):
    project.write(NAME, migration(upgrade='''
        session.exec("CREATE TABLE t (x INTEGER)")
        total = session.exec("SELECT count(*) FROM t").scalar()
        if total == 0:
            raise ValueError("no rows to migrate")
    '''))
    with pytest.raises(errors.MigrationFailed) as info:
        project.migrator().up()
    assert info.value.error == "ValueError: no rows to migrate"
    assert "t" not in project.tables()


def test_apply_and_revert_through_the_migrator(project):
    project.write(NAME, migration(
        upgrade='''
            self.execute_sql(session, """
                CREATE TABLE t (x INTEGER);
                INSERT INTO t VALUES (1), (2);
            """)
            n = session.execute("SELECT count(*) FROM t").scalar()
            session.execute("INSERT INTO t VALUES (?)", [n * 10])
            session.commit()
        ''',
        downgrade='''
            session.exec(text("DROP TABLE t"))
            session.commit()
        ''',
        head="from sqlmodel import text\n"))
    migrator = project.migrator()
    assert [r.version for r in migrator.up()] == [VERSION]
    assert project.query("SELECT x FROM t ORDER BY x") == [(1,), (2,), (20,)]
    assert [r.version for r in migrator.down()] == [VERSION]
    assert "t" not in project.tables()


def test_base_migration_defaults():
    m = BaseMigration()
    assert (m.version, m.description) == (None, "")
    with pytest.raises(NotImplementedError, match="this migration defines no upgrade"):
        m.upgrade(None)
    with pytest.raises(NotImplementedError, match="this migration defines no downgrade"):
        m.downgrade(None)


# -- reading a file without running it ------------------------------------------------------------------------

HEAD = "from duckmig_magic import BaseMigration\n\n\n"
OUTLINES = [
    # id, source, (class, version, description) read from the text alone
    ("as written by `duckmig new`", migration(), (f"Migration_{VERSION}", VERSION, "Change things")),
    ("aliased base, description in a constant",
     "from duckmig_magic import BaseMigration as Base\n\nDESCRIPTION = 'Kept apart'\n\n\nclass M(Base):\n"
     "    def __init__(self):\n        super().__init__(None, DESCRIPTION)\n", ("M", None, "Kept apart")),
    ("base class's __init__ called by name",
     HEAD + f"class M(BaseMigration):\n    def __init__(self):\n        BaseMigration.__init__(self, '{VERSION}', 'Old style')\n",
     ("M", VERSION, "Old style")),
    ("no __init__: the file name's version", HEAD + "class M(BaseMigration):\n    pass\n", ("M", None, None)),
    ("computed description", HEAD + "class M(BaseMigration):\n    def __init__(self):\n"
     "        super().__init__(description=' '.join(['a', 'b']))\n", ("M", None, None)),
    ("base imported from elsewhere", "from shared_base import Common\n\n\nclass M(Common):\n    pass\n",
     ("M", None, None)),
    ("module-level code is not run", "raise SystemExit('ran')\n\n" + HEAD + "class M(BaseMigration):\n    pass\n",
     ("M", None, None)),
    ("a class only an `if` defines", HEAD + "if True:\n    class M(BaseMigration):\n        pass\n",
     ("M", None, None)),
    ("two classes, one of them perhaps a migration",
     HEAD + "from shared_base import Common\n\n\nclass A(BaseMigration):\n    pass\n\n\nclass B(Common):\n    pass\n",
     (None, None, None)),
]


@pytest.mark.parametrize("source, expected", [c[1:] for c in OUTLINES], ids=[c[0] for c in OUTLINES])
def test_outline_reads_class_version_and_description_without_running(source, expected):
    found = pyform.outline(source, NAME, VERSION)
    assert (found.class_name, found.version, found.description) == expected


@pytest.mark.parametrize("source, told, line, message", [c[1:] for c in LOADING if c[2] == TEXT],
                         ids=[c[0] for c in LOADING if c[2] == TEXT])
def test_outline_raises_what_the_text_alone_proves(source, told, line, message):
    with pytest.raises(errors.MigrationFileError) as info:
        pyform.outline(source, NAME, VERSION)
    assert (type(info.value), info.value.line) == (errors.MigrationFileError, line)
    assert message in info.value.detail


def test_outline_leaves_to_running_what_only_running_tells():
    for id_, source, told, *_ in LOADING:
        if told == RUN and "class" in source:
            assert pyform.outline(source, NAME, VERSION).class_name == "M", id_
