"""
Migration: Add tags column to metrics table
Version: 20250710_000001
"""

from duckmig_magic import BaseMigration, Session


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
