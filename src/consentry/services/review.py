"""The review services behind the web pages (issue 14): dashboard, gallery, one image's
details, the pictures the pages show (thumbnails, face crops, derivation renders: all already
blurred by the blur rule when written), a logged, time-limited reveal by an examiner, tags,
face decisions, merge / split of groups, persons, problems, the audit log and hash packs.

Every function takes the ``CaseHandle`` and the acting ``Account``. An advocate sees only their
scope (``_scope_shas``): an image is in scope when one of its faces is attributed to a scoped
person at match level (after face decisions) or belongs to a scoped unidentified group, the
same notion the person-scoped reports use (``persons.findings``). Anything outside the scope
answers ``not_found`` exactly as an unknown id. An advocate sees paths as person-scoped reports
show them: below the source root every segment becomes a neutral identifier
(``reports.redact.Redactor``)."""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentry.services.access import Account, Action, not_found, require
from consentry.services.case import CaseHandle, ErrorCode, ServiceError

if TYPE_CHECKING:
    from consentry.reports.redact import Redactor
    from consentry.store.case import Case
    from consentry.store.case_counts import CaseCounts
    from consentry.store.persons_store import FaceAttribution, PersonRow
    from consentry.store.review_store import ReviewStore

TAGS = ("reviewed", "relevant", "not_relevant", "second_look")
DECISIONS = ("confirmed", "rejected")
LABELS = ("explicit", "suggestive", "none", "unknown")
DERIVATIONS = ("derived", "source", "none")
RENDERS = ("source", "derived", "mask")
REVEAL_MINUTES = 5
REVEAL_SIDE = 1600
REASON_MIN, REASON_MAX = 5, 500
REASON_MESSAGE = "give the reason for revealing this image (at least 5 characters)"
MAX_PER_PAGE = 200
MATCH = "match"
POSSIBLE = "possible"


# -- views -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServedFile:
    path: Path
    media_type: str


@dataclass(frozen=True)
class RevealGrantView:
    sha256: str
    granted_at: str
    expires_at: str


@dataclass(frozen=True)
class RevealedImage:
    data: bytes
    media_type: str


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class GalleryFilter:
    label: str | None = None
    person: str | None = None
    folder: str | None = None
    provenance: str | None = None
    derivation: str | None = None
    problem: str | None = None
    tag: str | None = None
    page: int = 1
    per_page: int = 60


@dataclass(frozen=True)
class GalleryTile:
    sha256: str
    name: str
    folder: str
    label: str | None
    blurred: bool
    verdict: str | None
    persons: tuple[str, ...]
    tags: tuple[str, ...]
    derived: bool
    has_thumbnail: bool


@dataclass(frozen=True)
class Facets:
    labels: tuple[str, ...]
    persons: tuple[str, ...]
    folders: tuple[str, ...]
    verdicts: tuple[str, ...]
    problems: tuple[str, ...]
    tags: tuple[str, ...]


@dataclass(frozen=True)
class GalleryPage:
    tiles: tuple[GalleryTile, ...]
    total: int
    page: int
    pages: int
    filter: GalleryFilter
    facets: Facets


@dataclass(frozen=True)
class LabelCount:
    label: str
    count: int


@dataclass(frozen=True)
class ScanLine:
    id: int
    started_at: str
    finished_at: str | None
    status: str
    examiner: str | None


@dataclass(frozen=True)
class Dashboard:
    images: int  # unique images (advocate: in scope)
    files: int  # locations of those images
    labels: tuple[LabelCount, ...]  # explicit labels of the images
    derived: int  # images found derived from another
    persons: int  # persons visible to the account with images
    errors: int  # files with an error (advocate: of the scope)
    warnings: int
    scans: tuple[ScanLine, ...]  # empty for an advocate
    overdue: tuple[Any, ...]  # services.requests.list_requests(overdue_only=True)
    scoped: bool
    case_counts: CaseCounts | None = None  # the report's counts (whole case only; None: scoped)


@dataclass(frozen=True)
class FaceView:
    index: int
    box: tuple[float, float, float, float]
    analysis_side: int
    usable: bool
    person: str | None  # code, when visible to the account
    person_name: str | None
    level: str | None  # match | possible
    similarity: float | None
    decision: str | None  # confirmed | rejected, for ``decided_person``
    decided_person: str | None
    has_crop: bool


