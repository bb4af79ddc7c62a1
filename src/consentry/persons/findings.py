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

The count (``count`` block) is a range, not a single guess. An examiner reads it as: at least
``lower_bound`` persons (what the evidence is sure of), most likely ``estimate``, at most
``upper_bound`` (everything that could be one more person). Every person between the bounds has a
stated reason (``count.widened``: one line per reason, with the persons it concerns), and the
persons that cause it carry review flags (``PersonSummary.review``, ``ReviewFlag``). The bounds
are equal only when nothing is uncertain.

- ``estimate``: enrolled persons with a match + unidentified persons not likely an enrolled one;
  a group that is the main person of several folders named like *different* people (none of
  them an enrolled person already counted) counts once per name (the folders' reading: the face
  model may not separate look-alikes, synthetic ones above all);
- ``lower_bound``: enrolled persons with a match + unidentified persons seen in at least two
  distinct images (``MIN_IMAGES_STRONG``), not likely enrolled, each counted once; persons that
  could be one person are counted once: a group whose faces are mostly ``possible`` matches of
  an enrolled person, or that fills a folder named after one, or whose faces are, on average,
  as similar to another group's as a ``possible`` match (average linkage >= the possible
  similarity). Two enrolled persons are never one.
- ``upper_bound``: the estimate + enrolled persons with only possible matches + groups likely an
  enrolled person + each group split at its seams (the most of: the person-named folders it is
  the main person of, its sub-clusters at the stricter ``SUBCLUSTER_SIMILARITY``) + for each
  enrolled person, the folders named like other people that their matches fill or, if more,
  the sub-clusters of their matched faces less one (a look-alike matched) + one person per
  image whose faces are all unattributed (no usable face, no match: nobody counted is seen in
  it). Faces too poor to attribute *beside* a counted person (background people, or more faces
  of the same person) are not added: the count block states how many there are, in how many
  images.

Faces that are too small, blurred or in profile join no group; they may show further persons,
so the count block states how many there are and in how many images.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from consentry.analyzers.faces import MATCH_SIMILARITY, POSSIBLE_MATCH_SIMILARITY
from consentry.persons.clustering import SUBCLUSTER_SIMILARITY, linked_groups, subclusters
from consentry.persons.consent import record_from_json
from consentry.persons.folders import (
    FolderImage,
    FolderReport,
    HeldFolder,
    Inconsistency,
    codes_sorted,
    folder_of,
    held_folders,
    reconcile,
)
from consentry.persons.matching import MATCH, POSSIBLE
from consentry.persons.refresh import consented_persons, current_state, method_description
from consentry.store.persons_store import (
    ENROLLED,
    UNIDENTIFIED,
    FaceAttribution,
    FaceKey,
    IdentityFaces,
    PersonRow,
    PersonsStore,
)

MIN_IMAGES_STRONG = 2
# A sub-cluster counts as a possible further person only with at least this share of its
# group's distinct images: in a group of 2,000 images, 2 that hang together are a face's own
# variation. Set on synthetic vectors (5 persons x 2,000 faces split without it), not on any
# benchmark run; every merge of the calibration runs and the demo has a share >= 9 %.
SUBCLUSTER_MIN_SHARE = 0.05

# Review-flag reasons (``ReviewFlag.reason``): stable codes a shell or report may rely on.
SPANS_NAMED_FOLDERS = "spans_folders_named_after_different_people"
SPLITS_INTO_SUBCLUSTERS = "faces_split_into_subclusters"
COULD_BE_ENROLLED = "could_be_an_enrolled_person"
FILLS_ENROLLED_FOLDER = "fills_folder_named_after_enrolled_person"
COULD_BE_SAME_GROUP = "could_be_the_same_person_as_another_group"
LIKELY_ENROLLED = "likely_an_enrolled_person"
FILLS_OTHERS_FOLDERS = "fills_folders_named_after_other_people"
ONLY_POSSIBLE = "only_possible_matches"
REASONS = (
    SPANS_NAMED_FOLDERS,
    SPLITS_INTO_SUBCLUSTERS,
    COULD_BE_ENROLLED,
    FILLS_ENROLLED_FOLDER,
    COULD_BE_SAME_GROUP,
    LIKELY_ENROLLED,
    FILLS_OTHERS_FOLDERS,
    ONLY_POSSIBLE,
)


