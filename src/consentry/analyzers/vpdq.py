"""vPDQ (Meta's video PDQ): one PDQ hash per sampled frame, as Meta's ``vpdq`` computes it.

What Meta's C++ (``vpdq/cpp/vpdq/cpp/hashing/filehasher.cpp``, ``hasher.h``) does, and this
module repeats on frames that ``media.video`` decodes with PyAV:

- every frame the decoder returns is counted, in output (display) order, from 0: the frame
  number is ``AVCodecContext.frame_num - 1``;
- a frame is hashed when ``frame_number % frame_mod == 0`` with
  ``frame_mod = int(seconds_per_hash * frame_rate)`` (at least 1), the frame rate being the
  stream's ``avg_frame_rate`` or else its ``r_frame_rate``; ``seconds_per_hash`` is 1.0 by
  default (``vpdq.computeHash``);
- the frame is converted to RGB24 at the stream's own size by swscale (``SWS_AREA``, BT.601
  coefficients, the range its pixel format implies), and PDQ is computed on the whole frame:
  luma ``0.299 R + 0.587 G + 0.114 B``, then Meta's ``pdqHash256FromFloatLuma`` (the same C++
  code ``pdqhash`` binds);
- the timestamp is ``float(frame_number) / float(frame_rate)`` in single precision.

Matching is python-threatexchange's ``match_VPDQ_hash_brute`` (the one HMA and the exchange use):
drop repeated hashes and features of quality below 50, then count, each way, the features that
have a feature within Hamming distance 31 in the other video; the two percentages are the
query-match and compared-match shares. (Meta's C++ ``matchTwoHashBrute`` counts distance < 31
and keeps repeats; ``match_two_hash(..., cpp_rule=True)`` gives that variant.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pdqhash

from consentry.analyzers.pdq import bits_to_hex
from consentry.records.items import VideoFrameHash

NAME = "vpdq"
VERSION = "1"
SECONDS_PER_HASH = 1.0  # vpdq.computeHash's default
DISTANCE_TOLERANCE = 31  # python-threatexchange VPDQ_DISTANCE_THRESHOLD
QUALITY_TOLERANCE = 50  # VPDQ_QUALITY_THRESHOLD
MATCH_PERCENT = 80.0  # VPDQ_QUERY_MATCH_THRESHOLD_PERCENT: a query matches at this share
MIN_HASHABLE_SIDE = 5  # pdqbufferhasher.cpp MIN_HASHABLE_DIM


class FrameTooSmall(ValueError):
    """vpdq refuses frames under 5 pixels a side (and then fails the whole video)."""


def frame_mod(frame_rate: float, seconds_per_hash: float = SECONDS_PER_HASH) -> int:
    """Every how many decoded frames one is hashed (``FFmpegHasher``'s ``m_frameMod``)."""
    mod = int(seconds_per_hash * frame_rate)
    return mod if mod > 0 else 1


def timestamp(frame_number: int, frame_rate: float) -> float:
    """``static_cast<float>(frameNumber) / framerate`` with ``framerate`` a float, as vpdq does."""
    return float(np.float32(frame_number) / np.float32(frame_rate))


def hash_frame(rgb: np.ndarray) -> tuple[str, int]:
    """PDQ hash (64 hex) and quality of a whole RGB24 frame, unscaled."""
    height, width = rgb.shape[:2]
    if height < MIN_HASHABLE_SIDE or width < MIN_HASHABLE_SIDE:
        raise FrameTooSmall(f"frame {width}x{height} is under {MIN_HASHABLE_SIDE} px a side")
    vector, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
    return bits_to_hex(vector), int(quality)


def feature(sha256: str, frame_number: int, frame_rate: float, rgb: np.ndarray) -> VideoFrameHash:
    pdq, quality = hash_frame(rgb)
    return VideoFrameHash(sha256, frame_number, timestamp(frame_number, frame_rate), pdq, quality)


SIGNAL_NAME = "vpdq"  # python-threatexchange's VideoVPDQSignal
TIMESTAMP_PRECISION = 3  # its VPDQ_TIMESTAMP_PRECISION


def compact(f: VideoFrameHash) -> str:
    """One feature as python-threatexchange's ``VpdqCompactFeature.__str__`` writes it:
    ``hex,quality,timestamp`` (the timestamp with format ``.3``, as it does)."""
    return f"{f.pdq},{f.quality},{f.timestamp_s:.{TIMESTAMP_PRECISION}}"


def to_signal(features: Sequence[VideoFrameHash]) -> str:
    """A video's features as python-threatexchange's vPDQ signal string (``vpdq_to_json``)."""
    return json.dumps([compact(f) for f in features])


def from_signal(signal: str, sha256: str = "") -> list[VideoFrameHash]:
    """The inverse of ``to_signal`` (frame numbers are not in the signal: taken as 0, 1, ...)."""
    out = []
    for n, text in enumerate(json.loads(signal or "[]")):
        pdq, quality, stamp = str(text).split(",")
        if len(pdq) != 64:
            raise ValueError(f"malformed vPDQ feature {text!r}")
        int(pdq, 16)
        out.append(VideoFrameHash(sha256, n, float(stamp), pdq, int(quality)))
    return out


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class MatchResult:
    query_match_percent: float  # of the query's features, the share with a match in the other
    compared_match_percent: float

    def matches(self, threshold: float = MATCH_PERCENT) -> bool:
        """Both ways at least ``threshold`` percent: the same footage, not one clip in another."""
        return self.query_match_percent >= threshold and self.compared_match_percent >= threshold


def _filtered(features: Sequence[VideoFrameHash], quality: int, dedupe: bool) -> list[int]:
    seen: set[str] = set()
    out: list[int] = []
    for f in features:
        if dedupe:
            if f.pdq in seen:
                continue
            seen.add(f.pdq)
        if f.quality >= quality:
            out.append(int(f.pdq, 16))
    return out


def _count_in(a: list[int], b: list[int], tolerance: int, strict: bool) -> int:
    limit = tolerance - 1 if strict else tolerance
    return sum(1 for x in a if any((x ^ y).bit_count() <= limit for y in b))


def match_two_hash(
    query: Sequence[VideoFrameHash],
    compared: Sequence[VideoFrameHash],
    distance_tolerance: int = DISTANCE_TOLERANCE,
    quality_tolerance: int = QUALITY_TOLERANCE,
    cpp_rule: bool = False,
) -> MatchResult:
    """vpdq's match of two videos' features: the query-match and compared-match percentages.

    ``cpp_rule``: Meta's C++ ``matchTwoHashBrute`` (distance strictly below the tolerance,
    repeated hashes kept) instead of python-threatexchange's rule (<=, repeats dropped)."""
    q = _filtered(query, quality_tolerance, dedupe=not cpp_rule)
    c = _filtered(compared, quality_tolerance, dedupe=not cpp_rule)
    if not q or not c:
        return MatchResult(0.0, 0.0)
    return MatchResult(
        _count_in(q, c, distance_tolerance, cpp_rule) * 100.0 / len(q),
        _count_in(c, q, distance_tolerance, cpp_rule) * 100.0 / len(c),
    )


def _words(hashes: list[int]) -> np.ndarray:
    """256-bit hashes as rows of four uint64 words (for vectorised Hamming distances)."""
    out = np.zeros((len(hashes), 4), dtype=np.uint64)
    mask = (1 << 64) - 1
    for i, h in enumerate(hashes):
        for w in range(4):
            out[i, w] = (h >> (64 * w)) & mask
    return out


@dataclass(frozen=True)
class PreparedFeatures:
    """One video's features filtered for matching (python-threatexchange's rule), as words."""

    words: np.ndarray  # (n, 4) uint64

    @classmethod
    def of(
        cls, features: Sequence[VideoFrameHash], quality_tolerance: int = QUALITY_TOLERANCE
    ) -> PreparedFeatures:
        return cls(_words(_filtered(features, quality_tolerance, dedupe=True)))


def match_prepared(
    a: PreparedFeatures, b: PreparedFeatures, distance_tolerance: int = DISTANCE_TOLERANCE
) -> MatchResult:
    """``match_two_hash`` on prepared features (the same numbers, vectorised)."""
    if len(a.words) == 0 or len(b.words) == 0:
        return MatchResult(0.0, 0.0)
    dist = np.zeros((len(a.words), len(b.words)), dtype=np.int32)
    for w in range(4):
        dist += np.bitwise_count(a.words[:, w][:, None] ^ b.words[:, w][None, :]).astype(np.int32)
    near = dist <= distance_tolerance
    return MatchResult(
        float(near.any(axis=1).sum()) * 100.0 / len(a.words),
        float(near.any(axis=0).sum()) * 100.0 / len(b.words),
    )


__all__ = [
    "PreparedFeatures",
    "match_prepared",
    "DISTANCE_TOLERANCE",
    "MATCH_PERCENT",
    "NAME",
    "QUALITY_TOLERANCE",
    "SECONDS_PER_HASH",
    "VERSION",
    "SIGNAL_NAME",
    "FrameTooSmall",
    "compact",
    "from_signal",
    "to_signal",
    "MatchResult",
    "feature",
    "frame_mod",
    "hamming",
    "hash_frame",
    "match_two_hash",
    "timestamp",
]
