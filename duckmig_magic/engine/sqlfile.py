"""The SQL migration form: a pure parser from text to sections, and back.

    -- description: Add a tags column        (optional)
    -- migrate:up [transaction:false]
    ALTER TABLE metrics ADD COLUMN tags VARCHAR;

    -- migrate:down
    ALTER TABLE metrics DROP COLUMN tags;

Markers are whole lines, as in dbmate. Statements are split by DuckDB's own
parser (``duckdb.extract_statements``), so quoting, dollar quoting and
comments are handled the way DuckDB handles them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import errors

_MARKER = re.compile(r"^--\s*migrate:(?P<which>[A-Za-z]+)(?P<options>[^\n]*)$", re.MULTILINE)
_DESCRIPTION = re.compile(r"^--\s*description:\s*(?P<text>.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    sql: str
    line: int  # 1-based line of the first line after the marker
    transaction: bool = True

    def statements(self, path: Path | str = "<sql>") -> list[tuple[int, str]]:
        """(line, statement) pairs, split by DuckDB's parser; raises SqlSyntaxError."""
        import duckdb

        try:
            parsed = duckdb.extract_statements(self.sql)
        except duckdb.Error as exc:
            raise errors.SqlSyntaxError(path, _first_line(str(exc)), self.line + _error_line(exc) - 1,
                                        "fix the statement; nothing was run") from exc
        result, cursor = [], 0
        for stmt in parsed:
            text = stmt.query.strip()
            if not text.rstrip(";").strip():
                continue
            found = self.sql.find(text, cursor)
            if found >= 0:
                cursor = found + len(text)
            line = self.line + self.sql.count("\n", 0, found if found >= 0 else cursor)
            result.append((line, text))
        return result


@dataclass(frozen=True)
class SqlMigration:
    up: Section
    down: Section | None
    description: str | None = None


def normalize(text: str) -> str:
    """Text as the checksum and the parser see it: no BOM, LF line endings."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str, path: Path | str = "<sql>") -> SqlMigration:
    """Split a SQL migration into its sections; one error per broken rule."""
    text = normalize(text)
    markers = list(_MARKER.finditer(text))
    sections: dict[str, tuple[re.Match, bool]] = {}
    for m in markers:
        which, line = m["which"].lower(), _line_of(text, m.start())
        if which not in ("up", "down"):
            raise errors.MigrationFileError(
                path, f"unknown marker `-- migrate:{m['which']}`; the markers are "
                      "`-- migrate:up` and `-- migrate:down`", line)
        if which in sections:
            raise errors.DuplicateMarker(path, f"`-- migrate:{which}` appears twice "
                                               f"(lines {_line_of(text, sections[which][0].start())} and {line})",
                                         line)
        sections[which] = (m, _transaction_option(m["options"], path, line))
    if "up" not in sections:
        raise errors.NoUpMarker(path)
    up_m, up_tx = sections["up"]
    if "down" in sections and sections["down"][0].start() < up_m.start():
        raise errors.MarkerOrder(path, line=_line_of(text, sections["down"][0].start()))
    head = text[: up_m.start()]
    if _strip_comments(head).strip():
        raise errors.StatementsBeforeUp(path, line=_first_code_line(head))

    down_m = sections.get("down", (None, True))[0]
    up_end = down_m.start() if down_m else len(text)
    up = Section(text[up_m.end() + 1: up_end], _line_of(text, up_m.start()) + 1, up_tx)
    down = None
    if down_m:
        down = Section(text[down_m.end() + 1:], _line_of(text, down_m.start()) + 1, sections["down"][1])
    if not up.statements(path):
        raise errors.EmptyUp(path, line=up.line - 1, hint="write the change below `-- migrate:up`")
    if down is not None and not down.statements(path):
        down = None
    desc = _DESCRIPTION.search(head)
    return SqlMigration(up, down, desc["text"] if desc and desc["text"] else None)


def render(up: str, down: str | None = None, *, description: str | None = None,
           transaction: bool = True, header: str | None = None) -> str:
    """The text of a SQL migration file; ``parse(render(...))`` gives the same sections back."""
    lines = []
    if header:
        lines += [f"-- {h}" if h else "--" for h in header.splitlines()]
    if description:
        lines.append(f"-- description: {' '.join(description.split())}")
    lines.append("-- migrate:up" + ("" if transaction else " transaction:false"))
    lines.append(up.strip("\n"))
    lines.append("")
    lines.append("-- migrate:down")
    if down and down.strip():
        lines.append(down.strip("\n"))
    return "\n".join(lines) + "\n"


def _transaction_option(options: str, path, line: int) -> bool:
    transaction = True
    for opt in options.split():
        key, _, value = opt.partition(":")
        if key != "transaction" or value not in ("true", "false"):
            raise errors.UnknownOption(path, f"unknown option `{opt}`; the only option is "
                                             "transaction:false (or transaction:true)", line)
        transaction = value == "true"
    return transaction


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", sql, flags=re.DOTALL)


def _first_code_line(head: str) -> int:
    for n, line in enumerate(head.split("\n"), 1):
        if line.strip() and not line.strip().startswith("--"):
            return n
    return 1


def _error_line(exc: Exception) -> int:
    m = re.search(r"LINE (\d+):", str(exc))
    return int(m.group(1)) if m else 1


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else message
