"""The lint's records: a rule, a finding, and what a rule sees of a statement."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .parse import Statement
    from .scratch import Catalog

SEVERITIES = ("error", "warning", "info")
Version = tuple[int, int, int]


@dataclass(frozen=True)
class Versions:
    """The DuckDB releases a rule holds on: ``since`` included, ``until`` (the release that fixed it) not."""

    since: Version | None = None
    until: Version | None = None

    def __contains__(self, version: Version) -> bool:
        return (self.since is None or version >= self.since) and (self.until is None or version < self.until)

    def __str__(self) -> str:
        low = ".".join(map(str, self.since)) if self.since else ""
        high = ".".join(map(str, self.until)) if self.until else ""
        if low and high:
            return f">={low}, <{high}"
        return f">={low}" if low else f"<{high}" if high else "all"


ALL = Versions()


@dataclass(frozen=True)
class Hit:
    """What a rule found in one statement: the message, and the statements to write where the rule's
    fix is not enough (None: the rule's fix)."""

    message: str
    fix: str | None = None
    rewrite: tuple[str, ...] | None = None  # statements that replace this one, for --fix


@dataclass(frozen=True)
class Rule:
    """One trap: ``check(context)`` yields a ``Hit`` for each time the statement springs it."""

    id: str
    name: str
    severity: str
    why: str
    fix: str
    check: Callable[[Context], Iterable[Hit]] = field(repr=False, compare=False)
    versions: Versions = ALL
    data: bool = False  # queries the live database's rows
    reference: str = ""  # where the trap is reported


@dataclass(frozen=True)
class LintFinding:
    """One rule springing on one statement."""

    rule: str
    severity: str
    version: str  # the migration's version
    file: str
    line: int
    section: str  # "up" or "down"
    message: str
    why: str
    fix: str
    statement: str = ""
    rewrite: tuple[str, ...] | None = None
    table: str = ""  # the table (or object) the statement changes, as written

    def to_json(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "version": self.version, "file": self.file,
                "line": self.line, "section": self.section, "message": self.message, "why": self.why,
                "fix": self.fix}


@dataclass
class Context:
    """What a rule sees: the statement, the ones before it in the same transaction, the catalog as it
    stands just before the statement runs, and the live database's rows (None without data rules)."""

    statement: Statement
    earlier: list[Statement]
    catalog: Catalog
    transactional: bool
    version: Version
    data: bool
    lake: bool = False
    has_downgrade: bool = True
    section: str = "up"

    def same_transaction(self) -> list[Statement]:
        """The statements before this one that share its transaction."""
        return self.earlier if self.transactional else []
