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

    def typed(self, path: Path | str = "<sql>") -> Parsed:
        """(line, statement, DuckDB's statement types), as ``classify`` gives them, with DuckDB's
        parsed statements beside them (``Parsed``); raises MigrationFileError, naming the line,
        where DuckDB cannot parse them."""
        import duckdb

        try:
            return self._typed
        except duckdb.Error as exc:
            raise errors.MigrationFileError(path, errors.first_line(str(exc)),
                                            self.line + _failing_line(self.sql, exc) - 1,
                                            "fix the statement; nothing was run") from exc

    @cached_property
    def _typed(self) -> Parsed:
        # The same list each call (a file of 80,000 statements is asked for them several times,
        # when a run checks, plans and applies it): its readers iterate it and change nothing.
        return parsed(self.sql, self.line)


def split(sql: str) -> list[tuple[int, str]]:
    """(line in ``sql``, statement) pairs; raises DuckDB's error if DuckDB cannot parse ``sql``.

    A statement is its text from its first token to the ``;`` that ends it,
    without that ``;`` or the comments before it.
    """
    return [(line, text) for line, text, _ in classify(sql)]


def classify(sql: str) -> list[tuple[int, str, frozenset[str]]]:
    """``split``'s pairs with the types DuckDB's parser gives each statement (``TRANSACTION``,
    ``SELECT``, ``INSERT``, ...); raises DuckDB's error if DuckDB cannot parse ``sql``."""
    return list(parsed(sql))


class Parsed(list):
    """``classify``'s (line, statement, kinds) triples, with ``statements``: the statements
    DuckDB's parser made of them, one a triple, in order, so that they can run without DuckDB
    parsing their text again. Only those of at least LARGE characters are kept (None in their
    stead for the others, whose parse costs little and whose trees would fill memory), and
    ``statements`` is None where there is none, or where DuckDB's parse gave some other number."""

    statements: list | None = None


# A statement this long (characters) is kept as DuckDB parsed it (``Parsed``), to run so.
LARGE = 100_000


def parsed(sql: str, line: int = 1) -> Parsed:
    """``classify``'s triples, with DuckDB's parsed statements beside them where they match; ``sql``'s
    first line is numbered ``line``."""
    # DuckDB's parser judges the syntax and tells the statements' types. Each parsed statement
    # knows its own text (``query``) but in the text it comes with what stood before it (comments,
    # and on 2.x what followed its `;`), and DuckDB 1.x rewrites some statements (ADD COLUMN ...
    # DEFAULT FALSE, PIVOT) into several with no text at all: there its tokenizer finds each `;`.
    found = parser().extract_statements(sql)
    located = _located(sql, found, line)
    if located is not None:
        result = Parsed((at, text, k) for (at, text), k in zip(located, _kinds_each(found), strict=True))
        if any(len(text) >= LARGE for _, text, _ in result):
            result.statements = [p if len(text) >= LARGE else None for p, (_, text, _) in zip(found, result, strict=True)]
        return result
    pieces = _pieces(sql)
    if len(found) == len(pieces):
        kinds = _kinds_each(found)
    else:  # some statement became several: each piece is typed on its own
        kinds = [frozenset(_kind(p) for p in parser().extract_statements(text)) for _, text in pieces]
    return Parsed((at + line - 1, text, k) for (at, text), k in zip(pieces, kinds, strict=True))


# What may stand between statements: blanks, `;` and comments (a block comment may nest).
_GAP = re.compile(r"(?:[ \t\n\r\f\v;]+|--[^\n]*)*")


