"""DuckLake's limits are stated, not tripped over (issue 12).

A statement that DuckLake refuses fails its migration with DuckDB's own message
and a hint that names the limit and what to write instead (``lake.LIMITS``), in
each face: the command, the magics, the Python API; for up, redo, down, preview
and ``verify --roundtrip``. Preview runs on a lake, and the downgrade it proposes
holds only statements DuckLake takes: each proposal here is run on a real lake,
committed, and the lake opened again.

Until the ledger is an append-only event table, ``up`` on a lake stops at the
ledger's PRIMARY KEY: the tests that need it are strict xfails, which flip when
the event ledger lands. Preview and ``verify --roundtrip`` write no ledger, and
run today.
"""

from __future__ import annotations

import pytest

from duckmig_magic import cli as command, errors
from duckmig_magic.display import NOTEBOOK_WORDS
from duckmig_magic.engine import diff, lake
from duckmig_magic.engine.catalog import Column, Table

V1, V2 = "20250101_000001", "20250102_000002"


def hint(phrase: str) -> str:
    """The hint of the LIMITS row whose phrase is ``phrase``, as duckmig words it."""
    (lacks, instead), = [(lacks, instead) for p, lacks, instead in lake.LIMITS if p == phrase]
    return f"a DuckLake limit: {lacks}. Instead, {instead}"


# -- the words, without a lake ------------------------------------------------------------------


INDEX_HINT = ("a DuckLake limit: its tables have no indexes. Instead, leave the index out: DuckLake skips data files "
              "by the min/max statistics of their columns")


@pytest.mark.parametrize("direction, words, then", [
    ("up", command.WORDS, "then run the migration again"),
    ("up", errors.PYTHON, "then run the migration again"),
    ("down", command.WORDS, "then store the downgrade with `duckmig repair` and revert again"),
    ("down", NOTEBOOK_WORDS, "then store the downgrade with `%migrate repair` and revert again"),
    ("down", errors.PYTHON, "then store the downgrade with `Migrator.repair()` and revert again"),
])
def test_a_limit_is_named_with_what_to_write_instead(direction, words, then):
    failed = errors.MigrationFailed(V1, "CREATE INDEX ti ON t (id)",
                                    "Not implemented Error: DuckLake does not support indexes", direction)
    verb = "applying" if direction == "up" else "reverting"
    assert failed.render(words) == (
        f"{verb} {V1} failed: Not implemented Error: DuckLake does not support indexes\n"
        "  statement: CREATE INDEX ti ON t (id)\n  rolled back: nothing of it remains\n"
        f"  hint: {INDEX_HINT}; {then}")
    assert failed.specific_hint == INDEX_HINT
    # Told in a run that applied others first, and when a preview stopped an apply.
    assert errors.RunStopped(failed, ["20241231_000000"], []).hint_text(words) == failed.hint_text(words)
    assert errors.PreviewFailed(failed).hint_text(words) == failed.hint_text(words)


def test_other_failures_keep_their_hints():
    failed = errors.MigrationFailed(V1, "INSERT INTO nowhere VALUES (1)", "Catalog Error: Table with name nowhere "
                                    "does not exist!")
    assert (failed.specific_hint, failed.hint_text()) == (None, "fix the migration and run it again")


def _table(oid: int, name: str, *columns: str) -> Table:
    return Table(oid, "main", name, tuple(Column(c, "INTEGER", True, None) for c in columns), ())


@pytest.mark.parametrize("ran, after, oids", [
    ([], [_table(7, "t", "a", "w")], {"t": 1}),  # altered: a new oid, the same table
    (["ALTER TABLE t RENAME TO u", "ALTER TABLE u ADD COLUMN w INTEGER"], [_table(7, "u", "a", "w")], {"u": 1}),
    (["CREATE OR REPLACE TABLE t AS SELECT 1 AS a"], [_table(7, "t", "a")], {"t": 7}),  # made anew
    (["ALTER TABLE t RENAME TO u", "CREATE TABLE t (b INTEGER)"], [_table(7, "u", "a"), _table(8, "t", "b")],
     {"u": 1, "t": 8}),
    (["DROP TABLE t"], [_table(9, "x", "a")], {"x": 9}),
    (["ALTER TABLE t ADD COLUMN w INTEGER"], [_table(1, "t", "a")], {"t": 1}),  # kept its oid (a DuckDB file)
    (["ALTER TABLE t ADD COLUMN w INTEGER", "ALTER TABLE t RENAME TO u"], [_table(1, "t", "a"), _table(8, "u", "a", "w")],
     {"u": 1}),  # DuckLake's ghost of t, until the transaction ends
])
def test_a_lakes_tables_are_followed_by_name(ran, after, oids):
    before = {1: _table(1, "t", "a")}
    followed = diff.followed(before, {t.oid: t for t in after}, ran, "main")
    assert {t.name: oid for oid, t in followed.items()} == oids
