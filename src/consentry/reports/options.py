"""What the examiner asked a report to contain: scope, redaction, and contact details for
takedown notices. One frozen value passed to ``collect_case`` and to every format writer."""

from __future__ import annotations

from dataclasses import dataclass

# How sources are re-verified when a report is written (``ReportOptions.reverify``):
# "sha256" re-reads every file on disk and compares its SHA-256 with the scan's (slow on large
# cases, and the only check that proves the bytes); "stat" compares size and mtime only, and
# hashes only what changed; "none" skips the check and the report says so.
REVERIFY_MODES = ("sha256", "stat", "none")


@dataclass(frozen=True)
class ReportOptions:
    person: str | None = None  # person code (E1, U3): report only that person's items
    redact: bool = False  # replace person names (also in paths) with person codes
    urls: tuple[str, ...] = ()  # where the content was published (takedown notices)
    include_names: bool = False  # exchange formats: put names in the file (off by default)
    # person-scoped reports: show evidence folder and file names as they are (they may name
    # other people) instead of neutral identifiers (redact.py)
    show_paths: bool = False
    contact_name: str | None = None
    contact_email: str | None = None
    contact_address: str | None = None
    signature: str | None = None
    # additions of the core report
    examiner: str | None = None  # who writes the report (audit actor)
    requested_by: str | None = None  # who asked for the report
    purpose: str | None = None  # what they asked
    reverify: str = "sha256"  # one of REVERIFY_MODES

    def __post_init__(self) -> None:
        if self.reverify not in REVERIFY_MODES:
            raise ValueError(
                f"reverify must be one of {', '.join(REVERIFY_MODES)}, not {self.reverify!r}"
            )
        if self.person is not None:
            object.__setattr__(self, "person", self.person.strip().upper())


__all__ = ["REVERIFY_MODES", "ReportOptions"]
