"""The curated list of AI undress / nudify / face-swap services, and host matching against it.

The list ships as ``data/services.yaml`` (each entry sourced and dated, see its header); an
operator replaces it for a run with ``--services FILE`` in the same format. Matching is by
registrable domain, subdomains included: ``clothoff.io`` matches ``www.clothoff.io`` but not
``clothoff.io.example.com`` or ``notclothoff.io``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from consentry.records.traces import ServiceEntry

CATEGORIES = ("undress", "nudify", "face_swap", "generator")
SHIPPED_NAME = "services.yaml"
MAX_FILE_BYTES = 4 * 1024 * 1024
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class ServicesListError(Exception):
    """A services list that cannot be used: one line naming the file and the bad entry."""


@dataclass(frozen=True)
class ServicesList:
    """The list as loaded, with where it came from (for the audit log and reports)."""

    entries: list[ServiceEntry]
    origin: str  # "shipped" | "file"
    path: str  # the file read (the shipped file's name for the shipped list)
    sha256: str  # of the file's bytes


def shipped_bytes() -> bytes:
    return (
        resources.files("consentry.analyzers.artefacts").joinpath("data", SHIPPED_NAME).read_bytes()
    )


def load_services(path: Path | None = None) -> list[ServiceEntry]:
    """The entries of ``path`` (None: the shipped list). Raises ServicesListError."""
    return load_services_list(path).entries


def load_services_list(path: Path | None = None) -> ServicesList:
    if path is None:
        data, shown, origin = (
            shipped_bytes(),
            f"consentry/analyzers/artefacts/data/{SHIPPED_NAME}",
            "shipped",
        )
    else:
        shown, origin = str(path), "file"
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ServicesListError(
                f"{shown}: cannot read the services list ({exc.strerror})"
            ) from None
        if len(data) > MAX_FILE_BYTES:
            raise ServicesListError(
                f"{shown}: larger than {MAX_FILE_BYTES} bytes, not a services list"
            )
    entries = parse_services(data, shown)
    return ServicesList(entries, origin, shown, hashlib.sha256(data).hexdigest())


def parse_services(data: bytes, shown: str) -> list[ServiceEntry]:
    try:
        doc = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServicesListError(f"{shown}: not valid UTF-8 YAML ({first})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("services"), list):
        raise ServicesListError(f"{shown}: expected a mapping with a 'services' list")
    entries: list[ServiceEntry] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(doc["services"], start=1):
        entry = _entry(raw, n, shown)
        if entry.id in seen:
            raise ServicesListError(
                f"{shown}: entry {n} ({entry.id}): id already used by entry {seen[entry.id]}"
            )
        seen[entry.id] = n
        entries.append(entry)
    return entries


def _entry(raw: Any, n: int, shown: str) -> ServiceEntry:
    def bad(what: str) -> ServicesListError:
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else "?"
        return ServicesListError(f"{shown}: entry {n} ({label}): {what}")

    if not isinstance(raw, dict):
        raise bad("not a mapping")
    unknown = sorted(
        set(map(str, raw)) - {"id", "name", "domains", "category", "added", "source", "note"}
    )
    if unknown:
        raise bad(f"unknown field(s) {', '.join(unknown)}")
    sid = raw.get("id")
    if not isinstance(sid, str) or not _ID.match(sid):
        raise bad("id must be a slug of a-z, 0-9 and -")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad("name is missing")
    domains = raw.get("domains")
    if not isinstance(domains, list) or not domains:
        raise bad("domains must be a non-empty list")
    clean = []
    for d in domains:
        if not isinstance(d, str) or not is_domain(d):
            raise bad(f"domain {d!r} is not a bare lower-case domain (no scheme, path or port)")
        clean.append(d)
    category = raw.get("category")
    if category not in CATEGORIES:
        raise bad(f"category must be one of {', '.join(CATEGORIES)}")
    added = raw.get("added")
    if isinstance(added, dt.date):
        added = added.isoformat()
    try:
        dt.date.fromisoformat(str(added))
    except ValueError:
        raise bad("added must be a date YYYY-MM-DD") from None
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        raise bad("source is missing: every entry needs a public citation")
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        raise bad("note must be text")
    return ServiceEntry(
        id=sid,
        name=name.strip(),
        domains=tuple(clean),
        category=str(category),
        added=str(added),
        source=" ".join(source.split()),
        note=" ".join(note.split()) if note else None,
    )


def is_domain(text: str) -> bool:
    labels = text.split(".")
    return len(labels) >= 2 and len(text) <= 253 and all(_LABEL.match(x) for x in labels)


def normalise_host(host: str) -> str:
    """Lower case, no port, no trailing dot, IDN as xn--; '' for what is not a host name."""
    h = host.strip().lower().rstrip(".")
    if h.startswith("[") or not h:
        return ""
    if ":" in h:
        h = h.rsplit(":", 1)[0]
    try:
        h = h.encode("idna").decode("ascii")
    except UnicodeError:
        return h
    return h


def match_host(host: str | None, services: list[ServiceEntry]) -> ServiceEntry | None:
    """The listed service whose domain is ``host`` or a parent of it (first in list order)."""
    if not host:
        return None
    h = normalise_host(host)
    if not h:
        return None
    for entry in services:
        for d in entry.domains:
            if h == d or h.endswith("." + d):
                return entry
    return None


__all__ = [
    "CATEGORIES",
    "ServicesList",
    "ServicesListError",
    "load_services",
    "load_services_list",
    "match_host",
    "normalise_host",
    "parse_services",
    "shipped_bytes",
]