@dataclass(frozen=True)
class LinkLine:
    role: str  # this image is the "derived" one or the "source" one of the link
    other_sha256: str
    derived_sha256: str
    source_sha256: str
    changed_fraction: float
    face_swap: bool | None
    direction: str  # stated | unknown
    renders: tuple[str, ...]  # of source / derived / mask, the ones written


@dataclass(frozen=True)
class SignalLine:
    name: str
    detail: str


@dataclass(frozen=True)
class ProblemLine:
    path: str
    code: str
    severity: str
    message: str
    sha256: str | None


@dataclass(frozen=True)
class ImageDetail:
    sha256: str
    md5: str
    sha1: str
    pdq: str | None
    pdq_quality: int | None
    size: int
    mime: str
    image_format: str | None
    width: int | None
    height: int | None
    label: str | None
    score: float | None
    blurred: bool
    verdict: str | None
    signals: tuple[SignalLine, ...]
    locations: tuple[str, ...]
    faces: tuple[FaceView, ...]
    links: tuple[LinkLine, ...]
    tags: tuple[str, ...]
    problems: tuple[ProblemLine, ...]
    has_thumbnail: bool
    can_reveal: bool


@dataclass(frozen=True)
class PersonLine:
    code: str
    kind: str  # enrolled | unidentified
    name: str | None
    images: int  # images attributed at match level (after decisions) or in the group
    possible: int  # images with a possible match (examiners only; 0 for others)


@dataclass(frozen=True)
class PossibleMatch:
    sha256: str
    face_index: int
    person: str
    similarity: float | None


@dataclass(frozen=True)
class PersonsView:
    persons: tuple[PersonLine, ...]
    possible: tuple[PossibleMatch, ...]  # for examiners: faces to confirm or reject


@dataclass(frozen=True)
class AuditLine:
    seq: int
    ts: str
    action: str
    actor: str | None
    payload: str


@dataclass(frozen=True)
class AuditView:
    events: tuple[AuditLine, ...]
    intact: bool
    findings: tuple[str, ...]


# -- what the whole case knows about persons, cached per case generation ----------------------
@dataclass(frozen=True)
class _Persons:
    rows: tuple[PersonRow, ...]
    by_id: dict[int, PersonRow] = field(hash=False)
    faces: tuple[FaceAttribution, ...]
    match_shas: dict[int, frozenset[str]] = field(hash=False)  # person id -> images
    possible_shas: dict[int, frozenset[str]] = field(hash=False)
    codes_of: dict[str, tuple[str, ...]] = field(hash=False)  # sha -> person codes (matches)


_cache: dict[tuple[str, int, str], Any] = {}
_cache_lock = threading.Lock()


def _store(case: Case) -> ReviewStore:
    from consentry.store.review_store import ReviewStore

    return ReviewStore(case.store.engine)


def _cached(case: Case, what: str, build: Any) -> Any:
    key = (str(case.path), _store(case).generation(), what)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    value = build()
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = value
    return value


def _persons(case: Case) -> _Persons:
    def build() -> _Persons:
        ps = case.persons
        rows = ps.persons()
        by_id = {p.id: p for p in rows}
        faces = ps.attributions()
        match: dict[int, set[str]] = {}
        possible: dict[int, set[str]] = {}
        codes: dict[str, set[str]] = {}
        for f in faces:
            sha = f.key[0]
            owner: int | None = None
            if f.match_level == MATCH and f.match_person is not None:
                owner = f.match_person
            elif f.cluster_person is not None:
                owner = f.cluster_person
            if f.match_level == POSSIBLE and f.match_person is not None:
                possible.setdefault(f.match_person, set()).add(sha)
            if owner is not None:
                match.setdefault(owner, set()).add(sha)
                p = by_id.get(owner)
                if p is not None:
                    codes.setdefault(sha, set()).add(p.code)
        return _Persons(
            tuple(rows),
            by_id,
            tuple(faces),
            {k: frozenset(v) for k, v in match.items()},
            {k: frozenset(v) for k, v in possible.items()},
            {k: tuple(sorted(v)) for k, v in codes.items()},
        )

    result: _Persons = _cached(case, "persons", build)
    return result


