"""What a statement writes, read with DuckDB's own tokenizer.

A preview scans only the tables a migration touches. Tables created, dropped,
renamed or altered show in the catalog; rows written by INSERT, UPDATE, DELETE,
TRUNCATE, MERGE or COPY ... FROM do not, so their targets are read from the
statements. Column renames are read here too: the catalog alone cannot tell a
renamed column from one dropped and another added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from . import sqlfile

Name = tuple[str, ...]  # [catalog.][schema.]table, unquoted

# After these words the next name is the table a statement writes.
_WRITES = {"UPDATE": None, "INSERT": "INTO", "DELETE": "FROM", "TRUNCATE": None, "MERGE": "INTO", "COPY": None}
# Words that follow UPDATE or INSERT without naming a table (``ON CONFLICT DO UPDATE SET``).
_NOT_A_NAME = {"SET", "SELECT", "VALUES", "DEFAULT", "TABLE", "ONLY", "BY", "OR", "INTO", "FROM"}


@dataclass(frozen=True)
class Token:
    text: str
    kind: str  # identifier, keyword, operator, string_const, numeric_const, comment
    start: int = 0  # byte offsets in the statement (DuckDB's tokenizer counts bytes)
    end: int = 0

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "keyword" else ""


@dataclass(frozen=True)
class ColumnRename:
    table: Name
    old: str
    new: str


def tokens(sql: str) -> list[Token]:
    """DuckDB's tokens of ``sql`` but comments."""
    raw = sql.encode()  # DuckDB's offsets count bytes, not characters
    found = sqlfile.tokens(sql)
    out = []
    for i, (start, kind) in enumerate(found):
        end = found[i + 1][0] if i + 1 < len(found) else len(raw)
        if kind != "comment":
            out.append(Token(raw[start:end].decode().strip(), kind, start, end))
    return out


def written_table(sql: str) -> Name | None:
    """The table whose rows the statement writes, or None (a query, DDL, COPY ... TO)."""
    return _written(tokens(sql))


def _written(toks: list[Token]) -> Name | None:
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind == "operator":
            depth += tok.text.count("(") - tok.text.count(")")
            continue
        if depth or tok.word not in _WRITES:
            continue
        j = i + 1
        then = _WRITES[tok.word]
        if then:  # INSERT [OR REPLACE] INTO name, DELETE FROM name, MERGE INTO name
            while j < len(toks) and toks[j].word != then and toks[j].kind == "keyword":
                j += 1
            if j >= len(toks) or toks[j].word != then:
                continue
            j += 1
        elif tok.word == "TRUNCATE" and j < len(toks) and toks[j].word == "TABLE":
            j += 1
        name, j = _name(toks, j)
        if name is None:
            continue
        if tok.word == "COPY" and not any(t.word == "FROM" for t in toks[j:]):
            return None  # COPY t TO ...: a read
        return name
    return None


def column_rename(sql: str) -> ColumnRename | None:
    """``ALTER TABLE t RENAME [COLUMN] a TO b`` as (t, a, b); None for any other statement."""
    table, rest = _renamed(tokens(sql))
    if rest and rest[0].word == "COLUMN":
        rest = rest[1:]
    if table is None or len(rest) < 3 or rest[1].word != "TO":
        return None  # RENAME TO new_name renames the table
    return ColumnRename(table, _unquote(rest[0].text), _unquote(rest[2].text))


def table_rename(sql: str) -> tuple[Name, str] | None:
    """``ALTER TABLE t RENAME TO u`` as (t, u); None for any other statement."""
    table, rest = _renamed(tokens(sql))
    if table is None or len(rest) != 2 or rest[0].word != "TO":
        return None
    return table, _unquote(rest[1].text)


def _renamed(toks: list[Token]) -> tuple[Name | None, list[Token]]:
    """The table of ``ALTER TABLE [IF EXISTS] t RENAME ...`` and the tokens after RENAME."""
    if len(toks) < 5 or [t.word for t in toks[:2]] != ["ALTER", "TABLE"]:
        return None, []
    j = 2
    if [t.word for t in toks[j:j + 2]] == ["IF", "EXISTS"]:
        j += 2
    table, j = _name(toks, j)
    if table is None or j >= len(toks) or toks[j].word != "RENAME":
        return None, []
    return table, [t for t in toks[j + 1:] if t.text != ";"]


