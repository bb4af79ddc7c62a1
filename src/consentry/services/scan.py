"""Scan sources into a case, and hash single files without one.

``scan`` is the whole scan as a shell asks for it: the misuse checks before anything is
written (sources, analyzer choice, provenance options, every model loadable), then the case
opened once, created if new, and ``scan.pipeline.run_scan`` inside it (inventory, analysis,
re-analysis of newly enabled analyzers, identities, derivation links, read-only check, audit
events). Progress reaches the shell through ``ScanProgress``, so the CLI draws its bar and a web
app its page from the same calls.

The pipeline and the models are imported inside the functions: a shell imports this module to
build its options and still starts without loading a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.analyzers import registry
from consentry.execution import CHOICES as EXECUTORS
from consentry.execution import ExecutorSpec
from consentry.records.progress import Progress
from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened

if TYPE_CHECKING:
    from consentry.scan.hash_file import FileHashes
    from consentry.scan.verify_sources import SourceChange
    from consentry.store.case_counts import CaseCounts

# the analyzers that come with consentry (names only: nothing is imported), for a shell's help
BUILTIN_ANALYZERS = registry.BUILTIN_NAMES
# what a missing model's message adds: the way out (leave the analyzer out of the scan)
MODEL_HINT = "(install it, or scan with --skip to leave it out)"


class ScanProgress(Progress):
    """The pipeline's progress calls, plus ``started``: the case is open and the scan begins,
    so a shell starts drawing only once every misuse check has passed."""

    def started(self) -> None: ...


@dataclass(frozen=True)
class ScanRequest:
    """One scan as asked. ``only`` / ``skip``: analyzer names to run alone / to leave out of
    the default set (not both); ``workers`` None means one per CPU core; ``link`` False leaves
    the derivation pass for a later ``links``."""

    case: CaseRef
    sources: tuple[str, ...]
    examiner: str | None = None
    workers: int | None = None
    only: frozenset[str] | None = None
    skip: frozenset[str] | None = None
    detector_model: str | None = None
    watermarks_in_jpeg: bool = False
    c2pa_trust_anchors: str | None = None  # a PEM file
    link: bool = True
    services_file: str | None = None  # a services list (YAML) instead of the shipped one
    executor: str = "local"  # "local" (this machine) or "ray" (a Ray cluster)
    ray_address: str | None = None  # a running Ray cluster (None: start one on this machine)


@dataclass(frozen=True)
class ScanResult:
    case_path: Path  # absolute, as opened
    scan_id: int
    workers: int  # the workers it ran with (processes here, or a Ray cluster's actors)
    elapsed_s: float
    new_locations: int
    analysed: int  # files analysed by this run
    counts: CaseCounts  # the whole case's, after the scan
    source_changes: tuple[SourceChange, ...]  # source files changed during the scan (not by us)
    executor: str = "local"  # "local" or "ray"


def choose_analyzers(only: frozenset[str] | None, skip: frozenset[str] | None) -> frozenset[str]:
    """The analyzers a scan runs: ``only`` those, or the registered defaults less ``skip``
    (built-ins and installed plug-ins, ``analyzers.registry``)."""
    if only is not None and skip is not None:
        raise ServiceError(ErrorCode.MISUSE, "use --only or --skip, not both")
    chosen = only if only is not None else skip or frozenset()
    known = registry.names()
    unknown = chosen - set(known)
    if unknown:
        raise ServiceError(
            ErrorCode.MISUSE,
            f"unknown analyzer(s) {', '.join(sorted(unknown))}; choose from {', '.join(known)}",
        )
    if only is not None:
        return only
    return registry.default_names() - chosen


def scan(request: ScanRequest, progress: ScanProgress | None = None) -> ScanResult:
    """Scan ``request.sources`` into the case (created if new; re-running resumes). Raises
    ServiceError: MISUSE before anything is written (a source missing or overlapping the case,
    unknown analyzers, provenance options without provenance, unreadable trust anchors, a
    model missing), CASE when the case cannot be opened, SCAN_FAILED when the scan stopped on
    an error that is no file's (recorded as ``scan_failed``; the same request resumes)."""
    from consentry.analyzers.models import ModelUnavailable
    from consentry.analyzers.plan import AnalysisPlan, ProvenanceSettings
    from consentry.analyzers.provenance.c2pa import TrustAnchorsError, load_trust_anchors
    from consentry.analyzers.runner import init_process
    from consentry.scan.pipeline import SourceError, check_sources_usable, run_scan

    progress = progress or ScanProgress()
    try:
        roots = check_sources_usable(request.case.path, request.sources)
    except SourceError as exc:
        raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    analyzers = choose_analyzers(request.only, request.skip)
    if (
        request.detector_model or request.watermarks_in_jpeg or request.c2pa_trust_anchors
    ) and "provenance" not in analyzers:
        raise ServiceError(
            ErrorCode.MISUSE,
            "--detector-model, --watermarks-in-jpeg and --c2pa-trust-anchors need the "
            "provenance analyzer",
        )
    anchors = None
    if request.c2pa_trust_anchors is not None:
        try:
            anchors = load_trust_anchors(request.c2pa_trust_anchors)
        except TrustAnchorsError as exc:
            raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    detector = request.detector_model
    provenance = ProvenanceSettings(
        detector_model=str(Path(detector).resolve()) if detector else None,
        watermarks_in_jpeg=request.watermarks_in_jpeg,
        c2pa_trust_anchors_pem=anchors.pem if anchors else None,
    )
    if request.services_file is not None:
        from consentry.analyzers.artefacts.services import ServicesListError, load_services

        try:  # a broken list is one clear error before anything is written
            load_services(Path(request.services_file))
        except ServicesListError as exc:
            raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    spec = executor_spec(request.executor, request.workers, request.ray_address)
    workers = request.workers or os.cpu_count() or 1
    try:  # every model loads once here first: a missing one is one clear error, before any write
        init_process(AnalysisPlan(analyzers, provenance=provenance))
    except ModelUnavailable as exc:
        raise ServiceError(ErrorCode.MISUSE, f"{exc} {MODEL_HINT}") from None
    with opened(request.case, create=True) as case:
        progress.started()
        try:
            outcome = run_scan(
                case,
                roots,
                request.examiner,
                workers,
                progress,
                analyzers,
                provenance,
                link=request.link,
                services_file=Path(request.services_file) if request.services_file else None,
                executor=spec,
            )
        except ModelUnavailable as exc:
            raise ServiceError(ErrorCode.MISUSE, f"{exc} {MODEL_HINT}") from None
        except Exception as exc:  # noqa: BLE001 - recorded as scan_failed by run_scan
            raise ServiceError(
                ErrorCode.SCAN_FAILED,
                f"scan stopped: {type(exc).__name__}: {exc} (recorded in the audit log as "
                "scan_failed; re-run the same command to resume)",
            ) from exc
        return ScanResult(
            case_path=case.path,
            scan_id=outcome.scan_id,
            workers=outcome.workers or workers,
            executor=spec.kind,
            elapsed_s=outcome.elapsed_s,
            new_locations=outcome.new_locations,
            analysed=outcome.analysed,
            counts=outcome.counts,
            source_changes=tuple(outcome.source_changes),
        )


