"""Videos as the case keeps them: duplicate and near-duplicate groups by vPDQ."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VideoMatch:
    """How much of two videos' vPDQ features match (as Meta's vpdq reports it)."""

    sha_a: str
    sha_b: str
    a_matched_pct: float  # of a's features, the share that has a match in b
    b_matched_pct: float


@dataclass(frozen=True)
class VideoGroup:
    """Videos that are the same bytes or the same footage (re-encoded, cut, resized)."""

    members: tuple[str, ...]  # sha256 of each video, sorted
    kind: str  # exact | near
    matches: tuple[VideoMatch, ...] = ()
