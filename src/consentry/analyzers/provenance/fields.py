"""Values as generator records state them, bounded: what a hostile file can make the scan keep.

Generator metadata is text any tool (or attacker) writes. Every string kept is cut at
``MAX_STRING`` characters, lists at fixed counts and a record's remaining settings at
``MAX_SETTINGS`` pairs, and numbers are taken only when they are numbers; none of these raise.
Shared by the container readers (``containers``), the metadata entry point and every generator
parser (``generators/``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

MAX_STRING = 8192  # characters kept of one prompt or stated value (the rest is cut, marked "…")
MAX_SETTINGS = 200  # key/value pairs kept per generator record


def json_object(text: Any) -> dict[str, Any] | None:
    """A JSON object from text that starts like one, else None (never raises: deep nesting too)."""
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def clip(text: str) -> str:
    """At most ``MAX_STRING`` characters, the cut marked with "…"."""
    return text if len(text) <= MAX_STRING else text[: MAX_STRING - 1] + "…"


def strings(values: Iterable[Any]) -> tuple[str, ...]:
    """The non-empty strings among ``values``, clipped, once each, at most 50."""
    return unique([v for v in values if isinstance(v, str)], limit=50)


def unique(values: Iterable[str], limit: int) -> tuple[str, ...]:
    """Stripped, clipped, once each in first-seen order, at most ``limit``."""
    out = dict.fromkeys(clip(v.strip()) for v in values if isinstance(v, str) and v.strip())
    return tuple(out)[:limit]


def opt_text(value: Any) -> str | None:
    """A scalar as clipped text; None for nothing, empty text or a container."""
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return clip(text) if text else None


def to_int(value: Any) -> int | None:
    """An integer as stated (int, integral float, digits); bools and anything else are None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,30}\s*", value):
        return int(value)
    return None


def to_float(value: Any) -> float | None:
    """A finite number as stated, else None (bools, NaN and infinities are not numbers here)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def size_text(width: Any, height: Any) -> str | None:
    """``WxH`` when both are integers."""
    w, h = to_int(width), to_int(height)
    return f"{w}x{h}" if w is not None and h is not None else None


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else empty: JSON fields may hold anything."""
    return value if isinstance(value, list) else []


def unquote(value: str) -> str:
    """A JSON-quoted infotext value unquoted; anything else as it is."""
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            unquoted = json.loads(value)
        except ValueError:
            return value
        return unquoted if isinstance(unquoted, str) else value
    return value


def setting_pairs(pairs: Iterable[tuple[Any, Any]]) -> tuple[tuple[str, str], ...]:
    """Stated key/value pairs as clipped text (non-strings as JSON), empty ones left out, at most
    ``MAX_SETTINGS``."""
    out = []
    for key, value in pairs:
        if value is None or value == "":
            continue
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        out.append((clip(str(key))[:200], clip(text)))
        if len(out) >= MAX_SETTINGS:
            break
    return tuple(out)
