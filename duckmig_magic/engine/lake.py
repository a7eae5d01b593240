"""DuckLake targets: a database string as DuckDB's ATTACH takes it, opened the normal way.

A DuckLake is named by what a DuckDB user writes between ATTACH's quotes::

    ducklake:metadata.ducklake                       catalog in a DuckDB file
    ducklake:postgres:dbname=lake host=db user=me    catalog in PostgreSQL
    ducklake:sqlite:metadata.sqlite                  ducklake:mysql:db=lake host=db

and ATTACH's options go beside it, named as ATTACH names them: ``data_path``
(``--data-path DIR``: where the Parquet files go; needed to create a lake whose
catalog is not a DuckDB file, stored in the catalog after that), and a few more
(``OPTIONS``). Opening one is what a user would type: ``INSTALL``/``LOAD`` of
``ducklake`` (and of the catalog's extension), ``ATTACH 'ducklake:...' AS lake
(...)`` and ``USE lake`` on an in-memory DuckDB, so extensions come from DuckDB's
own extension directory (``~/.duckdb/extensions`` unless configured).

What DuckLake 1.5.5 refuses, and how it behaves under two writers, is recorded
as tests in tests/test_ducklake_probe.py; ``refusals.LAKE_LIMITS`` names the refusals a
migration may trip over.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from .. import errors
from . import holders, refusals, statements
from .sqltext import literal, quote
from .sqltext import value as _sql_value

PREFIX = "ducklake:"
ALIAS = "lake"

# The catalog kinds, by the prefix DuckLake reads after ``ducklake:``, and the DuckDB
# extension each needs. Anything without a known prefix is a DuckDB file.
CATALOGS = {"duckdb": None, "postgres": "postgres", "sqlite": "sqlite", "mysql": "mysql"}

# ATTACH options of a lake that a migrator may set, with their types. The read-only
# ones (READ_ONLY, SNAPSHOT_VERSION, SNAPSHOT_TIME) are refused: migrations write.
OPTIONS = {"DATA_PATH": str, "METADATA_SCHEMA": str, "METADATA_CATALOG": str, "ENCRYPTED": bool,
           "DATA_INLINING_ROW_LIMIT": int, "OVERRIDE_DATA_PATH": bool, "BUSY_TIMEOUT": int,
           "CREATE_IF_NOT_EXISTS": bool, "AUTOMATIC_MIGRATION": bool}
READ_ONLY_OPTIONS = {"READ_ONLY": "attaches the lake read-only", "SNAPSHOT_VERSION": "attaches an old snapshot",
                     "SNAPSHOT_TIME": "attaches an old snapshot"}
# Where an S3-compatible store is and how to address it: settings of the DuckDB secret duckmig makes
# for the data path's bucket (``s3_secret_sql``), named as ATTACH options are (``--option
# S3_ENDPOINT=...``, ``s3_endpoint`` under ``[tool.duckmig.options]``). They hold no credential.
S3_OPTIONS = {"S3_ENDPOINT": str, "S3_REGION": str, "S3_URL_STYLE": str, "S3_USE_SSL": bool}
# The credentials of that secret come from the environment only, under the names AWS's tools read:
# an option or pyproject.toml would put them in shell history, the process list or the repository.
S3_CREDENTIALS = {"KEY_ID": "AWS_ACCESS_KEY_ID", "SECRET": "AWS_SECRET_ACCESS_KEY", "SESSION_TOKEN": "AWS_SESSION_TOKEN"}
_CREDENTIAL_WORDS = ("KEY_ID", "SECRET", "TOKEN", "PASSWORD", "ACCESS_KEY")
SECRET_NAME = "duckmig_s3"
# Data paths DuckDB reads through its httpfs extension.
REMOTE = re.compile(r"^(s3|s3a|s3n|gcs|gs|r2|https?)://", re.IGNORECASE)

# ``postgresql:``, ``s3:`` ... : a word and a colon, but not a Windows drive (``C:``) nor a URL (``s3://``).
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9_]+):(?!//)")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # s3://, https://, ...: a path that is not a local file's
# A password in a libpq string (quoted, or up to a blank or the quote DuckDB puts around the string), or in a URI.
_SECRET = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s\"]+)|(://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
# DuckLake prefixes its catalog's error with where it was attaching; the message says it again.
_ATTACH_NOISE = re.compile(r'Failed to attach DuckLake MetaData "[^"]*" at path \+ "[^"]*"')
# A data path given that differs from the one the lake keeps (DuckLake 1.5.5's words).
_OTHER_DATA_PATH = re.compile(r'DATA_PATH parameter "(?P<given>.*)" does not match existing data path in the catalog '
                              r'"(?P<kept>.*)"')
_BOOLS = {"true": True, "false": False}
_EXPECTED = {bool: "true or false", int: "a whole number", str: "a string"}


@dataclass(frozen=True)
class Lake:
    """A parsed DuckLake target: everything ``connect`` needs, nothing opened yet."""

    catalog: str  # what follows ``ducklake:``, as DuckLake reads it
    kind: str  # a key of CATALOGS
    options: tuple[tuple[str, str | int | bool], ...] = ()  # (ATTACH option, value), in order given
    alias: str = ALIAS

    @property
    def spec(self) -> str:
        return PREFIX + self.catalog

    @property
    def label(self) -> str:
        """The target as messages show it: without a password."""
        return redact(self.spec)

    @property
    def extensions(self) -> tuple[str, ...]:
        """The extensions to INSTALL and LOAD, in order: httpfs too where the data is in object storage."""
        extension = CATALOGS[self.kind]  # none for a DuckDB file: DuckDB reads it itself
        remote = ("httpfs",) if self.s3 or REMOTE.match(str(self.data_path or "")) else ()
        return ("ducklake",) + ((extension,) if extension else ()) + remote

    @property
    def data_path(self) -> str | None:
        return next((str(v) for name, v in self.options if name == "DATA_PATH"), None)

    @property
    def s3(self) -> dict[str, str | bool]:
        """The S3 settings given (``S3_ENDPOINT`` ...), by the name the secret takes (``ENDPOINT``)."""
        return {name[3:]: value for name, value in self.options if name in S3_OPTIONS}  # type: ignore[misc]

    def attach_sql(self) -> str:
        options = ", ".join(f"{name} {_sql_value(value)}" for name, value in self.options if name not in S3_OPTIONS)
        return f"ATTACH {literal(self.spec)} AS {quote(self.alias)}" + (f" ({options})" if options else "")

    def s3_secret_sql(self, environ) -> str | None:
        """The DuckDB secret for the data path's bucket where S3 settings are given, with the
        credentials of ``environ`` (AWS_ACCESS_KEY_ID ...) where it has them; None without S3 settings
        (DuckDB's own secrets and the environment variables its httpfs reads then apply).

        The text holds the credentials: it is run, never shown (``connect`` words its failure)."""
        if not self.s3:
            return None
        given = {**{k: environ[v] for k, v in S3_CREDENTIALS.items() if environ.get(v)}, **self.s3}
        bucket = re.match(r"^(s3|s3a|s3n|r2|gcs|gs)://[^/]+", self.data_path or "")
        if bucket:
            given["SCOPE"] = bucket[0]
        settings = ", ".join(f"{name} {_sql_value(value)}" for name, value in given.items())
        return f"CREATE OR REPLACE SECRET {SECRET_NAME} (TYPE s3, {settings})"


def is_lake(target) -> bool:
    """Whether ``target`` names a DuckLake: a ``Lake``, or a string starting ``ducklake:``."""
    return isinstance(target, Lake) or (isinstance(target, str) and target.strip().lower().startswith(PREFIX))


def parse(database: str, *, data_path: str | None = None, options: dict | None = None) -> Lake:
    """The ``Lake`` that ``database`` (``ducklake:CATALOG``) and its ATTACH options name.

    ``options`` maps ATTACH option names (any case) to values; strings are converted
    to the option's type, as they come from a command line. Raises a ConfigError
    (a LakeSettingError for an option) that says which rule is broken.
    """
    text = database.strip()
    if not text.lower().startswith(PREFIX):
        raise errors.ConfigError(f"{database!r} is not a DuckLake: a DuckLake target starts with ducklake:",
                                 f"write {errors.LAKE_FORMS}")
    catalog = text[len(PREFIX):].strip()
    if not catalog:
        raise _no_catalog(database)
    m = _SCHEME.match(catalog)
    kind = m[1].lower() if m else "duckdb"
    if m and kind not in CATALOGS:
        raise errors.ConfigError(f"DuckLake has no catalog kind {m[1]}: it keeps its catalog in "
                                 f"{', '.join(k + ':' for k in sorted(CATALOGS))} or a DuckDB file",
                                 "write ducklake:postgres:... for PostgreSQL, or a path for a DuckDB file")
    if m:  # DuckDB finds the catalog's extension by this prefix, in lower case
        catalog = kind + catalog[m.end() - 1:]
    if kind in ("duckdb", "sqlite") and not catalog[m.end() if m else 0:].strip():
        raise _no_catalog(database)  # a file catalog needs its path; libpq has defaults
    given = [(name.upper(), value) for name, value in (options or {}).items()]
    if data_path is not None:
        if any(name == "DATA_PATH" for name, _ in given):
            raise errors.data_path_twice()
        given.insert(0, ("DATA_PATH", data_path))
    return Lake(catalog, kind, tuple((name, option(name, value)) for name, value in given))


def _no_catalog(database: str) -> errors.ConfigError:
    return errors.ConfigError(f"{database!r} names no catalog: a DuckLake needs one after ducklake:",
                              f"write {errors.LAKE_FORMS}")


def with_catalog_path(database: str, change) -> str:
    """``database`` (``ducklake:...``) with the path of its catalog file, a DuckDB or SQLite one,
    replaced by ``change(path)``; a PostgreSQL or MySQL catalog, and a URL, are left as they are."""
    catalog = database.strip()[len(PREFIX):].strip()
    m = _SCHEME.match(catalog)
    kind = m[1].lower() if m else "duckdb"
    head, path = (catalog[:m.end()], catalog[m.end():]) if m else ("", catalog)
    if kind not in ("duckdb", "sqlite") or not path.strip() or URL.match(path):
        return database
    return PREFIX + head + change(path)


def as_lake(target) -> Lake:
    return target if isinstance(target, Lake) else parse(target)


def connect(lake: Lake, *, config: dict | None = None):
    """An in-memory DuckDB with ``lake`` attached and in use; ``config`` as for ``duckdb.connect``.

    Raises a named error when an extension cannot be loaded, another process holds
    a DuckDB-file catalog, a new lake has no data path, or the catalog cannot be reached.
    """
    import duckdb

    conn = duckdb.connect(":memory:", config=config or {})
    try:
        for extension in lake.extensions:
            try:
                conn.execute(f"INSTALL {extension}")
                conn.execute(f"LOAD {extension}")
            except duckdb.Error as exc:
                raise errors.ConfigError(
                    f"cannot load DuckDB's {extension} extension: {redact(errors.first_line(str(exc)))}",
                    f"INSTALL {extension} downloads it from extensions.duckdb.org once; without a network, install "
                    f"it into DuckDB's extension directory first (INSTALL {extension} FROM 'REPOSITORY', or "
                    "INSTALL 'FILE.duckdb_extension')") from exc
        secret = lake.s3_secret_sql(os.environ)
        if secret is not None:
            try:
                conn.execute(secret)
            except duckdb.Error as exc:
                # DuckDB's message may quote what it was given; the statement holds credentials
                reason = scrub(errors.first_line(str(exc)), os.environ)
                raise errors.LakeSettingError(f"DuckDB refused the S3 settings given ({', '.join(sorted(lake.s3))}): "
                                              f"{reason}", "check the S3_ options' values") from None
        try:
            conn.execute(lake.attach_sql())
        except duckdb.Error as exc:
            raise _attach_error(lake, scrub(str(exc), os.environ)) from exc
        conn.execute(f"USE {quote(lake.alias)}")
    except BaseException:
        conn.close()
        raise
    return conn


def attached(conn, database: str) -> bool:
    """Whether ``database``, as ``conn`` names it, is a DuckLake."""
    row = conn.execute(f"SELECT type FROM duckdb_databases() WHERE database_name = {literal(database)}").fetchone()
    return bool(row) and row[0] == "ducklake"


def altered_then_renamed(conn, database: str, sql: str, earlier: Iterable[str]) -> str | None:
    """The table ``sql`` renames, when ``database`` is a lake and an earlier statement of the same
    transaction (``earlier``, in order, read once) altered that table, which the transaction did not create.

    DuckLake 1.5.5 commits such a transaction and then cannot read the lake (a column that
    "already exists"), or forgets the alteration: tests/test_ducklake_probe.py shows both.
    """
    if "rename" not in sql.lower():  # most statements: no tokenizing, no query
        return None
    renamed = statements.table_rename(sql)
    if renamed is None:
        return None
    name, state = renamed[0][-1].lower(), None
    for statement in earlier:
        if any(n[-1].lower() == name for n in statements.made_tables(statement)):
            state = "made"  # in this transaction: DuckLake keeps what is done to it
        elif state is None and (table := statements.altered_table(statement)) and table[-1].lower() == name:
            state = "altered"
    return ".".join(renamed[0]) if state == "altered" and attached(conn, database) else None


def scrub(text: str, environ) -> str:
    """``text`` without the values of the credentials in ``environ`` that a lake's secret may hold."""
    for name in S3_CREDENTIALS.values():
        value = environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return redact(text)


def redact(text: str) -> str:
    """``text`` with the passwords of connection strings replaced by ``***``."""
    return _SECRET.sub(lambda m: f"{m[1]}***" if m[1] else f"{m[3]}***@", text)


def _attach_error(lake: Lake, message: str) -> errors.DuckmigError:
    reason = redact(errors.first_line(_ATTACH_NOISE.sub("", message)))
    if (holder := refusals.lock_holder(message)) is not None:
        pid, name = holder
        return holders.locked(lake.label, pid or None, name)
    if "data_path is not set" in message:
        return errors.ConfigError(f"{lake.label} is a new DuckLake and has no data path for its Parquet files",
                                  "give one with {setting:data_path} (a folder or a URL such as s3://bucket/lake/); "
                                  "the lake keeps it")
    if m := _OTHER_DATA_PATH.search(message):
        kept, given = redact(m["kept"]), redact(m["given"])
        return errors.ConfigError(f"{lake.label} keeps its Parquet files in {kept}, and the data path given is {given}",
                                  "leave the data path out (the lake keeps its own), or set the ATTACH option "
                                  f"OVERRIDE_DATA_PATH to true to write to {given} while attached")
    return errors.ConfigError(f"cannot attach DuckLake {lake.label}: {reason}",
                              "check the catalog after ducklake: (for PostgreSQL: dbname, host, port, user, and that "
                              "the server runs) and the data path")


def option(name: str, value):
    """``value`` as ATTACH option ``name`` (upper case) takes it; a string is converted to the option's
    type, as it comes from a command line. Raises a LakeSettingError that says which rule is broken."""
    if name not in OPTIONS and name not in S3_OPTIONS and any(word in name for word in _CREDENTIAL_WORDS):
        raise errors.LakeSettingError(
            f"{name} looks like a credential, and duckmig takes none as an option: an option shows in shell "
            "history and the process list, and pyproject.toml is shared",
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) in the environment, or "
            "create a DuckDB secret once with CREATE PERSISTENT SECRET")
    if name in S3_OPTIONS:
        kind = S3_OPTIONS[name]
    elif name in READ_ONLY_OPTIONS:
        raise errors.LakeSettingError(f"{name} {READ_ONLY_OPTIONS[name]}, and migrations write to the lake",
                                      f"leave {name} out")
    elif name not in OPTIONS:
        raise errors.LakeSettingError(f"{name} is not an ATTACH option of DuckLake that duckmig passes on",
                                      f"the options are {', '.join(sorted(OPTIONS | S3_OPTIONS))}")
    else:
        kind = OPTIONS[name]
    given = value
    if isinstance(value, str) and kind is not str:  # from a command line: converted as DuckDB would not
        word = value.strip().lower()
        value = _BOOLS.get(word) if kind is bool else int(word) if word.isascii() and word.isdigit() else None
    if kind is str and isinstance(value, str) and not value.strip():
        raise errors.empty_lake_option(name)
    # kind is int makes value an int; isinstance says so to the type checker, for value < 0
    if not isinstance(value, kind) or (
            kind is int and isinstance(value, int) and (isinstance(value, bool) or value < 0)):
        raise errors.LakeSettingError(f"{name} must be {_EXPECTED[kind]}, not {given!r}",
                                      f"set {name} to {_EXPECTED[kind]}")
    if name == "S3_URL_STYLE" and str(value).strip().lower() not in ("path", "vhost"):
        # DuckDB takes any word here and addresses the bucket as vhost: told now, not at the first write
        raise errors.LakeSettingError(f"S3_URL_STYLE must be path or vhost, not {given!r}",
                                      "path for most servers of your own (MinIO, moto), vhost for AWS")
    return value
