"""The text each verb's result prints, in the words of the interface that shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import commands as c
from ..wording import PYTHON, Words
from . import status
from .common import error_line, plural, terminal_safe, text_table
from .progress import summary

if TYPE_CHECKING:
    from ..engine import SchemaDiff

# Actions the results name, worded by the interface that shows them.
TRUST, FORCE, DOWN_TO = "{flag:trust_stored_python}", "{flag:force}", "{do:down VERSION}"


def text(result, words: Words = PYTHON) -> str:
    """What a verb's result says, safe to print; a notebook built without a file is the notebook itself."""
    if isinstance(result, c.NotebookBuilt) and result.path is None:
        import nbformat

        return nbformat.writes(result.notebook)
    return terminal_safe(TEXTS[type(result).__name__](result, words))


def _history(r: c.History, words: Words) -> str:
    if not r.events:
        return "no events"
    return text_table(["#", "AT (UTC)", "VERSION", "EVENT", "MS", "DETAIL"], [
        [e.seq, e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), e.version or "", e.event,
         "" if e.execution_ms is None else f"{e.execution_ms:.1f}", e.detail or ""] for e in r.events])


def _verified(r: c.Verified, words: Words) -> str:
    from ..engine import Finding  # upkeep's: loaded by verify, which made ``r``

    report = r.report
    lines = [f"{p.version}  {p.state}: "
             + (status.downgrade_differs(words) if p.state is Finding.DOWNGRADE_DIFFERS else error_line(p.detail))
             + (f"\n  hint: {p.hint}" if p.hint else "") for p in report.problems]
    if r.roundtrip:
        lines += [f"{v}  roundtrip ok" for v in report.roundtrip]
    lines.append(f"checked {plural(report.checked, 'applied migration')}"
                 + (f", round-tripped {len(report.roundtrip)}" if r.roundtrip else "")
                 + (", the catalog against them replayed" if report.schema_checked else "")
                 + (f" ({plural(report.replays, 'replay')})" if report.replays else "")
                 + (": ok" if report.ok else f": {plural(len(report.problems), 'problem')}"))
    return "\n".join(lines)


def schema_diff_text(r: SchemaDiff, words: Words, *, with_preview: bool = True) -> str:
    """A schema diff's migration, what it changes and loses; its preview's text too, unless the
    interface shows the preview its own way."""
    towards = "the database to the files' schema" if r.applied_by_hand else f"the database to {r.source}"
    if r.empty:
        return (f"no difference: {r.source} matches what the applied migrations make" if r.applied_by_hand
                else f"no difference: the database has the schema of {r.source}")
    lines = [f"the migration that takes {towards}: {plural(len(r.changes), 'change')}"]
    lines += [f"  {error_line(str(c))}" for c in r.changes]
    if r.undecided:
        lines.append("likely renames, taken as renames below (rows kept) until decided: --rename OLD=NEW keeps "
                     "one, --no-rename OLD drops and adds instead, losing its data")
        lines += [f"  {c.kind} {c.old} -> {c.new}" for c in r.undecided]
    if r.preview is not None and r.preview.warning_list:
        lines.append("warnings (what applying it to the database loses):")
        lines += [f"  {error_line(w.message)}" for w in r.preview.warning_list]
    lines += [f"cannot: {error_line(c)}" for c in r.cannot] + [f"note: {error_line(n)}" for n in r.notes]
    if r.rebuilt:
        lines.append(f"note: rebuilt, keeping their rows (DuckDB has no ALTER for the change): {', '.join(r.rebuilt)}; "
                     "the preview sees each as replaced, and counts the values of a column renamed in it as dropped "
                     "although they are copied")
    lines.append(r.body.rstrip("\n"))
    if r.preview is not None and with_preview:
        from . import changes

        lines += ["", "preview of applying it:", changes.text(r.preview)]
    if r.saved is not None:
        lines.append(f"saved: {_here(str(r.saved.path))} ({r.saved.action})")
        if r.applied_by_hand:
            lines.append(f"the database has it already: {words('{do:stamp ' + r.saved.version + '}')} records it "
                         "as applied (and any pending migration older than it)")
    return "\n".join(lines)


