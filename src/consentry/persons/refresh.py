"""Bring a case's identities up to date: match every face against the consented templates,
cluster the usable faces, store both in one transaction.

Runs at the end of every scan and after every change to the enrolled persons. Cheap when
nothing changed: the faces' count and newest row id, the templates in use and the persons whose
consent is valid make a small *state*; when it equals the stored one, nothing is loaded.

Clustering covers every usable face, matched or not, and never depends on who is enrolled: the
groups (and their numbers) stay the same when a person is enrolled or erased. The report then
shows a face under the enrolled person it matches, and under its group only otherwise.

Faces of an erased person (``erasure``) have no embedding, so they are neither matched nor
grouped again; each refresh first removes whatever a new analysis of their images wrote back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from consentry.analyzers.faces import (
    MATCH_SIMILARITY,
    POSSIBLE_MATCH_SIMILARITY,
    SMALL_FACE_MATCH_SIMILARITY,
    SMALL_FACE_MIN_SIDE,
    small_face_identifiable,
)
from consentry.persons import erasure
from consentry.persons.clustering import (
    KNN,
    LINKAGE_SIMILARITY,
    SUBCLUSTER_SIMILARITY,
    cluster_faces,
)
from consentry.persons.consent import record_from_json
from consentry.persons.matching import (
    GROUP_MIN_FACES,
    MATCH,
    NO_GROUP,
    POSSIBLE,
    FaceMatches,
    MatchReason,
    TemplateSet,
    check_groups,
    match_faces,
    promoted_by_group,
)
from consentry.persons.template_crypto import TemplateKey, TemplateKeyError, load_key
from consentry.store import CaseStore
from consentry.store.persons_store import ENROLLED, MatchRow, PersonRow, PersonsStore

log = logging.getLogger(__name__)
VERSION = "3"  # 2: group consistency of matches; 3: group support, small faces (issue 13)


@dataclass
class RefreshOutcome:
    faces: int
    usable_faces: int
    matched_faces: int
    possible_faces: int
    persons_used: int
    new_unidentified: list[str] = field(default_factory=list)
    joined_existing: int = 0
    matches_skipped: str | None = None  # why matching could not run (key problem)
    matches_demoted_by_group: int = 0
    matches_promoted_by_group: int = 0
    small_face_matches: int = 0


def consented_persons(persons: list[PersonRow]) -> list[PersonRow]:
    """Enrolled persons whose consent is on record and not expired: the only ones matched."""
    out = []
    for p in persons:
        if p.kind != ENROLLED or p.status != "active" or not p.consent_json:
            continue
        try:
            if record_from_json(p.consent_json).expired():
                continue
        except (TypeError, ValueError):
            continue  # an unreadable consent record is no consent
        out.append(p)
    return out


def current_state(ps: PersonsStore) -> tuple[str, list[PersonRow]]:
    faces, newest = ps.face_state()
    persons = consented_persons(ps.persons(include_merged=False))
    allowed = {p.id for p in persons}
    templates = [t for t in ps.template_ids() if t[1] in allowed]
    body = json.dumps(
        {
            "v": VERSION,
            "faces": [faces, newest],
            "templates": templates,
            "thresholds": [
                MATCH_SIMILARITY,
                POSSIBLE_MATCH_SIMILARITY,
                SMALL_FACE_MATCH_SIMILARITY,
                SMALL_FACE_MIN_SIDE,
                LINKAGE_SIMILARITY,
                KNN,
            ],
        },
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest(), persons


def template_key(ps: PersonsStore, case_dir: Path, create: bool = False) -> TemplateKey:
    """The case's template key, checked against the stored key check (set on first use).
    A key file is created only for a case that has no key check yet: once templates exist,
    a missing key is an error, never a fresh key written before the check refuses it."""
    check = ps.key_check()
    key = load_key(case_dir, create=create and check is None)
    if check is None:
        ps.set_key_check(key.make_check())
    else:
        key.verify_check(check)
    return key


def load_templates(ps: PersonsStore, key: TemplateKey, persons: list[PersonRow]) -> TemplateSet:
    rows = ps.template_tokens(p.id for p in persons)
    if not rows:
        return TemplateSet(np.zeros((0, 128), np.float32), np.zeros(0, np.int64))
    return TemplateSet(
        np.stack([key.decrypt(token) for _, _, token in rows]),
        np.array([pid for _, pid, _ in rows], dtype=np.int64),
    )


def refresh_identities(
    store: CaseStore, case_dir: Path, actor: str | None = None, force: bool = False
) -> RefreshOutcome | None:
    """Update matches and clusters; None when nothing changed since the last refresh."""
    ps = PersonsStore(store.engine)
    # an erased person's faces stay erased when a scan analysed their images again
    cleared, crops, failed = erasure.enforce(ps, case_dir)
    if cleared or crops or failed:
        store.append_audit(
            "erasure_kept",
            actor,
            {
                "face_embeddings_or_crop_paths_removed_again": cleared,
                "face_crops_deleted": crops,
                "face_crops_not_deleted": len(failed),
            },
        )
        for line in failed:
            log.warning("erasure: crop file not deleted: %s", line)
    state, persons = current_state(ps)
    if not force and ps.identity_state() == state:
        return None
    faces = ps.identity_faces()
    if not faces.keys and not persons:
        # nothing to identify: remember that, so that the next scan without faces stays cheap
        ps.apply_refresh([], [], [], state)
        return None

    found: FaceMatches | None = None
    templates: TemplateSet | None = None
    skipped = None
    if persons:
        try:
            templates = load_templates(ps, template_key(ps, case_dir), persons)
        except TemplateKeyError as exc:
            skipped = str(exc)
            state = "stale:" + state  # try again next time
            log.warning("identities: matching skipped: %s", exc)
        else:
            small = None
            if faces.size_px is not None:
                small = np.array(
                    [
                        small_face_identifiable(float(size), flags)
                        for size, flags in zip(faces.size_px, faces.flags, strict=True)
                    ],
                    dtype=bool,
                )
            found = match_faces(faces.embeddings, faces.usable, templates, small=small)

    # cluster the usable faces; existing assignments are kept as they are
    usable = np.flatnonzero(faces.usable)
    assigned = ps.cluster_assignments()
    existing = np.array([assigned.get(faces.keys[i], -1) for i in usable], dtype=np.int64)
    result = cluster_faces(faces.embeddings[usable], existing)
    new_groups: list[list[tuple[str, int]]] = [[] for _ in range(result.new_groups)]
    joins = []
    for position, label in enumerate(result.labels.tolist()):
        key = faces.keys[usable[position]]
        if label < 0:
            new_groups[-1 - label].append(key)
        elif existing[position] < 0:
            joins.append((key, label))

    matches: list[MatchRow] | None = None if skipped else []
    demoted = promoted = small_matches = 0
    if found is not None and templates is not None:
        groups = np.full(len(faces.keys), NO_GROUP, dtype=np.int64)
        groups[usable] = result.labels
        demoted = check_groups(found, faces.embeddings, groups, templates, usable=faces.usable)
        promoted = promoted_by_group(found)
        small_matches = int(np.sum(found.reason == MatchReason.SMALL_FACE))
        matches = [
            MatchRow(
                faces.keys[i],
                int(found.person_ids[i]),
                str(found.level[i]),
                round(float(found.similarity[i]), 4),
            )
            for i in np.flatnonzero(found.level != None)  # noqa: E711 - numpy elementwise
        ]
    codes = ps.apply_refresh(matches, new_groups, joins, state)

    outcome = RefreshOutcome(
        faces=len(faces.keys),
        usable_faces=int(len(usable)),
        matched_faces=sum(1 for m in matches or [] if m.level == MATCH),
        possible_faces=sum(1 for m in matches or [] if m.level == POSSIBLE),
        persons_used=len(persons),
        new_unidentified=codes,
        joined_existing=len(joins),
        matches_skipped=skipped,
        matches_demoted_by_group=demoted,
        matches_promoted_by_group=promoted,
        small_face_matches=small_matches,
    )
    store.append_audit(
        "identities_refreshed",
        actor,
        {
            "faces_with_embedding": outcome.faces,
            "usable_faces": outcome.usable_faces,
            "enrolled_persons_matched_against": outcome.persons_used,
            "faces_match": outcome.matched_faces,
            "faces_possible": outcome.possible_faces,
            "matches_demoted_by_group": demoted,
            "matches_promoted_by_group": promoted,
            "small_face_matches": small_matches,
            "matching_skipped": skipped,
            "new_unidentified_persons": codes,
            "faces_joined_existing_unidentified": outcome.joined_existing,
            "method": method_description(),
        },
    )
    return outcome


def method_description() -> dict[str, object]:
    """Thresholds and rules, for the audit log and reports."""
    return {
        "version": VERSION,
        "match_similarity": MATCH_SIMILARITY,
        "possible_similarity": POSSIBLE_MATCH_SIMILARITY,
        "person_score": "highest cosine similarity over the person's templates",
        "match_requires_usable_face": True,
        "match_requires_group_median": (
            f"a face in a group of >= {GROUP_MIN_FACES} usable faces matches only if the "
            "group's median similarity to the person also reaches the match similarity"
        ),
        "match_by_group_support": (
            f"a usable face at possible whose group of >= {GROUP_MIN_FACES} usable faces matches "
            "the person (median) and holds another match of the person is a match"
        ),
        "small_face_match_similarity": SMALL_FACE_MATCH_SIMILARITY,
        "small_face_rule": (
            f"a face of {SMALL_FACE_MIN_SIDE}-47 px whose only flag is too_small (sharp, "
            "frontal) matches at the stricter small_face_match_similarity"
        ),
        "cluster_linkage": "average",
        "cluster_linkage_similarity": LINKAGE_SIMILARITY,
        "cluster_candidates_knn": KNN,
        "clusters_from": "usable faces only (>= 48 px, sharp, frontal)",
        "subcluster_similarity": SUBCLUSTER_SIMILARITY,
        "subclusters_used_for": (
            "the persons count's upper bound and review flags only: a group whose faces split "
            "at this stricter average linkage may hold several look-alike persons; groups are "
            "never split automatically"
        ),
    }


__all__ = [
    "RefreshOutcome",
    "consented_persons",
    "current_state",
    "load_templates",
    "method_description",
    "refresh_identities",
    "template_key",
]
