"""vPDQ features equal to Meta's ``vpdq`` (reference outputs kept in tests/data/videos), and its
match rule.

The reference JSON was written by Meta's ``vpdq`` 0.2.5 (built against Debian's FFmpeg 5.1,
libswscale 6.7) from the committed videos (scripts/build_video_fixtures.py --reference); ours
decode with PyAV's bundled FFmpeg. Hash, quality, frame number and timestamp must be equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consentry.analyzers import vpdq
from consentry.media.video import decode_video
from consentry.records.items import VideoFrameHash

VIDEOS = Path(__file__).parent / "data" / "videos"
REFERENCE = json.loads((VIDEOS / "vpdq_reference.json").read_text())
NAMES = sorted(REFERENCE["videos"])


def features(name: str, seconds_per_hash: float = 1.0) -> list[VideoFrameHash]:
    out: list[VideoFrameHash] = []
    video = decode_video(
        (VIDEOS / name).read_bytes(),
        lambda n, rate, rgb: out.append(vpdq.feature("x", n, rate, rgb)),
        seconds_per_hash=seconds_per_hash,
    )
    assert video.decoded and not video.problems, video.problems
    return out


def as_reference(fs: list[VideoFrameHash]) -> list[dict[str, object]]:
    return [
        {
            "frame_number": f.frame_number,
            "timestamp": round(f.timestamp_s, 6),
            "pdq": f.pdq,
            "quality": f.quality,
        }
        for f in fs
    ]


def test_reference_covers_every_container() -> None:
    assert {Path(n).suffix for n in NAMES} == {".mp4", ".webm", ".avi", ".mov", ".mkv"}
    assert all(p.stat().st_size < 200_000 for p in VIDEOS.iterdir())


@pytest.mark.parametrize("name", NAMES)
def test_features_equal_meta_vpdq(name: str) -> None:
    """At vpdq's default rate (one per second): the same frames, hashes, qualities, times."""
    assert as_reference(features(name)) == REFERENCE["videos"][name]


@pytest.mark.parametrize("name", NAMES)
def test_every_frame_equal_meta_vpdq(name: str) -> None:
    """seconds_per_hash=0 (every frame): decode order, B-frames and the 29.97 fps timestamps."""
    assert as_reference(features(name, 0)) == REFERENCE["every_frame"][name]


def test_bt709_tag_is_ignored_like_vpdq() -> None:
    """vpdq converts with BT.601 whatever the stream says; so do we (the two files hold the
    same frames, one tagged BT.709): converting by the tag would move the hashes ~20 bits."""
    assert [f.pdq for f in features("scenes_bt709.mp4")] == [f.pdq for f in features("scenes.mp4")]


def test_frame_mod_and_timestamp_follow_vpdq() -> None:
    assert vpdq.frame_mod(30000 / 1001) == 29
    assert vpdq.frame_mod(0.5) == 1
    assert vpdq.frame_mod(25.0, 0) == 1
    assert vpdq.timestamp(29, 30000 / 1001) == pytest.approx(0.967633, abs=1e-6)


def test_tiny_frames_refused_like_vpdq() -> None:
    import numpy as np

    with pytest.raises(vpdq.FrameTooSmall):
        vpdq.hash_frame(np.zeros((4, 64, 3), np.uint8))


def fh(pdq: str, quality: int = 100, n: int = 0) -> VideoFrameHash:
    return VideoFrameHash("s", n, float(n), pdq, quality)


def flip(h: str, bits: int) -> str:
    return f"{int(h, 16) ^ ((1 << bits) - 1):064x}"


BASE = "e3838365317ce36c8b7d0175e1c7cb151e567096ce824ce974b974ee0c687c39"
OTHER = "1c7c7c9ace831c9374827e8a1e3834eae1a98f69317db316b8468b11f39783c6"


def test_match_rule_distance_and_quality() -> None:
    q = [fh(BASE), fh(flip(BASE, 31), n=1)]
    # python-threatexchange: distance <= 31 matches
    m = vpdq.match_two_hash(q, [fh(BASE)])
    assert (m.query_match_percent, m.compared_match_percent) == (100.0, 100.0)
    # Meta's C++ rule: < 31 only
    m = vpdq.match_two_hash(q, [fh(BASE)], cpp_rule=True)
    assert (m.query_match_percent, m.compared_match_percent) == (50.0, 100.0)
    # 32 bits away: no match
    assert vpdq.match_two_hash([fh(flip(BASE, 32))], [fh(BASE)]).query_match_percent == 0.0
    # features of quality under 50 are left out of both shares
    m = vpdq.match_two_hash([fh(BASE), fh(OTHER, quality=49)], [fh(BASE)])
    assert m.query_match_percent == 100.0
    assert vpdq.match_two_hash([fh(BASE, quality=10)], [fh(BASE)]).query_match_percent == 0.0


def test_match_dedupes_repeated_hashes() -> None:
    m = vpdq.match_two_hash([fh(BASE), fh(BASE, n=1), fh(OTHER, n=2)], [fh(BASE)])
    assert m.query_match_percent == 50.0  # {BASE, OTHER}, BASE matched
    assert m.matches() is False
    assert vpdq.match_two_hash([fh(BASE)], [fh(BASE)]).matches() is True


def test_prepared_matching_equals_brute_force() -> None:
    a = REFERENCE["every_frame"]["scenes.mp4"]
    for other in NAMES:
        b = REFERENCE["every_frame"][other]
        fa = [fh(f["pdq"], f["quality"], f["frame_number"]) for f in a]
        fb = [fh(f["pdq"], f["quality"], f["frame_number"]) for f in b]
        brute = vpdq.match_two_hash(fa, fb)
        fast = vpdq.match_prepared(vpdq.PreparedFeatures.of(fa), vpdq.PreparedFeatures.of(fb))
        assert fast == brute, other