def added_column(sql: str) -> tuple[Name, str] | None:
    """``ALTER TABLE [IF EXISTS] t ADD [COLUMN] [IF NOT EXISTS] c ...`` as (t, c); None for any other
    statement."""
    toks = [t for t in tokens(sql) if t.text != ";"]
    if [t.word for t in toks[:2]] != ["ALTER", "TABLE"]:
        return None
    j = 4 if [t.word for t in toks[2:4]] == ["IF", "EXISTS"] else 2
    table, j = _name(toks, j)
    words = [t.word for t in toks[j:j + 5]]
    if table is None or words[:1] != ["ADD"]:
        return None
    j += 1
    if words[1:2] == ["COLUMN"]:
        j += 1
    if [t.word for t in toks[j:j + 3]] == ["IF", "NOT", "EXISTS"]:
        j += 3
    if j >= len(toks) or toks[j].kind not in ("identifier", "keyword") or toks[j].word in (
            "PRIMARY", "CONSTRAINT", "CHECK", "UNIQUE", "FOREIGN"):
        return None  # a constraint, not a column
    return table, _unquote(toks[j].text)


def alter_keeps_values(sql: str) -> bool:
    """Whether ``sql`` is an ALTER that cannot destroy a value: of a view or a sequence, or of a table
    adding a column or constraint, renaming, or setting or dropping a default or NOT NULL. A DROP
    COLUMN, a type change and anything not read here may destroy values (False)."""
    toks = [t for t in tokens(sql) if t.text != ";"]
    words = [t.word for t in toks]
    if words[:2] in (["ALTER", "VIEW"], ["ALTER", "SEQUENCE"]):
        return True
    if words[:2] != ["ALTER", "TABLE"]:
        return False
    j = 4 if words[2:4] == ["IF", "EXISTS"] else 2
    table, j = _name(toks, j)
    depth = 0
    for tok in toks[j:]:
        if tok.kind == "operator":
            depth += tok.text.count("(") - tok.text.count(")")
            if not depth and "," in tok.text:
                return False  # one action a statement today; a list of them is read as unknown
    action = words[j:j + 1]
    if table is None or not action:
        return False
    if action[0] in ("ADD", "RENAME"):
        return True
    if action[0] != "ALTER":
        return False
    k = j + 2 if words[j + 1:j + 2] == ["COLUMN"] else j + 1
    return words[k + 1:] in (["SET", "DEFAULT"], ["DROP", "DEFAULT"], ["SET", "NOT", "NULL"],
                             ["DROP", "NOT", "NULL"]) or words[k + 1:k + 3] == ["SET", "DEFAULT"]


def altered_table(sql: str) -> Name | None:
    """The table that ``ALTER TABLE`` or ``COMMENT ON TABLE|COLUMN`` changes in place; None for any
    other statement."""
    toks = tokens(sql)
    words = [t.word for t in toks[:3]]
    if words[:2] == ["ALTER", "TABLE"] or words == ["COMMENT", "ON", "TABLE"]:
        return next(iter(changed_tables(sql)), None)
    if words == ["COMMENT", "ON", "COLUMN"]:
        name, _ = _name(toks, 3)
        return name[:-1] if name and len(name) > 1 else None
    return None


def made_tables(sql: str) -> list[Name]:
    """The tables ``CREATE [OR REPLACE] TABLE`` makes or ``DROP TABLE`` drops."""
    toks = tokens(sql)
    return changed_tables(sql) if toks and toks[0].word in ("CREATE", "DROP") else []


def cascaded_drop(sql: str) -> tuple[str, list[Name]] | None:
    """``DROP <kind> ... CASCADE``: its kind (SCHEMA, TYPE, SEQUENCE, MACRO...) and the names it drops
    ([catalog.][schema.]name; a schema's: [catalog.]schema); None for any other statement. CASCADE drops
    what depends on them too: a schema's tables, and tables whose columns have a dropped type or whose
    defaults call a dropped sequence or macro. Without CASCADE DuckDB refuses to drop what is in use."""
    toks = tokens(sql)
    if len(toks) < 3 or toks[0].word != "DROP" or all(t.word != "CASCADE" for t in toks):
        return None
    kind, j = toks[1].word, 2
    while j < len(toks) and toks[j].word in ("TABLE", "IF", "EXISTS"):  # DROP MACRO TABLE, IF EXISTS
        j += 1
    return kind, _names(toks, j)


