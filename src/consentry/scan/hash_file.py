"""Hash one file the way a scan does, without a case (``consentry hash``).

It runs the scan's own per-file path (``worker.process``, with no analyzer and no case folder),
so a file gets the same problem codes here as in a scan: one code per condition everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consentry.records.items import WorkItem
from consentry.records.locations import LocationRef
from consentry.records.problems import Code, Problem, Severity
from consentry.scan.worker import process


@dataclass
class FileHashes:
    sha256: str | None = None
    md5: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    error: Problem | None = None  # why there is no PDQ (or no hash at all)
    problems: list[Problem] = field(default_factory=list)  # everything the scan would record


def hash_file(raw_path: bytes) -> FileHashes:
    name = raw_path.rsplit(b"/", 1)[-1].decode("utf-8", "replace")
    result = process(WorkItem(0, LocationRef(raw_path), name))
    problems = [*result.location_problems, *result.content_problems]
    out = FileHashes(problems=problems)
    content = result.content
    if content is not None:
        out.sha256, out.md5 = content.sha256, content.md5
        out.pdq, out.pdq_quality = content.pdq, content.pdq_quality
    if out.pdq is None:
        errors = [p for p in problems if p.severity is Severity.ERROR]
        if errors or problems:
            out.error = (errors or problems)[0]
        else:
            mime = content.mime if content is not None else "unknown"
            out.error = Problem(Code.UNRECOGNIZED_IMAGE, f"content is {mime}: not an image")
    return out
