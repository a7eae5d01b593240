"""The lint of a workspace's migrations: which files, in which order, on which database.

The pending migrations are linted in the order ``up`` runs them, each on the
catalog as the ones before it leave it; versions named are linted after the
pending ones before them are replayed (not reported).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .. import errors
from . import lint as rules
from . import plan, sqlfile
from .lint import Item, Report, Section
from .versions import Script, write_atomically
from .workspace import Workspace

if TYPE_CHECKING:  # a preview's own: the lint of `up` and `lint` does not load the preview
    from .preview import PreviewWarning


def items(scripts: list[Script], chosen: set[str] | None, todo: list[Script]) -> list[Item]:
    """``todo`` (pending, in order) as lint items: all checked, or only the ``chosen`` versions, the
    other pending ones before them replayed; a chosen version that is applied is linted alone."""
    found = []
    order = list(todo) + [s for s in scripts if chosen and s.version in chosen and s not in todo]
    for s in order:
        checked = chosen is None or s.version in chosen
        if chosen is not None and not checked and not any(v > s.version for v in chosen):
            continue
        found.append(item(s, checked))
    return found


def item(s: Script, checked: bool = True) -> Item:
    """One version file as a lint item; a Python migration's statements are known only when it runs."""
    if s.kind == "python":
        return Item(s.version, str(s.path), [], True, checked)
    return _sql_item(s.version, s.path, s.text, checked)


def body_item(name: str, body: str) -> Item:
    """A migration's text that is saved nowhere (a notebook cell's) as a lint item."""
    return _sql_item(name, name, body, True)


def _sql_item(version: str, path: Path | str, text: str, checked: bool) -> Item:
    """A SQL migration's sections. Where DuckDB's parser refuses a statement (it refuses some ALTER forms
    it has not implemented, as a parser error), the statements are split by DuckDB's tokenizer alone:
    a rule may know the refusal, and say what to write instead; the lint raises the parser's error
    where none does."""
    import duckdb

    text = sqlfile.normalize(text)
    refused: errors.MigrationFileError | None = None
    try:
        m = sqlfile.parse(text, path)
    except errors.MigrationFileError as exc:
        if not isinstance(exc.__cause__, duckdb.Error):
            raise
        m, refused = _unparsed(text, path), exc
    sections = []
    for name, sec in (("up", m.up), ("down", m.down)):
        if sec is not None:
            pairs = sec.statements(path) if refused is None else [
                (sec.line + n - 1, t) for n, t in sqlfile._pieces(sec.sql)]
            sections.append(Section(name, sec.sql, sec.line, sec.transaction if name == "up" else True, pairs))
    return Item(version, str(path), sections, m.down is not None, checked, refused)


def _unparsed(text: str, path: Path | str) -> sqlfile.SqlMigration:
    """The sections of a file whose statements DuckDB's parser refuses, markers read as ``parse`` reads them."""
    marks = [(m.start(), m.end(), m["which"].lower(), "transaction:false" not in m["options"])
             for m in sqlfile._MARKER.finditer(text) if sqlfile._outside_quotes(text, m.start())]
    found = {}
    for n, (start, end, which, tx) in enumerate(marks):
        stop = marks[n + 1][0] if n + 1 < len(marks) else len(text)
        found[which] = sqlfile.Section(text[end + 1:stop], text.count("\n", 0, start) + 2, tx)
    if "up" not in found:
        raise errors.MigrationFileError(path, "a SQL migration needs a `-- migrate:up` line")
    return sqlfile.SqlMigration(found["up"], found.get("down"))


def run(work: Workspace, versions: list[str] | None = None, *, data_rules: bool = True,
        settings: rules.LintSettings | None = None, body: Item | None = None, fix: bool = False,
        rows: dict | None = None) -> Report:
    """Lint the pending migrations (or ``versions``, or the cell ``body`` after them) of ``work``; with
    ``fix``, write the mechanical fixes into the files of migrations not applied yet, and lint again.
    ``rows``: the ledger's, where the caller has just read them."""
    report = _run(work, versions, data_rules, settings, body, rows)
    if not fix:
        return report
    fixed = write_fixes(work, report)
    if not fixed:
        return report
    again = _run(work, versions, data_rules, settings, body)
    again.fixed = fixed
    return again


def _run(work: Workspace, versions, data_rules, settings, body, rows: dict | None = None) -> Report:
    scripts = work.scripts.scripts() if work.scripts.exists() or body is None else []
    rows = work.rows() if rows is None else rows
    status = work.status(scripts, rows)
    states = {m.version: m.state for m in status.migrations}
    chosen = None
    if versions:
        for v in versions:
            plan.check_format(v)
            if v not in states:
                raise errors.unknown_version(v)
        chosen = set(versions)
    todo = [s for s in scripts if states.get(s.version) in plan.TO_APPLY]
    found = items(scripts, chosen, todo)
    if body is not None:
        found = [Item(i.version, i.file, i.sections, i.has_downgrade, False) for i in found] + [body]
    return _on(work, found, settings, data_rules)


