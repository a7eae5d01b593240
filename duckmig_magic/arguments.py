"""An argument of a verb or a magic, declared once as data: argparse's flags and options, and its help.

Below both the verbs (``commands``) and the ``%%migration`` line (``cells``),
so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arg:
    """One argument: argparse's flags and options, and its help (``magic_help`` where a notebook
    gives it another default)."""

    flags: tuple[str, ...]
    help: str
    options: dict = field(default_factory=dict)
    magic_help: str | None = None

    @property
    def dest(self) -> str:
        if "dest" in self.options:
            return self.options["dest"]
        long = [f for f in self.flags if f.startswith("--")] or list(self.flags)
        return long[0].lstrip("-").replace("-", "_")

    @property
    def default(self):
        if "default" in self.options:
            return self.options["default"]
        return False if self.options.get("action") == "store_true" else None


def arg(*flags: str, help: str, magic_help: str | None = None, **options) -> Arg:
    return Arg(flags, help, options, magic_help)