def _located(sql: str, found, line: int = 1) -> list[tuple[int, str]] | None:
    """(line, text) of each parsed statement, read from its own text in one pass over ``sql``; None
    where the parsed statements do not lay end to end over ``sql`` (a rewritten statement), and the
    tokenizer must find the statements.

    The text of a statement runs from its first token to the `;` that ends it, without the
    comments before it; a statement's own text that ends in a comment after its `;` (DuckDB 2.x
    gives the last statement what follows it) is cut by the tokenizer, on that statement alone."""
    if "--" not in sql and "/*" not in sql and (plain := _located_plain(sql, found, line)) is not None:
        return plain
    result: list[tuple[int, str]] = []
    at, counted, size = 0, 0, len(sql)
    gap, count, append = _GAP.match, sql.count, result.append  # a loop of 80,000: names looked up once
    for statement in found:
        query = statement.query
        if not query:
            return None
        while not sql.startswith(query, at):  # duckdb 1.x leaves the `;`s between statements out
            if at == size or sql[at] not in " \t\n\r\f\v;":
                return None
            at += 1
        blank = gap(query)
        start = blank.end() if blank else 0
        if query.startswith("/*", start):
            start = _skip_gap(query, start)
        if start == len(query):
            return None
        text = query[start:].rstrip()
        while text.endswith(";"):
            text = text[:-1].rstrip()
        if text.endswith("*/") or text.find("--", text.rfind("\n") + 1) >= 0:  # a comment after its `;`?
            pieces = _pieces(query[start:])
            if len(pieces) != 1:
                return None
            text = pieces[0][1]
        line += count("\n", counted, at + start)
        counted = at + start
        append((line, text))
        at += len(query)
    return result if _skip_gap(sql, at) == size else None


def _located_plain(sql: str, found, line: int) -> list[tuple[int, str]] | None:
    """``_located`` of a text without comments whose statements lie end to end, each `;` in one of
    them (2.x) or, one each, between them (1.x): a large file's common case, read in half the time;
    None for any other."""
    queries = [statement.query for statement in found]
    if "" in queries or ("".join(queries) != sql and ";".join(queries) != sql):
        return None
    result: list[tuple[int, str]] = []
    append = result.append
    for query in queries:
        text = query.lstrip(" \t\n\r\f\v;")
        lead = query.count("\n", 0, len(query) - len(text))
        text = text.rstrip()
        while text.endswith(";"):
            text = text[:-1].rstrip()
        if not text:
            return None
        append((line + lead, text))
        line += query.count("\n")
    return result


def _skip_gap(sql: str, at: int) -> int:
    """The offset of the first token at or after ``at``: past blanks, `;` and comments."""
    while True:
        blank = _GAP.match(sql, at)  # matches always, if only nothing
        at = blank.end() if blank else at
        if not sql.startswith("/*", at):
            return at
        depth, i = 0, at
        while i < len(sql):
            if sql.startswith("/*", i):
                depth, i = depth + 1, i + 2
            elif sql.startswith("*/", i):
                depth, i = depth - 1, i + 2
                if depth == 0:
                    break
            else:
                i += 1
        if depth:
            return at  # left open: not a gap DuckDB's parser would have accepted
        at = i


@lru_cache(maxsize=1)
def parser():
    """The connection whose parser reads migrations: one of duckmig's own, so that its settings are
    DuckDB's defaults whatever a notebook sets on duckdb's default connection."""
    import duckdb

    return duckdb.connect(":memory:")


# The settings DuckDB's parser reads (``integer_division`` makes `/` parse as `//`).
_PARSER_SETTINGS = ("allow_parser_override_extension", "integer_division", "max_expression_depth",
                    "preserve_identifier_case")


def parses_alike(conn) -> bool:
    """Whether ``conn`` parses text as ``parser`` did: a statement ``parsed`` gave runs on ``conn``
    as its text would."""
    query, defaults = _parser_settings()
    return conn.execute(query).fetchone()[0] == defaults


@lru_cache(maxsize=1)
def _parser_settings() -> tuple[str, list]:
    """The query of the parser's settings this duckdb has (asking for one it lacks would abort the
    transaction), and their values on ``parser``."""
    known = {name for (name,) in parser().execute("SELECT name FROM duckdb_settings()").fetchall()}
    query = "SELECT [" + ", ".join(f"current_setting('{name}')::VARCHAR" for name in _PARSER_SETTINGS
                                   if name in known) + "]"
    return query, parser().execute(query).fetchone()[0]


