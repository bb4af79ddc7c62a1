"""Victim count benchmark: does `consentry persons` say who is depicted, and how many?

Builds a case like the one behind consentry, from harmless labelled photos only
(``../shared/data/faces``: LFW, ORL, Yale B; the ``openpeople`` synthetic persons; FFHQ photos
from ``../shared/data/realfake/real`` as one-off distractor people; generated pictures without
people): about 25 identities with 3-30 images each, in folders named after them (fictional
names), some images misfiled into another person's folder, distractor images in ``misc/`` and
``DCIM/``. About half of the identities are enrolled with a consent record and two reference
photos that are not among the scanned images. Then it runs the real commands, in subprocesses:
``consentry scan``, ``consentry person add`` for each enrolled identity, ``consentry persons
--json``, and compares with the truth:

- enrolled precision / recall per image (an (enrolled person, image location) pair is a
  positive when the person is reported for the image at the ``match`` level), and the recall
  again over the images where the person's face is usable (identity is never decided on
  faces under 48 px, blurred or in profile: those are only ``possible``);
- B-cubed precision / recall of the unidentified groups over the usable faces of people who are
  not enrolled (a face is its photo's labelled person when it is the photo's largest face, or any
  face of an openpeople sheet; other faces are background people, each its own person);
- the estimated number of persons (with bounds) against the true number.

Honest numbers: the face thresholds come from ``bench/face_verification.py``'s calibration
identities (seed 20260101). By default this benchmark uses only the *other* half (``--split
held-out``; openpeople and FFHQ, never used for calibration, are halved the same way), so no
figure comes from identities a threshold was chosen on. ``--split calibration`` is the half
for development.

``--enroll-from real`` enrolls only identities with real faces: the synthetic openpeople
persons look alike (``analyzers/faces.py``: FAR 6-10 % at the match threshold), and the default
``all`` keeps them in to show what that costs.

``--synthetic-speed`` instead measures speed with random unit vectors: matching 10,000 faces
against 1,000 enrolled persons (2 templates each, decryption included) and clustering 10,000
faces, plus a full ``refresh_identities`` on a case store holding them.

Usage: python bench/victim_count.py [--split held-out|calibration] [--seed N] [--keep DIR]
                                   [--enroll-from all|real]
       python bench/victim_count.py --synthetic-speed
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
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import face_verification as fv  # noqa: E402 - the calibration split lives there

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TARGET_IDENTITIES = 25
MIN_IMAGES, MAX_IMAGES = 3, 30
REFERENCES = 2
MISFILED_SHARE = 0.1
FFHQ_DISTRACTORS = 12
NO_PEOPLE_IMAGES = 15
FIRST = (  # noqa: SIM905 - a word list reads better as text
    "Avery Blake Casey Devon Emery Finley Harper Jordan Kai Rowan Sasha Morgan Taylor Quinn "
    "Reese Skyler Alexis Jamie Robin Dana Elliot Noa Lou Ari Sam Kit Mika Tove Lene Ines"
).split()
LAST = (  # noqa: SIM905
    "Lane Moreno Ito Price Stone Shaw Vale Brooks Ellis Novak Berg Costa Hale Marsh Nils Okafor "
    "Petrov Ruiz Sato Tamm Ueda Varga Weiss Young Zhou Adler Bauer Cruz Dahl Falk"
).split()


@dataclass
class Identity:
    key: str  # dataset/identity
    name: str  # fictional name used for its folder and enrollment
    images: list[Path]
    sheets: bool  # openpeople: every face of an image is this person
    enrolled: bool = False
    references: list[Path] = field(default_factory=list)


@dataclass
class Placed:
    truth: str  # identity key, "distractor:<n>", or "" (no person)
    sheets: bool
    misfiled: bool = False  # put in another identity's folder


def split_people(data: Path, split: str) -> tuple[list[Identity], list[Path]]:
    """Identities of the chosen half, and the FFHQ distractor photos of the same half."""
    real = fv.load_real(data)
    fake = [fv.Sample(d, i, "", np.zeros(1), True) for d, people in real.items() for i in people]
    calibration, held_out = fv.split_identities(fake, fv.SEED)
    chosen = calibration if split == "calibration" else held_out
    keys = {(s.dataset, s.identity) for s in chosen}
    people = [
        Identity(f"{d}/{i}", "", paths, False)
        for d, persons in real.items()
        for i, paths in persons.items()
        if (d, i) in keys
    ]
    # openpeople and FFHQ were never calibrated on; halve them the same way for symmetry
    rng = np.random.default_rng(fv.SEED)
    op = sorted(fv.load_openpeople().items())
    order = rng.permutation(len(op))
    half = set(order[: (len(op) + 1) // 2].tolist())
    people += [
        Identity(f"openpeople/{name}", "", paths, True)
        for k, (name, paths) in enumerate(op)
        if (k in half) == (split == "calibration")
    ]
    ffhq = fv.image_files(data / "realfake" / "real")
    order = rng.permutation(len(ffhq))
    half = set(order[: (len(ffhq) + 1) // 2].tolist())
    distractors = [p for k, p in enumerate(ffhq) if (k in half) == (split == "calibration")]
    return people, distractors


def single_face_photos(paths: list[Path]) -> list[Path]:
    """Photos with exactly one usable face: what a person would give as reference."""
    from consentry.analyzers.faces import FaceAnalyzer
    from consentry.media.decode import decode_image

    analyzer = FaceAnalyzer()
    good = []
    for path in paths:
        faces = analyzer.analyze(decode_image(path.read_bytes()).rgb).faces
        if len(faces) == 1 and faces[0].usable:
            good.append(path)
    return good


def no_people_image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(300, 700)), int(rng.integers(300, 700))
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack(
        [(x * (seed % 5 + 1)) % 256, (y * (seed % 3 + 1)) % 256, (x + y + seed * 37) % 256], -1
    )
    img = Image.fromarray(
        np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8), "RGB"
    )
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        draw.rectangle(
            [x0, y0, x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))],
            fill=tuple(int(v) for v in rng.integers(0, 255, 3)),
        )
    return img


def build_case(
    data: Path, split: str, seed: int, root: Path, enroll_from: str = "all"
) -> tuple[list[Identity], dict[str, Placed], int]:
    """Lay out the evidence under root/evidence; returns identities, truth per file, distractors."""
    people, ffhq = split_people(data, split)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(people))
    victims = [people[i] for i in order[:TARGET_IDENTITIES]]
    extra = [people[i] for i in order[TARGET_IDENTITIES:]]  # one image each, as distractors
    names = [f"{FIRST[i % len(FIRST)]} {LAST[(i * 7 + seed) % len(LAST)]}" for i in range(60)]
    enrolled = set(rng.permutation(len(victims))[: len(victims) // 2].tolist())
    evidence = root / "evidence"
    truth: dict[str, Placed] = {}
    folder_of: dict[str, Path] = {}
    plan: list[tuple[Identity, Path]] = []
    for k, person in enumerate(victims):
        person.name = names[k]
        pool = list(person.images)
        rng.shuffle(pool)
        eligible = enroll_from == "all" or not person.key.startswith("openpeople/")
        if k in enrolled and eligible:
            candidates = single_face_photos(pool)
            if len(candidates) >= REFERENCES and len(pool) >= REFERENCES + MIN_IMAGES:
                person.enrolled = True
                person.references = candidates[:REFERENCES]
                pool = [p for p in pool if p not in person.references]
        count = int(rng.integers(MIN_IMAGES, min(MAX_IMAGES, len(pool)) + 1))
        folder = evidence / person.name.replace(" ", "_")
        folder_of[person.key] = folder
        plan += [(person, p) for p in pool[:count]]
    # misfile a share of the images into another victim's folder
    keys = [v.key for v in victims]
    for n, (person, photo) in enumerate(plan):
        folder = folder_of[person.key]
        if rng.random() < MISFILED_SHARE:
            other = keys[int(rng.integers(len(keys)))]
            folder = folder_of[other] if other != person.key else folder
        target = folder / f"{n:04d}{photo.suffix.lower()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, target)
        truth[str(target)] = Placed(person.key, person.sheets, folder != folder_of[person.key])
    distractors = 0
    misc = evidence / "misc"
    misc.mkdir(parents=True, exist_ok=True)
    for n, photo in enumerate(ffhq[:FFHQ_DISTRACTORS]):
        target = misc / f"ffhq_{n:03d}.jpg"
        shutil.copyfile(photo, target)
        truth[str(target)] = Placed(f"distractor:ffhq:{n}", False)
        distractors += 1
    for person in extra:
        target = misc / f"other_{person.key.replace('/', '_')}{person.images[0].suffix.lower()}"
        shutil.copyfile(person.images[0], target)
        truth[str(target)] = Placed(person.key, person.sheets)
        distractors += 1
    dcim = evidence / "DCIM" / "Camera"
    dcim.mkdir(parents=True, exist_ok=True)
    for n in range(NO_PEOPLE_IMAGES):
        target = dcim / f"IMG_{n:04d}.jpg"
        no_people_image(seed * 100 + n).save(target, "JPEG", quality=90)
        truth[str(target)] = Placed("", False)
    return victims, truth, distractors


def consentry(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("consentry")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "consentry.cli.main"]
    result = subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"consentry {' '.join(map(str, args[:2]))} failed:\n{result.stderr}")
    return result


def face_truth(
    case: Path, truth: dict[str, Placed]
) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str], dict[str, list[str]]]:
    """Per usable face: its true person and its predicted one (enrolled code at match level,
    else its group); paths per content."""
    db = sqlite3.connect(case / "case.sqlite")
    paths: dict[str, list[str]] = defaultdict(list)
    for path, sha in db.execute("SELECT path, sha256 FROM locations WHERE sha256 IS NOT NULL"):
        paths[sha].append(path)
    faces = db.execute(
        "SELECT sha256, face_index, size_px, usable FROM faces ORDER BY sha256, face_index"
    ).fetchall()
    codes = dict(db.execute("SELECT id, code FROM persons"))
    matched = {
        (s, i): codes[p]
        for s, i, p in db.execute(
            "SELECT sha256, face_index, person_id FROM face_matches WHERE level='match'"
        )
    }
    groups = {
        (s, i): codes[p]
        for s, i, p in db.execute("SELECT sha256, face_index, person_id FROM face_clusters")
    }
    largest: dict[str, tuple[float, int]] = {}
    for sha, index, size, _ in faces:
        if sha not in largest or size > largest[sha][0]:
            largest[sha] = (size, index)
    true_of: dict[tuple[str, int], str] = {}
    pred_of: dict[tuple[str, int], str] = {}
    for sha, index, _, usable in faces:
        if not usable:
            continue
        placed = truth.get(paths[sha][0]) if paths.get(sha) else None
        if placed is None:
            continue
        if placed.truth and (placed.sheets or largest[sha][1] == index):
            true_of[(sha, index)] = placed.truth
        else:
            true_of[(sha, index)] = f"background:{sha}:{index}"
        pred_of[(sha, index)] = matched.get((sha, index)) or groups.get(
            (sha, index), f"none:{sha}:{index}"
        )
    return true_of, pred_of, paths


def bcubed(true_of: dict[object, str], pred_of: dict[object, str]) -> tuple[float, float]:
    items = list(true_of)
    if not items:
        return float("nan"), float("nan")
    by_true: dict[str, set[object]] = defaultdict(set)
    by_pred: dict[str, set[object]] = defaultdict(set)
    for item in items:
        by_true[true_of[item]].add(item)
        by_pred[pred_of[item]].add(item)
    precision = recall = 0.0
    for item in items:
        same = by_true[true_of[item]] & by_pred[pred_of[item]]
        precision += len(same) / len(by_pred[pred_of[item]])
        recall += len(same) / len(by_true[true_of[item]])
    return precision / len(items), recall / len(items)


def run_case(args: argparse.Namespace) -> int:
    data = args.data
    if not (data / "faces").is_dir():
        print(f"skipped: no labelled faces under {data / 'faces'}", file=sys.stderr)
        return 0
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="victim_count-"))
    if root.exists() and args.keep:
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    victims, truth, distractors = build_case(data, args.split, args.seed, root, args.enroll_from)
    case = root / "case"
    t0 = time.perf_counter()
    consentry("scan", root / "evidence", "--case", case, "--workers", str(args.workers), "-q")
    scan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    code_of: dict[str, str] = {}
    for person in victims:
        if not person.enrolled:
            continue
        consent = root / f"consent-{person.name.replace(' ', '_')}.json"
        consent.write_text(
            json.dumps(
                {
                    "consented_by": person.name,
                    "consented_at": "2026-01-15",
                    "scope": "search this benchmark case for images depicting me",
                    "recorded_by": "bench/victim_count.py",
                }
            )
        )
        consentry(
            "person",
            "add",
            "--case",
            case,
            "--name",
            person.name,
            "--consent",
            consent,
            *person.references,
        )
    enroll_s = time.perf_counter() - t0
    report = json.loads(consentry("persons", "--case", case, "--json").stdout)
    for p in report["persons"]:
        if p["kind"] == "enrolled":
            code_of[p["name"]] = p["id"]
    enrolled_key = {code_of[v.name]: v.key for v in victims if v.enrolled}

    # enrolled precision / recall per image location
    tp = fp = fn = 0
    false_paths: list[str] = []
    reported = {p["id"]: set(p["items"]) for p in report["persons"] if p["kind"] == "enrolled"}
    for code, key in enrolled_key.items():
        for path, placed in truth.items():
            positive = placed.truth == key
            said = path in reported.get(code, set())
            tp += positive and said
            fn += positive and not said
            if said and not positive:
                fp += 1
                false_paths.append(f"{code} ({key}) reported for {path} ({placed.truth or '-'})")
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")

    # B-cubed over the usable faces of people who are not enrolled
    true_of, pred_of, paths_of = face_truth(case, truth)
    # the same recall, counting only images where the person's face is usable (>= 48 px,
    # sharp, frontal): identity decisions are never made on the others
    visible = {(t, p) for (sha, _), t in true_of.items() for p in paths_of[sha]}
    tp_v = fn_v = 0
    for code, key in enrolled_key.items():
        for path, placed in truth.items():
            if placed.truth == key and (key, path) in visible:
                said = path in reported.get(code, set())
                tp_v += said
                fn_v += not said
    recall_visible = tp_v / (tp_v + fn_v) if tp_v + fn_v else float("nan")
    enrolled_keys = set(enrolled_key.values())
    rest = {k: t for k, t in true_of.items() if t not in enrolled_keys}
    b_precision, b_recall = bcubed(rest, {k: pred_of[k] for k in rest})  # type: ignore[arg-type]

    present = {p.truth for p in truth.values() if p.truth}
    victims_present = {v.key for v in victims} & present
    count = report["count"]
    true_total = len(present)
    estimate = count["estimate"]
    error = (estimate - true_total) / true_total
    images = sum(1 for p in truth.values())
    lines = [
        f"# Victim count benchmark ({args.split} identities, seed {args.seed}, enrolled "
        f"from {'all identities' if args.enroll_from == 'all' else 'real faces only'})",
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}",
        f"case: {len(victims)} identities with {MIN_IMAGES}-{MAX_IMAGES} images "
        f"({sum(v.enrolled for v in victims)} enrolled with {REFERENCES} reference photos each, "
        f"not among the scanned), {distractors} distractor persons (1 image each), "
        f"{NO_PEOPLE_IMAGES} images without people; {images} images, "
        f"{MISFILED_SHARE:.0%} misfiled on average",
        f"timing: scan {scan_s:.1f} s ({args.workers} workers), enrollment {enroll_s:.1f} s, "
        f"total {time.perf_counter() - started:.1f} s",
        "",
        "| measure | value | target |",
        "|---|---:|---|",
        f"| enrolled precision (per image, match level) | {precision:.3f} ({tp}/{tp + fp}) "
        f"| >= 0.99 |",
        f"| enrolled recall (per image) | {recall:.3f} ({tp}/{tp + fn}) | >= 0.95 |",
        f"| enrolled recall, images where their face is usable | {recall_visible:.3f} "
        f"({tp_v}/{tp_v + fn_v}) | |",
        f"| enrolled persons reported for an image they are not in | {fp} | 0 |",
        f"| B-cubed precision, not-enrolled usable faces ({len(rest)}) | {b_precision:.3f} | |",
        f"| B-cubed recall, not-enrolled usable faces | {b_recall:.3f} | |",
        f"| persons depicted (truth: {len(victims_present)} identities + "
        f"{true_total - len(victims_present)} distractors) | {true_total} | |",
        f"| estimated persons [lower, upper] | {estimate} [{count['lower_bound']}, "
        f"{count['upper_bound']}] | within +-10% |",
        f"| estimate error | {error:+.1%} | |",
        f"| count detail | {count['enrolled_matched']} enrolled matched, "
        f"{count['unidentified_strong']} groups 2+ images, {count['unidentified_weak']} "
        f"seen once, {count['unidentified_likely_enrolled']} likely enrolled; "
        f"{count['unattributed_faces']} faces unattributed | |",
        f"| truth with 2+ images vs lower bound | {len(victims_present)} vs "
        f"{count['lower_bound']} | |",
    ]
    met = precision >= 0.99 and recall >= 0.95 and fp == 0 and abs(error) <= 0.10
    lines.append("")
    lines.append(f"targets {'met' if met else 'NOT met'}")
    for line in false_paths[:10]:
        lines.append(f"  false: {line}")
    # misfiled images: a person's images outside the folder holding most of them
    flagged = set()
    for p in report["persons"]:
        if p["folders"]:
            main_folder = p["folders"][0]["folder"]
            flagged |= {i for i in p["items"] if i.rpartition("/")[0] != main_folder}
    misfiled = {path for path, placed in truth.items() if placed.misfiled}
    lines.append(
        f"misfiled images: {len(misfiled)}; shown outside their person's main folder: "
        f"{len(misfiled & flagged)} of them, plus {len(flagged - misfiled)} others "
        "(background people, split groups)"
    )
    kinds = Counter(i["kind"] for i in report["inconsistencies"])
    lines.append(f"folder reconciliation: {dict(kinds)}")
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"case kept in {root}")
    return 0


def synthetic_speed(args: argparse.Namespace) -> int:
    """Matching 10,000 x 1,000 persons and clustering 10,000 faces, random unit vectors."""
    from cryptography.fernet import Fernet

    from consentry.persons.clustering import cluster_faces
    from consentry.persons.matching import TemplateSet, match_faces
    from consentry.persons.template_crypto import TemplateKey

    rng = np.random.default_rng(args.seed)

    def unit(n: int) -> np.ndarray:
        x = rng.normal(size=(n, 128)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def clustered(persons: int, per: int, noise: float = 0.07) -> np.ndarray:
        centres = unit(persons)
        x = np.repeat(centres, per, axis=0) + rng.normal(size=(persons * per, 128)) * noise
        x = x.astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    print(
        f"# Identity speed (random unit vectors), {platform.node()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print("| step | size | seconds | target |")
    print("|---|---|---:|---|")
    key = TemplateKey(Fernet(Fernet.generate_key()), "bench")
    tokens = [key.encrypt(v) for v in unit(2000)]
    faces = unit(10_000)
    usable = np.ones(len(faces), dtype=bool)
    t0 = time.perf_counter()
    templates = TemplateSet(
        np.stack([key.decrypt(t) for t in tokens]), np.repeat(np.arange(1000), 2)
    )
    match_faces(faces, usable, templates)
    print(
        f"| decrypt + match | 10,000 faces x 1,000 persons (2,000 templates) | "
        f"{time.perf_counter() - t0:.2f} | < 5 |"
    )
    for label, x in (
        ("cluster, no structure", unit(10_000)),
        ("cluster, 1,000 persons x 10 faces", clustered(1000, 10)),
        ("cluster, 100 persons x 100 faces", clustered(100, 100)),
        ("cluster, 5 persons x 2,000 faces", clustered(5, 2000)),
    ):
        t0 = time.perf_counter()
        result = cluster_faces(x)
        print(
            f"| {label} ({result.new_groups} groups) | 10,000 faces | "
            f"{time.perf_counter() - t0:.2f} | < 60 |"
        )
    print(
        f"| refresh_identities on a case store | 10,000 faces, 1,000 persons | "
        f"{refresh_speed(clustered(1000, 10), key):.2f} | |"
    )
    return 0


def refresh_speed(faces: np.ndarray, key: object) -> float:
    """The whole case-level pass (load, decrypt, match, cluster, store) on a synthetic store."""
    from cryptography.fernet import Fernet

    from consentry.persons.refresh import refresh_identities
    from consentry.persons.template_crypto import ENV_VAR
    from consentry.store.case import open_case
    from consentry.store.persons_store import NewTemplate, PersonsStore

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[ENV_VAR] = Fernet.generate_key().decode()
        case = open_case(Path(tmp) / "case", create=True)
        from consentry.persons.refresh import template_key

        ps = PersonsStore(case.store.engine)
        real_key = template_key(ps, case.path)
        with case.store.engine.begin() as conn:
            shas = [f"{i:064x}" for i in range(len(faces))]
            conn.exec_driver_sql(
                "INSERT INTO contents (sha256, md5, sha1, size, mime, is_image) "
                "VALUES (?, '', '', 0, 'image/jpeg', 1)",
                [(s,) for s in shas],
            )
            conn.exec_driver_sql(
                "INSERT INTO faces (sha256, face_index, box_x, box_y, box_w, box_h, "
                "analysis_side, landmarks, detector_score, size_px, sharpness, frontalness, "
                "usable, flags, embedding) VALUES (?, 0, 0, 0, 100, 100, 512, '[]', 0.9, 100, "
                "100, 1, 1, '', ?)",
                [(s, v.astype("<f4").tobytes()) for s, v in zip(shas, faces, strict=True)],
            )
        rng = np.random.default_rng(1)
        for p in range(1000):
            templates = []
            for t in range(2):
                v = rng.normal(size=128).astype(np.float32)
                templates.append(
                    NewTemplate(
                        f"{p:060x}{t:04x}",
                        "0" * 32,
                        None,
                        None,
                        0,
                        {},
                        real_key.encrypt(v / np.linalg.norm(v)),
                    )
                )
            ps.add_enrolled(
                f"P {p}",
                json.dumps(
                    {
                        "consented_by": "x",
                        "consented_at": "2026-01-01",
                        "scope": "s",
                        "recorded_by": "r",
                        "method": None,
                        "on_behalf_of": None,
                        "reference": None,
                        "expires_at": None,
                        "notes": None,
                    }
                ),
                "0" * 64,
                None,
                templates,
            )
        t0 = time.perf_counter()
        refresh_identities(case.store, case.path)
        elapsed = time.perf_counter() - t0
        case.close()
        del os.environ[ENV_VAR]
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=["held-out", "calibration"], default="held-out")
    parser.add_argument("--seed", type=int, default=7, help="case composition seed")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--enroll-from",
        choices=["all", "real"],
        default="all",
        help="which identities may be enrolled: all, or real faces only (not the synthetic "
        "openpeople persons, who look alike: FAR 6-10%% at the match threshold)",
    )
    parser.add_argument("--keep", default=None, help="build the case in this folder and keep it")
    parser.add_argument("--synthetic-speed", action="store_true")
    args = parser.parse_args(argv)
    if args.synthetic_speed:
        return synthetic_speed(args)
    return run_case(args)


if __name__ == "__main__":
    sys.exit(main())
