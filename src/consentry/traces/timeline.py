"""The per-person timeline: source photo taken / saved -> service visited -> fake downloaded ->
file moved into a folder named after the person, with each step marked observed or inferred.

Observed (``observed=True``) is a fact read from the evidence: a time stamp the file system or
the camera recorded, a row of a browser's history. Inferred (``observed=False``) is what the
tool concludes from facts, with the reason in ``basis``: that a picture was made from another
(a derivation link), that a fake was made with the service its download came from, that a file
was moved into a person's folder.

Whose steps: a person's files are the contents with a face attributed to them (an enrolled
person's confirmed or automatic matches, an unidentified person's group), plus the pictures a
derivation link joins to those (the fake made from their photo, the photo a fake of them was
made from). Browser traces join a timeline only through those files: a download matched to one
of them, and the visits to the same listed service from the same browser profile in the
``VISIT_WINDOW`` before that download. A person-scoped report therefore shows no trace that is
not joined to that person's files.

Times are UTC (``at_utc``); an EXIF time without a recorded offset is camera-local and shown in
``what`` with ``at_utc`` None.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from consentry.records.traces import TimelineEvent
from consentry.store.case_store import CaseStore
from consentry.store.links_store import LinkRecord, LinksStore
from consentry.store.persons_store import ENROLLED, MATCH_LEVEL, PersonRow, PersonsStore
from consentry.store.traces_store import LocationTimes, StoredTrace, TracesStore

VISIT_WINDOW = dt.timedelta(hours=24)
STEP_ORDER = {
    "source_taken": 0,
    "source_saved": 1,
    "service_visited": 2,
    "fake_downloaded": 3,
    "made_with_service": 4,
    "derived_from": 5,
    "fake_saved": 6,
    "moved_to_person_folder": 7,
}


@dataclass(frozen=True)
class PersonFiles:
    """What a person's timeline is built from (also what a person-scoped report may show)."""

    code: str
    faces: frozenset[str]  # contents with the person's face
    sources: frozenset[str]  # photos a derivation link says a picture of theirs was made from
    derived: frozenset[str]  # pictures made from a photo of theirs
    traces: tuple[StoredTrace, ...]  # downloads of their files and the visits joined to them

    @property
    def contents(self) -> frozenset[str]:
        return self.faces | self.sources | self.derived


def person_timelines(
    store: CaseStore, only: Iterable[str] | None = None
) -> dict[str, list[TimelineEvent]]:
    """Each person's timeline, by code (``only``: these codes; an advocate's persons)."""
    files = person_files(store, only)
    if not files:
        return {}
    ts = TracesStore(store.engine)
    links = LinksStore(store.engine).links()
    persons = {p.code: p for p in PersonsStore(store.engine).persons(include_merged=False)}
    enrolled = {p.code: p.name for p in persons.values() if p.kind == ENROLLED and p.name}
    every = set().union(*(f.contents for f in files.values()))
    times = defaultdict(list)
    for lt in ts.location_times(every):
        times[lt.sha256].append(lt)
    exif = ts.exif(every)
    out: dict[str, list[TimelineEvent]] = {}
    for code, pf in files.items():
        events = _events(code, pf, links, times, exif, {code: enrolled.get(code)})
        out[code] = sorted(events, key=_sort_key)
    return out


def person_files(store: CaseStore, only: Iterable[str] | None = None) -> dict[str, PersonFiles]:
    """Each active person's files and the traces joined to them (see the module's doc)."""
    ps = PersonsStore(store.engine)
    rows = ps.persons(include_merged=True)
    by_id = {p.id: p for p in rows}
    wanted = set(only) if only is not None else None

    def final(pid: int | None) -> PersonRow | None:
        seen = set()
        while pid is not None and pid in by_id and by_id[pid].merged_into and pid not in seen:
            seen.add(pid)
            pid = by_id[pid].merged_into
        return by_id.get(pid) if pid is not None else None

    faces: dict[str, set[str]] = defaultdict(set)
    for a in ps.attributions():
        if a.match_person is not None and a.match_level == MATCH_LEVEL:
            person = final(a.match_person)
        else:
            person = final(a.cluster_person)
        if person is not None and (wanted is None or person.code in wanted):
            faces[person.code].add(a.key[0])
    if not faces:
        return {}
    links = LinksStore(store.engine).links()
    traces = TracesStore(store.engine).traces()
    out: dict[str, PersonFiles] = {}
    for code, shas in sorted(faces.items()):
        derived = {x.derived_sha256 for x in links if x.source_sha256 in shas} - shas
        sources = {x.source_sha256 for x in links if x.derived_sha256 in shas} - shas
        mine = shas | derived | sources
        downloads = [
            t
            for t in traces
            if t.record.event.kind == "download" and t.record.matched_sha256 in mine
        ]
        visits = _joined_visits(downloads, traces)
        joined = sorted(
            {t.id: t for t in [*downloads, *visits]}.values(),
            key=lambda t: (t.record.event.at_utc or "~", t.id),
        )
        out[code] = PersonFiles(code, frozenset(shas), frozenset(sources), frozenset(derived),
                                tuple(joined))  # fmt: skip
    return out


