"""``duckmig lint``, ``%migrate lint`` and ``Migrator.lint()``, and ``up``'s lint, on real files and
databases: what is found where, how it is said, how it is silenced, and that the migrations this
project ships raise no error."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from duckmig_magic import Migrator, errors
from duckmig_magic.engine import lint

from test_catalog_shapes import ANALYTICS, APP, MACROS, ORM, TYPES

ROOT = Path(__file__).resolve().parent.parent
INDEXED = "CREATE TABLE t (id INTEGER, a INTEGER, b VARCHAR); CREATE INDEX t_a ON t (a); INSERT INTO t VALUES (1, 1, '2')"


def live(project, sql: str) -> None:
    with duckdb.connect(str(project.db)) as conn:
        conn.execute(sql)


def rules(project, **kw) -> list[tuple[str, int]]:
    return [(f.rule, f.line) for f in project.migrator().lint(**kw).findings]


def test_quiet_and_exit_0_when_all_is_well(project, cli):
    live(project, "CREATE TABLE t (id INTEGER, a INTEGER)")
    project.sql("20250101_000001", "add", "ALTER TABLE t ADD COLUMN c INTEGER;", "ALTER TABLE t DROP COLUMN c;")
    r = cli("lint", "--database", project.db)
    assert (r.code, r.out, r.err) == (0, "", "")


def test_a_catalog_duckdb_cannot_copy_is_linted_from_an_empty_one(project, cli):
    """DuckDB's COPY FROM DATABASE makes a table before a macro its default calls, and fails: the lint
    goes on from an empty catalog, as on a lake's, and says so, in each format."""
    live(project, "CREATE MACRO twice(x) AS x * 2; CREATE TABLE t (id INTEGER, a INTEGER DEFAULT twice(2))")
    project.sql("20250101_000001", "add", "ALTER TABLE t ADD COLUMN c INTEGER;", "ALTER TABLE t DROP COLUMN c;")
    r = cli("lint", "--database", project.db)
    assert (r.code, r.err) == (0, "")
    assert re.fullmatch(r"note: the database's schema could not be copied for the lint \(.+\), so the rules "
                        r"that read it judged the migrations as if the database were empty\n", r.out), r.out
    assert json.loads(cli("lint", "--database", project.db, "--json").out)["schema_unread"] in r.out
    assert cli("lint", "--database", project.db, "--format", "github").out.startswith("::notice::the database's schema")
    assert cli("lint", "--database", project.db, "--json").code == 0
    with duckdb.connect(str(project.db)) as conn:  # the live database is read, not changed
        assert conn.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 't'").fetchone()[0] == 2


def test_a_finding_names_rule_file_line_why_and_fix(project, cli):
    live(project, INDEXED)
    project.sql("20250101_000001", "tighten", "SELECT 1;\nALTER TABLE t ALTER b SET NOT NULL;", "SELECT 1;")
    r = cli("lint", "--database", project.db)
    assert r.code == errors.EXIT_FAILED
    first = r.out.splitlines()[0]
    assert first.startswith("migrations/versions/20250101_000001_tighten.sql:3: DM101 error: t has an index (t_a)")
    assert "  fix: DROP INDEX \"t_a\"; ALTER TABLE t ALTER b SET NOT NULL; CREATE INDEX t_a ON t(a);" in r.out
    assert r.out.rstrip().endswith("1 error in 1 migration")


def test_json_and_github_annotations(project, cli):
    live(project, INDEXED)
    project.sql("20250101_000001", "drop", "ALTER TABLE t DROP COLUMN b;", "SELECT 1;")
    data = json.loads(cli("lint", "--json", "--database", project.db).out)
    assert data["checked"] == ["20250101_000001"]
    assert [(f["rule"], f["severity"], f["line"]) for f in data["findings"]] == [("DM101", "error", 2),
                                                                                  ("DM204", "warning", 2)]
    out = cli("lint", "--format", "github", "--database", project.db).out.splitlines()
    assert out[0].startswith("::error file=migrations/versions/20250101_000001_drop.sql,line=2,title=DM101::t has")
    assert out[1].startswith("::warning file=migrations/versions/20250101_000001_drop.sql,line=2,title=DM204::")


