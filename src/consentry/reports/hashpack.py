"""A hash pack for one person: the hashes of the images they appear in, for a platform or a
hash-sharing scheme to match against, and nothing else — no image, no thumbnail, no name.

``out`` is a folder that receives:

- ``pdq.txt``: python-threatexchange's text form, one ``pdq <hex>`` line per unique image whose
  PDQ quality is at least 50 (Meta's advice: below that a hash is too plain to match on; those
  images are still in the CSV, and the manifest counts them);
- ``hashes.csv``: ``sha256, md5, pdq, pdq_quality`` per unique image or video (``kind`` says
  which; ``vpdq_features`` counts a video's features) (``copies`` says how often
  it was found; with ``include_names`` also ``file_names``, which are neutral identifiers
  unless ``show_paths``: see ``redact.py``);
- ``vpdq.txt`` (only when the person appears in videos): python-threatexchange's text form for
  videos, one ``vpdq <signal>`` line per unique video with vPDQ features, the signal being its
  ``vpdq_to_json`` (a JSON list of ``hex,quality,timestamp``), as Meta's ``vpdq`` computes them;
- ``manifest.json``: what the pack is, when and from which case it was made, for which person
  code, the counts, the tool version and the SHA-256 of every other file in the pack.

The person's name is written only when asked (``ReportOptions.include_names``).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.analyzers import vpdq
from consentry.records.file_hash import sha256_of_file
from consentry.records.items import VideoFrameHash
from consentry.records.text_safety import spreadsheet_safe
from consentry.store.output_guard import OutputGuard, unguarded

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport, ReportItem
    from consentry.reports.options import ReportOptions

PDQ_MIN_QUALITY = 50  # Meta's PDQ guidance; the same floor as the scan's low_pdq_quality
PDQ_FILE = "pdq.txt"
VPDQ_FILE = "vpdq.txt"
CSV_FILE = "hashes.csv"
MANIFEST_FILE = "manifest.json"


class HashPackError(ValueError):
    """The pack cannot be made as asked (no person given, unknown person)."""


@dataclass(frozen=True)
class PackedImage:
    sha256: str
    md5: str
    pdq: str | None
    pdq_quality: int | None
    copies: int
    file_names: tuple[str, ...]
    kind: str = "image"  # image | video
    vpdq: tuple[VideoFrameHash, ...] = ()  # a video's features, in frame order

    @property
    def matchable(self) -> bool:
        return bool(self.pdq) and (self.pdq_quality or 0) >= PDQ_MIN_QUALITY

    @property
    def video_matchable(self) -> bool:
        """A video with at least one feature vpdq's match rule keeps (quality >= 50)."""
        return any(f.quality >= vpdq.QUALITY_TOLERANCE for f in self.vpdq)


