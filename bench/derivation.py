"""Derivation linking benchmark: does consentry link each edited copy to the photo it was made
from, with the right change mask and face verdict, and nothing else?

Builds a case from harmless photos (``bench/derivation_corpus.py``: LFW, FFHQ, StyleGAN faces as
sources, each with edited copies of known change mask — region inpainted, region replaced by
texture, a face of another identity pasted with cv2.seamlessClone, a region recoloured — then
cropped <= 20 %, resized 0.5-1.5x, mirrored, sometimes turned, JPEG q60-95; Yale B / ORL and the
colour photos not drawn as sources are the unrelated images), runs the real ``consentry scan``
(which runs the derivation pass at its end; its time is read from the audit log) and
``consentry links --json``, and prints:

- link precision (a link is right when both its source and its direction are) and recall (of
  the derived images), also undirected;
- mean IoU of the change mask against the true mask (in the derived picture, correct links);
- face-swap accuracy (face paste -> true, other edits -> false; "cannot tell" counts as wrong);
- the same linking by PDQ alone (distance <= 31 over all 8 rotations/flips), undirected;
- the pass's time over the whole case.

Honest numbers: thresholds and rules were tuned on seeds 1 and 2 (seed 2 was the report seed of
the first version and its errors were studied for the second); the default report seed is 3,
a different draw of sources, edits and geometry (the output says which).

Usage: python bench/derivation.py [--seed 3] [--images 2000] [--sources 250] [--workers 2]
                                  [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import derivation_corpus as corpus  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TUNING_SEEDS = (1, 2)
PDQ_THRESHOLD = 31


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "consentry.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"consentry {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def _hamming(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--sources", type=int, default=250)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, default=None, help="Keep corpus and case here.")
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="consentry-derivation-"))
    root = work / f"corpus-{args.seed}"
    if (root / "truth.json").exists():
        truths, sources, unrelated = corpus.load_truth(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
        truths, sources, unrelated = corpus.build_corpus(root, args.seed, args.sources, args.images)
    case = work / f"case-{args.seed}"
    shutil.rmtree(case, ignore_errors=True)
    print(f"seed {args.seed} ({'tuning' if args.seed in TUNING_SEEDS else 'held out from tuning'})"
          f"; {len(sources)} sources, {len(truths)} derived, {len(unrelated)} unrelated "
          f"= {len(sources) + len(truths) + len(unrelated)} images; "
          f"edits {dict(Counter(t.edit for t in truths))}")  # fmt: skip
    load_before = os.getloadavg()
    t0 = time.monotonic()
    _run(["scan", str(root / "evidence"), "--case", str(case), "--workers", str(args.workers),
          "-q", "--skip", "explicit"])  # fmt: skip
    scan_s = time.monotonic() - t0
    links = json.loads(_run(["links", "--case", str(case), "--json"]))["links"]
    db = sqlite3.connect(case / "case.sqlite")
    events = [
        json.loads(p)
        for (p,) in db.execute(
            "SELECT payload FROM audit_events WHERE action = 'derivations_linked' ORDER BY seq"
        )
    ]
    pass_s = events[0]["elapsed_s"] if events else float("nan")
    pass_cpu_s = events[0].get("cpu_s", float("nan")) if events else float("nan")

    def name(path: str) -> str:
        return Path(path).name

    truth = {t.derived: t for t in truths}
    predicted = {name(x["derived"]): x for x in links}
    right = [d for d, x in predicted.items() if d in truth and truth[d].source == name(x["source"])]
    undirected = set(right)
    for d, x in predicted.items():
        s = name(x["source"])
        if s in truth and truth[s].source == d:
            undirected.add(d)
    precision = len(right) / len(predicted) if predicted else 0.0
    recall = len(right) / len(truths)
    wrong = Counter()
    for d, x in predicted.items():
        if d in right:
            continue
        s = name(x["source"])
        kind = (
            "reversed" if s in truth and truth[s].source == d
            else "sibling" if d in truth and s in truth and truth[s].source == truth[d].source
            else "to_donor_or_other"
        )  # fmt: skip
        wrong[f"{d.split('_')[0]}->{s.split('_')[0]}:{kind}"] += 1

    # change masks of the right links, in the derived picture's work frame
    masks = {}
    for sha_a, sha_b, mask_a, mask_b in db.execute(
        "SELECT sha_a, sha_b, mask_a, mask_b FROM derivation_pairs WHERE related = 1"
    ):
        masks[(sha_a, sha_b)] = mask_a
        masks[(sha_b, sha_a)] = mask_b
    ious, by_edit = [], {}
    for d in right:
        x = predicted[d]
        png = masks.get((x["derived_sha256"], x["source_sha256"]))
        if png is None:
            continue
        found = np.asarray(Image.open(__import__("io").BytesIO(png)).convert("L")) > 0
        true = np.asarray(Image.open(root / "truth" / truth[d].mask).convert("L")) > 0
        true = cv2.resize(true.astype(np.uint8), found.shape[::-1], interpolation=cv2.INTER_NEAREST)
        inter, union = float((found & (true > 0)).sum()), float((found | (true > 0)).sum())
        iou = inter / union if union else 1.0
        ious.append(iou)
        by_edit.setdefault(truth[d].edit, []).append(iou)

    swap_total = swap_right = swap_undecided = 0
    swap_conf = Counter()
    for d in right:
        expected = truth[d].edit == "face_paste"
        got = predicted[d]["face_swap"]
        swap_total += 1
        swap_right += got == expected
        swap_undecided += got is None
        swap_conf[f"truth={expected} got={got}"] += 1

    # PDQ alone: every pair of images within 31 bits over the 8 dihedral variants
    paths = dict(db.execute(
        "SELECT l.sha256, l.path FROM locations l JOIN contents c ON c.sha256 = l.sha256 "
        "WHERE c.is_image = 1"))  # fmt: skip
    pdq = [(name(paths[s]), p, (v or "").split(","))
           for s, p, v in db.execute("SELECT sha256, pdq, pdq_dihedral FROM contents "
                                     "WHERE is_image = 1 AND pdq IS NOT NULL")]  # fmt: skip
    t1 = time.monotonic()

    def words(hex_hash: str) -> np.ndarray:
        return np.frombuffer(bytes.fromhex(hex_hash), dtype=">u8").astype(np.uint64)

    names = [n for n, _, _ in pdq]
    plain = np.stack([words(p) for _, p, _ in pdq])
    variants = np.stack([np.stack([words(v) for v in vs if v]) for _, _, vs in pdq])
    pdq_pairs = set()
    for i in range(len(names)):
        # every variant of picture i against the plain hash of every picture
        distance = np.bitwise_count(variants[i][:, None, :] ^ plain[None, :, :]).sum(-1).min(0)
        for j in np.flatnonzero(distance <= PDQ_THRESHOLD):
            if j != i:
                pdq_pairs.add(tuple(sorted((names[i], names[j]))))
    pdq_s = time.monotonic() - t1
    pdq_true = {tuple(sorted((t.derived, t.source))) for t in truths}
    pdq_right = pdq_pairs & pdq_true
    pdq_precision = len(pdq_right) / len(pdq_pairs) if pdq_pairs else 0.0
    pdq_recall = len(pdq_right) / len(truths)
    pdq_by_edit = Counter(truth[a if a in truth else b].edit for a, b in pdq_right)

    n_images = len(sources) + len(truths) + len(unrelated)
    lines = [
        f"machine: {platform.node()} {os.cpu_count()} cores, {platform.processor() or ''}"
        f" python {platform.python_version()}; load before {load_before}, after {os.getloadavg()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"seed {args.seed} "
        f"({'TUNING seed' if args.seed in TUNING_SEEDS else 'held-out seed; tuned on seeds 1, 2'})",
        f"images {n_images}: sources {len(sources)}, derived {len(truths)}, "
        f"unrelated {len(unrelated)}",
        f"scan (faces + PDQ + derivation pass) {scan_s:.1f} s; derivation pass {pass_s:.1f} s "
        f"(target < 300 s for 2,000 images) with {args.workers} workers, "
        f"CPU {pass_cpu_s:.1f} s (pass process + its workers)",
        f"links reported {len(predicted)}; right (source and direction) {len(right)}",
        f"link precision {precision:.4f} (target >= 0.99)   recall {recall:.4f} (target >= 0.95)",
        f"undirected: precision {len(undirected) / max(1, len(predicted)):.4f} "
        f"recall {len(undirected) / len(truths):.4f}",
        f"wrong links by kind: {dict(wrong)}",
        f"mean change-mask IoU {np.mean(ious) if ious else float('nan'):.4f} (target >= 0.7) over "
        f"{len(ious)} right links; by edit "
        + ", ".join(f"{k} {np.mean(v):.3f} (n={len(v)})" for k, v in sorted(by_edit.items())),
        f"face-swap accuracy {swap_right / max(1, swap_total):.4f} over {swap_total} right links "
        f"(undecided {swap_undecided}); {dict(swap_conf)}",
        f"missed derived images by edit: "
        f"{dict(Counter(t.edit for t in truths if t.derived not in right))}",
        f"PDQ alone (<= {PDQ_THRESHOLD} bits, 8 dihedral variants, undirected): pairs "
        f"{len(pdq_pairs)}, precision {pdq_precision:.4f}, recall {pdq_recall:.4f}; found by "
        f"edit {dict(pdq_by_edit)} ({pdq_s:.1f} s all-pairs)",
    ]
    text = "\n".join(lines)
    print(text)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"derivation-seed{args.seed}-{time.strftime('%Y%m%d-%H%M')}.txt").write_text(text + "\n")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