def test_a_github_annotation_escapes_what_the_runner_reads(project, cli):
    live(project, 'CREATE TABLE "a%\nb" (x INTEGER, y INTEGER); CREATE INDEX i ON "a%\nb" (x)')
    project.sql("20250101_000001", "r", 'ALTER TABLE "a%\nb" ALTER y SET NOT NULL;', "SELECT 1;")
    out = cli("lint", "--format", "github", "--database", project.db).out.splitlines()
    assert out[0].startswith("::error file=migrations/versions/20250101_000001_r.sql,line=2,title=DM101::a%25%0Ab has")


def test_the_catalog_is_the_one_the_migration_meets(project):
    """An index made by an earlier pending migration counts; one dropped by it does not."""
    live(project, "CREATE TABLE t (id INTEGER, a INTEGER)")
    project.sql("20250101_000001", "index", "CREATE INDEX t_a ON t (a);", "DROP INDEX t_a;")
    project.sql("20250101_000002", "alter", "ALTER TABLE t RENAME a TO b;", "ALTER TABLE t RENAME b TO a;")
    assert ("DM101", 2) in rules(project)
    project.sql("20250101_000003", "unindex", "DROP INDEX t_a;", "SELECT 1;")
    project.versions.joinpath("20250101_000002_alter.sql").rename(project.versions / "20250101_000004_alter.sql")
    assert "DM101" not in {r for r, _ in rules(project)}


def test_versions_named_are_linted_after_the_pending_ones_before_them(project):
    live(project, "CREATE TABLE t (id INTEGER, a INTEGER)")
    project.sql("20250101_000001", "index", "CREATE INDEX t_a ON t (a);\nDROP TABLE IF EXISTS nothing;", "SELECT 1;")
    project.sql("20250101_000002", "alter", "ALTER TABLE t DROP COLUMN a;", "SELECT 1;")
    found = project.migrator().lint(["20250101_000002"])
    assert found.checked == ["20250101_000002"]
    assert {f.version for f in found.findings} == {"20250101_000002"}
    assert "DM102" in {f.rule for f in found.findings}


