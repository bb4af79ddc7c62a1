"""Upload screening: one image in, ``block`` / ``review`` / ``allow`` out, with the reasons.

A platform calls this for each upload (``POST /v1/screen``). The image is hashed as a scan
hashes a file (``hashing``), its PDQ (with the 8 dihedral variants, so a mirrored or rotated
copy still meets its bank entry), MD5 and SHA-256 are looked up in the banks in one
``svc.lookup`` call, the explicit-content analyzer labels it, and, when the label makes identity
matter, every face is compared with the consented face templates (``svc.face_templates()``,
consented persons only) with the case's own thresholds (``persons.matching.match_faces``).

Policy (the first row that applies gives the decision; every row that applies adds a reason)
---------------------------------------------------------------------------------------------

======  =============================================================  ========
row     condition                                                      decision
======  =============================================================  ========
1       MD5 or SHA-256 equals a bank entry (an exact copy)              block
2       PDQ within ``BLOCK_PDQ_DISTANCE`` (24) bits of a bank entry     block
3       explicit, and a face *matches* a consented person               block
4       explicit, and a face is a *possible* match                      review
5       suggestive, and a face matches or possibly matches              review
6       not labelled (analysis failed or not installed), and a face     review
        matches or possibly matches
7       PDQ 25..31 bits from a bank entry (``NEAR_PDQ_DISTANCE``)       review
8       anything else (explicit with no consented face and no hash      allow
        match included; a consented face on a neutral image included)
======  =============================================================  ========

Why these rows:

- **Exact and close hash matches block** (1, 2): a bank entry is a picture someone already
  judged (a victim's own pack, a case's hash pack, a curator's import). Measured with
  ``bench/out/issue15-pdq-bands.py`` on 40 shared photos (LFW and FFHQ, 2026-12-02): a JPEG
  re-encode at quality 40 moves PDQ by 0-4 bits, halving the size by up to 24 (p90 16), a
  mirror or a 90-degree rotation, matched through the derived dihedral variants, by 8-26
  (median 16, p90 22); unrelated photos stay >= 104 bits apart. 24 covers the re-encoded and
  resized copies and most mirrored ones.
- **The last bits before Meta's 31 go to a person** (7): HMA users report over-eager PDQ
  matches filtered by hand (ThreatExchange #1873); an automated block of a lawful upload harms
  its uploader too. 25-31 is still a match by Meta's convention, so it is never allowed either.
  The index answers exactly up to 31 bits (``hashindex.MAX_THRESHOLD``), so the review band lies
  inside Meta's threshold, not beyond it.
- **Identity needs explicit content to block** (3): the service protects consented persons from
  intimate images, a deepfake being the case no hash can catch. A face match alone on a
  neutral image is not a harm (8): faces are not even compared then, because identifying a
  consented person in their ordinary photos is not what they consented to.
- **Doubt goes to review** (4-6): a possible face match (similarity 0.41-0.46, or a face too
  small or blurred to identify) on explicit content, any face match on suggestive content, and
  a face match where the explicit label is missing (treated as possibly explicit, as the case's
  blur rule does) are for a person to look at, never an automatic block.
- **Explicit content alone is allowed here** (8): whether adult content is allowed at all is the
  platform's own policy; ``explicit_label`` and ``explicit_score`` are in the result for it.
  This service only says whether the upload is someone's non-consensual intimate image.

Models load once per process (``screen_models``: lazy, cached, behind a lock because OpenCV's
detector is not thread-safe); tests replace them through the analyzers' own seams
(``analyzers.explicit.load_explicit``, ``analyzers.faces.load_faces``), which the cache watches.
Measured (2026-12-02, 2 shared CPUs, models warm, a fake service answering lookups): ``screen``
of 10 FFHQ photos at 1024 px, 2 face templates: median 61 ms with Open-NSFW on neutral images
(faces not compared), 60 ms with Open-NSFW and faces compared (hashing 11 ms of it, YuNet +
SFace ~30 ms); loading the models once: 0.4 s. Numbers and method: bench/out/issue15-packs.md.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from consentry.analyzers import explicit as explicit_mod
from consentry.analyzers import faces as faces_mod
from consentry.analyzers import pdq
from consentry.analyzers.models import ModelUnavailable
from consentry.persons.matching import MATCH, TemplateSet, match_faces
from consentry.services.matching.hashing import DecodedUpload, decode_upload
from consentry.services.matching.types import (
    Caller,
    Decision,
    FaceComparison,
    HashedUpload,
    LookupResult,
    Match,
    ScreenResult,
    Signal,
    SignalType,
)

BLOCK_PDQ_DISTANCE = 24
NEAR_PDQ_DISTANCE = pdq.MATCH_DISTANCE  # 31: Meta's match distance, the index's exact limit

# the explicit analyzer's labels as ScreenResult names them
_LABELS = {
    explicit_mod.Label.EXPLICIT: "explicit",
    explicit_mod.Label.SUGGESTIVE: "suggestive",
    explicit_mod.Label.NONE: "neutral",
}


class ScreeningService(Protocol):
    """What screening needs of the matching service (``MatchingService`` has it)."""

    def lookup(
        self,
        caller: Caller,
        signals: Sequence[Signal],
        *,
        banks: Sequence[str] | None = None,
        threshold: int = 31,
    ) -> list[LookupResult]: ...

    def face_templates(self) -> list[tuple[int, str, np.ndarray]]: ...


# --- models: once per process ---------------------------------------------------------------
@dataclass
class ScreenModels:
    """The explicit and face analyzers of this process; None with the reason when missing."""

    explicit: Any
    faces: Any
    explicit_error: str | None
    faces_error: str | None
    lock: threading.Lock


_loaded: dict[Callable[[], Any], tuple[Any, str | None]] = {}
_models_lock = threading.Lock()
_use_lock = threading.Lock()


def _load(loader: Callable[[], Any]) -> tuple[Any, str | None]:
    if loader not in _loaded:
        try:
            _loaded[loader] = (loader(), None)
        except ModelUnavailable as exc:
            _loaded[loader] = (None, str(exc))
    return _loaded[loader]


def screen_models() -> ScreenModels:
    """Load each model on first use and keep it for the process; a test that replaces a loader
    (the analyzers' seams) gets its replacement's model, loaded once, on its next call."""
    with _models_lock:
        explicit, explicit_error = _load(explicit_mod.load_explicit)
        faces, faces_error = _load(faces_mod.load_faces)
    return ScreenModels(explicit, faces, explicit_error, faces_error, _use_lock)


# --- screening --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExplicitVerdict:
    label: str | None
    score: float | None
    reason: str


def screen(
    svc: ScreeningService, caller: Caller, data: bytes, content_type: str | None = None
) -> ScreenResult:
    """Hash, look up, label and compare faces; decide by the policy in the module docstring."""
    upload = decode_upload(data, content_type)
    hashes = upload.hashes
    matches, notes = _lookup(svc, caller, hashes)
    models = screen_models()
    explicit = _explicit(models, upload)
    comparisons: tuple[FaceComparison, ...] = ()
    face_note = "faces not compared: the image is neutral"
    if explicit.label != "neutral":
        comparisons, face_note = _compare_faces(svc, models, upload, data)
    decision, reasons = decide(matches, explicit, comparisons)
    info = [f"explicit: {explicit.reason}", face_note, *notes]
    return ScreenResult(
        decision=decision,
        reasons=(*reasons, *info),
        hashes=hashes,
        matches=matches,
        explicit_label=explicit.label,
        explicit_score=explicit.score,
        faces=comparisons,
    )


def _lookup(
    svc: ScreeningService, caller: Caller, hashes: HashedUpload
) -> tuple[tuple[LookupResult, ...], list[str]]:
    """One lookup for the PDQ variants, MD5 and SHA-256; PDQ results merged into one (the best
    distance per content item, whichever variant gave it)."""
    notes: list[str] = []
    signals = [Signal(SignalType.MD5, hashes.md5), Signal(SignalType.SHA256, hashes.sha256)]
    pdq_ok = (
        hashes.pdq is not None
        and hashes.pdq_quality is not None
        and hashes.pdq_quality >= pdq.MIN_QUALITY
    )
    variants: list[str] = []
    if pdq_ok:
        for value in hashes.pdq_dihedral or (hashes.pdq or "",):
            if value not in variants and value.strip("0") and value.strip("f"):
                variants.append(value)
        signals += [Signal(SignalType.PDQ, v, hashes.pdq_quality) for v in variants]
    else:
        notes.append(
            f"PDQ quality {hashes.pdq_quality} < {pdq.MIN_QUALITY}: too plain to match on; "
            "only MD5 and SHA-256 were looked up"
        )
    results = svc.lookup(caller, signals, threshold=NEAR_PDQ_DISTANCE)
    exact = [r for r in results if r.signal_type is not SignalType.PDQ]
    out: list[LookupResult] = []
    if pdq_ok and hashes.pdq is not None:
        best: dict[tuple[str, int], Match] = {}
        for result in results:
            if result.signal_type is not SignalType.PDQ:
                continue
            for m in result.matches:
                key = (m.bank, m.content_id)
                if key not in best or m.distance < best[key].distance:
                    best[key] = m
        merged = tuple(sorted(best.values(), key=lambda m: (m.distance, m.bank, m.content_id)))
        out.append(LookupResult(SignalType.PDQ, hashes.pdq, merged))
    out.extend(exact)
    return tuple(out), notes


def _explicit(models: ScreenModels, upload: DecodedUpload) -> ExplicitVerdict:
    if models.explicit is None:
        return ExplicitVerdict(None, None, f"not analysed ({models.explicit_error})")
    with models.lock:
        finding = models.explicit.analyze(upload.image.rgb)
    label = _LABELS.get(finding.label)
    if label is None:
        return ExplicitVerdict(None, None, f"analysis failed ({finding.error or finding.reason})")
    return ExplicitVerdict(label, finding.score, f"{label} ({finding.reason})")


def _compare_faces(
    svc: ScreeningService, models: ScreenModels, upload: DecodedUpload, data: bytes
) -> tuple[tuple[FaceComparison, ...], str]:
    """Each embedded face's best consented person (``persons.matching.match_faces``)."""
    if models.faces is None:
        return (), f"faces not compared: face models unavailable ({models.faces_error})"
    templates = svc.face_templates()
    if not templates:
        return (), "faces not compared: no consented face templates"
    with models.lock:
        finding = models.faces.analyze(upload.image.rgb)
        if finding.error:
            return (), f"faces not compared: face analysis failed ({finding.error})"
        found = list(finding.faces)
        if any(faces_mod.TOO_SMALL in f.flags for f in found):
            found = faces_mod.second_look(models.faces, upload.image, data, found)
    faces = [f for f in found if f.embedding is not None]
    if not faces:
        return (), f"faces not compared: {len(found)} face(s) found, none large enough to embed"
    labels = {pid: label for pid, label, _ in templates}
    template_set = TemplateSet(
        np.stack([np.asarray(e, dtype=np.float32).reshape(-1) for _, _, e in templates]),
        np.asarray([pid for pid, _, _ in templates], dtype=np.int64),
    )
    usable = np.asarray([f.usable for f in faces], dtype=bool)
    small = np.asarray(
        [faces_mod.small_face_identifiable(f.quality.size_px, f.flags) for f in faces], dtype=bool
    )
    found_matches = match_faces(
        np.stack([np.asarray(f.embedding, dtype=np.float32) for f in faces]),
        usable,
        template_set,
        small=small,
    )
    out = []
    for i in range(len(faces)):
        pid = int(found_matches.person_ids[i])
        threshold = (
            faces_mod.SMALL_FACE_MATCH_SIMILARITY
            if small[i] and not usable[i]
            else faces_mod.MATCH_SIMILARITY
        )
        out.append(
            FaceComparison(
                person_id=pid,
                person_label=labels.get(pid, ""),
                similarity=round(float(found_matches.similarity[i]), 4),
                threshold=threshold,
                matched=found_matches.level[i] == MATCH,
            )
        )
    return tuple(out), f"faces compared: {len(faces)} face(s) with {len(templates)} template(s)"


def _possible(face: FaceComparison) -> bool:
    return not face.matched and face.similarity >= faces_mod.POSSIBLE_MATCH_SIMILARITY


def decide(
    matches: Sequence[LookupResult], explicit: ExplicitVerdict, faces: Sequence[FaceComparison]
) -> tuple[Decision, list[str]]:
    """The policy table of the module docstring: the decision and the reasons that gave it."""
    block: list[str] = []
    review: list[str] = []
    # exact copies first: the strongest reason leads
    for result in sorted(matches, key=lambda r: r.signal_type is SignalType.PDQ):
        for m in result.matches:
            where = f"bank {m.bank} content {m.content_id}"
            if result.signal_type is not SignalType.PDQ:
                block.append(f"block: {result.signal_type.value} equals {where} (exact copy)")
            elif m.distance <= BLOCK_PDQ_DISTANCE:
                block.append(f"block: PDQ {m.distance} bits from {where} (<= {BLOCK_PDQ_DISTANCE})")
            else:
                review.append(
                    f"review: PDQ {m.distance} bits from {where} (near: "
                    f"{BLOCK_PDQ_DISTANCE + 1}-{NEAR_PDQ_DISTANCE})"
                )
    label = explicit.label
    for n, face in enumerate(faces, start=1):
        who = f"face {n} ~ consented person {face.person_id}"
        sim = f"similarity {face.similarity:.3f}"
        if face.matched and label == "explicit":
            block.append(f"block: explicit and {who}: {sim} >= {face.threshold}")
        elif face.matched or _possible(face):
            level = (
                f"{sim} >= {face.threshold}"
                if face.matched
                else f"possible: {sim} >= {faces_mod.POSSIBLE_MATCH_SIMILARITY}, "
                f"under {face.threshold} or face not usable"
            )
            what = label if label is not None else "not labelled (treated as possibly explicit)"
            review.append(f"review: {what} and {who}: {level}")
    if block:
        return Decision.BLOCK, block + review
    if review:
        return Decision.REVIEW, review
    hashes = "no bank entry matched (MD5, SHA-256, PDQ within " + f"{NEAR_PDQ_DISTANCE} bits)"
    faces_text = (
        "no consented person's face"
        if label != "neutral"
        else "a neutral image (identity not checked)"
    )
    return Decision.ALLOW, [f"allow: {hashes}; {faces_text}"]


__all__ = [
    "BLOCK_PDQ_DISTANCE",
    "NEAR_PDQ_DISTANCE",
    "ScreenModels",
    "ScreeningService",
    "decide",
    "screen",
    "screen_models",
]
