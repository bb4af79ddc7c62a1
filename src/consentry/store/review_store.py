"""All SQL of the web app's review pages (issue 14): the gallery page and its total (filtered
and paged in SQL, so a 10,000-image case answers in milliseconds), one image's details, tags,
face decisions and reveal grants. Rows are typed frozen dataclasses; no policy here (who may
see what is decided in ``services.review``, which passes the in-scope contents in)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Engine,
    Select,
    Table,
    and_,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from consentry.records.locations import LocationRef
from consentry.store.case_store import (
    AUDIT,
    CONTENT_PROBLEMS,
    CONTENTS,
    FACES,
    FINDINGS,
    LOC_PROBLEMS,
    LOCATIONS,
    THUMBS,
)
from consentry.store.links_store import LINKS
from consentry.store.schema import FaceDecision, ImageTag, RevealGrant, User

TAGS: Table = ImageTag.__table__  # type: ignore[assignment]
DECISIONS: Table = FaceDecision.__table__  # type: ignore[assignment]
GRANTS: Table = RevealGrant.__table__  # type: ignore[assignment]
USERS: Table = User.__table__  # type: ignore[assignment]

UNKNOWN = "unknown"  # gallery label filter: no explicit label recorded
NO_LABEL = "none"


@dataclass(frozen=True)
class GalleryQuery:
    """What the gallery page asks for, already checked by the service. ``shas``: only these
    contents (an advocate's scope intersected with a person filter); None: every image."""

    shas: frozenset[str] | None = None
    label: str | None = None
    folder: str | None = None
    provenance: str | None = None
    derivation: str | None = None  # derived | source | none
    problem: str | None = None
    tag: str | None = None
    offset: int = 0
    limit: int = 60


@dataclass(frozen=True)
class GalleryRow:
    sha256: str
    path: str  # the first location the scan found it at
    label: str | None  # explicit label
    verdict: str | None  # provenance verdict
    has_thumbnail: bool
    derived: bool


@dataclass(frozen=True)
class ContentRow:
    sha256: str
    md5: str
    sha1: str
    size: int
    mime: str
    image_format: str | None
    width: int | None
    height: int | None
    pdq: str | None
    pdq_quality: int | None


@dataclass(frozen=True)
class FindingOf:
    analyzer: str
    status: str
    label: str | None
    score: float | None
    payload: str


@dataclass(frozen=True)
class FaceOf:
    index: int
    box: tuple[float, float, float, float]
    analysis_side: int
    usable: bool
    crop_path: str | None


@dataclass(frozen=True)
class DecisionRow:
    sha256: str
    face_index: int
    person_id: int
    decision: str


@dataclass(frozen=True)
class ProblemOf:
    path: str
    code: str
    severity: str
    message: str
    sha256: str | None


@dataclass(frozen=True)
class GrantRow:
    id: int
    user_id: int
    sha256: str
    reason: str
    granted_at: str
    expires_at: str


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class ReviewStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- generation: changes whenever the case changes (every change writes an audit event) ---
    def generation(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(AUDIT.c.seq))).scalar() or 0)

    # -- gallery -----------------------------------------------------------------------------
    def _firsts(self) -> Select[tuple[str, int]]:
        L = LOCATIONS
        return select(L.c.sha256, func.min(L.c.id).label("loc")).group_by(L.c.sha256)

    def _where(self, q: GalleryQuery) -> list[ColumnElement[bool]]:
        C, F = CONTENTS, FINDINGS
        L = LOCATIONS.alias("filter_locations")  # not the page query's first location
        conds: list[ColumnElement[bool]] = [C.c.is_image.is_(True)]
        if q.shas is not None:
            conds.append(C.c.sha256.in_(sorted(q.shas)) if q.shas else literal(False))
        if q.label is not None:
            labelled = select(F.c.sha256).where(F.c.analyzer == "explicit", F.c.label.is_not(None))
            if q.label == UNKNOWN:
                conds.append(C.c.sha256.not_in(labelled))
            else:
                conds.append(
                    C.c.sha256.in_(
                        select(F.c.sha256).where(F.c.analyzer == "explicit", F.c.label == q.label)
                    )
                )
        if q.provenance is not None:
            conds.append(
                C.c.sha256.in_(
                    select(F.c.sha256).where(
                        F.c.analyzer == "provenance", F.c.label == q.provenance
                    )
                )
            )
        if q.folder is not None:
            prefix = _escape_like(q.folder.rstrip("/"))
            conds.append(
                exists().where(
                    L.c.sha256 == C.c.sha256,
                    or_(
                        L.c.path.like(prefix + "/%", escape="\\"),
                        L.c.path.like(prefix + "!/%", escape="\\"),
                    ),
                )
            )
        if q.derivation is not None:
            derived = select(LINKS.c.derived_sha256)
            source = select(LINKS.c.source_sha256)
            if q.derivation == "derived":
                conds.append(C.c.sha256.in_(derived))
            elif q.derivation == "source":
                conds.append(C.c.sha256.in_(source))
            else:
                conds.append(and_(C.c.sha256.not_in(derived), C.c.sha256.not_in(source)))
        if q.problem is not None:
            conds.append(
                or_(
                    C.c.sha256.in_(
                        select(CONTENT_PROBLEMS.c.sha256).where(
                            CONTENT_PROBLEMS.c.code == q.problem
                        )
                    ),
                    C.c.sha256.in_(
                        select(L.c.sha256)
                        .select_from(LOC_PROBLEMS.join(L, L.c.id == LOC_PROBLEMS.c.location_id))
                        .where(LOC_PROBLEMS.c.code == q.problem)
                        .correlate(None)
                    ),
                )
            )
        if q.tag is not None:
            conds.append(C.c.sha256.in_(select(TAGS.c.sha256).where(TAGS.c.tag == q.tag)))
        return conds

    def gallery(self, q: GalleryQuery) -> tuple[list[GalleryRow], int]:
        """One page of images (in path order of their first location) and the total."""
        C, F, L = CONTENTS, FINDINGS, LOCATIONS
        conds = self._where(q)
        firsts = self._firsts().subquery()
        explicit = select(F.c.sha256, F.c.label).where(F.c.analyzer == "explicit").subquery()
        prov = select(F.c.sha256, F.c.label).where(F.c.analyzer == "provenance").subquery()
        derived = select(LINKS.c.derived_sha256).subquery()
        with self.engine.connect() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(C).where(*conds)).scalar() or 0
            )
            rows = conn.execute(
                select(
                    C.c.sha256,
                    L.c.path,
                    explicit.c.label.label("label"),
                    prov.c.label.label("verdict"),
                    THUMBS.c.sha256.is_not(None).label("thumb"),
                    derived.c.derived_sha256.is_not(None).label("derived"),
                )
                .select_from(
                    C.join(firsts, firsts.c.sha256 == C.c.sha256)
                    .join(L, L.c.id == firsts.c.loc)
                    .outerjoin(explicit, explicit.c.sha256 == C.c.sha256)
                    .outerjoin(prov, prov.c.sha256 == C.c.sha256)
                    .outerjoin(THUMBS, THUMBS.c.sha256 == C.c.sha256)
                    .outerjoin(derived, derived.c.derived_sha256 == C.c.sha256)
                )
                .where(*conds)
                .order_by(L.c.path, C.c.sha256)
                .offset(q.offset)
                .limit(q.limit)
            ).all()
        return [
            GalleryRow(r.sha256, r.path, r.label, r.verdict, bool(r.thumb), bool(r.derived))
            for r in rows
        ], total

    def image_shas(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(select(CONTENTS.c.sha256).where(CONTENTS.c.is_image)).scalars())

    def image_paths(self) -> list[tuple[str, str]]:
        """(sha256, path) of every location of an image, in path order."""
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:
            return [
                (r.sha256, r.path)
                for r in conn.execute(
                    select(L.c.sha256, L.c.path)
                    .select_from(L.join(C, C.c.sha256 == L.c.sha256))
                    .where(C.c.is_image.is_(True))
                    .order_by(L.c.path)
                )
            ]

    def distinct_labels(self, analyzer: str) -> list[str]:
        F = FINDINGS
        with self.engine.connect() as conn:
            return sorted(
                conn.execute(
                    select(F.c.label)
                    .where(F.c.analyzer == analyzer, F.c.label.is_not(None))
                    .distinct()
                ).scalars()
            )

    def problem_codes(self) -> list[str]:
        with self.engine.connect() as conn:
            a = set(conn.execute(select(CONTENT_PROBLEMS.c.code).distinct()).scalars())
            b = set(conn.execute(select(LOC_PROBLEMS.c.code).distinct()).scalars())
        return sorted(a | b)

    # -- one image ---------------------------------------------------------------------------
    def content(self, sha: str) -> ContentRow | None:
        C = CONTENTS
        with self.engine.connect() as conn:
            r = conn.execute(select(C).where(C.c.sha256 == sha, C.c.is_image.is_(True))).first()
        if r is None:
            return None
        return ContentRow(
            r.sha256,
            r.md5,
            r.sha1,
            int(r.size),
            r.mime,
            r.image_format,
            r.width,
            r.height,
            r.pdq,
            r.pdq_quality,
        )

    def findings_of(self, sha: str) -> dict[str, FindingOf]:
        F = FINDINGS
        with self.engine.connect() as conn:
            return {
                r.analyzer: FindingOf(
                    r.analyzer,
                    r.status,
                    r.label,
                    None if r.score is None else float(r.score),
                    r.payload,
                )
                for r in conn.execute(select(F).where(F.c.sha256 == sha))
            }

    def locations_of(self, sha: str) -> list[str]:
        L = LOCATIONS
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(L.c.path).where(L.c.sha256 == sha).order_by(L.c.path)).scalars()
            )

    def first_location(self, sha: str) -> tuple[LocationRef, str] | None:
        L = LOCATIONS
        with self.engine.connect() as conn:
            r = conn.execute(
                select(L.c.raw_path, L.c.member_chain, L.c.path)
                .where(L.c.sha256 == sha)
                .order_by(L.c.id)
                .limit(1)
            ).first()
        if r is None:
            return None
        return LocationRef(bytes(r.raw_path), tuple(json.loads(r.member_chain))), r.path

    def faces_of(self, sha: str) -> list[FaceOf]:
        F = FACES
        with self.engine.connect() as conn:
            return [
                FaceOf(
                    r.face_index,
                    (float(r.box_x), float(r.box_y), float(r.box_w), float(r.box_h)),
                    int(r.analysis_side),
                    bool(r.usable),
                    r.crop_path,
                )
                for r in conn.execute(select(F).where(F.c.sha256 == sha).order_by(F.c.face_index))
            ]

    def thumbnail_path(self, sha: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(THUMBS.c.path).where(THUMBS.c.sha256 == sha)).scalar()

    def problems(self, shas: Iterable[str] | None = None) -> list[ProblemOf]:
        """Problems of files (locations and contents), optionally only of these contents."""
        L = LOCATIONS
        wanted = None if shas is None else sorted(set(shas))
        out: list[ProblemOf] = []
        with self.engine.connect() as conn:
            q1 = select(
                L.c.path,
                LOC_PROBLEMS.c.code,
                LOC_PROBLEMS.c.severity,
                LOC_PROBLEMS.c.message,
                L.c.sha256,
            ).select_from(LOC_PROBLEMS.join(L, L.c.id == LOC_PROBLEMS.c.location_id))
            q2 = select(
                L.c.path,
                CONTENT_PROBLEMS.c.code,
                CONTENT_PROBLEMS.c.severity,
                CONTENT_PROBLEMS.c.message,
                L.c.sha256,
            ).select_from(CONTENT_PROBLEMS.join(L, L.c.sha256 == CONTENT_PROBLEMS.c.sha256))
            if wanted is not None:
                q1 = q1.where(L.c.sha256.in_(wanted))
                q2 = q2.where(L.c.sha256.in_(wanted))
            for q in (q1, q2):
                out += [ProblemOf(r[0], r[1], r[2], r[3], r[4]) for r in conn.execute(q)]
        return sorted(out, key=lambda p: (p.path, p.code))

    # -- tags --------------------------------------------------------------------------------
    def tags_of(self, shas: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for r in conn.execute(
                select(TAGS.c.sha256, TAGS.c.tag)
                .where(TAGS.c.sha256.in_(list(shas)))
                .order_by(TAGS.c.tag)
            ):
                out.setdefault(r.sha256, []).append(r.tag)
        return {k: tuple(v) for k, v in out.items()}

    def set_tag(self, sha: str, tag: str, on: bool, by: str, at: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(TAGS).where(TAGS.c.sha256 == sha, TAGS.c.tag == tag))
            if on:
                conn.execute(TAGS.insert().values(sha256=sha, tag=tag, tagged_by=by, tagged_at=at))

    # -- face decisions ----------------------------------------------------------------------
    def decisions_of(self, sha: str) -> dict[int, DecisionRow]:
        D = DECISIONS
        with self.engine.connect() as conn:
            return {
                r.face_index: DecisionRow(r.sha256, r.face_index, r.person_id, r.decision)
                for r in conn.execute(select(D).where(D.c.sha256 == sha))
            }

    def set_decision(
        self, sha: str, index: int, person_id: int, decision: str, by: str, at: str
    ) -> None:
        D = DECISIONS
        with self.engine.begin() as conn:
            conn.execute(delete(D).where(D.c.sha256 == sha, D.c.face_index == index))
            conn.execute(
                D.insert().values(
                    sha256=sha,
                    face_index=index,
                    person_id=person_id,
                    decision=decision,
                    decided_by=by,
                    decided_at=at,
                )
            )

    # -- reveal grants -----------------------------------------------------------------------
    def add_grant(self, user_id: int, sha: str, reason: str, at: str, expires: str) -> bool:
        """Record a grant; False when ``user_id`` is no stored account (nothing recorded)."""
        with self.engine.begin() as conn:
            if conn.execute(select(USERS.c.id).where(USERS.c.id == user_id)).first() is None:
                return False
            conn.execute(
                GRANTS.insert().values(
                    user_id=user_id, sha256=sha, reason=reason, granted_at=at, expires_at=expires
                )
            )
        return True

    def live_grant(self, user_id: int, sha: str, now: str) -> GrantRow | None:
        G = GRANTS
        with self.engine.connect() as conn:
            r = conn.execute(
                select(G)
                .where(G.c.user_id == user_id, G.c.sha256 == sha, G.c.expires_at > now)
                .order_by(G.c.expires_at.desc())
                .limit(1)
            ).first()
        if r is None:
            return None
        return GrantRow(r.id, r.user_id, r.sha256, r.reason, r.granted_at, r.expires_at)


__all__ = [
    "ContentRow",
    "DecisionRow",
    "FaceOf",
    "FindingOf",
    "GalleryQuery",
    "GalleryRow",
    "GrantRow",
    "ProblemOf",
    "ReviewStore",
]
