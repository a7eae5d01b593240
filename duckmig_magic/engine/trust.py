"""Which downgrade reverts a migration: its file's, or the one the ledger stored.

The ledger is data, and anyone who can write the database file can write it;
the version files are the reviewed code. So while a migration's file is there,
its own downgrade runs: nothing the database says runs in its place. A stored
downgrade that differs from the file's is only reported, by ``status`` and
``verify``; a file changed since it was applied (its checksum is not the
ledger's) is drift, which ``down`` refuses (``apply.downgrade``) unless the user
says for that run which downgrade to run. The stored downgrade runs only when
the file is gone, or when asked for (``--stored-downgrade``): it is shown before
it runs, and a stored Python downgrade, which is code, runs only when the
caller trusts it (``trust_stored_python``).
"""

from __future__ import annotations

import warnings
from textwrap import indent

from .. import errors
from . import sqlfile
from .versions import Script, checksum, same_upgrade


class StoredDowngrade(UserWarning):
    """A downgrade from the ledger is about to run; the message shows it, before it runs."""


def as_applied(row, script: Script | None) -> bool:
    """Whether ``script`` is the file as ``row`` was applied (a row adopted without a checksum counts),
    or differs from it in its downgrade alone."""
    return script is not None and (row.checksum is None or row.checksum == script.checksum
                                   or same_upgrade(row, script))


def stored(row, script: Script | None, trust_stored_python: bool) -> str:
    """The stored downgrade of ``row``, once it may run, shown in a StoredDowngrade warning first.

    Raises StateError when the ledger holds none, or holds Python code the caller has not trusted.
    """
    source = row.downgrade
    if not source or not source.strip():
        raise errors.irreversible(row.version)
    why = "its file is gone" if script is None else f"{script.name} changed since it was applied"
    python = row.kind == "python"
    if python and not trust_stored_python:
        raise errors.StateError(
            f"{row.version} was not reverted: {why}, and the downgrade stored in the ledger is Python code, which "
            f"runs only when trusted; nothing was reverted. The stored code:\n{shown(source)}",
            "restore the file as it was applied (from version control, say) and revert again; or, having read the "
            "code above, pass {flag:trust_stored_python} to run it")
    warnings.warn(StoredDowngrade(
        f"{row.version}: {why}, so the {'Python ' if python else ''}downgrade stored in the ledger reverts it"
        f"{' (trusted)' if python else ''}:\n{shown(source)}"), stacklevel=3)
    return source


def differs(stored: str | None, script: Script) -> bool:
    """Whether the ledger stores a downgrade other than the file's own (their checksums differ)."""
    if not stored:
        return False
    if script.kind == "python":  # what the ledger keeps of a Python migration is its whole file
        return stored != script.text and checksum(stored) != script.checksum
    text = script.text
    end = len(text) - len(stored)
    # The usual case, told without parsing (status reads thousands of files): the stored text is all
    # the file holds after its `-- migrate:down` line. Other spellings of the marker take the long way.
    if end > 0 and text[end - 1] == "\n" and text.endswith(stored) \
            and text.startswith("-- migrate:down", text.rfind("\n", 0, end - 1) + 1, end):
        return False
    try:
        source = script.downgrade_source
    except errors.MigrationFileError:
        return False  # a file that no longer parses is reported when something runs it
    return source is None or checksum(stored) != checksum(source)


def shown(source: str) -> str:
    """A downgrade's text as shown before it runs: each line indented."""
    return indent(sqlfile.normalize(source).strip("\n"), "    ", lambda line: True)