def _names(toks: list[Token], j: int) -> list[Name]:
    """The comma-separated names from ``toks[j]`` (``DROP TABLE a, b``)."""
    found = []
    while True:
        name, j = _name(toks, j)
        if name is None:
            break
        found.append(name)
        if j >= len(toks) or toks[j].text != ",":
            break
        j += 1
    return found


def functions_called(expr: str) -> set[str]:
    """The names of the functions an expression calls, lower case, without schema
    (``CAST(...)`` and other syntax spelt as keywords are left out)."""
    toks = tokens(f"SELECT {expr}")
    return {_unquote(tok.text).lower() for tok, then in pairwise(toks)
            if tok.kind == "identifier" and then.text.startswith("(")}


def _name(toks: list[Token], j: int, kinds: tuple[str, ...] = ("identifier", "keyword")) -> tuple[Name | None, int]:
    """The dotted name from ``toks[j]`` of tokens of ``kinds`` and where it ends."""
    parts = []
    while j < len(toks) and toks[j].kind in kinds and toks[j].word not in _NOT_A_NAME:
        parts.append(_unquote(toks[j].text))
        j += 1
        if j < len(toks) and toks[j].text == ".":
            j += 1
            continue
        break
    return (tuple(parts) or None), j


def identifiers(text: str) -> frozenset[str]:
    """The lower-case identifiers and keywords of a SQL text (an index's expressions, a view's query)."""
    return frozenset(_unquote(t.text).lower() for t in tokens(text) if t.kind in ("identifier", "keyword"))


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text


def is_transaction_control(kinds: frozenset[str]) -> bool:
    """BEGIN, COMMIT, ROLLBACK, ABORT, END and whatever else DuckDB's parser types a transaction
    statement. DuckDB 1.x wraps some statements it rewrites in transaction statements of its own
    (ADD COLUMN ... DEFAULT): those come with others, and are not the migration's."""
    return kinds == {"TRANSACTION"}


def changed_tables(sql: str) -> list[Name]:
    """The tables a statement changes: the one whose rows it writes, or the one DDL drops, alters,
    replaces, indexes or comments on (``DROP TABLE a, b``: both)."""
    toks = tokens(sql)
    found = [n for n in [_written(toks)] if n]
    first = toks[0].word if toks else ""
    if first not in _DDL:
        return found
    depth, index = 0, False
    for i, tok in enumerate(toks):
        if tok.kind == "operator":
            depth += tok.text.count("(") - tok.text.count(")")
            continue
        index = index or tok.word == "INDEX"
        if depth or not (tok.word == "TABLE" or (tok.word == "ON" and index)):
            continue
        j = i + 1
        while j < len(toks) and toks[j].word in ("IF", "NOT", "EXISTS"):
            j += 1
        found += _names(toks, j)
        break
    return found


_DDL = {"DROP", "ALTER", "CREATE", "COMMENT"}


def changed_ledger_table(sql: str, kinds: frozenset[str], names: tuple[str, ...]) -> str | None:
    """The name among ``names`` (the ledger's tables) of a table the statement changes, if any; a
    statement may read them."""
    if kinds == {"SELECT"}:
        return None
    if not named(names).search(sql):  # most statements: no tokenizing needed
        return None
    wanted = {n.lower(): n for n in names}
    return next((wanted[name[-1].lower()] for name in changed_tables(sql) if name[-1].lower() in wanted), None)


@lru_cache(maxsize=8)
@lru_cache(maxsize=64)
def named(names: tuple[str, ...], fold: bool = True) -> re.Pattern:
    """Any of ``names`` anywhere: in any case (``fold``), else as written."""
    return re.compile("|".join(re.escape(n) for n in names), re.IGNORECASE if fold else 0)
