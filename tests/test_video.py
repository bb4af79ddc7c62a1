"""Videos: keyframes at scene changes, bounds, hostile files become problems, analysis merged
into one finding per analyzer, the contact sheet and its blur, a scan of a folder of videos,
duplicate groups. Videos are the committed harmless ones (tests/data/videos, drawn by
scripts/build_video_fixtures.py) or encoded here from harmless pictures; none is downloaded.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.analyzers import video as video_mod
from consentry.analyzers.video import analyse_video
from consentry.cli.main import main
from consentry.media import contact_sheet
from consentry.media.thumbnails import obscure
from consentry.media.video import decode_video
from consentry.records.items import FaceRecord, FindingRecord, ImageAnalysis, ThumbnailRecord
from consentry.records.problems import Code
from consentry.store.case import open_case_readonly
from consentry.store.video_store import video_hashes, videos
from consentry.videos.groups import video_groups

VIDEOS = Path(__file__).parent / "data" / "videos"
LFW = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "faces" / "lfw"
FIXTURES = sorted(p.name for p in VIDEOS.iterdir() if p.suffix != ".json")


def encode(
    pictures: list[np.ndarray], rate: int = 5, fmt: str = "mp4", codec: str = "libx264"
) -> bytes:
    """A small video of ``pictures``, one frame each (sizes made even for yuv420p)."""
    h, w = (s - s % 2 for s in pictures[0].shape[:2])
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i, rgb in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def field(seed: int, w: int = 96, h: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC))


def codes(problems: list) -> set[Code]:  # type: ignore[type-arg]
    return {p.code for p in problems}


# --- keyframes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_keyframes_at_scene_changes(name: str) -> None:
    video = decode_video((VIDEOS / name).read_bytes())
    assert video.decoded and not video.problems
    times = [k.time_s for k in video.keyframes]
    assert times[0] == 0.0 and video.keyframes[0].frame_number == 0
    # the two cuts (1.5 s and 3 s) are found; nothing else changes suddenly
    expected = [0.0, 1.5, 3.0] if video.duration_s and video.duration_s > 3.1 else [0.0, 1.5]
    assert times == pytest.approx(expected, abs=0.05)
    assert all(k.scene_change for k in video.keyframes[1:])
    assert all(k.rgb.shape[2] == 3 and max(k.rgb.shape[:2]) <= 512 for k in video.keyframes)


def test_at_most_one_keyframe_per_second_and_a_cap() -> None:
    # a cut at every frame (10 fps, 3 s): one keyframe a second
    pictures = [field(i % 2 * 7 + i % 3) for i in range(30)]
    data = encode(pictures, rate=10)
    times = [k.time_s for k in decode_video(data).keyframes]
    assert times == pytest.approx([0.0, 1.0, 2.0], abs=0.11)
    assert len(decode_video(data, max_keyframes=2).keyframes) == 2


def test_a_keyframe_every_ten_seconds_without_change() -> None:
    data = encode([field(1)] * 24, rate=2)  # 12 s of one picture
    times = [k.time_s for k in decode_video(data).keyframes]
    assert times == pytest.approx([0.0, 10.0])
    assert not decode_video(data).keyframes[1].scene_change


def rotated_mp4() -> bytes:
    """scenes.mp4 with its track matrix set to a 90 degree turn (as phones record portrait)."""
    import struct

    data = bytearray((VIDEOS / "scenes.mp4").read_bytes())
    at = data.find(b"tkhd") + 44  # the matrix of a version-0 tkhd box
    data[at : at + 36] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30)
    return bytes(data)


def test_rotation_applied_to_keyframes_not_to_vpdq() -> None:
    plain = decode_video((VIDEOS / "scenes.mp4").read_bytes())
    assert plain.rotation == 0 and plain.keyframes[0].rgb.shape[:2] == (120, 160)
    turned = decode_video(rotated_mp4())
    assert turned.rotation == -90 and turned.keyframes[0].rgb.shape[:2] == (160, 120)
    # displayed as a player shows it: turned 90 degrees clockwise
    assert np.array_equal(turned.keyframes[0].rgb, np.rot90(plain.keyframes[0].rgb, -1))
    # vPDQ hashes the frames as stored, as Meta's vpdq does (checked: its hashes of this file
    # equal those of scenes.mp4)
    assert [h.pdq for h in analyse_video(rotated_mp4(), "r" * 64).hashes] == [
        h.pdq for h in analyse_video(MP4, "p" * 64).hashes
    ]


# --- bounds and hostile input ----------------------------------------------------------------


def test_duration_limit() -> None:
    video = decode_video((VIDEOS / "scenes.mp4").read_bytes(), max_duration_s=1.0)
    assert codes(video.problems) == {Code.VIDEO_TOO_LONG}
    assert video.frame_count == 12 and video.decoded


def test_frame_limit_and_time_budget() -> None:
    data = (VIDEOS / "scenes.webm").read_bytes()
    assert codes(decode_video(data, max_frames=5).problems) == {Code.VIDEO_TOO_LONG}
    timed = decode_video(data, max_decode_seconds=0.0)
    assert codes(timed.problems) == {Code.VIDEO_PARTLY_DECODED}
    assert timed.frame_count == 1 and len(timed.keyframes) == 1


def rawvideo_avi(width: int, height: int) -> bytes:
    """A rawvideo AVI whose header declares another frame size than its 16x16 frames."""
    data = bytearray(encode([field(i, 16, 16) for i in range(3)], fmt="avi", codec="rawvideo"))
    at = data.find(b"strf")
    data[at + 12 : at + 20] = width.to_bytes(4, "little") + height.to_bytes(4, "little")
    return bytes(data)


MP4 = (VIDEOS / "scenes.mp4").read_bytes()
HOSTILE = {
    "empty": (b"", {Code.CORRUPT_VIDEO}),
    "mp4 header, random bytes": (
        MP4[:32] + np.random.default_rng(3).bytes(5000),
        {Code.CORRUPT_VIDEO},
    ),
    "truncated mp4 (no moov)": (MP4[: len(MP4) // 2], {Code.CORRUPT_VIDEO}),
    "huge declared frame": (rawvideo_avi(12000, 12000), {Code.TOO_LARGE_FOR_ANALYSIS}),
    "impossible frame": (rawvideo_avi(60000, 60000), {Code.CORRUPT_VIDEO}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_videos_become_problems(name: str) -> None:
    data, expected = HOSTILE[name]
    outcome = analyse_video(data, "0" * 64)
    assert codes(outcome.problems) == expected
    assert not outcome.decoded and outcome.hashes == [] and outcome.analysis is None


def test_truncated_webm_keeps_the_frames_before_the_cut() -> None:
    data = (VIDEOS / "scenes.webm").read_bytes()
    outcome = analyse_video(data[: len(data) // 2], "0" * 64)
    assert outcome.decoded and codes(outcome.problems) == {Code.VIDEO_PARTLY_DECODED}
    assert 0 < len(outcome.hashes) < 4 and outcome.frame_count and outcome.frame_count < 40


def test_no_video_stream() -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    outcome = analyse_video(buf.getvalue(), "0" * 64)
    assert codes(outcome.problems) == {Code.CORRUPT_VIDEO}
    assert "no video stream" in outcome.problems[0].message


def test_mutated_videos_never_raise() -> None:
    rng = np.random.default_rng(11)
    for name in ("scenes.mp4", "scenes.webm", "scenes.avi", "scenes.mov"):
        data = bytearray((VIDEOS / name).read_bytes())
        for _ in range(6):
            bad = bytearray(data)
            for at in rng.integers(0, len(bad), 40):
                bad[at] = int(rng.integers(0, 256))
            outcome = analyse_video(bytes(bad), "0" * 64)  # must not raise
            assert outcome.decoded or outcome.problems


# --- the analysis merged per video ------------------------------------------------------------


def test_analyse_video_without_a_plan() -> None:
    from consentry.analyzers import runner

    runner.reset_process()
    outcome = analyse_video(MP4, "a" * 64)
    assert outcome.decoded and outcome.codec == "h264" and outcome.duration_s == 4.0
    assert (outcome.width, outcome.height, outcome.frame_count) == (160, 120, 40)
    assert [h.frame_number for h in outcome.hashes] == [0, 10, 20, 30]
    assert outcome.analysis is not None and outcome.analysis.thumbnail is None
    assert outcome.keyframes_analysed == 3


def test_a_large_video_is_decoded_from_its_stream() -> None:
    """A file too large to read into memory is decoded from the open file, the same frames."""
    with (VIDEOS / "scenes.mkv").open("rb") as fh:
        streamed = analyse_video(fh, "s" * 64)
    held = analyse_video((VIDEOS / "scenes.mkv").read_bytes(), "s" * 64)
    assert streamed.decoded and streamed.hashes == held.hashes
    assert streamed.keyframes_analysed == held.keyframes_analysed == 3


def fake_analyse_image(labels: dict[int, str], faces_at: set[int], case_dir: Path):  # noqa: ANN201
    """Stand-in for runner.analyse_image at the video module's seam: an explicit label per
    frame (no explicit picture involved), one face crop per listed frame, a thumbnail each."""

    def run(image, key, needs=None, known_label=None, data=None):  # noqa: ANN001, ANN202
        frame = int(key.rsplit("_f", 1)[1])
        label = labels[frame]
        out = ImageAnalysis()
        out.findings.append(
            FindingRecord(key, "explicit", "2", "m", "ok", label, frame / 100, json.dumps({}))
        )
        rel_thumb = f"thumbs/{key[:2]}/{key}.jpg"
        (case_dir / rel_thumb).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.rgb).save(case_dir / rel_thumb)
        out.thumbnail = ThumbnailRecord(key, rel_thumb, False, label)
        if frame in faces_at:
            rel = f"faces/{key[:2]}/{key}_0.jpg"
            (case_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image.rgb[:40, :40]).save(case_dir / rel)
            out.faces.append(
                FaceRecord(key, 0, 1, 2, 30, 30, 160, "[]", 0.9, 30, None, 1.0, True, "", None, rel)
            )
        return out

    return run


def set_case_dir(monkeypatch: pytest.MonkeyPatch, case_dir: Path) -> None:
    from consentry.analyzers import runner
    from consentry.analyzers.plan import AnalysisPlan

    monkeypatch.setattr(runner, "_plan", [AnalysisPlan(frozenset({"explicit"}), str(case_dir))])


def test_worst_frame_decides_and_blurs_the_sheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_case_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(
        video_mod,
        "analyse_image",
        fake_analyse_image({0: "none", 15: "suggestive", 30: "none"}, {0, 30}, tmp_path),
    )
    sha = "b" * 64
    analysis = analyse_video(MP4, sha).analysis
    assert analysis is not None
    [finding] = analysis.findings
    assert (finding.sha256, finding.label, finding.score) == (sha, "suggestive", 0.15)
    payload = json.loads(finding.payload)
    assert payload["worst_frame_s"] == 1.5
    assert [(f["t"], f["label"]) for f in payload["frames"]] == [
        (0.0, "none"),
        (1.5, "suggestive"),
        (3.0, "none"),
    ]
    # faces numbered across frames, with their time; crops renamed to the video's
    assert [(f.sha256, f.face_index, f.frame_s) for f in analysis.faces] == [
        (sha, 0, 0.0),
        (sha, 1, 3.0),
    ]
    assert [f.crop_path for f in analysis.faces] == [
        f"faces/bb/{sha}_0.jpg",
        f"faces/bb/{sha}_1.jpg",
    ]
    assert all((tmp_path / str(f.crop_path)).exists() for f in analysis.faces)
    # the sheet replaces the frames' thumbnails, and is blurred: one frame is not 'none'
    thumb = analysis.thumbnail
    assert thumb is not None and thumb.blurred and thumb.label == "suggestive"
    assert thumb.path == f"thumbs/bb/{sha}.jpg"
    assert sorted(p.name for p in (tmp_path / "thumbs" / "bb").iterdir()) == [f"{sha}.jpg"]
    # the crops of frames labelled 'none' were blurred too: nothing sharp leaves the video
    crop = np.asarray(Image.open(tmp_path / str(analysis.faces[0].crop_path)), np.float32)
    sharp = decode_video(MP4).keyframes[0].rgb[:40, :40]
    expected = np.asarray(obscure(Image.fromarray(sharp)), np.float32)
    assert np.abs(crop - expected).mean() < np.abs(crop - sharp.astype(np.float32)).mean() / 2


def test_sheet_sharp_only_when_every_frame_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_case_dir(monkeypatch, tmp_path)
    monkeypatch.setattr(
        video_mod,
        "analyse_image",
        fake_analyse_image({0: "none", 15: "none", 30: "none"}, set(), tmp_path),
    )
    analysis = analyse_video(MP4, "c" * 64).analysis
    assert analysis is not None and analysis.thumbnail is not None
    assert not analysis.thumbnail.blurred and analysis.thumbnail.label == "none"
    assert analysis.findings[0].label == "none"
    sheet = Image.open(tmp_path / analysis.thumbnail.path)
    assert sheet.size == (2 * 128 + 2, 2 * 96 + 2)  # a 2x2 grid of 128x96 tiles, 3 used


def test_render_sheet_blur_rule() -> None:
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8) for _ in range(5)]
    sharp, blurred = contact_sheet.render_sheet(frames, ["none"] * 5)
    assert not blurred
    for labels in (["none", "explicit", "none", "none", "none"], [None] * 5, ["unknown"] * 5):
        img, blurred = contact_sheet.render_sheet(frames, labels)
        assert blurred and img.size == sharp.size

    def detail(img: Image.Image) -> float:  # within the first tile
        tile = np.asarray(img.convert("L"), np.float32)[:96, :128]
        return float(np.abs(np.diff(tile, axis=1)).mean())

    assert detail(contact_sheet.render_sheet(frames, [None] * 5)[0]) < detail(sharp) / 2
    assert contact_sheet.pick(60) == sorted(set(contact_sheet.pick(60)))
    assert len(contact_sheet.pick(60)) == 16 and contact_sheet.pick(60)[-1] == 59


# --- a scan of a folder with videos -----------------------------------------------------------


def scan(case: Path, source: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main,
        ["scan", str(source), "--case", str(case), "--workers", "1", "-q", "--no-links", *extra],
    )
    assert result.exit_code == 0, result.output


def rows(case: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("videos")
    for name in ("scenes.mp4", "scenes_small.mp4", "scenes.webm"):
        shutil.copy(VIDEOS / name, src / name)
    shutil.copy(VIDEOS / "scenes.mp4", src / "copy of scenes.mp4")
    (src / "broken.mp4").write_bytes(MP4[: len(MP4) // 3])
    with zipfile.ZipFile(src / "archive.zip", "w") as archive:
        archive.write(VIDEOS / "scenes.avi", "clips/a.avi")
    face = LFW / "Colin_Powell" / "Colin_Powell_0001.jpg"
    if face.exists():
        photo = np.asarray(Image.open(face).convert("RGB"))
        (src / "face.mp4").write_bytes(encode([field(5, 250, 250)] * 6 + [photo] * 6, rate=4))
    return src


def test_scan_of_a_folder_with_videos(video_folder: Path, tmp_path: Path) -> None:
    case = tmp_path / "case"
    scan(case, video_folder)
    contents = dict(
        (str(m), (bool(v), d, c))
        for m, v, d, c in rows(
            case, "select sha256, is_video, duration_s, video_codec from contents"
        )
    )
    with open_case_readonly(case) as opened:
        summaries = {Path(v.locations[0]).name: v for v in videos(opened)}
        hashes = video_hashes(opened)
        groups = video_groups(opened)
    scenes = summaries["copy of scenes.mp4"]
    assert len(scenes.locations) == 2  # the copy is the same content
    assert contents[scenes.sha256] == (True, 4.0, "h264")
    assert [h.frame_number for h in hashes[scenes.sha256]] == [0, 10, 20, 30]
    assert scenes.frames_analysed == 3 and scenes.label == "none"
    # harmless frames, all labelled none: the contact sheet is sharp, where images' go
    assert scenes.thumbnail_path == f"thumbs/{scenes.sha256[:2]}/{scenes.sha256}.jpg"
    assert scenes.thumbnail_blurred is False and (case / scenes.thumbnail_path).exists()
    # a video inside a zip is read from the archive and analysed like the others
    member = summaries["a.avi"]
    assert member.locations[0].endswith("archive.zip!/clips/a.avi")
    assert (member.codec, member.vpdq_features, member.frames_analysed) == ("mpeg4", 4, 3)
    # the broken one: a problem, no frames, and the scan went on
    broken = summaries["broken.mp4"]
    assert broken.problem_codes == ("corrupt_video",) and broken.vpdq_features == 0
    # re-encoded smaller, and in WebM: near duplicates of scenes.mp4 by vpdq's rule
    near = [g for g in groups if g.kind == "near"]
    assert len(near) == 1
    assert set(near[0].members) == {
        scenes.sha256,
        summaries["scenes_small.mp4"].sha256,
        summaries["scenes.webm"].sha256,
    }
    assert all(m.a_matched_pct >= 80 and m.b_matched_pct >= 80 for m in near[0].matches)
    # the MPEG-4 AVI: one of its 4 frames is 36 bits from the H.264 one, 75 % < 80 %: apart
    from consentry.analyzers.vpdq import match_two_hash

    m = match_two_hash(hashes[member.sha256], hashes[scenes.sha256])
    assert (m.query_match_percent, m.compared_match_percent) == (75.0, 75.0)
    if "face.mp4" in summaries:
        face = summaries["face.mp4"]
        times = rows(case, f"select frame_s from faces where sha256 = '{face.sha256}'")
        assert face.faces >= 1 and {t for (t,) in times} == {1.5}
        assert face.frames_analysed == 2


def test_sheet_blurred_when_frames_are_not_labelled(video_folder: Path, tmp_path: Path) -> None:
    """Without the explicit analyzer no frame is known to be 'none': the sheet is blurred."""
    case = tmp_path / "case"
    scan(case, video_folder, "--skip", "explicit")
    with open_case_readonly(case) as opened:
        decoded = [v for v in videos(opened) if v.vpdq_features]
    assert decoded and all(v.thumbnail_blurred for v in decoded)
    assert all(v.label is None for v in decoded)


# --- exchange formats carry videos ------------------------------------------------------------


@pytest.fixture(scope="module")
def exchange_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case with a video of Colin Powell (LFW news photo), the scenes video and its smaller
    re-encode; the explicit model is the stand-in scoring every frame 0.97 (no explicit
    picture anywhere), and Colin is enrolled with consent from two other photos."""
    from consentry.analyzers import runner
    from consentry.analyzers.explicit import ExplicitAnalyzer

    from .exchange_case import COLIN, _consent, lfw, ok
    from .stand_ins import FixedScorer

    if not LFW.is_dir():
        pytest.skip("../shared/data/faces/lfw (harmless labelled faces) is absent")
    root = tmp_path_factory.mktemp("video-exchange")
    evidence = root / "evidence"
    evidence.mkdir()
    photo = np.asarray(Image.open(lfw(COLIN, 3)).convert("RGB"))
    (evidence / "colin.mp4").write_bytes(encode([field(5, 250, 250)] * 6 + [photo] * 6, rate=4))
    for name in ("scenes.mp4", "scenes_small.mp4"):
        shutil.copy(VIDEOS / name, evidence / name)
    case = root / "case"
    runner.reset_process()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "consentry.analyzers.explicit.load_explicit",
            lambda: ExplicitAnalyzer(FixedScorer(0.97)),
        )
        ok("scan", evidence, "--case", case, "--workers", "1", "-q", "--no-links")
    runner.reset_process()
    ok("person", "add", "--case", case, "--name", "Colin Powell", "--consent",
       _consent(root, "Colin Powell"), lfw(COLIN, 1), lfw(COLIN, 2))  # fmt: skip
    return case