def executor_spec(kind: str, workers: int | None, address: str | None) -> ExecutorSpec:
    """``--executor`` / ``--workers`` / ``--ray-address`` as an ``ExecutorSpec``, checked before
    anything is written: an unknown kind, an address without ``ray``, Ray not installed or its
    cluster unreachable are MISUSE. For ``ray`` the cluster is joined (or started) here."""
    if kind not in EXECUTORS:
        raise ServiceError(
            ErrorCode.MISUSE, f"unknown executor {kind!r}; choose from {', '.join(EXECUTORS)}"
        )
    if address is not None and kind != "ray":
        raise ServiceError(ErrorCode.MISUSE, "--ray-address needs --executor ray")
    if workers is not None and workers < 1:
        raise ServiceError(ErrorCode.MISUSE, "--workers must be 1 or more")
    if kind == "ray":
        from consentry.execution.ray_executor import RayUnavailable, connect

        try:
            connect(address, workers)
        except RayUnavailable as exc:
            raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
    return ExecutorSpec(kind, workers, address)


def hash_image(name: str) -> FileHashes:
    """PDQ (+quality), MD5 and SHA-256 of one file, by the scan's own per-file path (so a file
    that has no PDQ gets the problem code a scan would record); no case is involved."""
    from consentry.scan.hash_file import hash_file

    return hash_file(os.fsencode(name))


__all__ = [
    "BUILTIN_ANALYZERS",
    "EXECUTORS",
    "executor_spec",
    "ScanProgress",
    "ScanRequest",
    "ScanResult",
    "choose_analyzers",
    "hash_image",
    "scan",
]
