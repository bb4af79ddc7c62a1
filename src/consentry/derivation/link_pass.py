"""The case-level derivation pass: which image was made from which, what changed, and whether the
face is still the same person. This module runs the steps - store reads and writes, work on the
executor's workers - and each step's judgement lives in its own module:

1. features: ORB keypoints (plain and mirrored) of every image content not yet in the store,
   read again from the evidence (evidence.py: read-only, bytes checked against the recorded
   SHA-256); committed in batches, so a killed pass keeps what it finished;
2. shortlist (candidates.py): a descriptor index proposes a few partners per image, and a
   second round, with the features outside faces, partners for face swaps;
3. verification (verify.py) of every shortlisted pair not verified before: alignment and
   change masks say whether the pair is related;
4. resolution profiles of the pictures the direction will ask about (the larger of a related
   pair of different sizes): a costly full-resolution decode, so only for those;
5. links (choice.py): for each related pair the direction from the evidence, at most one
   source per image, no cycles, the face verdict; stored in one transaction;
6. renders of new or changed links (render.py).

Work on the evidence runs on an executor (``consentry.execution``): worker processes for a
large case, this process for a small one. An item whose worker dies or hangs, also when
retried alone, is recorded as failed (a feature error, an unverified pair, an unmeasured
profile, a missing render) and the pass goes on.

Idempotent and resumable: features and pair results are cached by content hash and method
version; links are recomputed from them and replace the stored ones in one transaction; an
unchanged case (same image set, same version) returns at once.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import cv2
import numpy as np

from consentry.derivation import align as al
from consentry.derivation import candidates as ca
from consentry.derivation import change_mask as cm
from consentry.derivation import features as feat
from consentry.derivation.choice import (
    RULES,
    PairEvidence,
    choose_links,
    faces_in_work,
    link_record,
    profiles_needed,
)
from consentry.derivation.direction import AI_VERDICTS
from consentry.derivation.evidence import read_evidence
from consentry.derivation.render import render_links
from consentry.derivation.verify import (
    MAX_CHANGED_FRACTION,
    SCATTERED_LARGEST,
    SCATTERED_REGIONS,
    VERSION,
    PairTask,
    chunk_lost,
    start_worker,
    verify_chunk,
)
from consentry.execution import (
    Executor,
    ExecutorSpec,
    Lost,
    WorkerInit,
    is_cluster,
    make_executor,
)
from consentry.execution.probe import require_paths
from consentry.records.features import ImageFeatures
from consentry.records.problems import ItemError
from consentry.store import CaseStore
from consentry.store.links_store import FeatureError, ImageRef, LinkRecord, LinksStore, PairRecord

FEATURE_BATCH = 32
PAIR_BATCH = 64
PAIR_CHUNK = 16  # pairs sent to a worker at once: neighbours in _by_group order share pictures
PARALLEL_FROM = 48  # fewer images than this: one process (a pool costs seconds to start)
# On a cluster, from this many images the shortlist's index is handed to the workers (once,
# through the object store) and its queries asked in slices of QUERY_SLICE descriptors: at 8,000
# images the search is seconds on one machine; it grows faster than the images (more cells,
# more queries), so at a seizure's size it is work for the cluster. Below, the driver asks it.
DISTRIBUTED_SHORTLIST_FROM = 2000
QUERY_SLICE = 50_000
# What every worker of the pass runs first (the same for all its steps: the workers are kept).
WORKER = WorkerInit(start_worker)
T = TypeVar("T")


class LinkProgress(Protocol):
    """What the pass reports (pipeline.Progress has these methods)."""

    def phase(self, name: str) -> None: ...
    def analysis_total(self, total: int) -> None: ...
    def analysed(self, n: int) -> None: ...


class _Quiet:
    def phase(self, name: str) -> None: ...
    def analysis_total(self, total: int) -> None: ...
    def analysed(self, n: int) -> None: ...


@dataclass
class LinkOutcome:
    images: int
    new_features: int
    feature_errors: int
    candidate_pairs: int
    verified_now: int
    related_pairs: int
    links: int
    changed: int
    removed: int
    rendered: int
    elapsed_s: float
    unchanged: bool = False


# -- work on the evidence, in the workers ---------------------------------------------------------
def _features_of(image: ImageRef) -> ImageFeatures | FeatureError:
    try:
        picture = feat.work_picture(read_evidence(image))
        return feat.image_features(image.sha256, picture)
    except ItemError as exc:
        return FeatureError(image.sha256, f"{exc.code.value}: {exc.message}")
    except (cv2.error, ValueError, MemoryError) as exc:
        return FeatureError(image.sha256, f"features failed: {exc}")


def _features_lost(image: ImageRef, lost: Lost) -> FeatureError:
    return FeatureError(image.sha256, f"{lost.code.value}: {lost.message}")


def _profile_of(image: ImageRef) -> tuple[str, np.ndarray, float]:
    try:
        profile, scale = feat.measure_profile(read_evidence(image))
        return image.sha256, profile, scale
    except (ItemError, cv2.error, ValueError, MemoryError):
        return image.sha256, feat.UNMEASURABLE, 0.0


def _profile_lost(image: ImageRef, lost: Lost) -> tuple[str, np.ndarray, float]:
    return image.sha256, feat.UNMEASURABLE, 0.0  # as for a picture that no longer decodes


# -- the pass -----------------------------------------------------------------------------------
def _state(shas: Sequence[str], faces: int, verdicts: dict[str, str]) -> str:
    """What the links depend on: the images, the faces found in them (a later faces analysis
    changes the face verdicts), which of them carry generator provenance (a direction cue),
    and the method."""
    ai = sorted(sha for sha, verdict in verdicts.items() if verdict in AI_VERDICTS)
    body = json.dumps(
        {"v": VERSION, "rules": RULES, "images": sorted(shas), "faces": faces, "ai": ai}
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _unverified(
    pair: tuple[int, int], features: list[ImageFeatures], verified: set[tuple[str, str]]
) -> bool:
    return (features[pair[0]].sha256, features[pair[1]].sha256) not in verified


def _by_group(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs ordered group by group (connected pictures together), so that a worker finds
    each picture in its small cache of decoded pictures instead of reading it again for every
    pair: reading and decoding a 12 MP photo costs more than checking a pair."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    return sorted(pairs, key=lambda p: (root(p[0]), p))


def _chunks(items: Sequence[T], n: int) -> Iterator[list[T]]:
    for lo in range(0, len(items), n):
        yield list(items[lo : lo + n])


def link_derivations(
    store: CaseStore,
    case_dir: Path | None,
    actor: str | None = None,
    workers: int = 1,
    progress: LinkProgress | None = None,
    rebuild: bool = False,
    executor: ExecutorSpec | None = None,
) -> LinkOutcome:
    """Bring the case's derivation links up to date (renders into ``case_dir`` when given).
    ``executor``: where the work on the evidence runs (default: this machine; a cluster's
    workers first check that they read the sources and write the case folder)."""
    spec = executor or ExecutorSpec()
    ls = LinksStore(store.engine)
    if rebuild:
        ls.clear()
    refs = ls.image_refs()
    have = ls.feature_shas(feat.VERSION)
    todo = [r for r in refs if r.sha256 not in have]  # images without features yet
    cpu_started = _cpu_s()
    init = WORKER
    if is_cluster(spec):  # asked for by name: used whatever the number of images
        work = make_executor(spec.kind, spec.workers, spec.address)
        readable = tuple(row.path for row in store.sources().values())
        init = WorkerInit(_start_cluster_worker, (readable, (str(case_dir),) if case_dir else ()))
    else:
        parallel = workers > 1 and len(todo) + len(refs) >= PARALLEL_FROM
        work = make_executor("process" if parallel else "inline", workers)
    try:
        outcome, audit_payload = _link(
            ls, refs, todo, case_dir, work, progress or _Quiet(), rebuild, init, is_cluster(spec)
        )
    finally:
        unusable = list(getattr(work, "unusable", []))
        if unusable:
            store.append_audit("workers_unusable", actor, {"workers": unusable})
        # joins local workers: their CPU time counts in RUSAGE_CHILDREN from here (a Ray
        # cluster's workers are not this process's children: cpu_s then counts this process)
        work.close()
    if audit_payload is not None:
        audit_payload["cpu_s"] = round(_cpu_s() - cpu_started, 3)  # this process + workers
        store.append_audit("derivations_linked", actor, audit_payload)
    return outcome


def _link(
    ls: LinksStore,
    refs: list[ImageRef],
    todo: list[ImageRef],
    case_dir: Path | None,
    executor: Executor,
    progress: LinkProgress,
    rebuild: bool,
    init: WorkerInit = WORKER,
    distribute_search: bool = False,
) -> tuple[LinkOutcome, dict[str, Any] | None]:
    """The pass itself; returns the outcome and the audit event's payload (None: nothing new)."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    by_sha = {r.sha256: r for r in refs}
    progress.phase("derivation")
    if todo:
        progress.analysis_total(len(todo))
        results = executor.map(_features_of, todo, init=init, on_lost=_features_lost)
        done: list[ImageFeatures] = []
        failed: list[FeatureError] = []
        for result in results:
            if isinstance(result, FeatureError):
                failed.append(result)
            else:
                done.append(result)
            if len(done) + len(failed) >= FEATURE_BATCH:
                ls.add_features(feat.VERSION, done, failed)
                progress.analysed(len(done) + len(failed))
                done, failed = [], []
        ls.add_features(feat.VERSION, done, failed)
        progress.analysed(len(done) + len(failed))
    all_features = [f for f in ls.features(feat.VERSION) if f.sha256 in by_sha]
    features = {f.sha256: f for f in all_features}
    verdicts = ls.provenance_verdicts()
    state = _state(list(features), ls.face_count(), verdicts)
    if not rebuild and ls.state() == state:
        rendered = _render_pending(ls, case_dir, by_sha, executor, init)
        links = ls.links()
        outcome = LinkOutcome(
            len(refs),
            len(todo),
            ls.feature_errors(),
            0,
            0,
            0,
            len(links),
            0,
            0,
            rendered,
            time.monotonic() - started,
            unchanged=True,
        )
        return outcome, None

    timings["features_s"] = time.monotonic() - started
    mark = time.monotonic()
    face_boxes = {sha: [f.box for f in faces_in_work(found)]
                  for sha, found in ls.faces(features).items()}  # fmt: skip
    search: ca.Search = ca.local_search
    if distribute_search and len(all_features) >= DISTRIBUTED_SHORTLIST_FROM:
        search = _search_on(executor)
    positions = ca.shortlist(all_features, face_boxes, search)
    timings["shortlist_s"] = time.monotonic() - mark
    mark = time.monotonic()
    verified = ls.verified_pairs(VERSION)
    tasks = []
    for i, j in _by_group([p for p in positions if _unverified(p, all_features, verified)]):
        a, b = all_features[i], all_features[j]  # sorted by sha256: a < b
        tasks.append(PairTask(a, b, by_sha[a.sha256], by_sha[b.sha256]))
    progress.analysis_total(len(todo) + len(tasks))
    chunks = list(_chunks(tasks, PAIR_CHUNK))
    verified_now = 0
    stream = executor.map(verify_chunk, chunks, init=init, on_lost=chunk_lost)
    batch: list[PairRecord] = []
    for verified_chunk in stream:
        batch.extend(verified_chunk)
        if len(batch) >= PAIR_BATCH:
            ls.add_pairs(batch)
            progress.analysed(len(batch))
            verified_now += len(batch)
            batch = []
    ls.add_pairs(batch)
    progress.analysed(len(batch))
    verified_now += len(batch)

    timings["verify_s"] = time.monotonic() - mark
    mark = time.monotonic()
    related = [p for p in ls.related_pairs(VERSION) if p.sha_a in features and p.sha_b in features]
    evidence = PairEvidence(related, ls.exif(features), verdicts)
    needed = sorted(profiles_needed(evidence, features))
    if needed:
        todo_refs = [by_sha[sha] for sha in needed]
        stream_p = executor.map(_profile_of, todo_refs, init=init, on_lost=_profile_lost)
        measured = {sha: (profile, scale) for sha, profile, scale in stream_p}
        ls.set_profiles(feat.VERSION, measured)
        for sha, (profile, scale) in measured.items():
            features[sha].profile, features[sha].profile_scale = profile, scale
    timings["profiles_s"] = time.monotonic() - mark
    mark = time.monotonic()
    chosen = choose_links(evidence, features)
    faces = ls.faces({c.derived for c in chosen} | {c.source for c in chosen})
    records: list[LinkRecord] = [
        r for c in chosen if (r := link_record(c, features, faces)) is not None
    ]
    changed, removed = ls.replace_links(records, state)
    timings["links_s"] = time.monotonic() - mark
    mark = time.monotonic()
    rendered = _render_pending(ls, case_dir, by_sha, executor, init)
    timings["render_s"] = time.monotonic() - mark
    outcome = LinkOutcome(
        images=len(refs),
        new_features=len(todo),
        feature_errors=ls.feature_errors(),
        candidate_pairs=len(positions),
        verified_now=verified_now,
        related_pairs=len(related),
        links=len(records),
        changed=changed,
        removed=removed,
        rendered=rendered,
        elapsed_s=time.monotonic() - started,
    )
    if not (changed or removed):
        return outcome, None  # the audit log records what changed in the case, not idle passes
    return outcome, {
        "images": outcome.images,
        "new_images_with_features": outcome.new_features,
        "images_failed": outcome.feature_errors,
        "candidate_pairs": outcome.candidate_pairs,
        "pairs_verified_now": outcome.verified_now,
        "related_pairs": outcome.related_pairs,
        "links": outcome.links,
        "links_added_or_changed": changed,
        "links_removed": removed,
        "elapsed_s": round(outcome.elapsed_s, 3),
        "phases_s": {k: round(v, 2) for k, v in timings.items()},
        "method": method_description(),
    }


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the executor's, once joined
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _render_pending(
    ls: LinksStore,
    case_dir: Path | None,
    by_sha: dict[str, ImageRef],
    executor: Executor,
    init: WorkerInit = WORKER,
) -> int:
    if case_dir is None:
        return 0
    return render_links(ls, case_dir, by_sha, executor, init)