def _here(path: str) -> str:
    """``path`` from the current folder when it is below it, as the other verbs show files."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if relative.startswith("..") else relative


def _restored(r: c.Restored, words: Words) -> str:
    from ..engine import NotRestored  # upkeep's: loaded by restore, which made ``r``

    lines = [f"restored {_here(x.path)}" if x.path else f"{x.version}  not restored: {x.reason}" for x in r.restored]
    if any(x.skipped is NotRestored.UNTRUSTED_PYTHON for x in r.restored):
        lines.append(f"hint: read their text in the ledger (its source column), then pass "
                     f"{words(TRUST)} to write them back")
    return "\n".join(lines or ["nothing to restore: no applied migration's file is missing"])


def _exported(r: c.Exported, words: Words) -> str:
    lines = [f"{x.action}: cell {x.index} ({x.slug}): {x.reason}" if x.action in ("refused", "stale")
             else f"{x.action}: {x.path} (cell {x.index}, version {x.version})" for x in r.cells]
    counts = {a: sum(x.action == a for x in r.cells)
              for a in ("created", "updated", "restored", "unchanged", "refused", "stale")}
    lines.append(", ".join(f"{n} {a}" for a, n in counts.items() if n))
    if counts["restored"]:
        lines.append("restored: their files were gone, so each was written again with the version the "
                     "database applied it as")
    if counts["stale"]:
        lines.append(f"hint: {words('{do:export NOTEBOOK.ipynb}')} writes the cells' files")
    if counts["refused"]:
        lines.append(f"hint: revert a refused migration first ({words(DOWN_TO)} keeps VERSION and "
                     f"reverts the newer ones), or pass {words(FORCE)} to overwrite its file")
    return "\n".join(lines)


def _kept(r: c.KeptData, words: Words) -> str:
    if r.pruned:
        if not r.kept:
            return "nothing to prune: no migration keeps data"
        lake = any(k.rows is None for k in r.kept)
        return "\n".join([f"pruned {k.version}  {k.table}: " + (f"{plural(k.rows, 'row')}, {_size(k.bytes)}"
                          if k.rows is not None else "held by the lake's snapshots") for k in r.kept]
                         + [f"freed {_size(sum(k.bytes for k in r.kept))} of kept data "
                            f"({plural(sum(k.rows or 0 for k in r.kept), 'row')}); those migrations now revert "
                            "their schema only"]
                         + (["the lake's own snapshot expiry (ducklake_expire_snapshots, then "
                             "ducklake_cleanup_old_files) frees what its snapshots hold"] if lake else []))
    if not r.kept:
        return "nothing kept"
    rows = [[k.version, k.table, "-" if k.rows is None else k.rows, _size(k.bytes), k.state] for k in r.kept]
    total = sum(k.bytes for k in r.kept)
    return text_table(["VERSION", "TABLE", "ROWS", "BYTES", "STATE"], rows) + f"\ntotal {_size(total)}"


_size = status.kept_size


def _linted(r: c.Linted, words: Words) -> str:
    if r.rules:
        return "\n".join(f"{x.id}  {x.severity:<7}  {x.name}  (DuckDB {x.versions}{', reads rows' if x.data else ''})"
                         f"\n    {x.why}\n    fix: {x.fix}" for x in r.rules)
    unread = (f"the database's schema could not be copied for the lint ({r.unread}), so the rules that read it "
              "judged the migrations as if the database were empty") if r.unread else ""
    if r.format == "github":
        return "\n".join([_annotation(f) for f in r.findings] + ([f"::notice::{_data(unread)}"] if unread else []))
    lines = [diff.rstrip("\n") for _, diff in r.fixed]
    lines += [f"fixed {_here(file)}" for file, _ in r.fixed]
    for f in r.findings:
        down = " (downgrade)" if f.section == "down" else ""
        lines += [f"{_here(f.file)}:{f.line}: {f.rule} {f.severity}{down}: {f.message}", f"  why: {f.why}",
                  f"  fix: {f.fix}"]
    if r.findings:
        counts = {s: sum(f.severity == s for f in r.findings) for s in ("error", "warning", "info")}
        lines.append(", ".join(plural(n, s) for s, n in counts.items() if n)
                     + f" in {plural(len(r.checked), 'migration')}")
    if unread:
        lines.append(f"note: {unread}")
    return "\n".join(lines)


def _annotation(f) -> str:
    """A GitHub workflow command: ``::error file=F,line=N,title=T::MESSAGE``, escaped as the runner reads it."""
    level = {"error": "error", "warning": "warning"}.get(f.severity, "notice")

    def prop(text: str) -> str:
        return _data(text).replace(":", "%3A").replace(",", "%2C")

    return (f"::{level} file={prop(_here(f.file))},line={f.line},title={prop(f.rule)}::"
            f"{_data(f.message + '. Fix: ' + f.fix)}")


def _data(text: str) -> str:
    """A workflow command's message, escaped as the runner reads it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _preview(r, words: Words) -> str:
    from . import changes  # the text of a preview's diff: only preview loads the diff's modules

    return changes.text(r)


# Each verb's result's text, by the name of its class (one name a class: tests/test_docs.py checks it).
# Named rather than imported, so that rendering one verb's result loads no other verb's modules.
TEXTS = {
    "KeptData": _kept,
    "Initialized": lambda r, words: f"{'created' if r.created else 'exists'}: {r.directory}",
    "Created": lambda r, words: f"created: {r.path}",
    "Ran": lambda r, words: summary(r.verb, r.steps, timed=False),
    "StatusReport": status.text,
    "History": _history,
    "Verified": _verified,
    "Stamped": lambda r, words: "\n".join([f"stamped {v}" for v in r.versions] or ["nothing to stamp"]),
    "Restored": _restored,
    "Repaired": lambda r, words: "\n".join([f"{x.version}  {x.action}" for x in r.repairs] or ["nothing to repair"]),
    "Sql": lambda r, words: r.sql or "-- nothing to apply",
    "Preview": _preview,
    "SchemaDiff": schema_diff_text,
    "Exported": _exported,
    "Linted": _linted,
    "NotebookBuilt": lambda r, words: f"wrote {r.path}: {plural(r.cells, 'migration cell')}",
}
