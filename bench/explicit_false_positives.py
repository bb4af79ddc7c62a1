"""False positives of the explicit-content analyzer on every harmless image available, on a
tuning half and a held-out half.

Harmless sets (each used when present on this machine; nothing is downloaded):

- ``../shared/data``: faces/lfw, faces/orl, faces/yaleb (identity = person folder),
  realfake/real (FFHQ) and realfake/fake (StyleGAN) (identity = the file: one person each);
- ``openpeople``: every picture of its 10 synthetic persons (portraits, selfies, full-body
  postures, character and emotion sheets; identity = person);
- the demo evidence builder's pictures (``scripts/build_demo_evidence.py``, built in a temporary
  folder): only those not byte-identical to an openpeople picture (edited copies, the face
  paste, the HEIC copy, the generated PNGs); each follows the split of the openpeople person it
  was made from (found by the nearest 16x16 thumbnail), so no source person is on both sides;
- scikit-image's sample pictures (when scikit-image is installed; identity = the picture);
- the desktop's 512 px icons (``/usr/share/icons/*/512x512``; identity = the file).

**Split.** Within each set the identities are sorted and shuffled with ``random.Random(
f"{seed}/{set}")``; the first half (rounded down) is the *tuning* half, the rest *held-out*.
Seed 13 is the split every rule in ``analyzers/explicit.py`` was tuned on (tuning half only);
the held-out half is for the one final report. ``--split`` picks the half (default: tuning).

Each image is decoded as a scan decodes it and analysed with the default analyzer (Open-NSFW,
plus NudeNet regions when the optional extra is installed, plus face boxes for the region rule).
Printed: per set and in total, explicit / suggestive counts and rates under the shipped rule and
under the previous rule (version 1: any exposed intimate NudeNet region made an image
suggestive), the highest Open-NSFW score and intimate-region score; and for every image the
shipped rule labels suggestive or explicit, the rule that fired. Regions the rule set aside
(on a face, in the neckline band) are listed too. Targets: 0 explicit and <= 1 % suggestive on
every set and in total.

Recall on explicit images cannot be measured here: no explicit material may enter this
repository. See docs/benchmarks.md for the models' published figures.

Usage: python bench/explicit_false_positives.py [--split tuning|held-out|all] [--seed 13]
           [--no-regions] [--data ../shared/data] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import io
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from consentry.analyzers import explicit as explicit_mod
from consentry.media.decode import decode_image
from consentry.records.problems import ItemError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".webp", ".heic", ".tif", ".tiff", ".bmp"}
SEED = 13  # the split the rules were tuned on (tuning half only)
SPLITS = ("tuning", "held-out")
TARGET_SUGGESTIVE = 0.01
# the samples scikit-image ships in its wheel (the others would be downloaded: never here)
SKIMAGE_SAMPLES = (
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
)


@dataclass
class Picture:
    set_name: str
    ident: str  # what the output calls it
    identity: str  # person (or file) the split goes by
    data: Callable[[], bytes]
    split_set: str = ""  # the set whose split the identity follows ("" = its own)


@dataclass
class Outcome:
    picture: Picture
    finding: explicit_mod.ExplicitFinding | None  # None: not decodable
    v1: str = ""  # label under version 1 of the rule


def _file_pictures(
    set_name: str, files: Sequence[Path], identity: Callable[[Path], str]
) -> list[Picture]:
    return [Picture(set_name, str(f), identity(f), f.read_bytes) for f in files]


def shared_sets(data: Path) -> Iterator[list[Picture]]:
    for name, by_folder in (
        ("faces/lfw", True),
        ("faces/orl", True),
        ("faces/yaleb", True),
        ("realfake/real", False),
        ("realfake/fake", False),
    ):
        files = sorted(p for p in (data / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            yield _file_pictures(
                name, files, (lambda f: f.parent.name) if by_folder else (lambda f: f.name)
            )


def openpeople_root() -> Path | None:
    try:
        from openpeople.io import get_curated_dir
    except ImportError:
        return None
    return Path(get_curated_dir())


def openpeople_set(root: Path) -> list[Picture]:
    files = sorted(root.glob("*/assets/*.jpg"))
    return _file_pictures("openpeople", files, lambda f: f.parent.parent.name)


def _thumb(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(rgb).convert("L").resize((16, 16)), dtype=np.float32)


def demo_set(openpeople: list[Picture], work: Path) -> list[Picture]:
    """The demo builder's pictures that are not byte-identical copies of openpeople pictures."""
    builder = ROOT / "scripts" / "build_demo_evidence.py"
    if not builder.is_file() or not openpeople:
        return []
    sys.path.insert(0, str(builder.parent))
    try:
        import build_demo_evidence
    except ImportError:
        return []
    target = work / "demo" / "evidence"
    with contextlib.redirect_stdout(io.StringIO()):  # its progress lines are not results
        build_demo_evidence.build(target)
    known = {hashlib.sha256(p.data()).hexdigest() for p in openpeople}
    sources = []
    for p in openpeople:
        rgb = _decode(p.data())
        if rgb is not None:
            sources.append((p.identity, _thumb(rgb)))
    out = []
    for f in sorted(target.rglob("*")):
        if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        data = f.read_bytes()
        rgb = _decode(data)
        if hashlib.sha256(data).hexdigest() in known or rgb is None:
            continue  # a copy already counted, or a cut-short file (not a picture)
        thumb = _thumb(rgb)
        person = min(
            sources,
            key=lambda s: min(
                float(np.mean((s[1] - thumb) ** 2)), float(np.mean((s[1] - thumb[:, ::-1]) ** 2))
            ),
        )[0]
        out.append(
            Picture(
                "demo evidence",
                str(f.relative_to(target)),
                person,
                _const(data),
                split_set="openpeople",
            )
        )
    return out


