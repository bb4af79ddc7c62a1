#!/usr/bin/env python3
"""Scan throughput: consentry vs the python-threatexchange PDQ hasher vs a decode-only floor.

    python bench/scan_throughput.py [--n 1000] [--corpus DIR] [--workers N]

1. Corpus: >= 1,000 harmless JPEG photos of 1-12 MP in mixed sizes and aspect ratios, made
   (seeded, in parallel) from the face photos in ``../shared/data`` (FFHQ ``realfake/real`` and
   ``faces/lfw``): random crop, colour jitter, upscale, per-image grain, JPEG q85-95, some with an
   EXIF orientation tag. Cached in ``bench/corpus/<params-hash>/`` (git-ignored) and reused.
   ``--corpus DIR`` benchmarks an existing folder of images instead (nothing is generated).
2. Page cache warm-up: every file is read once, so that no contender pays the disk.
3. Floor: read + SHA-256 + Pillow JPEG draft decode to 512 px, on ``--workers`` processes.
4. consentry: the real CLI (``consentry scan DIR --case TMP --workers N -q --json``), three
   times: hashes only (``--skip explicit,faces,provenance --no-links``: SHA-256, MD5, SHA-1,
   EXIF, PDQ + 8 dihedral PDQ), every per-image analyzer (``--no-links``: + explicit, faces,
   provenance), and the default scan (+ the case-level derivation pass; this corpus is made of
   crops of ~100 photos, so it is dense in related pictures - a worst case for that pass), each
   in a subprocess, with its process tree's memory sampled from /proc and its peak RSS taken
   from ``wait4``.
5. Peer: ``PdqSignal.hash_from_file(path)`` from python-threatexchange, one process, as a user
   calls it; on a stratified (by megapixels) fixed-seed sample when ``--peer-n`` < n. Its CLI
   ``threatexchange hash photo FILE`` is timed on a few images too; the faster of the two is
   the peer.
6. Issue 12, as a user sees it: a stratified sample of ``--user-n`` photos (200; the same
   images as the peer's sample when ``--peer-n`` is equal) in a folder of their own, scanned in
   each configuration; the figure is the wall time of the whole ``consentry scan`` process
   (interpreter start-up, imports, worker spawn, model loading, exit included), next to the
   floor on the same photos and the peer's rate from step 5.
7. How the derivation pass scales: sets of N pictures with G of them cropped from each source
   photo (``--scaling N:G,...``), so that each set holds a known number of related pairs (N/G
   photos x G(G-1)/2); each is scanned with ``--no-links`` and then linked with
   ``consentry links`` (the pass the default scan runs at its end), both timed as processes;
   the pass's own time, candidate pairs, related pairs and phases come from its audit event.
8. Start-up: ``python -c pass``, ``consentry --version``, ``--help``, ``scan --help``, each
   ``--startup-repeats`` times in fresh processes.
9. Optional cProfile of ``consentry scan --workers 1`` on a small sample (``--profile-n``).

``--corpus-configs`` chooses which configurations of step 4 run on the whole corpus (the
default scan on 1,000 dense photos takes minutes).

Everything printed is also written to ``bench/out/scan_throughput-<date>.txt`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import io
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATA = ROOT.parent / "shared" / "data"
FFHQ_DIR = DATA / "realfake" / "real"
LFW_DIR = DATA / "faces" / "lfw"

GENERATOR_VERSION = "2"  # bump when the generator changes what it writes
MIN_MP, MAX_MP = 1.0, 12.0
MP_BINS = 4  # strata for samples: equal-width megapixel bins over [MIN_MP, MAX_MP]
ASPECTS = [(4, 3), (3, 2), (16, 9)]
LFW_MAX_MP = 3.0  # 250 px LFW faces are only upscaled to small targets; FFHQ serves all sizes
FLOOR_SIDE = 512
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic"}

# Targets, from the issues: hashes + PDQ (issue 2) and the full scan with analyzers (issue 3).
TARGET_VS_PEER = 10.0
TARGET_VS_FLOOR = 0.5
TARGET_RSS_BYTES = 1 << 30
FULL_TARGET_VS_PEER = 3.0
FULL_TARGET_RATE = 20.0
FULL_TARGET_RSS_BYTES = 1_500_000_000

# ---------------------------------------------------------------------------------------------
# output


class Log:
    """print() to stdout and to the output file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = path.open("w", encoding="utf-8")

    def __call__(self, *parts: Any) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        if self.fh is not None:
            self.fh.write(line + "\n")
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _default_out_path() -> Path:
    day = dt.date.today().isoformat()
    path = BENCH / "out" / f"scan_throughput-{day}.txt"
    k = 2
    while path.exists():
        path = BENCH / "out" / f"scan_throughput-{day}-{k}.txt"
        k += 1
    return path


def _loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"load average: {_loadavg()}"