def _scope_shas(case: Case, account: Account) -> frozenset[str] | None:
    """The contents an advocate may see (None: the account sees the whole case)."""
    if not account.scoped:
        return None
    info = _persons(case)
    wanted = {c.upper() for c in account.scope}
    out: set[str] = set()
    for p in info.rows:
        if p.code.upper() in wanted and p.status == "active":
            out |= info.match_shas.get(p.id, frozenset())
    return frozenset(out)


def _visible_codes(account: Account, codes: Sequence[str]) -> tuple[str, ...]:
    return tuple(c for c in codes if account.sees_person(c))


def _redactor(case: Case, account: Account) -> Redactor | None:
    """The person-scoped reports' path rule for an advocate; None shows paths as found."""
    if not account.scoped:
        return None
    from consentry.reports.redact import Redactor
    from consentry.store.persons_store import ENROLLED

    info = _persons(case)
    enrolled = {p.code: p.name for p in info.rows if p.kind == ENROLLED and p.name}
    roots = [s.path for s in case.store.sources().values()]
    scope = account.scope[0] if account.scope else ""
    return Redactor(enrolled, scope, True, roots, neutral_paths=True)


def _shown_path(r: Redactor | None, path: str, sha: str | None) -> str:
    return path if r is None else r.path(path, sha256=sha)


def _check_image(case: Case, account: Account, sha: str) -> None:
    require(account, Action.VIEW_CASE)
    sha = sha.lower()
    scope = _scope_shas(case, account)
    if scope is not None and sha not in scope:
        raise not_found("image")
    if _store(case).content(sha) is None:
        raise not_found("image")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _split(path: str) -> tuple[str, str]:
    head, sep, name = path.rpartition("/")
    return (head if sep else "."), name