def skimage_set() -> list[Picture]:
    if importlib.util.find_spec("skimage") is None:
        return []
    from skimage import data as skdata

    out = []
    for name in SKIMAGE_SAMPLES:
        try:
            array = np.asarray(getattr(skdata, name)())
        except Exception:  # noqa: BLE001 - a sample missing from this scikit-image version
            continue
        if array.dtype != np.uint8 or array.ndim not in (2, 3) or min(array.shape[:2]) < 16:
            continue
        if array.ndim == 3 and array.shape[2] not in (3, 4):
            continue
        png = _png(array)
        out.append(Picture("scikit-image samples", name, name, _const(png)))
    return out


def _const(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def icon_set() -> list[Picture]:
    files = sorted(Path("/usr/share/icons").glob("*/512x512/**/*.png"))
    return _file_pictures("desktop icons", files, lambda f: f.name)


def split_of(pictures: list[Picture], seed: int) -> dict[tuple[str, str], str]:
    """(split set, identity) -> "tuning" or "held-out", per set, by identity."""
    by_set: dict[str, set[str]] = {}
    for p in pictures:
        by_set.setdefault(p.split_set or p.set_name, set()).add(p.identity)
    out = {}
    for name, identities in by_set.items():
        order = sorted(identities)
        random.Random(f"{seed}/{name}").shuffle(order)
        half = len(order) // 2
        for i, identity in enumerate(order):
            out[(name, identity)] = SPLITS[0] if i < half else SPLITS[1]
    return out


def label_v1(score: float | None, regions: Sequence[explicit_mod.Region]) -> str:
    """Version 1 of the rule (2026-11-26), for the before/after columns."""
    if score is None or not np.isfinite(score):
        return "unknown"
    intimate = [r for r in regions if r.class_name in explicit_mod.INTIMATE_EXPOSED]
    if score >= 0.8:
        return "explicit"
    if score >= 0.2 and any(r.score >= 0.5 for r in intimate):
        return "explicit"
    if score >= 0.2 or intimate:
        return "suggestive"
    return "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="tuning")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--limit", type=int, default=0, help="at most N images per set (dev)")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo builder's set")
    parser.add_argument(
        "--no-regions", action="store_true", help="Open-NSFW only (the default install)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the output here")
    args = parser.parse_args(argv)
    lines: list[str] = []

    def say(text: str = "") -> None:  # print and keep for --out
        print(text, flush=True)
        lines.append(text)

    analyzer = explicit_mod.ExplicitAnalyzer.load(use_regions=False if args.no_regions else None)
    with tempfile.TemporaryDirectory(prefix="consentry-explicit-fp-") as tmp:
        sets = list(shared_sets(args.data))
        root = openpeople_root()
        op = openpeople_set(root) if root else []
        if op:
            sets.append(op)
        if op and not args.no_demo:
            demo = demo_set(op, Path(tmp))
            if demo:
                sets.append(demo)
        for extra in (skimage_set(), icon_set()):
            if extra:
                sets.append(extra)
        everything = [p for s in sets for p in s]
        splits = split_of(everything, args.seed)
        wanted = SPLITS if args.split == "all" else (args.split,)
        say("explicit-content false positives on harmless images")
        say(
            f"date {time.strftime('%Y-%m-%d %H:%M %Z')}, "
            f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
        )
        say(
            f"split: {args.split} half of each set, by identity, seed {args.seed}"
            + (" (the seed the rules were tuned on)" if args.seed == SEED else "")
        )
        say(
            f"analyzer version {explicit_mod.VERSION}; Open-NSFW sha256 "
            f"{analyzer.model_sha256[:16]}…; NudeNet regions: "
            + (
                f"yes ({analyzer.regions_model_sha256[:16]}…)"
                if analyzer.regions_model_sha256
                else "not installed"
            )
            + f"; face boxes: {analyzer.faces_source}"
        )
        say(f"rule: {explicit_mod.RULE_SUMMARY}")
        say()
        outcomes: list[Outcome] = []
        started = time.perf_counter()
        analysed = 0
        for pictures in sets:
            chosen = [
                p for p in pictures if splits[(p.split_set or p.set_name, p.identity)] in wanted
            ]
            if args.limit:
                chosen = chosen[: args.limit]
            for p in chosen:
                rgb = _decode(p.data())
                if rgb is None:
                    outcomes.append(Outcome(p, None, "unknown"))
                    continue
                finding = analyzer.analyze(rgb)
                analysed += 1
                outcomes.append(Outcome(p, finding, label_v1(finding.score, finding.regions)))
        elapsed = time.perf_counter() - started
        _table(say, sets, outcomes)
        say(f"\nanalysis time: {elapsed / max(analysed, 1) * 1000:.1f} ms per image (one process)")
        _details(say, outcomes)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


