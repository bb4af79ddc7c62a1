"""A scan, start to end: inventory -> parallel analysis -> store -> read-only check -> audit.

Resumable by construction: the walk only adds locations the store does not have, analysis only
takes locations still ``pending``, and each batch of results commits atomically. Re-running a
scan after a crash (or SIGKILL) therefore finishes exactly the missing work.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentry import __version__
from consentry.analyzers import registry
from consentry.analyzers.plan import AnalysisPlan, ProvenanceSettings
from consentry.analyzers.runner import (
    describe_plan,
    expected_model_keys,
    init_process,
    reset_process,
)
from consentry.execution import ExecutorSpec, executor_for, is_cluster, resolve_kind
from consentry.media import archives
from consentry.persons import refresh_identities
from consentry.records.items import WorkItem, WorkResult
from consentry.records.locations import LocationRef, display_bytes_path
from consentry.records.progress import Progress
from consentry.scan.executor import analysis_mapper, worker_init
from consentry.scan.inventory import OpenOptions, SourceError, source_kind, source_root
from consentry.scan.verify_sources import SourceChange, check_sources
from consentry.store import audit, disk_store
from consentry.store.case import Case, CaseError
from consentry.store.case_counts import CaseCounts

INVENTORY_BATCH = 500
RECORD_EVERY_S = 0.5
RECORD_BATCH = 256


@dataclass
class ScanOutcome:
    scan_id: int
    elapsed_s: float
    new_locations: int
    analysed: int
    counts: CaseCounts
    source_changes: list[SourceChange] = field(default_factory=list)
    workers: int = 0  # the workers the analysis ran on (on a cluster: its actors)


def check_sources_usable(case_dir: Path, sources: Sequence[str]) -> list[bytes]:
    """Misuse checks before anything is written: sources exist and do not overlap the case."""
    roots = []
    case_real = os.path.realpath(case_dir)
    for s in sources:
        root = source_root(s)
        real = os.path.realpath(root)
        real_s = os.fsdecode(real)
        if case_real == real_s or case_real.startswith(real_s.rstrip("/") + "/"):
            raise SourceError(
                f"the case folder {case_dir} is inside source {s}: it would write into evidence"
            )
        if real_s.startswith(case_real.rstrip("/") + "/"):
            raise SourceError(f"source {s} is inside the case folder {case_dir}")
        roots.append(root)
    return roots


def run_scan(
    case: Case,
    roots: Sequence[bytes],
    examiner: str | None,
    workers: int,
    progress: Progress | None = None,
    analyzers: frozenset[str] = frozenset(),
    provenance: ProvenanceSettings | None = None,
    link: bool = True,
    services_file: Path | None = None,
    executor: ExecutorSpec | None = None,
) -> ScanOutcome:
    """Scan ``roots`` into ``case``. Loads the analyzers' models first: a missing model raises
    ModelUnavailable before anything is written. ``link=False`` leaves the derivation pass for a
    later ``consentry links`` (it compares images with each other, so it is a case-level step).
    ``executor``: where the analysis and the derivation pass run (default: this machine, with
    ``workers`` workers; ``ExecutorSpec("ray", ...)``: a Ray cluster). Only this process writes
    the store, whatever the executor."""
    spec = executor or ExecutorSpec()
    progress = progress or Progress()
    store = case.store
    plan = AnalysisPlan(frozenset(analyzers), str(case.path), provenance or ProvenanceSettings())
    init_process(plan)  # in this process: checks every model once, and serves --workers 1
    analyzers_used = describe_plan()
    if workers > 1 or is_cluster(spec):
        reset_process()  # the workers load their own; idle models here cost ~200 MiB
    started = time.monotonic()
    tz = time.strftime("%Z%z")
    sources = [display_bytes_path(r) for r in roots]
    for lost_id in store.mark_interrupted_scans():
        # killed without a word (kill -9, power loss): said now, before the new scan starts
        store.append_audit(
            "scan_interrupted",
            examiner,
            {"scan_id": lost_id, "pending": store.count_pending()},
        )
    scan_id = store.begin_scan(
        started_at=audit.now_iso(),
        examiner=examiner,
        host=platform.node(),
        timezone=tz,
        tool_version=__version__,
        sources_json=_json(sources),
    )
    store.append_audit(
        "scan_started",
        examiner,
        {
            "scan_id": scan_id,
            "tool": f"consentry {__version__}",
            "host": platform.node(),
            "clock_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "timezone": tz,
            "python": platform.python_version(),
            "sources": sources,
            "workers": workers,
            "executor": resolve_kind(spec, workers),
            **({"ray_address": spec.address} if spec.address else {}),
            "analyzers": analyzers_used,
        },
    )

    try:
        return _scan_body(
            case,
            roots,
            examiner,
            workers,
            progress,
            plan,
            link,
            services_file,
            scan_id,
            started,
            spec,
        )
    except BaseException as exc:
        # an error no file should cause (disk full, database gone, a bug) or Ctrl-C: the case
        # says so, and its pending files stay pending for the re-run that resumes them
        error = (
            "interrupted by the user"
            if isinstance(exc, KeyboardInterrupt)
            else (f"{type(exc).__name__}: {exc}"[:1000])
        )
        try:
            store.fail_scan(scan_id, audit.now_iso(), error)
            store.append_audit(
                "scan_failed",
                examiner,
                {
                    "scan_id": scan_id,
                    "error": error,
                    "pending": store.count_pending(),
                    "elapsed_s": round(time.monotonic() - started, 3),
                },
            )
        except Exception:  # noqa: BLE001 - the store itself may be what failed
            pass
        raise


def _scan_body(
    case: Case,
    roots: Sequence[bytes],
    examiner: str | None,
    workers: int,
    progress: Progress,
    plan: AnalysisPlan,
    link: bool,
    services_file: Path | None,
    scan_id: int,
    started: float,
    spec: ExecutorSpec,
) -> ScanOutcome:
    store = case.store
    progress.phase("inventory")
    new_locations = 0
    per_source: dict[str, int] = {}
    found_total = 0
    for root in roots:
        kind = source_kind(root)  # folder (a link to one is walked), disk image, or file
        source_id = store.ensure_source(LocationRef(root), kind.name)
        listing = kind.open(root, _open_options(store, source_id, progress))
        if listing.disk_image is not None:
            _record_disk_image(store, examiner, source_id, listing)
        count = 0
        for batch in _batched(listing.files, INVENTORY_BATCH):
            new_locations += store.add_found(source_id, batch)
            count += len(batch)
            found_total += len(batch)
            progress.inventory(found_total)
        per_source[display_bytes_path(root)] = count

    progress.phase("analysis")
    analysed, workers_used = _analyse(store, plan, workers, progress, spec, roots, examiner)
    refresh_identities(store, case.path, examiner)  # matches and clusters; cheap if unchanged
    if link:
        # imported here: the pass pulls in OpenCV and faiss, which --no-links scans never use
        from consentry.derivation.link_pass import link_derivations

        # cheap if unchanged
        link_derivations(store, case.path, examiner, workers, progress, executor=spec)
    # browser profiles in the evidence: visits to listed services, downloads found in the case
    from consentry.traces.trace_pass import find_traces

    find_traces(store, examiner, services_file, progress)

    progress.phase("verify")
    changes = check_sources(store)
    if changes:
        store.append_audit(
            "source_changed",
            examiner,
            {
                "scan_id": scan_id,
                "changes": [
                    {"path": c.path, "code": c.code.value, "message": c.message} for c in changes
                ],
            },
        )
    counts = store.counts(registry.count_rules())
    elapsed = time.monotonic() - started
    summary = {
        "elapsed_s": round(elapsed, 3),
        "analysed": analysed,
        "new_locations": new_locations,
        **counts.as_dict(),
    }
    store.finish_scan(scan_id, audit.now_iso(), summary)
    store.append_audit(
        "scan_finished",
        examiner,
        {
            "scan_id": scan_id,
            "files_per_source": per_source,
            "source_changes": len(changes),
            "files": counts.files,
            "images": counts.images,
            "unique_contents": counts.unique_contents,
            "errors": counts.errors.total,
            "elapsed_s": round(elapsed, 3),
        },
    )
    return ScanOutcome(scan_id, elapsed, new_locations, analysed, counts, changes, workers_used)


def _open_options(store: Any, source_id: int, progress: Progress) -> OpenOptions:
    """What a source kind may need: the disk-image record of an earlier run (a resumed scan
    keeps its hash check instead of reading the image again), and progress while an image
    is hashed (``Progress.image_bytes``)."""
    return OpenOptions(disk_store.disk_image(store, source_id), progress.image_bytes)


def _record_disk_image(store: Any, examiner: str | None, source_id: int, listing: Any) -> None:
    """The ``disk_images`` row, and the audit event of a hash check made now."""
    info = dataclasses.replace(listing.disk_image, source_id=source_id)
    disk_store.write_disk_image(store, info)
    if listing.verified_now:
        store.append_audit(
            "disk_image_verified",
            examiner,
            {
                "source": info.path,
                "format": info.format,
                "segments": len(info.segments),
                "media_size": info.media_size,
                "verification": info.verification,
                "stored_md5": info.stored_md5,
                "computed_md5": info.computed_md5,
                "stored_sha1": info.stored_sha1,
                "computed_sha1": info.computed_sha1,
                "message": info.message,
                "volumes": [
                    {"name": v.name, "filesystem": v.filesystem, "problem": v.problem}
                    for v in info.volumes
                ],
            },
        )


def _analyse(
    store: Any,
    plan: AnalysisPlan,
    workers: int,
    progress: Progress,
    spec: ExecutorSpec,
    roots: Sequence[bytes],
    examiner: str | None,
) -> tuple[int, int]:
    """Analyse pending locations, then add newly enabled analyzers' findings to old content;
    returns the files analysed and the number of workers used.

    The executor survives a worker that dies or hangs on one file (see ``executor``): that
    file is retried alone once, then recorded as ``worker_lost`` / ``item_timeout``. On a
    cluster, a node that cannot read the sources or write the case folder is left out and
    named in a ``workers_unusable`` audit event."""
    executor = executor_for(spec, workers)
    mapper = analysis_mapper(executor, worker_init(plan, roots, is_cluster(spec)))
    try:
        done = _pending_pass(store, mapper, progress)
        items = store.reanalysis_items(
            plan.analyzers,
            want_thumbnails=plan.case_dir is not None,
            models=expected_model_keys(plan),
        )
        if items:
            progress.phase("reanalysis")
            progress.analysis_total(len(items))
            _record_stream(store, mapper(items), progress)
    finally:
        unusable = list(getattr(executor, "unusable", []))
        if unusable:
            store.append_audit("workers_unusable", examiner, {"workers": unusable})
        executor.close()
        archives.clear_cache()  # --workers 1 kept archives open here: no evidence stays open
        disk = sys.modules.get("consentry.media.disk")  # loaded only when an image was met
        if disk is not None:
            disk.clear_cache()  # and the disk images it kept open
    # the workers that did the work: on a cluster, those usable (nodes left out not counted)
    return done, int(getattr(executor, "used", 0) or getattr(executor, "workers", workers))


def _pending_pass(
    store: Any, mapper: Callable[[Sequence[WorkItem]], Iterator[WorkResult]], progress: Progress
) -> int:
    total = store.count_pending()
    progress.analysis_total(total)
    done = 0
    after_id = 0
    while total:
        items = store.pending(after_id=after_id)
        if not items:
            if after_id == 0 or store.count_pending() == 0:
                break
            after_id = 0  # archive members found late may sit below the cursor
            continue
        after_id = items[-1].location_id

        def grow(result: WorkResult) -> None:
            nonlocal total
            if result.children:
                total += sum(1 for c in result.children if c.readable)
                progress.analysis_total(total)

        done += _record_stream(store, mapper(items), progress, on_result=grow)
    return done


def _record_stream(
    store: Any,
    results: Iterator[WorkResult],
    progress: Progress,
    on_result: Callable[[WorkResult], None] | None = None,
) -> int:
    """Commit results in batches (every RECORD_BATCH results or RECORD_EVERY_S seconds)."""
    done = 0
    buffer: list[WorkResult] = []
    last_flush = time.monotonic()
    for result in results:
        buffer.append(result)
        if on_result:
            on_result(result)
        now = time.monotonic()
        if len(buffer) >= RECORD_BATCH or now - last_flush >= RECORD_EVERY_S:
            store.record(buffer)
            done += len(buffer)
            progress.analysed(len(buffer))
            buffer, last_flush = [], now
    store.record(buffer)
    done += len(buffer)
    progress.analysed(len(buffer))
    return done


def _batched(it: Iterator[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _json(value: Any) -> str:
    return audit.canonical_json(value)


__all__ = [
    "CaseError",
    "Progress",
    "ScanOutcome",
    "SourceError",
    "check_sources_usable",
    "run_scan",
]
