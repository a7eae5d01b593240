"""The lint of a workspace's migrations: which files, in which order, on which database.

The pending migrations are linted in the order ``up`` runs them, each on the
catalog as the ones before it leave it; versions named are linted after the
pending ones before them are replayed (not reported).
"""

from __future__ import annotations

from .. import errors
from . import lint as rules
from . import plan
from .lint import Item, Report, Section
from .versions import Script, has_downgrade
from .workspace import Workspace


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
    m = s.sql
    sections = [Section("up", m.up.sql, m.up.line, m.up.transaction, m.up.statements(s.path))]
    if m.down is not None:
        sections.append(Section("down", m.down.sql, m.down.line, True, m.down.statements(s.path)))
    return Item(s.version, str(s.path), sections, has_downgrade(s), checked)


def body_item(name: str, body: str) -> Item:
    """A migration's text that is saved nowhere (a notebook cell's) as a lint item."""
    from . import sqlfile

    m = sqlfile.parse(body, name)
    sections = [Section("up", m.up.sql, m.up.line, m.up.transaction, m.up.statements(name))]
    if m.down is not None:
        sections.append(Section("down", m.down.sql, m.down.line, True, m.down.statements(name)))
    return Item(name, name, sections, m.down is not None)


def run(work: Workspace, versions: list[str] | None = None, *, data_rules: bool = True,
        settings: rules.LintSettings | None = None, body: Item | None = None) -> Report:
    """Lint the pending migrations (or ``versions``, or the cell ``body`` after them) of ``work``."""
    scripts = work.scripts.scripts() if work.scripts.exists() or body is None else []
    rows = work.rows()
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


def lint_scripts(work: Workspace, todo: list[Script], *, settings: rules.LintSettings | None = None) -> Report:
    """The rules that need no rows on ``todo`` (planned, in order): what ``up`` checks first."""
    return _on(work, [item(s) for s in todo], settings, False)


def _on(work: Workspace, found: list[Item], settings, data_rules: bool) -> Report:
    db = work.db
    path = db.file if db.is_file and db.exists() else None
    if path is not None or db.connection is None:
        return rules.lint(found, path=path, settings=settings, data_rules=data_rules)
    with db.connect(write=False) as conn:
        return rules.lint(found, conn=conn, settings=settings, data_rules=data_rules,
                          lake=db.owned and db.path is None)