def _table(say: Callable[[str], None], sets: list[list[Picture]], outcomes: list[Outcome]) -> None:
    say(
        "| set | identities | images | explicit | suggestive | rate | v1 explicit | "
        "v1 suggestive | v1 rate | max score | max intimate region |"
    )
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    names = [s[0].set_name for s in sets]
    total: Counter[str] = Counter()
    total_v1: Counter[str] = Counter()
    met = True
    for name in [*names, "all"]:
        rows = [o for o in outcomes if name == "all" or o.picture.set_name == name]
        if not rows:
            continue
        labels = Counter(o.finding.label.value if o.finding else "unknown" for o in rows)
        v1 = Counter(o.v1 for o in rows)
        if name != "all":
            total.update(labels)
            total_v1.update(v1)
        n = len(rows)
        ids = len({(o.picture.set_name, o.picture.identity) for o in rows})
        scores = [o.finding.score for o in rows if o.finding and o.finding.score is not None]
        regions = [r.score for o in rows if o.finding for r in o.finding.regions if r.intimate]
        rate = labels["suggestive"] / n
        ok = labels["explicit"] == 0 and rate <= TARGET_SUGGESTIVE
        met = met and ok
        bold = "**" if name == "all" else ""
        say(
            f"| {bold}{name}{bold} | {ids} | {n} | {labels['explicit']} | "
            f"{labels['suggestive']} | {100 * rate:.2f} %{'' if ok else ' (over)'} | "
            f"{v1['explicit']} | {v1['suggestive']} | {100 * v1['suggestive'] / n:.2f} % | "
            f"{max(scores, default=0):.3f} | {max(regions, default=0):.2f} |"
        )
    unknown = sum(1 for o in outcomes if o.finding is None or o.finding.label.value == "unknown")
    if unknown:
        say(f"({unknown} images not decodable or not analysed: labelled unknown)")
    say(
        "target: 0 explicit and <= 1 % suggestive on every set and in total -> "
        + ("MET" if met else "NOT MET")
    )


def _details(say: Callable[[str], None], outcomes: list[Outcome]) -> None:
    flagged = [
        o for o in outcomes if o.finding and o.finding.label.value in ("explicit", "suggestive")
    ]
    say(f"\nimages labelled explicit or suggestive ({len(flagged)}), with the rule that fired:")
    for o in flagged:
        assert o.finding is not None
        say(
            f"- {o.picture.set_name}: {_short(o.picture.ident)}: {o.finding.label.value}: "
            f"{o.finding.reason} (score {o.finding.score:.4f})"
        )
    set_aside = [
        (o, r)
        for o in outcomes
        if o.finding
        for r in o.finding.regions
        if r.intimate and r.set_aside
    ]
    say(f"\nintimate regions the rule set aside ({len(set_aside)}):")
    for o, r in set_aside:
        assert o.finding is not None
        say(
            f"- {o.picture.set_name}: {_short(o.picture.ident)}: {r.class_name} {r.score:.2f} "
            f"{r.set_aside} (score {o.finding.score:.4f}; v1 label {o.v1})"
        )
    v1_only = [o for o in outcomes if o.finding and o.v1 != o.finding.label.value]
    say(f"\nlabels changed from v1 ({len(v1_only)}):")
    for o in v1_only:
        assert o.finding is not None
        say(f"- {o.picture.set_name}: {_short(o.picture.ident)}: {o.v1} -> {o.finding.label.value}")


def _short(ident: str) -> str:
    path = Path(ident)
    return "/".join(path.parts[-2:]) if len(path.parts) > 1 else ident


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