@lru_cache(maxsize=256)
def kinds(sql: str) -> frozenset[str]:
    """The types DuckDB's parser gives the statements of ``sql`` (a migration's loop runs the same
    parametrised statement many times: it is parsed once)."""
    return frozenset(_kind(p) for p in parser().extract_statements(sql))


def _kind(parsed) -> str:
    """DuckDB's type of a parsed statement; UNKNOWN for one this duckdb package cannot name
    (UPDATE EXTENSIONS: 2.0 raises ValueError, 1.5 says ``???``)."""
    try:
        kind = parsed.type
    except ValueError:
        return "UNKNOWN"
    return _kind_named(kind)


def _kind_named(kind) -> str:
    name = _KINDS.get(kind)
    if name is None:  # an enum's name is slow to read, and a file of 80,000 statements reads it as often
        name = _KINDS[kind] = kind.name if kind.name.isidentifier() else "UNKNOWN"
    return name


_KINDS: dict = {}


def _kinds_each(found) -> list[frozenset[str]]:
    """``frozenset((_kind(p),))`` of each parsed statement, one set a type (a file of 80,000 INSERTs
    has one)."""
    try:
        # By the type's number: duckdb 1.x's enum hashes and compares in Python, slowly.
        values = [p.type.value for p in found]
    except ValueError:  # a type this duckdb package cannot name: statement by statement
        return [frozenset((_kind(p),)) for p in found]
    sets = _KIND_SETS
    if not sets.keys() >= set(values):
        for p, value in zip(found, values, strict=True):
            if value not in sets:
                sets[value] = frozenset((_kind(p),))
    return [sets[value] for value in values]


_KIND_SETS: dict = {}


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
    markers, known = _markers(text)
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
    if up_m.end() + 1 in known and down_m:  # parsed to tell that the down marker is outside quotes
        up.__dict__["_typed"] = known[up_m.end() + 1]  # the cached property's value, as it would set it
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


def _markers(text: str) -> tuple[list[re.Match], dict[int, Parsed]]:
    """The marker lines outside quotes and block comments, and the parse of the text from a marker
    to the next, by its offset, where it was parsed to tell (a large section is parsed once).

    After a marker's line nothing is left open, so a marker is outside quotes if the text from the
    marker before it is: if nothing in it can open a quote, or if DuckDB's parser accepts it (it
    refuses an unterminated string, quoted name, dollar quote or block comment)."""
    import duckdb

    found, known, after = [], {}, None
    for m in _MARKER.finditer(text):
        if after is None:
            outside = _outside_quotes(text, m.start())
        else:
            segment = text[after:m.start()]
            outside = not _may_open(segment)
            if not outside:
                try:
                    known[after] = parsed(segment, _line_of(text, after))
                    outside = True
                except duckdb.Error:
                    outside = _outside_quotes(segment, len(segment))
        if outside:
            found.append(m)
            after = m.end() + 1
    return found, known


def _may_open(text: str) -> bool:
    return any(opener in text for opener in ("'", '"', "`", "$", "/*"))


def _outside_quotes(text: str, offset: int) -> bool:
    """Whether a line starting at ``offset`` is outside quotes and block comments.

    A word put at the start of that line is a token of its own only if nothing
    before it is left open.
    """
    before = text[:offset]
    if not _may_open(before):
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
            parser().extract_statements(text)
        except duckdb.Error as again:
            return line + _line_in_message(again) - 1
    return 1


def _line_in_message(exc: Exception) -> int:
    """The line DuckDB's parser error names (``LINE 3:``), counted in the text it was given."""
    m = re.search(r"LINE (\d+):", str(exc))
    return int(m.group(1)) if m else 1
