"""The report's counts, each with what it counts and whether it was observed or inferred.

Whole-case counts reuse ``CaseStore.counts()`` (a ``CaseCounts``) and the persons report's
count block; a person-scoped report counts only that person's files (plus how much of the case
was searched), so it holds no count about anyone else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from consentry.analyzers import registry
from consentry.persons.findings import DEFINITIONS as PERSON_DEFINITIONS
from consentry.persons.findings import PersonsReport
from consentry.records.analyzer_counts import FindingCounts
from consentry.reports.model import Count, Inferred
from consentry.reports.visual import PDQ_MATCH_DISTANCE
from consentry.store.case_counts import CaseCounts

if TYPE_CHECKING:
    from consentry.reports.model import ReportItem


def case_counts(
    c: CaseCounts, persons: PersonsReport, items: Sequence[ReportItem], links: int
) -> dict[str, Count]:
    """Whole-case counts: the store's own (CaseStore.counts), the persons count block, and the
    visual duplicates computed here."""
    pc = persons.count
    groups = {i.visual_group for i in items if i.visual_group is not None}
    visual_images = len({i.sha256 for i in items if i.visual_group is not None})
    return {
        "files": Count(c.files, "every file found, on disk or inside an archive (locations)"),
        "files_on_disk": Count(c.files_on_disk, "files found directly on disk"),
        "archive_members": Count(c.archive_members, "files found inside archives"),
        "archives_opened": Count(c.archives_opened, "archives whose members were listed"),
        "images": Count(c.images, "files whose content decoded as an image"),
        "unique_contents": Count(c.unique_contents, "distinct SHA-256 among all files"),
        "unique_images": Count(c.unique_images, "distinct SHA-256 among image files"),
        "duplicate_locations": Count(
            c.duplicate_locations, "files whose exact bytes were also found elsewhere"
        ),
        "visual_duplicate_groups": Inferred(
            len(groups),
            f"groups of distinct images within PDQ distance {PDQ_MATCH_DISTANCE} of each other",
        ),
        "visual_duplicate_images": Inferred(
            visual_images, "distinct images (SHA-256) that belong to a visual duplicate group"
        ),
        "unreadable": Count(c.unreadable, "files that could not be read (no hash)"),
        "pending": Count(c.pending, "files found but not yet analysed (the scan did not end)"),
        "explicit_images": Inferred(
            c.explicit["explicit_images"], "image files labelled explicit (per location)"
        ),
        "suggestive_images": Inferred(
            c.explicit["suggestive_images"], "image files labelled suggestive (per location)"
        ),
        "images_not_analysed": Count(
            c.explicit.images_not_analysed, "image files without an explicit-content label"
        ),
        "faces": Inferred(c.faces.faces, "faces detected, in distinct images"),
        "usable_faces": Inferred(
            c.faces.usable_faces, "faces large, sharp and frontal enough to identify"
        ),
        "persons_estimate": Inferred(pc.estimate, PERSON_DEFINITIONS["estimate"]),
        "persons_lower_bound": Inferred(pc.lower_bound, PERSON_DEFINITIONS["lower_bound"]),
        "persons_upper_bound": Inferred(pc.upper_bound, PERSON_DEFINITIONS["upper_bound"]),
        "unattributed_faces": Inferred(
            pc.unattributed_faces, PERSON_DEFINITIONS["unattributed_faces"]
        ),
        "derivation_links": Inferred(
            links,
            "images linked to another picture of the case: made from it, or copies of each "
            "other where the direction is unknown",
        ),
        **_provenance(items, "image files"),
        **_plug_ins(items, "image files"),
        "errors": Count(c.errors.total, "files with an error-level problem, all codes"),
        "warnings": Count(c.warnings.total, "files with a warning-level problem"),
    }


def scoped_counts(c: CaseCounts, items: Sequence[ReportItem], links: int) -> dict[str, Count]:
    """Counts about the person's own items only, plus how much was searched."""
    explicit = [i for i in items if i.explicit_label == "explicit"]
    groups = {i.visual_group for i in items if i.visual_group is not None}
    folders = {i.location.rpartition("/")[0] for i in items}
    return {
        "case_files_searched": Count(c.files, "files in the whole case that were searched"),
        "case_images_searched": Count(c.images, "image files in the whole case searched"),
        "files": Inferred(len(items), "image files (locations) showing this person"),
        "unique_images": Inferred(
            len({i.sha256 for i in items}), "distinct SHA-256 among this person's image files"
        ),
        "duplicate_locations": Inferred(
            len(items) - len({i.sha256 for i in items}),
            "this person's image files whose exact bytes were also found elsewhere",
        ),
        "visual_duplicate_groups": Inferred(
            len(groups),
            f"groups of this person's distinct images within PDQ distance {PDQ_MATCH_DISTANCE}",
        ),
        "explicit_images": Inferred(len(explicit), "this person's image files labelled explicit"),
        "unique_explicit_images": Inferred(
            len({i.sha256 for i in explicit}), "distinct SHA-256 among those labelled explicit"
        ),
        "suggestive_images": Inferred(
            sum(1 for i in items if i.explicit_label == "suggestive"),
            "this person's image files labelled suggestive",
        ),
        "folders": Inferred(len(folders), "folders holding this person's image files"),
        "derivation_links": Inferred(
            links, "of this person's images linked to another picture (made from it, or a copy)"
        ),
        **_provenance(items, "this person's image files"),
        **_plug_ins(items, "this person's image files"),
    }


def _provenance(items: Sequence[ReportItem], whose: str) -> dict[str, Count]:
    def n(verdict: str) -> int:
        return sum(1 for i in items if i.provenance_verdict == verdict)

    return {
        "provenance_confirmed": Inferred(
            n("confirmed"), f"{whose} whose AI generation a generator's own mechanism vouches for"
        ),
        "provenance_indicated": Inferred(
            n("indicated"), f"{whose} with unsigned or unverifiable signs of a generator"
        ),
    }


def _plug_ins(items: Sequence[ReportItem], whose: str) -> dict[str, Count]:
    """The counts each analyzer without counts of its own here (a plug-in) declares: image files
    per label of its vocabulary (``Analyzer.counting``), from the items, so a person-scoped
    report counts only that person's."""
    out: dict[str, Count] = {}
    for rule in registry.count_rules():
        if not isinstance(rule, FindingCounts) or registry.dedicated_report_fields(rule.analyzer):
            continue
        for c in rule.labels:
            key = (rule.analyzer, c.label)
            n = sum(1 for i in items for f in i.findings if (f.analyzer, f.label) == key)
            what = c.what or f"labelled {c.label} by the {rule.analyzer} analyzer"
            out[c.key] = Inferred(n, f"{whose} {what}")
    return out


__all__ = ["Count", "Inferred", "case_counts", "scoped_counts"]