def _wait_quiet(limit_s: float, threshold: float = 0.5) -> float:
    started = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - started < limit_s:
        time.sleep(5)
    return time.monotonic() - started


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# ---------------------------------------------------------------------------------------------
# machine and versions


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_bytes() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _git_state() -> str:
    """Commit of the tree under test, and which files under src/ differ from it."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %cd %s", "--date=iso"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head[:90]}" + (f"; uncommitted in src: {', '.join(changed)}" if changed else "")


def machine_lines(workers: int) -> list[str]:
    from PIL import features

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jpeg = features.version("jpg") or "?"
    turbo = " (libjpeg-turbo)" if features.check_feature("libjpeg_turbo") else ""
    libs = ", ".join(
        f"{d} {_version(d)}"
        for d in ("consentry", "threatexchange", "pdqhash", "pillow", "numpy", "sqlalchemy")
    )
    return [
        f"date:     {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"code:     {_git_state()}",
        f"machine:  {_cpu_model()}; {os.cpu_count()} cores ({usable} usable), "
        f"RAM {_ram_bytes() / 2**30:.1f} GiB; {platform.system()} {platform.release()}",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"libs:     {libs}; libjpeg {jpeg}{turbo}",
        f"workers:  {workers} (consentry --workers and floor pool size)",
    ]


# ---------------------------------------------------------------------------------------------
# corpus


@dataclass(frozen=True)
class Source:
    path: str
    kind: str  # "ffhq" or "lfw"


@dataclass
class CorpusImage:
    path: Path
    width: int  # as displayed (EXIF orientation applied)
    height: int
    size: int  # bytes
    orientation: int = 1
    source: str = ""  # the shared photo it was cropped from ("" for --corpus folders)

    @property
    def mp(self) -> float:
        return self.width * self.height / 1e6


def find_sources() -> tuple[list[Source], list[str]]:
    notes = []
    ffhq = sorted(FFHQ_DIR.glob("*.jpg")) if FFHQ_DIR.is_dir() else []
    lfw = sorted(LFW_DIR.rglob("*.jpg")) if LFW_DIR.is_dir() else []
    if not ffhq:
        notes.append(f"FFHQ photos absent ({FFHQ_DIR}): skipped")
    if not lfw:
        notes.append(f"LFW photos absent ({LFW_DIR}): skipped")
    sources = [Source(str(p), "ffhq") for p in ffhq] + [Source(str(p), "lfw") for p in lfw]
    return sources, notes


def corpus_key(n: int, seed: int, sources: Sequence[Source]) -> str:
    from PIL import __version__ as pil_version

    h = hashlib.sha256()
    params = {
        "generator": GENERATOR_VERSION,
        "n": n,
        "seed": seed,
        "pillow": pil_version,  # the JPEG encoder decides the bytes
        "sources": [(Path(s.path).relative_to(DATA).as_posix(), s.kind) for s in sources],
        "source_sizes": [os.path.getsize(s.path) for s in sources],
    }
    h.update(json.dumps(params, sort_keys=True).encode())
    return h.hexdigest()[:16]


_SOURCES: list[Source] = []


def _init_generator(sources: list[Source]) -> None:
    global _SOURCES
    _SOURCES = sources


@functools.lru_cache(maxsize=24)
def _load_source(path: str) -> Any:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _target_geometry(rng: Any) -> tuple[int, int]:
    """Displayed width x height: 1-12 MP, 4:3 / 3:2 / 16:9, portrait about one in three."""
    mp = rng.uniform(MIN_MP, MAX_MP)
    long_, short = ASPECTS[int(rng.integers(len(ASPECTS)))]
    ratio = long_ / short
    w = math.sqrt(mp * 1e6 * ratio)
    h = w / ratio
    w, h = 2 * round(w / 2), 2 * round(h / 2)
    return (h, w) if rng.random() < 0.35 else (w, h)


def generate_one(job: tuple[int, int, str]) -> dict[str, Any]:
    """Image ``index`` of the corpus: deterministic in (seed, index), whatever the scheduling."""
    import numpy as np
    from PIL import Image

    index, seed, out_dir = job
    out = Path(out_dir) / f"img_{index:05d}.jpg"
    rng = np.random.default_rng([seed, index])
    width, height = _target_geometry(rng)
    mp = width * height / 1e6
    eligible = [s for s in _SOURCES if s.kind == "ffhq" or mp <= LFW_MAX_MP] or _SOURCES
    source = eligible[int(rng.integers(len(eligible)))]
    src = _load_source(source.path)

    # random crop with the target's aspect ratio, 45-100 % of the largest such crop
    sw, sh = src.size
    ratio = width / height
    cw, ch = (sw, sw / ratio) if sw / sh < ratio else (sh * ratio, sh)
    scale = math.sqrt(rng.uniform(0.45, 1.0))
    cw, ch = max(16, int(cw * scale)), max(16, int(ch * scale))
    x0 = int(rng.integers(0, sw - cw + 1))
    y0 = int(rng.integers(0, sh - ch + 1))
    crop = src.crop((x0, y0, x0 + cw, y0 + ch))
    if rng.random() < 0.5:
        crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    # colour jitter on the small crop (cheap): per-channel gain, brightness, contrast, saturation
    a = np.asarray(crop, dtype=np.float32)
    a *= rng.uniform(0.95, 1.05, size=3).astype(np.float32)
    mean = a.mean()
    a = (a - mean) * rng.uniform(0.85, 1.15) + mean + rng.uniform(-12, 12)
    grey = a.mean(axis=2, keepdims=True)
    a = grey + (a - grey) * rng.uniform(0.8, 1.2)
    crop = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    # upscale to the target, then sensor-like grain (mostly luminance, some chroma at half
    # resolution) so that every file is unique and the JPEG carries realistic high-frequency
    # content: about 2 bits/pixel at q90, as phone photos; flat upscales compress far too well
    img = crop.resize((width, height), Image.Resampling.BICUBIC)
    arr = np.asarray(img, dtype=np.float32)
    sigma = np.float32(rng.uniform(3.0, 6.0))
    arr = arr + rng.standard_normal((height, width, 1), dtype=np.float32) * sigma
    chroma = rng.standard_normal(((height + 1) // 2, (width + 1) // 2, 3), dtype=np.float32)
    chroma = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)[:height, :width]
    arr += chroma * (sigma / 3)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    del arr, chroma

    # EXIF: most photos carry camera tags; about one in five is stored rotated with an
    # orientation tag (as phones do), so that display needs the tag
    exif = Image.Exif()
    orientation = 1
    r = rng.random()
    if r < 0.2:
        orientation = [6, 6, 8, 3][int(rng.integers(4))]
        # store the pixels so that applying the tag shows the upright picture
        img = img.transpose(
            {
                6: Image.Transpose.ROTATE_90,
                8: Image.Transpose.ROTATE_270,
                3: Image.Transpose.ROTATE_180,
            }[orientation]
        )
    if r < 0.7:
        exif[0x010F] = "consentry-bench"  # Make
        exif[0x0110] = f"synthetic-{int(rng.integers(1, 9))}"  # Model
        exif[0x0131] = "scan_throughput.py"  # Software
        exif[0x0132] = f"2024:0{int(rng.integers(1, 10))}:1{int(rng.integers(0, 10))} 12:00:00"
        exif[0x0112] = orientation
    quality = int(rng.integers(85, 96))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes() if len(exif) else b"")
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out)
    return {
        "name": out.name,
        "width": width,
        "height": height,
        "orientation": orientation,
        "quality": quality,
        "bytes": len(buf.getvalue()),
        "source": Path(source.path).name,
    }


def prepare_corpus(
    n: int, seed: int, workers: int, cache_root: Path, log: Log
) -> tuple[Path, list[CorpusImage], float] | None:
    """The generated corpus (reused when cached). Returns (folder, images, generation seconds)."""
    sources, notes = find_sources()
    for note in notes:
        log(f"note: {note}")
    if not sources:
        log(
            "SKIP: no source photos found under ../shared/data (realfake/real, faces/lfw); "
            "pass --corpus DIR to benchmark an existing folder of photos."
        )
        return None
    key = corpus_key(n, seed, sources)
    base = cache_root / f"n{n}-s{seed}-{key}"
    images_dir = base / "images"
    manifest_path = base / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        images = _images_from_manifest(images_dir, manifest["images"])
        if all(p.path.is_file() and p.path.stat().st_size == p.size for p in images):
            log(
                f"corpus: reusing {base} ({len(images)} images; its generation took "
                f"{manifest['generation_s']:.0f} s on {manifest.get('workers', '?')} processes)"
            )
            return images_dir, images, 0.0
        log("corpus: cache incomplete or changed; regenerating")
    images_dir.mkdir(parents=True, exist_ok=True)
    for stale in images_dir.glob("*.tmp"):
        stale.unlink()
    n_ffhq = sum(s.kind == "ffhq" for s in sources)
    log(
        f"corpus: generating {n} images into {base} from {n_ffhq} FFHQ + "
        f"{len(sources) - n_ffhq} LFW photos on {workers} processes (seed {seed})"
    )
    started = time.monotonic()
    metas: list[dict[str, Any]] = []
    step = max(1, n // 10)
    with multiprocessing.get_context("fork").Pool(
        workers, initializer=_init_generator, initargs=(sources,), maxtasksperchild=50
    ) as pool:
        jobs = [(i, seed, str(images_dir)) for i in range(n)]
        for meta in pool.imap_unordered(generate_one, jobs, chunksize=1):
            metas.append(meta)
            if len(metas) % step == 0 or len(metas) == n:
                el = time.monotonic() - started
                eta = el / len(metas) * (n - len(metas))
                log(
                    f"  generated {len(metas):5d}/{n} ({len(metas) / el:.1f} img/s, "
                    f"{el:.0f} s elapsed, eta {eta:.0f} s)"
                )
    gen_s = time.monotonic() - started
    metas.sort(key=lambda m: m["name"])
    manifest_path.write_text(
        json.dumps(
            {
                "params": {"n": n, "seed": seed, "generator": GENERATOR_VERSION, "key": key},
                "generation_s": gen_s,
                "workers": workers,
                "images": metas,
            },
            indent=1,
        )
    )
    return images_dir, _images_from_manifest(images_dir, metas), gen_s


def _images_from_manifest(images_dir: Path, metas: list[dict[str, Any]]) -> list[CorpusImage]:
    return [
        CorpusImage(
            images_dir / m["name"],
            m["width"],
            m["height"],
            m["bytes"],
            m["orientation"],
            m.get("source", ""),
        )
        for m in metas
    ]


def existing_corpus(folder: Path) -> list[CorpusImage]:
    from PIL import Image

    images = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in IMAGE_EXTS:
            continue
        try:
            with Image.open(p) as im:
                w, h = im.size
                orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:  # noqa: BLE001 - not an image after all: consentry will say so
            continue
        if orientation in (5, 6, 7, 8):
            w, h = h, w
        images.append(CorpusImage(p, w, h, p.stat().st_size, orientation))
    return images


def corpus_lines(images: Sequence[CorpusImage]) -> list[str]:
    mps = sorted(i.mp for i in images)
    sizes = sorted(i.size for i in images)
    bins = _mp_bins(images)
    counts = [sum(1 for b in bins if b == k) for k in range(MP_BINS)]
    edges = [MIN_MP + (MAX_MP - MIN_MP) * k / MP_BINS for k in range(MP_BINS + 1)]
    per_bin = ", ".join(
        f"{edges[k]:.2f}-{edges[k + 1]:.2f} MP: {counts[k]}" for k in range(MP_BINS)
    )
    oriented = sum(1 for i in images if i.orientation != 1)
    total = sum(sizes)
    return [
        f"corpus:   {len(images)} images, {total / 1e9:.2f} GB; "
        f"MP min/median/mean/max {mps[0]:.1f}/{mps[len(mps) // 2]:.1f}/"
        f"{sum(mps) / len(mps):.1f}/{mps[-1]:.1f}; "
        f"file size median {sizes[len(sizes) // 2] / 1e6:.1f} MB, max {sizes[-1] / 1e6:.1f} MB",
        f"          by MP: {per_bin}; {oriented} with an EXIF rotation tag",
    ]


def _mp_bins(images: Sequence[CorpusImage]) -> list[int]:
    width = (MAX_MP - MIN_MP) / MP_BINS
    return [min(MP_BINS - 1, max(0, int((i.mp - MIN_MP) // width))) for i in images]


def stratified_sample(images: Sequence[CorpusImage], k: int, seed: int) -> list[CorpusImage]:
    """k images, proportionally from each megapixel bin (largest remainder), fixed seed."""
    if k <= 0 or k >= len(images):
        return list(images)
    bins = _mp_bins(images)
    groups: list[list[CorpusImage]] = [[] for _ in range(MP_BINS)]
    for img, b in zip(images, bins, strict=True):
        groups[b].append(img)
    quotas = [k * len(g) / len(images) for g in groups]
    alloc = [int(q) for q in quotas]
    for j in sorted(range(MP_BINS), key=lambda j: quotas[j] - alloc[j], reverse=True):
        if sum(alloc) >= k:
            break
        alloc[j] += 1
    rnd = random.Random(seed)
    picked = [
        img for g, a in zip(groups, alloc, strict=True) for img in rnd.sample(g, min(a, len(g)))
    ]
    return sorted(picked, key=lambda i: i.path)


def warm_page_cache(images: Sequence[CorpusImage]) -> tuple[float, int]:
    started = time.monotonic()
    total = 0
    for img in images:
        with open(img.path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                total += len(chunk)
    return time.monotonic() - started, total


# ---------------------------------------------------------------------------------------------
# floor


def floor_one(path: str) -> tuple[str, str, int, int]:
    from PIL import Image

    with open(path, "rb") as fh:
        data = fh.read()
    sha = hashlib.sha256(data).hexdigest()
    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (FLOOR_SIDE, FLOOR_SIDE))
    im.load()
    im.thumbnail((FLOOR_SIDE, FLOOR_SIDE))
    return path, sha, im.width, im.height


@dataclass
class Run:
    name: str
    images: int
    wall_s: float
    cpu_s: float | None = None
    rss_max_proc: int | None = None  # bytes, largest single process (kernel high-water mark)
    rss_tree_peak: int | None = None  # bytes, sampled sum of RSS over the process tree
    pss_tree_peak: int | None = None  # bytes, sampled sum of PSS (shared pages split)
    note: str = ""
    short: str = ""  # label in the ratio rows
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.images / self.wall_s if self.wall_s > 0 else 0.0


def run_floor(images: Sequence[CorpusImage], workers: int) -> tuple[Run, dict[str, str]]:
    paths = [str(i.path) for i in images]
    cpu0 = _children_cpu()
    started = time.monotonic()
    shas: dict[str, str] = {}
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for path, sha, _w, _h in pool.imap_unordered(floor_one, paths, chunksize=4):
            shas[path] = sha
        pool.close()
        pool.join()
    wall = time.monotonic() - started
    run = Run("floor (read+SHA-256+draft 512)", len(paths), wall, _children_cpu() - cpu0)
    run.note = f"{workers} processes (multiprocessing.Pool, fork)"
    return run, shas


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---------------------------------------------------------------------------------------------
# process-tree memory sampling (Linux /proc; psutil is not a dependency)


class TreeSampler(threading.Thread):
    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.root = root_pid
        self.interval = interval
        self.stop_event = threading.Event()
        self.rss_peak = 0
        self.pss_peak = 0
        self.proc_peak = 0
        self.max_procs = 0
        self.samples = 0
        self.per_pid: dict[int, tuple[int, str]] = {}  # pid -> (peak RSS bytes, name)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join()

    def sample(self) -> None:
        pids = _tree(self.root)
        rss_sum = pss_sum = 0
        for pid in pids:
            rss = _status_kb(pid, "VmRSS:") * 1024
            rss_sum += rss
            self.proc_peak = max(self.proc_peak, rss)
            if rss > self.per_pid.get(pid, (0, ""))[0]:
                self.per_pid[pid] = (rss, self.per_pid.get(pid, (0, ""))[1] or _proc_name(pid))
            pss_sum += _pss_kb(pid) * 1024
        if pids:
            self.samples += 1
            self.max_procs = max(self.max_procs, len(pids))
        self.rss_peak = max(self.rss_peak, rss_sum)
        self.pss_peak = max(self.pss_peak, pss_sum)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid != root or os.path.exists(f"/proc/{pid}"):
            out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _proc_name(pid: int) -> str:
    """'main' for the CLI itself, else what multiprocessing started (worker, tracker)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = b" ".join(argv).decode(errors="replace")
    if "resource_tracker" in text:
        return "resource tracker"
    if "spawn_main" in text or "multiprocessing" in text:
        return "worker"
    return "main"


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@dataclass
class Measured:
    returncode: int
    wall_s: float
    cpu_s: float
    maxrss: int  # bytes
    stdout: str
    stderr: str
    sampler: TreeSampler | None


