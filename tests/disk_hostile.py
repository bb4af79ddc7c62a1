"""A corpus of hostile disk images for ``test_disk_hostile``: every one must be scanned to the
end and each become a recorded problem with a stable code.

Built with ``tests/disk_images.py`` (mkfs.vfat + mtools, mkfs.ext4 -d, ewfacquire, the MBR
writer) and then broken here byte by byte: FAT directory entries and FAT chains patched, MBR
entries pointing past the end or into each other, a superblock zeroed, E01 segments flipped,
truncated or removed. Nothing is mounted. Each image is a few MB.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .disk_images import (
    MIB,
    SECTOR,
    _run,
    corrupt,
    e01_image,
    ext4_image,
    fat_image,
    need,
    partitioned_image,
)


def picture(seed: int, kind: str = "JPEG") -> bytes:
    """A small harmless picture (gradient and noise), distinct for every seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:64]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1) + rng.normal(0, 20, (48, 64, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB").save(buf, kind)
    return buf.getvalue()


@dataclass(frozen=True)
class Hostile:
    """One hostile image: what to name as a source, and what a scan of it must record."""

    name: str
    source: Path  # named to ``consentry scan`` (an E01's first segment)
    evidence: tuple[Path, ...]  # every file of it, hashed before and after the scans
    # at least one of these codes on a location of this image (one alternative: any of them)
    codes: frozenset[str]
    where: str | None = None  # the location holding it: "" the image itself, "p2" its volume
    # files that must still be found and read with exactly these bytes ("p1/a.jpg": data)
    intact: dict[str, bytes] = field(default_factory=dict)
    # files that must be recorded with an error (or not listed): their bytes are not there
    broken: tuple[str, ...] = ()
    note: str = ""
    alone: bool = False  # scanned in a case of its own, with a short timeout (it may hang one)


# -- FAT12/16 patching ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FatGeometry:
    bytes_per_sector: int
    sectors_per_cluster: int
    reserved: int
    fats: int
    root_entries: int
    fat_sectors: int
    base: int = 0  # where the file system starts in the file

    @classmethod
    def read(cls, data: bytes | bytearray, base: int = 0) -> FatGeometry:
        bps, spc, reserved, fats, root, _total, _media, fat_sectors = struct.unpack_from(
            "<HBHBHHBH", data, base + 11
        )
        return cls(bps, spc, reserved, fats, root, fat_sectors, base)

    def fat_offsets(self) -> list[int]:
        return [
            self.base + (self.reserved + i * self.fat_sectors) * self.bytes_per_sector
            for i in range(self.fats)
        ]

    @property
    def root_offset(self) -> int:
        return self.base + (self.reserved + self.fats * self.fat_sectors) * self.bytes_per_sector

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * self.bytes_per_sector

    def cluster_offset(self, cluster: int) -> int:
        return self.root_offset + self.root_entries * 32 + (cluster - 2) * self.cluster_bytes


def _entry(data: bytes | bytearray, start: int, count: int, short_name: bytes) -> int:
    """Offset of the 32-byte directory entry with this 8.3 name ("LOOP       ")."""
    for i in range(count):
        at = start + 32 * i
        if data[at] == 0:
            break
        if data[at + 11] != 0x0F and data[at : at + 11] == short_name:
            return at
    raise LookupError(f"no directory entry {short_name!r}")


def _first_cluster(data: bytes | bytearray, entry: int) -> int:
    return int(struct.unpack_from("<H", data, entry + 26)[0])


def _set_fat16(data: bytearray, geo: FatGeometry, cluster: int, value: int) -> None:
    for fat in geo.fat_offsets():
        struct.pack_into("<H", data, fat + 2 * cluster, value)


# -- the corpus -----------------------------------------------------------------------------------

A, B, C, D = (picture(s) for s in (161, 162, 163, 164))


def truncated_raw(d: Path) -> Hostile:
    """An acquisition that stopped part-way: a partitioned FAT16 image cut 4 MiB into its
    12 MiB partition. a.jpg (first clusters) is whole; late.jpg lay past the cut."""
    fs = fat_image(
        d / "t.fat",
        {"a.jpg": A, "filler.bin": os.urandom(6 * MIB), "late.jpg": B},
        size_mb=12,
    )
    image = partitioned_image(d / "truncated.dd", [(fs, 0x06)])
    fs.unlink()
    os.truncate(image, MIB + 4 * MIB)
    return Hostile(
        "truncated raw image",
        image,
        (image,),
        frozenset({"unreadable", "volume_unreadable", "filesystem_unreadable"}),
        intact={"p1/a.jpg": A},
        broken=("p1/late.jpg",),
    )


def _mbr(path: Path, fs: Path, entries: list[tuple[int, int, int]], size: int) -> Path:
    """An MBR with these (start sector, sectors, type) entries and ``fs`` at 1 MiB."""
    table = b"".join(
        struct.pack("<B3sB3sII", 0, b"\xfe\xff\xff", t, b"\xfe\xff\xff", s, n)
        for s, n, t in entries
    )
    with open(path, "wb") as out:
        out.write(b"\x00" * 440 + b"H5MB\x00\x00" + table.ljust(64, b"\x00") + b"\x55\xaa")
        out.seek(MIB)
        out.write(fs.read_bytes())
        out.truncate(size)
    return path


def partition_past_end(d: Path) -> Hostile:
    """p1 a sound FAT16 at 1 MiB; p2 declared to start 4 GiB in, far past the image's end
    (The Sleuth Kit refuses the whole table then)."""
    fs = fat_image(d / "pe.fat", {"a.jpg": A}, size_mb=12)
    sectors = fs.stat().st_size // SECTOR
    image = _mbr(
        d / "past_end.dd",
        fs,
        [(MIB // SECTOR, sectors, 0x06), (8 * 1024 * 1024, 2048, 0x06)],
        MIB + fs.stat().st_size,
    )
    fs.unlink()
    return Hostile(
        "MBR partition past the end",
        image,
        (image,),
        frozenset({"volume_unreadable", "disk_image_unreadable"}),
        note="TSK opens no partition of this table; p1's files could only come from parsing it",
    )


def overlapping_partitions(d: Path) -> Hostile:
    """p1 a FAT16; p2 the same sectors as p1; p3 starts 4 MiB inside p1 (no file system
    starts there)."""
    fs = fat_image(d / "ov.fat", {"a.jpg": A, "b.jpg": B}, size_mb=12)
    sectors = fs.stat().st_size // SECTOR
    start = MIB // SECTOR
    image = _mbr(
        d / "overlap.dd",
        fs,
        [(start, sectors, 0x06), (start, sectors, 0x06), (start + 8192, 8192, 0x06)],
        MIB + fs.stat().st_size,
    )
    fs.unlink()
    return Hostile(
        "overlapping partitions",
        image,
        (image,),
        frozenset({"filesystem_unreadable"}),
        where="p3",
        intact={"p1/a.jpg": A, "p1/b.jpg": B, "p2/a.jpg": A},
    )


def zeroed_superblock(d: Path) -> Hostile:
    """p1 a sound FAT16; p2 an ext4 whose superblock (bytes 1024-2047) is zeroed."""
    need("mkfs.ext4")
    fat = fat_image(d / "zs.fat", {"a.jpg": A}, size_mb=12)
    ext = ext4_image(d / "zs.ext4", {"home/x/c.jpg": C}, size_mb=8)
    corrupt(ext, 1024, b"\x00" * 1024)
    image = partitioned_image(d / "zeroed_sb.dd", [(fat, 0x06), (ext, 0x83)])
    fat.unlink()
    ext.unlink()
    return Hostile(
        "zeroed superblock",
        image,
        (image,),
        frozenset({"filesystem_unreadable"}),
        where="p2",
        intact={"p1/a.jpg": A},
    )


def fat_directory_loop(d: Path) -> Hostile:
    """sub/loop is a directory entry whose first cluster is sub's own: sub/loop/loop/... for
    ever to a walker that does not notice."""
    fs = fat_image(d / "dirloop.img", {"sub/a.jpg": A, "sub/loop/x.jpg": B}, size_mb=12)
    data = bytearray(fs.read_bytes())
    geo = FatGeometry.read(data)
    sub = _first_cluster(data, _entry(data, geo.root_offset, geo.root_entries, b"SUB        "))
    loop = _entry(data, geo.cluster_offset(sub), geo.cluster_bytes // 32, b"LOOP       ")
    struct.pack_into("<H", data, loop + 26, sub)
    fs.write_bytes(data)
    return Hostile(
        "FAT directory loop",
        fs,
        (fs,),
        frozenset({"filesystem_unreadable", "unreadable", "symlink_loop", "volume_unreadable"}),
        intact={"p0/sub/a.jpg": A},
    )


def fat_cyclic_chain(d: Path) -> Hostile:
    """cyc.bin's cluster chain loops after two clusters (c -> c+1 -> c) while its size asks
    for ten; a.jpg beside it is sound."""
    fs = fat_image(d / "cyclic.img", {"a.jpg": A, "cyc.bin": os.urandom(20_000)}, size_mb=12)
    data = bytearray(fs.read_bytes())
    geo = FatGeometry.read(data)
    first = _first_cluster(data, _entry(data, geo.root_offset, geo.root_entries, b"CYC     BIN"))
    _set_fat16(data, geo, first + 1, first)
    fs.write_bytes(data)
    return Hostile(
        "FAT cyclic cluster chain",
        fs,
        (fs,),
        frozenset({"unreadable", "filesystem_unreadable"}),
        intact={"p0/a.jpg": A},
        broken=("p0/cyc.bin",),
    )


def fat_short_chain(d: Path) -> Hostile:
    """big.jpg's directory entry declares 8 MiB; its cluster chain holds one 2 KiB cluster.
    (A FAT entry declaring more than the file system holds is not listed by TSK at all.)"""
    fs = fat_image(d / "short.img", {"a.jpg": A, "big.jpg": B}, size_mb=12)
    data = bytearray(fs.read_bytes())
    geo = FatGeometry.read(data)
    big = _entry(data, geo.root_offset, geo.root_entries, b"BIG     JPG")
    struct.pack_into("<I", data, big + 28, 8 * MIB)
    fs.write_bytes(data)
    return Hostile(
        "FAT size longer than its chain",
        fs,
        (fs,),
        frozenset({"unreadable", "too_large_for_analysis"}),
        intact={"p0/a.jpg": A},
        broken=("p0/big.jpg",),
    )


def huge_declared_size(d: Path) -> Hostile:
    """An ext4 inode declaring 1 TiB (debugfs ``sif``) in an 8 MiB file system: reading it to
    its declared end would hash a terabyte."""
    need("mkfs.ext4", "debugfs")
    fs = ext4_image(d / "huge.img", {"a.jpg": A, "big.jpg": B}, size_mb=8)
    _run("debugfs", "-w", "-R", "sif /big.jpg size 0x10000000000", fs)
    return Hostile(
        "huge declared file size",
        fs,
        (fs,),
        frozenset({"too_large_for_analysis", "unreadable"}),
        intact={"p0/a.jpg": A},
        broken=("p0/big.jpg",),
        alone=True,
    )


def random_e01(d: Path) -> Hostile:
    path = d / "random.E01"
    path.write_bytes(np.random.default_rng(16).bytes(2 * MIB))
    return Hostile("random bytes named .E01", path, (path,), frozenset({"disk_image_unreadable"}))


def _e01_source(d: Path, name: str, segment_bytes: int | None = None) -> list[Path]:
    raw = fat_image(
        d / f"{name}.raw",
        {"a.jpg": A, "pad.bin": os.urandom(MIB), "p.bin": b"H5-MARKER-" * 100 + os.urandom(9000)},
        size_mb=4,
        fat_bits=12,
    )
    segments = e01_image(raw, d / name, segment_bytes=segment_bytes)
    raw.unlink()
    return segments


def e01_flipped_byte(d: Path) -> Hostile:
    """One byte of chunk data flipped (inside p.bin): the stored MD5/SHA-1 no longer match."""
    (segment,) = _e01_source(d, "flipped")
    at = segment.read_bytes().find(b"H5-MARKER-") + 500
    corrupt(segment, at, bytes([segment.read_bytes()[at] ^ 0xFF]))
    return Hostile(
        "E01 with a flipped byte",
        segment,
        (segment,),
        frozenset({"image_hash_mismatch"}),
        where="",
        intact={"p0/a.jpg": A},
    )


def e01_missing_segment(d: Path) -> Hostile:
    """A split E01 (.E01-.E05) whose .E03 is gone."""
    segments = _e01_source(d, "split", segment_bytes=MIB)
    assert len(segments) >= 3, segments
    segments[2].unlink()
    rest = tuple(s for i, s in enumerate(segments) if i != 2)
    return Hostile(
        "split E01, middle segment missing",
        segments[0],
        rest,
        frozenset({"image_segment_missing"}),
        where="",
    )


def e01_truncated(d: Path) -> Hostile:
    """A single-segment E01 cut in half (no closing sections, no stored hash)."""
    (segment,) = _e01_source(d, "truncated")
    os.truncate(segment, segment.stat().st_size // 2)
    return Hostile(
        "truncated E01",
        segment,
        (segment,),
        frozenset({"disk_image_unreadable", "volume_unreadable", "image_segment_missing"}),
    )


def empty_dd(d: Path) -> Hostile:
    path = d / "empty.dd"
    path.write_bytes(b"")
    return Hostile(
        "empty .dd", path, (path,), frozenset({"disk_image_unreadable", "empty_file"}), where=""
    )


ODD_NAMES = {
    "caf\udce9.jpg": A,  # b"caf\xe9.jpg": Latin-1, not UTF-8
    "a!b.jpg": B,  # the separator consentry shows between an image and its files
    "x\u2215y.jpg": C,  # DIVISION SLASH, looks like "/"
    "p2!\\p3.jpg": D,  # "!" and a backslash together
    "esc\x1b[31mred.png": picture(165, "PNG"),  # a terminal escape in a name
}


def odd_names(d: Path) -> Hostile:
    """An ext4 whose file names are not UTF-8, or hold '!', '/'-like and escape characters."""
    need("mkfs.ext4")
    fs = ext4_image(d / "names.img", {f"n/{k}": v for k, v in ODD_NAMES.items()}, size_mb=8)
    return Hostile(
        "non-UTF-8 and '!' names",
        fs,
        (fs,),
        frozenset({"non_utf8_name"}),
        intact={f"p0/n/{k}": v for k, v in ODD_NAMES.items()},
    )


def names_that_escape_alike(d: Path) -> Hostile:
    r"""Two files of one folder: ``caf\xe9.jpg`` (the byte 0xE9) and ``caf\\xe9.jpg`` (a
    backslash, "x", "e", "9"): shown alike, they are two files with two contents."""
    need("mkfs.ext4")
    fs = ext4_image(d / "alike.img", {"n/caf\udce9.jpg": A, "n/caf\\xe9.jpg": B}, size_mb=8)
    return Hostile(
        "names that escape alike",
        fs,
        (fs,),
        frozenset({"non_utf8_name"}),
        note="the two must stay two locations with their own bytes",
    )


def deleted_reused(d: Path) -> Hostile:
    """old/a.bin (three clusters) deleted, then new.jpg written over its clusters: what TSK
    "recovers" for old/a.bin is new.jpg's first cluster padded out, not a.bin."""
    need("mdel")
    payload = os.urandom(5000)
    fs = fat_image(d / "reused.img", {"old/a.bin": payload}, delete=["old/a.bin"], size_mb=12)
    src = d / "new.jpg.src"
    src.write_bytes(A + os.urandom(6000))
    _run("mcopy", "-i", fs, src, "::/new.jpg")
    src.unlink()
    return Hostile(
        "deleted file whose clusters were reused",
        fs,
        (fs,),
        frozenset({"deleted_partial", "deleted_unrecoverable"}),
        note="the deleted entry must not be passed off as recovered",
    )


BUILDERS: tuple[Callable[[Path], Hostile], ...] = (
    truncated_raw,
    partition_past_end,
    overlapping_partitions,
    zeroed_superblock,
    fat_directory_loop,
    fat_cyclic_chain,
    fat_short_chain,
    huge_declared_size,
    random_e01,
    e01_flipped_byte,
    e01_missing_segment,
    e01_truncated,
    empty_dd,
    odd_names,
    names_that_escape_alike,
    deleted_reused,
)


def build_corpus(root: Path) -> list[Hostile]:
    """Every case, each in its own folder under ``root``."""
    cases = []
    for builder in BUILDERS:
        folder = root / builder.__name__
        folder.mkdir(parents=True)
        cases.append(builder(folder))
    return cases
