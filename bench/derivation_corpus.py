"""The derivation benchmark's corpus: harmless photos, edited copies with known change masks, and
unrelated photos (used by ``bench/derivation.py``; importable by itself for experiments).

Sources are the colour photos of ``../shared/data`` (LFW, FFHQ real, StyleGAN fakes); each gets
several derived copies, one edit each:

- ``region_inpaint``: a torso-sized region (lower middle of the picture, never over the face)
  filled by cv2.inpaint;
- ``region_texture``: the same kind of region replaced by a patch of another photo;
- ``face_paste``: the face of another identity pasted with ``cv2.seamlessClone`` (face found by
  YuNet in both pictures);
- ``recolour``: a background-preserving edit, the torso region's colour and brightness changed;

then a random crop (<= 20 % of the area), resize (0.5-1.5x), mirror (half of them), a quarter
turn (one in ten) and a JPEG re-encode (quality 60-95). The true mask is the edited region,
carried through the same geometry. The grey face sets (Yale B, ORL) and the colour photos not
drawn as sources are the unrelated images.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EDITS = ("region_inpaint", "region_texture", "face_paste", "recolour")


@dataclass
class DerivedTruth:
    derived: str  # file name in the corpus
    source: str
    edit: str
    crop: tuple[int, int, int, int]  # x, y, w, h in the edited source's pixels
    scale: float
    mirrored: bool
    quarter_turns: int
    quality: int
    mask: str  # PNG of the true change mask, in the derived picture's pixels


def colour_photos() -> list[Path]:
    out: list[Path] = []
    for sub in ("faces/lfw", "realfake/real", "realfake/fake"):
        out += sorted(p for p in (DATA / sub).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    return out


def grey_photos() -> list[Path]:
    out: list[Path] = []
    for sub in ("faces/yaleb", "faces/orl"):
        out += sorted(p for p in (DATA / sub).rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    return out


def _face_box(detector: object, rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    finding = detector.analyze(rgb)  # type: ignore[attr-defined]
    if not finding.faces:
        return None
    face = max(finding.faces, key=lambda f: f.box[2] * f.box[3])
    x, y, w, h = (int(round(v)) for v in face.box)
    return (x, y, w, h) if w >= 24 and h >= 24 else None


def _torso_region(
    rng: np.random.Generator, h: int, w: int, face: tuple[int, int, int, int] | None
) -> np.ndarray:
    """An ellipse or rectangle of 10-35 % of the picture in its lower part (body, shoulders),
    never over the face: in these tight face photos that is the shoulders at the bottom left
    or right, or the chest below the chin. The largest of a few random placements is kept."""
    allowed = np.ones((h, w), bool)
    if face is not None:
        x, y, fw, fh = face
        mx, my = fw // 8, fh // 8
        allowed[max(0, y - my) : y + fh + my, max(0, x - mx) : x + fw + mx] = False
    best = np.zeros((h, w), bool)
    for _ in range(8):
        mask = np.zeros((h, w), np.uint8)
        area = rng.uniform(0.15, 0.35) * h * w
        aspect = rng.uniform(0.5, 1.6)
        rw = int(min(w * 0.9, np.sqrt(area * aspect)))
        rh = int(min(h * 0.7, area / max(rw, 1)))
        cx = int(w * rng.choice([0.2, 0.5, 0.8]) + rng.uniform(-0.1, 0.1) * w)
        cy = int(h - rh / 2 - rng.uniform(0, 0.1) * h)
        if rng.random() < 0.5:
            cv2.ellipse(mask, (cx, cy), (rw // 2, rh // 2), 0, 0, 360, 255, -1)
        else:
            cv2.rectangle(mask, (cx - rw // 2, cy - rh // 2), (cx + rw // 2, cy + rh // 2), 255, -1)
        region = (mask > 0) & allowed
        if region.sum() > best.sum():
            best = region
    return best


def _edit(
    edit: str,
    rgb: np.ndarray,
    rng: np.random.Generator,
    other: np.ndarray,
    face: tuple[int, int, int, int] | None,
    donor_face: tuple[int, int, int, int] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    h, w = rgb.shape[:2]
    if edit == "face_paste":
        if face is None or donor_face is None:
            return None
        x, y, fw, fh = face
        dx, dy, dw, dh = donor_face
        # a little margin around the box, so that the whole face (brows, chin) is replaced
        mx, my = int(dw * 0.1), int(dh * 0.1)
        dx0, dy0 = max(0, dx - mx), max(0, dy - my)
        donor = other[dy0 : dy + dh + my, dx0 : dx + dw + mx]
        tw, th = int(fw * 1.2), int(fh * 1.2)
        if tw < 16 or th < 16 or donor.size == 0:
            return None
        donor = cv2.resize(donor, (tw, th), interpolation=cv2.INTER_AREA)
        patch_mask = np.zeros((th, tw), np.uint8)
        cv2.ellipse(patch_mask, (tw // 2, th // 2), (tw // 2 - 2, th // 2 - 2), 0, 0, 360, 255, -1)
        centre = (x + fw // 2, y + fh // 2)
        x0, y0 = centre[0] - tw // 2, centre[1] - th // 2
        if x0 < 1 or y0 < 1 or x0 + tw >= w - 1 or y0 + th >= h - 1:
            return None
        mask = np.zeros((h, w), bool)
        mask[y0 : y0 + th, x0 : x0 + tw] = patch_mask > 0
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        out = cv2.seamlessClone(  # (it may write into the mask it is given: pass a copy)
            cv2.cvtColor(donor, cv2.COLOR_RGB2BGR),
            bgr,
            patch_mask.copy(),
            centre,
            cv2.NORMAL_CLONE,
        )
        return cv2.cvtColor(out, cv2.COLOR_BGR2RGB), mask
    region = _torso_region(rng, h, w, face)
    if region.mean() < 0.06:
        return None
    out = rgb.copy()
    if edit == "region_inpaint":
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, region.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
        out = cv2.cvtColor(filled, cv2.COLOR_BGR2RGB)
    elif edit == "region_texture":
        texture = cv2.resize(other, (w, h), interpolation=cv2.INTER_AREA)
        out[region] = texture[region]
    elif edit == "recolour":
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int32)
        hsv[..., 0] = (hsv[..., 0] + int(rng.integers(45, 135))) % 180
        hsv[..., 1] = np.clip(hsv[..., 1] + 90, 0, 255)
        hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.45, 0.7), 0, 255)
        recoloured = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
        out[region] = recoloured[region]
    else:  # pragma: no cover
        raise ValueError(edit)
    return out, region


def _geometry(
    rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    h, w = rgb.shape[:2]
    keep = rng.uniform(0.8, 1.0)  # area kept
    cw = rng.uniform(np.sqrt(keep), 1.0)
    ch = min(1.0, keep / cw)
    cw_px, ch_px = max(8, int(w * cw)), max(8, int(h * ch))
    x0 = int(rng.integers(0, w - cw_px + 1))
    y0 = int(rng.integers(0, h - ch_px + 1))
    rgb = rgb[y0 : y0 + ch_px, x0 : x0 + cw_px]
    mask = mask[y0 : y0 + ch_px, x0 : x0 + cw_px]
    scale = float(rng.uniform(0.5, 1.5))
    size = (max(8, round(cw_px * scale)), max(8, round(ch_px * scale)))
    rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    turns = int(rng.integers(1, 4)) if rng.random() < 0.1 else 0
    rgb, mask = np.rot90(rgb, turns), np.rot90(mask, turns)
    params = {"crop": (x0, y0, cw_px, ch_px), "scale": scale, "mirrored": mirrored,
              "quarter_turns": turns}  # fmt: skip
    return np.ascontiguousarray(rgb), np.ascontiguousarray(mask), params


def _load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def build_corpus(
    out: Path, seed: int, n_sources: int, total: int, faces: bool = True
) -> tuple[list[DerivedTruth], list[str], list[str]]:
    """Write the corpus into ``out/evidence`` (and masks into ``out/truth``); returns the truth,
    the source file names and the unrelated file names."""
    rng = np.random.default_rng(seed)
    colour = colour_photos()
    grey = grey_photos()
    if not colour:
        raise SystemExit(f"no photos in {DATA}: the benchmark needs ../shared/data")
    order = rng.permutation(len(colour))
    sources = [colour[i] for i in order[:n_sources]]
    spare_colour = [colour[i] for i in order[n_sources:]]
    evidence, truth_dir = out / "evidence", out / "truth"
    evidence.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)

    detector = None
    if faces:
        from consentry.analyzers.faces import FaceAnalyzer

        detector = FaceAnalyzer()

    source_names, unrelated_names = [], []
    pictures: dict[str, np.ndarray] = {}
    face_boxes: dict[str, tuple[int, int, int, int] | None] = {}
    for i, path in enumerate(sources):
        name = f"src_{i:04d}{path.suffix.lower()}"
        (evidence / name).write_bytes(path.read_bytes())  # the source file as it is
        source_names.append(name)
        pictures[name] = _load_rgb(path)
        face_boxes[name] = _face_box(detector, pictures[name]) if detector else None
    for i, path in enumerate([*spare_colour, *grey]):
        name = f"other_{i:04d}{path.suffix.lower()}"
        (evidence / name).write_bytes(path.read_bytes())
        unrelated_names.append(name)

    n_derived = max(0, total - len(source_names) - len(unrelated_names))
    truths: list[DerivedTruth] = []
    attempts = 0
    while len(truths) < n_derived and attempts < n_derived * 10:
        attempts += 1
        src = source_names[len(truths) % len(source_names)]
        edit = EDITS[(len(truths) // len(source_names) + attempts) % len(EDITS)]
        donor = source_names[int(rng.integers(len(source_names)))]
        if donor == src:
            continue
        result = _edit(
            edit, pictures[src], rng, pictures[donor], face_boxes[src], face_boxes[donor]
        )
        if result is None:
            continue
        edited, region = result
        rgb, mask, params = _geometry(edited, region, rng)
        quality = int(rng.integers(60, 96))
        name = f"derived_{len(truths):05d}.jpg"
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
        (evidence / name).write_bytes(buffer.getvalue())
        mask_name = f"{name}.mask.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(truth_dir / mask_name)
        truths.append(
            DerivedTruth(
                derived=name,
                source=src,
                edit=edit,
                crop=tuple(int(v) for v in params["crop"]),  # type: ignore[arg-type]
                scale=float(params["scale"]),  # type: ignore[arg-type]
                mirrored=bool(params["mirrored"]),
                quarter_turns=int(params["quarter_turns"]),  # type: ignore[call-overload]
                quality=quality,
                mask=mask_name,
            )
        )
    (out / "truth.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "sources": source_names,
                "unrelated": unrelated_names,
                "derived": [asdict(t) for t in truths],
            },
            indent=1,
        )
    )
    return truths, source_names, unrelated_names


def load_truth(out: Path) -> tuple[list[DerivedTruth], list[str], list[str]]:
    data = json.loads((out / "truth.json").read_text())
    truths = [DerivedTruth(**{**t, "crop": tuple(t["crop"])}) for t in data["derived"]]
    return truths, data["sources"], data["unrelated"]
