"""What DuckDB's refusals mean, and what to do: its messages read into hints.

A statement or a COMMIT that DuckDB refuses comes back as its message alone;
this module reads the cause out of it (another database written in the same
transaction, a read-only file, a full disk, a write conflict, a DuckLake limit)
and says what to do, for the errors the engine raises.
"""

from __future__ import annotations

import re

from .. import errors


def failed(version: str | None, statement: str | None, error: str, direction: str = "up",
           **more) -> errors.MigrationFailed:
    """The failure of a migration whose statement DuckDB refused with ``error``, with the hints its
    cause gives."""
    return errors.MigrationFailed(version, statement, error, direction, limit=lake_limit(error), refused=hint(error),
                                  **more)


# Another process holds the database file: DuckDB's words, and where they name the holder: "NAME
# (PID n)", or "PID n" when it cannot read the name; PID 0 when the holder let go between its two looks.
LOCKED = "Could not set lock on file"
_HOLDER = re.compile(r"Conflicting lock is held in (?:(?P<holder>.*?) \(PID (?P<pid>\d+)\)|PID (?P<bare>\d+))")


def lock_holder(message: str) -> tuple[int, str | None] | None:
    """(pid, program) of the process DuckDB says holds the file's lock (pid 0: not named); None if
    the message is not about a lock."""
    if LOCKED not in message:
        return None
    m = _HOLDER.search(message)
    return (int(m["pid"] or m["bare"]), m["holder"]) if m else (0, None)


# DuckDB's words for a statement or a COMMIT it refused, the cause, and what to do. The order
# matters: a write the file system refused names its errno, which tells a full disk from a file
# that may not be written.
REFUSALS = (
    ("one database", ("a single transaction can only write to a single attached database",),
     "a migration's transaction writes to one database only, the one its ledger is in: write to the other "
     "database in a migration run against it, or in a section marked transaction:false"),
    ("read-only", ("Permission denied", "Operation not permitted", "Read-only file system", "read-only mode"),
     "make the database file and its folder writable (the file system refused the write), then run it again"),
    ("disk full", ("No space left on device", "Could not write", "Disk quota exceeded"),
     "make room on the disk, then run it again"),
    ("object storage", ("error for HTTP", "HTTP Error", "Could not resolve hostname", "SSL connect error",
                        "Could not connect to server"),
     "DuckDB could not reach or write the object storage (httpfs) that holds the data: check the S3_ENDPOINT, "
     "S3_USE_SSL and S3_URL_STYLE options, the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or "
     "your DuckDB secret), and that the bucket exists; then run it again"),
    ("write conflict", ("another transaction has altered", "Conflict on", "write-write conflict"),
     "another connection changed the same table while this ran and committed first, so DuckDB refused this "
     "commit: run it again once the other writer is done"),
)


def hint(message: str) -> str | None:
    """What to do about a write DuckDB refused, told by the cause its message names."""
    return next((said for _, words, said in REFUSALS if any(w in message for w in words)), None)


# Refusals a migration meets in a lake that it would not meet in a DuckDB file: a phrase of DuckDB's
# message, what DuckLake lacks, and what to write instead. Checked against DuckLake 1.5.5
# (tests/test_ducklake_probe.py trips each one).
LAKE_LIMITS = (
    ("constraints are not supported in DuckLake", "its tables have no PRIMARY KEY, UNIQUE or CHECK constraints",
     "declare the table without them (NOT NULL is kept), and check the rule with a query where the rows are "
     "written"),
    ("DuckLake does not support indexes", "its tables have no indexes",
     "leave the index out: DuckLake skips data files by the min/max statistics of their columns"),
    ("Adding indexes or constraints is not supported in DuckLake",
     "its tables take no indexes or constraints, not even by ALTER TABLE",
     "leave it out, and check the rule with a query where the rows are written"),
    ("DuckLake does not support sequences", "it has no sequences",
     "number rows with row_number() OVER (...) plus the largest number so far, or give them uuid()"),
    ("DuckLake does not support user-defined types", "it has no user-defined types",
     "write the type out in each column that would use it (VARCHAR in place of an ENUM)"),
    ("DuckLake does not support generated columns", "it has no generated columns",
     "compute the value in a view, or write it with the rows"),
    ("to DuckLake - unsupported type", "it stores fewer types than DuckDB (no ENUM, UNION, ...)",
     "give the column a type it stores (VARCHAR in place of an ENUM)"),
    ("no UNIQUE/PRIMARY KEY constraints that refer to this table",
     "it has no keys, so INSERT OR REPLACE and ON CONFLICT cannot work",
     "UPDATE the rows that are there, then INSERT the others; or write one MERGE INTO"),
    ("not referenced by a UNIQUE/PRIMARY KEY CONSTRAINT or INDEX", "it has no keys, so ON CONFLICT cannot work",
     "UPDATE the rows that are there, then INSERT the others; or write one MERGE INTO"),
    ("there is no primary key or unique constraint for referenced table",
     "it has no keys, so no FOREIGN KEY either",
     "leave REFERENCES out, and find rows without a match with a query (an anti-join)"),
    ("no stats are available",
     "it sets NOT NULL only on a table that holds rows and that no earlier statement of the same transaction "
     "altered", "declare the column NOT NULL when the table is made, or set it first in a migration of its own"),
    ("only widening type promotions are allowed",
     "it only widens a column's type (INTEGER to BIGINT, FLOAT to DOUBLE, DATE to TIMESTAMP)",
     "add a column of the new type, fill it with UPDATE ... CAST, drop the old column and rename the new one"),
    ("Column type cannot be modified using an expression", "it changes a column's type without USING",
     "change the type alone, or add a column, fill it with UPDATE, drop the old column and rename the new one"),
    ("cannot add a column with a non-literal default value", "its columns take only constant defaults",
     "add the column without the default (or with a constant one) and fill it with UPDATE"),
)


def lake_limit(message: str) -> str | None:
    """What DuckLake cannot do and what to write instead, if DuckDB's ``message`` is one of its refusals."""
    return next((f"a DuckLake limit: {lacks}. Instead, {instead}" for phrase, lacks, instead in LAKE_LIMITS
                 if phrase in message), None)
