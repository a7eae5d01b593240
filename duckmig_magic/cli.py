"""The ``duckmig`` command: each verb is one call into ``Migrator``.

Exit codes: 0 ok, 1 a migration failed, 2 usage or configuration, 3 drift or
a failed verification.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, is_dataclass
from datetime import datetime
from pathlib import Path, PurePath

from . import config, errors
from .engine import Migrator
from .text import TextProgress, error_line, format_table, ignored_files_as_lines, preview_lines, status_lines

EPILOG = """settings come from flags, then DUCKMIG_DATABASE / DUCKMIG_DIR, then [tool.duckmig]
in the nearest pyproject.toml. Exit codes: 0 ok, 1 a migration failed,
2 usage or configuration, 3 drift, a failed verification or a refused export."""


class UsageError(errors.ConfigError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit code 2, as argparse does, but as our error
        verb = self.prog.partition(" ")[2]  # main() prints the "duckmig: " before it
        raise UsageError(f"{verb}: {message}" if verb else message, f"`{self.prog} --help` lists the arguments")


def _common(parser: argparse.ArgumentParser, suppress: bool) -> None:
    d = argparse.SUPPRESS if suppress else None
    g = parser.add_argument_group("where")
    g.add_argument("--database", "-d", default=d, metavar="PATH",
                   help="the DuckDB database file, or :memory: (DUCKMIG_DATABASE)")
    g.add_argument("--dir", dest="directory", default=d, metavar="DIR",
                   help="the migrations directory, holding versions/ (DUCKMIG_DIR; default: migrations)")
    g.add_argument("--table", default=d, help="the ledger table (default: duckdb_migrations)")
    g.add_argument("--wait", type=float, default=argparse.SUPPRESS if suppress else 0.0, metavar="SECONDS",
                   help="wait up to SECONDS for another process's lock on the database")
    g.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                   help="print machine-readable JSON")


def _arg(*flags, **kw):
    return flags, kw


# Each verb's own arguments; `%migrate VERB` in a notebook takes the same ones.
VERBS: dict[str, tuple[str, list]] = {
    "init": ("create the migrations directory and its versions/ folder", []),
    "new": ("create a version file from a template (SQL unless --python)", [
        _arg("description", help="what the migration does; its slug names the file"),
        _arg("--python", action="store_true", help="write the Python class form")]),
    "up": ("apply pending migrations, each in its own transaction", [
        _arg("target", nargs="?", help="apply through this version (default: all)"),
        _arg("--out-of-order", action="store_true",
             help="also apply pending migrations older than the newest applied one"),
        _arg("--allow-drift", action="store_true", help="apply even though applied files were edited or deleted"),
        _arg("--single-transaction", action="store_true",
             help="apply the whole run in one transaction: all of it lands or none of it")]),
    "down": ("revert the newest migration; with TARGET, everything newer than TARGET", [
        _arg("target", nargs="?", help="keep this version, revert all newer ones; 'base' reverts all"),
        _arg("--steps", type=int, help="revert this many migrations")]),
    "redo": ("revert the newest migration and apply it again", [
        _arg("--out-of-order", action="store_true", help="as for up"),
        _arg("--allow-drift", action="store_true", help="as for up")]),
    "status": ("list migrations with their state", []),
    "history": ("list the ledger's events (applied, reverted, failed, ...)", [
        _arg("version", nargs="?", help="only this version's events")]),
    "verify": ("check applied files against their checksums", [
        _arg("--roundtrip", action="store_true",
             help="also run up, down, up for each pending migration in a rolled-back transaction")]),
    "stamp": ("record migrations through VERSION as applied without running them", [
        _arg("version", help="the newest version to record as applied")]),
    "repair": ("accept edited files, clear failed attempts, forget rows of deleted files", []),
    "sql": ("print the SQL that `up` would run, without running it", [
        _arg("target", nargs="?", help="through this version (default: all)"),
        _arg("--out-of-order", action="store_true", help="as for up"),
        _arg("--allow-drift", action="store_true", help="as for up")]),
    "preview": ("show what `up` would do to the schema and the rows: applied in a transaction that is "
                "rolled back", [
        _arg("target", nargs="?", help="through this version (default: all pending)"),
        _arg("--key", action="append", metavar="TABLE=COLUMN[,COLUMN...]",
             help="the columns that identify a table's rows where it has no primary key (repeatable); "
                  "without one, whole rows are compared"),
        _arg("--sample", type=int, metavar="N", help="show up to N added, removed or changed rows a table "
                                                     "(default: 20)"),
        _arg("--out-of-order", action="store_true", help="as for up"),
        _arg("--allow-drift", action="store_true", help="as for up")]),
    "export": ("write a notebook's migration cells as version files, as running each cell would; a cell "
               "whose migration is applied in the database (if one is given) and whose text changed is "
               "refused, with exit code 3", [
        _arg("notebook", nargs="?", help="the .ipynb file, as last saved (in a notebook: the running one)"),
        _arg("--force", action="store_true",
             help="also overwrite the files of applied migrations whose cell changed (status then shows "
                  "them as modified)")]),
    "notebook": ("build a notebook with a migration cell per version file; exporting it gives the same "
                 "files back", [
        _arg("-o", "--output", metavar="FILE", help="write the notebook to FILE (default: print it)"),
        _arg("--force", action="store_true", help="replace FILE if it exists")]),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="duckmig", description="Versioned DuckDB migrations.", epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"duckmig {_version()}")
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def command(name, help_, **kw):
        p = sub.add_parser(name, help=help_, description=help_, **kw)
        _common(p, suppress=True)
        return p

    for name, (help_, arguments) in VERBS.items():
        p = command(name, help_)
        for flags, kw in arguments:
            p.add_argument(*flags, **kw)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (the console script exits with it)."""
    try:
        with ignored_files_as_lines("duckmig: warning: "):
            args = build_parser().parse_args(argv)
            return COMMANDS[args.command](args, sys.stdout) or 0
    except errors.Interrupted as exc:  # one line: what became of the migration that was running
        print(f"duckmig: {exc}", file=sys.stderr)
        return exc.exit_code
    except errors.DuckmigError as exc:
        print(f"duckmig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # outside any migration: the engine turns those into Interrupted
        print("duckmig: interrupted (`duckmig status` shows what is applied)", file=sys.stderr)
        return 130


def _migrator(args, *, progress: bool = False) -> Migrator:
    if getattr(args, "migrator", None) is not None:  # the notebook magics hand in the one they hold
        return args.migrator
    settings = config.resolve(args.database, args.directory, args.table)
    if settings.database is None:
        raise errors.NoDatabaseGiven()
    report = None
    if progress and not args.json:
        report = TextProgress(sys.stderr)
    return Migrator(settings.database, settings.directory, table=settings.table, wait=args.wait,
                    progress=report)


def _emit(args, out, data, text: str) -> None:
    if args.json:
        json.dump(_jsonable(data), out, indent=2)
        out.write("\n")
    elif text:
        out.write(text if text.endswith("\n") else text + "\n")


def _jsonable(data):
    if is_dataclass(data):
        return _jsonable(asdict(data))
    if isinstance(data, dict):
        return {k: _jsonable(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_jsonable(v) for v in data]
    if isinstance(data, datetime):
        return data.isoformat()
    if isinstance(data, PurePath):
        return str(data)
    return data


def cmd_init(args, out):
    settings = config.resolve(args.database, args.directory, args.table)
    from pathlib import Path

    versions = Path(settings.directory) / "versions"
    existed = versions.is_dir()
    versions.mkdir(parents=True, exist_ok=True)
    _emit(args, out, {"directory": str(versions), "created": not existed},
          f"{'exists' if existed else 'created'}: {versions}")


def cmd_new(args, out):
    settings = config.resolve(args.database, args.directory, args.table)
    m = Migrator(":memory:", settings.directory)
    script = m.new(args.description, python=args.python)
    _emit(args, out, {"version": script.version, "path": str(script.path)}, f"created: {script.path}")


def _steps_text(results, verb: str) -> str:
    if not results:
        return f"nothing to {verb}"
    return f"{'applied' if verb == 'apply' else 'reverted'} {len(results)} migration{'s' * (len(results) != 1)}"


def _run(args, verb: str, *a, **kw):
    """``Migrator.up/down/redo`` with progress lines; a failure ends the open line first."""
    m = _migrator(args, progress=True)
    try:
        return getattr(m, verb)(*a, **kw)
    except BaseException as exc:
        if isinstance(m.progress, TextProgress):
            m.progress.fail(exc)
        raise


def cmd_up(args, out):
    results = _run(args, "up", args.target, out_of_order=args.out_of_order, allow_drift=args.allow_drift,
                   single_transaction=args.single_transaction)
    _emit(args, out, results, _steps_text(results, "apply"))


def cmd_down(args, out):
    results = _run(args, "down", args.target, steps=args.steps)
    _emit(args, out, results, _steps_text(results, "revert"))


def cmd_redo(args, out):
    results = _run(args, "redo", out_of_order=args.out_of_order, allow_drift=args.allow_drift)
    _emit(args, out, results, f"redid {results[0].version}")


def cmd_status(args, out):
    report = _migrator(args).status()
    _emit(args, out, {"database": report.database, "directory": report.directory,
                      "migrations": report.migrations}, "\n".join(status_lines(report)))


def cmd_history(args, out):
    events = _migrator(args).history(args.version)
    rows = [[e.seq, e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"), e.version or "", e.event,
             "" if e.execution_ms is None else f"{e.execution_ms:.1f}", e.detail or ""] for e in events]
    text = format_table(["#", "AT (UTC)", "VERSION", "EVENT", "MS", "DETAIL"], rows) if rows else "no events"
    _emit(args, out, events, text)


def cmd_verify(args, out):
    report = _migrator(args).verify(roundtrip=args.roundtrip)
    lines = [f"{v}  {state}: {error_line(detail)}" for v, state, detail in report.problems]
    if args.roundtrip:
        lines += [f"{v}  roundtrip ok" for v in report.roundtrip]
    lines.append(f"checked {report.checked} applied migration{'s' * (report.checked != 1)}"
                 + (f", round-tripped {len(report.roundtrip)}" if args.roundtrip else "")
                 + (f" ({report.replays} replay{'s' * (report.replays != 1)})" if report.replays else "")
                 + (": ok" if report.ok else f": {len(report.problems)} problem{'s' * (len(report.problems) != 1)}"))
    _emit(args, out, {"ok": report.ok, "checked": report.checked, "roundtrip": report.roundtrip,
                      "problems": [dict(zip(("version", "state", "detail"), p)) for p in report.problems]},
          "\n".join(lines))
    return 0 if report.ok else errors.VerificationFailed.exit_code


def cmd_stamp(args, out):
    stamped = _migrator(args).stamp(args.version)
    _emit(args, out, stamped, "\n".join([f"stamped {v}" for v in stamped] or ["nothing to stamp"]))


def cmd_repair(args, out):
    actions = _migrator(args).repair()
    _emit(args, out, [{"version": v, "action": a} for v, a in actions],
          "\n".join([f"{v}  {a}" for v, a in actions] or ["nothing to repair"]))


def cmd_sql(args, out):
    text = _migrator(args).sql(args.target, out_of_order=args.out_of_order, allow_drift=args.allow_drift)
    _emit(args, out, {"sql": text}, text or "-- nothing to apply")


def preview_keys(options: list[str] | None) -> dict[str, str]:
    """``--key TABLE=COLUMN[,COLUMN...]`` options as ``{table: columns}``."""
    keys = {}
    for option in options or []:
        table, _, columns = option.partition("=")
        if not table.strip() or not columns.strip():
            raise UsageError(f"preview: --key takes TABLE=COLUMN[,COLUMN...], not {option!r}",
                             "for example --key events=day,seq")
        keys[table.strip()] = columns
    return keys


def cmd_preview(args, out):
    keys = preview_keys(args.key)
    p = _migrator(args).preview(args.target, keys=keys, sample=20 if args.sample is None else args.sample,
                                out_of_order=args.out_of_order, allow_drift=args.allow_drift)
    _emit(args, out, p.to_dict(), "\n".join(preview_lines(p)))
    return 0 if p.ok else p.failed.exit_code


def cmd_export(args, out):
    from .notebooks import export_notebook

    if args.notebook is None:
        raise UsageError("export: give the notebook to export", "`duckmig export NOTEBOOK.ipynb`")
    target = getattr(args, "migrator", None)
    if target is None:  # without a database, nothing counts as applied
        settings = config.resolve(args.database, args.directory, args.table)
        target = _migrator(args) if settings.database else settings.directory
    results = export_notebook(args.notebook, target, force=args.force)
    lines = [f"{r.action}: {r.path} (cell {r.index}, version {r.version})" if r.action != "refused"
             else f"refused: cell {r.index} ({r.slug}): {r.reason}" for r in results]
    counts = {a: sum(r.action == a for r in results) for a in ("created", "updated", "unchanged", "refused")}
    lines.append(", ".join(f"{n} {a}" for a, n in counts.items() if n))
    if counts["refused"]:
        lines.append("hint: revert a refused migration first (`duckmig down VERSION` keeps VERSION and reverts "
                     "the newer ones), or pass --force to overwrite its file")
    _emit(args, out, results, "\n".join(lines))
    return errors.VerificationFailed.exit_code if counts["refused"] else 0


def cmd_notebook(args, out):
    import nbformat

    from .notebooks import METADATA_KEY, build_notebook, write_notebook

    settings = config.resolve(args.database, args.directory, args.table)
    folder = Path(args.output).parent if args.output else Path.cwd()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nb = build_notebook(settings.directory, database=settings.database, folder=folder)
    for w in caught:
        print(f"duckmig: warning: {w.message}", file=sys.stderr)
    if not args.output:
        out.write(nbformat.writes(nb) + "\n")
        return
    path = write_notebook(nb, args.output, force=args.force)
    cells = sum(METADATA_KEY in c.metadata for c in nb.cells)
    _emit(args, out, {"path": str(path), "migrations": cells},
          f"wrote {path}: {cells} migration cell{'s' * (cells != 1)}")


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
