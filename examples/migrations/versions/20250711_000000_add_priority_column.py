from duckmig_magic import BaseMigration, Session


class Migration_20250711_000000(BaseMigration):
    def __init__(self):
        super().__init__(version="20250711_000000", description="Add priority column")

    def upgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            ALTER TABLE metrics
            ADD COLUMN priority INTEGER DEFAULT 0
        """)
        session.commit()

    def downgrade(self, session: Session) -> None:
        self.execute_sql(session, """
            ALTER TABLE metrics
            DROP COLUMN priority
        """)
        session.commit()
