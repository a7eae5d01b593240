"""The SQL migration form: a pure parser from text to sections, and back.

    -- description: Add a tags column        (optional)
    -- migrate:up [transaction:false] [keep:false]
    ALTER TABLE metrics ADD COLUMN tags VARCHAR;

    -- migrate:down
    ALTER TABLE metrics DROP COLUMN tags;
    -- migrate:restore                          (optional: then the data the up kept is put back)

``keep:false`` asks duckmig not to keep what the section destroys (keep.py); a
``-- migrate:restore`` line in the down section asks for it back after the section's
statements, and makes a down section of no statement a downgrade.

Markers are whole lines, as in dbmate; a marker-like line inside a quoted
string, a quoted name or a block comment is text, not a marker. DuckDB's own
parser checks the statements and its tokenizer finds the ``;`` between them,
so quoting, dollar quoting and comments are handled the way DuckDB handles them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from .. import errors

_MARKER = re.compile(r"^--[ \t]*migrate:(?P<which>[A-Za-z]+)(?P<options>[^\n]*)$", re.MULTILINE)
_DESCRIPTION = re.compile(r"^--[ \t]*description:[ \t]*(?P<text>[^\n]*?)[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    sql: str
    line: int  # 1-based line of the first line after the marker
    transaction: bool = True
    keep: bool = True  # keep what it destroys (`keep:false` says not to)

    def statements(self, path: Path | str = "<sql>") -> list[tuple[int, str]]:
        """(line, statement) pairs, as ``split`` gives them; raises MigrationFileError where DuckDB
        cannot parse them."""
        return [(line, text) for line, text, _ in self.typed(path)]

    def typed(self, path: Path | str = "<sql>") -> list[tuple[int, str, frozenset[str]]]:
        """(line, statement, DuckDB's statement types), as ``classify`` gives them; raises
        MigrationFileError, naming the line, where DuckDB cannot parse them."""
        import duckdb

        try:
            return [(self.line + n - 1, text, kinds) for n, text, kinds in self._classified]
        except duckdb.Error as exc:
            raise errors.MigrationFileError(path, errors.first_line(str(exc)),
                                            self.line + _failing_line(self.sql, exc) - 1,
                                            "fix the statement; nothing was run") from exc

    @cached_property
    def _classified(self) -> list[tuple[int, str, frozenset[str]]]:
        # A run asks for a section's statements when it checks the file, plans and
        # applies it; DuckDB's parser and tokenizer cost more than a small migration.
        return classify(self.sql)


def split(sql: str) -> list[tuple[int, str]]:
    """(line in ``sql``, statement) pairs; raises DuckDB's error if DuckDB cannot parse ``sql``.

    A statement is its text from its first token to the ``;`` that ends it,
    without that ``;`` or the comments before it.
    """
    return [(line, text) for line, text, _ in classify(sql)]


def classify(sql: str) -> list[tuple[int, str, frozenset[str]]]:
    """``split``'s pairs with the types DuckDB's parser gives each statement (``TRANSACTION``,
    ``SELECT``, ``INSERT``, ...); raises DuckDB's error if DuckDB cannot parse ``sql``."""
    import duckdb

    # DuckDB's parser judges the syntax and tells the statements' types, but its
    # statements' text cannot be used: DuckDB 1.x rewrites some (ADD COLUMN ...
    # DEFAULT FALSE) into several with no text at all. Its tokenizer finds each `;`.
    parsed = duckdb.extract_statements(sql)
    pieces = _pieces(sql)
    if len(parsed) == len(pieces):
        kinds = [frozenset((_kind(p),)) for p in parsed]
    else:  # some statement became several: each piece is typed on its own
        kinds = [frozenset(_kind(p) for p in duckdb.extract_statements(text)) for _, text in pieces]
    return [(line, text, k) for (line, text), k in zip(pieces, kinds, strict=True)]


@lru_cache(maxsize=256)
def kinds(sql: str) -> frozenset[str]:
    """The types DuckDB's parser gives the statements of ``sql`` (a migration's loop runs the same
    parametrised statement many times: it is parsed once)."""
    import duckdb

    return frozenset(_kind(p) for p in duckdb.extract_statements(sql))


def _kind(parsed) -> str:
    """DuckDB's type of a parsed statement; UNKNOWN for one this duckdb package cannot name
    (UPDATE EXTENSIONS: 2.0 raises ValueError, 1.5 says ``???``)."""
    try:
        name = parsed.type.name
    except ValueError:
        return "UNKNOWN"
    return name if name.isidentifier() else "UNKNOWN"


def _pieces(sql: str) -> list[tuple[int, str]]:
    """(line, text) of each statement, found in one pass over DuckDB's tokens: lines are counted
    from the statement before, not from the start (a file of 80,000 statements)."""
    raw = sql.encode()
    semicolon, comment = _token_kinds()
    result, start, line, counted = [], None, 1, 0
    for offset, kind in duckdb_tokens(sql):
        if kind == comment:
            continue
        if kind == semicolon and raw[offset:offset + 1] == b";":
            if start is not None:
                result.append((line, raw[start:offset].decode().rstrip()))
                start = None
        elif start is None:
            start = offset
            line += raw.count(b"\n", counted, start)
            counted = start
    if start is not None:
        result.append((line, raw[start:].decode().rstrip()))
    return result


@dataclass(frozen=True)
class SqlMigration:
    up: Section
    down: Section | None
    description: str | None = None


def checksum(text: str) -> str:
    """sha256 of the text with line endings normalised (CRLF and LF hash alike)."""
    return hashlib.sha256(normalize(text).encode()).hexdigest()


def normalize(text: str) -> str:
    """Text as the checksum and the parser see it: no BOM, LF line endings."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse(text: str, path: Path | str = "<sql>") -> SqlMigration:
    """Split a SQL migration into its sections; one error per broken rule."""
    text = normalize(text)
    markers = [m for m in _MARKER.finditer(text) if _outside_quotes(text, m.start())]
    sections: dict[str, tuple[re.Match, bool]] = {}
    keep = True
    restore = False
    for m in markers:
        which, line = m["which"].lower(), _line_of(text, m.start())
        if which == "restore":
            if "down" not in sections or m["options"].strip():
                raise errors.MigrationFileError(path, "`-- migrate:restore` stands alone on a line of the "
                                                      "`-- migrate:down` section", line,
                                                "put it under `-- migrate:down`, after the downgrade's statements")
            restore = True
            continue
        options = m["options"]
        if which == "up":
            keep, options = _keep_option(options, path, line)
        if which not in ("up", "down"):
            raise errors.MigrationFileError(path, f"unknown marker `-- migrate:{m['which']}`; the markers are "
                                                  "`-- migrate:up`, `-- migrate:down` and `-- migrate:restore`",
                                            line)
        if which in sections:
            raise errors.MigrationFileError(path, f"`-- migrate:{which}` appears twice "
                                                  f"(lines {_line_of(text, sections[which][0].start())} and {line})",
                                            line)
        sections[which] = (m, _transaction_option(options if which == "up" else m["options"], path, line))
        if which == "down" and not sections[which][1]:
            raise errors.MigrationFileError(path, "transaction:false is for `-- migrate:up` only: a downgrade "
                                            "runs in a transaction together with the removal of its ledger row",
                                            line, "remove transaction:false from the `-- migrate:down` line")
    if "up" not in sections:
        raise errors.MigrationFileError(path, "a SQL migration needs a `-- migrate:up` line",
                                        hint="start the file with `-- migrate:up`, and put the revert under "
                                             "`-- migrate:down`")
    up_m, up_tx = sections["up"]
    if "down" in sections and sections["down"][0].start() < up_m.start():
        raise errors.MigrationFileError(path, "`-- migrate:down` must come after `-- migrate:up`",
                                        _line_of(text, sections["down"][0].start()))
    head = text[: up_m.start()]
    code = [start for start, kind in tokens(head) if kind != "comment"] if _code_in(head) else []
    if code:
        raise errors.MigrationFileError(path, "only comments may stand before `-- migrate:up`",
                                        head.encode().count(b"\n", 0, code[0]) + 1)

    down_m = sections.get("down", (None, True))[0]
    up_end = down_m.start() if down_m else len(text)
    up = Section(text[up_m.end() + 1: up_end], _line_of(text, up_m.start()) + 1, up_tx, keep)
    down = None
    if down_m:
        down = Section(text[down_m.end() + 1:], _line_of(text, down_m.start()) + 1, sections["down"][1])
    if not up.statements(path):
        raise errors.MigrationFileError(path, "the `-- migrate:up` section has no statement", up.line - 1,
                                        "write the change below `-- migrate:up`")
    if down is not None and not down.statements(path) and not restore:
        down = None
    desc = _DESCRIPTION.search(head)
    # As render writes it, so that parse, render, parse gives the same description.
    return SqlMigration(up, down, (one_line(desc["text"]) or None) if desc else None)


def render(up: str, down: str | None = None, *, description: str | None = None,
           transaction: bool = True, header: str | None = None) -> str:
    """The text of a SQL migration file; ``parse(render(...))`` gives the same sections back."""
    lines = []
    if header:
        lines += [f"-- {h}" if h else "--" for h in header.splitlines()]
    if description and one_line(description):
        lines.append(f"-- description: {one_line(description)}")
    lines.append("-- migrate:up" + ("" if transaction else " transaction:false"))
    lines.append(up.strip("\n"))
    lines.append("")
    lines.append("-- migrate:down")
    if down and down.strip():
        lines.append(down.strip("\n"))
    return "\n".join(lines) + "\n"


def one_line(text: str) -> str:
    """``text`` fit for a one-line comment: no line breaks or control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _keep_option(options: str, path, line: int) -> tuple[bool, str]:
    """``keep:false`` (or ``keep:true``) taken out of a marker's options: (keep, the other options)."""
    keep, rest = True, []
    for opt in options.split():
        key, _, value = opt.partition(":")
        if key == "keep":
            if value not in ("true", "false"):
                raise errors.MigrationFileError(path, f"unknown option `{opt}`; keep:false (or keep:true) says "
                                                      "whether duckmig keeps what the migration destroys", line)
            keep = value == "true"
        else:
            rest.append(opt)
    return keep, " ".join(rest)


def _transaction_option(options: str, path, line: int) -> bool:
    transaction = True
    for opt in options.split():
        key, _, value = opt.partition(":")
        if key != "transaction" or value not in ("true", "false"):
            raise errors.MigrationFileError(path, f"unknown option `{opt}`; the options are "
                                                  "transaction:false and keep:false", line)
        transaction = value == "true"
    return transaction


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def tokens(sql: str) -> list[tuple[int, str]]:
    """DuckDB's tokens as (byte offset, kind); DuckDB 1.x leaves out comments."""
    import duckdb

    names = _token_names()
    return [(start, names[kind]) for start, kind in duckdb.tokenize(sql)]


def duckdb_tokens(sql: str) -> list:
    """DuckDB's tokens as (byte offset, DuckDB's token kind), untranslated."""
    import duckdb

    return duckdb.tokenize(sql)


@lru_cache(maxsize=1)
def _token_kinds() -> tuple:
    """DuckDB's token kinds of ``;`` (an operator) and of comments."""
    import duckdb

    return duckdb.token_type.operator, duckdb.token_type.comment


@lru_cache(maxsize=1)
def _token_names() -> dict:
    import duckdb  # a dict, not each token's .name: a migration run tokenizes every file

    return {kind: name for name, kind in duckdb.token_type.__members__.items()}


def _code_in(text: str) -> bool:
    """Whether ``text`` may hold more than blank lines and line comments, told without tokenizing."""
    return any(line.strip() and not line.lstrip().startswith("--") for line in text.split("\n"))


def _outside_quotes(text: str, offset: int) -> bool:
    """Whether a line starting at ``offset`` is outside quotes and block comments.

    A word put at the start of that line is a token of its own only if nothing
    before it is left open.
    """
    before = text[:offset]
    if not any(opener in before for opener in ("'", '"', "`", "$", "/*")):
        return True  # nothing before it can be left open: no tokenizing
    import duckdb

    found = duckdb_tokens(before + "duckmig_probe")  # the probe last, unless something left open swallowed it
    return bool(found) and found[-1] == (len(before.encode()), duckdb.token_type.identifier)


def _failing_line(sql: str, exc: Exception) -> int:
    """The line in ``sql`` of what DuckDB's parser refused: the line its message names, else the
    first line of the first statement that does not parse alone (some errors name no line: "CREATE
    TABLE AS requires a SELECT clause", "... is not a preparable statement")."""
    import duckdb

    if re.search(r"LINE \d+:", str(exc)):
        return _line_in_message(exc)
    for line, text in _pieces(sql):
        try:
            duckdb.extract_statements(text)
        except duckdb.Error as again:
            return line + _line_in_message(again) - 1
    return 1


def _line_in_message(exc: Exception) -> int:
    """The line DuckDB's parser error names (``LINE 3:``), counted in the text it was given."""
    m = re.search(r"LINE (\d+):", str(exc))
    return int(m.group(1)) if m else 1
