"""Results as JSON-safe data: what ``--json`` prints and a preview's rows hold."""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import asdict, is_dataclass
from decimal import Decimal


def plain(value):
    """``value`` as JSON-safe data: dataclasses as dicts, tuples as lists, times in ISO format."""
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)
