"""Turn reference photos into identity templates, exactly as a scan sees faces.

Each photo is read read-only, decoded with the scan's ``decode_image`` (same orientation, same
512 px analysis size) and analysed with the scan's ``FaceAnalyzer``, so a template and the faces
it is compared with come from the same pipeline. Only the embedding, the photo's hashes and the
face's quality leave this module: nothing writes the photo, a crop or a thumbnail anywhere.

A photo is refused (``ReferencePhotoError``, one clear message) when it cannot be decoded, shows no
face, shows several and no ``face`` number was chosen, or when the chosen face is not usable for
identity (too small, blurred, in profile): a poor template would make poor matches in every
image of the case.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from consentry.analyzers import crypto_hashes, pdq
from consentry.analyzers.faces import TOO_SMALL, Face, second_look
from consentry.media.decode import ANALYSIS_SIDE, decode_image
from consentry.media.reader import open_readonly, read_all
from consentry.records.problems import ItemError


class ReferencePhotoError(ValueError):
    """A reference photo cannot give a template (one line for the examiner)."""


@dataclass(frozen=True)
class TemplateQuality:
    size_px: float
    detector_score: float
    sharpness: float | None
    frontalness: float
    faces_in_photo: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "size_px": round(self.size_px, 1),
            "detector_score": round(self.detector_score, 4),
            "sharpness": None if self.sharpness is None else round(self.sharpness, 1),
            "frontalness": round(self.frontalness, 3),
            "faces_in_photo": self.faces_in_photo,
        }


@dataclass(frozen=True)
class ReferenceTemplate:
    """What enrollment keeps of one reference photo: no pixels."""

    photo: str  # the path as given, for messages only (not stored)
    sha256: str
    md5: str
    pdq: str | None
    pdq_quality: int | None
    face_index: int  # 0-based, reading order
    embedding: np.ndarray  # (128,) float32, unit length
    quality: TemplateQuality


def read_reference(path: Path, analyzer: Any, face_number: int | None = None) -> ReferenceTemplate:
    """One template from ``path``; ``face_number`` (1-based, reading order) picks among several
    faces."""
    try:
        with open_readonly(os.fsencode(path)) as fh:
            data = read_all(fh)
    except ItemError as exc:
        raise ReferencePhotoError(f"{path}: {exc.problem().message}") from None
    if not data:
        raise ReferencePhotoError(f"{path}: file is empty")
    hashes = crypto_hashes.hash_bytes(data)
    try:
        image = decode_image(data, ANALYSIS_SIDE)
    except ItemError as exc:
        raise ReferencePhotoError(f"{path}: not a usable image ({exc.problem().message})") from None
    finding = analyzer.analyze(image.rgb)
    if finding.error:
        raise ReferencePhotoError(f"{path}: face analysis failed: {finding.error}")
    faces: tuple[Face, ...] = finding.faces
    if not faces:
        raise ReferencePhotoError(
            f"{path}: no face found; use a photo where the face is clearly seen"
        )
    if face_number is None:
        if len(faces) > 1:
            raise ReferencePhotoError(
                f"{path}: {len(faces)} faces found ({describe_faces(faces)}); "
                "choose one with --face N"
            )
        index = 0
    else:
        if not 1 <= face_number <= len(faces):
            raise ReferencePhotoError(
                f"{path}: --face {face_number} but the photo has {len(faces)} face(s) "
                f"({describe_faces(faces)})"
            )
        index = face_number - 1
    face = faces[index]
    if TOO_SMALL in face.flags:
        # a full-body reference photo: look again in a sharper decode, as the scan does
        face = second_look(analyzer, image, data, [face])[0]
    if face.embedding is None or not face.usable:
        reasons = ", ".join(face.flags) or "no embedding"
        raise ReferencePhotoError(
            f"{path}: the face is not usable for identity ({reasons}; size "
            f"{face.quality.size_px:.0f} px); use a sharper, larger, frontal photo"
        )
    hashed = pdq.pdq_of_rgb(image.rgb, dihedral=False)
    sharp = face.quality.sharpness
    return ReferenceTemplate(
        photo=str(path),
        sha256=hashes.sha256,
        md5=hashes.md5,
        pdq=hashed.hex,
        pdq_quality=hashed.quality,
        face_index=index,
        embedding=np.asarray(face.embedding, dtype=np.float32),
        quality=TemplateQuality(
            size_px=float(face.quality.size_px),
            detector_score=float(face.quality.detector_score),
            sharpness=float(sharp) if np.isfinite(sharp) else None,
            frontalness=float(face.quality.frontalness),
            faces_in_photo=len(faces),
        ),
    )


def describe_faces(faces: tuple[Face, ...]) -> str:
    """'face 1 at (x, y) 120 px, face 2 ...' in the numbering --face uses."""
    return ", ".join(
        f"face {i} at ({f.box[0]:.0f}, {f.box[1]:.0f}) {f.quality.size_px:.0f} px"
        for i, f in enumerate(faces, start=1)
    )


__all__ = [
    "ReferencePhotoError",
    "ReferenceTemplate",
    "TemplateQuality",
    "describe_faces",
    "read_reference",
]
