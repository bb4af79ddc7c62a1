"""All SQL for persons: enrolled persons and their encrypted templates, unidentified persons
(face clusters), face matches, and what the persons report reads.

Templates are stored only as Fernet tokens (``persons.template_crypto``); this module never sees
a key. Erasure (``remove_enrolled``) deletes the templates and matches and removes the plaintext
embeddings of the faces matched to the person (the face model would re-find them from any
photo of them); it runs with SQLite's ``secure_delete`` on, so the freed space is overwritten
with zeros, and then checkpoints and truncates the write-ahead log, so no copy of a deleted
template or embedding stays in ``case.sqlite`` or ``case.sqlite-wal``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, or_, select, text, update

from consentry.store import audit
from consentry.store.case_store import (
    CASE_INFO,
    CONTENTS,
    FACES,
    FINDINGS,
    LOCATIONS,
    _insert_ignore,
)
from consentry.store.schema import FaceCluster, FaceDecision, FaceMatch, Person, PersonTemplate

PERSONS: Table = Person.__table__  # type: ignore[assignment]
TEMPLATES: Table = PersonTemplate.__table__  # type: ignore[assignment]
MATCHES: Table = FaceMatch.__table__  # type: ignore[assignment]
CLUSTERS: Table = FaceCluster.__table__  # type: ignore[assignment]
DECISIONS: Table = FaceDecision.__table__  # type: ignore[assignment]
CONFIRMED = "confirmed"  # an examiner's face decision: this face is that enrolled person
REJECTED = "rejected"  # ... this face is not that person
MATCH_LEVEL = "match"  # face_matches.level of a match (the other: possible)

ENROLLED = "enrolled"
UNIDENTIFIED = "unidentified"
ACTIVE = "active"
MERGED = "merged"
PREFIX = {ENROLLED: "E", UNIDENTIFIED: "U"}
KEY_CHECK = "persons.template_key_check"
IDENTITY_STATE = "persons.identity_state"
ERASED = "erased"  # face flag: its person was erased; never embedded or cropped again

FaceKey = tuple[str, int]  # (sha256, face_index): a face, by natural key


@dataclass(frozen=True)
class PersonRow:
    id: int
    code: str
    kind: str
    name: str | None
    status: str
    merged_into: int | None
    consent_json: str | None
    consent_sha256: str | None
    created_at: str
    created_by: str | None


@dataclass(frozen=True)
class TemplateInfo:
    """A template's description, without the template."""

    id: int
    ref_index: int
    ref_sha256: str
    ref_md5: str
    ref_pdq: str | None
    ref_pdq_quality: int | None
    face_index: int
    quality: dict[str, Any]


@dataclass(frozen=True)
class NewTemplate:
    ref_sha256: str
    ref_md5: str
    ref_pdq: str | None
    ref_pdq_quality: int | None
    face_index: int
    quality: dict[str, Any]
    token: bytes  # Fernet token of the embedding


@dataclass(frozen=True)
class Erasure:
    """What ``remove_enrolled`` removed: counts only, and which crop files are to go."""

    templates: int
    matches: int
    face_embeddings: int
    crops: list[FaceKey]  # faces whose crop file the caller deletes
    group_assignments: int
    clean: bool  # False: another process kept the write-ahead log busy


@dataclass(frozen=True)
class IdentityFaces:
    """Every face with an embedding, sorted by (sha256, face_index)."""

    keys: list[FaceKey]
    embeddings: np.ndarray  # (n, 128) float32
    usable: np.ndarray  # (n,) bool
    size_px: np.ndarray | None = None  # (n,) float32: short side of the face box
    flags: tuple[str, ...] = ()  # (n,) the faces' flags, comma-joined as stored


@dataclass(frozen=True)
class MatchRow:
    key: FaceKey
    person_id: int
    level: str
    similarity: float


@dataclass(frozen=True)
class FaceAttribution:
    """One face as the persons report needs it."""

    key: FaceKey
    usable: bool
    has_embedding: bool
    cluster_person: int | None
    match_person: int | None
    match_level: str | None
    match_similarity: float | None


@dataclass(frozen=True)
class ImageLocation:
    path: str  # as recorded by the scan (archive members as a.zip!/inner/x.jpg)
    sha256: str


class PersonsStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- persons --------------------------------------------------------------------------
    def persons(self, include_merged: bool = True) -> list[PersonRow]:
        with self.engine.connect() as conn:
            stmt = select(PERSONS).order_by(PERSONS.c.kind, PERSONS.c.id)
            if not include_merged:
                stmt = stmt.where(PERSONS.c.status == ACTIVE)
            return [_person(r) for r in conn.execute(stmt)]

    def person(self, code: str) -> PersonRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(PERSONS).where(PERSONS.c.code == code.upper())).first()
        return _person(row) if row else None

    def add_enrolled(
        self,
        name: str,
        consent_json: str,
        consent_sha256: str,
        created_by: str | None,
        templates: Sequence[NewTemplate],
    ) -> str:
        """Create an enrolled person with its templates in one transaction; returns its code."""
        with self.engine.begin() as conn:
            person_id, code = self._new_person(
                conn,
                ENROLLED,
                name=name,
                consent_json=consent_json,
                consent_sha256=consent_sha256,
                created_by=created_by,
            )
            conn.execute(
                TEMPLATES.insert(),
                [
                    dict(
                        person_id=person_id,
                        ref_index=i,
                        ref_sha256=t.ref_sha256,
                        ref_md5=t.ref_md5,
                        ref_pdq=t.ref_pdq,
                        ref_pdq_quality=t.ref_pdq_quality,
                        face_index=t.face_index,
                        quality=json.dumps(t.quality, sort_keys=True),
                        template=t.token,
                    )
                    for i, t in enumerate(templates)
                ],
            )
            self._forget_state(conn)
        return code

    def _new_person(self, conn: Connection, kind: str, **fields: Any) -> tuple[int, str]:
        """A new person with the next never-used code of its kind (E<n> / U<n>)."""
        key = f"persons.next_{PREFIX[kind]}"
        current = conn.execute(select(CASE_INFO.c.value).where(CASE_INFO.c.key == key)).scalar()
        number = int(current or 1)
        conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == key))
        conn.execute(CASE_INFO.insert().values(key=key, value=str(number + 1)))
        code = f"{PREFIX[kind]}{number}"
        fields.setdefault("created_at", audit.now_iso())
        result = conn.execute(
            PERSONS.insert().values(code=code, kind=kind, status=ACTIVE, **fields)
        )
        return int(result.inserted_primary_key[0]), code  # type: ignore[index]

    def templates_info(self, person_id: int) -> list[TemplateInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TEMPLATES)
                .where(TEMPLATES.c.person_id == person_id)
                .order_by(TEMPLATES.c.ref_index)
            ).all()
        return [
            TemplateInfo(
                r.id,
                r.ref_index,
                r.ref_sha256,
                r.ref_md5,
                r.ref_pdq,
                r.ref_pdq_quality,
                r.face_index,
                json.loads(r.quality),
            )
            for r in rows
        ]

    def known_contents(self, shas: Iterable[str]) -> set[str]:
        """Those of ``shas`` that are contents (files) of the case."""
        wanted = sorted(set(shas))
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(CONTENTS.c.sha256).where(CONTENTS.c.sha256.in_(wanted))
                ).scalars()
            )

    def template_tokens(self, person_ids: Iterable[int]) -> list[tuple[int, int, bytes]]:
        """(template id, person id, token) of the given persons' templates, by id."""
        ids = list(person_ids)
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(TEMPLATES.c.id, TEMPLATES.c.person_id, TEMPLATES.c.template)
                .where(TEMPLATES.c.person_id.in_(ids))
                .order_by(TEMPLATES.c.id)
            ).all()
        return [(r.id, r.person_id, bytes(r.template)) for r in rows]

    def template_ids(self) -> list[tuple[int, int]]:
        """(template id, person id) of every template: what matching depends on."""
        with self.engine.connect() as conn:
            return [
                (r.id, r.person_id)
                for r in conn.execute(
                    select(TEMPLATES.c.id, TEMPLATES.c.person_id).order_by(TEMPLATES.c.id)
                )
            ]

    def remove_enrolled(self, person_id: int) -> Erasure:
        """Erase an enrolled person: templates, matches, the person row, and what identifies
        them in the evidence: the faces matched to them (match or possible) lose their
        embedding and crop path, are marked ``erased`` (not usable) and leave their groups.
        One transaction; freed pages are zeroed and the write-ahead log truncated (SQLite).
        The caller deletes the crop files (``Erasure.crops``)."""
        sqlite = self.engine.dialect.name == "sqlite"
        with self.engine.begin() as conn:
            if sqlite:
                conn.execute(text("PRAGMA secure_delete=ON"))
            keys = [
                (r.sha256, r.face_index)
                for r in conn.execute(
                    select(MATCHES.c.sha256, MATCHES.c.face_index).where(
                        MATCHES.c.person_id == person_id
                    )
                )
            ]
            # faces an examiner confirmed as the person identify them too; every decision
            # about the person goes with them
            matched = set(keys)
            keys += [
                (r.sha256, r.face_index)
                for r in conn.execute(
                    select(DECISIONS.c.sha256, DECISIONS.c.face_index).where(
                        DECISIONS.c.person_id == person_id, DECISIONS.c.decision == CONFIRMED
                    )
                )
                if (r.sha256, r.face_index) not in matched
            ]
            conn.execute(DECISIONS.delete().where(DECISIONS.c.person_id == person_id))
            templates = conn.execute(
                TEMPLATES.delete().where(TEMPLATES.c.person_id == person_id)
            ).rowcount
            matches = conn.execute(
                MATCHES.delete().where(MATCHES.c.person_id == person_id)
            ).rowcount
            embeddings, crops, groups = self._erase_faces(conn, keys)
            conn.execute(PERSONS.delete().where(PERSONS.c.id == person_id))
            self._forget_state(conn)
        clean = self._truncate_wal() if sqlite else True
        return Erasure(int(templates or 0), int(matches or 0), embeddings, crops, groups, clean)

    @staticmethod
    def _erase_faces(conn: Connection, keys: Sequence[FaceKey]) -> tuple[int, list[FaceKey], int]:
        """Embeddings, crop paths and group assignments of ``keys`` removed, faces marked
        erased; (embeddings removed, faces whose crop file is to go, group rows removed)."""
        embeddings, groups = 0, 0
        crops: list[FaceKey] = []
        for sha, index in keys:
            row = conn.execute(
                select(
                    FACES.c.id, FACES.c.flags, FACES.c.embedding.is_not(None).label("emb")
                ).where(FACES.c.sha256 == sha, FACES.c.face_index == index)
            ).first()
            if row is None:
                continue
            flags = [f for f in (row.flags or "").split(",") if f]
            conn.execute(
                update(FACES)
                .where(FACES.c.id == row.id)
                .values(
                    embedding=None,
                    crop_path=None,
                    usable=False,
                    flags=",".join(flags if ERASED in flags else [*flags, ERASED]),
                )
            )
            embeddings += bool(row.emb)
            crops.append((sha, index))
            groups += (
                conn.execute(
                    CLUSTERS.delete().where(
                        CLUSTERS.c.sha256 == sha, CLUSTERS.c.face_index == index
                    )
                ).rowcount
                or 0
            )
        return embeddings, crops, int(groups)

    def erased_faces(self) -> list[FaceKey]:
        """Faces marked erased (their person withdrew consent), by natural key."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(FACES.c.sha256, FACES.c.face_index, FACES.c.flags).where(
                    FACES.c.flags.like(f"%{ERASED}%")
                )
            ).all()
        return [(r.sha256, r.face_index) for r in rows if ERASED in (r.flags or "").split(",")]

    def reerase(self, keys: Sequence[FaceKey]) -> int:
        """Remove an embedding or crop path that came back on an erased face; how many."""
        sqlite = self.engine.dialect.name == "sqlite"
        changed = 0
        with self.engine.begin() as conn:
            if sqlite:
                conn.execute(text("PRAGMA secure_delete=ON"))
            for sha, index in keys:
                changed += (
                    conn.execute(
                        update(FACES)
                        .where(
                            FACES.c.sha256 == sha,
                            FACES.c.face_index == index,
                            FACES.c.embedding.is_not(None) | FACES.c.crop_path.is_not(None),
                        )
                        .values(embedding=None, crop_path=None, usable=False)
                    ).rowcount
                    or 0
                )
        return int(changed)

    def _truncate_wal(self) -> bool:
        """Copy the WAL into the database and empty it: earlier versions of the erased pages
        would otherwise stay in ``case.sqlite-wal``. Outside any transaction (a checkpoint
        cannot complete inside one); other connections of the pool are idle here."""
        self.engine.dispose()  # close pooled connections that could pin old WAL frames
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            assert raw is not None
            busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def truncate_wal(self) -> bool:
        """Public for retrying after a busy checkpoint (``person refresh`` does)."""
        return self._truncate_wal() if self.engine.dialect.name == "sqlite" else True

    # -- template key check ------------------------------------------------------------------
    def key_check(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(CASE_INFO.c.value).where(CASE_INFO.c.key == KEY_CHECK)
            ).scalar()

    def set_key_check(self, value: str) -> None:
        with self.engine.begin() as conn:
            _insert_ignore(conn, CASE_INFO, [dict(key=KEY_CHECK, value=value)], ["key"])

    # -- refresh: matches and clusters ---------------------------------------------------------
    def face_state(self) -> tuple[int, int]:
        """(faces with an embedding, highest face row id): changes when the scan adds faces."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.max(FACES.c.id)).where(FACES.c.embedding.is_not(None))
            ).one()
        return int(row[0] or 0), int(row[1] or 0)

    def identity_state(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(CASE_INFO.c.value).where(CASE_INFO.c.key == IDENTITY_STATE)
            ).scalar()

    @staticmethod
    def _forget_state(conn: Connection) -> None:
        conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == IDENTITY_STATE))

    def identity_faces(self) -> IdentityFaces:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    FACES.c.sha256,
                    FACES.c.face_index,
                    FACES.c.usable,
                    FACES.c.embedding,
                    FACES.c.size_px,
                    FACES.c.flags,
                )
                .where(FACES.c.embedding.is_not(None))
                .order_by(FACES.c.sha256, FACES.c.face_index)
            ).all()
        if not rows:
            return IdentityFaces([], np.zeros((0, 128), np.float32), np.zeros(0, bool))
        embeddings = np.frombuffer(b"".join(bytes(r.embedding) for r in rows), dtype="<f4")
        return IdentityFaces(
            [(r.sha256, r.face_index) for r in rows],
            embeddings.reshape(len(rows), -1).astype(np.float32),
            np.array([bool(r.usable) for r in rows]),
            np.array([float(r.size_px or 0.0) for r in rows], dtype=np.float32),
            tuple(r.flags or "" for r in rows),
        )

    def cluster_assignments(self) -> dict[FaceKey, int]:
        with self.engine.connect() as conn:
            return {
                (r.sha256, r.face_index): r.person_id
                for r in conn.execute(
                    select(CLUSTERS.c.sha256, CLUSTERS.c.face_index, CLUSTERS.c.person_id)
                )
            }

    def apply_refresh(
        self,
        matches: Sequence[MatchRow] | None,
        new_groups: Sequence[Sequence[FaceKey]],
        joins: Sequence[tuple[FaceKey, int]],
        state: str,
    ) -> list[str]:
        """One transaction: replace the matches (unless None), create a person per new group,
        record cluster assignments, remember the state. Returns the new persons' codes."""
        codes: list[str] = []
        with self.engine.begin() as conn:
            if matches is not None:
                conn.execute(MATCHES.delete())
                if matches:
                    conn.execute(
                        MATCHES.insert(),
                        [
                            dict(
                                sha256=m.key[0],
                                face_index=m.key[1],
                                person_id=m.person_id,
                                level=m.level,
                                similarity=m.similarity,
                            )
                            for m in matches
                        ],
                    )
            rows = [
                dict(sha256=k[0], face_index=k[1], person_id=pid, assigned_by="auto")
                for k, pid in joins
            ]
            for group in new_groups:
                person_id, code = self._new_person(conn, UNIDENTIFIED)
                codes.append(code)
                rows += [
                    dict(sha256=k[0], face_index=k[1], person_id=person_id, assigned_by="auto")
                    for k in group
                ]
            _insert_ignore(conn, CLUSTERS, rows, ["sha256", "face_index"])
            self._forget_state(conn)
            conn.execute(CASE_INFO.insert().values(key=IDENTITY_STATE, value=state))
        return codes

    # -- examiner decisions --------------------------------------------------------------------
    def merge(self, source_id: int, target_id: int) -> int:
        """Move every face of ``source`` to ``target``; ``source`` becomes merged."""
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(CLUSTERS)
                .where(CLUSTERS.c.person_id == source_id)
                .values(person_id=target_id, assigned_by="merge")
            ).rowcount
            conn.execute(
                update(PERSONS)
                .where(PERSONS.c.id == source_id)
                .values(status=MERGED, merged_into=target_id)
            )
        return int(moved or 0)

    def split(self, person_id: int, keys: Sequence[FaceKey], created_by: str | None) -> str:
        """Move ``keys`` (faces of ``person_id``) to a new unidentified person; its code."""
        with self.engine.begin() as conn:
            new_id, code = self._new_person(conn, UNIDENTIFIED, created_by=created_by)
            for sha, index in keys:
                conn.execute(
                    update(CLUSTERS)
                    .where(
                        CLUSTERS.c.person_id == person_id,
                        CLUSTERS.c.sha256 == sha,
                        CLUSTERS.c.face_index == index,
                    )
                    .values(person_id=new_id, assigned_by="split")
                )
        return code

    def cluster_faces_of(self, person_id: int) -> list[FaceKey]:
        with self.engine.connect() as conn:
            return [
                (r.sha256, r.face_index)
                for r in conn.execute(
                    select(CLUSTERS.c.sha256, CLUSTERS.c.face_index)
                    .where(CLUSTERS.c.person_id == person_id)
                    .order_by(CLUSTERS.c.sha256, CLUSTERS.c.face_index)
                )
            ]

    # -- what the report reads ---------------------------------------------------------------
    def attributions(self) -> list[FaceAttribution]:
        """Every face with its group and its match, after the examiners' face decisions: a
        ``confirmed`` decision makes the face a match of that person, a ``rejected`` one
        removes the face's match to that person."""
        F, C, M, D = FACES, CLUSTERS, MATCHES, DECISIONS
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    F.c.sha256,
                    F.c.face_index,
                    F.c.usable,
                    F.c.embedding.is_not(None).label("has_embedding"),
                    C.c.person_id.label("cluster_person"),
                    M.c.person_id.label("match_person"),
                    M.c.level,
                    M.c.similarity,
                    D.c.person_id.label("decided_person"),
                    D.c.decision,
                )
                .select_from(
                    F.outerjoin(C, (C.c.sha256 == F.c.sha256) & (C.c.face_index == F.c.face_index))
                    .outerjoin(M, (M.c.sha256 == F.c.sha256) & (M.c.face_index == F.c.face_index))
                    .outerjoin(D, (D.c.sha256 == F.c.sha256) & (D.c.face_index == F.c.face_index))
                )
                .order_by(F.c.sha256, F.c.face_index)
            ).all()
        out: list[FaceAttribution] = []
        for r in rows:
            person, level = r.match_person, r.level
            similarity = None if r.similarity is None else float(r.similarity)
            if r.decision == CONFIRMED and r.decided_person is not None:
                if person != r.decided_person:
                    similarity = None
                person, level = r.decided_person, MATCH_LEVEL
            elif r.decision == REJECTED and person is not None and person == r.decided_person:
                person, level, similarity = None, None, None
            out.append(
                FaceAttribution(
                    (r.sha256, r.face_index),
                    bool(r.usable),
                    bool(r.has_embedding),
                    r.cluster_person,
                    person,
                    level,
                    similarity,
                )
            )
        return out

    def image_locations(self) -> list[ImageLocation]:
        """Every location whose content is an image or a video (faces are found in its frames),
        as the scan recorded its path."""
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(L.c.path, L.c.sha256)
                .select_from(L.join(C, C.c.sha256 == L.c.sha256))
                .where(or_(C.c.is_image.is_(True), C.c.is_video.is_(True)))
                .order_by(L.c.path)
            ).all()
        return [ImageLocation(r.path, r.sha256) for r in rows]

    def explicit_contents(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(FINDINGS.c.sha256).where(
                        FINDINGS.c.analyzer == "explicit", FINDINGS.c.label == "explicit"
                    )
                ).scalars()
            )

    def locations_of(self, shas: Iterable[str]) -> dict[str, list[str]]:
        wanted = list(set(shas))
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), 500):
                for r in conn.execute(
                    select(LOCATIONS.c.sha256, LOCATIONS.c.path).where(
                        LOCATIONS.c.sha256.in_(wanted[lo : lo + 500])
                    )
                ):
                    out.setdefault(r.sha256, []).append(r.path)
        return out


def _person(r: Any) -> PersonRow:
    return PersonRow(
        r.id,
        r.code,
        r.kind,
        r.name,
        r.status,
        r.merged_into,
        r.consent_json,
        r.consent_sha256,
        r.created_at,
        r.created_by,
    )


__all__ = [
    "ENROLLED",
    "ERASED",
    "UNIDENTIFIED",
    "Erasure",
    "FaceAttribution",
    "FaceKey",
    "IdentityFaces",
    "ImageLocation",
    "MatchRow",
    "NewTemplate",
    "PersonRow",
    "PersonsStore",
    "TemplateInfo",
]
