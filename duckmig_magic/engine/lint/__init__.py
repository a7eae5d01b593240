"""``duckmig lint``: DuckDB's migration traps, found before anything runs.

One rule a trap, each a ``Rule`` record (id, severity, the DuckDB versions it
holds on, why, the fix) in ``RULES``: ``refused`` (DuckDB refuses the statement),
``data`` (it refuses it over the rows the live database holds), ``ducklake`` (a lake
refuses what a file takes), ``loss`` (it runs, and data or readers are lost). A rule
sees one statement (``parse``), those before it in its transaction, and the catalog
as it will be when it runs (``scratch``: the live schema, plus the pending
migrations before it). A finding names the
rule, the file and the line of the statement; ``-- duckmig: ignore DM101 reason``
on the statement silences a rule there, ``[tool.duckmig.lint]`` enables, disables
and re-grades rules.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

from ... import errors
from . import data, ducklake, loss, refused
from .model import SEVERITIES, Context, Hit, LintFinding, Rule, Version, Versions
from .parse import Statement, read
from .scratch import Catalog, LiveUnavailable, open_catalog
from .suppress import LintSettings, ignored_in, settings_from

RULES: tuple[Rule, ...] = refused.RULES + data.RULES + ducklake.RULES + loss.RULES
BY_ID = {r.id: r for r in RULES}

__all__ = ["LiveUnavailable", "RULES", "BY_ID", "Rule", "LintFinding", "LintSettings", "Versions", "Item", "Section", "lint",
           "duckdb_version", "settings_from", "table_of_rules", "Hit"]


@dataclass(frozen=True)
class Section:
    name: str  # "up" or "down"
    sql: str  # the section's text, comments included (for suppressions)
    first_line: int  # the file's line of the section's first line
    transactional: bool
    statements: list[tuple[int, str]]  # (file line, statement)


@dataclass(frozen=True)
class Item:
    """One migration to lint (``checked`` False: a pending one before those named, replayed only)."""

    version: str
    file: str
    sections: list[Section]
    has_downgrade: bool
    checked: bool = True
    refused: Exception | None = None  # DuckDB's parser's error, raised unless a rule tells it


@dataclass
class Report:
    findings: list[LintFinding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    fixed: list[tuple[str, str]] = field(default_factory=list)  # (file, unified diff) that --fix wrote
    # Why the live database's schema could not be read: the rules judged the migrations from an empty one.
    unread: str | None = None


def duckdb_version() -> Version:
    import duckdb

    parts = [int("".join(ch for ch in p if ch.isdigit()) or 0) for p in duckdb.__version__.split(".")[:3]]
    return tuple((parts + [0, 0, 0])[:3])  # type: ignore[return-value]


def active(settings: LintSettings, version: Version, *, data_rules: bool) -> list[Rule]:
    """The rules that apply: enabled, on this DuckDB version, and (without ``data_rules``) needing no rows."""
    chosen = []
    for rule in RULES:
        if version not in rule.versions or not settings.enabled(rule.id) or (rule.data and not data_rules):
            continue
        chosen.append(replace(rule, severity=settings.severity.get(rule.id, rule.severity)))
    return chosen


def lint(items: list[Item], *, conn=None, path: str | None = None, settings: LintSettings | None = None,
         data_rules: bool = True, lake: bool = False, version: Version | None = None) -> Report:
    """The findings of ``items`` (in the order they run) on the live database: ``path`` (a file, read
    only), else ``conn`` (a connection, or None: no live database)."""
    settings = settings or LintSettings()
    version = version or duckdb_version()
    rules = active(settings, version, data_rules=data_rules)
    report = Report()
    with open_catalog(conn, path) as catalog:
        report.unread = catalog.unread
        for item in items:
            if item.checked:
                report.checked.append(item.version)
            before = len(report.findings)
            for section in item.sections:
                _section(item, section, catalog, rules, report, version, lake, data_rules)
            line = getattr(item.refused, "line", None)
            if item.refused is not None and not any(f.line == line and f.severity == "error"
                                                    for f in report.findings[before:]):
                raise item.refused
    return report


def _section(item: Item, section: Section, catalog: Catalog, rules: list[Rule], report: Report,
             version: Version, lake: bool, data_rules: bool) -> None:
    parsed = [read(sql, line) for line, sql in section.statements]
    ignored_in(section, parsed, item.file, BY_ID)
    # A downgrade that changes the schema is judged on the catalog its upgrade leaves, in a trial.
    trial = section.name == "down" and any(s.kind in ("create", "drop", "alter") for s in parsed)
    with catalog.trial() if trial else nullcontext():
        if any(s.action in ("alter_type", "drop_column") or (s.kind == "create" and s.object == "INDEX")
               for s in parsed):
            catalog.remember_indexes()
        for n, statement in enumerate(parsed):
            if item.checked:
                context = Context(statement, parsed[:n], catalog, section.transactional, version, data_rules, lake,
                                  item.has_downgrade, section.name)
                for rule in rules:
                    if statement.ignored.get(rule.id) is not None:
                        continue
                    for hit in rule.check(context):
                        report.findings.append(LintFinding(
                            rule.id, rule.severity, item.version, item.file, statement.line, section.name,
                            hit.message, rule.why, hit.fix or rule.fix, statement.sql, hit.rewrite,
                            statement.label))
            catalog.replay(statement)


def table_of_rules() -> str:
    """The README's table of rules, made from ``RULES``."""
    lines = ["| rule | name | severity | DuckDB | why | fix |", "| --- | --- | --- | --- | --- | --- |"]
    for r in RULES:
        lines.append(f"| {r.id} | {r.name} | {r.severity} | {r.versions} | {r.why} | {r.fix} |".replace("\n", " "))
    return "\n".join(lines)


def bad_rule(rule_id: str, where: str) -> errors.ConfigError:
    return errors.ConfigError(f"{where}: unknown rule {rule_id!r}",
                              "{do:lint --rules} lists the rules")


_ = (Statement, Path, Hit, SEVERITIES)  # re-exported for the rules' modules' readers