@dataclass(frozen=True)
class PossibleMatch:
    """One face at the ``possible`` level for an enrolled person: a lead to review, never an
    identification and never counted among the person's images."""

    path: str  # the image location (one entry per location of the content)
    sha256: str
    face_index: int
    similarity: float  # to the person (best over their templates)
    usable: bool
    why: str  # why it is only possible (below match / face not usable / its group disagrees)


@dataclass(frozen=True)
class SubCluster:
    """Part of a group whose faces hang together at the stricter ``SUBCLUSTER_SIMILARITY``."""

    faces: int
    images: int  # distinct images
    folders: tuple[str, ...]  # folders of its image locations, most images first
    items: tuple[str, ...]  # its image locations


@dataclass(frozen=True)
class ReviewFlag:
    """Why a person widens the count's bounds, for the examiner to review."""

    person: str  # the person's code (U3, E1)
    reason: str  # one of REASONS
    message: str  # one line, plain words
    folders: tuple[str, ...] = ()  # folders involved
    subclusters: tuple[SubCluster, ...] = ()  # for SPLITS_INTO_SUBCLUSTERS
    related: tuple[str, ...] = ()  # other persons involved (the enrolled one it could be, ...)
    upper_adds: int = 0  # persons this adds to the upper bound
    estimate_adds: int = 0  # persons this adds to the estimate (folder reading)


@dataclass(frozen=True)
class Widening:
    """One reason why a bound differs from the estimate. ``bound`` "lower": these persons are in
    the estimate but not sure; "upper": they are not in the estimate but could be further
    persons. The lower widenings add up to estimate - lower, the upper ones to upper - estimate."""

    bound: str  # lower | upper
    reason: str
    persons: int
    codes: tuple[str, ...]
    text: str


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
    # enrolled: every possible-level face, most similar first (what the report lists for review)
    possible: list[PossibleMatch] = field(default_factory=list)
    review: list[ReviewFlag] = field(default_factory=list)  # why this person widens the bounds
    counted_as: int = 1  # persons it counts for in the estimate (0: likely an enrolled one)


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
    images_only_unattributed: int = 0  # distinct images whose faces are all unattributed
    widened: list[Widening] = field(default_factory=list)


@dataclass
class PersonsReport:
    persons: list[PersonSummary]
    count: CountBlock
    folders: list[FolderReport]
    inconsistencies: list[Inconsistency]
    up_to_date: bool
    method: dict[str, Any]

    @property
    def review(self) -> list[ReviewFlag]:
        """Every review flag, persons in report order."""
        return [flag for s in self.persons for flag in s.review]

    def as_dict(self) -> dict[str, Any]:
        return {
            "persons": [asdict(p) for p in self.persons],
            "count": asdict(self.count),
            "review": [asdict(f) for f in self.review],
            "folders": [asdict(f) for f in self.folders],
            "inconsistencies": [asdict(i) for i in self.inconsistencies],
            "up_to_date": self.up_to_date,
            "method": self.method,
        }


DEFINITIONS = {
    "estimate": "enrolled persons with a match + unidentified persons not likely enrolled; a "
    "group that is the main person of folders named after different people counts once per "
    "name",
    "lower_bound": f"enrolled persons with a match + unidentified persons seen in >= "
    f"{MIN_IMAGES_STRONG} distinct images and not likely enrolled, counting once the persons "
    f"that could be one (a group mostly 'possible' for an enrolled person or filling a folder "
    f"named after one; groups whose average similarity is >= {POSSIBLE_MATCH_SIMILARITY})",
    "upper_bound": "estimate + enrolled persons with only possible matches + unidentified "
    "persons likely to be an enrolled one + each group split at its seams (person-named "
    f"folders, sub-clusters at similarity {SUBCLUSTER_SIMILARITY}) + look-alikes an enrolled "
    "person's matches may include (folders named like other people that the matches fill, "
    "sub-clusters of the matched faces) + one per image whose faces are all unattributed",
    "images": "image locations (files, archive members included) showing the person; "
    "duplicates count once per location",
    "unattributed_faces": "faces in no group and matching nobody (too small, blurred, in "
    "profile, not embedded, or erased with a person who withdrew consent): they may show "
    "persons not counted here; the upper bound adds one person per image in which all faces "
    "are unattributed (images_only_unattributed), not the faces beside a counted person",
    "widened": "why each bound differs from the estimate: 'lower' lines are counted in the "
    "estimate but not sure, 'upper' lines could be further persons",
}