def _tokens(text: str) -> set[str]:
    """``Jane_Doe`` / ``jane-doe`` / ``JaneDoe`` -> {"jane", "doe"} (accents folded)."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    out = set()
    for t in re.split(r"[\W_\d]+", text):
        if t:
            folded = unicodedata.normalize("NFKD", t.casefold())
            out.add("".join(c for c in folded if not unicodedata.combining(c)))
    return out


def folder_named_after(path: str, name: str) -> str | None:
    """The folder ``path`` sits in when its name is the person's name (every folder word a
    word of the name, two at least, or the one-word name itself); else None. The same rule as
    ``persons.folders.named_after`` (that layer is not importable from here)."""
    folder = path.rpartition("/")[0]
    if not folder:
        return None
    base = folder.rstrip("/").rpartition("/")[2].rpartition("!")[2]
    tokens, words = _tokens(base), _tokens(name)
    if tokens and tokens <= words and (len(tokens) >= 2 or words == tokens):
        return folder
    return None


def _parse(at: str | None) -> dt.datetime | None:
    if not at:
        return None
    try:
        return dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None


def _joined_visits(downloads: list[StoredTrace], traces: list[StoredTrace]) -> list[StoredTrace]:
    out = []
    for d in downloads:
        when = _parse(d.record.event.at_utc)
        if d.record.service_id is None or when is None:
            continue
        for t in traces:
            r = t.record
            if r.event.kind != "visit" or r.service_id != d.record.service_id:
                continue
            if (
                r.event.profile != d.record.event.profile
                or r.db_location_id != d.record.db_location_id
            ):
                continue
            at = _parse(r.event.at_utc)
            if at is not None and when - VISIT_WINDOW <= at <= when:
                out.append(t)
    return out


def _iso_ns(ns: int | None) -> str | None:
    if ns is None:
        return None
    try:
        moment = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _exif_taken(sha: str, tags: dict[str, object]) -> tuple[str | None, str] | None:
    raw = tags.get("DateTimeOriginal")
    if not isinstance(raw, str):
        return None
    text = raw.strip().strip("\x00")
    try:
        local = dt.datetime.strptime(text, "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = tags.get("OffsetTimeOriginal")
    if isinstance(offset, str):
        try:
            aware = dt.datetime.fromisoformat(local.isoformat() + offset.strip())
            return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), (
                f"EXIF DateTimeOriginal {text} with OffsetTimeOriginal {offset.strip()}"
            )
        except ValueError:
            pass
    return None, f"EXIF DateTimeOriginal {text} (camera clock, time zone not recorded)"


def _file_events(code: str, lt: LocationTimes, step: str, what: str) -> list[TimelineEvent]:
    out = []
    for ns, label in ((lt.crtime_ns, "creation time"), (lt.mtime_ns, "modification time")):
        at = _iso_ns(ns)
        if at is not None:
            out.append(
                TimelineEvent(
                    code,
                    at,
                    step,
                    True,
                    f"{what} ({label})",
                    lt.location_id,
                    lt.sha256,
                    None,
                    f"file system {label} of {lt.path}",
                )  # fmt: skip
            )
    return out


def _events(
    code: str,
    pf: PersonFiles,
    links: list[LinkRecord],
    times: dict[str, list[LocationTimes]],
    exif: dict[str, dict[str, object]],
    enrolled: dict[str, str | None],
) -> list[TimelineEvent]:
    events: list[TimelineEvent] = []
    relevant = [
        x for x in links if x.derived_sha256 in pf.contents and x.source_sha256 in pf.contents
    ]
    originals = {x.source_sha256 for x in relevant}
    fakes = {x.derived_sha256 for x in relevant}
    downloads = [t for t in pf.traces if t.record.event.kind == "download"]
    downloaded = {t.record.matched_location_id for t in downloads}
    # the source photo: taken (EXIF), saved (file times)
    for sha in sorted(originals - fakes):
        taken = _exif_taken(sha, exif.get(sha, {}))
        if taken is not None:
            at, basis = taken
            shown = f"source photo taken: {basis}"
            events.append(
                TimelineEvent(code, at, "source_taken", True, shown, None, sha, None, basis)
            )
        for lt in times.get(sha, []):
            events.extend(
                _file_events(code, lt, "source_saved", f"source photo saved at {lt.path}")
            )
    # browser traces joined to the person's files
    for t in pf.traces:
        r = t.record
        e = r.event
        if e.kind == "visit":
            events.append(
                TimelineEvent(
                    code,
                    e.at_utc,
                    "service_visited",
                    True,
                    f"{e.browser} visited {r.service_name} ({r.host})",
                    None,
                    None,
                    t.id,
                    f"history row {e.source_row} in {t.db_path}; joined to {code} because the "
                    f"same profile downloaded a file of theirs from this service within "
                    f"{int(VISIT_WINDOW.total_seconds() // 3600)} h",
                )  # fmt: skip
            )
            continue
        events.append(
            TimelineEvent(
                code,
                e.at_utc,
                "fake_downloaded" if r.matched_sha256 in fakes else "file_downloaded",
                True,
                f"{e.browser} downloaded {e.download_path or e.url} from {r.host}"
                + (f" (now {t.matched_path})" if t.matched_path else ""),
                r.matched_location_id,
                r.matched_sha256,
                t.id,
                f"downloads row {e.source_row} in {t.db_path}; file in the case matched by "
                f"{r.match_reason}",
            )  # fmt: skip
        )
        if r.service_id:
            events.append(
                TimelineEvent(
                    code,
                    e.at_utc,
                    "made_with_service",
                    False,
                    f"the downloaded file was probably made with {r.service_name}",
                    r.matched_location_id,
                    r.matched_sha256,
                    t.id,
                    f"inferred: the download came from {r.service_name}'s domain (its URL, tab "
                    "or referrer) in the services list",
                )  # fmt: skip
            )
    # derivation: which fake was made from which photo
    for x in relevant:
        when = next(
            (
                t.record.event.at_utc
                for t in downloads
                if t.record.matched_sha256 == x.derived_sha256
            ),
            None,
        )
        swapped = {True: "; the face is another person's", False: "", None: ""}[x.face_swap]
        events.append(
            TimelineEvent(
                code,
                when,
                "derived_from",
                False,
                f"{_shown(x.derived_sha256, times)} was made from "
                f"{_shown(x.source_sha256, times)}{swapped}",
                None,
                x.derived_sha256,
                None,
                f"inferred: derivation link (direction confidence {x.confidence:.2f}, changed "
                f"{x.changed_fraction:.0%})",
            )  # fmt: skip
        )
    # the fake's files: saved, and filed under a folder named after the person
    name = enrolled.get(code)
    for sha in sorted(
        fakes | {t.record.matched_sha256 for t in downloads if t.record.matched_sha256}
    ):
        for lt in times.get(sha, []):
            if lt.location_id in downloaded:
                events.extend(_file_events(code, lt, "fake_saved", f"downloaded file at {lt.path}"))
                continue
            folder = folder_named_after(lt.path, name) if name else None
            if folder is not None:
                at = _iso_ns(lt.crtime_ns) or _iso_ns(lt.mtime_ns)
                label = "creation" if lt.crtime_ns is not None else "modification"
                events.append(
                    TimelineEvent(
                        code,
                        at,
                        "moved_to_person_folder",
                        False,
                        f"the same file (SHA-256) is in {folder}, a folder named after {code}",
                        lt.location_id,
                        sha,
                        None,
                        f"inferred: same content as the {'download' if downloaded else 'fake'}, "
                        f"in a folder whose name matches {code}'s; time: its {label} time",
                    )  # fmt: skip
                )
            else:
                events.extend(_file_events(code, lt, "fake_saved", f"fake saved at {lt.path}"))
    return events


def _shown(sha: str, times: dict[str, list[LocationTimes]]) -> str:
    """A content as a timeline line names it: its first location, else its hash's start."""
    places = times.get(sha, [])
    return places[0].path if places else f"picture {sha[:12]}"


def _sort_key(e: TimelineEvent) -> tuple[bool, str, int, str]:
    return (e.at_utc is None, e.at_utc or "", STEP_ORDER.get(e.step, 9), e.what)


__all__ = ["STEP_ORDER", "VISIT_WINDOW", "PersonFiles", "person_files", "person_timelines"]
