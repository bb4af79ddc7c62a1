"""Bring a case's derivation links up to date and read them: which image was made from which,
what changed, whether the face is still the same person.

``update_links`` opens the case once for writing (the pass writes its pairs, links, renders into
the case folder and its ``derivations_linked`` audit event), refuses a case folder that lies in
evidence, and returns every link with the paths where its pictures were found.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consentry.execution import NoUsableWorker
from consentry.services.case import CaseRef, ErrorCode, ServiceError, opened

if TYPE_CHECKING:
    from consentry.store.links_store import LinkRecord


@dataclass(frozen=True)
class LinksRequest:
    case: CaseRef
    examiner: str | None = None
    workers: int | None = None  # None: one per CPU core
    rebuild: bool = False  # forget cached pair checks and verify every pair again
    executor: str = "local"  # "local" (this machine) or "ray" (a Ray cluster)
    ray_address: str | None = None  # a running Ray cluster (None: start one on this machine)


@dataclass(frozen=True)
class OtherSource:
    """A picture the derived one matches as well, with no evidence that it is not the original
    either (the source named is the one the derived picture differs from least)."""

    sha256: str
    path: str | None


@dataclass(frozen=True)
class LinkView:
    """One link as a shell shows it: the stored link with its JSON fields decoded and the
    places its pictures were found (``derived`` / ``source``: the first of each, or None)."""

    derived: str | None
    source: str | None
    derived_sha256: str
    source_sha256: str
    derived_paths: list[str]
    source_paths: list[str]
    transform: dict[str, Any]  # crop_fraction, scale, rotation_deg, mirrored
    changed_fraction: float
    changed_boxes: list[Any]  # in the derived picture's pixels
    face_swap: bool | None  # True another person's face, False the same, None cannot tell
    face: dict[str, Any]
    confidence: float  # of the direction (which one is the original)
    # "stated": the evidence says which picture was made from which; "unknown": copies of each
    # other, direction unknown (``derived`` / ``source`` then only name the two pictures)
    direction: str
    evidence: dict[str, Any]
    other_possible_sources: list[OtherSource]
    render_dir: str | None  # relative to the case folder

    def as_dict(self) -> dict[str, Any]:
        """The link as ``links --json`` prints it (field order kept)."""
        return asdict(self)


@dataclass(frozen=True)
class LinksResult:
    case_path: Path  # absolute, as opened
    images: int  # images the pass considered
    images_failed: int  # images whose features could not be computed
    method: dict[str, object]  # how links are found, with its thresholds
    links: list[LinkView]


def update_links(request: LinksRequest) -> LinksResult:
    """Run the derivation pass (only new images cost time) and return every link. Raises
    ServiceError: CASE when the case cannot be opened, MISUSE when the case folder lies inside
    a source (the pass writes its pictures there)."""
    # here, not at the top: the pass pulls in OpenCV and faiss (a shell's --help stays light)
    from consentry.derivation.link_pass import link_derivations, method_description
    from consentry.services.scan import executor_spec
    from consentry.store.output_guard import UnsafeOutput, guard_for_case

    spec = executor_spec(request.executor, request.workers, request.ray_address)
    with opened(request.case) as case:
        try:  # renders are written into the case folder: never when it lies in evidence
            guard_for_case(case.store, case.path).check_case_folder()
        except UnsafeOutput as exc:
            raise ServiceError(ErrorCode.MISUSE, str(exc)) from None
        try:
            outcome = link_derivations(
                case.store,
                case.path,
                request.examiner,
                request.workers or os.cpu_count() or 1,
                rebuild=request.rebuild,
                executor=spec,
            )
        except NoUsableWorker as exc:  # the storage, not the case: what is done stays done
            raise ServiceError(
                ErrorCode.SCAN_FAILED,
                f"links stopped: {exc} (audit event workers_unusable; re-run once the "
                "evidence and the case folder are mounted on the nodes)",
            ) from None
        links = case.links.links()
        paths = case.links.locations_of(
            [x.derived_sha256 for x in links]
            + [x.source_sha256 for x in links]
            + [sha for x in links for sha in _alternatives(x)]
        )
        return LinksResult(
            case_path=case.path,
            images=outcome.images,
            images_failed=outcome.feature_errors,
            method=method_description(),
            links=[_view(link, paths) for link in links],
        )


def _view(link: LinkRecord, paths: dict[str, list[str]]) -> LinkView:
    # here, not at the top: a shell's --help must not load the derivation package (numpy)
    from consentry.derivation.direction import direction_stated

    derived_paths = paths.get(link.derived_sha256, [])
    source_paths = paths.get(link.source_sha256, [])
    return LinkView(
        derived=derived_paths[0] if derived_paths else None,
        source=source_paths[0] if source_paths else None,
        derived_sha256=link.derived_sha256,
        source_sha256=link.source_sha256,
        derived_paths=derived_paths,
        source_paths=source_paths,
        transform=json.loads(link.transform),
        changed_fraction=link.changed_fraction,
        changed_boxes=json.loads(link.boxes),
        face_swap=link.face_swap,
        face=json.loads(link.face),
        confidence=link.confidence,
        direction="stated" if direction_stated(link.confidence) else "unknown",
        evidence=json.loads(link.evidence),
        other_possible_sources=[
            OtherSource(sha, next(iter(paths.get(sha, [])), None)) for sha in _alternatives(link)
        ],
        render_dir=link.render_dir,
    )


def _alternatives(link: LinkRecord) -> list[str]:
    return list(json.loads(link.evidence).get("other_possible_sources", []))


__all__ = ["LinkView", "LinksRequest", "LinksResult", "OtherSource", "update_links"]
