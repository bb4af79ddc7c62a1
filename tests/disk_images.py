"""Build small disk images for tests, the demo and benchmarks, without mounting anything.

Every builder writes a new file (never touches its inputs), uses only the Debian tools named in
its docstring, and calls ``pytest.skip`` with the missing tool's name when one is absent, so a
test that needs NTFS is skipped (not failed) on a machine without ntfs-3g.

    fat_image(path, {"DCIM/a.jpg": data}, delete=["DCIM/a.jpg"])   # mkfs.vfat + mtools
    ntfs_image(path, {"a.jpg": data})                               # mkntfs + ntfscp
    ext4_image(path, {"home/x/a.jpg": data}, delete=[...])           # mkfs.ext4 -d + debugfs
    partitioned_image(path, [(fat, 0x0C), (ext4, 0x83)])             # MBR written here
    e01_image(raw, target, segment_bytes=1 << 20)                    # ewfacquire
    corrupt(path, offset, b"\\xff" * 16)                            # overwrite bytes in place

File names inside images are given with "/" separators, relative to the file system's root.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

SECTOR = 512
MIB = 1024 * 1024


def need(*tools: str) -> None:
    """Skip the calling test unless every tool is on PATH (one clear reason)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)} (Debian: dosfstools mtools ntfs-3g e2fsprogs ewf-tools)"
        )


def _run(*args: str | Path) -> None:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{Path(str(args[0])).name} failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[:500]}"
        )


def _parents(names: Iterable[str]) -> list[str]:
    """Every folder that must exist for ``names``, parents before children."""
    folders: set[str] = set()
    for name in names:
        parts = name.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return sorted(folders, key=lambda f: (f.count("/"), f))


def fat_image(
    path: Path,
    files: Mapping[str, bytes],
    delete: Sequence[str] = (),
    size_mb: int = 16,
    fat_bits: int = 16,
    label: str = "EVIDENCE",
) -> Path:
    """A FAT12/16/32 file system (no partition table) holding ``files``; the names in
    ``delete`` are then deleted with ``mdel`` (their directory entries marked deleted, their
    clusters freed but not wiped: TSK recovers them). FAT32 needs ``size_mb >= 33``.
    Tools: mkfs.vfat, mmd, mcopy, mdel."""
    need("mkfs.vfat", "mmd", "mcopy", "mdel")
    path = Path(path)
    path.unlink(missing_ok=True)
    _run("mkfs.vfat", "-C", "-F", str(fat_bits), "-n", label, path, str(size_mb * 1024))
    with tempfile.TemporaryDirectory() as tmp:
        for folder in _parents(files):
            _run("mmd", "-i", path, "::/" + folder)
        for i, (name, data) in enumerate(files.items()):
            src = Path(tmp) / f"f{i}"
            src.write_bytes(data)
            _run("mcopy", "-i", path, src, "::/" + name.strip("/"))
    for name in delete:
        _run("mdel", "-i", path, "::/" + name.strip("/"))
    return path


def ntfs_image(path: Path, files: Mapping[str, bytes], size_mb: int = 16) -> Path:
    """An NTFS file system (no partition table) holding ``files`` at its root or in folders
    that already exist (ntfscp makes no folders, so names with "/" are refused here).
    Tools: mkntfs, ntfscp."""
    need("mkntfs", "ntfscp")
    path = Path(path)
    if any("/" in n.strip("/") for n in files):
        raise ValueError("ntfs_image: ntfscp cannot create folders; give root-level names")
    with open(path, "wb") as fh:
        fh.truncate(size_mb * MIB)
    _run("mkntfs", "-F", "-Q", "-q", "-L", "EVIDENCE", path)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, data) in enumerate(files.items()):
            src = Path(tmp) / f"f{i}"
            src.write_bytes(data)
            _run("ntfscp", "-f", path, src, "/" + name.strip("/"))
    return path