def measure(cmd: Sequence[str], env: dict[str, str] | None = None, sample: bool = True) -> Measured:
    """Run cmd; wall time, CPU and peak RSS of it and its waited-for descendants (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        sampler = TreeSampler(proc.pid) if sample else None
        if sampler is not None:
            sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if sampler is not None:
            sampler.stop()
        out.seek(0)
        err.seek(0)
        return Measured(
            proc.returncode,
            wall,
            ru.ru_utime + ru.ru_stime,
            ru.ru_maxrss * 1024,  # Linux: kB
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
            sampler,
        )


# ---------------------------------------------------------------------------------------------
# consentry


def consentry_cmd() -> list[str]:
    script = Path(sys.executable).with_name("consentry")
    if script.exists():
        return [str(script)]
    found = shutil.which("consentry")
    return [found] if found else [sys.executable, "-m", "consentry"]


# The scan's optional analyzers (explicit content, faces) are not part of what the peer does;
# where the CLI has them, consentry is measured twice: hashes + PDQ only (like for like with the
# peer), and the default scan a user runs (everything).
OPTIONAL_ANALYZERS = "explicit,faces,provenance"


def scan_has_skip() -> bool:
    try:
        text = subprocess.run(
            [*consentry_cmd(), "scan", "--help"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    return "--skip" in text


def run_consentry(
    folder: Path, n_images: int, workers: int, log: Log, extra_args: Sequence[str], name: str
) -> tuple[Run, Path]:
    case_parent = Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    case_dir = case_parent / "case"
    cmd = [
        *consentry_cmd(),
        "scan",
        str(folder),
        "--case",
        str(case_dir),
        "--workers",
        str(workers),
        *extra_args,
        "-q",
        "--json",
    ]
    log("  $ " + " ".join(cmd))
    m = measure(cmd)
    if m.returncode != 0:
        log(f"consentry scan failed (exit {m.returncode}):\n{m.stdout}\n{m.stderr}")
        raise SystemExit(1)
    summary = json.loads(m.stdout)
    images = int(summary.get("images", 0))
    errors = summary.get("errors", {}).get("total", 0)
    run = Run(name, n_images, m.wall_s, m.cpu_s, m.maxrss)
    assert m.sampler is not None
    run.rss_tree_peak, run.pss_tree_peak = m.sampler.rss_peak, m.sampler.pss_peak
    run.note = (
        f"--workers {workers}; CLI wall incl. start-up, scan's own elapsed_s "
        f"{summary.get('elapsed_s', 0):.1f} s"
    )
    run.extra = {
        "summary": summary,
        "procs": m.sampler.max_procs,
        "samples": m.sampler.samples,
        "proc_peak_sampled": m.sampler.proc_peak,
        "internal_s": float(summary.get("elapsed_s", 0.0)),
        "per_process": sorted(m.sampler.per_pid.values(), reverse=True),
    }
    if images != n_images or errors:
        log(f"  WARNING: consentry counted {images} images (expected {n_images}), {errors} errors")
    return run, case_dir


def consentry_pdq(case_dir: Path) -> dict[str, list[str]]:
    """sha256 -> consentry's 8 dihedral PDQ hashes (read-only)."""
    import sqlite3

    db = case_dir / "case.sqlite"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT sha256, pdq, pdq_dihedral FROM contents").fetchall()
    finally:
        conn.close()
    return {sha: (dih.split(",") if dih else [pdq]) for sha, pdq, dih in rows if pdq}


