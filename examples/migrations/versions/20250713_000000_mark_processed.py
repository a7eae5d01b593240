from duckmig_magic import BaseMigration, Session


class Migration_20250713_000000(BaseMigration):
    def __init__(self):
        super().__init__(version="20250713_000000", description="Mark successful runs as processed")

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
        self.execute_sql(session, "ALTER TABLE metrics DROP COLUMN processed")
        session.commit()
