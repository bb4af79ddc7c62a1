"""Who is depicted, in how many images, how sure: the persons report and its count.

Every number says what it counts:

- ``images``: image *locations* (files, archive members included) showing the person; a file
  found twice counts twice, as the scan counts files; ``unique_images`` counts distinct
  SHA-256. ``items`` lists those locations' paths as the scan recorded them.
- an enrolled person's images are those with a face at the ``match`` level; ``possible``
  faces are listed apart and never counted as the person's images.
- an unidentified person (``U<n>``) is a group of usable faces; faces of the group that match
  an enrolled person are shown under that person instead. A group whose other faces match an
  enrolled person is *likely* that person (``likely_enrolled``).

The count (``count`` block) is a range, not a single guess:

- ``lower_bound``: enrolled persons with a match + unidentified persons seen in at least two
  images (``MIN_IMAGES_STRONG``) and not likely an enrolled one;
- ``estimate``: the lower bound + unidentified persons seen in one image (weak evidence);
- ``upper_bound``: the estimate + enrolled persons with only possible matches + groups that
  are likely an enrolled person.

Faces that are too small, blurred or in profile join no group; they may show further persons,
so the count block states how many there are and in how many images.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from consentry.persons.consent import record_from_json
from consentry.persons.folders import (
    FolderImage,
    FolderReport,
    Inconsistency,
    codes_sorted,
    folder_of,
    reconcile,
)
from consentry.persons.matching import MATCH, POSSIBLE
from consentry.persons.refresh import consented_persons, current_state, method_description
from consentry.store.persons_store import (
    ENROLLED,
    UNIDENTIFIED,
    FaceAttribution,
    FaceKey,
    PersonRow,
    PersonsStore,
)

MIN_IMAGES_STRONG = 2


@dataclass
class PersonSummary:
    id: str
    kind: str  # enrolled | unidentified
    name: str | None
    images: int
    unique_images: int
    explicit_images: int
    folders: list[dict[str, Any]]  # [{folder, images}]
    items: list[str]
    faces: int
    similarity: dict[str, float] | None  # {min, max}: to the person (enrolled) / group centre
    weak: bool
    evidence: str  # one line: why weak or strong
    possible_images: int = 0
    possible_items: list[str] = field(default_factory=list)
    likely_enrolled: str | None = None
    consent: str | None = None  # enrolled: valid | expired | missing
    merged_from: list[str] = field(default_factory=list)


@dataclass
class CountBlock:
    estimate: int
    lower_bound: int
    upper_bound: int
    enrolled_matched: int
    enrolled_possible_only: int
    unidentified_strong: int
    unidentified_weak: int
    unidentified_likely_enrolled: int
    unattributed_faces: int
    images_with_unattributed_faces: int
    definitions: dict[str, str]


@dataclass
class PersonsReport:
    persons: list[PersonSummary]
    count: CountBlock
    folders: list[FolderReport]
    inconsistencies: list[Inconsistency]
    up_to_date: bool
    method: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "persons": [asdict(p) for p in self.persons],
            "count": asdict(self.count),
            "folders": [asdict(f) for f in self.folders],
            "inconsistencies": [asdict(i) for i in self.inconsistencies],
            "up_to_date": self.up_to_date,
            "method": self.method,
        }


DEFINITIONS = {
    "estimate": "enrolled persons with a match + unidentified persons not likely enrolled",
    "lower_bound": f"enrolled persons with a match + unidentified persons seen in >= "
    f"{MIN_IMAGES_STRONG} distinct images and not likely enrolled",
    "upper_bound": "estimate + enrolled persons with only possible matches + unidentified "
    "persons likely to be an enrolled one",
    "images": "image locations (files, archive members included) showing the person; "
    "duplicates count once per location",
    "unattributed_faces": "faces in no group and matching nobody (too small, blurred, in "
    "profile, not embedded, or erased with a person who withdrew consent): they may show "
    "persons not counted here",
}


def build_report(ps: PersonsStore) -> PersonsReport:
    persons = ps.persons()
    by_id = {p.id: p for p in persons}
    faces = ps.attributions()
    locations = ps.image_locations()
    paths_by_sha: dict[str, list[str]] = defaultdict(list)
    for loc in locations:
        paths_by_sha[loc.sha256].append(loc.path)
    explicit = ps.explicit_contents()
    valid = {p.id for p in consented_persons(persons)}
    state, _ = current_state(ps)
    up_to_date = ps.identity_state() == state

    # faces per person: enrolled by match level; groups by the faces no enrolled person claims
    match_faces: dict[int, list[FaceAttribution]] = defaultdict(list)
    possible_faces: dict[int, list[FaceAttribution]] = defaultdict(list)
    group_faces: dict[int, list[FaceAttribution]] = defaultdict(list)
    group_claimed: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    unattributed: list[FaceAttribution] = []
    for f in faces:
        matched = f.match_person if f.match_level == MATCH else None
        if matched is not None:
            match_faces[matched].append(f)
        elif f.match_level == POSSIBLE and f.match_person is not None:
            possible_faces[f.match_person].append(f)
        if f.cluster_person is not None:
            if matched is not None:
                group_claimed[f.cluster_person][matched] += 1
            else:
                group_faces[f.cluster_person].append(f)
        elif matched is None:
            unattributed.append(f)

    centre_sims = _group_cohesion(ps, group_faces)
    merged_from: dict[int, list[str]] = defaultdict(list)
    for p in persons:
        if p.merged_into is not None:
            merged_from[p.merged_into].append(p.code)

    summaries: list[PersonSummary] = []
    for p in persons:
        if p.status != "active":
            continue
        if p.kind == ENROLLED:
            summaries.append(
                _enrolled(
                    p,
                    match_faces[p.id],
                    possible_faces[p.id],
                    paths_by_sha,
                    explicit,
                    p.id in valid,
                )
            )
        elif group_faces.get(p.id):
            claimed = group_claimed.get(p.id, {})
            likely = max(claimed, key=lambda k: (claimed[k], -k)) if claimed else None
            summaries.append(
                _unidentified(
                    p,
                    group_faces[p.id],
                    paths_by_sha,
                    explicit,
                    centre_sims.get(p.id),
                    by_id[likely].code if likely is not None and likely in by_id else None,
                    merged_from.get(p.id, []),
                )
            )

    enrolled_matched = sum(1 for s in summaries if s.kind == ENROLLED and s.images)
    enrolled_possible = sum(
        1 for s in summaries if s.kind == ENROLLED and not s.images and s.possible_images
    )
    groups = [s for s in summaries if s.kind == UNIDENTIFIED]
    likely = sum(1 for s in groups if s.likely_enrolled)
    strong = sum(1 for s in groups if not s.likely_enrolled and not s.weak)
    weak = sum(1 for s in groups if not s.likely_enrolled and s.weak)
    count = CountBlock(
        estimate=enrolled_matched + strong + weak,
        lower_bound=enrolled_matched + strong,
        upper_bound=enrolled_matched + enrolled_possible + strong + weak + likely,
        enrolled_matched=enrolled_matched,
        enrolled_possible_only=enrolled_possible,
        unidentified_strong=strong,
        unidentified_weak=weak,
        unidentified_likely_enrolled=likely,
        unattributed_faces=len(unattributed),
        images_with_unattributed_faces=sum(
            len(paths_by_sha.get(sha, [])) for sha in {f.key[0] for f in unattributed}
        ),
        definitions=DEFINITIONS,
    )

    # folders: every image location, with the persons shown in it
    codes_in: dict[str, set[str]] = defaultdict(set)
    for s in summaries:
        for path in s.items:
            codes_in[path].add(s.id)
    with_faces = {f.key[0] for f in faces}
    folder_images = [
        FolderImage(
            folder_of(loc.path),
            loc.path,
            frozenset(codes_in.get(loc.path, ())),
            loc.sha256 in with_faces,
        )
        for loc in locations
    ]
    enrolled_names = {p.code: p.name or "" for p in persons if p.kind == ENROLLED and p.name}
    folder_reports, issues = reconcile(folder_images, enrolled_names)
    summaries.sort(key=lambda s: (s.kind != ENROLLED, _num(s.id)))
    return PersonsReport(summaries, count, folder_reports, issues, up_to_date, method_description())


def _enrolled(
    p: PersonRow,
    matched: list[FaceAttribution],
    possible: list[FaceAttribution],
    paths_by_sha: dict[str, list[str]],
    explicit: set[str],
    consent_valid: bool,
) -> PersonSummary:
    shas = sorted({f.key[0] for f in matched})
    items = sorted(path for sha in shas for path in paths_by_sha.get(sha, []))
    possible_shas = sorted({f.key[0] for f in possible} - set(shas))
    sims = [f.match_similarity for f in matched if f.match_similarity is not None]
    consent = "missing" if not p.consent_json else "valid" if consent_valid else "expired"
    if not consent_valid:
        evidence = f"consent {consent}: not matched"
    elif matched:
        evidence = f"{len(matched)} face(s) at match level (similarity >= threshold)"
    elif possible:
        evidence = "only possible matches: a lead, not an identification"
    else:
        evidence = "not found in the case"
    return PersonSummary(
        id=p.code,
        kind=ENROLLED,
        name=p.name,
        images=len(items),
        unique_images=len(shas),
        explicit_images=sum(len(paths_by_sha.get(s, [])) for s in shas if s in explicit),
        folders=_folders(items),
        items=items,
        faces=len(matched),
        similarity={"min": round(min(sims), 4), "max": round(max(sims), 4)} if sims else None,
        weak=not matched,
        evidence=evidence,
        possible_images=sum(len(paths_by_sha.get(s, [])) for s in possible_shas),
        possible_items=sorted(p for s in possible_shas for p in paths_by_sha.get(s, [])),
        consent=consent,
    )


def _unidentified(
    p: PersonRow,
    faces: list[FaceAttribution],
    paths_by_sha: dict[str, list[str]],
    explicit: set[str],
    cohesion: tuple[float, float] | None,
    likely: str | None,
    merged_from: list[str],
) -> PersonSummary:
    shas = sorted({f.key[0] for f in faces})
    items = sorted(path for sha in shas for path in paths_by_sha.get(sha, []))
    weak = len(shas) < MIN_IMAGES_STRONG
    if likely:
        evidence = f"other faces of this group match {likely}: likely the same person"
    elif weak:
        evidence = f"seen in one image only ({len(faces)} face(s)): weak"
    else:
        evidence = f"{len(faces)} usable faces in {len(shas)} distinct images"
    return PersonSummary(
        id=p.code,
        kind=UNIDENTIFIED,
        name=None,
        images=len(items),
        unique_images=len(shas),
        explicit_images=sum(len(paths_by_sha.get(s, [])) for s in shas if s in explicit),
        folders=_folders(items),
        items=items,
        faces=len(faces),
        similarity={"min": round(cohesion[0], 4), "max": round(cohesion[1], 4)}
        if cohesion
        else None,
        weak=weak,
        evidence=evidence,
        likely_enrolled=likely,
        merged_from=codes_sorted(merged_from),
    )


def _group_cohesion(
    ps: PersonsStore, groups: dict[int, list[FaceAttribution]]
) -> dict[int, tuple[float, float]]:
    """Per group: lowest and highest similarity of a member face to the group's centre."""
    if not groups:
        return {}
    ident = ps.identity_faces()
    row = {k: i for i, k in enumerate(ident.keys)}
    out = {}
    for pid, members in groups.items():
        idx = [row[f.key] for f in members if f.key in row]
        if len(idx) < 2:
            continue
        x = ident.embeddings[idx]
        centre = x.sum(axis=0)
        centre /= max(float(np.linalg.norm(centre)), 1e-12)
        sims = x @ centre
        out[pid] = (float(sims.min()), float(sims.max()))
    return out


def _folders(items: list[str]) -> list[dict[str, Any]]:
    counts: dict[str, int] = defaultdict(int)
    for path in items:
        counts[folder_of(path)] += 1
    return [
        {"folder": f, "images": n}
        for f, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _num(code: str) -> int:
    return int(code[1:]) if code[1:].isdigit() else 0


def consent_summary(p: PersonRow) -> dict[str, Any] | None:
    if not p.consent_json:
        return None
    return asdict(record_from_json(p.consent_json))


__all__ = [
    "DEFINITIONS",
    "MIN_IMAGES_STRONG",
    "CountBlock",
    "FaceKey",
    "PersonSummary",
    "PersonsReport",
    "build_report",
    "consent_summary",
]
