"""A catalogue of bad input: what the user sees, and that nothing changed.

One table, one line a case: files, names, command arguments, settings,
notebooks, magics and the database. A new bad input goes here. Each case runs
in a copy of one project (a SQL and a Python migration applied, a SQL one
pending), checks the exact error (its class, its text in the words of the
interface that shows it, the exit code; for magics IPython's UsageError), and
compares every file's bytes and every table's rows, the ledger's among them,
before and after.
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import duckdb
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from duckmig_magic import Migrator, cli, config, errors
from duckmig_magic.engine import authoring
from duckmig_magic.engine.versions import ScriptDirectory

V1, V2, V3, V4 = "20250101_000001", "20250102_000002", "20250103_000003", "20250104_000004"
F1, F2, F3 = f"{V1}_create_items.sql", f"{V2}_add_price.py", f"{V3}_add_tags.sql"
BAD = f"{V4}_bad.sql"
BADPY = f"{V4}_bad.py"
UP = "up -d app.db --dir migrations"
LAKE_UP = "up -d ducklake:lake.ducklake --dir migrations --data-path lake-data/"
FILES = {
    F1: "-- migrate:up\nCREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR);\n"
        "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');\n-- migrate:down\nDROP TABLE items;\n",
    F2: "from duckmig_magic import BaseMigration\n\n\nclass AddPrice(BaseMigration):\n"
        f"    def __init__(self):\n        super().__init__(version=\"{V2}\", description=\"Add price\")\n\n"
        "    def upgrade(self, session):\n"
        "        session.exec(\"ALTER TABLE items ADD COLUMN price DOUBLE DEFAULT 1.5\")\n\n"
        "    def downgrade(self, session):\n        session.exec(\"ALTER TABLE items DROP COLUMN price\")\n",
    F3: "-- migrate:up\nCREATE TABLE tags (name VARCHAR);\n-- migrate:down\nDROP TABLE tags;\n",
}


def python(body: str, version: str = V4, classes: str = "class Bad(BaseMigration):") -> str:
    return (f"from duckmig_magic import BaseMigration\n\n{classes}\n    def __init__(self):\n"
            f"        super().__init__(version=\"{version}\")\n\n    def upgrade(self, session):\n        {body}\n")


EXPORT = "export nb.ipynb --dir migrations"
NOTES = "-- migrate:up\nCREATE TABLE notes (body VARCHAR);\n\n-- migrate:down\nDROP TABLE notes;\n"
GOOD = "%%migration add_notes\n" + NOTES
BIG = "-- migrate:up\nINSERT INTO items (id, name) SELECT range + 10, 'x' FROM range(200000);\n"  # written at COMMIT
HUGE = "-- migrate:up\nCREATE TABLE huge AS SELECT hash(range) AS h FROM range(2000000);\n"  # written as it runs


@dataclass
class Case:
    name: str
    run: str  # `duckmig ARGS` (run in the project folder), or a cell with a line of magics (%)
    error: type
    says: str  # text of the message; {pid} is the holder's pid when the database is held
    code: int = 2  # the command's exit code
    files: dict = field(default_factory=dict)  # version files to write (str or bytes)
    sql: str = ""  # run on the database first
    pyproject: str | None = None
    api: Callable | None = None  # instead of `run`: a call with the project folder
    hold: bool = False  # another process holds the database open
    immutable: bool = False  # the database file cannot be written, even by root
    disk: bool = False  # the database lives on a tmpfs with no room left for the change
    connect: str | None = "app.db"  # magics: `%migrate connect` this first
    notebook: object = None  # nb.ipynb: its bytes, its cells (source, or ("md", text)), or "truncated"
    failure_recorded: str | None = None  # a migration that failed: its ledger row may say so
    prepare: Callable | None = None  # a change to the project (root -> None) the files above cannot make
    unreadable: str | None = None  # this file or folder of the project gets mode 000, and the command runs
    # in it (a folder) or beside it (a file) in a process of its own, which cannot override modes as root can


def up_in_open_transaction(root: Path):
    conn = duckdb.connect(str(root / "app.db"))
    conn.execute("BEGIN TRANSACTION")
    try:
        Migrator(conn, str(root / "migrations")).up()
    finally:
        conn.close()


def save(root: Path, slug: str, body: str = "-- migrate:up\nSELECT 1;\n", version: str | None = None):
    authoring.save(ScriptDirectory(root / "migrations"), slug, body, version=version)


def schema_file(text: str) -> Callable:
    """A preparation: schema.sql in the project folder, holding ``text``."""
    def write(root: Path) -> None:
        (root / "schema.sql").write_text(text)
    return write


DIFF = "diff --to schema.sql -d app.db --dir migrations"
RENAMED = "CREATE TABLE items (id INTEGER PRIMARY KEY, title VARCHAR, price DOUBLE DEFAULT 1.5);\n"


def ledger_names(filename: str) -> Callable:
    """A case's preparation: F1's file is gone, and the ledger stores ``filename`` as its name."""
    def prepare(root: Path) -> None:
        (root / "migrations" / "versions" / F1).unlink()
        with duckdb.connect(str(root / "app.db")) as conn:
            conn.execute("UPDATE duckdb_migrations SET filename = ? WHERE version = ?", [filename, V1])
    return prepare


def linked(name: str) -> Callable:
    """A case's preparation: versions/NAME is a link to a migration outside the project."""
    def prepare(root: Path) -> None:
        outside = root.parent / "outside.sql"
        outside.write_text("-- migrate:up\nCREATE TABLE leaked AS SELECT 'precious' AS secret;\n")
        (root / "migrations" / "versions" / name).symlink_to(outside)
    return prepare


def tampered_kept_data(root: Path) -> None:
    """F3 applied with a migration that deletes a row of items, then what duckmig kept of it deleted by hand."""
    (root / "migrations" / "versions" / f"{V4}_trim.sql").write_text(
        "-- migrate:up\nDELETE FROM items WHERE id = 3;\n-- migrate:down\n-- migrate:restore\n")
    Migrator(str(root / "app.db"), str(root / "migrations")).up()
    with duckdb.connect(str(root / "app.db")) as conn:
        conn.execute(f'DELETE FROM duckmig_kept."{V4}.items#1"')


def nested(depth: int) -> bytes:
    """A notebook whose one cell's metadata nests ``depth`` lists deep."""
    return (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "id": "c0", '
            b'"metadata": {"x": ' + b"[" * depth + b"]" * depth + b'}, "outputs": [], "execution_count": null, '
            b'"source": "%%migration add_notes\\n-- migrate:up\\nSELECT 1;\\n"}]}')


def same_ids(*cells: tuple[str, str]) -> bytes:
    """A notebook of code cells given as (id, source), ids as given, repeated or not."""
    import json

    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": i, "metadata": {}, "outputs": [], "execution_count": None, "source": source}
        for i, source in cells]}).encode()


TOO_LONG = f"{V1}_{'a' * 300}.sql"  # longer than a file system allows a name
LONG = f"{V1}_{'a' * 214}.sql"  # 234 characters: a file system allows it, and not its temporary name beside it
TOO_DEEP = "is not a Jupyter notebook: its JSON is nested too deeply to be read (a notebook's nests a few levels)\n  hint: give the .ipynb file that holds the migration cells"
TWINS = same_ids(("same", GOOD), ("other", "x = 1"), ("same", "%%migration add_more\n" + NOTES))
LINK = "is a symbolic link; duckmig reads and writes a version file only as a regular file in versions/, and follows no link out of it\n  hint: put the file itself in its place (or remove the link), then run this again"


