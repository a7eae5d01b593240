"""weiser's README examples run unchanged, apart from the import line of BaseMigration.

The file texts below are copied from weiser's README: its full example
migration (add a tags column) and, from "Common Migration Patterns", adding a
column, adding the priority column, the data migration that adds `processed`,
and creating an index. The patterns show only ``upgrade``; each is wrapped in a
class of weiser's form, with a ``downgrade`` written in the same style.

DuckDB cannot drop a column of a table that has an index ("Dependency Error:
Cannot alter entry"), so the index is the newest migration: reverting goes
newest first, dropping the index before any column. The last test shows the
other order failing cleanly.
"""

from __future__ import annotations

import textwrap

import duckdb
import pytest

from duckmig_magic import errors

# weiser's README's "Example Migration", with only its BaseMigration import changed.
ADD_TAGS = '''"""
Migration: Add tags column to metrics table
Version: 20250710_000001
"""

from sqlmodel import Session
from duckmig_magic import BaseMigration


class Migration_20250710_000001(BaseMigration):
    def __init__(self):
        super().__init__(version="20250710_000001", description="Add tags column to metrics table")
    
    def upgrade(self, session: Session) -> None:
        """Apply the migration - add tags column."""
        self.execute_sql(session, """
            ALTER TABLE metrics 
            ADD COLUMN tags VARCHAR
        """)
        session.commit()
    
    def downgrade(self, session: Session) -> None:
        """Revert the migration - remove tags column."""
        self.execute_sql(session, """
            ALTER TABLE metrics 
            DROP COLUMN tags
        """)
        session.commit()
'''


def seed_class(version: str, description: str, methods: str) -> str:
    """weiser's file form around methods copied from its README."""
    return f'''from sqlmodel import Session
from duckmig_magic import BaseMigration


class Migration_{version}(BaseMigration):
    def __init__(self):
        super().__init__(version="{version}", description="{description}")

{textwrap.indent(textwrap.dedent(methods).strip(), "    ")}
'''


# "Creating Migrations", step 2: "Edit the Generated File".
ADD_PRIORITY = seed_class("20250711_000000", "Add priority column", '''
    def upgrade(self, session: Session) -> None:
        """Apply the migration."""
        self.execute_sql(session, """
            ALTER TABLE metrics 
            ADD COLUMN priority INTEGER DEFAULT 0
        """)
        session.commit()
    
    def downgrade(self, session: Session) -> None:
        """Revert the migration."""
        self.execute_sql(session, """
            ALTER TABLE metrics 
            DROP COLUMN priority
        """)
        session.commit()
''')

# "Adding a Column" (its downgrade ours).
ADD_COLUMN = seed_class("20250712_000000", "Add new column", '''
    def upgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            ALTER TABLE metrics 
            ADD COLUMN new_column VARCHAR DEFAULT 'default_value'
        """)
        session.commit()

    def downgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            ALTER TABLE metrics 
            DROP COLUMN new_column
        """)
        session.commit()
''')

# "Data Migration" (its downgrade ours).
MARK_PROCESSED = seed_class("20250713_000000", "Mark successful runs as processed", '''
    def upgrade(self, session: Session) -> None:
        # Add new column
        self.execute_sql(session, """
            ALTER TABLE metrics 
            ADD COLUMN processed BOOLEAN DEFAULT FALSE
        """)
        
        # Update existing records
        self.execute_sql(session, """
            UPDATE metrics 
            SET processed = TRUE 
            WHERE success = TRUE
        """)
        
        session.commit()

    def downgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            ALTER TABLE metrics 
            DROP COLUMN processed
        """)
        session.commit()
''')

# "Creating an Index" (its downgrade ours).
CREATE_INDEX = seed_class("20250714_000000", "Index metrics by check", '''
    def upgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            CREATE INDEX idx_metrics_check_id 
            ON metrics(check_id)
        """)
        session.commit()

    def downgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            DROP INDEX idx_metrics_check_id
        """)
        session.commit()
''')

SEED = {
    "20250710_000001_add_tags_column.py": ADD_TAGS,
    "20250711_000000_add_priority_column.py": ADD_PRIORITY,
    "20250712_000000_add_new_column.py": ADD_COLUMN,
    "20250713_000000_mark_processed.py": MARK_PROCESSED,
    "20250714_000000_index_metrics_check_id.py": CREATE_INDEX,
}
VERSIONS = [name[:15] for name in SEED]

METRICS_COLUMNS = ["id", "check_id", "value", "success", "run_time"]
ROWS = [(1, "row_count", 10.0, True), (2, "row_count", 11.0, False), (3, "nulls", 0.0, True),
        (4, "nulls", None, None), (5, "freshness", 3.5, True)]


@pytest.fixture
def metrics(project):
    """weiser's store: a DuckDB file whose `metrics` table exists before any migration."""
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE metrics (id INTEGER PRIMARY KEY, check_id VARCHAR, value DOUBLE, "
                     "success BOOLEAN, run_time TIMESTAMP DEFAULT TIMESTAMP '2025-07-01 00:00:00')")
        conn.executemany("INSERT INTO metrics (id, check_id, value, success) VALUES (?, ?, ?, ?)", ROWS)
    for name, text in SEED.items():
        project.write(name, text, dedent=False)
    return project


