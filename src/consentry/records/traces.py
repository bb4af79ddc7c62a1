"""Traces of creation: what a browser profile recorded about AI undress / nudify / face-swap
services, and the per-person timeline built from it. Observed facts (a row in a browser's
database, a file's time stamps) are kept apart from inferences (this download is that fake)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    """One entry of the curated services list (data/services.yaml, or ``--services FILE``)."""

    id: str  # stable slug, e.g. "example-undress"
    name: str
    domains: tuple[str, ...]  # registrable domains; subdomains match too
    category: str  # undress | nudify | face_swap | generator
    added: str  # ISO date the entry was added
    source: str  # where the entry's claim comes from (a URL or a citation)
    note: str | None = None


@dataclass(frozen=True)
class BrowserEvent:
    """One row of a browser's history or downloads, as read (every visit, matched or not)."""

    browser: str  # chrome | edge | brave | firefox | safari
    profile: str  # the profile folder's location display
    kind: str  # visit | download
    url: str
    title: str | None
    at_utc: str | None  # ISO 8601 with Z
    download_path: str | None = None
    download_bytes: int | None = None
    source_row: str = ""  # e.g. "urls.id=12, visits.id=40"


@dataclass(frozen=True)
class TraceRecord:
    """A browser event kept for the case: it names a listed service, or it is a download whose
    file is in the case (by path, or by hash where the browser recorded one)."""

    trace_key: str
    db_location_id: int
    event: BrowserEvent
    host: str
    service_id: str | None
    service_name: str | None
    local_offset_min: int | None
    matched_location_id: int | None
    matched_sha256: str | None
    match_reason: str | None  # path | hash | name_size


@dataclass(frozen=True)
class TimelineEvent:
    """One step of a person's timeline. ``observed`` events are facts read from the evidence
    (a time stamp, a history row); the others are inferences, with the reason stated."""

    person_code: str  # E1, U3 ...
    at_utc: str | None
    step: str  # source_saved | service_visited | fake_downloaded | moved_to_person_folder | ...
    observed: bool
    what: str  # one line, neutral wording, no image content
    location_id: int | None = None
    sha256: str | None = None
    trace_id: int | None = None
    basis: str = ""  # where the time or the claim comes from (mtime, crtime, history row, link)
