"""Disk images as sources: raw and E01 (split too), their volumes and file systems, deleted
files recovered and flagged, hashes verified, bad images recorded as problems, read-only,
resumable. Images are built by tests/disk_images.py from harmless synthetic pictures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main
from consentry.media import archives, disk
from consentry.records.locations import DISK_MARK, LocationRef, disk_element
from consentry.records.problems import Code
from consentry.store.case import open_case_readonly
from consentry.store.disk_store import deleted_files, disk_images

from .disk_images import (
    corrupt,
    e01_image,
    ext4_image,
    fat_image,
    jpeg,
    ntfs_image,
    partitioned_image,
)

A, B, C = jpeg(1), jpeg(2, 160, 120), jpeg(3)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scan(*sources: Path, case: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        main,
        [
            "scan",
            *map(str, sources),
            "--case",
            str(case),
            "--workers",
            "1",
            "-q",
            "--json",
            "--no-links",
            "--only",
            "explicit",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def rows(case: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


def problems(case: Path) -> dict[str, set[str]]:
    """path -> location problem codes."""
    out: dict[str, set[str]] = {}
    for path, code in rows(
        case,
        "select l.path, p.code from location_problems p join locations l on l.id = p.location_id",
    ):
        out.setdefault(str(path), set()).add(str(code))
    return out


def walk(path: Path) -> list:  # type: ignore[type-arg]
    fmt = disk.image_format(os.fsencode(path))
    assert fmt is not None
    return list(disk.walk_image(disk.inspect_image(os.fsencode(path), fmt)))


def listed(found: list) -> dict:  # type: ignore[type-arg]
    """The files inside an image by their place (``p0/DCIM/a.jpg``), image name left out."""
    return {f.ref.display.split("!", 1)[1]: f for f in found if f.ref.member_chain}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of images shared by the tests (each copies what it breaks)."""
    d = tmp_path_factory.mktemp("images")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("pics/inner.jpg", C)
    fat_image(
        d / "fat.img",
        {"DCIM/a.jpg": A, "DCIM/b.jpg": B, "Downloads/bundle.zip": inner.getvalue()},
        delete=["DCIM/b.jpg"],
    )
    ext4_image(d / "ext.img", {"home/x/a.jpg": A, "home/x/c.jpg": C}, delete=["home/x/c.jpg"])
    partitioned_image(d / "disk.img", [(d / "fat.img", 0x06), (d / "ext.img", 0x83)])
    return d


# -- the file systems, without a scan --------------------------------------------------------


def test_fat_deleted_picture_is_recovered_and_flagged(images: Path) -> None:
    found = listed(walk(images / "fat.img"))
    live = found["p0/DCIM/a.jpg"]
    assert live.fs is not None and live.fs.deleted is False and live.fs.recovery == "allocated"
    gone = found["p0/DCIM/_.jpg"]  # FAT loses a deleted name's first letter
    assert gone.fs is not None and gone.fs.deleted and gone.fs.recovery == "recovered"
    assert gone.readable and gone.size == len(B) and gone.mtime_ns
    assert [p.code for p in gone.problems] == [Code.DELETED_FILE]
    assert disk.read_location(gone.ref) == B
    assert disk.read_location(live.ref) == A
    assert gone.ref.address and gone.ref.address.startswith("p0:")


def test_deleted_file_whose_clusters_were_reused_is_unrecoverable(tmp_path: Path) -> None:
    fat_image(tmp_path / "f.img", {"DCIM/a.jpg": A}, delete=["DCIM/a.jpg"])
    # the big file takes the freed clusters (mtools allocates from the start)
    src = tmp_path / "big.jpg"
    src.write_bytes(B)
    import subprocess

    subprocess.run(["mcopy", "-i", tmp_path / "f.img", src, "::/big.jpg"], check=True)
    found = listed(walk(tmp_path / "f.img"))
    gone = found["p0/DCIM/_.jpg"]
    assert gone.fs.recovery == "unrecoverable" and not gone.readable
    assert [p.code for p in gone.problems] == [Code.DELETED_UNRECOVERABLE]
    assert "belong to allocated files" in gone.problems[0].message
    assert gone.size == len(A)  # name, size and times are still listed


def test_deleted_beside_a_live_file_of_the_same_name_is_duplicate_2(tmp_path: Path) -> None:
    fat_image(tmp_path / "f.img", {"DCIM/_.jpg": B, "DCIM/a.jpg": A}, delete=["DCIM/a.jpg"])
    found = listed(walk(tmp_path / "f.img"))
    assert disk.read_location(found["p0/DCIM/_.jpg"].ref) == B
    second = found["p0/DCIM/_.jpg (duplicate 2)"]
    assert second.ref.member_chain == (disk_element("p0", "/DCIM/_.jpg", 2),)
    assert second.fs.deleted and disk.read_location(second.ref) == A


