"""False-positive rate of the explicit-content analyzer on every harmless image available.

Harmless sets: the labelled faces and real/AI photos in ``../shared/data``, the synthetic people
of ``openpeople`` (if installed) and scikit-image's sample pictures (if installed). Each image is
decoded as a scan decodes it and analysed with the default analyzer (Open-NSFW, plus NudeNet
regions when the optional extra is installed). Printed: per set, images, how many were labelled
explicit / suggestive / none / unknown, and the highest score; target: 0 explicit.

Recall on explicit images cannot be measured here: no explicit material may enter this
repository. See docs/benchmarks.md for the models' published figures.

Usage: python bench/explicit_false_positives.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from consentry.analyzers import explicit as explicit_mod
from consentry.media.decode import decode_image
from consentry.records.problems import ItemError

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".webp"}


def shared_sets(data: Path) -> Iterator[tuple[str, list[Path]]]:
    for name in ("faces/lfw", "faces/orl", "faces/yaleb", "realfake/real", "realfake/fake"):
        files = sorted(p for p in (data / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            yield name, files


def openpeople_images() -> list[Path]:
    try:
        from openpeople.io import get_curated_dir
    except ImportError:
        return []
    return sorted(Path(get_curated_dir()).rglob("*.jpg"))


def skimage_images() -> list[tuple[str, np.ndarray]]:
    try:
        from skimage import data as skdata
    except ImportError:
        return []
    out = []
    for name in (
        "astronaut",
        "camera",
        "coffee",
        "chelsea",
        "rocket",
        "cat",
        "coins",
        "page",
        "horse",
        "hubble_deep_field",
        "immunohistochemistry",
        "motorcycle_left",
    ):
        try:
            out.append((name, np.asarray(getattr(skdata, name)())))
        except Exception:  # noqa: BLE001 - a sample missing from this skimage version
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args(argv)
    analyzer = explicit_mod.ExplicitAnalyzer.load()
    regions = analyzer.regions is not None
    print("explicit-content false positives on harmless images")
    print(
        f"date {time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.processor() or platform.machine()}"
    )
    print(
        f"Open-NSFW sha256 {analyzer.model_sha256[:16]}…; NudeNet regions: "
        + (f"yes ({analyzer.regions_model_sha256[:16]}…)" if regions else "not installed")
    )
    print(
        f"thresholds: none < {explicit_mod.SAFE_BELOW} <= suggestive < "
        f"{explicit_mod.EXPLICIT_FROM} <= explicit (Open-NSFW score)\n"
    )
    print(f"| {'set':<22} | images | explicit | suggestive | none | unknown | max score |")
    print(f"|{'-' * 24}|-------:|---------:|-----------:|-----:|--------:|----------:|")
    totals: Counter[str] = Counter()
    worst: list[tuple[float, str]] = []
    sets: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
    for name, files in shared_sets(args.data):
        sets.append((name, [(str(f), _decode(f.read_bytes())) for f in files]))
    op = openpeople_images()
    if op:
        sets.append(("openpeople (synthetic)", [(str(f), _decode(f.read_bytes())) for f in op]))
    sk = skimage_images()
    if sk:
        sets.append(("scikit-image samples", [(n, _decode(_png(a))) for n, a in sk]))
    started = time.perf_counter()
    count = 0
    for name, images in sets:
        labels: Counter[str] = Counter()
        top = 0.0
        for ident, rgb in images:
            if rgb is None:
                labels["unknown"] += 1
                continue
            finding = analyzer.analyze(rgb)
            labels[finding.label.value] += 1
            if finding.score is not None:
                top = max(top, finding.score)
                worst.append((finding.score, ident))
            count += 1
        totals.update(labels)
        print(
            f"| {name:<22} | {len(images):>6} | {labels['explicit']:>8} | "
            f"{labels['suggestive']:>10} | {labels['none']:>4} | {labels['unknown']:>7} | "
            f"{top:>9.3f} |"
        )
    n = sum(totals.values())
    print(
        f"| {'all':<22} | {n:>6} | {totals['explicit']:>8} | {totals['suggestive']:>10} | "
        f"{totals['none']:>4} | {totals['unknown']:>7} | "
        f"{max((w[0] for w in worst), default=0):>9.3f} |"
    )
    elapsed = time.perf_counter() - started
    print(
        f"\nfalse-positive rate (explicit): {totals['explicit']}/{n} = "
        f"{totals['explicit'] / max(n, 1):.4f}; suggestive: {totals['suggestive'] / max(n, 1):.4f}"
        f"\nanalysis time: {elapsed / max(count, 1) * 1000:.1f} ms per image (one process)"
    )
    print("highest scores:", ", ".join(f"{s:.3f} {Path(i).name}" for s, i in sorted(worst)[-3:]))
    print("target: 0 explicit labels ->", "MET" if totals["explicit"] == 0 else "NOT MET")
    return 0


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray | None:
    try:
        return decode_image(data).rgb
    except ItemError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