def report_to(case: Path, fmt: str, out: Path, *extra: str) -> None:
    args = ["report", "--case", case, "--format", fmt, "--out", out, "--reverify", "none", *extra]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def test_explicit_frames_blur_the_sheet(exchange_case: Path) -> None:
    with open_case_readonly(exchange_case) as opened:
        listed = videos(opened)
    assert listed and all(v.label == "explicit" and v.thumbnail_blurred for v in listed)


def test_hash_pack_carries_the_persons_videos(exchange_case: Path, tmp_path: Path) -> None:
    """The pack of a person seen in a video has its vPDQ line. The video's item is given the
    person's code here: which contents a person is counted in is the persons pass's (it lists
    image locations only so far: see bench/out/issue16-video.md)."""
    from dataclasses import replace

    from consentry.analyzers import vpdq
    from consentry.reports.collect import collect
    from consentry.reports.hashpack import write_hashpack
    from consentry.reports.options import ReportOptions

    with open_case_readonly(exchange_case) as opened:
        colin = next(v for v in videos(opened) if v.locations[0].endswith("colin.mp4"))
        features = video_hashes(opened)[colin.sha256]
        report = collect(opened, ReportOptions(reverify="none"))
    items = [
        replace(i, person_codes=("E1",)) if i.sha256 == colin.sha256 else i for i in report.items
    ]
    out = tmp_path / "e1"
    written = write_hashpack(replace(report, items=items), out, ReportOptions(person="E1"))
    assert sorted(p.name for p in written) == [
        "hashes.csv",
        "manifest.json",
        "pdq.txt",
        "vpdq.txt",
    ]
    [line] = (out / "vpdq.txt").read_text().splitlines()
    name, signal = line.split(" ", 1)
    assert name == "vpdq"
    assert [(f.pdq, f.quality) for f in vpdq.from_signal(signal)] == [
        (f.pdq, f.quality) for f in features
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["unique_videos"] == 1 and manifest["counts"]["vpdq_lines"] == 1
    assert (out / "pdq.txt").read_text() == ""  # a video has no PDQ of its own
    table = (out / "hashes.csv").read_text().splitlines()
    assert any(colin.sha256 in row and f",video,{len(features)}" in row for row in table)


def test_vics_and_case_uco_carry_videos(exchange_case: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    from consentry.reports import vics

    with open_case_readonly(exchange_case) as opened:
        listed = {v.sha256: v for v in videos(opened)}
        features = video_hashes(opened)
    report_to(exchange_case, "vics", tmp_path / "case.vics.json")
    back = vics.read_vics(tmp_path / "case.vics.json")
    media = {m.alt_hash("SHA256"): m for m in back.media}
    assert set(listed) <= set(media)
    for sha, summary in listed.items():
        m = media[sha]
        assert m.mime_type == "video/mp4" and m.category == vics.ADULT_INTIMATE
        assert dict(m.metadata)["consentry.media_type"] == "video"
        assert [f.pdq for f in vics.video_features_of(m)] == [f.pdq for f in features[sha]]
        assert m.md5 == summary.md5.upper()

    out = tmp_path / "case.jsonld"
    report_to(exchange_case, "case", out)
    graph = json.loads(out.read_text())["@graph"]
    files = [n for n in graph if n["@type"] == "observable:File" and "video" in n.get(
        "core:description", "")]  # fmt: skip
    assert len(files) == len(listed)
    hashes = [h for f in files for h in f["core:hasFacet"][1]["observable:hash"]]
    vpdq_values = {
        h["types:hashValue"]["@value"] for h in hashes if h["types:hashMethod"] == "VPDQ"
    }
    assert {f.pdq.upper() for fs in features.values() for f in fs} == vpdq_values
    script = Path(sys.executable).with_name("case_validate")
    if script.exists():
        result = subprocess.run(
            [str(script), "--allow-info", str(out)], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_a_video_over_the_in_memory_limit_is_decoded_from_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan's large-file path (files over worker.MAX_IN_MEMORY_BYTES, lowered here) hashes
    a video as a stream and decodes it from the open file: same vPDQ features as in memory."""
    from consentry.scan import worker

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(VIDEOS / "scenes.mp4", src / "big.mp4")
    monkeypatch.setattr(worker, "MAX_IN_MEMORY_BYTES", 1024)
    scan(tmp_path / "case", src)
    ((is_video, codec),) = rows(tmp_path / "case", "select is_video, video_codec from contents")
    assert (bool(is_video), codec) == (True, "h264")
    frames = [n for (n,) in rows(tmp_path / "case", "select frame_number from video_hashes")]
    assert sorted(frames) == [0, 10, 20, 30]