def test_ntfs_listing(tmp_path: Path) -> None:
    ntfs_image(tmp_path / "n.img", {"a.jpg": A, "b.jpg": B})
    found = listed(walk(tmp_path / "n.img"))
    assert {"p0/a.jpg", "p0/b.jpg"} <= set(found)
    assert not [p for p in found if p.startswith("p0/$MFT")]  # NTFS's own metadata files
    assert found["p0/a.jpg"].ref.address.endswith("-128-2")  # inode-$DATA-id
    assert disk.read_location(found["p0/b.jpg"].ref) == B


def test_ext4_deleted_file_recovered(images: Path) -> None:
    found = listed(walk(images / "ext.img"))
    assert found["p0/home/x/a.jpg"].fs.recovery == "allocated"
    c = found["p0/home/x/c.jpg"]
    assert c.fs.deleted and c.fs.recovery == "recovered"
    assert disk.read_location(c.ref) == C


def test_ext4_deleted_name_whose_inode_was_reused_is_unrecoverable(tmp_path: Path) -> None:
    ext4_image(
        tmp_path / "e.img",
        {"x/a.jpg": A, "x/keep.jpg": C},
        delete=["x/a.jpg"],
        then={"y.jpg": B},
        size_mb=4,
    )
    found = listed(walk(tmp_path / "e.img"))
    gone = found["p0/x/a.jpg"]
    assert gone.fs.recovery == "unrecoverable" and not gone.readable
    assert "another" in gone.problems[0].message


def test_partitioned_image_names_volumes_p1_p2(images: Path) -> None:
    inspection = disk.inspect_image(os.fsencode(images / "disk.img"), "raw")
    assert [(v.name, v.filesystem) for v in inspection.info.volumes] == [
        ("p1", "FAT16"),
        ("p2", "Ext4"),
    ]
    assert inspection.info.verification == "no_stored_hash"
    assert (
        inspection.info.computed_md5 == hashlib.md5((images / "disk.img").read_bytes()).hexdigest()
    )
    shown = [f.ref.display for f in disk.walk_image(inspection)]
    base = str(images / "disk.img")
    assert f"{base}!p1/DCIM/a.jpg" in shown and f"{base}!p2/home/x/a.jpg" in shown


def test_location_display_format() -> None:
    ref = LocationRef(b"/ev/laptop.E01", (disk_element("p2", "/Users/x/Downloads/a.jpg"),))
    assert ref.display == "/ev/laptop.E01!p2/Users/x/Downloads/a.jpg"
    assert ref.child("inner.jpg").display == "/ev/laptop.E01!p2/Users/x/Downloads/a.jpg!/inner.jpg"
    assert ref.name == "a.jpg"


def test_walk_is_deterministic(images: Path) -> None:
    first = [(f.ref.key, f.ref.address) for f in walk(images / "disk.img")]
    assert first == [(f.ref.key, f.ref.address) for f in walk(images / "disk.img")]


def test_zip_member_named_like_a_disk_path_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(DISK_MARK + "p1/evil.jpg", A)
        z.writestr("ok.jpg", A)
    members = {m.name: m for m in archives.list_members(buf)}
    evil = members[DISK_MARK + "p1/evil.jpg"]
    assert not evil.readable and [p.code for p in evil.problems] == [Code.UNSAFE_MEMBER_PATH]
    assert members["ok.jpg"].readable


# -- scans -------------------------------------------------------------------------------------


