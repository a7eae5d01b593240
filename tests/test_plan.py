"""Planning as tables of inline cases: files and ledger rows in, states and versions to run out.
No database and no file on disk: the scripts hold their text."""

from __future__ import annotations

import pytest

from duckmig_magic import errors
from duckmig_magic.engine import plan
from duckmig_magic.engine.ledger import Row
from duckmig_magic.engine.versions import Script, checksum

UP, DOWN = "CREATE TABLE t (x INTEGER);", "DROP TABLE t;"


def v(n: int) -> str:
    return f"2025010{n}_00000{n}"


def script(n: int) -> Script:
    return Script(f"{v(n)}_m{n}.sql", v(n), f"m{n}", "sql", _text=text(n))


DRAFT = 7  # its file is `new`'s template, untouched


def text(n: int) -> str:
    if n == DRAFT:
        return "-- description: add an index\n-- migrate:up\n\n-- migrate:down\n"
    return f"-- migrate:up\n{UP} -- {n}\n\n-- migrate:down\n{DOWN}\n"


def row(n: int, how: str) -> Row:
    """``how``: applied (as its file is now), edited (the file changed since), legacy (applied,
    checksum unknown), failed, or other-down (applied, the ledger storing another downgrade)."""
    sums = {"edited": checksum("something else"), "legacy": None}
    status = "failed" if how == "failed" else "applied"
    down = "DROP TABLE other;\n" if how == "other-down" else f"{DOWN}\n"
    return Row(v(n), None, "sql", sums.get(how, checksum(text(n))), status, None, None,
               "boom" if status == "failed" else None, None, down, f"{v(n)}_m{n}.sql")


def inputs(files: str, ledger: dict[int, str]):
    return [script(int(n)) for n in files], {v(n): row(n, how) for n, how in ledger.items()}


def states(files: str, ledger: dict[int, str]) -> dict[int, str]:
    report = plan.status(*inputs(files, ledger))
    return {int(m.version[7]): m.state + ("*" if m.downgrade_differs else "") for m in report}


# -- status ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("files, ledger, expected", [
    ("", {}, {}),
    ("12", {}, {1: "pending", 2: "pending"}),
    ("12", {1: "applied"}, {1: "applied", 2: "pending"}),
    ("12", {1: "applied", 2: "applied"}, {1: "applied", 2: "applied"}),
    ("12", {1: "edited"}, {1: "modified", 2: "pending"}),
    ("1", {1: "legacy"}, {1: "applied"}),  # adopted without a checksum: not drift
    ("12", {1: "failed"}, {1: "failed", 2: "pending"}),
    ("2", {1: "applied"}, {1: "missing", 2: "pending"}),
    ("2", {1: "failed"}, {1: "failed", 2: "pending"}),
    ("123", {2: "applied"}, {1: "out_of_order", 2: "applied", 3: "pending"}),
    ("123", {2: "failed"}, {1: "pending", 2: "failed", 3: "pending"}),  # a failure is not a newest applied
    ("12", {1: "other-down"}, {1: "applied*", 2: "pending"}),
    ("12", {1: "other-down", 2: "edited"}, {1: "applied*", 2: "modified"}),  # a modified one is not compared
    ("127", {}, {1: "pending", 2: "pending", 7: "draft"}),
    ("127", {1: "applied", 2: "applied"}, {1: "applied", 2: "applied", 7: "draft"}),
])
def test_status(files, ledger, expected):
    assert states(files, ledger) == expected


def test_status_report():
    report = plan.status(*inputs("123", {1: "applied", 2: "failed"}), "app.db", "migrations/versions")
    assert (report.database, report.directory, report.current) == ("app.db", "migrations/versions", v(1))
    assert report.counts() == {"applied": 1, "pending": 1, "failed": 1, "modified": 0, "missing": 0,
                               "out_of_order": 0, "draft": 0}
    assert [m.version for m in report.by_state("failed")] == [v(2)]
    assert plan.status_state(report, v(3)) == "pending" and plan.status_state(report, v(9)) is None


