"""Provenance analyzer: cost per image of each part, and chance watermark matches on photos.

1. **Cost**: a 12 MP JPEG (4000x3000, q90) and a 1 MP PNG (1024x1024) made from a harmless photo
   in ``../shared/data`` (a synthetic picture when that is absent); each part timed alone
   (median of ``--repeat`` runs, OpenCV on one thread, as in a scan worker): C2PA read (no
   manifest, and a test-signed copy), metadata read, full-resolution decode, watermark decode,
   stealth read, and the whole ``analyze`` with the default pixel cap and with the cap raised.
2. **Chance matches**: the watermark bands and verdicts on every harmless photo available -
   ``realfake/real`` (FFHQ), ``realfake/fake`` (StyleGAN faces: AI-made, but with no provenance,
   so they show what "no_signal" means), and a sample of the scan benchmark's 1-12 MP corpus
   (``bench/corpus``, if generated) checked with the cap raised. Target: no image reaches
   "likely" or "very likely" for any mark.

Usage: python bench/provenance_signals.py [--data ../shared/data] [--repeat 5] [--corpus-n 150]
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from consentry.analyzers.provenance import ProvenanceAnalyzer
from consentry.analyzers.provenance import watermark as wm
from consentry.analyzers.provenance.metadata import read_metadata
from consentry.analyzers.provenance.policy import Verdict
from consentry.analyzers.provenance.stealth import read_stealth

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data"


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def source_picture(data: Path) -> Image.Image:
    photos = sorted((data / "realfake" / "real").glob("*.jpg"))
    if photos:
        return Image.open(photos[0]).convert("RGB")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:1024, 0:1024]
    base = np.stack([np.sin(x / 40) * 80 + 128, (x + y) % 256, np.cos(y / 30) * 60 + 120], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8))


def encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def signed_copy(data: bytes, mime: str) -> bytes | None:
    import sys

    sys.path.insert(0, str(ROOT))
    try:  # the test suite's throw-away CA; needs cryptography and c2pa-python
        from tests.test_provenance_c2pa import make_credentials, sign
    except Exception:  # noqa: BLE001 - any failure: just skip this row
        return None
    return sign(make_credentials(), data, mime)


def cost(data_dir: Path, repeat: int) -> list[str]:
    picture = source_picture(data_dir)
    files = {
        "12 MP JPEG (4000x3000 q90)": encode(picture.resize((4000, 3000)), "JPEG"),
        "1 MP PNG (1024x1024)": encode(picture.resize((1024, 1024)), "PNG"),
    }
    default = ProvenanceAnalyzer.load()
    uncapped = ProvenanceAnalyzer.load(full_resolution_max_pixels=50_000_000)
    assert default.c2pa_reader is not None, "c2pa-python is needed for this benchmark"
    reader = default.c2pa_reader
    lines = ["| part | " + " | ".join(files) + " |", "|---|" + "---:|" * len(files)]
    rows: dict[str, list[str]] = {}
    for data in files.values():
        mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        rgba = np.dstack([pixels, np.full(pixels.shape[:2], 255, np.uint8)])
        signed = signed_copy(data, mime)
        parts = {
            "C2PA read, no manifest": lambda d=data: reader.read(d),
            "C2PA read, signed manifest": (lambda s=signed: reader.read(s)) if signed else None,
            "metadata (PNG text, EXIF, XMP)": lambda d=data: read_metadata(d),
            "full-resolution decode": lambda d=data: np.asarray(
                Image.open(io.BytesIO(d)).convert("RGB")
            ),
            "watermark decode, 4 marks": lambda p=pixels: wm.match_marks(p),
            "stealth read (RGBA, no text)": lambda p=rgba: read_stealth(p),
            "analyze(), default 8.4 MP cap": lambda d=data: default.analyze(d),
            "analyze(), cap raised": lambda d=data: uncapped.analyze(d),
        }
        for name, fn in parts.items():
            value = "n/a" if fn is None else f"{timed(fn, repeat):.1f} ms"
            rows.setdefault(name, []).append(value)
    for name, values in rows.items():
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return lines


def chance(data_dir: Path, corpus_n: int) -> list[str]:
    sets: list[tuple[str, list[Path]]] = []
    for name in ("realfake/real", "realfake/fake"):
        files = sorted(p for p in (data_dir / name).glob("*") if p.suffix in (".jpg", ".png"))
        if files:
            sets.append((name, files))
    corpus = sorted((ROOT / "bench" / "corpus").glob("n*/images/**/*.jpg"))
    if corpus:
        rng = np.random.default_rng(1)
        picked = rng.choice(len(corpus), size=min(corpus_n, len(corpus)), replace=False)
        sets.append(
            (
                f"bench corpus sample (1-12 MP JPEG, cap raised), n={len(picked)}",
                [corpus[i] for i in sorted(picked)],
            )
        )
    analyzer = ProvenanceAnalyzer.load(full_resolution_max_pixels=50_000_000)
    lines = [
        "| set | images | checked | verdicts | per mark: max bits matched (bands partial/likely/"
        "very likely) |",
        "|---|---:|---:|---|---|",
    ]
    for name, files in sets:
        verdicts: Counter[str] = Counter()
        best: dict[str, int] = {}
        bands: dict[str, Counter[str]] = {m.name: Counter() for m in wm.MARKS}
        checked = 0
        for path in files:
            finding = analyzer.analyze(path.read_bytes())
            verdicts[finding.verdict.value] += 1
            checked += bool(finding.watermarks)
            for match in finding.watermarks:
                best[match.mark] = max(best.get(match.mark, 0), match.matched)
                bands[match.mark][match.band.value] += 1
        marks = "; ".join(
            f"{m.name} {best.get(m.name, '-')}/{len(m.bits)} "
            f"({bands[m.name]['partial']}/{bands[m.name]['likely']}/"
            f"{bands[m.name]['very_likely']})"
            for m in wm.MARKS
        )
        summary = ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
        lines.append(f"| {name} | {len(files)} | {checked} | {summary} | {marks} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus-n", type=int, default=150)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    out = [
        f"# provenance_signals - {time.strftime('%Y-%m-%d %H:%M')}",
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"python {platform.python_version()}, OpenCV {cv2.__version__} on 1 thread; "
        f"load average before: {', '.join(f'{x:.2f}' for x in _loadavg())}",
        "",
        "## Cost per image (median)",
        *cost(args.data, args.repeat),
        "",
        "## Chance watermark matches and verdicts on harmless images",
        *chance(args.data, args.corpus_n),
        "",
        f"Verdict values: {', '.join(v.value for v in Verdict)}; no_signal means nothing was "
        "found, not that the image is real (realfake/fake are AI-made and carry no provenance).",
    ]
    text = "\n".join(out)
    print(text)
    target = ROOT / "bench" / "out" / f"provenance_signals-{time.strftime('%Y-%m-%d')}.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text + "\n")


def _loadavg() -> tuple[float, float, float]:
    try:
        import os

        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


if __name__ == "__main__":
    main()