def write_hashpack(
    report: CaseReport, out: Path, options: ReportOptions, guard: OutputGuard | None = None
) -> list[Path]:
    """Write the pack into the folder ``out``; ``guard`` (the case's, from
    ``formats.write_report``) refuses a folder in evidence and files that exist."""
    guard = guard or unguarded()
    if options.person is None:
        raise HashPackError("a hash pack is for one person: give --person ID")
    person = next((p for p in report.persons if p.code.upper() == options.person), None)
    if person is None:
        raise HashPackError(f"no person {options.person} in this report")
    images = packed_images(report.items, options.person, video_features(report))
    videos = [i for i in images if i.kind == "video"]
    files = [out / PDQ_FILE, out / CSV_FILE, out / MANIFEST_FILE]
    guard.check_folder(out)
    guard.check_outputs([*files, out / VPDQ_FILE] if videos else files)
    out.mkdir(parents=True, exist_ok=True)
    written = [
        guard.write_text(out / PDQ_FILE, "".join(f"pdq {i.pdq}\n" for i in images if i.matchable)),
        guard.write_text(out / CSV_FILE, _csv(images, options.include_names)),
    ]
    if videos:
        lines = "".join(
            f"{vpdq.SIGNAL_NAME} {vpdq.to_signal(v.vpdq)}\n" for v in videos if v.video_matchable
        )
        written.append(guard.write_text(out / VPDQ_FILE, lines))
    manifest = {
        "what": (
            f"hash pack of the images and videos in which person {person.code} appears: PDQ"
            " (perceptual; vPDQ for videos), MD5 and SHA-256; no images, thumbnails or file"
            " contents"
        ),
        "created_at": report.generated_at,
        "case_id": report.case_id,
        "report_id": report.report_id,
        "person": person.code,
        "person_kind": person.kind,
        "tool": "consentry",
        "tool_version": report.tool_version,
        "counts": {
            "images": sum(i.copies for i in images),
            "images_counts": "image locations (files, archive members) showing the person",
            "unique_sha256": len(images),
            "pdq_lines": sum(i.matchable for i in images),
            "pdq_below_quality": sum(bool(i.pdq) and not i.matchable for i in images),
            "pdq_missing": sum(not i.pdq for i in images if i.kind == "image"),
            "videos": sum(i.copies for i in videos),
            "unique_videos": len(videos),
            "vpdq_lines": sum(v.video_matchable for v in videos),
            "vpdq_missing": sum(not v.video_matchable for v in videos),
        },
        "pdq_min_quality": PDQ_MIN_QUALITY,
        "formats": {
            PDQ_FILE: "python-threatexchange signal text: 'pdq <64 hex>' per line",
            CSV_FILE: "CSV with a header row",
            **(
                {
                    VPDQ_FILE: "python-threatexchange signal text: 'vpdq <vpdq_to_json>' per "
                    "line (JSON list of 'hex,quality,timestamp'; Meta's vpdq at one frame a "
                    "second; match: distance <= 31, quality >= 50)"
                }
                if videos
                else {}
            ),
        },
        "files": [
            {"name": p.name, "sha256": sha256_of_file(p), "bytes": p.stat().st_size}
            for p in written
        ],
    }
    if options.include_names:
        manifest["person_name"] = person.name
    manifest_path = guard.write_text(out / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    return [*written, manifest_path]


def video_features(report: CaseReport) -> dict[str, list[VideoFrameHash]]:
    """The vPDQ features of the report's videos: carried by the report's items when it has
    them (``item.video.vpdq``), else read from the case folder's store."""
    shas = {i.sha256 for i in report.items if i.sha256 and _is_video(i)}
    if not shas:
        return {}
    carried: dict[str, list[VideoFrameHash]] = {}
    for item in report.items:
        features = getattr(getattr(item, "video", None), "vpdq", None)
        if item.sha256 in shas and features:
            carried[item.sha256] = list(features)
    if carried.keys() == shas:
        return carried
    from consentry.store.video_store import case_video_hashes

    return {**case_video_hashes(report.case_dir, shas), **carried}


def _is_video(item: ReportItem) -> bool:
    return bool(item.mime and item.mime.startswith("video/")) or (
        getattr(item, "video", None) is not None
    )


def packed_images(
    items: list[ReportItem],
    person: str,
    features: dict[str, list[VideoFrameHash]] | None = None,
) -> list[PackedImage]:
    """The person's unique images and videos (by SHA-256), in a stable order."""
    features = features or {}
    by_content: dict[str, list[ReportItem]] = {}
    for item in items:
        if person in {c.upper() for c in item.person_codes} and item.sha256 and item.md5:
            by_content.setdefault(item.sha256, []).append(item)
    return [
        PackedImage(
            sha256=sha,
            md5=copies[0].md5 or "",  # present: filtered above
            pdq=copies[0].pdq,
            pdq_quality=copies[0].pdq_quality,
            copies=len(copies),
            file_names=tuple(sorted({c.location for c in copies})),
            kind="video" if _is_video(copies[0]) else "image",
            vpdq=tuple(features.get(sha, ())),
        )
        for sha, copies in sorted(by_content.items())
    ]


def _csv(images: list[PackedImage], include_names: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["sha256", "md5", "pdq", "pdq_quality", "copies", "kind", "vpdq_features"]
    writer.writerow([*header, "file_names"] if include_names else header)
    for i in images:
        row = [i.sha256, i.md5, i.pdq or "", "" if i.pdq_quality is None else i.pdq_quality]
        row += [i.copies, i.kind, len(i.vpdq) if i.kind == "video" else ""]
        names = spreadsheet_safe(" | ".join(i.file_names))
        writer.writerow([*row, names] if include_names else row)
    return buffer.getvalue()


__all__ = [
    "PDQ_MIN_QUALITY",
    "VPDQ_FILE",
    "HashPackError",
    "PackedImage",
    "packed_images",
    "video_features",
    "write_hashpack",
]