def ext4_image(
    path: Path,
    files: Mapping[str, bytes],
    delete: Sequence[str] = (),
    size_mb: int = 16,
    then: Mapping[str, bytes] | None = None,
) -> Path:
    """An ext4 file system (no partition table) made from a folder with ``mkfs.ext4 -d``; the
    names in ``delete`` are then removed with ``debugfs -w -R "rm ..."`` (on the image file
    only, never mounted), and the files of ``then`` written after that with debugfs ``write``
    (into folders that exist; a new file may take a deleted one's inode and blocks).
    Tools: mkfs.ext4, debugfs."""
    need("mkfs.ext4", *(["debugfs"] if delete or then else []))
    path = Path(path)
    path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for name, data in files.items():
            target = root / name.strip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        _run("mkfs.ext4", "-q", "-F", "-L", "evidence", "-d", root, path, f"{size_mb}M")
    for name in delete:
        _run("debugfs", "-w", "-R", f"rm /{name.strip('/')}", path)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, data) in enumerate((then or {}).items()):
            src = Path(tmp) / f"t{i}"
            src.write_bytes(data)
            folder, _, base = name.strip("/").rpartition("/")
            script = Path(tmp) / f"t{i}.debugfs"
            script.write_text(f"cd /{folder}\nwrite {src} {base}\n")
            _run("debugfs", "-w", "-f", script, path)
    return path


def partitioned_image(path: Path, partitions: Sequence[tuple[Path, int]]) -> Path:
    """A disk with an MBR partition table and the given file-system images as its primary
    partitions (at most 4), in order, each starting on a 1 MiB boundary. The second item of
    each pair is the partition type byte: 0x06 FAT16, 0x0C FAT32 (LBA), 0x07 NTFS, 0x83 Linux.
    Written here byte by byte (no sfdisk needed)."""
    if not 1 <= len(partitions) <= 4:
        raise ValueError("an MBR holds 1 to 4 primary partitions")
    path = Path(path)
    entries = b""
    start = MIB
    layout = []
    for image, ptype in partitions:
        size = Path(image).stat().st_size
        sectors = (size + SECTOR - 1) // SECTOR
        entries += struct.pack(
            "<B3sB3sII", 0x00, b"\xfe\xff\xff", ptype, b"\xfe\xff\xff", start // SECTOR, sectors
        )
        layout.append((image, start))
        start += -(-sectors * SECTOR // MIB) * MIB  # next 1 MiB boundary
    entries += b"\x00" * (64 - len(entries))
    mbr = b"\x00" * 440 + b"CSTY" + b"\x00\x00" + entries + b"\x55\xaa"
    with open(path, "wb") as out:
        out.write(mbr)
        for image, offset in layout:
            out.seek(offset)
            with open(image, "rb") as src:
                shutil.copyfileobj(src, out)
        out.truncate(start)
    return path


def e01_image(
    raw: Path,
    target: Path,
    segment_bytes: int | None = None,
    compression: str = "none",
    sha1: bool = True,
) -> list[Path]:
    """An EnCase 6 (E01) image of the raw image ``raw``, with its MD5 (and SHA-1) stored.
    ``target`` is the name without extension (``.../laptop`` -> ``laptop.E01``). With
    ``segment_bytes`` (>= 1 MiB) the image is split into ``.E01, .E02, ...``. Returns the
    segment files in order. Tool: ewfacquire."""
    need("ewfacquire")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    args: list[str | Path] = ["ewfacquire", "-u", "-q", "-t", target, "-f", "encase6"]
    args += ["-c", compression, "-C", "case-16", "-D", "test image", "-e", "tester"]
    args += ["-E", "ev-1", "-N", "made by tests/disk_images.py"]
    if sha1:
        args += ["-d", "sha1"]
    if segment_bytes is not None:
        args += ["-S", str(segment_bytes)]
    _run(*args, raw)
    segments = sorted(target.parent.glob(target.name + ".E[0-9][0-9]"))
    if not segments:
        raise RuntimeError(f"ewfacquire wrote no segment next to {target}")
    return segments


def corrupt(path: Path, offset: int, data: bytes) -> None:
    """Overwrite ``len(data)`` bytes of ``path`` at ``offset`` (a negative offset counts from
    the end) -- for building broken evidence copies, never for evidence itself."""
    path = Path(path)
    size = path.stat().st_size
    where = offset if offset >= 0 else size + offset
    with open(path, "r+b") as fh:
        fh.seek(where)
        fh.write(data)


def jpeg(seed: int, width: int = 96, height: int = 72) -> bytes:
    """A harmless synthetic JPEG (tests/synthetic.photo_like) as bytes."""
    import io

    from .synthetic import photo_like

    buf = io.BytesIO()
    photo_like(seed, width, height).save(buf, "JPEG", quality=88)
    return buf.getvalue()


__all__ = [
    "corrupt",
    "e01_image",
    "ext4_image",
    "fat_image",
    "jpeg",
    "need",
    "ntfs_image",
    "partitioned_image",
]
