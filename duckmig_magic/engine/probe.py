"""What a database holds, looked at once when a notebook connects to it: read, nothing written."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Found:
    new: bool  # the database file does not exist yet
    layout: str = "none"  # the ledger's: "none", "legacy" (the seed's four columns) or "current"
    applied: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    read_only: bool = False  # a connection the user gave that cannot write


def look(migrator) -> Found:
    """Open ``migrator``'s database now and read its ledger; raises what opening or reading it raises
    (a lock another process holds, a file that is not a database, a table that is not a ledger)."""
    if not migrator.db.exists():
        return Found(new=True)
    with migrator.db.connect(write=False) as conn:
        ledger = migrator.work.ledger(conn)  # where the runs will find it: the pinned database and schema
        rows = ledger.rows()
        read_only = False
        if not migrator.db.owned:
            row = conn.execute("SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()"
                               ).fetchone()
            read_only = bool(row and row[0])
        return Found(False, ledger.layout(), sorted(v for v, r in rows.items() if r.status == "applied"),
                     sorted(v for v, r in rows.items() if r.status == "failed"), read_only)
