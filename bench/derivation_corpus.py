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
drawn as sources are the unrelated images (at most 30 % of ``total``: all 600 of them at the
full size of 2,000, fewer in small development runs).

Added for issue 13, drawn from their own random stream (``seed`` + 1000) after the above, so the
corpus above is the same for a seed as before:

- ``face_paste_small`` (positive): a face paste as above, then reduced to 0.4-0.6x (small faces:
  few features outside the face are left to align on); one per five sources;
- ``resized_copy`` (positive, no change): the source reduced, without crop, to 200 px on its long
  side or to half its size, saved without metadata (JPEG q85-95); one per five sources. Only
  resolution says which one is the original: mostly the direction must be "unknown";
- ``burst_*`` (negative): another shot of a source photo, simulated: a smooth random non-rigid
  displacement of 0.4-1 % of the long side everywhere (a 4x4 grid of normal offsets, bicubic
  upsampled), a camera shake (shift <= 1 %, rotation <= 1 degree), a smooth lighting change
  everywhere (gain field 1 +- 8-20 % from a 3x3 grid, plus a global gain 0.9-1.1), sensor noise
  (sigma 2) and a JPEG re-encode (q80-95); one per ten sources. It is not made from the photo:
  any link to it is wrong;
- ``template_*`` (negative): the ``openpeople`` package's synthetic people, one shot of each
  kind (studio_posture, studio_portrait, amateur_posture, amateur_selfie) per person: shots of
  *different* people made from one template (same pose, backdrop, clothes). Persons P001-P005
  go into the tuning seeds (TUNING_SEEDS), P006-P010 into every other seed; each is cropped
  (<= 10 %), resized to 600-1,100 px on its long side and re-encoded (JPEG q75-95), drawn by
  seed. Any link between two of them is wrong; a face-swap verdict on one is the error the
  issue is about.
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
TUNING_SEEDS = (1, 2)  # template persons P001-P005 go into these; P006-P010 into the others
TEMPLATE_KINDS = ("studio_posture", "studio_portrait", "amateur_posture", "amateur_selfie")
UNRELATED_SHARE = 0.3  # of ``total``, at most


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
    rgb: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.5, 1.5),
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
    scale = float(rng.uniform(*scale_range))
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
    spare = [*spare_colour, *grey]
    n_unrelated = min(len(spare), int(round(total * UNRELATED_SHARE)))
    # evenly spread, without drawing from rng (the rest of the corpus stays as it was)
    picked = (
        sorted({int(i) for i in np.linspace(0, len(spare) - 1, n_unrelated)}) if n_unrelated else []
    )
    for i, path in enumerate(spare[k] for k in picked):
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
    extra_truths, negatives = _issue13_extras(
        evidence, truth_dir, seed, source_names, pictures, face_boxes, len(truths)
    )
    truths += extra_truths
    unrelated_names += negatives
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


def _save_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=quality)
    path.write_bytes(buffer.getvalue())  # written from pixels: no metadata