def test_data_rules_read_the_live_rows_and_can_be_left_out(project, cli):
    live(project, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (NULL)")
    project.sql("20250101_000001", "nn", "ALTER TABLE t ALTER a SET NOT NULL;", "ALTER TABLE t ALTER a DROP NOT NULL;")
    assert ("DM130", 2) in rules(project)
    assert rules(project, data=False) == []
    assert cli("lint", "--no-data", "--database", project.db).code == 0


def test_the_database_is_not_changed_and_not_created(project):
    project.sql("20250101_000001", "t", "CREATE TABLE t (a INTEGER);\nALTER TABLE t ADD COLUMN b INTEGER;", "DROP TABLE t;")
    assert project.migrator().lint().findings == []
    assert not project.db.exists()
    live(project, "CREATE TABLE kept (a INTEGER)")
    before = project.db.read_bytes()
    project.migrator().lint()
    assert project.db.read_bytes() == before


def test_a_user_connection_is_given_back_as_it_was(project):
    conn = duckdb.connect(str(project.db))
    conn.execute(INDEXED)
    project.sql("20250101_000001", "rename", "ALTER TABLE t RENAME b TO c;", "SELECT 1;")
    assert "DM101" in {f.rule for f in Migrator(conn, str(project.directory)).lint().findings}
    assert conn.execute("SELECT current_database()").fetchone() == ("app",)
    assert [d for (d,) in conn.execute("SELECT database_name FROM duckdb_databases() WHERE NOT internal").fetchall()] \
        == ["app"]
    assert conn.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 't'").fetchall()[-1] == ("b",)


def test_a_suppression_silences_that_rule_on_that_statement_only(project):
    live(project, INDEXED)
    project.sql("20250101_000001", "two",
                "ALTER TABLE t ALTER b SET NOT NULL; -- duckmig: ignore DM101 the index goes first, by hand\n"
                "-- duckmig: ignore DM207 readers moved in 20241201\n"
                "ALTER TABLE t RENAME b TO c;\n"
                "SELECT '-- duckmig: ignore DM101 inside a string is text';\n", "SELECT 1;")
    assert rules(project) == [("DM101", 4)]


def test_settings_disable_enable_and_regrade(project, cli):
    live(project, INDEXED)
    project.sql("20250101_000001", "d", "ALTER TABLE t ADD COLUMN c INTEGER;\nDROP TABLE t;")
    assert {r for r, _ in rules(project)} == {"DM203", "DM209"}
    (project.root / "pyproject.toml").write_text('[tool.duckmig.lint]\ndisable = ["DM209"]\nseverity = {DM203 = "error"}\n')
    r = cli("lint", "--json", "--database", project.db)
    assert r.code == errors.EXIT_FAILED
    assert [(f["rule"], f["severity"]) for f in json.loads(r.out)["findings"]] == [("DM203", "error")]
    (project.root / "pyproject.toml").write_text('[tool.duckmig.lint]\nenable = ["DM209"]\n')
    assert [f["rule"] for f in json.loads(cli("lint", "--json", "--database", project.db).out)["findings"]] == ["DM209"]


def test_rules_lists_every_rule_without_a_database(project, cli):
    r = cli("lint", "--rules")
    assert r.code == 0
    assert [line.split()[0] for line in r.out.splitlines() if re.match(r"DM\d", line)] == [x.id for x in lint.RULES]


def test_up_stops_before_its_first_migration_on_an_error(project, cli):
    live(project, INDEXED)
    project.sql("20250101_000001", "fine", "CREATE TABLE u (a INTEGER);", "DROP TABLE u;")
    project.sql("20250101_000002", "trap", "ALTER TABLE t RENAME b TO c;", "ALTER TABLE t RENAME c TO b;")
    r = cli("up", "--database", project.db)
    assert r.code == errors.EXIT_FAILED
    assert "20250101_000002_trap.sql:2: DM101 t has an index (t_a)" in r.err and "--no-lint" in r.err
    assert "u" not in project.tables()
    # Skipped, the run goes on and DuckDB itself refuses the trap: the first migration stays applied.
    r = cli("up", "--no-lint", "--database", project.db)
    assert r.code == errors.EXIT_FAILED and "Cannot alter entry" in r.err
    assert "u" in project.tables()


def test_up_is_not_stopped_by_warnings_or_data_rules(project, cli):
    live(project, "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1)")
    project.sql("20250101_000001", "drop", "DROP TABLE t;")
    assert cli("up", "--database", project.db).code == 0


def test_magic_lint(shell, project, capsys):
    live(project, INDEXED)
    project.sql("20250101_000001", "rename", "ALTER TABLE t RENAME b TO c;", "SELECT 1;")
    from IPython.core.error import UsageError

    shell.run_line_magic("migrate", f"connect {project.db.name}")
    with pytest.raises(UsageError, match=r"20250101_000001_rename.sql:2: DM101 error: t has an index"):
        shell.run_line_magic("migrate", "lint")  # an error finding fails the cell, as a failed check does
    project.sql("20250101_000001", "rename", "ALTER TABLE t RENAME b TO c; -- duckmig: ignore DM101 by hand",
                "SELECT 1;")
    capsys.readouterr()
    shell.run_line_magic("migrate", "lint")
    out = capsys.readouterr().out
    assert "DM207 warning" in out and "DM101" not in out


def test_a_migration_cell_is_stopped_by_an_error_finding_unless_told_no_lint(shell, project, capsys):
    """`%%migration --apply`: the findings first, then the lint's stop with nothing applied; with
    --no-lint the cell goes ahead, so what stops it is DuckDB's own refusal, recorded as failed."""
    from IPython.core.error import UsageError

    live(project, INDEXED)
    shell.run_line_magic("migrate", f"connect {project.db.name}")
    body = "-- migrate:up\nALTER TABLE t RENAME b TO c;\n-- migrate:down\nALTER TABLE t RENAME c TO b;\n"
    with pytest.raises(UsageError, match=r"DM101 t has an index.*nothing was applied"):
        shell.run_cell_magic("migration", "rename --apply", body)
    assert "DM101" in capsys.readouterr().out  # told before --apply ran anything
    with duckdb.connect(str(project.db)) as conn:
        assert conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'duckdb_migrations'"
                            ).fetchone() == (0,)  # not even the ledger made
    with pytest.raises(UsageError, match=r"failed: Dependency Error") as refused:
        shell.run_cell_magic("migration", "rename --apply --no-lint", body)
    assert "DM101" not in str(refused.value)
    with duckdb.connect(str(project.db)) as conn:
        assert conn.execute("SELECT status FROM duckdb_migrations").fetchall() == [("failed",)]


