"""All SQL of derivation linking: cached features, verified pairs, links, and what the pass needs
to know about each image (where to re-read it, its explicit label, faces, EXIF)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, Table, func, select, update

from consentry.records.features import ImageFeatures
from consentry.records.locations import LocationRef
from consentry.store.case_store import (
    CASE_INFO,
    CONTENTS,
    FACES,
    FINDINGS,
    LOCATIONS,
    _insert_ignore,
)
from consentry.store.schema import DerivationFeatures, DerivationLink, DerivationPair

FEATURES: Table = DerivationFeatures.__table__  # type: ignore[assignment]
PAIRS: Table = DerivationPair.__table__  # type: ignore[assignment]
LINKS: Table = DerivationLink.__table__  # type: ignore[assignment]

STATE_KEY = "derivation.state"


@dataclass(frozen=True)
class ImageRef:
    """An image content and one location to re-read it from (the first the scan found)."""

    sha256: str
    ref: LocationRef
    path: str


@dataclass(frozen=True)
class FeatureError:
    sha256: str
    message: str


@dataclass
class PairRecord:
    sha_a: str
    sha_b: str
    version: str
    related: bool
    payload: str
    mask_a: bytes | None = None
    mask_b: bytes | None = None


@dataclass
class LinkRecord:
    derived_sha256: str
    source_sha256: str
    version: str
    transform: str
    changed_fraction: float
    boxes: str
    face_swap: bool | None
    face: str
    confidence: float
    evidence: str
    render_dir: str | None = None
    render_labels: str | None = None


@dataclass(frozen=True)
class FaceOfImage:
    index: int
    box: tuple[float, float, float, float]  # analysed-picture pixels
    analysis_side: int
    embedding: np.ndarray | None


class LinksStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- images ------------------------------------------------------------------------------
    def image_refs(self) -> list[ImageRef]:
        """Every image content with the lowest-id location it was found at."""
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:
            firsts = (
                select(L.c.sha256, func.min(L.c.id).label("loc"))
                .select_from(L.join(C, C.c.sha256 == L.c.sha256))
                .where(C.c.is_image.is_(True))
                .group_by(L.c.sha256)
                .subquery()
            )
            rows = conn.execute(
                select(L.c.sha256, L.c.raw_path, L.c.member_chain, L.c.path, L.c.address)
                .select_from(L.join(firsts, firsts.c.loc == L.c.id))
                .order_by(L.c.sha256)
            ).all()
        return [
            ImageRef(
                r.sha256,
                # address: where a disk image's file system keeps the file (deleted ones too)
                LocationRef(bytes(r.raw_path), tuple(json.loads(r.member_chain)), r.address),
                r.path,
            )
            for r in rows
        ]

    def locations_of(self, shas: Iterable[str]) -> dict[str, list[str]]:
        wanted = sorted(set(shas))
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), 500):
                for r in conn.execute(
                    select(LOCATIONS.c.sha256, LOCATIONS.c.path)
                    .where(LOCATIONS.c.sha256.in_(wanted[lo : lo + 500]))
                    .order_by(LOCATIONS.c.path)
                ):
                    out.setdefault(r.sha256, []).append(r.path)
        return out

    def explicit_labels(self) -> dict[str, str | None]:
        return self._labels("explicit")

    def provenance_verdicts(self) -> dict[str, str]:
        """The provenance analyzer's verdict (confirmed / indicated / no_signal) by content."""
        return {sha: label for sha, label in self._labels("provenance").items() if label}

    def _labels(self, analyzer: str) -> dict[str, str | None]:
        with self.engine.connect() as conn:
            return {
                r.sha256: r.label
                for r in conn.execute(
                    select(FINDINGS.c.sha256, FINDINGS.c.label).where(
                        FINDINGS.c.analyzer == analyzer
                    )
                )
            }

    def exif(self, shas: Iterable[str]) -> dict[str, dict[str, str]]:
        wanted = sorted(set(shas))
        out: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), 500):
                for r in conn.execute(
                    select(CONTENTS.c.sha256, CONTENTS.c.exif_json).where(
                        CONTENTS.c.sha256.in_(wanted[lo : lo + 500])
                    )
                ):
                    try:
                        out[r.sha256] = json.loads(r.exif_json) if r.exif_json else {}
                    except ValueError:
                        out[r.sha256] = {}
        return out

    def faces(self, shas: Iterable[str]) -> dict[str, list[FaceOfImage]]:
        wanted = sorted(set(shas))
        out: dict[str, list[FaceOfImage]] = {}
        with self.engine.connect() as conn:
            for lo in range(0, len(wanted), 500):
                for r in conn.execute(
                    select(FACES)
                    .where(FACES.c.sha256.in_(wanted[lo : lo + 500]))
                    .order_by(FACES.c.sha256, FACES.c.face_index)
                ):
                    emb = (
                        np.frombuffer(r.embedding, dtype=np.float32).copy() if r.embedding else None
                    )
                    out.setdefault(r.sha256, []).append(
                        FaceOfImage(
                            r.face_index,
                            (r.box_x, r.box_y, r.box_w, r.box_h),
                            r.analysis_side,
                            emb,
                        )
                    )
        return out

    def face_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(FACES)).scalar_one())

    # -- features ----------------------------------------------------------------------------
    def feature_shas(self, version: str) -> set[str]:
        """Contents whose features (or a recorded failure) exist at this version."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(FEATURES.c.sha256).where(FEATURES.c.version == version)
                ).scalars()
            )

    def add_features(
        self, version: str, done: Sequence[ImageFeatures], failed: Sequence[FeatureError]
    ) -> None:
        rows = [_feature_row(version, f) for f in done] + [
            dict(
                sha256=e.sha256,
                version=version,
                status="error",
                error=e.message,
                width=0,
                height=0,
                work_scale=0.0,
                points=b"",
                descriptors=b"",
                mirror_points=b"",
                mirror_descriptors=b"",
                profile=None,
            )
            for e in failed
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            # an older version's row is replaced; the same version's is kept (re-run: no-op)
            conn.execute(
                FEATURES.delete().where(
                    FEATURES.c.sha256.in_([r["sha256"] for r in rows]),
                    FEATURES.c.version != version,
                )
            )
            _insert_ignore(conn, FEATURES, rows, ["sha256"])

    def features(self, version: str) -> list[ImageFeatures]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(FEATURES)
                .where(FEATURES.c.version == version, FEATURES.c.status == "ok")
                .order_by(FEATURES.c.sha256)
            ).all()
        return [_features(r) for r in rows]

    def set_profiles(self, version: str, measured: dict[str, tuple[np.ndarray, float]]) -> None:
        """Store resolution profiles measured after the features (see features.measure_profile)."""
        if not measured:
            return
        with self.engine.begin() as conn:
            for sha, (profile, scale) in sorted(measured.items()):
                conn.execute(
                    update(FEATURES)
                    .where(FEATURES.c.sha256 == sha, FEATURES.c.version == version)
                    .values(profile=_profile_blob(profile, scale))
                )

    def feature_errors(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(FEATURES).where(FEATURES.c.status == "error")
                ).scalar_one()
            )

    # -- pairs -------------------------------------------------------------------------------
    def verified_pairs(self, version: str) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return {
                (r.sha_a, r.sha_b)
                for r in conn.execute(
                    select(PAIRS.c.sha_a, PAIRS.c.sha_b).where(PAIRS.c.version == version)
                )
            }

    def add_pairs(self, records: Sequence[PairRecord]) -> None:
        if not records:
            return
        with self.engine.begin() as conn:
            for r in records:  # a pair verified by an older version is replaced
                conn.execute(
                    PAIRS.delete().where(
                        PAIRS.c.sha_a == r.sha_a,
                        PAIRS.c.sha_b == r.sha_b,
                        PAIRS.c.version != r.version,
                    )
                )
            _insert_ignore(conn, PAIRS, [asdict(r) for r in records], ["sha_a", "sha_b"])

    def related_pairs(self, version: str) -> list[PairRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(PAIRS)
                .where(PAIRS.c.version == version, PAIRS.c.related.is_(True))
                .order_by(PAIRS.c.sha_a, PAIRS.c.sha_b)
            ).all()
        return [
            PairRecord(r.sha_a, r.sha_b, r.version, r.related, r.payload, r.mask_a, r.mask_b)
            for r in rows
        ]

    # -- links -------------------------------------------------------------------------------
    def replace_links(self, links: Sequence[LinkRecord], state: str) -> tuple[int, int]:
        """Make the stored links exactly ``links`` (one transaction); keeps the renders of links
        that did not change. Returns (added or changed, removed)."""
        with self.engine.begin() as conn:
            old = {r.derived_sha256: r for r in conn.execute(select(LINKS))}
            new = {link.derived_sha256: link for link in links}
            removed = [k for k in old if k not in new]
            changed = 0
            for key, link in new.items():
                row = asdict(link)
                previous = old.get(key)
                if previous is not None:
                    same = all(
                        getattr(previous, f) == row[f]
                        for f in row
                        if f not in ("render_dir", "render_labels")
                    )
                    if same:
                        continue
                    conn.execute(LINKS.delete().where(LINKS.c.derived_sha256 == key))
                changed += 1
                conn.execute(LINKS.insert().values(**row))
            if removed:
                conn.execute(LINKS.delete().where(LINKS.c.derived_sha256.in_(removed)))
            conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == STATE_KEY))
            conn.execute(CASE_INFO.insert().values(key=STATE_KEY, value=state))
        return changed, len(removed)

    def links(self) -> list[LinkRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(LINKS).order_by(LINKS.c.derived_sha256)).all()
        return [
            LinkRecord(**{k: getattr(r, k) for k in LinkRecord.__dataclass_fields__}) for r in rows
        ]

    def set_render(self, derived_sha256: str, render_dir: str, labels: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(LINKS)
                .where(LINKS.c.derived_sha256 == derived_sha256)
                .values(render_dir=render_dir, render_labels=labels)
            )

    def state(self) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(CASE_INFO.c.value).where(CASE_INFO.c.key == STATE_KEY)
            ).scalar()

    def clear(self) -> None:
        """Forget every cached pair and link, and every failed feature extraction (``consentry
        links --rebuild``); features that were computed stay (they depend only on the bytes)."""
        with self.engine.begin() as conn:
            conn.execute(LINKS.delete())
            conn.execute(PAIRS.delete())
            conn.execute(FEATURES.delete().where(FEATURES.c.status == "error"))
            conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == STATE_KEY))


def _blob(array: np.ndarray, dtype: Any) -> bytes:
    return np.ascontiguousarray(array, dtype=dtype).tobytes()


def _profile_blob(profile: np.ndarray, scale: float) -> bytes:
    # the profile's last value is the scale it was measured at (read back in _features)
    return _blob(np.append(profile, scale), "<f4")


def _feature_row(version: str, f: ImageFeatures) -> dict[str, Any]:
    return dict(
        sha256=f.sha256,
        version=version,
        status="ok",
        error=None,
        width=f.width,
        height=f.height,
        work_scale=f.work_scale,
        points=_blob(f.points, "<f4"),
        descriptors=_blob(f.descriptors, np.uint8),
        mirror_points=_blob(f.mirror_points, "<f4"),
        mirror_descriptors=_blob(f.mirror_descriptors, np.uint8),
        profile=_profile_blob(f.profile, f.profile_scale) if f.profile is not None else None,
    )


def _features(r: Any) -> ImageFeatures:
    def points(b: bytes) -> np.ndarray:
        return np.frombuffer(b, dtype="<f4").reshape(-1, 2).astype(np.float32)

    def codes(b: bytes) -> np.ndarray:
        return np.frombuffer(b, dtype=np.uint8).reshape(-1, 32).copy()

    profile = np.frombuffer(r.profile, dtype="<f4").copy() if r.profile else None
    return ImageFeatures(
        sha256=r.sha256,
        width=r.width,
        height=r.height,
        work_scale=r.work_scale,
        points=points(r.points),
        descriptors=codes(r.descriptors),
        mirror_points=points(r.mirror_points),
        mirror_descriptors=codes(r.mirror_descriptors),
        profile=profile[:-1] if profile is not None else None,
        profile_scale=float(profile[-1]) if profile is not None else 1.0,
    )


__all__ = [
    "FaceOfImage",
    "FeatureError",
    "ImageRef",
    "LinkRecord",
    "LinksStore",
    "PairRecord",
]