@dataclass(frozen=True)
class GroupFaces:
    """What the count needs of a person's faces: a group's own faces (those no enrolled person
    claims), or an enrolled person's matched faces."""

    embeddings: np.ndarray  # (n, d) unit rows; faces without an embedding are left out
    shas: tuple[str, ...]  # per row: the face's content
    possible_of: dict[str, int]  # enrolled code -> faces of the group at its possible level


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

    ident = ps.identity_faces() if group_faces or match_faces else None
    row_of = {k: i for i, k in enumerate(ident.keys)} if ident is not None else {}
    centre_sims = _group_cohesion(ident, row_of, group_faces)
    merged_from: dict[int, list[str]] = defaultdict(list)
    for p in persons:
        if p.merged_into is not None:
            merged_from[p.merged_into].append(p.code)

    summaries: list[PersonSummary] = []
    groups_by_code: dict[str, GroupFaces] = {}
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
            if match_faces.get(p.id):
                groups_by_code[p.code] = _group_faces(ident, row_of, match_faces[p.id], by_id)
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
            groups_by_code[p.code] = _group_faces(ident, row_of, group_faces[p.id], by_id)

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

    attributed_shas = {
        f.key[0] for f in faces if f.cluster_person is not None or f.match_level == MATCH
    }
    only_unattributed = {f.key[0] for f in unattributed} - attributed_shas
    count = count_persons(
        summaries,
        groups_by_code,
        folder_reports,
        paths_by_sha,
        unattributed_faces=len(unattributed),
        images_with_unattributed_faces=sum(
            len(paths_by_sha.get(sha, [])) for sha in {f.key[0] for f in unattributed}
        ),
        images_only_unattributed=len(only_unattributed),
    )
    summaries.sort(key=lambda s: (s.kind != ENROLLED, _num(s.id)))
    return PersonsReport(summaries, count, folder_reports, issues, up_to_date, method_description())