# -- no false errors on what the project ships -------------------------------------------------------------


def _errors(report) -> list:
    return [(f.file, f.line, f.rule, f.message) for f in report.findings if f.severity == "error"]


def test_no_error_on_the_examples(tmp_path):
    import shutil

    shutil.copytree(ROOT / "examples" / "migrations", tmp_path / "migrations")
    assert _errors(Migrator(str(tmp_path / "app.db"), str(tmp_path / "migrations")).lint()) == []


@pytest.mark.parametrize("ups", [[ANALYTICS], [APP], [TYPES], [MACROS], ORM],
                         ids=["analytics", "app", "types", "macros", "orm"])
def test_no_error_on_the_catalog_shapes(project, ups):
    live(project, "CREATE TABLE kept (id INTEGER)")
    for i, up in enumerate(ups, 1):
        project.sql(f"2025010{i}_000000", f"step_{i}", up)
    assert _errors(project.migrator().lint()) == []


def _cells(text: str) -> list[str]:
    return ["-- migrate:up" + m.split("-- migrate:up", 1)[1] for m in re.findall(r"```sql\n(.*?)```", text, re.S)
            if "-- migrate:up" in m]


def test_no_error_on_the_readme_and_the_notebooks(project):
    import nbformat

    bodies = _cells((ROOT / "README.md").read_text())
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(nb, as_version=4).cells:
            if cell.cell_type == "code" and cell.source.startswith("%%migration") and "--python" not in \
                    cell.source.splitlines()[0]:
                bodies.append(cell.source.split("\n", 1)[1])
    assert bodies
    for n, body in enumerate(bodies, 1):
        project.write(f"202501{n:02d}_000000_m{n}.sql", body, dedent=False)
    assert _errors(project.migrator().lint()) == []


def test_a_downgrade_is_judged_on_the_catalog_its_upgrade_leaves(project):
    """The downgrade of an ADD COLUMN on an indexed table is a DROP COLUMN DuckDB refuses there."""
    live(project, INDEXED)
    project.sql("20250101_000001", "add", "ALTER TABLE t ADD COLUMN c INTEGER;", "ALTER TABLE t DROP COLUMN c;")
    found = project.migrator().lint().findings
    assert [(f.rule, f.section, f.line) for f in found] == [("DM101", "down", 5)]


def test_a_statement_naming_the_live_database_is_not_replayed_on_it(project):
    """On a user's connection the copy sits beside the live database: a migration that names the live
    one by its catalog is judged, and never run there."""
    conn = duckdb.connect(str(project.db))
    conn.execute("CREATE TABLE t (a INTEGER)")
    project.sql("20250101_000001", "q", "DROP TABLE app.main.t;\nCREATE TABLE app.u (a INTEGER);\nALTER TABLE app.t "
                "ADD COLUMN b INTEGER;", "SELECT 1;")
    found = Migrator(conn, str(project.directory)).lint().findings
    assert [f.rule for f in found] == ["DM203"]
    assert conn.execute("SELECT table_name FROM duckdb_tables()").fetchall() == [("t",)]
    assert conn.execute("SELECT count(*) FROM duckdb_columns() WHERE table_name = 't'").fetchone() == (1,)


