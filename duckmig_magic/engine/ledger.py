"""The ledger: the ``duckdb_migrations`` table and its append-only history.

``duckdb_migrations`` holds one row per migration that is applied or whose last
attempt failed; ``duckdb_migrations_history`` holds every event (applied,
reverted, failed, stamped, repaired, adopted). The caller owns transactions:
``record_*`` methods run inside the caller's, so a migration and its row commit
or roll back together.

Both tables are addressed fully qualified in the ``Place`` (database and schema)
the run started in, whatever the connection's current database is meanwhile:
a migration that runs ``USE other`` cannot move the ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import errors

LEGACY_COLUMNS = {"id", "version", "description", "applied_at"}
COLUMNS = ("version", "description", "kind", "checksum", "status", "applied_at", "execution_ms",
           "error", "statement", "downgrade", "filename", "legacy_id")
STATUSES = errors.UnknownLedgerStatus.STATUSES  # a closed set: any other value is refused, not half-understood
# The columns duckmig fills in every row it writes; any other NOT NULL column without a default refuses them.
_ALWAYS_WRITTEN = {"version", "status", "applied_at", "seq", "event", "occurred_at"}


@dataclass
class Row:
    version: str
    description: str | None
    kind: str | None
    checksum: str | None  # None: unknown (adopted from the legacy table without a file)
    status: str  # "applied" or "failed"
    applied_at: datetime | None
    execution_ms: float | None
    error: str | None
    statement: str | None
    downgrade: str | None
    filename: str | None


@dataclass
class Event:
    seq: int
    version: str
    event: str
    occurred_at: datetime
    checksum: str | None
    execution_ms: float | None
    detail: str | None


def quote(identifier: str) -> str:
    """A SQL identifier, quoted so that any name is taken literally."""
    return '"' + identifier.replace('"', '""') + '"'


@dataclass(frozen=True)
class Place:
    """A database and a schema of a connection: where the ledger is, and where migrations run."""

    database: str
    schema: str

    @classmethod
    def current(cls, conn) -> "Place":
        return cls(*conn.execute("SELECT current_database(), current_schema()").fetchone())

    def qualify(self, name: str) -> str:
        return f"{quote(self.database)}.{quote(self.schema)}.{quote(name)}"

    def use(self, conn) -> None:
        conn.execute(f"USE {quote(self.database)}.{quote(self.schema)}")


def tables(name: str) -> tuple[str, str]:
    """The ledger's two tables, for the name it is given: what a migration may not change."""
    return name, f"{name}_history"


# A row that exists (a failed attempt) is replaced whole; columns an INSERT leaves out are NULL.
_UPSERT = ("ON CONFLICT (version) DO UPDATE SET description = excluded.description, kind = excluded.kind, "
           "checksum = excluded.checksum, status = excluded.status, applied_at = excluded.applied_at, "
           "execution_ms = excluded.execution_ms, error = excluded.error, statement = excluded.statement, "
           "downgrade = excluded.downgrade, filename = excluded.filename")