# ---------------------------------------------------------------------------------------------
# peer: python-threatexchange


def peer_main(list_file: str, out_file: str) -> None:
    """Subprocess body: hash every listed file with PdqSignal in this one process."""
    t0 = time.monotonic()
    from threatexchange.signal_type.pdq.signal import PdqSignal

    import_s = time.monotonic() - t0
    paths = Path(list_file).read_text().splitlines()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    hashes, secs = [], []
    for p in paths:
        t = time.monotonic()
        hashes.append(PdqSignal.hash_from_file(Path(p)))
        secs.append(time.monotonic() - t)
    wall = time.monotonic() - started
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru.ru_utime - ru0.ru_utime) + (ru.ru_stime - ru0.ru_stime)
    Path(out_file).write_text(
        json.dumps(
            {
                "import_s": import_s,
                "wall_s": wall,
                "cpu_s": cpu,
                "maxrss": ru.ru_maxrss * 1024,
                "paths": paths,
                "hashes": hashes,
                "secs": secs,
            }
        )
    )


def run_peer(sample: Sequence[CorpusImage], n_total: int) -> Run:
    with tempfile.TemporaryDirectory(prefix="consentry-bench-peer-") as tmp:
        lst, res = Path(tmp) / "files.txt", Path(tmp) / "result.json"
        lst.write_text("\n".join(str(i.path) for i in sample))
        m = measure([sys.executable, str(Path(__file__).resolve()), "--_peer", str(lst), str(res)])
        if m.returncode != 0:
            raise SystemExit(f"peer failed (exit {m.returncode}):\n{m.stderr}")
        r = json.loads(res.read_text())
    run = Run("peer: PdqSignal.hash_from_file", len(sample), r["wall_s"], r["cpu_s"], r["maxrss"])
    mean_mp = sum(i.mp for i in sample) / len(sample)
    run.note = "1 process, threatexchange imported before timing" + (
        ""
        if len(sample) == n_total
        else f"; SUBSET: {len(sample)} of {n_total} images, stratified by MP "
        f"(mean {mean_mp:.1f} MP)"
    )
    by_bin: dict[int, list[float]] = {}
    for b, secs in zip(_mp_bins(sample), r["secs"], strict=True):
        by_bin.setdefault(b, []).append(secs)
    run.extra = {
        "hashes": dict(zip(r["paths"], r["hashes"], strict=True)),
        "import_s": r["import_s"],
        "by_bin": by_bin,
        "secs": r["secs"],
    }
    return run


def run_tx_cli(sample: Sequence[CorpusImage]) -> Run | None:
    exe = Path(sys.executable).with_name("threatexchange")
    cmd0 = [str(exe)] if exe.exists() else [sys.executable, "-m", "threatexchange.cli.main"]
    with tempfile.TemporaryDirectory(prefix="consentry-bench-tx-") as state:
        env = {**os.environ, "TX_STATEDIR": str(Path(state) / "tx")}
        # first call creates the CLI's state directory: not timed
        warm = measure([*cmd0, "hash", "photo", str(sample[0].path)], env=env, sample=False)
        if warm.returncode != 0:
            return None
        wall = cpu = 0.0
        maxrss = 0
        hashes = {}
        for img in sample:
            m = measure([*cmd0, "hash", "photo", str(img.path)], env=env, sample=False)
            wall += m.wall_s
            cpu += m.cpu_s
            maxrss = max(maxrss, m.maxrss)
            out = m.stdout.split()
            hashes[str(img.path)] = out[1] if len(out) == 2 else ""
    run = Run("peer CLI: threatexchange hash photo", len(sample), wall, cpu, maxrss)
    mean_mp = sum(i.mp for i in sample) / len(sample)
    run.note = (
        f"1 process per image (as run from a shell); {len(sample)} images, mean {mean_mp:.1f} MP"
    )
    run.extra = {"hashes": hashes}
    return run


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


# ---------------------------------------------------------------------------------------------
# issue 12: start-up, the scan as a user sees it, and how the derivation pass scales


def link_folder(sample: Sequence[CorpusImage], dest: Path) -> Path:
    """A folder holding exactly ``sample`` (hard links; copies where links fail)."""
    dest.mkdir(parents=True, exist_ok=True)
    for img in sample:
        target = dest / img.path.name
        try:
            os.link(img.path, target)
        except OSError:
            shutil.copy2(img.path, target)
    return dest


def run_startup(repeats: int, log: Log) -> list[tuple[str, list[float]]]:
    """Wall time of commands that do no work, each ``repeats`` times (fresh processes)."""
    cmds = [
        ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
        ("consentry --version", [*consentry_cmd(), "--version"]),
        ("consentry --help", [*consentry_cmd(), "--help"]),
        ("consentry scan --help", [*consentry_cmd(), "scan", "--help"]),
    ]
    rows = []
    for label, cmd in cmds:
        measure(cmd, sample=False)  # not timed: the first run may compile .pyc files
        secs = []
        for _ in range(repeats):
            m = measure(cmd, sample=False)
            if m.returncode != 0:
                log(f"  {label}: failed (exit {m.returncode}): {m.stderr[-500:]}")
                break
            secs.append(m.wall_s)
        if secs:
            rows.append((label, secs))
            log(
                f"      {label:42} median {1000 * _median(secs):6.0f} ms, "
                f"min {1000 * min(secs):6.0f} ms"
            )
    return rows


def _median(xs: Sequence[float]) -> float:
    s = sorted(xs)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def link_audit(case_dir: Path) -> dict[str, Any] | None:
    """Payload of the case's last ``derivations_linked`` audit event (None: no link changed)."""
    import sqlite3

    db = case_dir / "case.sqlite"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT payload FROM audit_events WHERE action = 'derivations_linked' "
            "ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return json.loads(row[0]) if row else None