def test_fix_writes_the_mechanical_fix_into_a_pending_file_and_shows_the_diff(project, cli):
    live(project, INDEXED)
    project.sql("20250101_000001", "done", "CREATE TABLE done (a INTEGER);", "DROP TABLE done;")
    assert cli("up", "--database", project.db).code == 0
    path = project.sql("20250101_000002", "tighten", "ALTER TABLE t ALTER b SET NOT NULL;",
                       "ALTER TABLE t ALTER b DROP NOT NULL; -- duckmig: ignore DM101 checked in a copy")
    r = cli("lint", "--fix", "--database", project.db)
    assert "+DROP INDEX \"t_a\";\n ALTER TABLE t ALTER b SET NOT NULL;\n+CREATE INDEX t_a ON t(a);" in r.out
    assert r.code == 0 and "DM101 error" not in r.out
    assert path.read_text().count('DROP INDEX "t_a";') == 1
    # As DuckDB runs it.
    assert cli("up", "--database", project.db).code == 0
    assert project.query("SELECT is_nullable FROM duckdb_columns() WHERE column_name = 'b'") == [(False,)]


def test_a_migration_cell_shows_its_findings_before_apply_runs_anything(shell, project, capsys):
    from IPython.core.error import UsageError

    live(project, INDEXED)
    shell.run_line_magic("migrate", f"connect {project.db.name}")
    capsys.readouterr()
    with pytest.raises(UsageError, match="DM101 t has an index"):
        shell.run_cell_magic("migration", "rename_b --apply", "-- migrate:up\nALTER TABLE t RENAME b TO c;\n"
                                                               "-- migrate:down\nALTER TABLE t RENAME c TO b;\n")
    out = capsys.readouterr().out
    assert re.search(r"_rename_b\.sql:2: DM101 error: t has an index \(t_a\)", out)
    assert "DM209" not in out
    assert project.query("SELECT column_name FROM duckdb_columns() WHERE table_name = 't'")[-1] == ("b",)
    p = shell.run_line_magic("migrate", "preview")
    assert [w.kind for w in p.preview.warning_list][:2] == ["DM101 error", "DM207 warning"]


def test_a_downgrade_refused_midway_leaves_the_catalog_for_what_follows(project):
    """A statement of a downgrade that DuckDB refuses aborts its trial transaction: the statements before it
    are run again, and the migrations after it see the catalog of the upgrades alone."""
    live(project, INDEXED)
    project.sql("20250101_000001", "a", "CREATE TABLE u (a INTEGER);",
                "DROP INDEX t_a;\nALTER TABLE nope ADD COLUMN x INTEGER;\nALTER TABLE t RENAME b TO c;\nDROP TABLE u;")
    project.sql("20250101_000002", "b", "ALTER TABLE u ADD COLUMN b INTEGER;\nALTER TABLE t DROP COLUMN b;",
                "SELECT 1;")
    assert rules(project) == [("DM207", 7), ("DM101", 3), ("DM204", 3)]


@pytest.mark.ducklake
def test_a_lake_is_linted_and_left_as_it_was(lake_home, project, cli):
    project.sql("20250101_000001", "t", "CREATE TABLE t (a INTEGER, b VARCHAR);\nINSERT INTO t VALUES (1, NULL);",
                "DROP TABLE t;")
    project.sql("20250101_000002", "b", "ALTER TABLE t RENAME b TO c;\nDROP TABLE t;", "SELECT 1;")
    lake = ["--database", "ducklake:lake.ducklake", "--data-path", "lake-data/"]
    assert cli("up", "20250101_000001", *lake).code == 0
    r = cli("lint", "--json", *lake)
    assert r.code == 0, r.err
    assert [f["rule"] for f in json.loads(r.out)["findings"]] == ["DM207", "DM203"]
    assert cli("up", *lake).code == 0


def test_the_dashboard_asks_before_an_up_the_lint_finds_a_trap_in(project):
    from duckmig_magic.display import StatusView

    live(project, "CREATE TABLE t (a INTEGER, b VARCHAR); CREATE VIEW v AS SELECT a, b FROM t")
    project.sql("20250101_000001", "rename", "ALTER TABLE t RENAME b TO c;", "ALTER TABLE t RENAME c TO b;")
    view = StatusView(project.migrator())
    view.widget
    view.parts.up_button.click()  # the view v breaks: asked first, nothing applied
    assert any("DM201" in r or "the view v uses the old name" in r for r in view.confirming or []), view.confirming
    assert "the view v uses the old name" in view.parts.message.value
    assert project.query("SELECT count(*) FROM duckdb_columns() WHERE column_name = 'c'") == [(0,)]