# Words without which no upgrade can spring a rule that needs no rows and finds an error on a DuckDB file:
# every such rule reads an ALTER, a DROP, an UPDATE or DELETE, a CREATE OR REPLACE or a CREATE INDEX. A
# lake refuses more (DM135), so its migrations are always read.
_COULD_REFUSE = re.compile(r"\b(alter|drop|update|delete|truncate|replace|index)\b", re.IGNORECASE)
_WORDS = ("alter", "drop", "update", "delete", "truncate", "replace", "index")
_DOWN = re.compile(r"^--[ \t]*migrate:down", re.MULTILINE | re.IGNORECASE)


def _could_refuse(text: str) -> bool:
    """Whether the upgrade of a SQL file holds one of ``_COULD_REFUSE``'s words: tested as substrings
    first, which on a file of megabytes of rows is far cheaper than the regex."""
    up = _DOWN.split(text, 1)[0]
    low = up.lower()
    return any(w in low for w in _WORDS) and _COULD_REFUSE.search(up) is not None


def lint_scripts(work: Workspace, todo: list[Script], *, settings: rules.LintSettings | None = None) -> Report:
    """The rules that need no rows on the upgrades of ``todo`` (planned, in order): what ``up`` checks
    first. Where no upgrade holds a word such a rule reads (files of CREATE TABLE and INSERT), nothing is
    parsed and no catalog is copied: ``up`` parses its files itself."""
    if not _on_lake(work) and not any(s.kind == "sql" and _could_refuse(s.text) for s in todo):
        return Report(checked=[s.version for s in todo])
    found = [Item(i.version, i.file, [x for x in i.sections if x.name == "up"], i.has_downgrade, i.checked, i.refused)
             for i in (item(s) for s in todo)]
    return _on(work, found, settings, False)


def _on(work: Workspace, found: list[Item], settings, data_rules: bool) -> Report:
    """Lint ``found`` on the workspace's database: a file attached read-only to the lint's own
    connection, else (a file this process holds, a user's connection, a lake) a cursor of the
    database's own connection."""
    db = work.db
    if db.is_file and not db.exists():
        return rules.lint(found, settings=settings, data_rules=data_rules)
    if db.is_file:
        try:
            return rules.lint(found, path=db.file, settings=settings, data_rules=data_rules)
        except rules.LiveUnavailable:
            pass  # this process holds the file open already: its own connection reads it
    with db.connect(write=False) as conn:
        return rules.lint(found, conn=conn, settings=settings, data_rules=data_rules, lake=_on_lake(work))


def _on_lake(work: Workspace) -> bool:
    """Whether the database is a DuckLake: one duckmig attached without a file of its own, or, for a
    connection the user handed over, the database it is pinned to, as DuckDB names its type."""
    db = work.db
    if db.owned:
        return db.path is None
    from . import lake

    with db.connect(write=False) as conn:
        return lake.attached(conn, db.place(conn).database)


# What a preview measures itself, from the rows (drops, narrowed types), or shows elsewhere (no downgrade).
_MEASURED = {"DM203", "DM204", "DM205", "DM208", "DM209"}


def preview_warnings(work: Workspace, todo: list[Script], rows: dict | None = None) -> list[PreviewWarning]:
    """The lint's findings on ``todo`` as a preview's warnings: what DuckDB will refuse and what breaks
    readers, which the preview's diff of the rows cannot show. A lint that cannot run adds none."""
    import duckdb

    from .preview import PreviewWarning

    if not todo:
        return []
    try:
        report = run(work, [s.version for s in todo], rows=rows)
    except (duckdb.Error, errors.DuckmigError):
        return []
    return [PreviewWarning(f"{f.rule} {f.severity}", f.table, None, None,
                           f"{f.version}, line {f.line}{' (downgrade)' if f.section == 'down' else ''}: "
                           f"{f.message}. Instead: {f.fix}")
            for f in report.findings if f.rule not in _MEASURED]


def write_fixes(work: Workspace, report: Report) -> list[tuple[str, str]]:
    """Replace each statement a finding has a rewrite for, in the files of migrations that are not
    applied; (file, unified diff) of each file changed. A file is rewritten at once (``write_atomically``)."""
    import difflib

    rows = work.rows()
    applied = {v for v, r in rows.items() if r.status == "applied"}
    by_file: dict[str, list] = {}
    for f in report.findings:
        if f.rewrite and f.version not in applied:
            by_file.setdefault(f.file, []).append(f)
    changed = []
    for file, found in by_file.items():
        path = Path(file)
        old = path.read_text(encoding="utf-8")
        new = sqlfile.normalize(old)
        lines = new.split("\n")
        done = set()
        # From the last statement up, so that the offsets of those above stay true.
        for f in sorted(found, key=lambda f: f.line, reverse=True):
            if f.line in done:
                continue
            start = sum(len(x) + 1 for x in lines[:f.line - 1])
            at = new.find(f.statement, start)
            if at < 0:
                continue
            new = new[:at] + ";\n".join(f.rewrite) + new[at + len(f.statement):]
            done.add(f.line)
        if new != sqlfile.normalize(old):
            write_atomically(path, new)
            changed.append((file, "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                              fromfile=file, tofile=file))))
    return changed
