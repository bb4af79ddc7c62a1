"""A hash pack for one person: the hashes of the images they appear in, for a platform or a
hash-sharing scheme to match against, and nothing else — no image, no thumbnail, no name.

``out`` is a folder that receives:

- ``pdq.txt``: python-threatexchange's text form, one ``pdq <hex>`` line per unique image whose
  PDQ quality is at least 50 (Meta's advice: below that a hash is too plain to match on; those
  images are still in the CSV, and the manifest counts them);
- ``hashes.csv``: ``sha256, md5, pdq, pdq_quality`` per unique image (``copies`` says how often
  it was found; with ``include_names`` also ``file_names``, which are neutral identifiers
  unless ``show_paths``: see ``redact.py``);
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

from consentry.records.file_hash import sha256_of_file
from consentry.records.text_safety import spreadsheet_safe
from consentry.store.output_guard import OutputGuard, unguarded

if TYPE_CHECKING:
    from consentry.reports.collect import CaseReport, ReportItem
    from consentry.reports.options import ReportOptions

PDQ_MIN_QUALITY = 50  # Meta's PDQ guidance; the same floor as the scan's low_pdq_quality
PDQ_FILE = "pdq.txt"
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

    @property
    def matchable(self) -> bool:
        return bool(self.pdq) and (self.pdq_quality or 0) >= PDQ_MIN_QUALITY


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
    images = packed_images(report.items, options.person)
    guard.check_folder(out)
    guard.check_outputs([out / PDQ_FILE, out / CSV_FILE, out / MANIFEST_FILE])
    out.mkdir(parents=True, exist_ok=True)
    written = [
        guard.write_text(out / PDQ_FILE, "".join(f"pdq {i.pdq}\n" for i in images if i.matchable)),
        guard.write_text(out / CSV_FILE, _csv(images, options.include_names)),
    ]
    manifest = {
        "what": (
            f"hash pack of the images in which person {person.code} appears: PDQ (perceptual),"
            " MD5 and SHA-256; no images, thumbnails or file contents"
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
            "pdq_missing": sum(not i.pdq for i in images),
        },
        "pdq_min_quality": PDQ_MIN_QUALITY,
        "formats": {
            PDQ_FILE: "python-threatexchange signal text: 'pdq <64 hex>' per line",
            CSV_FILE: "CSV with a header row",
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


def packed_images(items: list[ReportItem], person: str) -> list[PackedImage]:
    """The person's unique images (by SHA-256), in a stable order."""
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
        )
        for sha, copies in sorted(by_content.items())
    ]


def _csv(images: list[PackedImage], include_names: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["sha256", "md5", "pdq", "pdq_quality", "copies"]
    writer.writerow([*header, "file_names"] if include_names else header)
    for i in images:
        row = [i.sha256, i.md5, i.pdq or "", "" if i.pdq_quality is None else i.pdq_quality]
        row.append(i.copies)
        names = spreadsheet_safe(" | ".join(i.file_names))
        writer.writerow([*row, names] if include_names else row)
    return buffer.getvalue()


__all__ = ["PDQ_MIN_QUALITY", "HashPackError", "PackedImage", "packed_images", "write_hashpack"]