# -- up -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("files, ledger, target, flags, expected", [
    ("", {}, None, {}, []),
    ("123", {}, None, {}, [1, 2, 3]),
    ("123", {}, v(2), {}, [1, 2]),
    ("127", {}, None, {}, [1, 2]),  # a draft is passed by
    ("127", {}, v(7), {}, [1, 2]),
    ("123", {1: "applied"}, v(1), {}, []),
    ("123", {1: "applied", 2: "failed"}, None, {}, [2, 3]),  # a failed one is tried again
    ("123", {1: "applied", 2: "applied", 3: "applied"}, None, {}, []),
    ("123", {2: "applied"}, None, {}, errors.OutOfOrder),
    ("123", {2: "applied"}, None, {"out_of_order": True}, [1, 3]),
    ("123", {2: "applied"}, v(1), {}, errors.OutOfOrder),
    ("123", {1: "failed", 2: "applied"}, None, {}, errors.OutOfOrder),  # failed, older than the current
    ("123", {1: "failed", 2: "applied"}, None, {"out_of_order": True}, [1, 3]),
    ("123", {1: "edited"}, None, {}, errors.DriftError),
    ("23", {1: "applied"}, None, {}, errors.DriftError),  # missing
    ("123", {1: "edited"}, None, {"allow_drift": True}, [2, 3]),
    ("123", {1: "legacy"}, None, {}, [2, 3]),
    ("123", {1: "other-down"}, None, {}, [2, 3]),  # a stored downgrade that differs is not drift
    ("123", {}, v(9), {}, (errors.StateError, "no migration")),
    ("123", {}, "2", {}, errors.ConfigError),
    ("123", {1: "edited"}, v(9), {}, errors.DriftError),  # drift is told first
])
def test_up(files, ledger, target, flags, expected):
    scripts, rows = inputs(files, ledger)
    report = plan.status(scripts, rows)
    if isinstance(expected, (type, tuple)):
        error, says = expected if isinstance(expected, tuple) else (expected, "")
        with pytest.raises(error, match=says):
            plan.up(report, scripts, target, **flags)
    else:
        assert [s.version for s in plan.up(report, scripts, target, **flags)] == [v(n) for n in expected]


def test_up_errors_carry_their_versions():
    scripts, rows = inputs("1234", {2: "applied", 4: "edited"})
    with pytest.raises(errors.DriftError) as drift:
        plan.up(plan.status(scripts, rows), scripts)
    assert drift.value.drifted == [(v(4), "modified")]
    scripts, rows = inputs("1234", {3: "applied"})
    with pytest.raises(errors.OutOfOrder) as late:
        plan.up(plan.status(scripts, rows), scripts)
    assert (late.value.versions, late.value.newest_applied) == ([v(1), v(2)], v(3))


# -- down -----------------------------------------------------------------------------------------------

APPLIED = {1: "applied", 2: "applied", 3: "applied", 4: "failed"}


@pytest.mark.parametrize("ledger, target, steps, expected", [
    (APPLIED, None, None, [3]),
    (APPLIED, None, 2, [3, 2]),
    (APPLIED, None, 9, [3, 2, 1]),
    (APPLIED, v(1), None, [3, 2]),
    (APPLIED, v(3), None, []),
    (APPLIED, "base", None, [3, 2, 1]),
    ({1: "applied", 3: "applied"}, None, None, [3]),  # a gap: the files do not matter
    ({1: "legacy", 2: "edited"}, "base", None, [2, 1]),
    ({}, None, None, (errors.StateError, "^nothing to revert")),
    ({1: "failed"}, "base", None, (errors.StateError, "^nothing to revert")),
    (APPLIED, v(1), 1, (errors.ConfigError, "^give a target version or --steps, not both")),
    (APPLIED, None, 0, (errors.ConfigError, "^--steps must be 1 or more, not 0")),
    (APPLIED, None, -1, (errors.ConfigError, "^--steps must be 1 or more, not -1")),
    (APPLIED, "1", None, errors.ConfigError),
    (APPLIED, v(4), None, (errors.StateError, "^no migration .* among the applied")),  # failed: not among them
    (APPLIED, v(9), None, (errors.StateError, "^no migration .* among the applied")),
])
def test_down(ledger, target, steps, expected):
    rows = inputs("", ledger)[1]
    if isinstance(expected, (type, tuple)):
        error, says = expected if isinstance(expected, tuple) else (expected, "")
        with pytest.raises(error, match=says):
            plan.down(rows, target, steps)
    else:
        assert plan.down(rows, target, steps) == [v(n) for n in expected]