def columns(project) -> list[str]:
    return [r[0] for r in project.query(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'metrics' ORDER BY column_index")]


def indexes(project) -> list[str]:
    return [r[0] for r in project.query("SELECT index_name FROM duckdb_indexes() WHERE table_name = 'metrics'")]


def original_rows(project):
    return project.query("SELECT id, check_id, value, success FROM metrics ORDER BY id")


def test_seed_files_keep_the_readme_text(metrics):
    assert (metrics.versions / "20250710_000001_add_tags_column.py").read_text().count("ALTER TABLE metrics \n") == 2
    assert "from weiser" not in "".join(SEED.values())


def test_seed_examples_apply_and_revert(metrics):
    migrator = metrics.migrator()
    assert [r.version for r in migrator.migrate_up()] == VERSIONS
    assert [(m.version, m.state) for m in migrator.migration_status()] == [(v, "applied") for v in VERSIONS]
    assert columns(metrics) == METRICS_COLUMNS + ["tags", "priority", "new_column", "processed"]
    assert indexes(metrics) == ["idx_metrics_check_id"]
    assert metrics.query("SELECT id, tags, priority, new_column, processed FROM metrics ORDER BY id") == [
        (1, None, 0, "default_value", True), (2, None, 0, "default_value", False),
        (3, None, 0, "default_value", True), (4, None, 0, "default_value", False),
        (5, None, 0, "default_value", True)]
    assert original_rows(metrics) == ROWS

    # weiser's meaning of migrate_down(version): revert everything newer, keep that one.
    assert [r.version for r in migrator.migrate_down("20250711_000000")] == VERSIONS[:1:-1]
    assert indexes(metrics) == []
    assert columns(metrics) == METRICS_COLUMNS + ["tags", "priority"]

    assert [r.version for r in migrator.down("base")] == ["20250711_000000", "20250710_000001"]
    assert columns(metrics) == METRICS_COLUMNS
    assert original_rows(metrics) == ROWS
    assert [m.state for m in migrator.status()] == ["pending"] * 5

    # and all of it again, from the same files
    assert [r.version for r in migrator.up()] == VERSIONS
    assert columns(metrics) == METRICS_COLUMNS + ["tags", "priority", "new_column", "processed"]


def test_each_seed_example_reverts_alone(metrics):
    migrator = metrics.migrator()
    for version in VERSIONS:
        migrator.up(version)
        before = columns(metrics), indexes(metrics)
        assert [r.version for r in migrator.down()] == [version]
        migrator.up(version)
        assert (columns(metrics), indexes(metrics)) == before


# The data migration with weiser's commit after each step and a misspelt column in its UPDATE.
COMMITS_THEN_FAILS = seed_class("20250713_000000", "Mark successful runs as processed", '''
    def upgrade(self, session: Session) -> None:
        # Add new column
        self.execute_sql(session, """
            ALTER TABLE metrics 
            ADD COLUMN processed BOOLEAN DEFAULT FALSE
        """)
        session.commit()

        # Update existing records
        self.execute_sql(session, """
            UPDATE metrics 
            SET processed = TRUE 
            WHERE succes = TRUE
        """)
        session.commit()

    def downgrade(self, session: Session) -> None:
        self.execute_sql(session, "ALTER TABLE metrics DROP COLUMN processed")
        session.commit()
''')


def test_commit_inside_a_seed_migration_keeps_it_atomic(metrics):
    broken = metrics.write("20250713_000000_mark_processed.py", COMMITS_THEN_FAILS, dedent=False)
    migrator = metrics.migrator()
    with pytest.raises(errors.MigrationFailed) as info:
        migrator.up()
    assert info.value.version == "20250713_000000"
    assert " ".join(info.value.statement.split()) == "UPDATE metrics SET processed = TRUE WHERE succes = TRUE"
    assert info.value.error.startswith('Binder Error: Referenced column "succes" not found')

    # The run stopped at the failure: the three before it are applied, the index is not.
    assert [(m.version, m.state) for m in migrator.status()] == [
        ("20250710_000001", "applied"), ("20250711_000000", "applied"), ("20250712_000000", "applied"),
        ("20250713_000000", "failed"), ("20250714_000000", "pending")]
    # Its first statement and its commit() left nothing.
    assert columns(metrics) == METRICS_COLUMNS + ["tags", "priority", "new_column"]
    failed = migrator.status().migrations[3]
    assert failed.error.startswith('Binder Error: Referenced column "succes" not found')
    assert " ".join(failed.statement.split()) == "UPDATE metrics SET processed = TRUE WHERE succes = TRUE"
    assert [e.event for e in migrator.history("20250713_000000")] == ["failed"]

    # Fixing the file and running up again applies it.
    broken.write_text(MARK_PROCESSED)
    assert [r.version for r in migrator.up()] == ["20250713_000000", "20250714_000000"]
    assert metrics.query("SELECT id FROM metrics WHERE processed ORDER BY id") == [(1,), (3,), (5,)]


def test_a_column_cannot_be_dropped_under_an_index(project):
    """DuckDB refuses to drop a column of an indexed table: the revert fails and changes nothing."""
    with duckdb.connect(str(project.db)) as conn:
        conn.execute("CREATE TABLE metrics (id INTEGER, check_id VARCHAR, success BOOLEAN)")
    project.write("20250701_000000_index_metrics_check_id.py",
                  CREATE_INDEX.replace("20250714_000000", "20250701_000000"), dedent=False)
    project.write("20250710_000001_add_tags_column.py", ADD_TAGS, dedent=False)
    migrator = project.migrator()
    migrator.up()
    with pytest.raises(errors.MigrationFailed) as info:
        migrator.down()
    assert "Cannot alter entry" in info.value.error
    assert columns(project) == ["id", "check_id", "success", "tags"]
    assert [m.state for m in migrator.status()] == ["applied", "applied"]
