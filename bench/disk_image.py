"""Scanning a disk image (issue 16): throughput of ``consentry scan IMAGE`` on a >= 2 GB raw
image holding many small pictures, next to the floor of reading the same image sequentially.

    .venv/bin/python bench/disk_image.py                        # 2 GiB, 1k / 10k / 50k files
    .venv/bin/python bench/disk_image.py --quick                # ~200 MB, 200 / 1k files
    .venv/bin/python bench/disk_image.py --files 10000 --modes inventory,hash
    .venv/bin/python bench/disk_image.py --generate-only        # build (and cache) the images

The image: an MBR with one Linux partition at 1 MiB holding an ext4 file system (``--fs fat``:
a FAT32 one), built without mounting anything (``mkfs.ext4 -E offset=... -d TREE``; FAT:
``mkfs.fat --offset`` and ``mcopy -s``), from a staging folder of N small harmless pictures
(80-256 px JPEGs and PNGs drawn with PIL/numpy from a seed: gradients, noise, shapes; every one
a distinct SHA-256, checked) in folders of 500, plus 64 MiB filler files of random bytes that
bring the files to ~90% of the file system. Built images are cached under ``--cache``
(default ``bench/corpus/disk_image/``, git-ignored) keyed by the parameters; the staging folder
is deleted once the image is built.

What is timed, on each image:

- ``dd bs=4M``: ``dd if=IMG of=/dev/null bs=4M`` with the image in the page cache (read once
  before), and ``dd iflag=direct`` (O_DIRECT: the disk itself, page cache bypassed, nothing is
  dropped for the other users of the machine).
- ``python read``: a Python loop of 4 MiB ``readinto`` calls (page cache); ``python read +
  hashes``: the same loop feeding SHA-256, MD5 and SHA-1 (what the scan computes of every byte).
- ``pytsk3 list`` / ``pytsk3 list+read``: The Sleuth Kit through pytsk3 without consentry:
  walk every folder, and also read every file's bytes (the floor of any TSK-based scanner).
- ``consentry inventory``: the scan's inventory phase (walk + listing into the case store), and
  ``consentry scan``: the whole scan, both measured by one run of ``consentry.services.scan.scan``
  (the function ``consentry scan`` calls; phase times from its progress calls) in a child
  process with ``--workers`` workers, into a fresh case:
  ``hash``: ``--only '' --no-links`` (no analyzer, no derivation pass: type, SHA-256/MD5/SHA-1,
  image decode, EXIF, PDQ, thumbnail: the cheapest scan the CLI allows); ``full``: the CLI
  defaults (explicit, faces, provenance, derivation links, traces).
  ``--cli`` also times the real CLI (``consentry scan IMG --case C --workers W -q``) as a check.

MB/s is bytes of the image (not of its files) per second of wall time, files/s is files found in
the image per second; MB/s/core divides by the worker processes (the floors run on one core).
IPED's reference figure is "up to 400 GB/h" on a workstation (~111 MB/s for the machine).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "bench" / "corpus" / "disk_image"
PART_START = 1024 * 1024  # the partition starts at 1 MiB (sector 2048)
FILLER_CHUNK = 64 * 1024 * 1024
PER_FOLDER = 500
IPED_GB_PER_H = 400
BLOCK = 4 * 1024 * 1024
GiB = 1024**3


# -- the pictures and the staging tree ---------------------------------------------------------


def draw_picture(index: int, seed: int) -> tuple[bytes, str]:
    """One small harmless picture (gradient, noise, a few shapes), JPEG or PNG, from a seed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, index])
    w, h = int(rng.integers(80, 257)), int(rng.integers(80, 257))
    y, x = np.mgrid[0:h, 0:w]
    phase = rng.uniform(0, 6.3, 3)
    freq = rng.uniform(2, 14, 3)
    base = np.stack(
        [
            np.sin(x / freq[c] + y / (freq[(c + 1) % 3] * 1.7) + phase[c]) * 90 + 128
            for c in range(3)
        ],
        axis=-1,
    )
    base += rng.normal(0, rng.uniform(2, 16), base.shape)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 8))):
        x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        x1, y1 = x0 + int(rng.integers(6, w // 2 + 8)), y0 + int(rng.integers(6, h // 2 + 8))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    buf = io.BytesIO()
    if rng.random() < 0.2:
        img.save(buf, "PNG", optimize=False, compress_level=6)
        return buf.getvalue(), "png"
    img.save(buf, "JPEG", quality=int(rng.integers(75, 96)))
    return buf.getvalue(), "jpg"


@dataclass
class Tree:
    pictures: int
    picture_bytes: int
    fillers: int
    filler_bytes: int


def _draw_one(args: tuple[int, int, str]) -> int:
    """Draw picture ``index`` into the pool (if not there yet); its size in bytes."""
    index, seed, pool = args
    folder = Path(pool) / f"d{index // PER_FOLDER:04d}"
    for ext in ("jpg", "png"):
        done = folder / f"img_{index:06d}.{ext}"
        if done.exists():
            return done.stat().st_size
    data, ext = draw_picture(index, seed)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".img_{index:06d}.{ext}.part"
    tmp.write_bytes(data)
    tmp.rename(folder / f"img_{index:06d}.{ext}")
    return len(data)


def picture_pool(cache: Path, n: int, seed: int) -> Path:
    """The first ``n`` pictures of the seed, drawn once (on every core) and kept under
    ``cache/pool-s<seed>``: every image's pictures are hard links to these."""
    pool = cache / f"pool-s{seed}"
    pool.mkdir(parents=True, exist_ok=True)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(os.cpu_count() or 1) as ex:
        for i, _ in enumerate(ex.map(_draw_one, [(i, seed, str(pool)) for i in range(n)],
                                     chunksize=256)):  # fmt: skip
            if (i + 1) % 5000 == 0:
                print(f"  {i + 1:,} pictures ready", flush=True)
    return pool


def build_tree(staging: Path, pool: Path, n: int, content_bytes: int, seed: int) -> Tree:
    seen: set[str] = set()
    picture_bytes = 0
    for i in range(n):
        folder = staging / "pictures" / f"d{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        src = pool / folder.name / f"img_{i:06d}.jpg"
        if not src.exists():
            src = src.with_suffix(".png")
        data = src.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:  # never met so far; the figures would count it twice otherwise
            raise SystemExit(f"picture {i} repeats an earlier one: change --seed")
        seen.add(digest)
        os.link(src, folder / src.name)
        picture_bytes += len(data)
    # the filler: 64 MiB files of random bytes, drawn once and linked into every tree
    rng = np.random.default_rng([seed, 1 << 30])
    left = max(content_bytes - picture_bytes, 0)
    (staging / "filler").mkdir()
    filler = pool.parent / f"filler-s{seed}"
    filler.mkdir(exist_ok=True)
    fillers = 0
    while left > 0:
        size = min(FILLER_CHUNK, left)
        chunk = rng.bytes(FILLER_CHUNK)  # drawn whole, so the k-th chunk is the same each time
        full = filler / f"fill_{fillers:03d}.bin"
        if not full.exists():
            full.write_bytes(chunk)
        target = staging / "filler" / full.name
        if size == FILLER_CHUNK:
            os.link(full, target)
        else:
            target.write_bytes(chunk[:size])
        fillers += 1
        left -= size
    return Tree(n, picture_bytes, fillers, max(content_bytes - picture_bytes, 0))


def write_mbr(image: Path, start: int, length: int, ptype: int) -> None:
    """A DOS partition table with one primary partition (LBA only; CHS fields maxed out)."""
    entry = struct.pack(
        "<B3sB3sII", 0, b"\xfe\xff\xff", ptype, b"\xfe\xff\xff", start // 512, length // 512
    )
    sector = bytearray(512)
    sector[440:444] = struct.pack("<I", 0x16161616)  # disk signature
    sector[446:462] = entry
    sector[510:512] = b"\x55\xaa"
    with open(image, "r+b") as fh:
        fh.write(sector)


@dataclass
class Built:
    path: str
    fs: str
    image_bytes: int
    files: int  # pictures + fillers (what a scan should find, besides the fs's own entries)
    pictures: int
    picture_bytes: int
    fillers: int
    filler_bytes: int
    build_s: float


def _key(n: int, size: int, fs: str, seed: int) -> str:
    return f"{fs}-{size // (1024 * 1024)}M-{n}f-s{seed}"


def _built(cache: Path, n: int, size: int, fs: str, seed: int) -> bool:
    return (cache / _key(n, size, fs, seed) / "built.json").exists()


def build_image(cache: Path, pool: Path, n: int, size: int, fs: str, seed: int) -> Built:
    key = _key(n, size, fs, seed)
    folder = cache / key
    meta = folder / "built.json"
    if meta.exists():
        return Built(**json.loads(meta.read_text()))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    fs_bytes = size - PART_START
    staging = folder / "tree"
    print(f"building {key}: {n:,} pictures and the filler ...", flush=True)
    tree = build_tree(staging, pool, n, int(fs_bytes * 0.9), seed)
    image = folder / ("image.raw" if fs == "ext4" else "image.dd")
    with open(image, "wb") as fh:
        fh.truncate(size)
    print(f"  {fs} file system ...", flush=True)
    if fs == "ext4":
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-b", "4096", "-N", str(n + 4096), "-E",
             f"offset={PART_START}", "-d", str(staging), str(image), f"{fs_bytes // 1024}k"],
            check=True,
        )  # fmt: skip
        write_mbr(image, PART_START, fs_bytes, 0x83)
    elif fs == "fat":
        subprocess.run(
            ["mkfs.fat", "-F", "32", "--offset", str(PART_START // 512), str(image),
             str(fs_bytes // 1024)],
            check=True, capture_output=True,
        )  # fmt: skip
        write_mbr(image, PART_START, fs_bytes, 0x0C)
        target = f"{image}@@{PART_START}"
        subprocess.run(
            [
                "mcopy",
                "-s",
                "-i",
                target,
                str(staging / "pictures"),
                str(staging / "filler"),
                "::/",
            ],
            check=True,
        )
    else:
        raise SystemExit(f"unknown --fs {fs}")
    shutil.rmtree(staging)
    built = Built(
        path=str(image),
        fs=fs,
        image_bytes=size,
        files=tree.pictures + tree.fillers,
        pictures=tree.pictures,
        picture_bytes=tree.picture_bytes,
        fillers=tree.fillers,
        filler_bytes=tree.filler_bytes,
        build_s=round(time.perf_counter() - started, 1),
    )
    meta.write_text(json.dumps(asdict(built)))
    print(f"  built in {built.build_s:.0f} s", flush=True)
    return built


# -- the floors ----------------------------------------------------------------------------------


@dataclass
class Row:
    what: str
    seconds: float
    files: int | None = None  # files handled (None: a sequential read of the image)
    workers: int = 1
    cpu_s: float | None = None  # user + system CPU seconds of every process involved
    note: str = ""
    rss_mib: float | None = None
    phases: dict[str, float] = field(default_factory=dict)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_cmd(cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of a command."""
    c, t = children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t, children_cpu() - c


def floor_dd(image: str) -> list[Row]:
    timed_cmd(["dd", f"if={image}", "of=/dev/null", "bs=4M"])  # into the page cache
    cached = min(timed_cmd(["dd", f"if={image}", "of=/dev/null", "bs=4M"]) for _ in range(2))
    direct = timed_cmd(["dd", f"if={image}", "of=/dev/null", "bs=4M", "iflag=direct"])
    return [
        Row("dd bs=4M (page cache)", cached[0], cpu_s=cached[1], note="best of 2"),
        Row("dd bs=4M iflag=direct (disk)", direct[0], cpu_s=direct[1]),
    ]


def floor_python(image: str) -> list[Row]:
    buf = bytearray(BLOCK)
    view = memoryview(buf)

    def loop(hashes: bool) -> tuple[float, float]:
        hs = [hashlib.sha256(), hashlib.md5(), hashlib.sha1()] if hashes else []
        c, t = own_cpu(), time.perf_counter()
        with open(image, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                for h in hs:
                    h.update(view[:n])
        return time.perf_counter() - t, own_cpu() - c

    plain = min(loop(False) for _ in range(2))
    hashed = loop(True)
    return [
        Row(
            "python read loop, 4 MiB readinto (page cache)",
            plain[0],
            cpu_s=plain[1],
            note="best of 2",
        ),  # fmt: skip
        Row("python read + SHA-256, MD5, SHA-1", hashed[0], cpu_s=hashed[1]),
    ]


def floor_tsk(image: str, read: bool) -> Row:
    import pytsk3

    img = pytsk3.Img_Info(image)
    fs = pytsk3.FS_Info(img, offset=PART_START)
    files = 0
    c, t = own_cpu(), time.perf_counter()

    def walk(directory: pytsk3.Directory) -> None:
        nonlocal files
        for entry in directory:
            name = entry.info.name.name
            if name in (b".", b"..") or entry.info.meta is None:
                continue
            if entry.info.meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                if name.startswith(b"$"):
                    continue
                walk(entry.as_directory())
            elif entry.info.meta.type == pytsk3.TSK_FS_META_TYPE_REG:
                files += 1
                if read:
                    size, offset = entry.info.meta.size, 0
                    while offset < size:
                        chunk = entry.read_random(offset, min(BLOCK, size - offset))
                        if not chunk:
                            break
                        offset += len(chunk)

    walk(fs.open_dir("/"))
    took, cpu = time.perf_counter() - t, own_cpu() - c
    what = "pytsk3 list + read every file" if read else "pytsk3 list (walk every folder)"
    return Row(what, took, files, cpu_s=cpu)


# -- consentry -----------------------------------------------------------------------------------


def child_scan(image: str, case: str, workers: int, mode: str) -> None:
    """In a child process: one scan through the service, its phase times as JSON."""
    from consentry.services.case import CaseRef
    from consentry.services.scan import ScanProgress, ScanRequest, scan

    marks: list[tuple[str, float]] = []

    class Timing(ScanProgress):
        def phase(self, name: str) -> None:
            marks.append((name, time.perf_counter()))

    t0 = time.perf_counter()
    request = ScanRequest(
        case=CaseRef(Path(case), None),
        sources=(image,),
        workers=workers,
        only=frozenset() if mode == "hash" else None,
        link=mode != "hash",
    )
    result = scan(request, Timing())
    end = time.perf_counter()
    phases: dict[str, float] = {}
    if marks:
        phases["setup"] = marks[0][1] - t0  # models loaded, case opened
    for (name, at), (_, nxt) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        phases[name] = phases.get(name, 0.0) + nxt - at
    kids, me = (
        resource.getrusage(resource.RUSAGE_CHILDREN),
        resource.getrusage(resource.RUSAGE_SELF),
    )
    children, own = kids.ru_maxrss / 1024, me.ru_maxrss / 1024
    cpu = kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime
    print(
        json.dumps(
            {
                "wall_s": end - t0,
                "files": result.counts.files,
                "analysed": result.analysed,
                "images": result.counts.images,
                "errors": result.counts.errors.total,
                "errors_by_code": dict(result.counts.errors.by_code),
                "phases": phases,
                "rss_mib": max(children, own),
                "cpu_s": cpu,
            }
        )
    )


def consentry_scan(built: Built, workers: int, mode: str, timeout: float) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-disk-case-") as tmp:
        p = subprocess.run(
            [sys.executable, __file__, "--child-scan", built.path, str(Path(tmp) / "case"),
             str(workers), mode],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        return [Row(f"consentry scan ({mode})", float("nan"), note=f"failed: {tail[0][:200]}")]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    phases = {k: round(v, 2) for k, v in res["phases"].items()}
    errors = res["errors_by_code"]
    note = f"{res['images']:,} images, {res['errors']:,} files with errors" + (
        f" ({', '.join(f'{k} {v}' for k, v in errors.items())})" if errors else ""
    )
    label = {"hash": "hash only: --only '' --no-links", "full": "defaults (3 analyzers, links)"}
    rows = [
        Row(
            f"consentry inventory (walk + listing into the store; in the {mode} run)",
            res["phases"].get("inventory", float("nan")),
            res["files"],
        ),
        Row(
            f"consentry scan, {label[mode]}",
            res["wall_s"],
            res["files"],
            workers,
            res["cpu_s"],
            note,
            res["rss_mib"],
            phases,
        ),
    ]
    return rows


def cli_scan(built: Built, workers: int, timeout: float) -> Row:
    script = Path(sys.executable).with_name("consentry")
    with tempfile.TemporaryDirectory(prefix="bench-disk-cli-") as tmp:
        c, t = children_cpu(), time.perf_counter()
        p = subprocess.run(
            [str(script), "scan", built.path, "--case", str(Path(tmp) / "case"), "--workers",
             str(workers), "-q", "--json"],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        took, cpu = time.perf_counter() - t, children_cpu() - c
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or [""]
        return Row("consentry scan CLI (defaults)", float("nan"), note=f"failed: {tail[0][:200]}")
    files = json.loads(p.stdout)["files"]
    return Row(
        "`consentry scan IMG --case C --workers W` (CLI, defaults)", took, files, workers, cpu
    )


# -- output --------------------------------------------------------------------------------------


def machine() -> list[str]:
    def sh(c: str) -> str:
        return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()

    import pytsk3

    return [
        "```",
        sh("lscpu | grep -E 'Model name|^CPU\\(s\\)|Thread|MHz' | head -5"),
        f"nproc: {os.cpu_count()}",
        sh("free -g | head -2"),
        sh(f"df -h {DEFAULT_CACHE.parent} | tail -1"),
        f"python {platform.python_version()}, pytsk3 {pytsk3.TSK_VERSION_STR}, "
        f"kernel {platform.release()}",
        f"commit {sh('git -C ' + str(ROOT) + ' rev-parse --short HEAD')}",
        f"load average before: {tuple(round(x, 2) for x in os.getloadavg())}",
        "```",
    ]


def fmt_rows(built: Built, rows: list[Row], floor_s: float) -> list[str]:
    mb = built.image_bytes / 1e6
    iped = IPED_GB_PER_H * 1e9 / 3600 / 1e6  # MB/s
    out = [
        "| what | wall s | CPU s | MB/s | MB/s per worker | MB per CPU-s | files/s | "
        "files per CPU-s | x dd (cached) | CPU-s cores for 400 GB/h | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if r.seconds != r.seconds:  # nan: it failed
            out.append(f"| {r.what} | - | - | - | - | - | - | - | - | - | {r.note} |")
            continue
        rate = mb / r.seconds
        cpu = r.cpu_s if r.cpu_s else None
        per_cpu = mb / cpu if cpu else None
        files = f"{r.files / r.seconds:,.0f}" if r.files else ""
        files_cpu = f"{r.files / cpu:,.0f}" if r.files and cpu else ""
        note = r.note
        if r.rss_mib:
            note += f"; peak RSS {r.rss_mib:,.0f} MiB"
        if r.phases:
            note += "; " + ", ".join(f"{k} {v:.1f} s" for k, v in r.phases.items())
        out.append(
            f"| {r.what} | {_num(r.seconds)} | {_num(cpu)} | {rate:,.1f} | "
            f"{rate / r.workers:,.1f} | {_num(per_cpu, 1)} | {files} | {files_cpu} | "
            f"{floor_s / r.seconds:.3f} | {_num(iped / per_cpu if per_cpu else None, 1)} | "
            f"{note.strip('; ')} |"
        )
    return out


def _num(x: float | None, digits: int | None = None) -> str:
    if x is None:
        return ""
    if digits is not None:
        return f"{x:,.{digits}f}"
    return f"{x:,.1f}" if x >= 10 else f"{x:.3f}" if x < 1 else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="~200 MB image, 200 and 1,000 files")
    ap.add_argument("--files", default=None, help="picture counts, e.g. 1000,10000,50000")
    ap.add_argument("--size-gib", type=float, default=None, help="image size [2; quick 0.2]")
    ap.add_argument("--fs", default="ext4", choices=["ext4", "fat"])
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--modes",
        default="floors,tsk,hash,full",
        help="floors (dd, python), tsk (pytsk3 walk), hash, full (consentry scans)",
    )
    ap.add_argument(
        "--full-max-files",
        type=int,
        default=1_000,
        help="skip the full scan above this many pictures (it runs the analyzers: ~0.2 CPU-s "
        "a picture)",
    )
    ap.add_argument("--cli", action="store_true", help="also time the real CLI (defaults)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--generate-only", action="store_true")
    ap.add_argument("--out", type=Path, help="append the Markdown to this file")
    ap.add_argument("--child-scan", nargs=4, metavar=("IMAGE", "CASE", "WORKERS", "MODE"))
    a = ap.parse_args()
    if a.child_scan:
        image, case, workers, mode = a.child_scan
        child_scan(image, case, int(workers), mode)
        return
    counts = [
        int(s) for s in (a.files or ("200,1000" if a.quick else "1000,10000,50000")).split(",")
    ]
    size = int((a.size_gib or (0.2 if a.quick else 2.0)) * GiB) // 2**20 * 2**20
    modes = set(a.modes.split(","))
    started = datetime.now(UTC)
    header = machine()
    pending = [n for n in counts if not _built(a.cache, n, size, a.fs, a.seed)]
    pool = picture_pool(a.cache, max(pending), a.seed) if pending else a.cache
    images = [build_image(a.cache, pool, n, size, a.fs, a.seed) for n in counts]
    if a.generate_only:
        for b in images:
            print(json.dumps(asdict(b)))
        return
    text = [
        f"# Disk image scan benchmark ({started:%Y-%m-%d %H:%M} UTC)",
        "",
        f"`{' '.join(['python bench/disk_image.py', *sys.argv[1:]])}`",
        "",
        "## Machine",
        "",
        *header,
        "",
    ]
    summary: list[tuple[int, str, Row, Row]] = []
    for built in images:
        rows: list[Row] = []
        print(f"== {built.pictures:,} pictures in {built.image_bytes / 1e9:.2f} GB ({built.fs})")
        if "floors" in modes:
            rows += floor_dd(built.path)
            rows += floor_python(built.path)
            print(f"  floors: {[(r.what, round(r.seconds, 2)) for r in rows]}", flush=True)
        floor_s = rows[0].seconds if rows else float("nan")
        if "tsk" in modes:
            for read in (False, True):
                rows.append(floor_tsk(built.path, read))
                print(f"  {rows[-1].what}: {rows[-1].seconds:.2f} s", flush=True)
        for mode in ("hash", "full"):
            if mode not in modes:
                continue
            if mode == "full" and built.pictures > a.full_max_files:
                print(f"  full scan skipped (> --full-max-files {a.full_max_files:,})")
                continue
            got = consentry_scan(built, a.workers, mode, a.timeout)
            rows += got
            print(f"  {mode}: {[(r.what, round(r.seconds, 2), r.note) for r in got]}", flush=True)
            summary.append((built.pictures, mode, got[-1], got[0]))
        if a.cli:
            rows.append(cli_scan(built, a.workers, a.timeout))
            print(f"  cli: {rows[-1].seconds:.1f} s", flush=True)
        text += [
            f"## {built.pictures:,} pictures ({built.picture_bytes / 1e6:,.0f} MB) + "
            f"{built.fillers} filler files ({built.filler_bytes / 1e6:,.0f} MB), "
            f"{built.files:,} files in a {built.image_bytes / 1e9:.2f} GB {built.fs} image",
            "",
            *fmt_rows(built, rows, floor_s),
            "",
        ]
    if summary:
        text += [
            "## Growth with the number of files (same image size)",
            "",
            "| pictures | scan | files | wall s | CPU s | CPU ms per file | inventory s | "
            "inventory ms per file | analysis s |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n, mode, scan_row, inv in summary:
            files = scan_row.files or n
            cpu = scan_row.cpu_s or float("nan")
            text.append(
                f"| {n:,} | {mode} | {files:,} | {scan_row.seconds:,.1f} | {cpu:,.1f} | "
                f"{cpu / files * 1000:,.2f} | {inv.seconds:,.2f} | "
                f"{inv.seconds / files * 1000:,.3f} | "
                f"{scan_row.phases.get('analysis', float('nan')):,.1f} |"
            )
        text.append("")
    text += [f"load average after: {tuple(round(x, 2) for x in os.getloadavg())}", ""]
    md = "\n".join(text)
    print(md)
    if a.out:
        with a.out.open("a") as fh:
            fh.write(md + "\n")


if __name__ == "__main__":
    main()