def count_persons(
    summaries: list[PersonSummary],
    groups: dict[str, GroupFaces],
    folder_reports: list[FolderReport],
    paths_by_sha: dict[str, list[str]],
    unattributed_faces: int = 0,
    images_with_unattributed_faces: int = 0,
    images_only_unattributed: int = 0,
) -> CountBlock:
    """The count block, and each summary's ``review`` flags and ``counted_as`` (set in place).

    Pure: everything comes from the arguments. See the module docstring for the rules."""
    enrolled = [s for s in summaries if s.kind == ENROLLED]
    matched = [s for s in enrolled if s.images]
    matched_codes = {s.id for s in matched}
    possible_only = [s for s in enrolled if not s.images and s.possible_images]
    group_list = [s for s in summaries if s.kind == UNIDENTIFIED]
    widened: list[Widening] = []
    upper_extra: dict[str, int] = defaultdict(int)  # reason -> persons
    upper_codes: dict[str, list[str]] = defaultdict(list)

    def widen_upper(reason: str, code: str, persons: int) -> None:
        if persons > 0:
            upper_extra[reason] += persons
            upper_codes[reason].append(code)

    for s in possible_only:
        s.review.append(
            ReviewFlag(
                s.id,
                ONLY_POSSIBLE,
                f"{s.id} has only possible matches ({s.possible_images} image(s)): a lead, "
                "not an identification; counted in the upper bound only",
                upper_adds=1,
            )
        )
        widen_upper(ONLY_POSSIBLE, s.id, 1)

    # enrolled persons whose matches fill folders named like someone else, or split
    for s in matched:
        held = held_folders(s.id, folder_reports)
        others = sorted({h.name for h in held if s.id not in h.named_after and h.name})
        if others:
            shown = [h.folder for h in held if h.name in others]
            s.review.append(
                ReviewFlag(
                    s.id,
                    FILLS_OTHERS_FOLDERS,
                    f"{s.id}'s matched images are most of {len(shown)} folder(s) named like "
                    f"other people ({', '.join(shown)}): the matches may include look-alikes; "
                    f"up to {len(others)} more person(s)",
                    tuple(shown),
                    upper_adds=len(others),
                )
            )
            widen_upper(FILLS_OTHERS_FOLDERS, s.id, len(others))
        g = groups.get(s.id)
        subs = _subclusters(g, paths_by_sha) if g is not None else []
        if len(subs) >= 2:
            adds = max(0, len(subs) - 1 - len(others))
            s.review.append(
                ReviewFlag(
                    s.id,
                    SPLITS_INTO_SUBCLUSTERS,
                    f"{s.id}'s matched faces split into {len(subs)} sub-clusters at similarity "
                    f"{SUBCLUSTER_SIMILARITY} ({_subclusters_text(subs)}): the matches may "
                    f"include {len(subs) - 1} look-alike person(s)",
                    tuple(sorted({f for c in subs for f in c.folders})),
                    tuple(subs),
                    upper_adds=adds,
                )
            )
            widen_upper(SPLITS_INTO_SUBCLUSTERS, s.id, adds)

    # groups: folder reading, sub-clusters, likely enrolled
    for s in group_list:
        g = groups.get(s.id)
        held = held_folders(s.id, folder_reports) if s.unique_images >= MIN_IMAGES_STRONG else []
        names = sorted({h.name for h in held if h.name})
        subs = _subclusters(g, paths_by_sha) if g is not None else []
        folder_persons = len(names) if len(names) >= 2 else 1
        new_names = {h.name for h in held if h.name and not (set(h.named_after) & matched_codes)}
        if s.likely_enrolled:
            s.counted_as = 0
            s.review.append(
                ReviewFlag(
                    s.id,
                    LIKELY_ENROLLED,
                    f"other faces of {s.id} match {s.likely_enrolled}: likely the same person, "
                    "not counted in the estimate; counted in the upper bound",
                    related=(s.likely_enrolled,),
                    upper_adds=1,
                )
            )
            widen_upper(LIKELY_ENROLLED, s.id, 1)
            base_upper = 1
        else:
            s.counted_as = max(1, len(new_names)) if folder_persons >= 2 else 1
            base_upper = s.counted_as
        if folder_persons >= 2:
            folders = tuple(h.folder for h in held)
            s.review.append(
                ReviewFlag(
                    s.id,
                    SPANS_NAMED_FOLDERS,
                    f"{s.id} is the main person of {len(held)} folders named after "
                    f"{len(names)} different people ("
                    + ", ".join(f"{h.folder}: {h.images} of {h.images_with_faces}" for h in held)
                    + f"): possibly {len(names)} persons the face model cannot separate; "
                    f"counted as {s.counted_as} in the estimate, 1 in the lower bound",
                    folders,
                    estimate_adds=max(0, s.counted_as - 1),
                    upper_adds=max(0, folder_persons - base_upper),
                )
            )
        if len(subs) >= 2:
            s.review.append(
                ReviewFlag(
                    s.id,
                    SPLITS_INTO_SUBCLUSTERS,
                    f"{s.id}'s faces split into {len(subs)} sub-clusters at similarity "
                    f"{SUBCLUSTER_SIMILARITY} ("
                    + _subclusters_text(subs)
                    + f"): possibly {len(subs)} persons",
                    tuple(sorted({f for c in subs for f in c.folders})),
                    tuple(subs),
                    upper_adds=max(0, len(subs) - max(base_upper, folder_persons)),
                )
            )
        for flag in s.review:
            if flag.reason in (SPANS_NAMED_FOLDERS, SPLITS_INTO_SUBCLUSTERS):
                widen_upper(flag.reason, s.id, flag.upper_adds)

    # lower bound: persons that could be one are counted once
    strong = [s for s in group_list if not s.likely_enrolled and not s.weak]
    nodes = [s.id for s in matched] + [s.id for s in strong]
    parent = {c: c for c in nodes}

    def find(c: str) -> str:
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    def join(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for s in strong:
        g = groups.get(s.id)
        if g is not None and g.shas:
            for code, n in sorted(g.possible_of.items()):
                if code in matched_codes and 2 * n >= len(g.shas):
                    join(s.id, code)
                    s.review.append(
                        ReviewFlag(
                            s.id,
                            COULD_BE_ENROLLED,
                            f"{n} of {s.id}'s {len(g.shas)} faces are possible matches of "
                            f"{code}: it could be {code}; counted once with {code} in the "
                            "lower bound",
                            related=(code,),
                        )
                    )
        for h in held_folders(s.id, folder_reports):
            for code in h.named_after:
                if code in matched_codes:
                    join(s.id, code)
                    s.review.append(
                        ReviewFlag(
                            s.id,
                            FILLS_ENROLLED_FOLDER,
                            f"{s.id} is the main person of {h.folder}, named after {code}: it "
                            f"could be {code}'s images that did not match; counted once with "
                            f"{code} in the lower bound",
                            (h.folder,),
                            related=(code,),
                        )
                    )
    with_faces = [s for s in strong if groups.get(s.id) is not None and groups[s.id].shas]
    if len(with_faces) >= 2:
        sums = np.stack([groups[s.id].embeddings.sum(axis=0) for s in with_faces])
        sizes = np.array([len(groups[s.id].shas) for s in with_faces], dtype=np.float64)
        for i, j, link in linked_groups(sums, sizes, POSSIBLE_MATCH_SIMILARITY):
            a, b = with_faces[i], with_faces[j]
            join(a.id, b.id)
            for one, other in ((a, b), (b, a)):
                one.review.append(
                    ReviewFlag(
                        one.id,
                        COULD_BE_SAME_GROUP,
                        f"{one.id} and {other.id} are, on average, as similar as a possible "
                        f"match ({link:.2f} >= {POSSIBLE_MATCH_SIMILARITY}): "
                        "they could be one person; counted once in the lower bound",
                        related=(other.id,),
                    )
                )
    components: dict[str, list[str]] = defaultdict(list)
    for c in nodes:
        components[find(c)].append(c)
    lower = sum(
        max(1, sum(1 for c in members if c in matched_codes)) for members in components.values()
    )

    counted = [s for s in group_list if not s.likely_enrolled]
    estimate = len(matched) + sum(s.counted_as for s in counted)
    weak = [s for s in counted if s.weak]
    folder_extra = [s for s in counted if s.counted_as > 1]
    if weak:
        widened.append(
            Widening(
                "lower",
                "seen_in_one_image",
                len(weak),
                tuple(s.id for s in weak),
                f"{len(weak)} unidentified person(s) seen in one distinct image only: could be "
                "a split of a counted person or a passer-by",
            )
        )
    if folder_extra:
        n = sum(s.counted_as - 1 for s in folder_extra)
        widened.append(
            Widening(
                "lower",
                SPANS_NAMED_FOLDERS,
                n,
                tuple(s.id for s in folder_extra),
                f"{n} person(s) counted from folder names: groups that fill folders named after "
                "different people (the lower bound counts each group once)",
            )
        )
    merged = len(nodes) - lower
    if merged:
        codes = tuple(c for members in components.values() if len(members) > 1 for c in members)
        widened.append(
            Widening(
                "lower",
                "could_be_one_person",
                merged,
                tuple(codes_sorted(codes)),
                f"{merged} person(s) fewer if those who could be one person are: "
                + "; ".join(" = ".join(codes_sorted(m)) for m in components.values() if len(m) > 1),
            )
        )
    texts = {
        ONLY_POSSIBLE: "enrolled person(s) with only possible matches",
        FILLS_OTHERS_FOLDERS: "folder(s) named like other people filled by an enrolled "
        "person's matches",
        LIKELY_ENROLLED: "group(s) likely an enrolled person (other faces match)",
        SPANS_NAMED_FOLDERS: "more person(s) if groups are split at the person-named folders "
        "they fill",
        SPLITS_INTO_SUBCLUSTERS: f"more person(s) if groups are split into their sub-clusters "
        f"at similarity {SUBCLUSTER_SIMILARITY}",
    }
    for reason, n in upper_extra.items():
        widened.append(
            Widening(
                "upper", reason, n, tuple(upper_codes[reason]), f"{n} {texts.get(reason, reason)}"
            )
        )
    if images_only_unattributed:
        widened.append(
            Widening(
                "upper",
                "images_with_unattributed_faces_only",
                images_only_unattributed,
                (),
                f"{images_only_unattributed} image(s) whose faces are all too poor to attribute "
                "(nobody counted is seen in them): one more person each (an image may show "
                "more)",
            )
        )
    upper = estimate + sum(upper_extra.values()) + images_only_unattributed
    groups_counted = [s for s in group_list if not s.likely_enrolled]
    return CountBlock(
        estimate=estimate,
        lower_bound=lower,
        upper_bound=upper,
        enrolled_matched=len(matched),
        enrolled_possible_only=len(possible_only),
        unidentified_strong=sum(1 for s in groups_counted if not s.weak),
        unidentified_weak=len(weak),
        unidentified_likely_enrolled=sum(1 for s in group_list if s.likely_enrolled),
        unattributed_faces=unattributed_faces,
        images_with_unattributed_faces=images_with_unattributed_faces,
        definitions=DEFINITIONS,
        images_only_unattributed=images_only_unattributed,
        widened=widened,
    )


def _subclusters_text(subs: list[SubCluster]) -> str:
    return "; ".join(
        f"{c.images} images in {', '.join(c.folders[:2])}" + (" ..." if len(c.folders) > 2 else "")
        for c in subs
    )


def _subclusters(g: GroupFaces, paths_by_sha: dict[str, list[str]]) -> list[SubCluster]:
    """The group's sub-clusters that hold >= MIN_IMAGES_STRONG distinct images and at least
    ``SUBCLUSTER_MIN_SHARE`` of the group's (smaller ones are a face's own variation, not a
    person), largest first; [] when it does not split."""
    if len(g.shas) < 2 * MIN_IMAGES_STRONG:
        return []
    least = max(MIN_IMAGES_STRONG, SUBCLUSTER_MIN_SHARE * len(set(g.shas)))
    labels = subclusters(g.embeddings)
    parts: dict[int, list[str]] = defaultdict(list)
    for label, sha in zip(labels.tolist(), g.shas, strict=True):
        parts[label].append(sha)
    out = []
    for label in sorted(parts):
        shas = sorted(set(parts[label]))
        if len(shas) < least:
            continue
        items = sorted(p for sha in shas for p in paths_by_sha.get(sha, []))
        by_folder = Counter(folder_of(p) for p in items)
        out.append(
            SubCluster(
                len(parts[label]),
                len(shas),
                tuple(f for f, _ in sorted(by_folder.items(), key=lambda kv: (-kv[1], kv[0]))),
                tuple(items),
            )
        )
    return out if len(out) >= 2 else []


def _group_faces(
    ident: IdentityFaces | None,
    row: dict[FaceKey, int],
    members: list[FaceAttribution],
    by_id: dict[int, PersonRow],
) -> GroupFaces:
    possible: Counter[str] = Counter()
    for f in members:
        if f.match_level == POSSIBLE and f.match_person in by_id:
            possible[by_id[f.match_person].code] += 1
    keep = [f for f in members if f.key in row] if ident is not None else []
    emb = (
        ident.embeddings[[row[f.key] for f in keep]]
        if ident is not None and keep
        else np.zeros((0, 128), dtype=np.float32)
    )
    return GroupFaces(emb, tuple(f.key[0] for f in keep), dict(possible))


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
    leads = sorted(
        (
            PossibleMatch(
                path,
                f.key[0],
                f.key[1],
                round(float(f.match_similarity or 0.0), 4),
                f.usable,
                _why_possible(f),
            )
            for f in possible
            if f.key[0] not in set(shas)
            for path in paths_by_sha.get(f.key[0], [])
        ),
        key=lambda m: (-m.similarity, m.path, m.face_index),
    )
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
        possible=leads,
    )


def _why_possible(f: FaceAttribution) -> str:
    if not f.usable:
        return "face not usable (small, blurred or in profile): never identified"
    if f.match_similarity is not None and f.match_similarity >= MATCH_SIMILARITY:
        return "its face group, by its median, does not match the person"
    return "similarity between the possible and match thresholds"


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
        evidence = f"seen in one distinct image only ({_faces_text(len(faces))}" + (
            f", the same file at {len(items)} locations)" if len(items) > 1 else ")"
        )
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


def _faces_text(n: int) -> str:
    return "1 face" if n == 1 else f"{n} faces"


def _group_cohesion(
    ident: IdentityFaces | None, row: dict[FaceKey, int], groups: dict[int, list[FaceAttribution]]
) -> dict[int, tuple[float, float]]:
    """Per group: lowest and highest similarity of a member face to the group's centre."""
    if not groups or ident is None:
        return {}
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
    "REASONS",
    "CountBlock",
    "FaceKey",
    "GroupFaces",
    "HeldFolder",
    "PersonSummary",
    "PersonsReport",
    "PossibleMatch",
    "ReviewFlag",
    "SubCluster",
    "Widening",
    "build_report",
    "consent_summary",
    "count_persons",
]
