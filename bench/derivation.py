"""Derivation linking benchmark: does consentry link each edited copy to the photo it was made
from, with the right change mask and face verdict, and nothing else?

Builds a case from harmless photos (``bench/derivation_corpus.py``: LFW, FFHQ, StyleGAN faces as
sources, each with edited copies of known change mask — region inpainted, region replaced by
texture, a face of another identity pasted with cv2.seamlessClone, a region recoloured — then
cropped <= 20 %, resized 0.5-1.5x, mirrored, sometimes turned, JPEG q60-95; Yale B / ORL and the
colour photos not drawn as sources are the unrelated images), runs the real ``consentry scan``
(which runs the derivation pass at its end; its time is read from the audit log) and
``consentry links --json``, and prints:

- link precision and recall (of the derived images). A link is right when it joins a derived
  image and its source and does not state the wrong direction: a stated direction that is
  wrong is an error; "direction unknown" (``links --json`` ``direction``, see
  ``consentry.derivation.direction.direction_stated``) on a true pair is right, and counted
  and reported separately, as is the old strict score (direction stated and right);
- the negatives of issue 13: links touching template shots of different people (and how many
  of them are called a face swap: target 0) and burst shots; the resized copies without
  metadata and how their direction was stated;
- mean IoU of the change mask against the true mask (in the derived picture, correct links);
- face-swap accuracy (face paste, small or not -> true, other edits -> false; "cannot tell"
  counts as wrong);
- the same linking by PDQ alone (distance <= 31 over all 8 rotations/flips), undirected;
- the pass's time over the whole case.

Honest numbers: earlier versions were tuned on seeds 1 and 2 and reported on seeds 2, 3 and 4
(docs/benchmarks.md), so seeds 1-4 have all been seen. Issue 13's rules and thresholds were
developed on seeds 1 and 2 only (TUNING_SEEDS; their template shots are openpeople persons
P001-P005) and are reported on **seed 5**, a new draw (its template shots are persons
P006-P010), run once at the end with the final code. The output says which kind of seed it is.

Usage: python bench/derivation.py [--seed 5] [--images 2000] [--sources 250] [--workers 2]
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
TUNING_SEEDS = corpus.TUNING_SEEDS
SWAP_EDITS = ("face_paste", "face_paste_small")  # the edits whose face verdict must be True
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
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--sources", type=int, default=250)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", type=Path, default=None, help="Keep corpus and case here.")
    parser.add_argument(
        "--relink",
        action="store_true",
        help="With --keep: re-choose the links of the kept case (cached pair checks are reused "
        "where the verification version is unchanged); times then are not the pass's",
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="consentry-derivation-"))
    root = work / f"corpus-{args.seed}"
    if (root / "truth.json").exists():
        truths, sources, unrelated = corpus.load_truth(root)
    else:
        shutil.rmtree(root, ignore_errors=True)
        truths, sources, unrelated = corpus.build_corpus(root, args.seed, args.sources, args.images)
    case = work / f"case-{args.seed}"
    relink = args.relink and (case / "case.sqlite").exists()
    if not relink:
        shutil.rmtree(case, ignore_errors=True)
    print(f"seed {args.seed} ({'tuning' if args.seed in TUNING_SEEDS else 'held out from tuning'})"
          f"; {len(sources)} sources, {len(truths)} derived, {len(unrelated)} unrelated "
          f"= {len(sources) + len(truths) + len(unrelated)} images; "
          f"edits {dict(Counter(t.edit for t in truths))}")  # fmt: skip
    load_before = os.getloadavg()
    t0 = time.monotonic()
    if not relink:
        _run(["scan", str(root / "evidence"), "--case", str(case), "--workers",
              str(args.workers), "-q", "--skip", "explicit"])  # fmt: skip
    scan_s = time.monotonic() - t0
    links = json.loads(_run(["links", "--case", str(case), "--json"]))["links"]
    db = sqlite3.connect(case / "case.sqlite")
    events = [
        json.loads(p)
        for (p,) in db.execute(
            "SELECT payload FROM audit_events WHERE action = 'derivations_linked' ORDER BY seq"
        )
    ]
    pass_s = events[-1]["elapsed_s"] if events else float("nan")
    pass_cpu_s = events[-1].get("cpu_s", float("nan")) if events else float("nan")

    def name(path: str) -> str:
        return Path(path).name

    truth = {t.derived: t for t in truths}
    pair_truth = {frozenset((t.derived, t.source)): t for t in truths}
    right: dict[str, dict] = {}  # true derived image -> its right link (pair right, no wrong
    stated_right = stated_wrong = unknown = 0  # direction stated)
    strict = 0  # the old score: source and direction both named right
    wrong = Counter()
    right_cues, wrong_cues = Counter(), Counter()  # the cues a stated direction rested on
    for x in links:
        d, s = name(x["derived"]), name(x["source"])
        t = pair_truth.get(frozenset((d, s)))
        stated = x.get("direction", "stated") == "stated"
        if t is not None:
            cues = "+".join(sorted(c["cue"] for c in x["evidence"].get("direction", []))) or "none"
            if stated and d != t.derived:
                stated_wrong += 1
                wrong[f"{t.edit}:stated_reversed"] += 1
                wrong_cues[cues] += 1
                continue
            if stated:
                right_cues[cues] += 1
            stated_right += stated
            unknown += not stated
            strict += stated
            right[t.derived] = x
            continue
        kind = (
            "template" if d.startswith("template_") and s.startswith("template_")
            else "burst" if d.startswith("burst_") or s.startswith("burst_")
            else "template_other" if d.startswith("template_") or s.startswith("template_")
            else "sibling" if d in truth and s in truth and truth[s].source == truth[d].source
            else "to_copy_of_source"
            if d in truth and s in truth and truth[s].edit == "resized_copy"
            and truth[s].source == truth[d].source
            else "to_donor_or_other"
        )  # fmt: skip
        wrong[f"{d.split('_')[0]}->{s.split('_')[0]}:{kind}"] += 1
    precision = len(right) / len(links) if links else 0.0
    recall = len(right) / len(truths)
    template_links = [x for x in links
                      if name(x["derived"]).startswith("template_")
                      or name(x["source"]).startswith("template_")]  # fmt: skip
    template_swaps = sum(x["face_swap"] is True for x in template_links)
    burst_links = sum(
        name(x["derived"]).startswith("burst_") or name(x["source"]).startswith("burst_")
        for x in links
    )
    n_templates = sum(u.startswith("template_") for u in unrelated)
    n_bursts = sum(u.startswith("burst_") for u in unrelated)
    resized = [t for t in truths if t.edit == "resized_copy"]
    resized_dir = Counter(
        "unknown" if right[t.derived].get("direction") == "unknown" else "stated right"
        for t in resized
        if t.derived in right
    )
    resized_dir["stated wrong"] = wrong.get("resized_copy:stated_reversed", 0)

    # change masks of the right links, in the true derived picture's work frame
    masks = {}
    for sha_a, sha_b, mask_a, mask_b in db.execute(
        "SELECT sha_a, sha_b, mask_a, mask_b FROM derivation_pairs WHERE related = 1"
    ):
        masks[(sha_a, sha_b)] = mask_a
        masks[(sha_b, sha_a)] = mask_b
    ious, by_edit = [], {}
    for d, x in right.items():
        if truth[d].edit == "resized_copy":
            continue  # nothing changed: no mask to compare
        if name(x["derived"]) == d:
            key = (x["derived_sha256"], x["source_sha256"])
        else:
            key = (x["source_sha256"], x["derived_sha256"])
        png = masks.get(key)
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
    for d, x in right.items():
        expected = truth[d].edit in SWAP_EDITS
        got = x["face_swap"]
        swap_total += 1
        swap_right += got == expected
        swap_undecided += got is None
        swap_conf[f"{truth[d].edit}: truth={expected} got={got}"] += 1

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
    negative = ("template_", "burst_")
    pdq_negative = sum(a.startswith(negative) or b.startswith(negative) for a, b in pdq_pairs)

    n_images = len(sources) + len(truths) + len(unrelated)
    seed_kind = (
        "TUNING seed" if args.seed in TUNING_SEEDS else "held-out seed; issue 13 tuned on 1, 2"
    )
    lines = [
        f"machine: {platform.node()} {os.cpu_count()} cores, {platform.processor() or ''}"
        f" python {platform.python_version()}; load before {load_before}, after {os.getloadavg()}",
        f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"seed {args.seed} ({seed_kind})",
        f"images {n_images}: sources {len(sources)}, derived {len(truths)}, "
        f"unrelated {len(unrelated)}",
        (
            "RE-LINKED from the kept case: times below are those of the last pass, not a scan; "
            if relink
            else ""
        )
        + f"scan (faces + PDQ + derivation pass) {scan_s:.1f} s; derivation pass {pass_s:.1f} s "
        f"(target < 300 s for 2,000 images) with {args.workers} workers, "
        f"CPU {pass_cpu_s:.1f} s (pass process + its workers)",
        f"links reported {len(links)}; right {len(right)} (pair right and no wrong direction "
        f"stated: {stated_right} stated right, {unknown} 'direction unknown'); "
        f"{stated_wrong} stated the wrong way round (errors)",
        f"link precision {precision:.4f} (target >= 0.99)   recall {recall:.4f} (target >= 0.95)",
        f"strict (old score, direction must be stated and right): precision "
        f"{strict / max(1, len(links)):.4f} recall {strict / len(truths):.4f}",
        f"direction: stated on {stated_right + stated_wrong} right pairs, wrong on {stated_wrong} "
        f"(accuracy of stated directions "
        f"{stated_right / max(1, stated_right + stated_wrong):.4f}); unknown on {unknown}; "
        f"cues of the right ones {dict(right_cues)}, of the wrong ones {dict(wrong_cues)}",
        f"resized copies without metadata: {len(resized)}, linked "
        f"{sum(resized_dir.values()) - resized_dir['stated wrong']}, "
        f"direction {dict(resized_dir)}",
        f"template shots of different people: {n_templates} images; links touching them "
        f"{len(template_links)}; called a face swap {template_swaps} (target 0)",
        f"burst shots: {n_bursts} images; links touching them {burst_links} (target 0)",
        f"wrong links by kind: {dict(wrong)}",
        f"mean change-mask IoU {np.mean(ious) if ious else float('nan'):.4f} (target >= 0.7) over "
        f"{len(ious)} right links; by edit "
        + ", ".join(f"{k} {np.mean(v):.3f} (n={len(v)})" for k, v in sorted(by_edit.items())),
        f"face-swap accuracy {swap_right / max(1, swap_total):.4f} over {swap_total} right links "
        f"(undecided {swap_undecided}); {dict(swap_conf)}",
        f"missed derived images by edit: "
        f"{dict(Counter(t.edit for t in truths if t.derived not in right))} "
        f"(of {dict(Counter(t.edit for t in truths))})",
        f"PDQ alone (<= {PDQ_THRESHOLD} bits, 8 dihedral variants, undirected): pairs "
        f"{len(pdq_pairs)}, precision {pdq_precision:.4f}, recall {pdq_recall:.4f}; found by "
        f"edit {dict(pdq_by_edit)} ({pdq_s:.1f} s all-pairs); pairs touching template or burst "
        f"shots {pdq_negative}",
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
