"""What a case holds, read without changing it: its counts (``summarize``, the CLI's ``case
summary``), every file with a problem (``list_problems``, ``case problems``) and the sources
its scans were given (``case_sources``: a shell shows evidence paths relative to them). All open
the case read-only, so they run beside a scan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from consentry.services.case import CaseRef, opened_readonly

if TYPE_CHECKING:
    from consentry.store.case_counts import CaseCounts


@dataclass(frozen=True)
class CaseSummary:
    case_path: Path  # absolute, as opened
    case_id: str
    counts: CaseCounts


@dataclass(frozen=True)
class ProblemRow:
    """One problem of one file: its path as the scan recorded it, the stable code, its
    severity (error / warning) and the message."""

    path: str
    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class CaseSource:
    """A source given to a scan of the case: its absolute path as recorded, and whether it is
    a folder or a file (an archive, an image); every location found in it starts with
    ``path`` followed by ``/`` (in a folder) or ``!/`` (in an archive)."""

    path: str
    kind: str  # folder | file


def case_sources(ref: CaseRef) -> tuple[CaseSource, ...]:
    """Every source the case's scans were given, sorted by path."""
    with opened_readonly(ref) as case:
        rows = case.store.sources().values()
    return tuple(sorted({CaseSource(r.path, r.kind) for r in rows}, key=lambda s: s.path))


def summarize(ref: CaseRef) -> CaseSummary:
    """The case's counts: files, images, unique contents, per analyzer, problems by kind."""
    from consentry.analyzers.registry import count_rules

    with opened_readonly(ref) as case:
        return CaseSummary(case.path, case.case_id, case.store.counts(count_rules()))


def analyzer_rows(counts: CaseCounts) -> list[tuple[str, int]]:
    """The summary's rows for each analyzer's counts, as the analyzer words them (its count
    rule), in registration order: a plug-in's findings get rows without the shell knowing it."""
    from consentry.analyzers.registry import count_rules

    rows: list[tuple[str, int]] = []
    for rule in count_rules():
        if rule.analyzer in counts.analyzers:
            rows += rule.summary_rows(counts.analyzers[rule.analyzer].as_dict())
    return rows


def list_problems(ref: CaseRef) -> list[ProblemRow]:
    """Every file with a problem, sorted by path then code (the store caps each query)."""
    with opened_readonly(ref) as case:
        rows = case.store.problems_listing()
    return [ProblemRow(r["path"], r["code"], r["severity"], r["message"]) for r in rows]


__all__ = [
    "CaseSource",
    "CaseSummary",
    "ProblemRow",
    "analyzer_rows",
    "case_sources",
    "list_problems",
    "summarize",
]
