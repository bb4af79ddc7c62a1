"""The HTML/PDF report reads right to a non-specialist (issue 13): derivation links in plain
words ("this image", "the source", never "A"/"B"), the direction stated only where the evidence
supports it and its confidence labelled as the direction's, settings as whole table rows (no
JSON cut with "…"), paths relative to their source, times that do not break, a blank label for
files that are not images, possible matches listed for review in the person's section, and
redacted file names that stay distinguishable. Built on hand-made ``CaseReport`` values: no
scan, no images (the thumbnails are absent, so nothing is embedded)."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from consentry.derivation import direction as dr
from consentry.reports.html_report import render_html
from consentry.reports.model import (
    AuditInfo,
    CaseReport,
    Count,
    DerivationLink,
    MethodInfo,
    PersonInfo,
    ReportItem,
    ScanInfo,
    SourceInfo,
)
from consentry.reports.readable import (
    SourcePaths,
    link_rows,
    payload_view,
    plain_reason,
    settings_rows,
    when,
)
from consentry.reports.redact import Redactor

ROOT = "/mnt/seized"
LOW, HIGH, THIRD = "1" * 64, "9" * 64, "5" * 64  # LOW < HIGH: LOW is the pair's "A"


def item(rel: str, sha: str, *, image: bool = True, **kw: object) -> ReportItem:
    base = ReportItem(
        location=f"{ROOT}/{rel}", rel_path=rel, source=ROOT, size=10,
        mtime="2026-01-02T03:04:05+00:00",
        sha256=sha, md5="0" * 32, sha1=None, pdq=None, pdq_quality=None,
        mime="text/plain" if not image else "image/jpeg", width=None, height=None,
        explicit_label="none" if image else None, explicit_score=0.01 if image else None,
        provenance_verdict=None, person_codes=(), thumbnail=None, thumbnail_blurred=True,
        is_image=image,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def link(derived: str, source: str, confidence: float, **evidence: object) -> DerivationLink:
    stated = dr.direction_stated(confidence)
    details = {
        "confidence": confidence, "changed_fraction": 0.12, "face_swap": None,
        "face": {"reason": "undecided (similarity 0.26)"},
        "evidence": {"direction": [], "other_possible_sources": [], **evidence},
    }  # fmt: skip
    return DerivationLink(
        derived, source, details, None, "stated" if stated else "unknown",
        confidence if stated else None,
    )  # fmt: skip


def report(**kw: object) -> CaseReport:
    base = CaseReport(
        report_id="CR-test", generated_at="2026-12-02T07:05:55+00:00", generated_tz="UTC+0000",
        generated_local="2026-12-02T07:05:55+00:00", generated_host="vm", tool_version="0",
        case_id="c-1", case_name="case", case_dir="/nonexistent-case", scope=None,
        redacted=False, examiners=["X"], requested_by=None, purpose=None,
        scans=[ScanInfo(1, "2026-12-02T07:05:09.718218+00:00", "2026-12-02T07:05:34.552878+00:00",
                        "completed", "X", "vm", "UTC+0000", "0", (ROOT,))],
        sources=[SourceInfo(ROOT, "folder", 3, True, "sha256", 3, 0, 0)],
        methods=[], counts={"files": Count(3, "files")}, items=[], persons=[], links=[],
        links_status="ok", problems=[], audit=[], audit_intact=True, audit_findings=[],
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    nxt = html.find("<h2 ", start + 1)
    return html[start : nxt if nxt > 0 else len(html)]


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment))


# -- derivation: roles instead of A / B ---------------------------------------------------------
def every_reason() -> list[str]:
    """Each reason template of the direction cues, as the pass writes them, both ways round."""
    cues = [
        dr.field_of_view_cue(0.9, 1.0), dr.field_of_view_cue(1.0, 0.9),
        dr.metadata_cue({"Make": "Canon"}, {"Software": "Adobe Photoshop"}),
        dr.metadata_cue({"Software": "GIMP"}, {"Model": "X"}),
        dr.generator_cue("indicated", None), dr.generator_cue(None, "confirmed"),
        dr.family_cue([(0.1, 0.3)]), dr.family_cue([(0.3, 0.1)]),
    ]  # fmt: skip
    profile = np.ones(64)
    cues += [dr.resolution_cue(2.0, profile, None), dr.resolution_cue(0.5, None, profile)]
    reasons = [c.reason for c in cues if c is not None]
    assert len(reasons) == 10, reasons  # every template spoke
    return reasons


@pytest.mark.parametrize("reason", every_reason())
def test_no_reason_keeps_the_letters_a_and_b(reason: str) -> None:
    plain = plain_reason(reason, "this image", "the source")
    assert not re.search(r"\b[AB]\b", plain), plain
    assert "this image" in plain.lower() or "the source" in plain.lower(), plain


def test_the_crop_reason_names_the_right_picture() -> None:
    # derived = LOW = "A"; the pass: A shows 90% of B while B shows 100% of A -> A is a crop
    crop = dr.field_of_view_cue(0.9, 1.0)
    assert crop is not None and crop.score < 0  # "B is the source"
    rows = link_rows(
        [link(LOW, HIGH, 0.98, direction=[{"cue": "field_of_view", "reason": crop.reason}])], []
    )
    assert rows[0].reasons == [
        "This image shows 90% of the source while the source shows 100% of this image: this "
        "image is a crop"
    ]
    # the same pair the other way round (derived = HIGH = "B")
    crop = dr.field_of_view_cue(1.0, 0.9)
    assert crop is not None
    rows = link_rows(
        [link(HIGH, LOW, 0.98, direction=[{"cue": "field_of_view", "reason": crop.reason}])], []
    )
    assert rows[0].reasons[0].endswith("this image is a crop"), rows[0].reasons


def test_coin_flip_direction_reads_copies_of_each_other_without_confidence() -> None:
    r = report(
        items=[item("a/big.jpg", LOW), item("b/half.heic", HIGH)],
        links=[link(LOW, HIGH, 0.5)],
    )
    html = section(render_html(r), "provenance")
    text = text_of(html)
    assert "copies of each other, direction unknown" in text
    assert "confidence of the direction" not in text and "0.50" not in text
    assert "unknown: no evidence says which came first" in text


def test_direction_confidence_is_labelled_and_hidden_where_the_source_is_uncertain() -> None:
    items = [item("x.jpg", LOW), item("y.jpg", HIGH), item("z.jpg", THIRD)]
    certain = text_of(
        section(render_html(report(items=items, links=[link(LOW, HIGH, 0.982)])), "provenance")
    )
    assert "confidence of the direction 0.98" in certain
    uncertain = report(items=items, links=[link(LOW, HIGH, 0.982, other_possible_sources=[THIRD])])
    text = text_of(section(render_html(uncertain), "provenance"))
    assert "made from one of these 2 pictures; nothing shows which of them is the original" in text
    assert "0.98" not in text and "or, as likely" not in text
    assert "z.jpg" in text


def test_json_links_say_whether_the_direction_is_stated() -> None:
    assert (
        link(LOW, HIGH, 0.5).direction == "unknown"
        and link(LOW, HIGH, 0.5).direction_confidence is None
    )
    assert link(LOW, HIGH, 0.9).direction == "stated"


# -- settings, payloads, times, paths -----------------------------------------------------------
WATERMARKS = {"sdxl": {"bits": 48, "likely_from": 34}, "sd1": {"bits": 136, "likely_from": 85}}


def test_settings_are_whole_rows_not_cut_json() -> None:
    settings = {"watermark_marks": WATERMARKS, "detector": None, "c2pa_sdk": "0.91.3",
                "match_requires_usable_face": True}  # fmt: skip
    rows = dict(settings_rows(settings))
    assert rows["watermark marks · sdxl · bits"] == "48"
    assert rows["watermark marks · sd1 · likely from"] == "85"
    assert rows["detector"] == "not set" and rows["match requires usable face"] == "yes"
    assert rows["C2PA sdk"] == "0.91.3"
    long = {f"setting_{i}": "x" * 200 for i in range(20)}
    m = MethodInfo("plug", "1", (), long, 1, "d", (), title="Plug")
    html = section(render_html(report(methods=[m])), "methods")
    assert "…" not in html and html.count("x" * 200) == 20 and "{" not in text_of(html)


def test_audit_payload_says_how_many_fields_are_left_out() -> None:
    payload = {f"k{i}": i for i in range(12)}
    v = payload_view(payload, limit=8)
    assert len(v.lines) == 8 and v.more == 4
    a = AuditInfo(
        1,
        "2026-12-02T07:05:09.603992+00:00",
        "identities_refreshed",
        "X",
        payload,
        "f" * 64,
        "0" * 64,
    )
    html = section(render_html(report(audit=[a])), "audit")
    assert "and 4 more fields: in the JSON report" in text_of(html) and '…"' not in html


def test_times_keep_date_and_time_whole() -> None:
    shown = str(when("2026-12-02T07:05:09.718218+00:00"))
    assert shown == (
        '<span class="nw">2026-12-02</span> <span class="nw">07:05:09</span> '
        '<span class="nw">+00:00</span>'
    )
    html = render_html(report())
    assert "07:05:09.718218" not in html and "2026-12-02T07:05:09" not in section(html, "clock")


def test_paths_are_relative_to_their_source_named_once() -> None:
    one = SourcePaths([SourceInfo(ROOT, "folder", 1, True, "sha256", 1, 0, 0)])
    assert str(one.rel(f"{ROOT}/Jane/a_b.jpg")) == "Jane/<wbr>a_b.jpg"
    assert str(one.rel(ROOT)) == "(top level of the source)"
    two = SourcePaths([SourceInfo(ROOT, "folder", 1, True, "sha256", 1, 0, 0),
                       SourceInfo("/mnt/phone", "folder", 1, True, "sha256", 1, 0, 0)])  # fmt: skip
    assert "S2" in str(two.rel("/mnt/phone/x.jpg")) and "/mnt/phone" not in str(
        two.rel("/mnt/phone/x.jpg")
    )
    html = render_html(
        report(items=[item("Downloads/x.jpg", LOW), item("notes.txt", HIGH, image=False)])
    )
    annex = section(html, "annex")
    assert ROOT not in annex and "Downloads/<wbr>x.jpg" in annex
    assert text_of(section(html, "request")).count(ROOT) == 1


def test_annex_label_is_blank_for_files_that_are_not_images() -> None:
    annex = section(render_html(report(items=[item("notes.txt", HIGH, image=False)])), "annex")
    row = annex[annex.index("notes.txt") :]
    row = row[: row.index("</tr>")]
    assert "text/plain" not in row and "not analysed" not in row


def test_possible_matches_are_listed_for_review_in_the_persons_section() -> None:
    person = PersonInfo("E1", "enrolled", "Avery Lane", 1, 1, 0, ((f"{ROOT}/Avery_Lane", 1),),
                        0.7, 0.9, False, "1 face", "valid", possible_images=2)  # fmt: skip
    items = [
        item("Avery_Lane/a.jpg", LOW, person_codes=("E1",)),
        item("Kai/b.jpg", HIGH, person_codes=("U2",), possible_person_codes=("E1",)),
        item("Kai/c.jpg", THIRD, possible_person_codes=("E1",)),
    ]
    html = section(render_html(report(items=items, persons=[person])), "persons")
    text = text_of(html)
    assert "Possible matches of E1, for review (2 distinct images; not counted above)" in text
    review = text[text.index("Possible matches of E1") :]
    assert "Kai/b.jpg" in review and "Kai/c.jpg" in review and "shown as U2" in review
    assert "Avery_Lane/a.jpg" not in review


def test_case_folder_wording() -> None:
    head = text_of(section(render_html(report()), "request"))
    assert "case folder case" not in head and "“case” (the name of its case folder)" in head


# -- redaction keeps files apart ------------------------------------------------------------------
def test_redacted_file_names_stay_distinguishable() -> None:
    r = Redactor({"E1": "Avery Lane"}, None, True, [ROOT])
    names = [f"{ROOT}/Avery_Lane/Avery_Lane_{i}.jpg" for i in range(4)]
    shown = [r.path(p, sha256=f"{i}" * 64) for i, p in enumerate(names)]
    assert len(set(shown)) == 4 and not any("Avery" in s or "Lane" in s for s in shown), shown
    alike = [
        r.path(f"{ROOT}/x/{n}", sha256=s)
        for n, s in (("Avery Lane.jpg", LOW), ("avery_lane.jpg", HIGH))
    ]
    assert alike[0] != alike[1] and all(a.startswith(f"{ROOT}/x/[E1] ") for a in alike), alike
    assert r.path(f"{ROOT}/x/swap_avery_on_bob.jpg") == f"{ROOT}/x/swap_[E1]_on_bob.jpg"


def test_review_lines_name_folders_relative_and_redact_them() -> None:
    from types import SimpleNamespace

    from consentry.reports.collect import _redact_review, _review_line

    folder = f"{ROOT}/Devon_Price"
    flag = SimpleNamespace(message=f"U1 fills {folder}: 4 of 4", folders=(folder,))
    line = _review_line(flag)
    plain = _redact_review(line, Redactor({}, None, False, [ROOT]))
    assert plain == f"U1 fills {folder}: 4 of 4"
    redacted = _redact_review(line, Redactor({}, None, True, [ROOT]))
    assert "Devon" not in redacted and "[name withheld 1]" in redacted
    person = PersonInfo("U1", "unidentified", None, 4, 4, 0, (), None, None, False, "4 faces",
                        review=(plain,))  # fmt: skip
    html = text_of(section(render_html(report(persons=[person])), "persons"))
    assert "For review:U1 fills Devon_Price: 4 of 4" in html and ROOT not in html


def test_possible_matches_show_their_similarity_and_why() -> None:
    from consentry.reports.model import PossibleInfo

    why = "its face group, by its median, does not match the person"
    match = PossibleInfo(f"{ROOT}/Kai/b.jpg", HIGH, 0.517, why)
    person = PersonInfo("E1", "enrolled", None, 0, 0, 0, (), None, None, False, "none",
                        possible_images=1, possible=(match,))  # fmt: skip
    items = [item("Kai/b.jpg", HIGH, possible_person_codes=("E1",))]
    text = text_of(section(render_html(report(items=items, persons=[person])), "persons"))
    assert f"similarity 0.52: {why}" in text
