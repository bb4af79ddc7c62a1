"""Duplicate and near-duplicate videos across a case, by their vPDQ features.

The same bytes at several places are one content already; two contents are an *exact* group
when their vPDQ features are the same hashes (the same frames, e.g. a file re-muxed into
another container). Two videos are *near* duplicates by vpdq's match rule
(``analyzers.vpdq.match_two_hash``: distance <= 31, quality >= 50) when each matches the other
by at least ``NEAR_PERCENT`` percent of its features: the same footage re-encoded, resized or
lightly cut, not a short clip found inside a long video. Near pairs are joined into groups
(connected components); a group lists every matched pair with both shares.
"""

from __future__ import annotations

from typing import Any

from consentry.analyzers.vpdq import MATCH_PERCENT, PreparedFeatures, match_prepared
from consentry.records.items import VideoFrameHash
from consentry.records.video import VideoGroup, VideoMatch
from consentry.store.video_store import video_hashes

NEAR_PERCENT = MATCH_PERCENT  # python-threatexchange's query-match threshold, both ways


def video_groups(store: Any, near_percent: float = NEAR_PERCENT) -> list[VideoGroup]:
    """Exact and near-duplicate groups of the case's videos (sorted by their first member)."""
    return groups_of(video_hashes(store), near_percent)


def groups_of(
    features: dict[str, list[VideoFrameHash]], near_percent: float = NEAR_PERCENT
) -> list[VideoGroup]:
    by_hashes: dict[tuple[str, ...], list[str]] = {}
    for sha, feats in features.items():
        if feats:
            by_hashes.setdefault(tuple(f.pdq for f in feats), []).append(sha)
    exact = [sorted(shas) for shas in by_hashes.values()]
    reps = [shas[0] for shas in exact]  # one video per set of identical features
    prepared = {sha: PreparedFeatures.of(features[sha]) for sha in reps}
    parent = {sha: sha for sha in reps}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs: list[VideoMatch] = []
    for i, a in enumerate(reps):
        for b in reps[i + 1 :]:
            m = match_prepared(prepared[a], prepared[b])
            if m.matches(near_percent):
                pairs.append(VideoMatch(a, b, m.query_match_percent, m.compared_match_percent))
                parent[root(a)] = root(b)
    members_of = {shas[0]: shas for shas in exact}
    components: dict[str, list[str]] = {}
    for rep in reps:
        components.setdefault(root(rep), []).append(rep)
    out: list[VideoGroup] = []
    for comp in components.values():
        members = sorted(s for rep in comp for s in members_of[rep])
        if len(comp) > 1:
            kept = set(comp)
            matches = [p for p in pairs if p.sha_a in kept]
            # the identical ones within: matched in full
            matches += [
                VideoMatch(rep, other, 100.0, 100.0)
                for rep in comp
                for other in members_of[rep][1:]
            ]
            out.append(
                VideoGroup(
                    tuple(members),
                    "near",
                    tuple(sorted(matches, key=lambda m: (m.sha_a, m.sha_b))),
                )
            )
        elif len(members) > 1:
            rep = comp[0]
            out.append(
                VideoGroup(
                    tuple(members),
                    "exact",
                    tuple(VideoMatch(rep, o, 100.0, 100.0) for o in members_of[rep][1:]),
                )
            )
    out.sort(key=lambda g: g.members)
    return out


__all__ = ["NEAR_PERCENT", "groups_of", "video_groups"]
