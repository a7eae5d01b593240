"""A statement read into the parts the rules ask about, with DuckDB's own tokenizer.

DuckDB's parser says a statement's type (``sqlfile.classify``) but serialises
only queries (``json_serialize_sql``), so the clauses of ALTER, CREATE, DROP
and UPDATE are read here from DuckDB's tokens: quoting, comments and dollar
quoting are DuckDB's. A form not recognised is left ``kind="other"``, and no
rule fires on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import statements

Name = tuple[str, ...]


@dataclass
class Statement:
    sql: str
    line: int
    kind: str = "other"  # create, drop, alter, update, delete, insert, other
    object: str = ""  # TABLE, VIEW, INDEX, SEQUENCE, TYPE, SCHEMA, MACRO (create, drop, alter)
    names: list[Name] = field(default_factory=list)  # what is created or dropped
    table: Name | None = None  # the table altered, indexed, updated or deleted from
    action: str = ""  # of ALTER TABLE: add_column, drop_column, alter_type, set_not_null, drop_not_null,
    #                   set_default, drop_default, rename_column, rename_table, add_constraint, drop_constraint
    column: str | None = None
    new_name: str | None = None
    type: str | None = None  # ALTER TYPE's new type, ADD COLUMN's type
    using: bool = False
    constraint: str | None = None  # ADD [CONSTRAINT] PRIMARY KEY / UNIQUE / FOREIGN KEY / CHECK; ADD COLUMN's
    constraint_columns: list[str] = field(default_factory=list)
    default: str | None = None  # ADD COLUMN's DEFAULT expression
    replace: bool = False
    unique: bool = False
    if_exists: bool = False
    if_not_exists: bool = False
    cascade: bool = False
    set_columns: list[str] = field(default_factory=list)  # UPDATE ... SET a = ..., b = ...
    where: bool = False
    ignored: dict[str, str] = field(default_factory=dict)  # rule id -> reason, from `-- duckmig: ignore`

    @property
    def label(self) -> str:
        return ".".join(self.table) if self.table else ".".join(self.names[0]) if self.names else ""


_CONSTRAINTS = {"PRIMARY": "PRIMARY KEY", "UNIQUE": "UNIQUE", "FOREIGN": "FOREIGN KEY", "CHECK": "CHECK",
                "REFERENCES": "FOREIGN KEY", "NOT": "NOT NULL"}
_OBJECTS = {"TABLE", "VIEW", "INDEX", "SEQUENCE", "TYPE", "SCHEMA", "MACRO", "FUNCTION"}


class _Reader:
    def __init__(self, sql: str):
        self.toks = [t for t in statements.tokens(sql) if t.text not in ("", ";")]
        self.i = 0

    def word(self, offset: int = 0) -> str:
        j = self.i + offset
        if j >= len(self.toks):
            return ""
        t = self.toks[j]
        return t.text.upper() if t.kind in ("keyword", "identifier") and not t.text.startswith('"') else ""

    def take(self, *words: str) -> bool:
        """Consume ``words`` if they come next."""
        if all(self.word(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def ident(self) -> str | None:
        if self.i >= len(self.toks) or self.toks[self.i].kind not in ("identifier", "keyword"):
            return None
        self.i += 1
        return _unquote(self.toks[self.i - 1].text)

    def name(self) -> Name | None:
        parts = []
        while (part := self.ident()) is not None:
            parts.append(part)
            if self.i < len(self.toks) and self.toks[self.i].text == ".":
                self.i += 1
                continue
            break
        return tuple(parts) or None

    def rest(self) -> str:
        return " ".join(t.text for t in self.toks[self.i:])

    def words_left(self) -> list[str]:
        return [t.text.upper() for t in self.toks[self.i:] if t.kind in ("keyword", "identifier")]

    def parenthesised(self) -> list[str]:
        """The names in the parentheses that come next: ``(a, b)``."""
        found: list[str] = []
        if self.i >= len(self.toks) or not self.toks[self.i].text.startswith("("):
            return found
        depth = 0
        while self.i < len(self.toks):
            t = self.toks[self.i]
            self.i += 1
            depth += t.text.count("(") - t.text.count(")")
            if t.kind in ("identifier", "keyword") and depth == 1:
                found.append(_unquote(t.text))
            if depth <= 0:
                break
        return found


# The first words of the statements a rule reads; any other (INSERT, SELECT, COPY, SET ...: most of a
# large file) is left unread, without tokenizing.
RELEVANT = frozenset({"CREATE", "DROP", "ALTER", "UPDATE", "DELETE", "TRUNCATE"})


def first_word(sql: str) -> str:
    head = sql.lstrip()[:9].split(None, 1)
    return head[0].upper() if head else ""


def read(sql: str, line: int = 1) -> Statement:
    """``sql`` (one statement) read into a ``Statement``."""
    s = Statement(sql, line)
    if first_word(sql) not in RELEVANT:
        s.kind = "insert" if first_word(sql) == "INSERT" else "other"
        return s
    r = _Reader(sql)
    first = r.word()
    try:
        if first == "CREATE":
            _create(r, s)
        elif first == "DROP":
            _drop(r, s)
        elif first == "ALTER":
            _alter(r, s)
        elif first == "UPDATE":
            r.i += 1
            s.kind, s.table = "update", r.name()
            _update(r, s)
        elif first == "DELETE" and r.word(1) == "FROM":
            r.i += 2
            s.kind, s.table = "delete", r.name()
            s.where = "WHERE" in r.words_left()
        elif first == "TRUNCATE":
            r.i += 1
            r.take("TABLE")
            s.kind, s.table = "delete", r.name()
    except IndexError:  # a statement cut short: DuckDB parsed it, so it is a form not read here
        s.kind = "other"
    return s


def _create(r: _Reader, s: Statement) -> None:
    r.i += 1
    s.replace = r.take("OR", "REPLACE")
    while r.word() in ("TEMP", "TEMPORARY", "PERSISTENT"):
        r.i += 1
    s.unique = r.take("UNIQUE")
    obj = r.word()
    if obj not in _OBJECTS:
        return
    r.i += 1
    s.kind, s.object = "create", "MACRO" if obj == "FUNCTION" else obj
    s.if_not_exists = r.take("IF", "NOT", "EXISTS")
    if obj == "INDEX":
        name = r.name() if r.word() != "ON" else None
        s.names = [name] if name else []
        if r.take("ON"):
            s.table = r.name()
            if r.word() == "USING":
                r.i += 2
            s.constraint_columns = r.parenthesised()
        return
    name = r.name()
    s.names = [name] if name else []


def _drop(r: _Reader, s: Statement) -> None:
    r.i += 1
    obj = r.word()
    if obj not in _OBJECTS:
        return
    r.i += 1
    s.kind, s.object = "drop", "MACRO" if obj == "FUNCTION" else obj
    if s.object == "MACRO":
        r.take("TABLE")
    s.if_exists = r.take("IF", "EXISTS")
    while (name := r.name()) is not None:
        if name[-1].upper() in ("CASCADE", "RESTRICT") and len(name) == 1:
            s.cascade = name[-1].upper() == "CASCADE"
            break
        s.names.append(name)
        if r.i < len(r.toks) and r.toks[r.i].text == ",":
            r.i += 1
            continue
        s.cascade = r.word() == "CASCADE"
        break


def _alter(r: _Reader, s: Statement) -> None:
    r.i += 1
    if not r.take("TABLE"):
        if r.word() in _OBJECTS:
            s.kind, s.object = "alter", r.word()
        return
    s.kind, s.object = "alter", "TABLE"
    s.if_exists = r.take("IF", "EXISTS")
    s.table = r.name()
    if r.take("RENAME"):
        if r.take("TO"):
            s.action, s.new_name = "rename_table", r.ident()
            return
        r.take("COLUMN")
        s.action, s.column = "rename_column", r.ident()
        r.take("TO")
        s.new_name = r.ident()
    elif r.take("ADD"):
        if r.word() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK"):
            if r.take("CONSTRAINT"):
                r.ident()
            s.action, s.constraint = "add_constraint", _CONSTRAINTS.get(r.word(), r.word())
            while r.i < len(r.toks) and not r.toks[r.i].text.startswith("("):
                r.i += 1
            s.constraint_columns = r.parenthesised()
            return
        r.take("COLUMN")
        s.if_not_exists = r.take("IF", "NOT", "EXISTS")
        s.action, s.column = "add_column", r.ident()
        _column_definition(r, s)
    elif r.take("DROP"):
        if r.take("CONSTRAINT"):
            s.action = "drop_constraint"
            return
        r.take("COLUMN")
        s.if_exists = r.take("IF", "EXISTS")
        s.action, s.column = "drop_column", r.ident()
        s.cascade = r.word() == "CASCADE"
    elif r.take("ALTER"):
        r.take("COLUMN")
        s.column = r.ident()
        if r.take("SET", "DATA", "TYPE") or r.take("TYPE"):
            s.action = "alter_type"
            words = r.rest()
            s.using = " USING " in f" {words.upper()} "
            s.type = words[:words.upper().find(" USING ")] if s.using else words
        elif r.take("SET", "NOT", "NULL"):
            s.action = "set_not_null"
        elif r.take("DROP", "NOT", "NULL"):
            s.action = "drop_not_null"
        elif r.take("SET", "DEFAULT"):
            s.action, s.default = "set_default", r.rest()
        elif r.take("DROP", "DEFAULT"):
            s.action = "drop_default"


def _column_definition(r: _Reader, s: Statement) -> None:
    """ADD COLUMN's type, DEFAULT and constraints, read from what follows its name."""
    depth, marks = 0, []  # (offset, word) of each top-level word that starts a clause
    toks = r.toks[r.i:]
    for k, t in enumerate(toks):
        depth += t.text.count("(") - t.text.count(")") if t.kind == "operator" else 0
        word = t.text.upper() if t.kind in ("keyword", "identifier") and not t.text.startswith('"') else ""
        if depth == 0 and word in _CLAUSES:
            marks.append((k, word))
    s.type = " ".join(t.text for t in toks[:marks[0][0] if marks else None]) or None
    for n, (k, word) in enumerate(marks):
        if word == "DEFAULT":
            end = marks[n + 1][0] if n + 1 < len(marks) else None
            s.default = " ".join(t.text for t in toks[k + 1:end])
        elif word == "NOT" and n + 1 < len(marks) and marks[n + 1] == (k + 1, "NULL"):
            s.constraint = s.constraint or "NOT NULL"
        elif word in _CONSTRAINTS and word != "NOT":
            s.constraint = s.constraint or _CONSTRAINTS[word]


_CLAUSES = {"DEFAULT", "PRIMARY", "UNIQUE", "CHECK", "REFERENCES", "NOT", "NULL", "CONSTRAINT", "GENERATED",
            "AS", "COLLATE"}


def _update(r: _Reader, s: Statement) -> None:
    """UPDATE's SET columns: each name followed by ``=`` at the top level."""
    words = r.toks[r.i:]
    depth, in_set = 0, False
    for k, t in enumerate(words):
        if t.kind == "operator":
            depth += t.text.count("(") - t.text.count(")")
        w = t.text.upper() if t.kind == "keyword" else ""
        if depth:
            continue
        if w == "SET":
            in_set = True
        elif w in ("FROM", "WHERE", "RETURNING"):
            in_set = False
            s.where = s.where or w == "WHERE"
        elif in_set and t.kind in ("identifier", "keyword") and k + 1 < len(words) and words[k + 1].text == "=":
            s.set_columns.append(_unquote(t.text))


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1].replace('""', '"')
    return text
