"""Which analyzers exist: the built-ins first, then the plug-ins installed under the
``consentry.analyzers`` entry-point group, then any a program registers itself.

Names are known without importing anything (the built-ins' are listed here, the plug-ins' come
from the installed distributions' metadata), so ``consentry --help`` imports no analyzer and no
model. A class is imported when first asked for (``get``). A plug-in that cannot be imported, is
not an ``Analyzer`` or takes a name already taken is left out and becomes one line in
``problems()``: a broken plug-in never stops a scan of the others.

A plug-in declares, in its distribution's ``entry_points.txt``::

    [consentry.analyzers]
    watermark_x = acme_consentry:WatermarkXAnalyzer

where the entry point's name is the analyzer's ``name``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable
from dataclasses import dataclass

from consentry.analyzers.contract import Analyzer
from consentry.records.analyzer_counts import CountRule

ENTRY_POINT_GROUP = "consentry.analyzers"
_log = logging.getLogger(__name__)

# in this order: the blur rule's analyzer (explicit) first, so its label is known to the others
BUILTINS = (
    ("explicit", "consentry.analyzers.builtins.explicit:ExplicitContentAnalyzer"),
    ("faces", "consentry.analyzers.builtins.faces:FacesAnalyzer"),
    ("provenance", "consentry.analyzers.builtins.provenance:ProvenanceAnalyzerAdapter"),
)
BUILTIN_NAMES = tuple(name for name, _ in BUILTINS)


class UnknownAnalyzer(LookupError):
    """No analyzer of that name is registered (or its plug-in could not be loaded)."""


@dataclass
class _Entry:
    name: str
    origin: str  # "built-in", or the plug-in's distribution and entry point, for messages
    load: Callable[[], object]
    cls: type[Analyzer] | None = None
    failed: str | None = None


_entries: dict[str, _Entry] = {}
_problems: list[str] = []
_discovered = False


def _import_path(path: str) -> Callable[[], object]:
    module, _, attr = path.partition(":")
    return lambda: getattr(importlib.import_module(module), attr)


def _discover() -> None:
    """Built-ins, then installed plug-ins: once per process, on first use."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    for name, path in BUILTINS:
        _entries[name] = _Entry(name, "built-in", _import_path(path))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        origin = f"plug-in {ep.name} = {ep.value} (distribution {dist})"
        if ep.name in _entries:
            _problem(
                f"analyzer plug-in {origin} left out: the name {ep.name!r} is already taken "
                f"({_entries[ep.name].origin})"
            )
            continue
        _entries[ep.name] = _Entry(ep.name, origin, ep.load)


def _problem(message: str) -> None:
    """Kept for ``problems()`` and said once on stderr (the shells need not print it)."""
    _problems.append(message)
    _log.warning("warning: %s", message)


def register(cls: type[Analyzer]) -> type[Analyzer]:
    """Add an analyzer class (for a program that embeds consentry, or a test); usable as a
    decorator. A name already taken is refused with ValueError."""
    _discover()
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise TypeError(f"{cls!r} is not a consentry.analyzers.contract.Analyzer subclass")
    if cls.name in _entries:
        raise ValueError(
            f"an analyzer named {cls.name!r} is already registered ({_entries[cls.name].origin})"
        )
    _entries[cls.name] = _Entry(cls.name, f"registered {cls.__module__}", lambda: cls, cls)
    return cls


def _loaded(entry: _Entry) -> type[Analyzer] | None:
    if entry.cls is not None or entry.failed is not None:
        return entry.cls
    try:
        cls = entry.load()
    except Exception as exc:  # noqa: BLE001 - a broken plug-in is reported, never a crash
        entry.failed = f"cannot be imported: {type(exc).__name__}: {exc}"
    else:
        if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
            entry.failed = f"{cls!r} is not an Analyzer subclass"
        elif cls.name != entry.name:
            entry.failed = f"its class is named {cls.name!r}, not {entry.name!r}"
        else:
            entry.cls = cls
    if entry.failed is not None:
        _problem(f"analyzer {entry.name!r} ({entry.origin}) left out: {entry.failed}")
    return entry.cls


def names() -> tuple[str, ...]:
    """Every registered name, built-ins first (imports no analyzer)."""
    _discover()
    return tuple(n for n, e in _entries.items() if e.failed is None)


def get(name: str) -> type[Analyzer]:
    _discover()
    entry = _entries.get(name)
    cls = _loaded(entry) if entry is not None else None
    if cls is None:
        why = entry.failed if entry is not None else "no analyzer of that name is registered"
        raise UnknownAnalyzer(f"analyzer {name!r}: {why}")
    return cls


def analyzers() -> tuple[type[Analyzer], ...]:
    """Every analyzer class that loads, in registration order (broken plug-ins left out)."""
    _discover()
    return tuple(cls for e in list(_entries.values()) if (cls := _loaded(e)) is not None)


def default_names() -> frozenset[str]:
    """What a scan runs unless told otherwise."""
    return frozenset(cls.name for cls in analyzers() if cls.default)


def count_rules() -> tuple[CountRule, ...]:
    """How the case summary counts each analyzer's findings (``CaseStore.counts``)."""
    return tuple(cls.counting() for cls in analyzers())


def dedicated_report_fields(name: str) -> bool:
    """Whether findings of ``name`` have their own fields in the report (the built-ins); an
    analyzer no longer installed is shown generically."""
    _discover()
    entry = _entries.get(name)
    cls = _loaded(entry) if entry is not None else None
    return cls is not None and cls.dedicated_report_fields


def problems() -> tuple[str, ...]:
    """Plug-ins left out, one line each, in the order they were found."""
    _discover()
    return tuple(_problems)


def reset() -> None:
    """Forget registrations and discoveries (tests)."""
    global _discovered
    _entries.clear()
    _problems.clear()
    _discovered = False


__all__ = [
    "BUILTIN_NAMES",
    "ENTRY_POINT_GROUP",
    "UnknownAnalyzer",
    "analyzers",
    "count_rules",
    "dedicated_report_fields",
    "default_names",
    "get",
    "names",
    "problems",
    "register",
    "reset",
]
