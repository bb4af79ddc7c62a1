"""The persons of a case: enroll a person who consented, erase one, merge and split unidentified
persons, match again, and read who is depicted.

Each action opens the case once, does the work through ``consentry.persons`` and the case's
persons store, writes its own audit events (``person_enrolled``, ``person_removed``,
``persons_merged``, ``person_split``; matching writes its own) and returns a typed result. What
goes wrong is a ``ServiceError``: ``MISUSE`` for a refused photo or consent record, an unknown
person or a wrong template key, ``CASE`` for an unusable case folder.

The persons layer (numpy, the face model) is imported inside the functions, so a shell can
import this module to build its interface and still start fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened, opened_readonly

if TYPE_CHECKING:
    from consentry.persons.enroll import ReferenceTemplate
    from consentry.persons.findings import PersonsReport, PersonSummary
    from consentry.persons.refresh import RefreshOutcome
    from consentry.persons.template_crypto import TemplateKey
    from consentry.store.case import Case
    from consentry.store.persons_store import PersonRow, PersonsStore


class PhotosRefused(ServiceError):
    """Reference photos that cannot give a template; nothing was stored. ``reasons`` holds one
    line per refused photo, in the order given (the message repeats the last one)."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__(ErrorCode.MISUSE, reasons[-1] + " (nothing was stored)")
        self.reasons = reasons


# -- enrollment ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnrollRequest:
    """Enroll ``name`` from reference ``photos`` (never evidence images) under the consent
    record in ``consent_file``. ``faces``: which face (1 = first in reading order) when a photo
    shows several, once for all photos or once per photo."""

    case: CaseRef
    name: str
    consent_file: Path
    photos: tuple[Path, ...]
    faces: tuple[int, ...] = ()
    examiner: str | None = None


@dataclass(frozen=True)
class EnrollResult:
    code: str  # E<n>
    name: str  # as stored (stripped)
    references: tuple[ReferenceTemplate, ...]  # one template per photo, in the order given
    summary: PersonSummary | None  # the person's line of the persons report after matching
    case_has_faces: bool  # False: no faces in the case yet, nothing to match
    references_in_evidence: tuple[str, ...]  # SHA-256 of reference photos that are evidence
    key_file: Path | None  # the case key file that encrypts the templates; None: $CONSENTRY_KEY


def enroll_person(request: EnrollRequest) -> EnrollResult:
    """Check the consent record and every photo before the case is touched, then store the
    templates, record ``person_enrolled`` and match the case against the new person.

    The case is created when it does not exist yet (enrollment may come before the scan)."""
    from consentry.analyzers.models import ModelUnavailable
    from consentry.persons import enroll
    from consentry.persons.consent import ConsentError, check_names, load_consent
    from consentry.persons.findings import build_report
    from consentry.persons.template_crypto import ENV_VAR, key_file_path
    from consentry.store.persons_store import ENROLLED, NewTemplate

    name = request.name.strip()
    if not name:
        raise ServiceError(ErrorCode.MISUSE, "--name is empty")
    try:
        consent = load_consent(request.consent_file)
        check_names(consent.record, name)
    except ConsentError as exc:
        raise ServiceError(ErrorCode.MISUSE, f"{request.consent_file}: {exc}") from None
    photos, faces = request.photos, request.faces
    if faces and len(faces) not in (1, len(photos)):
        raise ServiceError(
            ErrorCode.MISUSE, f"--face given {len(faces)} times for {len(photos)} photos"
        )
    choices: list[int | None] = [None] * len(photos)
    if faces:
        choices = [faces[0] if len(faces) == 1 else faces[i] for i in range(len(photos))]
    try:
        analyzer = face_analyzer()
    except ModelUnavailable as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    references: list[enroll.ReferenceTemplate] = []
    refused: list[str] = []
    for photo, choice in zip(photos, choices, strict=True):
        try:
            ref = enroll.read_reference(photo, analyzer, choice)
        except enroll.ReferencePhotoError as exc:
            refused.append(str(exc))
            continue
        if any(r.sha256 == ref.sha256 for r in references):
            refused.append(f"{photo}: the same file as {references[0].photo} (given twice)")
            continue
        references.append(ref)
    if refused:
        raise PhotosRefused(tuple(refused))

    with opened(request.case, create=True) as case:
        ps = case.persons
        for p in ps.persons(include_merged=False):
            if p.kind == ENROLLED and (p.name or "").casefold() == name.casefold():
                raise ServiceError(ErrorCode.MISUSE, f"{p.code} is already enrolled as {p.name!r}")
        key = _template_key(ps, case.path)
        in_evidence = ps.known_contents(r.sha256 for r in references)
        code = ps.add_enrolled(
            name,
            consent.record.as_json(),
            consent.file_sha256,
            request.examiner,
            [
                NewTemplate(
                    r.sha256,
                    r.md5,
                    r.pdq,
                    r.pdq_quality,
                    r.face_index,
                    r.quality.as_dict(),
                    key.encrypt(r.embedding),
                )
                for r in references
            ],
        )
        case.store.append_audit(
            "person_enrolled",
            request.examiner,
            {
                "person": code,
                "name": name,
                "consent": json.loads(consent.record.as_json()),
                "consent_file_sha256": consent.file_sha256,
                "reference_photos_sha256": [r.sha256 for r in references],
                # a reference photo that is also an evidence file: its own image matches
                "reference_photos_in_evidence_sha256": sorted(in_evidence),
                "templates": len(references),
                "key_source": "environment" if key.source == ENV_VAR else "case key file",
            },
        )
        outcome = _refresh(case, request.examiner)
        report = build_report(ps)
    return EnrollResult(
        code=code,
        name=name,
        references=tuple(references),
        summary=next((s for s in report.persons if s.id == code), None),
        case_has_faces=outcome is not None and bool(outcome.faces),
        references_in_evidence=tuple(sorted(in_evidence)),
        key_file=None if key.source == ENV_VAR else key_file_path(case.path),
    )