def _search_on(executor: Executor) -> ca.Search:
    """The shortlist's search on ``executor``'s workers: the index goes to each worker once (its
    WorkerInit; on Ray through the object store, one copy per node), the queries in slices. A
    slice whose worker was lost is asked here instead: the answers are the same either way."""

    def search(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        init = WorkerInit(ca.start_search_worker, (ca.index_blob(index),))
        tasks = [
            (lo, queries[lo : lo + QUERY_SLICE], k) for lo in range(0, len(queries), QUERY_SLICE)
        ]

        def lost(
            task: tuple[int, np.ndarray, int], why: Lost
        ) -> tuple[int, np.ndarray, np.ndarray]:
            offset, part, kk = task
            distances, ids = index.search(part, kk)
            return offset, distances, ids

        parts = sorted(
            executor.map(ca.search_slice, tasks, init=init, on_lost=lost), key=lambda p: p[0]
        )
        if not parts:
            return ca.local_search(index, queries, k)
        return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])

    return search


def _start_cluster_worker(readable: tuple[str, ...], writable: tuple[str, ...]) -> None:
    """A cluster worker's set-up: it reads the sources and writes the case folder (renders),
    else it is left out (``WorkerUnusable``); then the pass's own set-up."""
    require_paths(readable, writable)
    start_worker()


def method_description() -> dict[str, object]:
    return {
        "version": VERSION,
        "features": f"ORB {feat.N_FEATURES} (+ mirrored) at {feat.WORK_SIDE} px",
        "shortlist": f"faiss binary index, top {ca.SHORTLIST} per image by descriptor votes, "
        f"+ top {ca.BACKGROUND_SHORTLIST} by votes of descriptors outside faces",
        "alignment": f"similarity (+mirror) by RANSAC, >= {al.MIN_INLIERS} inliers",
        "change_mask": f"blur {cm.BLUR_SIGMA} px, colour diff > {cm.MIN_DIFFERENCE} or texture "
        f"ratio > {cm.TEXTURE_RATIO}",
        "related_if_changed_at_most": MAX_CHANGED_FRACTION,
        "unrelated_if_changes_scattered": f">= {SCATTERED_REGIONS} regions, largest < "
        f"{SCATTERED_LARGEST:.0%} of the changed area",
        "direction_cues": ["field_of_view", "resolution", "metadata", "generator", "family"],
    }


__all__ = ["LinkOutcome", "LinkProgress", "link_derivations", "method_description"]