def run_user_view(
    sample: Sequence[CorpusImage],
    configs: Sequence[tuple[str, str, list[str]]],
    workers: int,
    log: Log,
) -> tuple[Run, list[Run]]:
    """The floor and each consentry configuration on a folder of just ``sample``; consentry's
    figure is the wall time of the whole ``consentry scan`` process, start-up included."""
    tmp = Path(tempfile.mkdtemp(prefix="consentry-bench-user-"))
    try:
        folder = link_folder(sample, tmp / "photos")
        floor, _ = run_floor(sample, workers)
        log(f"      floor: {floor.rate:.1f} images/s")
        runs = []
        for name, short, extra in configs:
            run, case_dir = run_consentry(folder, len(sample), workers, log, extra, name)
            run.short = short
            if not extra:  # the default scan: what the derivation pass did
                run.extra["links"] = link_audit(case_dir)
            shutil.rmtree(case_dir.parent, ignore_errors=True)
            startup = run.wall_s - run.extra["internal_s"]
            log(
                f"      {short}: {run.rate:.2f} images/s as the user sees it ({run.wall_s:.1f} s "
                f"wall; the scan's own elapsed_s {run.extra['internal_s']:.1f} s, so "
                f"{startup:.1f} s of start-up, worker spawn and exit)  (load now {_loadavg()})"
            )
            runs.append(run)
        return floor, runs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class ScalingSet:
    label: str
    group: int  # pictures per source photo: each has group - 1 relatives in the set
    images: list[CorpusImage]

    @property
    def source_pairs(self) -> int:
        """Pairs of pictures cropped from the same photo: the related pairs the set holds."""
        counts: dict[str, int] = {}
        for img in self.images:
            counts[img.source] = counts.get(img.source, 0) + 1
        return sum(c * (c - 1) // 2 for c in counts.values())


def scaling_sets(
    images: Sequence[CorpusImage], specs: Sequence[tuple[int, int]], seed: int, log: Log
) -> list[ScalingSet]:
    """For each (n, group): n pictures, ``group`` from each of n / group source photos, so that
    the set holds a known number of related pairs. Sets the corpus cannot fill are skipped."""
    by_source: dict[str, list[CorpusImage]] = {}
    for img in images:
        if img.source:
            by_source.setdefault(img.source, []).append(img)
    sets = []
    for n, group in specs:
        rng = random.Random(f"{seed}-{n}-{group}")
        eligible = sorted(s for s, imgs in by_source.items() if len(imgs) >= group)
        k = n // group
        if k < 1 or len(eligible) < k:
            log(
                f"      scaling set n={n}, {group} per photo: skipped (the corpus has "
                f"{len(eligible)} photos with >= {group} pictures, {k} needed)"
            )
            continue
        picked = [
            img for src in rng.sample(eligible, k) for img in rng.sample(by_source[src], group)
        ]
        sets.append(ScalingSet(f"n={len(picked)}, {k} x {group}", group, picked))
    return sets


def run_scaling(sets: Sequence[ScalingSet], workers: int, log: Log) -> list[dict[str, Any]]:
    """Per set: ``consentry scan --no-links`` (the per-image work), then ``consentry links``
    (the derivation pass alone, as the default scan runs it at its end), both timed as
    processes; the pass's own counts and phases from its audit event."""
    rows = []
    for k, sset in enumerate(sets):
        tmp = Path(tempfile.mkdtemp(prefix="consentry-bench-scale-"))
        try:
            folder = link_folder(sset.images, tmp / "photos")
            log(f"      [{k + 1}/{len(sets)}] {sset.label}: {sset.source_pairs} related pairs")
            scan_run, case_dir = run_consentry(
                folder, len(sset.images), workers, log, ["--no-links"], "scan --no-links"
            )
            cmd = [
                *consentry_cmd(),
                "links",
                "--case",
                str(case_dir),
                "--workers",
                str(workers),
                "--json",
            ]
            log("  $ " + " ".join(cmd))
            m = measure(cmd)
            if m.returncode != 0:
                log(f"      consentry links failed (exit {m.returncode}): {m.stderr[-2000:]}")
                continue
            listed = json.loads(m.stdout)
            audit = link_audit(case_dir) or {}
            row = {
                "label": sset.label,
                "n": len(sset.images),
                "group": sset.group,
                "mean_mp": sum(i.mp for i in sset.images) / len(sset.images),
                "source_pairs": sset.source_pairs,
                "scan_wall_s": scan_run.wall_s,
                "links_wall_s": m.wall_s,
                "links_cpu_s": m.cpu_s,
                "links_rss": max(m.maxrss, m.sampler.rss_peak if m.sampler else 0),
                "pass_s": audit.get("elapsed_s"),
                "candidate_pairs": audit.get("candidate_pairs", 0),
                "related_pairs": audit.get("related_pairs", 0),
                "links": len(listed.get("links", [])),
                "phases": audit.get("phases_s", {}),
            }
            rows.append(row)
            log(
                f"      scan --no-links {row['scan_wall_s']:.1f} s; "
                f"links {row['links_wall_s']:.1f} s "
                f"wall (pass {row['pass_s'] if row['pass_s'] is not None else '-'} s): "
                f"{row['candidate_pairs']} candidate pairs verified, {row['related_pairs']} "
                f"related, {row['links']} links  (load now {_loadavg()})"
            )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return rows


def report_startup(rows: list[tuple[str, list[float]]], log: Log) -> None:
    log("start-up (fresh process, no work; wall time):")
    for label, secs in rows:
        log(
            f"  {label:42} median {1000 * _median(secs):6.0f} ms  min {1000 * min(secs):6.0f} ms"
            f"  ({len(secs)} runs)"
        )


def report_user_view(floor: Run, runs: Sequence[Run], peer: Run, workers: int, log: Log) -> None:
    n = floor.images
    log(
        f"{n} photos as the user sees them: wall time of the `consentry scan` process, "
        f"start-up, worker spawn and model loading included; --workers {workers}"
    )
    header = f"  {'':44} {'wall s':>7} {'images/s':>9} {'of which scan':>14} {'peak RSS':>10}"
    log(header)
    for r in runs:
        rss = max(r.rss_tree_peak or 0, r.rss_max_proc or 0)
        log(
            f"  {r.name[:44]:44} {r.wall_s:7.1f} {r.rate:9.2f} {r.extra['internal_s']:12.1f} s "
            f"{_mb(rss):>10}"
        )
    log(f"  {'floor (read+SHA-256+draft 512)':44} {floor.wall_s:7.1f} {floor.rate:9.2f}")
    log(f"  {peer.name[:44]:44} {'':7} {peer.rate:9.2f}  ({peer.images} images)")
    log("")
    log(f"  {'target (issue 12)':58} {'measured':>10} {'target':>10}  verdict")
    for r in runs:
        vs_peer = r.rate / peer.rate if peer.rate else float("inf")
        vs_floor = r.rate / floor.rate if floor.rate else 0.0
        rows: list[tuple[str, str, str, bool | None]]
        if r.short.endswith("+links"):
            rows = [("images/s (no target: see the scaling below)", f"{r.rate:.2f}", "-", None)]
            links = r.extra.get("links")
            if links:
                log(
                    f"  {r.short}: its derivation pass took {links.get('elapsed_s')} s: "
                    f"{links.get('candidate_pairs')} candidate pairs, "
                    f"{links.get('related_pairs')} related, {links.get('links')} links; "
                    f"phases {links.get('phases_s')}"
                )
        elif "full" in r.short:
            rows = [
                (
                    "images/s, start-up included",
                    f"{r.rate:.1f}",
                    f">= {FULL_TARGET_RATE:g}",
                    r.rate >= FULL_TARGET_RATE,
                ),
                ("/ peer (no issue-12 target)", f"{vs_peer:.1f}x", "-", None),
            ]
        else:
            rows = [
                ("/ peer, start-up included", f"{vs_peer:.1f}x", f">= {TARGET_VS_PEER:g}x",
                 vs_peer >= TARGET_VS_PEER),
                ("/ floor, start-up included", f"{vs_floor:.2f}x", f">= {TARGET_VS_FLOOR:g}x",
                 vs_floor >= TARGET_VS_FLOOR),
            ]  # fmt: skip
        for label, value, target, ok in rows:
            verdict = "-" if ok is None else "PASS" if ok else "FAIL"
            log(f"  {r.short + ' ' + label:58} {value:>10} {target:>10}  {verdict}")


def report_scaling(rows: Sequence[dict[str, Any]], log: Log) -> None:
    if not rows:
        return
    log(
        "derivation pass vs related pictures (`consentry links` after `scan --no-links`, the "
        "same pass the default scan runs at its end; wall incl. start-up):"
    )
    header = (
        f"  {'set (n, photos x pictures each)':30} {'MP':>4} {'related':>7} {'cand.':>6} "
        f"{'found':>6} {'links':>5} {'scan -nl s':>10} {'links s':>8} {'pass s':>7} "
        f"{'ms/img':>7} {'ms/pair':>8}"
    )
    log(header)
    for r in rows:
        pass_s = r["pass_s"] if r["pass_s"] is not None else r["links_wall_s"]
        per_pair = (
            f"{1000 * pass_s / r['candidate_pairs']:8.0f}" if r["candidate_pairs"] else f"{'-':>8}"
        )
        log(
            f"  {r['label']:30} {r['mean_mp']:4.1f} {r['source_pairs']:7d} "
            f"{r['candidate_pairs']:6d} {r['related_pairs']:6d} {r['links']:5d} "
            f"{r['scan_wall_s']:10.1f} {r['links_wall_s']:8.1f} "
            f"{(r['pass_s'] if r['pass_s'] is not None else float('nan')):7.1f} "
            f"{1000 * pass_s / r['n']:7.0f} {per_pair}"
        )
    for r in rows:
        if r["phases"]:
            log(
                f"  {r['label']:30} phases: "
                + ", ".join(f"{k} {v}" for k, v in r["phases"].items())
            )
    fit = _fit_pass(rows)
    if fit:
        log(
            "  least-squares fit over these sets: links wall ~= "
            f"{fit[0]:.2f} s + {1000 * fit[1]:.1f} ms x images + {1000 * fit[2]:.1f} ms x "
            "candidate pairs verified"
        )


def _fit_pass(rows: Sequence[dict[str, Any]]) -> tuple[float, float, float] | None:
    """links wall = a + b * images + c * candidate pairs (None with fewer than 4 sets)."""
    if len(rows) < 4:
        return None
    import numpy as np

    x = np.array([[1.0, r["n"], r["candidate_pairs"]] for r in rows])
    y = np.array([r["links_wall_s"] for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(coef[0]), float(coef[1]), float(coef[2])


# ---------------------------------------------------------------------------------------------
# profile


def profile_consentry(sample: Sequence[CorpusImage], extra: Sequence[str], log: Log) -> None:
    """cProfile of ``consentry scan --workers 1 [extra]`` (all work in one process)."""
    tmp = Path(tempfile.mkdtemp(prefix="consentry-bench-prof-"))
    try:
        src = tmp / "src"
        src.mkdir()
        for img in sample:
            try:
                os.link(img.path, src / img.path.name)
            except OSError:
                shutil.copy2(img.path, src / img.path.name)
        prof = tmp / "scan.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "consentry.cli.main"]
        cmd += ["scan", str(src), "--case", str(tmp / "case"), "--workers", "1", *extra]
        cmd += ["-q", "--json"]
        m = measure(cmd, sample=False)
        if m.returncode != 0:
            log(f"  profile run failed (exit {m.returncode}): {m.stderr[-2000:]}")
            return
        stats = pstats.Stats(str(prof))
        total = stats.total_tt  # type: ignore[attr-defined]
        log(
            f"  {len(sample)} images, --workers 1 under cProfile: wall {m.wall_s:.1f} s "
            f"(profiled {total:.1f} s incl. interpreter start-up and imports)"
        )
        log("")
        log("  top 10 by cumulative time:")
        _log_stats(stats, "cumulative", 10, log)
        log("")
        log("  top 12 by own time (tottime; C extensions show up here):")
        _log_stats(stats, "tottime", 12, log)
        log("")
        log(
            f"  consentry's own functions by cumulative time (s, % of profiled, calls, "
            f"ms per image over {len(sample)} images):"
        )
        rows = []
        for (file, line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if "/consentry/" in file and "site-packages" not in file and name != "<module>":
                short = file.split("/consentry/", 1)[1]
                rows.append((ct, nc, f"{short}:{line}({name})"))
        for ct, nc, label in sorted(rows, reverse=True)[:18]:
            log(
                f"    {label:<58} {ct:7.2f} s {100 * ct / total:5.1f} % {nc:6d} "
                f"{1000 * ct / len(sample):8.1f}"
            )
        module = _find(stats, lambda f, n: n == "<module>" and f.endswith("consentry/cli/main.py"))
        command = _find(stats, lambda f, n: n == "main" and "click/core" in f)
        if module and command:
            imports = module[1] - command[1]
            log(
                f"    {'(imports before the command runs)':<58} {imports:7.2f} s "
                f"{100 * imports / total:5.1f} %"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _find(stats: pstats.Stats, pred: Callable[[str, str], bool]) -> tuple[int, float] | None:
    best = None
    for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if pred(file, name) and (best is None or ct > best[1]):
            best = (nc, ct)
    return best


def _log_stats(stats: pstats.Stats, key: str, k: int, log: Log) -> None:
    buf = io.StringIO()
    stats.stream = buf  # type: ignore[attr-defined]
    stats.sort_stats(key).print_stats(k)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[start:]:
        if line.strip():
            log("    " + line.replace(str(ROOT.parent) + "/", "").replace(sys.prefix + "/", ""))


# ---------------------------------------------------------------------------------------------
# report


def _fmt_rss(run: Run) -> str:
    if run.rss_max_proc is None:
        return "-"
    s = f"{_mb(run.rss_max_proc)} max/proc"
    if run.rss_tree_peak:
        s += f"; tree {_mb(run.rss_tree_peak)} RSS, {_mb(run.pss_tree_peak or 0)} PSS"
    return s


def report(
    runs: list[Run], consentries: list[Run], peer: Run, floor: Run, workers: int, log: Log
) -> None:
    header = f"{'':44} {'images':>6} {'wall s':>8} {'images/s':>9} {'CPU ms/img':>10}  peak memory"
    log(header)
    log("-" * len(header) + "-" * 40)
    for r in runs:
        cpu = f"{1000 * r.cpu_s / r.images:10.1f}" if r.cpu_s is not None else f"{'-':>10}"
        log(f"{r.name:44} {r.images:6d} {r.wall_s:8.1f} {r.rate:9.2f} {cpu}  {_fmt_rss(r)}")
        if r.note:
            log(f"{'':46}{r.note}")
        for rss, name in r.extra.get("per_process", [])[:6]:
            log(f"{'':46}  {name:<17} peak RSS {_mb(rss)}")
    log("")
    log(f"{'ratio / limit':58} {'measured':>10} {'target':>10}  verdict")
    for c in consentries:
        vs_peer = c.rate / peer.rate if peer.rate else float("inf")
        vs_floor = c.rate / floor.rate if floor.rate else 0.0
        rss = max(c.rss_tree_peak or 0, c.rss_max_proc or 0)
        if c.short.endswith("+links"):
            rows = [
                ("images/s (no target: the pass scales with related pairs)", f"{c.rate:.2f}",
                 "-", True),
                (
                    "peak RSS, sum over its process tree",
                    _mb(rss),
                    f"<= {FULL_TARGET_RSS_BYTES / 1e9:g} GB",
                    rss <= FULL_TARGET_RSS_BYTES,
                ),
            ]  # fmt: skip
        elif "full" in c.short:
            rows = [
                (
                    "/ peer (images/s)",
                    f"{vs_peer:.1f}x",
                    f">= {FULL_TARGET_VS_PEER:g}x",
                    vs_peer >= FULL_TARGET_VS_PEER,
                ),
                (
                    "images/s",
                    f"{c.rate:.1f}",
                    f">= {FULL_TARGET_RATE:g}",
                    c.rate >= FULL_TARGET_RATE,
                ),
                ("/ floor (images/s, no target)", f"{vs_floor:.2f}x", "-", True),
                (
                    "peak RSS, sum over its process tree",
                    _mb(rss),
                    f"<= {FULL_TARGET_RSS_BYTES / 1e9:g} GB",
                    rss <= FULL_TARGET_RSS_BYTES,
                ),
            ]
        else:
            rows = [
                (
                    "/ peer (images/s)",
                    f"{vs_peer:.1f}x",
                    f">= {TARGET_VS_PEER:g}x",
                    vs_peer >= TARGET_VS_PEER,
                ),
                (
                    "/ floor (images/s)",
                    f"{vs_floor:.2f}x",
                    f">= {TARGET_VS_FLOOR:g}x",
                    vs_floor >= TARGET_VS_FLOOR,
                ),
                (
                    "peak RSS, sum over its process tree",
                    _mb(rss),
                    f"<= {TARGET_RSS_BYTES / 2**30:g} GiB",
                    rss <= TARGET_RSS_BYTES,
                ),
            ]
        for label, value, target, ok in rows:
            log(f"{c.short + ' ' + label:58} {value:>10} {target:>10}  {'PASS' if ok else 'FAIL'}")
    # what the ratios would be with every core busy on this benchmark alone: CPU time per image
    # is much less disturbed by other work on the machine than wall time
    if peer.cpu_s and floor.cpu_s:
        p_cpu, f_cpu = peer.cpu_s / peer.images, floor.cpu_s / floor.images
        log("")
        log(
            f"CPU view (less sensitive to other load): CPU ms per image: peer {1000 * p_cpu:.0f}, "
            f"floor {1000 * f_cpu:.0f}"
            + "".join(
                f", {c.short} {1000 * c.cpu_s / c.images:.0f}" for c in consentries if c.cpu_s
            )
        )
        for c in consentries:
            if not c.cpu_s:
                continue
            c_cpu = c.cpu_s / c.images
            log(
                f"  {c.short}: with {workers} cores fully used, consentry/peer would be about "
                f"{workers * p_cpu / c_cpu:.1f}x and consentry/floor about {f_cpu / c_cpu:.2f}x"
            )


# ---------------------------------------------------------------------------------------------
# main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="images to generate [1000]")
    ap.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="benchmark this existing folder of images instead of generating a corpus",
    )
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes [cores]")
    ap.add_argument("--seed", type=int, default=1, help="corpus and sampling seed [1]")
    ap.add_argument(
        "--peer-n",
        type=int,
        default=200,
        help="images the peer hashes: a stratified sample when < n; 0 = all [200]",
    )
    ap.add_argument("--cli-n", type=int, default=8, help="images for the threatexchange CLI [8]")
    ap.add_argument(
        "--profile-n", type=int, default=50, help="images for the cProfile run; 0 = skip [50]"
    )
    ap.add_argument("--cache-dir", type=Path, default=BENCH / "corpus", help="[bench/corpus]")
    ap.add_argument(
        "--out",
        default=None,
        help="copy of the output [bench/out/scan_throughput-<date>.txt]; '-' for none",
    )
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="before timing, wait up to S seconds for the 1-min load average to drop below 0.5",
    )
    ap.add_argument(
        "--generate-only", action="store_true", help="make (or check) the corpus, then stop"
    )
    ap.add_argument(
        "--corpus-configs",
        default="hashes,full,links",
        help="consentry configurations run on the whole corpus: hashes (hashes only), full "
        "(--no-links), links (the default scan); '' for none [hashes,full,links]",
    )
    ap.add_argument(
        "--user-n",
        type=int,
        default=200,
        help="photos (stratified sample; the peer's when --peer-n is the same) scanned as the "
        "user sees it, start-up included, in every configuration; 0 = skip [200]",
    )
    ap.add_argument(
        "--scaling",
        default="50:5,100:5,200:5,100:1,100:2,100:10",
        help="derivation-pass sets N:G (N pictures, G cropped from each source photo); "
        "'' = skip [50:5,100:5,200:5,100:1,100:2,100:10]",
    )
    ap.add_argument(
        "--startup-repeats", type=int, default=5, help="runs of each start-up command [5]"
    )
    ap.add_argument("--_peer", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._peer:
        peer_main(*args._peer)
        return 0

    out_path = None if args.out == "-" else Path(args.out) if args.out else _default_out_path()
    log = Log(out_path)
    t_all = time.monotonic()
    try:
        return _run(args, log, t_all)
    finally:
        if out_path is not None:
            log(f"output saved to {out_path}")
        log.close()


def _run(args: argparse.Namespace, log: Log, t_all: float) -> int:
    workers = max(1, args.workers)
    log("consentry scan throughput benchmark")
    log("=" * 36)
    start_lines = machine_lines(workers)
    for line in start_lines:
        log(line)
    log(f"load before: {_uptime()}")
    log("")

    # -- corpus ---------------------------------------------------------------------------------
    gen_s = 0.0
    if args.corpus is not None:
        folder = args.corpus.resolve()
        if not folder.is_dir():
            log(f"error: --corpus {folder} is not a folder")
            return 2
        images = existing_corpus(folder)
        if not images:
            log(f"error: no images in {folder}")
            return 2
        log(f"corpus: existing folder {folder}")
    else:
        prepared = prepare_corpus(args.n, args.seed, workers, args.cache_dir.resolve(), log)
        if prepared is None:
            return 0
        folder, images, gen_s = prepared
        if gen_s:
            log(
                f"corpus generation: {gen_s:.1f} s ({len(images) / gen_s:.1f} img/s), "
                "not part of the results"
            )
    for line in corpus_lines(images):
        log(line)
    if args.generate_only:
        return 0
    if args.wait_quiet > 0:
        waited = _wait_quiet(args.wait_quiet)
        log(f"waited {waited:.0f} s for a quiet machine; load now {_loadavg()}")
    warm_s, warm_bytes = warm_page_cache(images)
    log(f"page cache warm-up: read {warm_bytes / 1e9:.2f} GB in {warm_s:.1f} s (not timed below)")
    log("")
    parts: dict[str, float] = {}

    # -- floor ----------------------------------------------------------------------------------
    log(f"[1/8] floor: read + SHA-256 + draft decode to {FLOOR_SIDE} px, {workers} processes ...")
    t = time.monotonic()
    floor, shas = run_floor(images, workers)
    parts["floor"] = time.monotonic() - t
    log(f"      {floor.rate:.1f} images/s  (load now {_loadavg()})")

    # -- consentry ------------------------------------------------------------------------------
    configs: list[tuple[str, str, list[str]]] = []  # (row name, short label, extra CLI args)
    if scan_has_skip():
        configs.append(
            (
                f"consentry scan --skip {OPTIONAL_ANALYZERS} --no-links",
                "consentry hashes+PDQ",
                ["--skip", OPTIONAL_ANALYZERS, "--no-links"],
            )
        )
        configs.append(
            (
                f"consentry scan --no-links (+ {OPTIONAL_ANALYZERS})",
                "consentry full",
                ["--no-links"],
            )
        )
        # the default scan also runs the case-level derivation pass, whose cost grows with the
        # number of related pictures, not images: reported, with no per-image target
        configs.append(
            (
                f"consentry scan (default: + {OPTIONAL_ANALYZERS} + derivation links)",
                "consentry full+links",
                [],
            )
        )
    else:
        configs.append(("consentry scan", "consentry", []))
    wanted = {c.strip() for c in args.corpus_configs.split(",") if c.strip()}
    key_of = {"consentry hashes+PDQ": "hashes", "consentry full": "full"}
    corpus_configs = [
        c for c in configs if key_of.get(c[1], "links" if c[2] == [] else c[1]) in wanted
    ]
    consentries: list[Run] = []
    c_pdq: dict[str, list[str]] = {}
    for k, (name, short, extra) in enumerate(corpus_configs):
        log(f"[2/8] {name}, --workers {workers} ({k + 1}/{len(corpus_configs)}) ...")
        t = time.monotonic()
        run, case_dir = run_consentry(folder, len(images), workers, log, extra, name)
        run.short = short
        parts[short] = time.monotonic() - t
        consentries.append(run)
        log(
            f"      {run.rate:.2f} images/s; {run.extra['procs']} processes at most, "
            f"{run.extra['samples']} memory samples  (load now {_loadavg()})"
        )
        sm = run.extra["summary"]
        log(
            f"      summary: files {sm.get('files')}, images {sm.get('images')}, unique "
            f"{sm.get('unique_contents')}, errors {sm.get('errors', {}).get('total')}, warnings "
            f"{sm.get('warnings', {}).get('total')} {sm.get('warnings', {}).get('by_code') or ''}"
        )
        if not c_pdq:
            c_pdq = consentry_pdq(case_dir)
        shutil.rmtree(case_dir.parent, ignore_errors=True)

    # -- peer -----------------------------------------------------------------------------------
    sample = stratified_sample(images, args.peer_n, args.seed)
    log(
        f"[3/8] peer: threatexchange PdqSignal.hash_from_file, 1 process, "
        f"{len(sample)} images{' (stratified sample)' if len(sample) < len(images) else ''} ..."
    )
    t = time.monotonic()
    peer_lib = run_peer(sample, len(images))
    parts["peer (library)"] = time.monotonic() - t
    log(
        f"      {peer_lib.rate:.2f} images/s (import threatexchange: "
        f"{peer_lib.extra['import_s']:.1f} s, not timed)  (load now {_loadavg()})"
    )
    edges = [MIN_MP + (MAX_MP - MIN_MP) * k / MP_BINS for k in range(MP_BINS + 1)]
    for b, secs in sorted(peer_lib.extra["by_bin"].items()):
        log(
            f"      {edges[b]:5.2f}-{edges[b + 1]:5.2f} MP: {len(secs):4d} images, "
            f"{1000 * sum(secs) / len(secs):7.0f} ms/image"
        )

    cli_sample = (
        stratified_sample(sample, min(args.cli_n, len(sample)), args.seed + 1)
        if args.cli_n > 0
        else []
    )
    log(f"[4/8] peer CLI: threatexchange hash photo FILE, {len(cli_sample)} images ...")
    t = time.monotonic()
    peer_cli = run_tx_cli(cli_sample) if cli_sample else None
    parts["peer (CLI)"] = time.monotonic() - t
    cli_vs_lib = ""
    if peer_cli is not None:
        in_cli = {str(i.path) for i in cli_sample}
        lib_on_same = sum(
            secs
            for img, secs in zip(sample, peer_lib.extra["secs"], strict=True)
            if str(img.path) in in_cli
        )
        same = sum(
            1 for p, h in peer_cli.extra["hashes"].items() if h == peer_lib.extra["hashes"].get(p)
        )
        cli_vs_lib = (
            f"      {1000 * peer_cli.wall_s / peer_cli.images:.0f} ms/image vs "
            f"{1000 * lib_on_same / len(cli_sample):.0f} ms/image for the library on the same "
            f"images; same hash as the library on {same}/{len(cli_sample)}"
        )
        log(cli_vs_lib)
    else:
        log("      threatexchange CLI not usable here: skipped")
    peer = peer_lib
    if peer_cli is not None and peer_cli.rate > peer_lib.rate:
        peer = peer_cli
    log(f"      peer used for the ratio: {peer.name} (the faster)")

    # PDQ agreement on the peer sample (sanity check that both compute the same thing)
    dists = []
    for img in sample:
        ph = peer_lib.extra["hashes"].get(str(img.path))
        ch = c_pdq.get(shas.get(str(img.path), ""))
        if ph and ch:
            dists.append(min(hamming(ph, h) for h in ch))
    if dists:
        dists.sort()
        within = sum(d <= 31 for d in dists)
        log(
            f"      PDQ agreement consentry vs threatexchange on {len(dists)} images (min over "
            f"consentry's 8 dihedral hashes): median {dists[len(dists) // 2]}, "
            f"p95 {dists[int(0.95 * (len(dists) - 1))]}, max {dists[-1]} bits; "
            f"{within}/{len(dists)} within the match distance 31"
        )

    # -- issue 12: as the user sees it ------------------------------------------------------------
    user: tuple[Run, list[Run]] | None = None
    if args.user_n > 0:
        user_sample = stratified_sample(images, args.user_n, args.seed)
        which = "the peer's sample" if user_sample == sample else "not the peer's sample"
        log(
            f"[5/8] {len(user_sample)} photos ({which}) scanned as the user sees it, "
            f"start-up included, {len(configs)} configurations ..."
        )
        t = time.monotonic()
        user = run_user_view(user_sample, configs, workers, log)
        parts["user view"] = time.monotonic() - t
    else:
        log("[5/8] user view: skipped (--user-n 0)")

    scaling_rows: list[dict[str, Any]] = []
    specs = [tuple(int(x) for x in spec.split(":")) for spec in args.scaling.split(",") if spec]
    if specs:
        log("[6/8] derivation pass vs related pictures ...")
        t = time.monotonic()
        sets = scaling_sets(images, specs, args.seed, log)  # type: ignore[arg-type]
        if not sets:
            log("      no set could be made (a --corpus folder has no source photos): skipped")
        scaling_rows = run_scaling(sets, workers, log)
        parts["scaling"] = time.monotonic() - t
    else:
        log("[6/8] derivation scaling: skipped (--scaling '')")

    log(f"[7/8] start-up: each command {args.startup_repeats} times ...")
    t = time.monotonic()
    startup_rows = run_startup(args.startup_repeats, log) if args.startup_repeats > 0 else []
    parts["start-up"] = time.monotonic() - t

    # -- profile --------------------------------------------------------------------------------
    t = time.monotonic()
    if args.profile_n > 0:
        prof_sample = stratified_sample(images, args.profile_n, args.seed + 2)
        for k, (name, _short, extra) in enumerate(configs):
            log(
                f"[8/8] cProfile ({k + 1}/{len(configs)}): {name} --workers 1 on "
                f"{len(prof_sample)} images ..."
            )
            profile_consentry(prof_sample, extra, log)
            log("")
    else:
        log("[8/8] cProfile: skipped (--profile-n 0)")
    parts["profile"] = time.monotonic() - t
    log("")

    # -- results --------------------------------------------------------------------------------
    log("RESULTS")
    log("=======")
    for line in start_lines[:3]:
        log(line)
    code_now = _git_state()
    if f"code:     {code_now}" != start_lines[1]:
        log(f"NOTE: the code changed during the run; at the end: {code_now}")
    for line in corpus_lines(images):
        log(line)
    if peer.images < len(images):
        log(
            f"NOTE: the peer was timed on a stratified random subset ({peer.images} of "
            f"{len(images)} images, seed {args.seed}, {MP_BINS} megapixel bins); images/s is "
            "comparable, the other rows ran on every image."
        )
    log("")
    runs = [*consentries, peer_lib] + ([peer_cli] if peer_cli else []) + [floor]
    report(runs, consentries, peer, floor, workers, log)
    log("")
    if user is not None:
        report_user_view(user[0], user[1], peer, workers, log)
        log("")
    if scaling_rows:
        report_scaling(scaling_rows, log)
        log("")
    if startup_rows:
        report_startup(startup_rows, log)
        log("")
    log(
        "time per part: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items())
        + (f"; corpus generation {gen_s:.0f} s" if gen_s else "; corpus reused")
        + f"; total {time.monotonic() - t_all:.0f} s"
    )
    log(f"load after:  {_uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