def face_analyzer() -> Any:
    """The scan's face analyzer, loaded once per process (enrollment must see faces exactly as
    the scan does); tests may put a stand-in in ``_ANALYZER``."""
    from consentry.analyzers.faces import load_faces

    global _ANALYZER
    if _ANALYZER is None:
        _ANALYZER = load_faces()
    return _ANALYZER


_ANALYZER: Any = None


def new_template_key() -> str:
    """A new template key, as ``$CONSENTRY_KEY`` takes it (kept outside the case folder)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


# -- erasure, merge, split, refresh --------------------------------------------------------------
@dataclass(frozen=True)
class RemoveRequest:
    """Erase enrolled person ``person`` (E<n>): consent withdrawn, or enrolled by mistake."""

    case: CaseRef
    person: str
    examiner: str | None = None
    reason: str | None = None  # recorded in the audit event


@dataclass(frozen=True)
class Removal:
    """What the erasure removed: counts only, as the audit event records them."""

    code: str
    templates: int
    matches: int
    face_embeddings: int
    face_crops_deleted: int
    face_crops_not_deleted: tuple[str, ...]  # one line per crop file that could not go
    wal_truncated: bool  # False: a reader kept old pages in SQLite's write-ahead log


def remove_person(
    request: RemoveRequest, confirm: Callable[[str, str | None], object] | None = None
) -> Removal:
    """Erase the person's templates, matches and record and what identifies them in the
    evidence (face embeddings, groups, crops), record ``person_removed`` (counts, never what
    was removed) and match again.

    ``confirm`` is called with the person's code and name once the person is known to be
    enrolled and before anything is erased; it raises to cancel (the CLI's prompt does)."""
    from consentry.persons import erasure
    from consentry.store.persons_store import ENROLLED

    with opened(request.case) as case:
        ps = case.persons
        person = _person(ps, request.person)
        if person.kind != ENROLLED:
            raise ServiceError(
                ErrorCode.MISUSE,
                f"{person.code} is an unidentified person (faces of the evidence, no template): "
                "use `person merge` / `person split` to correct it",
            )
        if confirm is not None:
            confirm(person.code, person.name)
        erased = ps.remove_enrolled(person.id)
        crops, not_deleted = erasure.delete_crops(case.path, erased.crops)
        case.store.append_audit(
            "person_removed",
            request.examiner,
            {
                "person": person.code,
                "templates_deleted": erased.templates,
                "matches_deleted": erased.matches,
                "face_embeddings_deleted": erased.face_embeddings,
                "face_crops_deleted": crops,
                "face_crops_not_deleted": len(not_deleted),
                "group_assignments_deleted": erased.group_assignments,
                "reason": request.reason,
            },
        )
        _refresh(case, request.examiner)
    return Removal(
        code=person.code,
        templates=erased.templates,
        matches=erased.matches,
        face_embeddings=erased.face_embeddings,
        face_crops_deleted=crops,
        face_crops_not_deleted=tuple(not_deleted),
        wal_truncated=erased.clean,
    )


@dataclass(frozen=True)
class Merge:
    source: str
    target: str
    faces: int  # faces moved from source to target


def merge_persons(
    case_ref: CaseRef, source: str, target: str, examiner: str | None = None
) -> Merge:
    """Put every face of unidentified person ``source`` into ``target`` (the examiner says they
    are one person) and record ``persons_merged``. The source's number is retired."""
    from consentry.store.persons_store import UNIDENTIFIED

    with opened(case_ref) as case:
        ps = case.persons
        src, dst = _person(ps, source), _person(ps, target)
        for p in (src, dst):
            if p.kind != UNIDENTIFIED:
                raise ServiceError(
                    ErrorCode.MISUSE, f"{p.code} is enrolled: only unidentified persons are merged"
                )
            if p.status != "active":
                raise ServiceError(ErrorCode.MISUSE, f"{p.code} was already merged")
        if src.id == dst.id:
            raise ServiceError(ErrorCode.MISUSE, "cannot merge a person into itself")
        moved = ps.merge(src.id, dst.id)
        case.store.append_audit(
            "persons_merged", examiner, {"source": src.code, "target": dst.code, "faces": moved}
        )
    return Merge(src.code, dst.code, moved)


@dataclass(frozen=True)
class Split:
    source: str
    new: str  # the new unidentified person's code
    faces: int  # faces moved to it


def split_person(
    case_ref: CaseRef, person: str, images: tuple[str, ...], examiner: str | None = None
) -> Split:
    """Move the faces of unidentified ``person`` in ``images`` (each a path as the scan
    recorded it, or a SHA-256 prefix, naming exactly one of the person's images) to a new
    unidentified person and record ``person_split``."""
    from consentry.store.persons_store import UNIDENTIFIED

    with opened(case_ref) as case:
        ps = case.persons
        row = _person(ps, person)
        if row.kind != UNIDENTIFIED or row.status != "active":
            raise ServiceError(ErrorCode.MISUSE, f"{row.code} is not an active unidentified person")
        faces = ps.cluster_faces_of(row.id)
        shas = {sha for sha, _ in faces}
        paths = ps.locations_of(shas)
        chosen: set[str] = set()
        for image in images:
            hits = {s for s in shas if image in paths.get(s, []) or s.startswith(image.lower())}
            if len(hits) != 1:
                raise ServiceError(
                    ErrorCode.MISUSE,
                    f"{image!r} is {'not an image' if not hits else 'ambiguous among images'} "
                    f"of {row.code}",
                )
            chosen |= hits
        keys = [k for k in faces if k[0] in chosen]
        if len(keys) == len(faces):
            raise ServiceError(
                ErrorCode.MISUSE, f"that would move every face of {row.code}: nothing to split"
            )
        code = ps.split(row.id, keys, examiner)
        case.store.append_audit(
            "person_split",
            examiner,
            {"source": row.code, "new": code, "faces": [f"{sha}:{index}" for sha, index in keys]},
        )
    return Split(row.code, code, len(keys))


def refresh_persons(case_ref: CaseRef, examiner: str | None = None) -> RefreshOutcome | None:
    """Match and cluster the whole case again now, then retry truncating SQLite's write-ahead
    log (which finishes an erasure that found it busy). None: no faces and no enrolled
    persons. ``matches_skipped`` in the outcome says why matching could not run."""
    with opened(case_ref) as case:
        outcome = _refresh(case, examiner, force=True)
        case.persons.truncate_wal()
    return outcome


# -- reading -------------------------------------------------------------------------------------
def persons_report(case_ref: CaseRef) -> PersonsReport:
    """Every person depicted in the case, with image counts, folders and the count's bounds."""
    from consentry.persons.findings import build_report

    with opened_readonly(case_ref) as case:
        return build_report(case.persons)


@dataclass(frozen=True)
class EnrolledPerson:
    """One line of ``person list`` (field order is the JSON's)."""

    id: str
    name: str | None
    templates: int
    consent: str | None  # valid | expired | missing
    consented_by: Any
    consented_at: Any
    images: int
    possible_images: int


@dataclass(frozen=True)
class PersonList:
    enrolled: tuple[EnrolledPerson, ...]
    unidentified: tuple[str, ...]  # codes of the unidentified persons


def list_persons(case_ref: CaseRef) -> PersonList:
    """The enrolled persons (consent, templates, images matched) and the unidentified ones."""
    from consentry.persons.findings import build_report, consent_summary
    from consentry.store.persons_store import ENROLLED, UNIDENTIFIED

    with opened_readonly(case_ref) as case:
        ps = case.persons
        report = build_report(ps)
        persons = ps.persons()
        templates: dict[int, int] = {}
        for _, pid in ps.template_ids():
            templates[pid] = templates.get(pid, 0) + 1
    by_code = {s.id: s for s in report.persons}
    enrolled = []
    for p in persons:
        if p.kind != ENROLLED:
            continue
        consent = consent_summary(p) or {}
        s = by_code.get(p.code)
        enrolled.append(
            EnrolledPerson(
                id=p.code,
                name=p.name,
                templates=templates.get(p.id, 0),
                consent=s.consent if s else None,
                consented_by=consent.get("consented_by"),
                consented_at=consent.get("consented_at"),
                images=s.images if s else 0,
                possible_images=s.possible_images if s else 0,
            )
        )
    unidentified = tuple(s.id for s in report.persons if s.kind == UNIDENTIFIED)
    return PersonList(tuple(enrolled), unidentified)


@dataclass(frozen=True)
class TemplateSource:
    """What one template came from; never the template itself (field order is the JSON's)."""

    reference_sha256: str
    reference_md5: str
    reference_pdq: str | None
    reference_pdq_quality: int | None
    face: int  # 1-based, reading order
    quality: dict[str, Any]


@dataclass(frozen=True)
class PersonDetail:
    id: str
    kind: str  # enrolled | unidentified
    name: str | None
    status: str
    created_at: str
    merged_into: str | None  # the code of the person this one was merged into
    consent: dict[str, Any] | None  # enrolled: the consent record
    consent_file_sha256: str | None
    templates: tuple[TemplateSource, ...]
    summary: PersonSummary | None  # the person's line of the persons report

    def as_dict(self) -> dict[str, Any]:
        """The person as ``person show --json`` prints it: the record, consent and templates
        for an enrolled person, then the report's fields."""
        from consentry.store.persons_store import ENROLLED

        data: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at,
            "merged_into": self.merged_into,
        }
        if self.kind == ENROLLED:
            data["consent"] = self.consent
            data["consent_file_sha256"] = self.consent_file_sha256
            data["templates"] = [asdict(t) for t in self.templates]
        if self.summary is not None:
            data.update({k: v for k, v in asdict(self.summary).items() if k not in data})
        return data