def burst(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Another shot of the same scene, simulated (see the module docstring): non-rigid motion
    and a lighting change everywhere, a camera shake and sensor noise."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    amplitude = rng.uniform(0.004, 0.01) * side
    field = [
        cv2.resize(rng.normal(0, 1, (4, 4)).astype(np.float32), (w, h),
                   interpolation=cv2.INTER_CUBIC) * amplitude
        for _ in range(2)
    ]  # fmt: skip
    angle = np.deg2rad(rng.uniform(-1, 1))
    shift = rng.uniform(-0.01, 0.01, 2) * side
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w / 2, h / 2
    map_x = cx + (xx - cx) * np.cos(angle) - (yy - cy) * np.sin(angle) + shift[0] + field[0]
    map_y = cy + (xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle) + shift[1] + field[1]
    moved = cv2.remap(rgb, map_x.astype(np.float32), map_y.astype(np.float32),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    strength = rng.uniform(0.08, 0.2)
    light = cv2.resize(rng.uniform(-1, 1, (3, 3)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)  # fmt: skip
    gain = (1 + strength * light) * rng.uniform(0.9, 1.1)
    out = moved.astype(np.float32) * gain[..., None] + rng.normal(0, 2, moved.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def _template_shot(path: Path, rng: np.random.Generator) -> np.ndarray:
    rgb = _load_rgb(path)
    h, w = rgb.shape[:2]
    keep_w, keep_h = rng.uniform(0.95, 1.0), rng.uniform(0.95, 1.0)
    cw, ch = int(w * keep_w), int(h * keep_h)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    rgb = rgb[y0 : y0 + ch, x0 : x0 + cw]
    long_side = rng.uniform(600, 1100)
    k = long_side / max(cw, ch)
    size = (max(8, round(cw * k)), max(8, round(ch * k)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def template_persons(seed: int) -> list[Path]:
    """The openpeople persons whose template shots go into this seed's corpus."""
    try:
        from openpeople.io import get_curated_dir
    except ImportError:  # pragma: no cover
        raise SystemExit(
            "the benchmark needs the `openpeople` package (pip install openpeople)"
        ) from None
    people = sorted(p for p in Path(get_curated_dir()).iterdir() if (p / "assets").is_dir())
    return people[:5] if seed in TUNING_SEEDS else people[5:10]


def _issue13_extras(
    evidence: Path,
    truth_dir: Path,
    seed: int,
    source_names: list[str],
    pictures: dict[str, np.ndarray],
    face_boxes: dict[str, tuple[int, int, int, int] | None],
    first_index: int,
) -> tuple[list[DerivedTruth], list[str]]:
    """Small-face swaps, resized copies, bursts and template shots (module docstring)."""
    rng = np.random.default_rng(seed + 1000)
    truths: list[DerivedTruth] = []
    n = len(source_names)

    def add(name: str, src: str, edit: str, rgb: np.ndarray, mask: np.ndarray,
            params: dict[str, object], quality: int) -> None:  # fmt: skip
        _save_jpeg(evidence / name, rgb, quality)
        Image.fromarray(mask.astype(np.uint8) * 255).save(truth_dir / f"{name}.mask.png")
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
                mask=f"{name}.mask.png",
            )
        )

    # small-face swaps
    wanted, attempts = n // 5, 0
    while sum(t.edit == "face_paste_small" for t in truths) < wanted and attempts < wanted * 10:
        attempts += 1
        src = source_names[int(rng.integers(n))]
        donor = source_names[int(rng.integers(n))]
        if donor == src:
            continue
        result = _edit("face_paste", pictures[src], rng, pictures[donor],
                       face_boxes[src], face_boxes[donor])  # fmt: skip
        if result is None:
            continue
        rgb, mask, params = _geometry(*result, rng, scale_range=(0.4, 0.6))
        name = f"derived_{first_index + len(truths):05d}.jpg"
        add(name, src, "face_paste_small", rgb, mask, params, int(rng.integers(60, 96)))
    # resized copies without metadata, no crop
    for src in [source_names[int(i)] for i in rng.choice(n, size=n // 5, replace=False)]:
        rgb = pictures[src]
        h, w = rgb.shape[:2]
        scale = 200 / max(h, w) if rng.random() < 0.5 else 0.5
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        params = {"crop": (0, 0, w, h), "scale": scale, "mirrored": False, "quarter_turns": 0}
        name = f"derived_{first_index + len(truths):05d}.jpg"
        add(name, src, "resized_copy", small, np.zeros(small.shape[:2], bool), params,
            int(rng.integers(85, 96)))  # fmt: skip
    negatives: list[str] = []
    # bursts: other shots of a source photo
    for k, i in enumerate(rng.choice(n, size=max(1, n // 10), replace=False)):
        src = source_names[int(i)]
        name = f"burst_{k:04d}_of_{Path(src).stem}.jpg"
        _save_jpeg(evidence / name, burst(pictures[src], rng), int(rng.integers(80, 96)))
        negatives.append(name)
    # template shots of different people
    for person in template_persons(seed):
        for kind in TEMPLATE_KINDS:
            path = person / "assets" / f"{kind}.jpg"
            if not path.exists():
                continue
            name = f"template_{person.name}_{kind}.jpg"
            _save_jpeg(evidence / name, _template_shot(path, rng), int(rng.integers(75, 96)))
            negatives.append(name)
    return truths, negatives


def load_truth(out: Path) -> tuple[list[DerivedTruth], list[str], list[str]]:
    data = json.loads((out / "truth.json").read_text())
    truths = [DerivedTruth(**{**t, "crop": tuple(t["crop"])}) for t in data["derived"]]
    return truths, data["sources"], data["unrelated"]