def literal(text: str) -> str:
    """A SQL string literal of ``text`` (DuckDB's standard strings know no backslash escapes)."""
    return "'" + text.replace("'", "''") + "'"


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Ledger:
    def __init__(self, conn, table: str = "duckdb_migrations", place: Place | None = None):
        self.conn = conn
        self.name = table
        self.place = place or Place.current(conn)
        self.quoted, self.quoted_history = map(self.place.qualify, tables(table))
        self._current = False  # a current ledger stays current: ask DuckDB's catalog once
        self._seq: int | None = None  # the last event's seq; a Ledger lives for one locked operation

    @property
    def names(self) -> tuple[str, str]:
        return tables(self.name)

    # -- layout --------------------------------------------------------------

    def _columns(self) -> dict[str, list[tuple[str, bool]]]:
        """{table: [(column, NOT NULL without default)]} of the ledger's two tables, as they are."""
        # Literals, not parameters: DuckDB 1.x imports pandas to bind the first parameter
        # of a process, which alone would make `status` several times slower.
        rows = self.conn.execute(
            "SELECT table_name, column_name, NOT is_nullable AND column_default IS NULL FROM duckdb_columns() "
            f"WHERE database_name = {literal(self.place.database)} AND schema_name = {literal(self.place.schema)} "
            f"AND table_name IN ({', '.join(map(literal, self.names))}) ORDER BY table_name, column_index"
        ).fetchall()
        found: dict[str, list[tuple[str, bool]]] = {}
        for table, column, required in rows:
            found.setdefault(table, []).append((column, required))
        return found

    def layout(self) -> str:
        """'none', 'legacy' (the seed's four columns) or 'current'; raises on anything else."""
        if self._current:
            return "current"
        found = self._columns()
        cols = [c for c, _ in found.get(self.name, [])]
        if not cols:
            return "none"
        if set(cols) == LEGACY_COLUMNS:
            return "legacy"
        history = {c for c, _ in found.get(self.names[1], [])}
        if not (set(COLUMNS) <= set(cols) and {"seq", "version", "event", "occurred_at"} <= history):
            raise errors.WrongLedgerLayout(self.name, cols)
        required = [c for table in self.names for c, needed in found.get(table, [])
                    if needed and c not in _ALWAYS_WRITTEN]
        if required:
            raise errors.LedgerExtraColumn(self.name, required)
        keys = self.conn.execute(
            "SELECT constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' "
            f"AND database_name = {literal(self.place.database)} AND schema_name = {literal(self.place.schema)} "
            f"AND table_name = {literal(self.name)}").fetchall()
        if [list(k) for k, in keys] != [["version"]]:
            raise errors.LedgerWithoutKey(self.name)
        self._current = True
        return "current"

    def _create_sql(self, table: str) -> str:
        return (f"CREATE TABLE {table} (version VARCHAR PRIMARY KEY, description VARCHAR, kind VARCHAR, "
                "checksum VARCHAR, status VARCHAR NOT NULL, applied_at TIMESTAMP, execution_ms DOUBLE, "
                "error VARCHAR, statement VARCHAR, downgrade VARCHAR, filename VARCHAR, legacy_id BIGINT)")

    def ensure(self, files: dict[str, tuple[str, str | None, str, str]] | None = None) -> str:
        """Create the ledger, or adopt a legacy one in place; inside the caller's transaction.

        ``files`` maps version to (checksum, downgrade, kind, filename) for the
        files as they are now: adopted legacy rows take them, so they are not
        reported as drift. Returns the layout found before.
        """
        layout = self.layout()
        if layout == "current":
            return layout
        if layout == "none":
            self.conn.execute(self._create_sql(self.quoted))
        else:
            self.rows()  # refuses a legacy table with duplicate or NULL versions before changing it
            tmp = self.place.qualify(f"{self.name}__adopting")
            self.conn.execute(self._create_sql(tmp))
            self.conn.execute(
                f"INSERT INTO {tmp} (version, description, status, applied_at, legacy_id) "
                f"SELECT CAST(version AS VARCHAR), CAST(description AS VARCHAR), 'applied', "
                f"TRY_CAST(applied_at AS TIMESTAMP), TRY_CAST(id AS BIGINT) FROM {self.quoted}")
            self.conn.execute(f"DROP TABLE {self.quoted}")
            self.conn.execute(f"ALTER TABLE {tmp} RENAME TO {quote(self.name)}")
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {self.quoted_history} (seq BIGINT PRIMARY KEY, version VARCHAR, "
            "event VARCHAR NOT NULL, occurred_at TIMESTAMP NOT NULL, checksum VARCHAR, execution_ms DOUBLE, detail VARCHAR)")
        if layout == "legacy":
            for version in [r[0] for r in self.conn.execute(f"SELECT version FROM {self.quoted}").fetchall()]:
                checksum, downgrade, kind, filename = (files or {}).get(version, (None, None, None, None))
                self.conn.execute(
                    f"UPDATE {self.quoted} SET checksum = ?, downgrade = ?, kind = ?, filename = ? "
                    "WHERE version = ?", [checksum, downgrade, kind, filename, version])
                self.event(version, "adopted", checksum,
                           detail="from the legacy table" + ("" if checksum else "; file not found"))
        return layout

    # -- reading -------------------------------------------------------------

    def rows(self) -> dict[str, Row]:
        """Every row by version; an absent or legacy table reads without changing anything."""
        layout = self.layout()
        if layout == "none":
            return {}
        if layout == "legacy":
            sql = (f"SELECT CAST(version AS VARCHAR), CAST(description AS VARCHAR), NULL, NULL, 'applied', "
                   f"TRY_CAST(applied_at AS TIMESTAMP), NULL, NULL, NULL, NULL, NULL FROM {self.quoted}")
        else:
            sql = f"SELECT {', '.join(COLUMNS[:-1])} FROM {self.quoted}"
        found = [Row(*r) for r in self.conn.execute(sql).fetchall()]
        rows = {r.version: r for r in found}
        if None in rows:
            raise errors.LegacyLedgerNullVersion(self.name, sum(r.version is None for r in found))
        if layout == "legacy" and len(rows) != len(found):
            seen = Counter(r.version for r in found)
            raise errors.LegacyLedgerDuplicates(self.name, sorted(v for v, n in seen.items() if n > 1))
        self._check_statuses(found)
        return rows

    def _check_statuses(self, rows: list[Row]) -> None:
        unknown: dict[str, list[str]] = {}
        for r in rows:
            if r.status not in STATUSES:
                unknown.setdefault(r.status, []).append(r.version)
        if unknown:
            raise errors.UnknownLedgerStatus(self.name, unknown)

    def row(self, version: str) -> Row | None:
        if self.layout() != "current":
            return self.rows().get(version)
        r = self.conn.execute(f"SELECT {', '.join(COLUMNS[:-1])} FROM {self.quoted} WHERE version = ?",
                              [version]).fetchone()
        if r is None:
            return None
        self._check_statuses([Row(*r)])
        return Row(*r)

    def history(self, version: str | None = None) -> list[Event]:
        if self.layout() != "current":
            return []
        where, params = ("WHERE version = ?", [version]) if version else ("", [])
        rows = self.conn.execute(
            f"SELECT seq, version, event, occurred_at, checksum, execution_ms, detail FROM {self.quoted_history} "
            f"{where} ORDER BY seq", params).fetchall()
        return [Event(*r) for r in rows]

    # -- writing (inside the caller's transaction) -------------------------------

    def event(self, version: str | None, event: str, checksum: str | None = None,
              execution_ms: float | None = None, detail: str | None = None) -> None:
        self.conn.execute(
            f"INSERT INTO {self.quoted_history} (seq, version, event, occurred_at, checksum, execution_ms, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [self._next_seq(1), version, event, utcnow(), checksum, execution_ms,
                                             detail])

    def _next_seq(self, n: int) -> int:
        """The first of ``n`` new event numbers; a rolled-back event leaves a gap, which orders and
        need not count."""
        if self._seq is None:
            self._seq = self.conn.execute(f"SELECT COALESCE(MAX(seq), 0) FROM {self.quoted_history}").fetchone()[0]
        self._seq += n
        return self._seq - n + 1

    def record(self, *, version: str, description: str, kind: str, checksum: str | None, status: str,
               execution_ms: float | None, downgrade: str | None, filename: str | None,
               error: str | None = None, statement: str | None = None, event: str | None = None,
               detail: str | None = None, new: bool = False) -> None:
        """Write the row of ``version`` and its event; ``new``: the caller knows it has no row yet,
        and a plain INSERT costs DuckDB a fraction of an upsert."""
        self.conn.execute(
            f"INSERT INTO {self.quoted} (version, description, kind, checksum, status, applied_at, execution_ms, "
            "error, statement, downgrade, filename) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            + ("" if new else _UPSERT),
            [version, description, kind, checksum, status, utcnow(), execution_ms, error, statement,
             downgrade, filename])
        self.event(version, event or status, checksum, execution_ms, detail or error)

    def record_applied(self, rows: list[dict], *, new: bool = False) -> None:
        """Write several applied rows and their events in two statements, in the caller's
        transaction: a single-transaction run pays DuckDB's cost of a statement twice, not
        twice per migration. ``rows`` hold ``record``'s keyword arguments."""
        if not rows:
            return
        now = utcnow()
        first = self._next_seq(len(rows))
        columns = dict(version="VARCHAR", description="VARCHAR", kind="VARCHAR", checksum="VARCHAR",
                       status="VARCHAR", applied_at="TIMESTAMP", execution_ms="DOUBLE", downgrade="VARCHAR",
                       filename="VARCHAR")
        values = {c: [r.get(c) for r in rows] for c in columns}
        values["status"], values["applied_at"] = ["applied"] * len(rows), [now] * len(rows)
        lists = ", ".join(f"unnest(CAST(? AS {t}[]))" for t in columns.values())
        self.conn.execute(
            f"INSERT INTO {self.quoted} ({', '.join(columns)}) SELECT {lists} " + ("" if new else _UPSERT),
            list(values.values()))
        self.conn.execute(
            f"INSERT INTO {self.quoted_history} (seq, version, event, occurred_at, checksum, execution_ms) "
            "SELECT unnest(CAST(? AS BIGINT[])), unnest(CAST(? AS VARCHAR[])), 'applied', ?, "
            "unnest(CAST(? AS VARCHAR[])), unnest(CAST(? AS DOUBLE[]))",
            [list(range(first, first + len(rows))), values["version"], now, values["checksum"],
             values["execution_ms"]])

    def update(self, version: str, **values) -> None:
        sets = ", ".join(f"{quote(k)} = ?" for k in values)
        self.conn.execute(f"UPDATE {self.quoted} SET {sets} WHERE version = ?", [*values.values(), version])

    def forget(self, version: str, event: str, detail: str | None = None,
               execution_ms: float | None = None) -> None:
        row = self.row(version)
        self.conn.execute(f"DELETE FROM {self.quoted} WHERE version = ?", [version])
        self.event(version, event, row.checksum if row else None, execution_ms, detail)
