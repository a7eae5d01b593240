"""Silencing rules: ``-- duckmig: ignore RULE-ID reason`` on a statement, and ``[tool.duckmig.lint]``.

A suppression names the rule and says why; one without a reason, or naming a
rule that does not exist, is refused: a silenced trap should say who judged it
safe and on what ground.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ... import errors
from .. import sqlfile
from .model import SEVERITIES

if TYPE_CHECKING:
    from . import Section
    from .parse import Statement

_IGNORE = re.compile(r"^--\s*duckmig:\s*ignore\b(?P<rest>.*)$", re.IGNORECASE)
_COMMENT = re.compile(r"--[ \t]*duckmig:[^\n]*", re.IGNORECASE)
_ID = re.compile(r"^[A-Za-z]{1,4}\d{1,4}$")  # a word that reads as a rule id, known or not


@dataclass(frozen=True)
class LintSettings:
    """``[tool.duckmig.lint]``: ``enable`` (only these rules; empty: all), ``disable``, ``severity``."""

    enable: frozenset[str] = frozenset()
    disable: frozenset[str] = frozenset()
    severity: dict[str, str] = field(default_factory=dict)

    def enabled(self, rule_id: str) -> bool:
        return (not self.enable or rule_id in self.enable) and rule_id not in self.disable


def settings_from(table: object, where: str, known: set[str]) -> LintSettings:
    """``[tool.duckmig.lint]`` read and checked; ``where`` names it in messages."""
    if not isinstance(table, dict):
        raise errors.ConfigError(f"{where} must be a table", "write enable = [...], disable = [...], "
                                 "severity = {DM203 = \"error\"}")
    unknown = set(table) - {"enable", "disable", "severity"}
    if unknown:
        raise errors.ConfigError(f"{where}: unknown setting {', '.join(sorted(unknown))}",
                                 "the settings are enable, disable and severity")
    lists = {}
    for key in ("enable", "disable"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise errors.ConfigError(f"{where}: {key} must be a list of rule ids, not {value!r}",
                                     f'for example {key} = ["DM203"]')
        lists[key] = frozenset(v.upper() for v in value)
    severity = table.get("severity", {})
    if not isinstance(severity, dict):
        raise errors.ConfigError(f"{where}: severity must be a table of rule id = severity",
                                 'for example severity = {DM203 = "error"}')
    for rule_id, level in severity.items():
        if level not in SEVERITIES:
            raise errors.ConfigError(f"{where}: severity of {rule_id} must be one of {', '.join(SEVERITIES)}, "
                                     f"not {level!r}")
    for rule_id in [*lists["enable"], *lists["disable"], *(k.upper() for k in severity)]:
        if rule_id not in known:
            raise errors.ConfigError(f"{where}: unknown rule {rule_id}", "{do:lint --rules} lists the rules")
    return LintSettings(lists["enable"], lists["disable"], {k.upper(): v for k, v in severity.items()})


def ignored_in(section: Section, parsed: list[Statement], file: str, known: dict) -> None:
    """Set each statement's ``ignored`` from the suppression comments of ``section``: a comment within a
    statement's lines is its own, one between statements the next one's."""
    if "duckmig:" not in section.sql:
        return
    text = section.sql
    spans = [(s.line, s.line + s.sql.count("\n")) for s in parsed]
    # DuckDB 1.x's tokenizer leaves comments out: a comment is found as text that DuckDB's tokenizer
    # reads as no string, quoted name or other comment.
    for found in _COMMENT.finditer(text):
        if not sqlfile._outside_quotes(text, found.start()):
            continue
        m = _IGNORE.match(found.group().strip())
        if not m:
            continue
        line = section.first_line + text.count("\n", 0, found.start())
        words = [w for w in re.split(r"[\s,]+", m["rest"].strip()) if w]
        ids = []
        while words and _ID.match(words[0]):
            ids.append(words.pop(0).upper())
        reason = " ".join(words)
        if not ids:
            raise errors.MigrationFileError(file, "`-- duckmig: ignore` names no rule", line,
                                            "write `-- duckmig: ignore DM203 the reason`")
        for rule_id in ids:
            if rule_id not in known:
                raise errors.MigrationFileError(file, f"`-- duckmig: ignore` names an unknown rule {rule_id}", line,
                                                "{do:lint --rules} lists the rules")
        if not reason:
            raise errors.MigrationFileError(file, f"`-- duckmig: ignore {' '.join(ids)}` gives no reason", line,
                                            f"say why it is safe: `-- duckmig: ignore {ids[0]} the table is empty`")
        target = next((s for s, (a, b) in zip(parsed, spans, strict=True) if a <= line <= b), None) \
            or next((s for s, (a, _) in zip(parsed, spans, strict=True) if a > line), None)
        if target is not None:
            for rule_id in ids:
                target.ignored[rule_id] = reason