C = Case
CASES = [
    # -- files -------------------------------------------------------------------------------------------------
    C("sql without up marker", UP, errors.MigrationFileError, f"{BAD}: a SQL migration needs a `-- migrate:up` line", files={BAD: "CREATE TABLE x (id INTEGER);\n"}),
    C("up marker twice", UP, errors.MigrationFileError, f"{BAD}:3: `-- migrate:up` appears twice (lines 1 and 3)", files={BAD: "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"}),
    C("down before up", UP, errors.MigrationFileError, f"{BAD}:1: `-- migrate:down` must come after `-- migrate:up`", files={BAD: "-- migrate:down\nSELECT 1;\n-- migrate:up\nSELECT 2;\n"}),
    C("statement before up", UP, errors.MigrationFileError, f"{BAD}:2: only comments may stand before", files={BAD: "-- fine\nSELECT 0;\n-- migrate:up\nSELECT 1;\n"}),
    C("unknown option", UP, errors.MigrationFileError, f"{BAD}:1: unknown option `transaction:maybe`", files={BAD: "-- migrate:up transaction:maybe\nSELECT 1;\n"}),
    C("unknown keep option", UP, errors.MigrationFileError, f"{BAD}:1: unknown option `keep:maybe`; keep:false (or keep:true) says whether duckmig keeps what the migration destroys", files={BAD: "-- migrate:up keep:maybe\nSELECT 1;\n"}),
    C("restore marker in the up section", UP, errors.MigrationFileError, f"{BAD}:3: `-- migrate:restore` stands alone on a line of the `-- migrate:down` section\n  hint: put it under `-- migrate:down`, after the downgrade's statements", files={BAD: "-- migrate:up\nSELECT 1;\n-- migrate:restore\n"}),
    C("prune through no version", "prune --through 2025 -d app.db --dir migrations", errors.ConfigError, "'2025' is not a version: versions look like 20250710_000001"),
    C("down over tampered kept data", "down -d app.db --dir migrations", errors.StateError, f"{V4} was not reverted: duckmig cannot restore what it kept: the kept data of items (\"app\".\"duckmig_kept\".\"{V4}.items#1\") holds other rows than duckmig kept; nothing was reverted\n  hint: to revert its schema only and leave its data as it is, forget its kept data with `duckmig prune` first", prepare=tampered_kept_data),
    C("keep setting not a boolean", UP, errors.ConfigError, "[tool.duckmig] keep must be true or false, not 'no'", pyproject="[tool.duckmig]\nkeep = 'no'\n"),
    C("unknown marker", UP, errors.MigrationFileError, f"{BAD}:3: unknown marker `-- migrate:sideways`", files={BAD: "-- migrate:up\nSELECT 1;\n-- migrate:sideways\n"}),
    C("empty up section", UP, errors.MigrationFileError, f"{BAD}:1: the `-- migrate:up` section has no statement", files={BAD: "-- migrate:up\n-- nothing\n-- migrate:down\nSELECT 1;\n"}),
    C("sql syntax error", UP, errors.MigrationFileError, f"{BAD}:3: Parser Error: syntax error at or near \"TABEL\"", files={BAD: "-- migrate:up\nSELECT 1;\nCREATE TABEL x (id INTEGER);\n"}),
    C("not utf-8", UP, errors.MigrationFileError, f"{BAD}:2: the file is not UTF-8 text", files={BAD: b"-- migrate:up\nSELECT '\xff';\n"}),
    C("python syntax error", UP, errors.MigrationFileError, f"{BADPY}:8: Python syntax error: '(' was never closed", files={BADPY: python("session.exec(")}),
    C("python import fails", UP, errors.MigrationFileError, "No module named 'no_such_module'", files={BADPY: "import no_such_module\n" + python("pass")}),
    C("python without class", UP, errors.MigrationFileError, f"{BADPY}: a Python migration defines exactly one BaseMigration subclass; this file defines no", files={BADPY: "x = 1\n"}),
    C("python with two classes", UP, errors.MigrationFileError, "this file defines 2 (A, B)", files={BADPY: python("pass", classes="class A(BaseMigration):\n    pass\n\n\nclass B(BaseMigration):")}),
    C("python version mismatch", UP, errors.MigrationFileError, f"has version '{V1}' but the file name says {V4}", files={BADPY: python("pass", version=V1)}),
    C("two files, one version", UP, errors.MigrationFileError, f"version {V4} is used by 2 files: {BADPY}, {BAD}\n  hint: give one of them a new version (rename it, or recreate it with `duckmig new`)", files={BAD: FILES[F3], BADPY: python("pass")}),
    C("applied file edited", UP, errors.DriftError, f"applied migrations differ from their files: {V1} (modified)\n  hint: `duckmig verify` shows the details; accept intended edits with `duckmig repair`, restore the files, or pass --allow-drift to apply on top of them", code=3, files={F1: FILES[F1].replace("INSERT", "-- edited\nINSERT")}),
    C("migration fails at runtime", UP, errors.MigrationFailed, f"applying {V3} failed: Catalog Error: Table with name nope does not exist!", code=1, files={F3: "-- migrate:up\nCREATE TABLE tags (name VARCHAR);\nINSERT INTO nope VALUES (1);\n-- migrate:down\nDROP TABLE tags;\n"}, failure_recorded=V3),
    C("lint: suppression without a reason", "lint -d app.db --dir migrations", errors.MigrationFileError, f"{BAD}:2: `-- duckmig: ignore DM203` gives no reason\n  hint: say why it is safe: `-- duckmig: ignore DM203 the table is empty`", files={BAD: "-- migrate:up\nDROP TABLE tags; -- duckmig: ignore DM203\n"}),
    C("lint: suppression of an unknown rule", "lint -d app.db --dir migrations", errors.MigrationFileError, f"{BAD}:2: `-- duckmig: ignore` names an unknown rule DM999\n  hint: `duckmig lint --rules` lists the rules", files={BAD: "-- migrate:up\nDROP TABLE tags; -- duckmig: ignore DM999 it is fine\n"}),
    C("lint: unknown rule in the settings", "lint -d app.db --dir migrations", errors.ConfigError, "[tool.duckmig.lint]: unknown rule DM999\n  hint: `duckmig lint --rules` lists the rules", pyproject="[tool.duckmig.lint]\ndisable = ['DM999']\n"),
    C("lint: a file that does not parse", "lint -d app.db --dir migrations", errors.MigrationFileError, f"{BAD}:3: Parser Error: syntax error at or near \"TABEL\"", files={BAD: "-- migrate:up\nSELECT 1;\nCREATE TABEL x (id INTEGER);\n"}),
    C("up stopped by a lint error", UP, errors.LintRefused, f"{BAD}:2: DM107 ALTER TABLE ... ADD CHECK: DuckDB has not implemented it (Not implemented Error); nothing was applied", code=1, files={BAD: "-- migrate:up\nALTER TABLE items ADD CHECK (id > 0);\n"}),
    C("version file that is a link", UP, errors.ConfigError, f"migrations/versions/{V4}_linked.sql {LINK}", prepare=linked(f"{V4}_linked.sql")),
    C("status over a version file that is a link", "status -d app.db --dir migrations", errors.ConfigError, f"migrations/versions/{V4}_linked.sql {LINK}", prepare=linked(f"{V4}_linked.sql")),
    C("preview of COPY ... TO", "preview -d app.db --dir migrations", errors.PreviewRefused, f"cannot preview {V4}: it runs `COPY (SELECT * FROM items) TO 'leak.csv'`, and COPY ... TO writes a file; a preview leaves everything as it was", files={BAD: "-- migrate:up\nINSERT INTO items (id) VALUES (9);\nCOPY (SELECT * FROM items) TO 'leak.csv';\n"}),
    C("preview of ATTACH", "preview -d app.db --dir migrations", errors.PreviewRefused, f"cannot preview {V4}: it runs `ATTACH 'other.db' AS other`, and ATTACH creates a database file where there is none", files={BAD: "-- migrate:up\nATTACH 'other.db' AS other;\nCREATE TABLE other.t (x INTEGER);\n"}),
    C("preview of EXPORT DATABASE", "preview -d app.db --dir migrations", errors.PreviewRefused, f"cannot preview {V4}: it runs `EXPORT DATABASE 'dump'`, and EXPORT DATABASE writes files", files={BAD: "-- migrate:up\nEXPORT DATABASE 'dump';\n"}),
    # -- declared schemas ---------------------------------------------------------------------------------------
    C("diff: schema file missing", "diff --to nope.sql -d app.db --dir migrations", errors.ConfigError, "schema file nope.sql is not there\n  hint: give the path of a .sql file holding the CREATE statements of the schema you want"),
    C("diff: schema with INSERT", DIFF, errors.ConfigError, "schema.sql line 2: `INSERT INTO t VALUES (1)` is not DDL (INSERT): a schema holds CREATE, ALTER and DROP only; its tables' rows come from the database\n  hint: move data statements into a migration of their own (`duckmig new DESCRIPTION`)", prepare=schema_file("CREATE TABLE t (x INTEGER);\nINSERT INTO t VALUES (1);\n")),
    C("diff: schema with COPY", DIFF, errors.ConfigError, "schema.sql line 3: `COPY t FROM 'items.csv'` is not DDL (COPY)", prepare=schema_file("CREATE TABLE t (x INTEGER);\n\nCOPY t FROM 'items.csv';\n")),
    C("diff: schema that does not parse", DIFF, errors.ConfigError, "schema.sql line 3: DuckDB cannot parse it: Parser Error: syntax error at or near \"TABEL\"", prepare=schema_file("CREATE TABLE t (x INTEGER);\n-- next\nCREATE TABEL u (x INTEGER);\n")),
    C("diff: schema that does not build", DIFF, errors.ConfigError, "schema.sql line 2: Catalog Error: Table with name nope does not exist!", prepare=schema_file("CREATE TABLE t (x INTEGER);\nCREATE VIEW v AS SELECT * FROM nope;\n")),
    C("diff: schema that reads a file", DIFF, errors.ConfigError, "schema.sql line 1: Permission Error: ", prepare=schema_file("CREATE TABLE t AS SELECT * FROM read_csv('/etc/passwd');\n")),
    C("diff: undecided rename saved", DIFF + " --save renamed", errors.ConfigError, "not saved: likely renames are undecided: column items.name -> items.title (or items.name dropped and items.title added)", prepare=schema_file(RENAMED)),
    C("diff: rename of nothing", DIFF + " --rename nope=items", errors.ConfigError, "rename nope: no such table or column disappears while the new name appears", prepare=schema_file(RENAMED)),
    C("diff: rename not OLD=NEW", DIFF + " --rename items.name", errors.BadArguments, "diff: --rename takes OLD=NEW, not 'items.name'", prepare=schema_file(RENAMED)),
    C("diff: neither --to nor --from-migrations", "diff -d app.db --dir migrations", errors.BadArguments, "diff: give --to SCHEMA.sql or --from-migrations, one of them"),
    C("magic: schema cell with INSERT", "%%schema --save t\nCREATE TABLE t (x INTEGER);\nINSERT INTO t VALUES (1);", UsageError, "the schema line 2: `INSERT INTO t VALUES (1)` is not DDL (INSERT)"),
    C("magic: schema cell that does not parse", "%%schema\nCREATE TABEL t (x INTEGER);", UsageError, "the schema line 1: DuckDB cannot parse it: Parser Error: syntax error at or near \"TABEL\""),
    # -- names and command arguments ------------------------------------------------------------------------------
    C("up to a non-version", "up '../../etc/passwd' -d app.db --dir migrations", errors.ConfigError, "'../../etc/passwd' is not a version: versions look like 20250710_000001\n  hint: `duckmig status` lists the versions"),
    C("up to an unknown version", "up 20990101_000000 -d app.db --dir migrations", errors.StateError, "no migration 20990101_000000 in the migrations directory or the ledger\n  hint: `duckmig status` lists the versions"),
    C("down to a pending version", f"down {V3} -d app.db --dir migrations", errors.StateError, f"no migration {V3} among the applied migrations"),
    C("down with nothing applied", "down -d empty.db --dir migrations", errors.StateError, "nothing to revert: no migration is applied\n  hint: `duckmig status` shows the state"),
    C("stamp an injection", "stamp \"1'; DROP TABLE items; --\" -d app.db --dir migrations", errors.ConfigError, "\"1'; DROP TABLE items; --\" is not a version"),
    C("stamp without a version", "stamp -d app.db --dir migrations", errors.BadArguments, "stamp: the following arguments are required: version\n  hint: `duckmig stamp --help` lists the arguments"),
    C("down --steps 0", "down --steps 0 -d app.db --dir migrations", errors.ConfigError, "--steps must be 1 or more, not 0\n  hint: `duckmig down` alone reverts the newest migration"),
    C("target and steps", f"down {V1} --steps 1 -d app.db --dir migrations", errors.ConfigError, "give a target version or --steps, not both\n  hint: `duckmig down VERSION` keeps VERSION and reverts the newer ones; `duckmig down --steps N` reverts N"),
    C("unknown command", "frobnicate -d app.db", errors.BadArguments, "argument COMMAND: invalid choice: 'frobnicate' (choose from 'init', 'new', 'up'"),
    C("unknown flag", UP + " --frobnicate", errors.BadArguments, "unrecognized arguments: --frobnicate\n  hint: `duckmig --help` lists the arguments"),
    C("wait not a number", UP + " --wait soon", errors.BadArguments, "up: argument --wait: invalid float value: 'soon'\n  hint: `duckmig up --help` lists the arguments"),
    C("steps not a number", "down --steps x -d app.db --dir migrations", errors.BadArguments, "down: argument --steps: invalid int value: 'x'\n  hint: `duckmig down --help` lists the arguments"),
    C("key without a column", "preview --key items -d app.db --dir migrations", errors.BadArguments, "preview: --key takes TABLE=COLUMN[,COLUMN...], not 'items'\n  hint: for example --key events=day,seq"),
    C("up key without a column", UP + " --key items", errors.BadArguments, "up: --key takes TABLE=COLUMN[,COLUMN...], not 'items'\n  hint: for example --key events=day,seq"),
    C("key of no table", "preview --key nowhere=id -d app.db --dir migrations", errors.ConfigError, "a key is given for table nowhere, which is in the database neither before nor after the migration"),
    C("no database given", "up --dir migrations", errors.ConfigError, 'no database given\n  hint: pass --database PATH, set DUCKMIG_DATABASE, or add database = "..." under [tool.duckmig] in pyproject.toml'),
    C("database in a missing folder", "up -d nowhere/app.db --dir migrations", errors.ConfigError, "cannot open database nowhere/app.db: folder nowhere does not exist\n  hint: create the folder first, or fix --database (DUCKMIG_DATABASE)"),
    C("missing migrations directory", "up -d new.db --dir nowhere", errors.ConfigError, "migrations directory nowhere does not exist\n  hint: create it with `duckmig init`, or point --dir (DUCKMIG_DIR) at the folder that holds versions/"),
    C("migrations directory gone, its ledger there", "status -d app.db --dir nowhere", errors.ConfigError, f"migrations directory nowhere does not exist, and the ledger records 2 applied migrations ({V1}, {V2})\n  hint: `duckmig restore` writes their files back from the ledger; or export the notebook that holds them (`duckmig export NOTEBOOK.ipynb`); or point --dir (DUCKMIG_DIR) at the folder that holds versions/"),
    C("restore of a stored name too long for a file system", "restore -d app.db --dir migrations", None, f"{V1}  not restored: the ledger's file name '{TOO_LONG}' is not a version file's name\n", code=1, prepare=ledger_names(TOO_LONG)),
    C("restore of a stored name too long for its temporary file", "restore -d app.db --dir migrations", None, f"{V1}  not restored: the ledger's file name '{LONG}' is not a version file's name\n", code=1, prepare=ledger_names(LONG)),
    C("version not a date", "", errors.ConfigError, "'20251399_000000' is not a version: 2025-13-99 00:00:00 is not a date and time (a version is YYYYMMDD_HHMMSS in UTC", api=lambda root: save(root, "fine", version="20251399_000000")),
    C("version not a time", "", errors.ConfigError, "'20250101_246000' is not a version: 2025-01-01 24:60:00 is not a date and time", api=lambda root: save(root, "fine", version="20250101_246000")),
    C("up to a version not a date", "up 20250230_000000 -d app.db --dir migrations", errors.StateError, "no migration 20250230_000000 in the migrations directory or the ledger"),
    C("stamp a version not a date", "stamp 20251399_000000 -d app.db --dir migrations", errors.StateError, "no migration 20251399_000000 in the migrations directory or the ledger"),
    C("migrations directory is a file", "init --dir app.db", errors.ConfigError, "app.db is a file, not a folder: the migrations directory holds its version files in its versions/ folder"),
    C("versions is a file", "init --dir migrations/versions", errors.ConfigError, "migrations/versions/versions is a file, not a folder", files={"versions": "not a folder\n"}),
    C("new in a file", "new 'add x' --dir app.db", errors.ConfigError, "app.db is a file, not a folder"),
    C("new where versions is a file", "new 'add x' --dir migrations/versions", errors.ConfigError, "migrations/versions/versions is a file, not a folder", files={"versions": "not a folder\n"}),
    C("up where versions is a file", "up -d app.db --dir migrations/versions", errors.ConfigError, "migrations/versions/versions is a file, not a folder", files={"versions": "not a folder\n"}),
    C("database is a folder", "up -d migrations --dir migrations", errors.ConfigError, "cannot open database migrations: IO Error"),
    C("database is not duckdb", "status -d pyproject.toml --dir migrations", errors.ConfigError, "exists, but it is not a valid DuckDB database file!\n  hint: point --database (DUCKMIG_DATABASE) at a DuckDB database file, a path for a new one, or :memory:", pyproject="[project]\nname = 'x'\n"),
    C("slug with a path", "", errors.BadSlug, "'../evil' is not a slug: use lower-case letters, digits and _ (for example 'evil')", api=lambda root: save(root, "../evil")),
    C("empty slug", "", errors.BadSlug, "'' is not a slug", api=lambda root: save(root, "")),
    C("user's transaction open", "", errors.ConfigError, "the connection has a transaction open; duckmig will not commit it for you", api=up_in_open_transaction),
    # -- settings ----------------------------------------------------------------------------------------------------
    C("unknown setting", UP, errors.ConfigError, "unknown setting in [tool.duckmig]: databse\n  hint: the settings are database, directory, table, data_path, options, keep, keep_limit", pyproject="[tool.duckmig]\ndatabse = 'app.db'\n"),
    C("bad toml", UP, errors.ConfigError, "pyproject.toml: not valid TOML: ", pyproject="[tool.duckmig\n"),
    C("setting not a string", UP, errors.ConfigError, "[tool.duckmig] database must be a string, not 5\n  hint: fix [tool.duckmig] in ", pyproject="[tool.duckmig]\ndatabase = 5\n"),
    C("section not a table", UP, errors.ConfigError, "[tool.duckmig] must be a table", pyproject="[tool]\nduckmig = 'app.db'\n"),
    C("pyproject not utf-8", UP, errors.ConfigError, "not valid TOML: 'utf-8' codec can't decode byte 0xff", pyproject=b"[tool.duckmig]\n# \xff\n"),
    C("current folder unreadable", UP, errors.ConfigError, "/locked: Permission denied\n  hint: run duckmig from a folder that exists and that you may read, or let yourself read ", unreadable="locked"),
    C("pyproject unreadable", UP, errors.ConfigError, "/pyproject.toml: Permission denied\n  hint: run duckmig from a folder that exists and that you may read, or let yourself read ", pyproject="[tool.duckmig]\ndatabase = 'app.db'\n", unreadable="pyproject.toml"),
    # -- a DuckLake's settings ---------------------------------------------------------------------------------------
    C("data path for a DuckDB file", UP + " --data-path lake-data/", errors.LakeSettingError, "--data-path is a setting of a DuckLake, and app.db is not one\n  hint: leave --data-path out, or name a DuckLake: ducklake:PATH.ducklake (a DuckDB file) or ducklake:postgres:dbname=NAME host=HOST"),
    C("lake option for a DuckDB file", UP + " --option busy_timeout=5", errors.LakeSettingError, "--option BUSY_TIMEOUT is a setting of a DuckLake, and app.db is not one\n  hint: leave --option BUSY_TIMEOUT out"),
    C("lake option not name=value", f"{LAKE_UP} --option encrypted", errors.ConfigError, "--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not 'encrypted'\n  hint: for example --option METADATA_SCHEMA=lake_1 --option ENCRYPTED=true"),
    C("unknown lake option", f"{LAKE_UP} --option compression=zstd", errors.LakeSettingError, "COMPRESSION is not an ATTACH option of DuckLake that duckmig passes on\n  hint: the options are AUTOMATIC_MIGRATION, BUSY_TIMEOUT,"),
    C("lake option of the wrong type", f"{LAKE_UP} --option busy_timeout=soon", errors.LakeSettingError, "BUSY_TIMEOUT must be a whole number, not 'soon'\n  hint: set BUSY_TIMEOUT to a whole number"),
    C("read-only lake option", f"{LAKE_UP} --option snapshot_version=3", errors.LakeSettingError, "SNAPSHOT_VERSION attaches an old snapshot, and migrations write to the lake\n  hint: leave SNAPSHOT_VERSION out"),
    C("data path twice", f"{LAKE_UP} --option DATA_PATH=other/", errors.LakeSettingError, "the data path is given twice: as --data-path and as --option DATA_PATH\n  hint: keep one of them"),
    C("empty data path", "up -d ducklake:lake.ducklake --dir migrations --data-path ''", errors.LakeSettingError, "DATA_PATH is empty\n  hint: give DATA_PATH a value, or leave it out"),
    C("lake settings for the pyproject's DuckDB file", UP, errors.LakeSettingError, "pyproject.toml: [tool.duckmig] data_path is a setting of a DuckLake, and app.db is not one", pyproject="[tool.duckmig]\ndatabase = 'app.db'\ndata_path = 'lake-data/'\n"),
    C("lake options not a table", UP, errors.ConfigError, "pyproject.toml: [tool.duckmig] options must be a table of ATTACH options, not 'ENCRYPTED=true'\n  hint: write them under [tool.duckmig.options], a line each: metadata_schema = \"lake_1\"", pyproject="[tool.duckmig]\noptions = 'ENCRYPTED=true'\n"),
    C("lake option of the wrong type in pyproject", "status --dir migrations", errors.LakeSettingError, "pyproject.toml: [tool.duckmig.options] ENCRYPTED must be true or false, not 1\n  hint: set ENCRYPTED to true or false", pyproject="[tool.duckmig]\ndatabase = 'ducklake:lake.ducklake'\n\n[tool.duckmig.options]\nencrypted = 1\n"),
    C("unknown lake option in pyproject", "status --dir migrations", errors.LakeSettingError, "pyproject.toml: [tool.duckmig.options] READONLY is not an ATTACH option of DuckLake that duckmig passes on", pyproject="[tool.duckmig]\ndatabase = 'ducklake:lake.ducklake'\n\n[tool.duckmig.options]\nreadonly = true\n"),
    # -- notebooks: `duckmig export`, `duckmig notebook` ------------------------------------------------------------
    C("not a notebook", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: it is not JSON, as a notebook is", notebook=b"SELECT 1;\n"),
    C("empty notebook file", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: the file is empty", notebook=b""),
    C("binary notebook", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: it is not UTF-8 text (a notebook is JSON)", notebook=b"\x89PNG\r\n\x1a\n\x00\xff"),
    C("json, no notebook", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: it is JSON, but has no nbformat version", notebook=b'{"cells": []}'),
    C("json list", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: it is JSON, but has no nbformat version", notebook=b"[1, 2]"),
    C("no cell list", EXPORT, errors.ConfigError, "nb.ipynb is not a Jupyter notebook: it has no list of cells", notebook=b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": {}}'),
    C("truncated notebook", EXPORT, errors.ConfigError, "nb.ipynb:10:5: the notebook is not valid JSON (Unterminated string starting at)", notebook="truncated"),
    C("nbformat 5", EXPORT, errors.ConfigError, "nb.ipynb is a notebook of nbformat 5, which cannot be read here (formats 2 to 4 can)\n  hint: upgrade nbformat", notebook=b'{"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}'),
    C("nbformat 1", EXPORT, errors.ConfigError, "nb.ipynb is a notebook of nbformat 1, which cannot be read here (formats 2 to 4 can)\n  hint: open it in Jupyter and save it", notebook=b'{"nbformat": 1, "cells": []}'),
    C("notebook nested too deep for JSON", EXPORT, errors.ConfigError, f"nb.ipynb {TOO_DEEP}", notebook=nested(100_000)),
    C("notebook nested too deep for nbformat", EXPORT, errors.ConfigError, f"nb.ipynb {TOO_DEEP}", notebook=nested(600)),
    C("two cells of one id", EXPORT, errors.ConfigError, "nb.ipynb: cells 0 and 2 have one id, 'same', and a migration's file names its cell by its id\n  hint: give each cell an id of its own: Jupyter does when it opens the notebook and saves it again", notebook=TWINS),
    C("a migration cell's id on another cell", EXPORT, errors.ConfigError, "nb.ipynb: cells 0 and 1 have one id, 'same'", notebook=same_ids(("same", GOOD), ("same", "x = 1"))),
    C("notebook without cells", EXPORT, errors.ConfigError, "nb.ipynb has no cells: nothing to export", notebook=[]),
    C("no migration cell", EXPORT, errors.ConfigError, "nb.ipynb has no %%migration cell among its 2 cells: nothing to export", notebook=["x = 1", ("md", "%%migration a")]),
    C("same slug twice", EXPORT, errors.ConfigError, "nb.ipynb: cells 0 and 2 both write migration 'add_notes'", notebook=[GOOD, "x = 1", GOOD.replace("VARCHAR", "TEXT")]),
    C("same version twice", EXPORT, errors.ConfigError, "nb.ipynb: cells 0 and 1 both ask for --version 20250201_000000", notebook=[GOOD.replace("add_notes\n", "add_notes --version 20250201_000000\n"), "%%migration add_more --version 20250201_000000\n" + NOTES]),
    C("cell line with an unbalanced quote", EXPORT, errors.ConfigError, "nb.ipynb cell 1: %%migration: no closing quotation in: add_more --description 'More\n  line: %%migration add_more --description 'More", notebook=[GOOD, "%%migration add_more --description 'More\n" + NOTES]),
    C("cell line without a slug", EXPORT, errors.ConfigError, "nb.ipynb cell 0: %%migration: the following arguments are required: slug\n  line: %%migration\n  hint: fix the cell's first line", notebook=["%%migration\n" + NOTES]),
    C("cell line with an unknown flag", EXPORT, errors.ConfigError, "nb.ipynb cell 0: %%migration: unrecognized arguments: --bogus\n  line: %%migration add_more --bogus", notebook=["%%migration add_more --bogus\n" + NOTES]),
    C("cell slug with a path", EXPORT, errors.BadSlug, "'../../outside' is not a slug: use lower-case letters, digits and _ (for example 'outside')", notebook=["%%migration ../../outside\n" + NOTES]),
    C("cell slug with an absolute path", EXPORT, errors.BadSlug, "'/tmp/x' is not a slug: use lower-case letters, digits and _ (for example 'tmp_x')", notebook=["%%migration /tmp/x\n" + NOTES]),
    C("cell version with a path", EXPORT, errors.ConfigError, "'../../x' is not a version: versions look like 20250710_000001", notebook=["%%migration add_more --version ../../x\n" + NOTES]),
    C("cell of bad sql after a good one", EXPORT, errors.MigrationFileError, "nb.ipynb cell 1 (%%migration add_more):2: Parser Error: syntax error", notebook=[GOOD, "%%migration add_more\n-- migrate:up\nALTER TABLE;\n"]),
    C("cell without up marker", EXPORT, errors.MigrationFileError, "nb.ipynb cell 0 (%%migration add_more): a SQL migration needs a `-- migrate:up` line", notebook=["%%migration add_more\nALTER TABLE items ADD COLUMN x VARCHAR;"]),
    C("python cell that does not compile", EXPORT, errors.MigrationFileError, "nb.ipynb cell 0 (%%migration seed):1: Python syntax error", notebook=["%%migration seed --python\nclass Seed(:\n    pass"]),
    C("cell names a file of another version", EXPORT, errors.ConfigError, f"nb.ipynb cell 0 (%%migration create_items): --version 20250202_000000, but slug 'create_items' is {F1}", notebook=["%%migration create_items --version 20250202_000000\n" + NOTES]),
    C("cell asks for a version taken", EXPORT, errors.ConfigError, f"nb.ipynb cell 0 (%%migration add_more): version {V1} is taken by {F1}", notebook=[f"%%migration add_more --version {V1}\n" + NOTES]),
    C("export of a missing notebook", "export missing.ipynb --dir migrations", errors.ConfigError, "notebook missing.ipynb does not exist"),
    C("export of a folder", "export migrations --dir migrations", errors.ConfigError, "migrations is not a Jupyter notebook: it is a folder"),
    C("export without a notebook", "export --dir migrations", errors.BadArguments, "export: give the notebook to export\n  hint: `duckmig export NOTEBOOK.ipynb`"),
    C("notebook of a missing directory", "notebook --dir nowhere", errors.ConfigError, "migrations directory nowhere does not exist"),
    C("notebook over a file", "notebook -o app.db --dir migrations", errors.ConfigError, "app.db exists already; it was left as it was\n  hint: choose another file with -o, or pass --force to replace it"),
    C("notebook into a missing folder", "notebook -o nowhere/nb.ipynb --dir migrations", errors.ConfigError, "cannot write nowhere/nb.ipynb: folder nowhere does not exist"),
    # -- the database -----------------------------------------------------------------------------------------------
    C("ledger of another layout", UP + " --table other", errors.ConfigError, "table other exists but is not a duckmig ledger (columns: a, b)\n  hint: rename that table, or choose another ledger table with --table", sql="CREATE TABLE other (a INTEGER, b VARCHAR)"),
    C("ledger without its event column", UP, errors.ConfigError, "table duckdb_migrations exists but is not a duckmig ledger", sql="ALTER TABLE duckdb_migrations DROP COLUMN event"),
    C("ledger checksum differs", UP, errors.DriftError, f"applied migrations differ from their files: {V2} (modified)", code=3, sql=f"UPDATE duckdb_migrations SET checksum = 'x' WHERE version = '{V2}'"),
    C("ledger row without file", UP, errors.DriftError, "applied migrations differ from their files: 20250101_000000 (missing)", code=3, sql="INSERT INTO duckdb_migrations (seq, version, event, status, occurred_at, checksum, runner) VALUES (3, '20250101_000000', 'applied', 'applied', TIMESTAMP '2025-01-01', 'x', 'x')"),
    C("ledger event without a time", "history -d app.db --dir migrations", errors.ConfigError, f"ledger duckdb_migrations has events without an event, status or time (NULL): seq 1 (version {V1})\n  hint: fill them in as the migration's history was, or delete those events", sql="UPDATE duckdb_migrations SET occurred_at = NULL WHERE seq = 1"),
    C("ledger event without a kind of event", "status -d app.db --dir migrations", errors.ConfigError, f"ledger duckdb_migrations has events without an event, status or time (NULL): seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET event = NULL WHERE seq = 2"),
    C("ledger event without a status", UP, errors.ConfigError, f"ledger duckdb_migrations has events without an event, status or time (NULL): seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET status = NULL WHERE seq = 2"),
    C("ledger seq at INT64's maximum", UP, errors.ConfigError, f"ledger duckdb_migrations has an event numbered out of range (seq 9223372036854775807 (version {V2})): duckmig numbers events from 1, one more each\n  hint: renumber it after the others (UPDATE duckdb_migrations SET seq = ...)", sql="UPDATE duckdb_migrations SET seq = 9223372036854775807 WHERE seq = 2"),
    C("ledger seq negative", "status -d app.db --dir migrations", errors.ConfigError, f"ledger duckdb_migrations has an event numbered out of range (seq -1 (version {V1}))", sql="UPDATE duckdb_migrations SET seq = -1 WHERE seq = 1"),
    C("ledger seq of type VARCHAR", UP, errors.ConfigError, "ledger duckdb_migrations has columns of types duckmig does not write: seq VARCHAR (not BIGINT)\n  hint: give each column its type back (ALTER TABLE duckdb_migrations ALTER COLUMN ... TYPE ...), or restore the database from a backup", sql="ALTER TABLE duckdb_migrations ALTER seq TYPE VARCHAR"),
    C("ledger times of type VARCHAR", "status -d app.db --dir migrations", errors.ConfigError, "ledger duckdb_migrations has columns of types duckmig does not write: occurred_at VARCHAR (not TIMESTAMP), execution_ms VARCHAR (not DOUBLE)", sql="ALTER TABLE duckdb_migrations ALTER occurred_at TYPE VARCHAR; ALTER TABLE duckdb_migrations ALTER execution_ms TYPE VARCHAR"),
    C("ledger a view", UP, errors.ConfigError, "ledger duckdb_migrations is a view, not a table: duckmig appends its events to a table\n  hint: drop the view and put the ledger table back, or choose another ledger table with --table", sql="CREATE TABLE events AS FROM duckdb_migrations; DROP TABLE duckdb_migrations; CREATE VIEW duckdb_migrations AS FROM events"),
    C("ledger named in other case", UP, errors.ConfigError, 'ledger duckdb_migrations is named "DUCKDB_MIGRATIONS", in other letter case than the ledger\'s name\n  hint: rename it (ALTER TABLE "DUCKDB_MIGRATIONS" RENAME TO duckdb_migrations), or name it exactly with --table', sql='ALTER TABLE duckdb_migrations RENAME TO "DUCKDB_MIGRATIONS"'),
    C("ledger in two schemas but main", UP, errors.ConfigError, 'ledger duckdb_migrations is in several schemas ("a", "b") and none is the default one, main\n  hint: keep one of them, the one that holds the migrations applied, and drop or rename the others', sql="CREATE SCHEMA a; CREATE SCHEMA b; CREATE TABLE a.duckdb_migrations AS FROM duckdb_migrations; CREATE TABLE b.duckdb_migrations AS FROM duckdb_migrations; DROP TABLE duckdb_migrations"),
    C("ledger event without a version", UP, errors.ConfigError, "ledger duckdb_migrations has events without a version: seq 1 (no version)\n  hint: give them their versions, or delete them (DELETE FROM duckdb_migrations WHERE version IS NULL)", sql="UPDATE duckdb_migrations SET version = NULL WHERE seq = 1"),
    C("ledger seq twice", UP, errors.ConfigError, f"ledger duckdb_migrations numbers several events alike (seq 1 (version {V1})): which is newer cannot be told\n  hint: give each event a number of its own (UPDATE duckdb_migrations SET seq = ...)", sql="UPDATE duckdb_migrations SET seq = 1 WHERE seq = 2"),
    C("ledger seq NULL", UP, errors.ConfigError, f"ledger duckdb_migrations has events without a number (seq is NULL): seq NULL (version {V2})\n  hint: number them after the others (UPDATE duckdb_migrations SET seq = ... WHERE seq IS NULL), or delete them", sql="UPDATE duckdb_migrations SET seq = NULL WHERE seq = 2"),
    C("ledger failure after applied", UP, errors.ConfigError, f"ledger duckdb_migrations has an event that cannot follow the one before it: seq 3 (version {V1})\n  hint: delete the event that does not belong (or restore the database from a backup); `duckmig status` then shows each migration's state", sql="INSERT INTO duckdb_migrations SELECT * REPLACE (3 AS seq, 'failed' AS event, 'failed' AS status) FROM duckdb_migrations WHERE seq = 1"),
    C("ledger applied twice", UP, errors.ConfigError, f"ledger duckdb_migrations has an event that cannot follow the one before it: seq 3 (version {V1})", sql="INSERT INTO duckdb_migrations SELECT * REPLACE (3 AS seq) FROM duckdb_migrations WHERE seq = 1"),
    C("ledger reverted while pending", UP, errors.ConfigError, f"ledger duckdb_migrations has an event that cannot follow the one before it: seq 3 (version {V3})", sql=f"INSERT INTO duckdb_migrations SELECT * REPLACE (3 AS seq, '{V3}' AS version, 'reverted' AS event, 'pending' AS status) FROM duckdb_migrations WHERE seq = 1"),
    C("ledger adopted after written", UP, errors.ConfigError, f"ledger duckdb_migrations has an event that cannot follow the one before it: seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET event = 'adopted' WHERE seq = 2"),
    C("ledger applied without checksum", UP, errors.ConfigError, f"ledger duckdb_migrations has applied events without a checksum, which would hide any edit of their files: seq 1 (version {V1})\n  hint: set it to the file's checksum as applied (or run `duckmig stamp VERSION` on a database that never ran the migration); only events adopted from an older ledger may lack one", sql="UPDATE duckdb_migrations SET checksum = NULL WHERE seq = 1"),
    C("ledger event of no kind duckmig writes", UP, errors.ConfigError, f"ledger duckdb_migrations has events of a kind duckmig does not write: seq 2 (version {V2}); the kinds are applied, failed, partial, reverted, stamped, repaired and adopted\n  hint: look at those events (SELECT * FROM duckdb_migrations ORDER BY seq), correct them by hand or restore the database from a backup, then run the command again", sql="UPDATE duckdb_migrations SET event = 'frobbed' WHERE seq = 2"),
    C("ledger status unknown in an older event", UP, errors.ConfigError, f"ledger duckdb_migrations has rows whose status duckmig does not know: 'weird' ({V1})", sql="INSERT INTO duckdb_migrations SELECT * REPLACE (3 AS seq, 'reverted' AS event, 'pending' AS status) FROM duckdb_migrations WHERE seq = 1; UPDATE duckdb_migrations SET status = 'weird' WHERE seq = 1"),
    C("ledger migration kind unknown", UP, errors.ConfigError, f"ledger duckdb_migrations has events of a migration kind other than sql or python: seq 1 (version {V1})", sql="UPDATE duckdb_migrations SET kind = 'perl' WHERE seq = 1"),
    C("ledger negative duration", UP, errors.ConfigError, f"ledger duckdb_migrations has events with negative or infinite durations: seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET execution_ms = -5 WHERE seq = 2"),
    C("ledger infinite duration", UP, errors.ConfigError, f"ledger duckdb_migrations has events with negative or infinite durations: seq 1 (version {V1})", sql="UPDATE duckdb_migrations SET attempt_ms = 'inf'::DOUBLE WHERE seq = 1"),
    C("ledger time in the far future", "history -d app.db --dir migrations", errors.ConfigError, f"ledger duckdb_migrations has events at impossible times (before 2000, or later than a day from now): seq 1 (version {V1})", sql="UPDATE duckdb_migrations SET occurred_at = 'infinity' WHERE seq = 1"),
    C("ledger time before 2000", UP, errors.ConfigError, f"ledger duckdb_migrations has events at impossible times (before 2000, or later than a day from now): seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET occurred_at = TIMESTAMP '1970-01-01' WHERE seq = 2"),
    C("ledger event without runner after written ones", UP, errors.ConfigError, f"ledger duckdb_migrations has events without a runner, as only events adopted from an older ledger are, after events duckmig wrote: seq 2 (version {V2})", sql="UPDATE duckdb_migrations SET runner = NULL WHERE seq = 2"),
    C("database held by another process", UP, errors.DatabaseLocked, "database app.db is locked by process {pid} (", hold=True),
    C("database file read-only", UP, errors.ConfigError, "cannot open database app.db: IO Error: Cannot open file", immutable=True),
    C("disk full at commit", "up -d full/app.db --dir migrations", errors.CommitFailed, f"DuckDB could not commit {V3}: ", code=1, files={F3: BIG}, disk=True),
    C("disk full in a statement", "up -d full/app.db --dir migrations", errors.MigrationFailed, f"applying {V3} failed: IO Error: Could not write file", code=1, files={F3: HUGE}, disk=True),
    # -- magics: %%migration -------------------------------------------------------------------------------------
    C("magic: cell without up marker", "%%migration no_marker\nCREATE TABLE x (a INTEGER);\n", UsageError, "%%migration no_marker: a SQL migration needs a `-- migrate:up` line\n  hint: start the file with `-- migrate:up`, and put the revert under `-- migrate:down`"),
    C("magic: blank cell", "%%migration empty_body\n  \n", UsageError, "%%migration empty_body: a SQL migration needs a `-- migrate:up` line"),
    C("magic: empty up section", "%%migration empty_up\n-- migrate:up\n-- migrate:down\nDROP TABLE x;\n", UsageError, "%%migration empty_up:1: the `-- migrate:up` section has no statement\n  hint: write the change below `-- migrate:up`"),
    C("magic: cell without body", "%%migration empty\n", UsageError, "%%migration is a cell magic, but the cell body is empty."),
    C("magic: slug with a path", "%%migration ../evil\n" + NOTES, UsageError, "'../evil' is not a slug: use lower-case letters, digits and _ (for example 'evil')"),
    C("magic: slug with a slash", "%%migration a/b\n" + NOTES, UsageError, "'a/b' is not a slug: use lower-case letters, digits and _ (for example 'a_b')"),
    C("magic: cell without slug", "%%migration --apply\n" + NOTES, UsageError, "%%migration: the following arguments are required: slug\nusage: %%migration [--description TEXT] [--apply] [--preview] [--no-lint] [--python] [--version VERSION] slug"),
    C("magic: cell with an unknown flag", "%%migration add_x --dry-run\n" + NOTES, UsageError, "%%migration: unrecognized arguments: --dry-run\nusage: %%migration [--description TEXT]"),
    C("magic: cell line with an unbalanced quote", "%%migration 'unclosed\n" + NOTES, UsageError, "%%migration: no closing quotation in: 'unclosed"),
    C("magic: python cell that does not compile", "%%migration add_x --python\nclass AddX(BaseMigration)\n    pass\n", UsageError, "%%migration add_x:1: Python syntax error: expected ':'\n  hint: fix the file; nothing was run"),
    C("magic: applied cell changed", "%%migration create_items\n-- migrate:up\nCREATE TABLE items (id INTEGER);\n", UsageError, f"{V1} ({F1}) is already applied and its text changed; the file was left as it was\n  hint: revert it first (`%migrate down base` reverts it and everything newer)"),
    # -- magics: %migrate ---------------------------------------------------------------------------------------
    C("magic: export of two cells of one id", "%migrate export nb.ipynb", UsageError, "nb.ipynb: cells 0 and 2 have one id, 'same', and a migration's file names its cell by its id", notebook=TWINS),
    C("magic: status over a version file that is a link", "%migrate status", UsageError, f"migrations/versions/{V4}_linked.sql {LINK}", prepare=linked(f"{V4}_linked.sql")),
    C("magic: unknown verb", "%migrate frobnicate", UsageError, "%migrate: unknown verb 'frobnicate'\nusage: %migrate {connect,init,new,up,down,redo,status,history,verify,stamp,restore,repair,sql,preview,diff,lint,export,notebook,kept,prune} [arguments ...]"),
    C("magic: no verb", "%migrate", UsageError, "%migrate: no verb given\nusage: %migrate {connect,"),
    C("magic: not connected", "%migrate up", UsageError, "no database to migrate: nothing is connected and no database is set\n  hint: run `%migrate connect TARGET`", connect=None),
    C("magic: connect to a variable of another kind", "x = 42\n%migrate connect x", UsageError, "variable x holds a int, not a duckdb connection\n  hint: assign x = duckdb.connect(...) first, or give the database's path instead"),
    C("magic: connect to nothing", "%migrate connect nosuchthing", UsageError, "nosuchthing is neither a variable nor an existing database file\n  hint: for a connection, assign it to a variable first; for a new database file, give it an extension (for example nosuchthing.duckdb)"),
    C("magic: connect in a missing folder", "%migrate connect missing/app.db", UsageError, "cannot open database missing/app.db: folder missing does not exist\n  hint: create the folder first, or fix the path given to `%migrate connect`"),
    C("magic: connect to a folder", "%migrate connect migrations", UsageError, "cannot open database migrations: that is a folder, not a database file\n  hint: point the path given to `%migrate connect` at a DuckDB database file, a path for a new one, or :memory:"),
    C("magic: data path for a DuckDB file", "%migrate connect other.db --data-path lake-data/", UsageError, "--data-path is a setting of a DuckLake, and other.db is not one\n  hint: leave --data-path out, or name a DuckLake: ducklake:PATH.ducklake (a DuckDB file) or ducklake:postgres:dbname=NAME host=HOST"),
    C("magic: lake option for a connection", "import duckdb\ncon = duckdb.connect()\n%migrate connect con --option busy_timeout=5", UsageError, "--option BUSY_TIMEOUT is a setting of a DuckLake, and con is not one"),
    C("magic: lake option not name=value", "%migrate connect ducklake:lake.ducklake --option encrypted", UsageError, "--option takes NAME=VALUE, as ATTACH takes (NAME VALUE), not 'encrypted'"),
    C("magic: lake option of the wrong type", "%migrate connect ducklake:lake.ducklake --option encrypted=maybe", UsageError, "ENCRYPTED must be true or false, not 'maybe'\n  hint: set ENCRYPTED to true or false"),
    C("magic: data path without a value", "%migrate connect ducklake:lake.ducklake --data-path", UsageError, "%migrate connect: argument --data-path: expected one argument\nusage: %migrate connect [--dir DIR] [--table TABLE] [--wait SECONDS] [--data-path DIR] [--option NAME=VALUE] [target]"),
    C("magic: down with nothing applied", "%migrate down", UsageError, "nothing to revert: no migration is applied\n  hint: `%migrate status` shows the state", connect="empty.db"),
    C("magic: down to base with nothing applied", "%migrate down base", UsageError, "nothing to revert: no migration is applied\n  hint: `%migrate status` shows the state", connect="empty.db"),
    C("magic: steps not a number", "%migrate down --steps x", UsageError, "%migrate down: argument --steps: invalid int value: 'x'\nusage: %migrate down [--steps STEPS] [--stored-downgrade] [--trust-stored-python] [target]"),
    C("magic: unknown flag", "%migrate up --force", UsageError, "%migrate up: unrecognized arguments: --force\nusage: %migrate up [--out-of-order] [--allow-drift] [--single-transaction] [--no-keep] [--no-lint] [--key TABLE=COLUMN[,COLUMN...]] [target]"),
    C("magic: stamp without a version", "%migrate stamp", UsageError, "%migrate stamp: the following arguments are required: version\nusage: %migrate stamp version"),
    C("magic: up to a non-version", "%migrate up 2025", UsageError, "'2025' is not a version: versions look like 20250710_000001\n  hint: `%migrate status` lists the versions"),
    C("magic: up to an unknown version", "%migrate up 20990101_000000", UsageError, "no migration 20990101_000000 in the migrations directory or the ledger\n  hint: `%migrate status` lists the versions"),
    C("magic: up over an edited file", "%migrate up", UsageError, f"applied migrations differ from their files: {V1} (modified)\n  hint: `%migrate verify` shows the details; accept intended edits with `%migrate repair`, restore the files, or pass --allow-drift to apply on top of them", files={F1: FILES[F1].replace("INSERT", "-- edited\nINSERT")}),
    C("magic: line with an unbalanced quote", "%migrate new 'unclosed", UsageError, "%migrate: no closing quotation in: new 'unclosed"),
    C("magic: key without a column", "%migrate preview --key items", UsageError, "%migrate preview: --key takes TABLE=COLUMN[,COLUMN...], not 'items'\n  hint: for example --key events=day,seq"),
    C("magic: key without a table", "%migrate preview --key =id", UsageError, "%migrate preview: --key takes TABLE=COLUMN[,COLUMN...], not '=id'"),
    C("magic: key of no column", "%migrate preview --key items=nope", UsageError, "table items has no column nope\n  hint: key columns to choose from: id, name, price"),
    C("magic: sample of none", "%migrate preview --sample 0", UsageError, "the sample size must be a whole number of 1 or more, not 0\n  hint: a sample of 20 shows up to 20 changed rows a table"),
    C("magic: sample not a number", "%migrate preview --sample many", UsageError, "%migrate preview: argument --sample: invalid int value: 'many'\nusage: %migrate preview [--key TABLE=COLUMN[,COLUMN...]] [--sample N] [--out-of-order] [--allow-drift] [target]"),
    C("magic: preview to a non-version", "%migrate preview 2025", UsageError, "'2025' is not a version: versions look like 20250710_000001\n  hint: `%migrate status` lists the versions"),
    C("magic: version not a date", "%%migration fine --version 20251399_000000\n-- migrate:up\nSELECT 1;", UsageError, "'20251399_000000' is not a version: 2025-13-99 00:00:00 is not a date and time"),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The project every case starts from: F1 and F2 applied, F3 pending."""
    root = tmp_path_factory.mktemp("template")
    (root / "migrations" / "versions").mkdir(parents=True)
    for name, text in FILES.items():
        (root / "migrations" / "versions" / name).write_text(text)
    Migrator(str(root / "app.db"), str(root / "migrations")).up(V2)
    return root


def table_rows(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as conn:
        found = conn.execute("SELECT schema_name, table_name, sql FROM duckdb_tables() ORDER BY ALL").fetchall()
        found += conn.execute("SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal "
                              "ORDER BY ALL").fetchall()
        return {(schema, name): (sql, sorted(map(repr, conn.execute(
            f'SELECT * FROM "{schema}"."{name}"').fetchall()))) for schema, name, sql in found}


def state(root: Path) -> dict:
    """Every file's bytes; for each DuckDB database, every table's and view's definition and rows."""
    out = {}
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(".wal"):
            continue
        key = str(path.relative_to(root))
        try:
            out[key] = table_rows(path) if path.suffix == ".db" else path.read_bytes()
        except duckdb.Error:
            out[key] = path.read_bytes()
    return out


def without_failure(before: dict, after: dict, version: str) -> dict:
    """``after`` with the ledger's record of ``version``'s failure taken out, checking it is one:
    a 'failed' event for each of the case's two runs."""
    for table, runs in (("duckdb_migrations", 2),):
        key = ("main", table)
        sql, rows = after["app.db"][key]
        new = [r for r in rows if r not in before["app.db"][key][1]]
        assert len(new) == runs and all(f"'{version}'" in r and "'failed'" in r for r in new), new
        after["app.db"][key] = (sql, [r for r in rows if r not in new])
    return after


@pytest.fixture
def case_root(tmp_path, template, request, monkeypatch):
    case: Case = request.param
    root = tmp_path / "project"
    shutil.copytree(template, root)
    for name, text in case.files.items():
        path = root / "migrations" / "versions" / name
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    if case.pyproject is not None:
        target = root / "pyproject.toml"
        target.write_bytes(case.pyproject) if isinstance(case.pyproject, bytes) else target.write_text(case.pyproject)
    if case.sql:
        with duckdb.connect(str(root / "app.db")) as conn:
            conn.execute(case.sql)
    if case.notebook is not None:
        write_notebook(root / "nb.ipynb", case.notebook)
    if case.prepare is not None:
        case.prepare(root)
    monkeypatch.chdir(root)
    for name in config.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cleanups = []
    if case.unreadable:
        locked = root / case.unreadable
        if not locked.exists():
            locked.mkdir()
        mode = locked.stat().st_mode
        locked.chmod(0)
        cleanups.append(lambda: locked.chmod(mode))
    if case.disk:
        (root / "full").mkdir()
        size = (root / "app.db").stat().st_size + 64 * 1024
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(root / "full")],
                                 capture_output=True)
        if mounted.returncode:
            pytest.skip(f"a full disk is simulated with a tmpfs, and mounting one needs root: {mounted.stderr!r}")
        cleanups.append(lambda: subprocess.run(["umount", str(root / "full")], check=True))
        shutil.copy(root / "app.db", root / "full" / "app.db")
    if case.immutable:
        # Root ignores file modes; the immutable attribute stops even root from writing.
        marked = subprocess.run(["chattr", "+i", str(root / "app.db")], capture_output=True)
        if marked.returncode:
            pytest.skip(f"a read-only database is made with chattr +i, which this file system refuses: "
                        f"{marked.stderr!r}")
        cleanups.append(lambda: subprocess.run(["chattr", "-i", str(root / "app.db")], check=True))
    yield root
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.mark.parametrize("case_root", CASES, ids=[c.name for c in CASES], indirect=True)
def test_bad_input(case_root, request, capsys):
    case: Case = request.node.callspec.params["case_root"]
    root = case_root
    before = state(root)
    holder = None
    if case.hold:
        holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys\nc = duckdb.connect('app.db')\n"
                                   "print('ready', flush=True)\nsys.stdin.read()"], cwd=root, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout.readline() == "ready\n"
    try:
        says = case.says.replace("{pid}", str(holder.pid)) if holder else case.says
        if case.api is not None:
            with pytest.raises(case.error) as raised:
                case.api(root)
            assert type(raised.value) is case.error and says in str(raised.value)
        elif any(line.startswith("%") for line in case.run.splitlines()):  # a cell of magics
            check_magic(case, says, capsys)
        elif case.unreadable:
            check_process(case, says, root)
        elif case.error is None:
            check_reported(case, says, capsys)
        else:
            check_command(case, says, capsys)
    finally:
        if holder:
            holder.stdin.close()
            holder.wait(10)
    after = state(root)
    if case.failure_recorded:
        after = without_failure(before, after, case.failure_recorded)
    assert after == before, "bad input changed nothing"


def check_command(case: Case, says: str, capsys):
    argv = shlex.split(case.run)
    # The exception itself, to know its class: the command's own dispatch, as main() runs it.
    with pytest.raises(errors.DuckmigError) as raised:
        cli.run(cli.build_parser().parse_args(argv), io.StringIO())
    exc = raised.value
    assert type(exc) is case.error and says in exc.render(cli.WORDS)
    assert exc.exit_code == case.code
    # What the user sees: main() prints one message and exits with the code; no traceback.
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert (code, out) == (case.code, "")
    progress, _, message = err.rpartition("duckmig: error: ")
    assert message == f"{exc.render(cli.WORDS)}\n"
    assert all(line.startswith(("[", "duckmig: warning: ")) for line in progress.splitlines()), progress


def check_reported(case: Case, says: str, capsys):
    """A bad input the verb reports in its result (restore's "not restored"), not as an error."""
    capsys.readouterr()
    code = cli.main(shlex.split(case.run))
    out, err = capsys.readouterr()
    assert (code, out, err) == (case.code, says, "")


def without_root_override():
    """A child process's first act: root keeps its user id but loses its power to ignore file modes
    (CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave its bounding set), so a mode of 000 refuses it as it
    refuses anyone. Running as another user instead would need an interpreter that user may run."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def check_process(case: Case, says: str, root: Path):
    """The command in a process of its own that file modes bind (see ``without_root_override``)."""
    import os

    if not sys.platform.startswith("linux"):
        pytest.skip("a process that file modes bind is made with Linux capabilities")
    locked = root / case.unreadable
    where = locked if locked.is_dir() else root
    env = {k: v for k, v in os.environ.items() if k not in config.VARIABLES}
    run = subprocess.run([sys.executable, "-m", "duckmig_magic", *shlex.split(case.run)], cwd=where, env=env,
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=without_root_override if os.geteuid() == 0 else None)
    assert (run.returncode, run.stdout) == (case.code, ""), run.stderr
    message, _, hint = run.stderr.partition("\n  hint: ")
    assert message.startswith("duckmig: error: ") and "\n" not in message and hint.count("\n") == 1, run.stderr
    assert says in run.stderr


def check_magic(case: Case, says: str, capsys):
    InteractiveShell.clear_instance()
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        shell.run_line_magic("load_ext", "duckmig_magic")
        if case.connect:
            shell.run_line_magic("migrate", f"connect {case.connect} --dir migrations")
        capsys.readouterr()
        result = shell.run_cell(case.run)
        out, err = capsys.readouterr()
        if case.connect:  # a failed connect keeps the connection there was
            shell.run_line_magic("migrate", "connect")
            connected = capsys.readouterr().out
    finally:
        InteractiveShell.clear_instance()
    assert type(result.error_in_exec) is case.error and says in str(result.error_in_exec)
    assert (out, err) == ("", f"UsageError: {result.error_in_exec}\n")
    if case.connect:
        assert connected == f"connected: {case.connect}; migrations: migrations/versions\n"


def write_notebook(path: Path, content) -> None:
    """nb.ipynb of ``content``: its bytes, or its cells (a source, or ("md", text)); "truncated" is a
    notebook cut short."""
    import nbformat
    from nbformat import v4

    if isinstance(content, bytes):
        path.write_bytes(content)
        return
    cells = [GOOD] if content == "truncated" else content
    nb = v4.new_notebook(cells=[v4.new_markdown_cell(c[1], id=f"m{i}") if isinstance(c, tuple)
                                else v4.new_code_cell(c, id=f"c{i}") for i, c in enumerate(cells)])
    nbformat.write(nb, str(path))
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:150])