# -- gallery ---------------------------------------------------------------------------------
def gallery(h: CaseHandle, account: Account, f: GalleryFilter) -> GalleryPage:
    """One page of image tiles, filtered and paged in SQL, with the filter selects' values."""
    from consentry.media.thumbnails import must_blur
    from consentry.store.review_store import GalleryQuery

    require(account, Action.VIEW_CASE)
    if f.label is not None and f.label not in LABELS:
        raise ServiceError(ErrorCode.MISUSE, f"unknown label {f.label!r} ({', '.join(LABELS)})")
    if f.derivation is not None and f.derivation not in DERIVATIONS:
        raise ServiceError(
            ErrorCode.MISUSE, f"unknown derivation {f.derivation!r} ({', '.join(DERIVATIONS)})"
        )
    if f.tag is not None and f.tag not in TAGS:
        raise ServiceError(ErrorCode.MISUSE, f"unknown tag {f.tag!r} ({', '.join(TAGS)})")
    per_page = max(1, min(MAX_PER_PAGE, f.per_page))
    page = max(1, f.page)
    with h.reading() as case:
        store = _store(case)
        shas = _scope_shas(case, account)
        if f.person:
            code = f.person.upper()
            info = _persons(case)
            row = next((p for p in info.rows if p.code == code), None)
            if row is None or not account.sees_person(code):
                raise not_found("person")
            of = info.match_shas.get(row.id, frozenset())
            shas = of if shas is None else shas & of
        q = GalleryQuery(
            shas=shas,
            label=f.label,
            folder=None if f.folder is None else _real_folder(case, account, f.folder),
            provenance=f.provenance,
            derivation=f.derivation,
            problem=f.problem,
            tag=f.tag,
            offset=(page - 1) * per_page,
            limit=per_page,
        )
        rows, total = store.gallery(q)
        tags = store.tags_of([r.sha256 for r in rows])
        codes = _persons(case).codes_of
        red = _redactor(case, account)
        tiles = []
        for r in rows:
            folder, name = _split(_shown_path(red, r.path, r.sha256))
            tiles.append(
                GalleryTile(
                    r.sha256,
                    name,
                    folder,
                    r.label,
                    must_blur(r.label),
                    r.verdict,
                    _visible_codes(account, codes.get(r.sha256, ())),
                    tags.get(r.sha256, ()),
                    r.derived,
                    r.has_thumbnail,
                )
            )
        facets = _facets(case, account)
    pages = max(1, -(-total // per_page))
    return GalleryPage(tuple(tiles), total, page, pages, f, facets)


def _folders_shown(case: Case, account: Account) -> dict[str, str]:
    """Folder as shown -> folder as found, for the account's images."""

    def build() -> dict[str, str]:
        scope = _scope_shas(case, account)
        red = _redactor(case, account)
        out: dict[str, str] = {}
        for sha, path in _store(case).image_paths():
            if scope is not None and sha not in scope:
                continue
            real, _ = _split(path)
            shown, _ = _split(_shown_path(red, path, sha))
            out.setdefault(shown, real)
        return out

    key = "folders:" + (",".join(sorted(account.scope)) if account.scoped else "*")
    result: dict[str, str] = _cached(case, key, build)
    return result


def _real_folder(case: Case, account: Account, shown: str) -> str:
    shown = shown.rstrip("/") or "/"
    if not account.scoped:
        return shown
    real = _folders_shown(case, account).get(shown)
    if real is None:
        raise not_found("folder")
    return real


def _facets(case: Case, account: Account) -> Facets:
    def build() -> Facets:
        store = _store(case)
        info = _persons(case)
        persons = tuple(
            p.code
            for p in info.rows
            if p.status == "active" and p.id in info.match_shas and account.sees_person(p.code)
        )
        return Facets(
            labels=LABELS,
            persons=persons,
            folders=tuple(sorted(_folders_shown(case, account))),
            verdicts=tuple(store.distinct_labels("provenance")),
            problems=tuple(store.problem_codes()) if not account.scoped else (),
            tags=TAGS,
        )

    key = "facets:" + (",".join(sorted(account.scope)) if account.scoped else "*")
    result: Facets = _cached(case, key, build)
    return result


# -- dashboard -------------------------------------------------------------------------------
def dashboard(h: CaseHandle, account: Account, now: datetime | None = None) -> Dashboard:
    """The case's counts as the report gives them (an advocate: of their scope only), its
    scans, problems by severity and the overdue requests."""
    require(account, Action.VIEW_CASE)
    with h.reading() as case:
        store = _store(case)
        scope = _scope_shas(case, account)
        info = _persons(case)
        paths = store.image_paths()
        if scope is not None:
            paths = [(s, p) for s, p in paths if s in scope]
        shas = {s for s, _ in paths}
        labels = case.links.explicit_labels()
        counted: dict[str, int] = {}
        for sha in shas:
            label = labels.get(sha) or "unknown"
            counted[label] = counted.get(label, 0) + 1
        derived = {link.derived_sha256 for link in case.links.links()} & shas
        problems = store.problems(None if scope is None else shas)
        errors = len({p.path for p in problems if p.severity == "error"})
        warnings = len({p.path for p in problems if p.severity == "warning"})
        persons = sum(
            1
            for p in info.rows
            if p.status == "active" and info.match_shas.get(p.id) and account.sees_person(p.code)
        )
        case_counts = None
        if scope is None:
            from consentry.analyzers.registry import count_rules

            case_counts = case.store.counts(count_rules())
        scans = (
            ()
            if scope is not None
            else tuple(
                ScanLine(s.id, s.started_at, s.finished_at, s.status, s.examiner)
                for s in case.store.scans()
            )
        )
    overdue: tuple[Any, ...] = ()
    try:  # TODO(lead): remove this guard once services.requests (part B) is in
        import importlib

        requests = importlib.import_module("consentry.services.requests")
        overdue = tuple(requests.list_requests(h, account, overdue_only=True, now=now))
    except (ImportError, AttributeError):
        overdue = ()
    return Dashboard(
        images=len(shas),
        files=len(paths),
        labels=tuple(LabelCount(k, counted[k]) for k in sorted(counted)),
        derived=len(derived),
        persons=persons,
        errors=errors,
        warnings=warnings,
        scans=scans,
        overdue=overdue,
        scoped=scope is not None,
        case_counts=case_counts,
    )


# -- one image -------------------------------------------------------------------------------
def image_detail(h: CaseHandle, account: Account, sha256: str) -> ImageDetail:
    from consentry.media.thumbnails import must_blur

    sha = sha256.lower()
    with h.reading() as case:
        _check_image(case, account, sha)
        store = _store(case)
        content = store.content(sha)
        assert content is not None
        found = store.findings_of(sha)
        explicit = found.get("explicit")
        prov = found.get("provenance")
        red = _redactor(case, account)
        info = _persons(case)
        attributions = {f.key[1]: f for f in info.faces if f.key[0] == sha}
        decisions = store.decisions_of(sha)
        faces = []
        for face in store.faces_of(sha):
            a = attributions.get(face.index)
            code = name = level = None
            similarity = None
            pid = None
            if a is not None:
                if a.match_person is not None and a.match_level is not None:
                    pid, level, similarity = a.match_person, a.match_level, a.match_similarity
                elif a.cluster_person is not None:
                    pid, level = a.cluster_person, MATCH
            p = info.by_id.get(pid) if pid is not None else None
            if p is not None and account.sees_person(p.code):
                if level == POSSIBLE and account.scoped:
                    p = None
                else:
                    code, name = p.code, p.name
            if code is None:
                level, similarity = None, None
            d = decisions.get(face.index)
            dp = info.by_id.get(d.person_id) if d is not None else None
            show_d = d is not None and dp is not None and account.sees_person(dp.code)
            faces.append(
                FaceView(
                    face.index,
                    face.box,
                    face.analysis_side,
                    face.usable,
                    code,
                    name if not account.scoped else None,
                    level,
                    similarity,
                    d.decision if show_d and d is not None else None,
                    dp.code if show_d and dp is not None else None,
                    face.crop_path is not None
                    and code is not None
                    or (face.crop_path is not None and not account.scoped),
                )
            )
        links = _links_of(case, account, sha)
        label = explicit.label if explicit is not None else None
        scope = _scope_shas(case, account)
        return ImageDetail(
            sha256=sha,
            md5=content.md5,
            sha1=content.sha1,
            pdq=content.pdq,
            pdq_quality=content.pdq_quality,
            size=content.size,
            mime=content.mime,
            image_format=content.image_format,
            width=content.width,
            height=content.height,
            label=label,
            score=explicit.score if explicit is not None else None,
            blurred=must_blur(label),
            verdict=prov.label if prov is not None else None,
            signals=_signals(prov.payload if prov is not None else None, red),
            locations=tuple(_shown_path(red, p, sha) for p in store.locations_of(sha)),
            faces=tuple(faces),
            links=links,
            tags=store.tags_of([sha]).get(sha, ()),
            problems=tuple(
                ProblemLine(_shown_path(red, p.path, sha), p.code, p.severity, p.message, sha)
                for p in store.problems([sha])
            ),
            has_thumbnail=store.thumbnail_path(sha) is not None,
            can_reveal=account.can(Action.REVEAL) and scope is None,
        )


def _signals(payload: str | None, red: Redactor | None) -> tuple[SignalLine, ...]:
    if not payload:
        return ()
    import json

    from consentry.reports.provenance_info import provenance_info
    from consentry.reports.redact import Redactor

    try:
        data = json.loads(payload)
        pi = provenance_info(data, red or Redactor({}, None, False))
    except (ValueError, TypeError, KeyError):
        return ()
    out = []
    for s in getattr(pi, "signals", ()) or ():
        name = str(getattr(s, "name", "") or getattr(s, "signal", ""))
        detail = str(getattr(s, "detail", "") or getattr(s, "text", "") or "")
        out.append(SignalLine(name, detail))
    return tuple(out)


def _links_of(case: Case, account: Account, sha: str) -> tuple[LinkLine, ...]:
    from consentry.derivation.direction import direction_stated

    scope = _scope_shas(case, account)
    out = []
    for link in case.links.links():
        if sha not in (link.derived_sha256, link.source_sha256):
            continue
        role = "derived" if link.derived_sha256 == sha else "source"
        other = link.source_sha256 if role == "derived" else link.derived_sha256
        renders: tuple[str, ...] = ()
        if link.render_dir:
            folder = _inside(case, link.render_dir)
            if folder is not None:
                renders = tuple(w for w in RENDERS if (folder / f"{w}.png").is_file())
        out.append(
            LinkLine(
                role,
                other if scope is None or other in scope else "",
                link.derived_sha256 if scope is None or link.derived_sha256 in scope else "",
                link.source_sha256 if scope is None or link.source_sha256 in scope else "",
                link.changed_fraction,
                link.face_swap,
                "stated" if direction_stated(link.confidence) else "unknown",
                renders,
            )
        )
    return tuple(out)


# -- files -----------------------------------------------------------------------------------
def _inside(case: Case, rel: str) -> Path | None:
    """``rel`` (from the store) under the case folder, or None if it resolves outside it."""
    root = case.path.resolve()
    try:
        p = (root / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if p != root and root not in p.parents:
        return None
    return p


def _served(case: Case, rel: str | None, what: str) -> ServedFile:
    if not rel:
        raise not_found(what)
    p = _inside(case, rel)
    if p is None or not p.is_file():
        raise not_found(what)
    media = "image/png" if p.suffix.lower() == ".png" else "image/jpeg"
    return ServedFile(p, media)


def thumbnail_file(h: CaseHandle, account: Account, sha256: str) -> ServedFile:
    sha = sha256.lower()
    with h.reading() as case:
        _check_image(case, account, sha)
        return _served(case, _store(case).thumbnail_path(sha), "thumbnail")


def face_crop_file(h: CaseHandle, account: Account, sha256: str, index: int) -> ServedFile:
    sha = sha256.lower()
    with h.reading() as case:
        _check_image(case, account, sha)
        face = next((f for f in _store(case).faces_of(sha) if f.index == index), None)
        if face is None:
            raise not_found("face")
        if account.scoped:
            info = _persons(case)
            a = next((f for f in info.faces if f.key == (sha, index)), None)
            pid = None
            if a is not None:
                if a.match_level == MATCH and a.match_person is not None:
                    pid = a.match_person
                elif a.cluster_person is not None:
                    pid = a.cluster_person
            p = info.by_id.get(pid) if pid is not None else None
            if p is None or not account.sees_person(p.code):
                raise not_found("face")
        return _served(case, face.crop_path, "face")


def render_file(
    h: CaseHandle, account: Account, derived: str, source: str, which: str
) -> ServedFile:
    if which not in RENDERS:
        raise not_found("picture")
    require(account, Action.VIEW_CASE)
    derived, source = derived.lower(), source.lower()
    with h.reading() as case:
        scope = _scope_shas(case, account)
        if scope is not None and derived not in scope and source not in scope:
            raise not_found("derivation")
        link = next(
            (
                lk
                for lk in case.links.links()
                if lk.derived_sha256 == derived and lk.source_sha256 == source
            ),
            None,
        )
        if link is None or not link.render_dir:
            raise not_found("derivation")
        return _served(case, f"{link.render_dir}/{which}.png", "picture")


# -- reveal ----------------------------------------------------------------------------------
def reveal(
    h: CaseHandle, account: Account, sha256: str, reason: str, now: datetime | None = None
) -> RevealGrantView:
    """An examiner's logged permission to see one image unblurred for 5 minutes."""
    require(account, Action.REVEAL)
    why = (reason or "").strip()
    if not REASON_MIN <= len(why) <= REASON_MAX:
        raise ServiceError(ErrorCode.MISUSE, REASON_MESSAGE)
    sha = sha256.lower()
    t = _now(now)
    at, expires = _iso(t), _iso(t + timedelta(minutes=REVEAL_MINUTES))
    with h.writing() as case:
        _check_image(case, account, sha)
        if not _store(case).add_grant(account.id, sha, why, at, expires):
            raise ServiceError(ErrorCode.FORBIDDEN, "a reveal needs a signed-in web account")
        case.store.append_audit(
            "image_revealed", account.name, {"sha256": sha, "reason": why, "expires_at": expires}
        )
    return RevealGrantView(sha, at, expires)


def revealed_image(
    h: CaseHandle, account: Account, sha256: str, now: datetime | None = None
) -> RevealedImage:
    """The image unblurred (a JPEG, at most 1600 px on the long side), read read-only from
    the evidence; only under a live grant of this account. Never written to disk."""
    from PIL import Image

    from consentry.derivation.evidence import read_evidence
    from consentry.media.decode import decode_image
    from consentry.records.problems import ItemError
    from consentry.store.links_store import ImageRef

    require(account, Action.REVEAL)
    sha = sha256.lower()
    with h.reading() as case:
        _check_image(case, account, sha)
        store = _store(case)
        if store.live_grant(account.id, sha, _iso(_now(now))) is None:
            raise ServiceError(
                ErrorCode.FORBIDDEN,
                "reveal this image first (with a reason); a reveal lasts 5 minutes",
            )
        first = store.first_location(sha)
        if first is None:
            raise not_found("image")
        ref, path = first
    try:
        data = read_evidence(ImageRef(sha, ref, path))
        rgb = decode_image(data, REVEAL_SIDE).rgb  # orientation applied
    except (ItemError, OSError, ValueError) as exc:
        raise ServiceError(ErrorCode.MISUSE, f"cannot read this image now: {exc}") from None
    img = Image.fromarray(rgb)
    img.thumbnail((REVEAL_SIDE, REVEAL_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=90)
    return RevealedImage(buf.getvalue(), "image/jpeg")


# -- decisions -------------------------------------------------------------------------------
def tag_image(h: CaseHandle, account: Account, sha256: str, tag: str, on: bool) -> tuple[str, ...]:
    require(account, Action.TAG)
    if tag not in TAGS:
        raise ServiceError(ErrorCode.MISUSE, f"unknown tag {tag!r} (one of {', '.join(TAGS)})")
    sha = sha256.lower()
    from consentry.store.audit import now_iso

    with h.writing() as case:
        _check_image(case, account, sha)
        store = _store(case)
        store.set_tag(sha, tag, on, account.name, now_iso())
        case.store.append_audit("image_tagged", account.name, {"sha256": sha, "tag": tag, "on": on})
        return store.tags_of([sha]).get(sha, ())


def decide_face(
    h: CaseHandle, account: Account, sha256: str, face_index: int, person: str, decision: str
) -> None:
    """Confirm or reject that a face is an enrolled person; findings and reports follow it."""
    from consentry.store.audit import now_iso
    from consentry.store.persons_store import ENROLLED

    require(account, Action.DECIDE_PERSONS)
    if decision not in DECISIONS:
        raise ServiceError(ErrorCode.MISUSE, f"decide {' or '.join(DECISIONS)}, not {decision!r}")
    sha = sha256.lower()
    code = person.upper()
    with h.writing() as case:
        _check_image(case, account, sha)
        if not any(f.index == face_index for f in _store(case).faces_of(sha)):
            raise not_found("face")
        row = case.persons.person(code)
        if row is None or row.status != "active":
            raise not_found("person")
        if row.kind != ENROLLED:
            raise ServiceError(
                ErrorCode.MISUSE, f"{code} is a group: confirm or reject enrolled persons only"
            )
        _store(case).set_decision(sha, face_index, row.id, decision, account.name, now_iso())
        case.store.append_audit(
            "face_decided",
            account.name,
            {"sha256": sha, "face_index": face_index, "person": code, "decision": decision},
        )


def merge_groups(h: CaseHandle, account: Account, source: str, target: str) -> None:
    """Put every face of unidentified group ``source`` into group ``target``."""
    from consentry.services.persons import merge_persons

    require(account, Action.DECIDE_PERSONS)
    _check_person(h, account, source)
    _check_person(h, account, target)
    merge_persons(h.ref, source.upper(), target.upper(), examiner=account.name)


def split_group(
    h: CaseHandle, account: Account, person: str, faces: Sequence[tuple[str, int]]
) -> str:
    """Move the faces of group ``person`` in the images of ``faces`` to a new group; its
    code. (A split moves every face of the group in a chosen image.)"""
    from consentry.services.persons import split_person

    require(account, Action.DECIDE_PERSONS)
    _check_person(h, account, person)
    images = tuple(sorted({sha.lower() for sha, _ in faces}))
    if not images:
        raise ServiceError(ErrorCode.MISUSE, "choose the faces to split off")
    return split_person(h.ref, person.upper(), images, examiner=account.name).new


def _check_person(h: CaseHandle, account: Account, code: str) -> None:
    with h.reading() as case:
        if not account.sees_person(code) or case.persons.person(code.upper()) is None:
            raise not_found("person")


# -- persons, problems, audit, hash packs ----------------------------------------------------
def persons_view(h: CaseHandle, account: Account) -> PersonsView:
    require(account, Action.VIEW_CASE)
    with h.reading() as case:
        info = _persons(case)
        lines = []
        for p in info.rows:
            if p.status != "active" or not account.sees_person(p.code):
                continue
            images = len(info.match_shas.get(p.id, ()))
            if p.kind != "enrolled" and not images:
                continue
            lines.append(
                PersonLine(
                    p.code,
                    p.kind,
                    p.name,
                    images,
                    0 if account.scoped else len(info.possible_shas.get(p.id, ())),
                )
            )
        possible: list[PossibleMatch] = []
        if account.can(Action.DECIDE_PERSONS):
            for f in info.faces:
                if f.match_level == POSSIBLE and f.match_person in info.by_id:
                    possible.append(
                        PossibleMatch(
                            f.key[0], f.key[1], info.by_id[f.match_person].code, f.match_similarity
                        )
                    )
    return PersonsView(tuple(lines), tuple(possible))


def problems_view(h: CaseHandle, account: Account) -> tuple[ProblemLine, ...]:
    require(account, Action.VIEW_CASE)
    with h.reading() as case:
        scope = _scope_shas(case, account)
        if scope is None:
            require(account, Action.VIEW_PROBLEMS)
        red = _redactor(case, account)
        rows = _store(case).problems(None if scope is None else scope)
        return tuple(
            ProblemLine(_shown_path(red, p.path, p.sha256), p.code, p.severity, p.message, p.sha256)
            for p in rows
        )


def audit_view(h: CaseHandle, account: Account) -> AuditView:
    from consentry.store.audit import read_head, verify_chain
    from consentry.store.case import HEAD_FILE

    require(account, Action.VIEW_AUDIT)
    with h.reading() as case:
        events = case.store.audit_events()
        head = read_head(case.path / HEAD_FILE)
        findings = verify_chain(events, head, (), case.case_id)
    return AuditView(
        tuple(AuditLine(e.seq, e.ts, e.action, e.actor, e.payload) for e in events),
        not findings,
        tuple(str(getattr(f, "message", f)) for f in findings),
    )


def hash_pack(h: CaseHandle, account: Account, person: str) -> Download:
    """The hash pack of one person (a zip), made as ``consentry report --format hashpack``."""
    from consentry.reports.options import ReportOptions
    from consentry.services.reports import ReportRequest, write_report

    require(account, Action.DOWNLOAD_PACKS)
    code = person.upper()
    if not account.sees_person(code):
        raise not_found("person")
    with h.reading() as case:
        if case.persons.person(code) is None:
            raise not_found("person")
    with tempfile.TemporaryDirectory(prefix="consentry-pack-") as tmp:
        out = Path(tmp) / "pack"
        written = write_report(
            ReportRequest(h.ref, "hashpack", out, ReportOptions(person=code, examiner=account.name))
        )
        files = [f.path for f in written.files if f.path.is_file()]
        if not files:
            raise ServiceError(ErrorCode.MISUSE, f"no hash pack was written for {code}")
        import zipfile

        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for p in files:
                z.write(p, p.relative_to(out) if out in p.parents else p.name)
    return Download(f"hashpack-{code}.zip", "application/zip", buf.getvalue())


__all__ = [
    "AuditView",
    "Dashboard",
    "Download",
    "GalleryFilter",
    "GalleryPage",
    "GalleryTile",
    "ImageDetail",
    "PersonsView",
    "ProblemLine",
    "RevealGrantView",
    "RevealedImage",
    "ServedFile",
    "audit_view",
    "dashboard",
    "decide_face",
    "face_crop_file",
    "gallery",
    "hash_pack",
    "image_detail",
    "merge_groups",
    "persons_view",
    "problems_view",
    "render_file",
    "reveal",
    "revealed_image",
    "split_group",
    "tag_image",
]