def test_scan_raw_partitioned_image(images: Path, tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    shutil.copy(images / "disk.img", image)
    before = (file_sha(image), image.stat().st_mtime_ns, image.stat().st_size)
    summary = scan(image, case=tmp_path / "case")
    assert summary["source_changes"] == []
    assert (file_sha(image), image.stat().st_mtime_ns, image.stat().st_size) == before
    case = tmp_path / "case"
    by_path = {
        str(p): (deleted, recovery, sha256)
        for p, deleted, recovery, sha256 in rows(
            case, "select path, deleted, recovery, sha256 from locations"
        )
    }
    base = str(image)
    assert by_path[f"{base}!p1/DCIM/a.jpg"] == (0, "allocated", sha(A))
    assert by_path[f"{base}!p1/DCIM/_.jpg"] == (1, "recovered", sha(B))
    assert by_path[f"{base}!p2/home/x/c.jpg"] == (1, "recovered", sha(C))
    # the zip inside the disk image is expanded and its member read
    assert by_path[f"{base}!p1/Downloads/bundle.zip!/pics/inner.jpg"][2] == sha(C)
    assert rows(case, "select kind from sources") == [("disk_image",)]
    assert problems(case)[f"{base}!p1/DCIM/_.jpg"] == {"deleted_file"}
    # the recovered picture is analysed like the rest
    assert rows(case, f"select is_image from contents where sha256 = '{sha(B)}'") == [(1,)]
    with open_case_readonly(case) as opened:
        gone = {d.path: d for d in deleted_files(opened.store)}
        (info,) = disk_images(opened.store)
    assert gone[f"{base}!p1/DCIM/_.jpg"].sha256 == sha(B)
    assert gone[f"{base}!p1/DCIM/_.jpg"].recovery == "recovered"
    assert info.format == "raw" and info.verification == "no_stored_hash"
    assert [v.name for v in info.volumes] == ["p1", "p2"]


def test_scan_e01_verified_and_tampered(images: Path, tmp_path: Path) -> None:
    (segment,) = e01_image(images / "disk.img", tmp_path / "laptop")
    case = tmp_path / "case"
    scan(segment, case=case)
    with open_case_readonly(case) as opened:
        (info,) = disk_images(opened.store)
        events = [e for e in opened.store.audit_events() if e.action == "disk_image_verified"]
    md5 = hashlib.md5((images / "disk.img").read_bytes()).hexdigest()
    assert info.format == "ewf" and info.verification == "verified"
    assert info.stored_md5 == info.computed_md5 == md5
    assert info.stored_sha1 and info.stored_sha1 == info.computed_sha1
    assert len(events) == 1 and json.loads(events[0].payload)["verification"] == "verified"
    assert f"{segment}!p1/DCIM/_.jpg" in problems(case)

    # a copy with a few bytes of a picture changed inside the E01's data: the hashes differ
    bad = tmp_path / "bad" / "laptop.E01"
    bad.parent.mkdir()
    shutil.copy(segment, bad)
    at = bad.read_bytes().find(C[1000:1064])
    assert at > 0, "the E01 holds its chunks uncompressed (ewfacquire -c none)"
    corrupt(bad, at, b"\xab" * 16)
    case2 = tmp_path / "case2"
    scan(bad, case=case2)
    assert problems(case2)[str(bad)] == {"image_hash_mismatch"}
    with open_case_readonly(case2) as opened:
        (info,) = disk_images(opened.store)
    assert info.verification == "mismatch" and info.computed_md5 != info.stored_md5


def test_scan_split_e01_and_missing_segment(images: Path, tmp_path: Path) -> None:
    raw = tmp_path / "small.img"
    fat_image(
        raw, {"DCIM/a.jpg": A, "DCIM/b.jpg": B}, delete=["DCIM/b.jpg"], size_mb=4, fat_bits=12
    )
    segments = e01_image(raw, tmp_path / "split" / "phone", segment_bytes=1 << 20)
    assert len(segments) >= 3
    case = tmp_path / "case"
    scan(segments[0], case=case)
    with open_case_readonly(case) as opened:
        (info,) = disk_images(opened.store)
    assert info.verification == "verified" and len(info.segments) == len(segments)
    on_disk = {str(p) for (p,) in rows(case, "select path from locations where member_chain='[]'")}
    assert on_disk == {str(s) for s in segments}  # each segment is checked read-only
    got = {str(p): s for p, s in rows(case, "select path, sha256 from locations")}
    assert got[f"{segments[0]}!p0/DCIM/_.jpg"] == sha(B)

    # the same set with its second segment gone: recorded, and the scan still finishes
    broken = tmp_path / "broken"
    broken.mkdir()
    for s in segments:
        if s != segments[1]:
            shutil.copy(s, broken / s.name)
    case2 = tmp_path / "case2"
    scan(broken / segments[0].name, case=case2)
    assert problems(case2)[str(broken / segments[0].name)] == {"image_segment_missing"}


def test_corrupt_partition_is_a_problem_and_other_volumes_are_read(
    images: Path, tmp_path: Path
) -> None:
    image = tmp_path / "disk.img"
    shutil.copy(images / "disk.img", image)
    corrupt(image, 1024 * 1024, b"\x00" * 4096)  # p1's FAT boot sector and FATs: wiped
    case = tmp_path / "case"
    scan(image, case=case)
    codes = problems(case)
    assert codes[f"{image}!p1"] == {"filesystem_unreadable"}
    paths = {str(p) for (p,) in rows(case, "select path from locations")}
    assert f"{image}!p2/home/x/a.jpg" in paths

    garbage = tmp_path / "garbage.dd"
    garbage.write_bytes(b"\x07" * 510 + b"\x55\xaa" + b"\x07" * 8192)
    case2 = tmp_path / "case2"
    scan(garbage, case=case2)
    assert problems(case2)[str(garbage)] == {"volume_unreadable"}
    assert rows(case2, "select kind from sources") == [("disk_image",)]


def test_rescan_resumes_without_duplicates_or_second_verification(
    images: Path, tmp_path: Path
) -> None:
    (segment,) = e01_image(images / "disk.img", tmp_path / "laptop")
    case = tmp_path / "case"
    first = scan(segment, case=case)
    keys = rows(case, "select path_key, path, state, sha256 from locations order by path_key")
    # a kill after the inventory: every location pending again, as if never analysed
    with sqlite3.connect(case / "case.sqlite") as db:
        db.execute("update locations set state='pending', sha256=null where member_chain!='[]'")
        db.execute("delete from location_problems where code != 'deleted_file'")
    second = scan(segment, case=case)
    assert second["new_locations"] == 0 and first["files"] == second["files"]
    assert rows(case, "select path_key, path, state, sha256 from locations order by path_key") == (
        keys
    )
    with open_case_readonly(case) as opened:
        verified = [e for e in opened.store.audit_events() if e.action == "disk_image_verified"]
        assert len(verified) == 1  # the re-run kept the first run's check
        assert len(disk_images(opened.store)) == 1


def test_large_file_in_an_image_is_streamed_not_read_whole(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.records.items import WorkItem
    from consentry.scan import worker

    found = listed(walk(images / "fat.img"))
    ref = found["p0/DCIM/_.jpg"].ref
    monkeypatch.setattr(worker, "MAX_IN_MEMORY_BYTES", 1000)
    monkeypatch.setattr(
        disk, "read_location", lambda ref: pytest.fail("read whole instead of streamed")
    )
    result = worker.process(WorkItem(1, ref, "fat.img!p0/DCIM/_.jpg"))
    assert result.content is not None and result.content.sha256 == sha(B)
    assert [p.code for p in result.content_problems] == [Code.TOO_LARGE_FOR_ANALYSIS]


def test_large_zip_in_an_image_is_opened_from_a_stream(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.media import locate

    zip_ref = listed(walk(images / "fat.img"))["p0/Downloads/bundle.zip"].ref
    archives.clear_cache()
    monkeypatch.setattr(archives, "MAX_CACHED_NESTED_BYTES", 10)
    monkeypatch.setattr(disk, "read_location", lambda ref: pytest.fail("zip read whole"))
    assert locate.read_bytes(zip_ref.child("pics/inner.jpg")) == C
    archives.clear_cache()


def _scan_cmd(image: Path, case: Path) -> list[str]:
    import sys

    return [
        sys.executable,
        "-m",
        "consentry.cli.main",
        "scan",
        str(image),
        "--case",
        str(case),
        "--workers",
        "2",
        "-q",
        "--no-links",
        "--only",
        "explicit",
    ]


def _done(case: Path) -> int:
    try:
        with sqlite3.connect(f"file:{case / 'case.sqlite'}?mode=ro", uri=True, timeout=0.1) as db:
            return int(
                db.execute("select count(*) from locations where state='done'").fetchone()[0]
            )
    except sqlite3.Error:
        return -1


def _disk_rows(case: Path) -> list[tuple[object, ...]]:
    return sorted(
        rows(
            case, "select path_key, address, deleted, recovery, atime_ns, crtime_ns from locations"
        )
        + rows(
            case,
            "select format, segments_json, media_size, volumes_json, computed_md5, "
            "computed_sha1, verification from disk_images",
        ),
        key=repr,
    )


@pytest.mark.slow
def test_sigkill_mid_analysis_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """A real kill -9 of the scan's process group while files of the image are analysed."""
    import signal
    import subprocess
    import time

    from .store_dump import count_rows, dump_items

    files = {f"DCIM/{i:03d}.jpg": jpeg(100 + i, 120, 90) for i in range(60)}
    ext4_image(tmp_path / "p.img", files, delete=[f"DCIM/{i:03d}.jpg" for i in range(0, 60, 10)])
    (segment,) = e01_image(tmp_path / "p.img", tmp_path / "ev" / "phone")
    reference = tmp_path / "reference"
    done = subprocess.run(
        _scan_cmd(segment, reference), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    total = count_rows(reference)["locations"]

    case = tmp_path / "case"
    proc = subprocess.Popen(
        _scan_cmd(segment, case),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None and _done(case) < 20:
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 20 <= _done(case) < total  # the kill interrupted the analysis
    again = subprocess.run(_scan_cmd(segment, case), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert dump_items(case) == dump_items(reference)
    assert count_rows(case) == count_rows(reference)
    assert _disk_rows(case) == _disk_rows(reference)