def show_person(case_ref: CaseRef, person: str) -> PersonDetail:
    """One person: consent and template quality (enrolled), images, folders, evidence."""
    from consentry.persons.findings import build_report, consent_summary

    with opened_readonly(case_ref) as case:
        ps = case.persons
        row = _person(ps, person)
        templates = ps.templates_info(row.id)
        report = build_report(ps)
        target = None
        if row.merged_into is not None:
            target = next((p for p in ps.persons() if p.id == row.merged_into), None)
    return PersonDetail(
        id=row.code,
        kind=row.kind,
        name=row.name,
        status=row.status,
        created_at=row.created_at,
        merged_into=target.code if target else None,
        consent=consent_summary(row),
        consent_file_sha256=row.consent_sha256,
        templates=tuple(
            TemplateSource(
                t.ref_sha256, t.ref_md5, t.ref_pdq, t.ref_pdq_quality, t.face_index + 1, t.quality
            )
            for t in templates
        ),
        summary=next((s for s in report.persons if s.id == row.code), None),
    )


# -- shared --------------------------------------------------------------------------------------
def _person(ps: PersonsStore, code: str) -> PersonRow:
    person = ps.person(code)
    if person is None:
        raise ServiceError(
            ErrorCode.MISUSE,
            f"no person {code.upper()} in this case (see `consentry person list`)",
        )
    return person


def _template_key(ps: PersonsStore, case_dir: Path) -> TemplateKey:
    from consentry.persons.refresh import template_key
    from consentry.persons.template_crypto import TemplateKeyError

    try:
        return template_key(ps, case_dir, create=True)
    except TemplateKeyError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None


def _refresh(case: Case, examiner: str | None, force: bool = False) -> RefreshOutcome | None:
    from consentry.persons.refresh import refresh_identities
    from consentry.persons.template_crypto import TemplateKeyError

    try:
        return refresh_identities(case.store, case.path, examiner, force=force)
    except TemplateKeyError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None


__all__ = [
    "EnrollRequest",
    "EnrollResult",
    "EnrolledPerson",
    "Merge",
    "PersonDetail",
    "PersonList",
    "PhotosRefused",
    "Removal",
    "RemoveRequest",
    "Split",
    "TemplateSource",
    "enroll_person",
    "face_analyzer",
    "list_persons",
    "merge_persons",
    "new_template_key",
    "persons_report",
    "refresh_persons",
    "remove_person",
    "show_person",
    "split_person",
]
