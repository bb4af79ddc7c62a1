"""The report's sections about a seized laptop (issue 16): "Disk images" (format, segments,
volumes, verification), "Deleted files" (what is known, flagged in the inventory too), "Traces of
creation" (observed facts apart from inferences, a timeline per person) and videos (kind, length,
codec, frames analysed, groups), in the HTML and JSON reports, and scoped to a person.

The case is a small folder scanned for real; what the disk, traces and video parts would have
recorded is written through the store's own APIs and tables, so these tests do not depend on
those parts' parsers (the end-to-end test, test_laptop_e2e.py, runs them all).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from consentry.cli.main import main
from consentry.records.disk import DiskImageInfo, VolumeInfo
from consentry.records.traces import BrowserEvent, TimelineEvent, TraceRecord
from consentry.records.video import VideoGroup, VideoMatch
from consentry.reports import laptop
from consentry.reports.collect import collect_case
from consentry.reports.html_report import render_html, section_numbers, shown_sections
from consentry.reports.json_report import load_schema, report_document
from consentry.reports.model import DerivationLink
from consentry.reports.options import ReportOptions
from consentry.reports.redact import Redactor
from consentry.store import disk_store
from consentry.store.case import open_case
from consentry.store.case_store import CONTENTS, LOCATIONS
from consentry.store.links_store import LinkRecord
from consentry.store.schema import CreationTrace
from consentry.store.traces_store import StoredTrace

from .synthetic import write_jpeg

TRACES = CreationTrace.__table__
MD5 = "0123456789abcdef0123456789abcdef"
SHA1 = "0123456789abcdef0123456789abcdef01234567"
NS = 1_764_000_000_000_000_000  # 2025-11-24T16:00:00Z


def _iso(ns: int) -> str:
    return laptop.iso_ns(ns) or ""


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("laptop_report")
    ev = root / "evidence"
    write_jpeg(ev / "Users/x/Pictures/beach.jpg", seed=11, width=320, height=240)
    write_jpeg(ev / "Users/x/Downloads/beach_undressed.jpg", seed=12, width=320, height=240)
    write_jpeg(ev / "Users/x/Pictures/old.jpg", seed=13, width=320, height=240)
    write_jpeg(ev / "Users/x/Videos/clip.jpg", seed=14, width=320, height=240)
    write_jpeg(ev / "Users/x/Videos/clip_copy.jpg", seed=15, width=320, height=240)
    case_dir = root / "case"
    result = CliRunner().invoke(
        main, ["scan", str(ev), "--case", str(case_dir), "--workers", "1", "-q", "--no-links",
               "--skip", "explicit,faces,provenance"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with open_case(case_dir) as c:
        store = c.store
        rows = {r.path.rsplit("/", 1)[-1]: r for r in store.location_rows()}
        src, fake, old = rows["beach.jpg"], rows["beach_undressed.jpg"], rows["old.jpg"]
        disk_store.write_disk_image(
            store,
            DiskImageInfo(
                source_id=src.source_id,
                path=str(ev),
                format="ewf",
                segments=[str(root / "laptop.E01"), str(root / "laptop.E02")],
                media_size=33_554_432,
                volumes=[
                    VolumeInfo("p1", 1_048_576, 32_505_856, "DOS FAT16 (0x06)", "FAT16"),
                    VolumeInfo("p2", 0, 0, "Unallocated", None, "no file system found"),
                ],
                stored_md5=MD5,
                stored_sha1=SHA1,
                computed_md5=MD5,
                computed_sha1=SHA1,
                verification="verified",
                verified_at="2026-12-02T18:00:00+00:00",
            ),
        )
        with store.engine.begin() as conn:
            conn.execute(
                update(LOCATIONS)
                .where(LOCATIONS.c.id == old.id)
                .values(deleted=True, recovery="recovered", atime_ns=NS + 10**9,
                        ctime_ns=None, crtime_ns=NS - 10**9)
            )  # fmt: skip
            for name, seconds in (("clip.jpg", 12.5), ("clip_copy.jpg", 12.0)):
                conn.execute(
                    update(CONTENTS)
                    .where(CONTENTS.c.sha256 == rows[name].sha256)
                    .values(is_video=True, mime="video/mp4", duration_s=seconds,
                            video_codec="h264", frames=300)
                )  # fmt: skip
            base = dict(db_location_id=src.id, browser="chrome",
                        profile=str(ev / "Users/x/AppData/Local/Google/Chrome/User Data/Default"),
                        local_offset_min=60, title=None, download_path=None,
                        download_bytes=None, matched_location_id=None, matched_sha256=None,
                        match_reason=None)  # fmt: skip
            conn.execute(
                TRACES.insert(),
                [
                    dict(base, trace_key="a" * 64, kind="visit", url="https://clothoff.io/app",
                         host="clothoff.io", service_id="clothoff", service_name="Clothoff",
                         at_utc="2025-11-24T16:05:00Z", source_row="urls.id=3, visits.id=7"),
                    dict(base, trace_key="b" * 64, kind="download",
                         url="https://cdn.clothoff.io/r/123.jpg", host="cdn.clothoff.io",
                         service_id="clothoff", service_name="Clothoff",
                         at_utc="2025-11-24T16:09:00Z",
                         download_path="C:\\Users\\x\\Downloads\\beach_undressed.jpg",
                         download_bytes=fake.size, matched_location_id=fake.id,
                         matched_sha256=fake.sha256, match_reason="path",
                         source_row="downloads.id=1"),
                    dict(base, trace_key="c" * 64, kind="visit", url="https://example.org/",
                         host="example.org", service_id=None, service_name=None,
                         at_utc="2025-11-24T15:00:00Z", source_row="urls.id=1, visits.id=1"),
                ],
            )  # fmt: skip
        c.links.replace_links(
            [
                LinkRecord(
                    derived_sha256=fake.sha256 or "", source_sha256=src.sha256 or "",
                    version="test", transform="{}", changed_fraction=0.25, boxes="[]",
                    face_swap=None, face="{}", confidence=0.97, evidence="{}",
                )
            ],
            "ok",
        )  # fmt: skip
    return case_dir


def _report(case_dir: Path, **kw: object):  # type: ignore[no-untyped-def]
    return collect_case(case_dir, ReportOptions(reverify="none", **kw))  # type: ignore[arg-type]


def test_disk_image_and_deleted_files_are_reported(case: Path) -> None:
    r = _report(case)
    (d,) = r.disk_images
    assert (d.format, len(d.segments), d.media_size, d.verification) == (
        "ewf", 2, 33_554_432, "verified")  # fmt: skip
    assert (d.stored_md5, d.computed_md5, d.stored_sha1) == (MD5, MD5, SHA1)
    assert [(v.name, v.filesystem) for v in d.volumes] == [("p1", "FAT16"), ("p2", None)]
    (gone,) = r.deleted_files
    assert gone.location.endswith("Users/x/Pictures/old.jpg")
    assert (gone.recovery, gone.crtime, gone.atime, gone.ctime) == (
        "recovered", _iso(NS - 10**9), _iso(NS + 10**9), None)  # fmt: skip
    assert gone.sha256 is not None and gone.mtime is not None
    flagged = {i.location.rsplit("/", 1)[-1]: (i.deleted, i.recovery) for i in r.items}
    assert flagged["old.jpg"] == (True, "recovered")
    assert flagged["beach.jpg"] == (False, None)


def test_traces_keep_observed_facts_apart_from_inferences(case: Path) -> None:
    r = _report(case)
    # oldest first; the unlisted site is a fact too (its host said, no service)
    assert [(t.kind, t.service_id) for t in r.traces] == [
        ("visit", None), ("visit", "clothoff"), ("download", "clothoff")]  # fmt: skip
    visit, download = r.traces[1], r.traces[2]
    assert visit.at_utc == "2025-11-24T16:05:00Z"
    assert visit.at_local == "2025-11-24T17:05:00+01:00"
    assert download.in_case and download.file and download.file.endswith("beach_undressed.jpg")
    assert download.derived_from and download.derived_from.endswith("Pictures/beach.jpg")
    assert not visit.in_case and visit.file is None
    # inferences: the file is the download; it is an altered picture made from the photo
    assert len(r.inferences) == 2
    first, second = r.inferences
    assert "recorded downloading from Clothoff" in first.statement
    assert "download path" in first.basis
    assert "altered picture made from the photo" in second.statement
    assert "beach.jpg" in second.statement and "An inference" in second.basis
    assert "25 %" in second.basis and "0.97" in second.basis
    limits = " ".join(r.limitations)
    assert "not who used the computer" in limits and "'recovered' means" in limits


def test_videos_show_kind_length_codec_and_groups(case: Path) -> None:
    r = _report(case)
    videos = {i.location.rsplit("/", 1)[-1]: i.video for i in r.items if i.video}
    assert set(videos) == {"clip.jpg", "clip_copy.jpg"}
    v = videos["clip.jpg"]
    assert v is not None
    assert (v.container, v.duration_s, v.codec, v.frame_count) == ("video/mp4", 12.5, "h264", 300)
    assert v.frames_analysed == 0  # the explicit analyzer was skipped


def test_html_has_the_sections_in_order_and_json_validates(case: Path) -> None:
    r = _report(case)
    html = render_html(r)
    text = re.sub(r"<[^>]+>", " ", html)
    text = re.sub(r"\s+", " ", text)
    for title in ("10. Disk images", "11. Deleted files", "12. Traces of creation", "13. Videos",
                  "14. Problems", "15. Limitations", "16. Audit log", "17. Annex"):  # fmt: skip
        assert title in text, title
    assert text.index("10. Disk images") < text.index("12. Traces of creation")
    disk = html[html.index('id="disk-images"') : html.index('id="deleted"')]
    assert "verified" in disk and MD5 in disk and "FAT16" in disk and "none opened" in disk
    deleted = html[html.index('id="deleted"') : html.index('id="traces"')]
    assert "old.jpg" in deleted and "recovered" in deleted
    observed = html[html.index('id="traces-observed"') : html.index('id="traces-inferred"')]
    inferred = html[html.index('id="traces-inferred"') : html.index('id="videos"')]
    assert "Clothoff" in observed and "https://clothoff.io/app" in re.sub(r"<[^>]+>", "", observed)
    assert "in the case" in observed and "made from" in observed
    # the inference wording is only in the inferences table
    assert "altered picture made from" in inferred and "altered picture" not in observed
    annex = html[html.index('id="annex"') :]
    assert "deleted: recovered" in annex and "video 12.5 s" in annex
    doc = json.loads(json.dumps(report_document(r)))
    jsonschema.validate(doc, load_schema())
    assert doc["disk_images"][0]["verification"] == "verified"
    assert [i for i in doc["items"] if i.get("deleted")][0]["recovery"] == "recovered"
    # the schema can fail: an unknown verification is rejected
    doc["disk_images"][0]["verification"] = "probably fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load_schema())


def test_sections_numbered_only_when_present() -> None:
    assert section_numbers(laptop_shown(False, False, False))["annex"] == 13
    assert section_numbers(laptop_shown(False, True, False)) == {
        "traces": 10, "problems": 11, "limitations": 12, "audit": 13, "annex": 14}  # fmt: skip


def laptop_shown(disk: bool, traces: bool, videos: bool):  # type: ignore[no-untyped-def]
    from consentry.reports.html_report import Shown

    return Shown(disk, traces, videos)


def test_a_case_without_laptop_things_reads_as_before(tmp_path: Path) -> None:
    ev = tmp_path / "ev"
    write_jpeg(ev / "a.jpg", seed=3)
    result = CliRunner().invoke(
        main, ["scan", str(ev), "--case", str(tmp_path / "c"), "--workers", "1", "-q",
               "--no-links", "--skip", "explicit,faces,provenance"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    r = _report(tmp_path / "c")
    doc = report_document(r)
    for key in ("disk_images", "deleted_files", "traces", "inferences", "timelines"):
        assert key not in doc
    assert "deleted" not in doc["items"][0] and "video" not in doc["items"][0]
    show = shown_sections(r)
    assert not (show.disk or show.traces or show.videos)
    assert not any("Traces of creation" in line or "deleted" in line for line in r.limitations)
    assert "13. Annex" in re.sub(r"<[^>]+>", "", render_html(r))


# -- scoping and wording, on the pure functions --------------------------------------------------
def _trace(i: int, kind: str, sha: str | None, at: str) -> StoredTrace:
    ev = BrowserEvent("chrome", "/ev/Default", kind, f"https://clothoff.io/{i}", None, at,
                      download_path="C:\\Users\\x\\Downloads\\f.jpg" if sha else None)  # fmt: skip
    rec = TraceRecord(f"{i:064x}", 1, ev, "clothoff.io", "clothoff", "Clothoff", None,
                      10 if sha else None, sha, "hash" if sha else None)  # fmt: skip
    return StoredTrace(i, rec, "/ev/Default/History", "/ev/Downloads/f.jpg" if sha else None)


def test_person_scope_keeps_only_what_is_joined_to_the_persons_files() -> None:
    mine, other = "a" * 64, "b" * 64
    paths = {1: "/ev/History", 10: "/ev/Downloads/f.jpg"}
    r = Redactor({"E1": "Avery Lane"}, "E1", False, ["/ev"], neutral_paths=True)
    traces = [_trace(1, "visit", None, "2025-01-01T10:00:00Z"),
              _trace(2, "download", mine, "2025-01-01T10:05:00Z"),
              _trace(3, "download", other, "2025-01-01T10:06:00Z"),
              _trace(4, "visit", None, "2025-01-01T11:00:00Z")]  # fmt: skip
    in_timeline = {1, 2}
    kept = laptop.trace_infos(
        traces, {mine: "/ev/[folder 1]/[file aaaa]"}, [], r,
        lambda t: (t.record.matched_sha256 == mine) if t.record.matched_sha256
        else t.id in in_timeline,
    )  # fmt: skip
    assert [t.trace_id for t in kept] == [1, 2]
    events = {
        "E1": [TimelineEvent("E1", "2025-01-01T09:00:00Z", "source_saved", True,
                             "photo saved", 10, mine, None, "crtime"),
               TimelineEvent("E1", "2025-01-01T10:00:00Z", "service_visited", True,
                             "visited Clothoff", None, None, 1, "history row"),
               TimelineEvent("E1", "2025-01-01T10:06:00Z", "fake_downloaded", True,
                             "a file of Blake Moreno", 11, other, 3, "downloads row")],
        "E2": [TimelineEvent("E2", None, "source_saved", True, "x", 11, other, None, "")],
    }  # fmt: skip
    (tl,) = laptop.timeline_infos(events, paths, r, "E1", {mine})
    assert tl.person == "E1" and [s.step for s in tl.steps] == ["source_saved", "service_visited"]
    assert tl.steps[0].location is not None and "Downloads" not in tl.steps[0].location
    whole = laptop.timeline_infos(events, paths, Redactor({}, None, False), None, set())
    assert [t.person for t in whole] == ["E1", "E2"] and len(whole[0].steps) == 3


def test_inference_wording_follows_the_link_direction() -> None:
    fake, photo = "f" * 64, "e" * 64
    places = {fake: "/ev/Downloads/fake.jpg", photo: "/ev/Pictures/photo.jpg"}
    r = Redactor({}, None, False)
    traces = laptop.trace_infos([_trace(2, "download", fake, "2025-01-01T10:05:00Z")], places,
                                [DerivationLink(fake, photo, {"changed_fraction": 0.3},
                                                direction="stated", direction_confidence=0.9)],
                                r, lambda t: True)  # fmt: skip
    stated = laptop.inferences(
        traces, [DerivationLink(fake, photo, {}, direction="stated", direction_confidence=0.9)]
    )
    assert "made from the photo /ev/Pictures/photo.jpg" in stated[1].statement
    unknown = laptop.inferences(traces, [DerivationLink(photo, fake, {}, direction="unknown")])
    assert "which one came first is not known" in unknown[1].statement
    assert "made from" not in unknown[1].statement
    assert laptop.inferences(traces, [])[0].statement.startswith("The file /ev/Downloads/fake")
    assert len(laptop.inferences(traces, [])) == 1


def test_video_groups_numbered_and_scoped() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    groups = [VideoGroup((a, b, c), "near", (VideoMatch(a, b, 91.0, 88.04),
                                              VideoMatch(a, c, 80.0, 75.0)))]  # fmt: skip
    places = {a: "/ev/a.mp4", b: "/ev/b.mp4", c: "/ev/c.mp4"}
    (g,) = laptop.video_group_infos(groups, places, None)
    assert (g.group, g.kind, g.locations) == (1, "near", ("/ev/a.mp4", "/ev/b.mp4", "/ev/c.mp4"))
    (scoped,) = laptop.video_group_infos(groups, places, {a, b})
    assert scoped.members == (a, b) and [m.sha_b for m in scoped.matches] == [b]
    assert laptop.video_group_infos(groups, places, {a}) == []


def test_video_frames_read_from_the_explicit_evidence() -> None:
    from consentry.reports.model import ReportItem

    item = ReportItem(
        location="/ev/a.mp4", rel_path="a.mp4", source="/ev", size=1, mtime=None, sha256="a" * 64,
        md5=None, sha1=None, pdq=None, pdq_quality=None, mime="video/mp4", width=64, height=48,
        explicit_label="none", explicit_score=0.01, provenance_verdict=None, person_codes=(),
        thumbnail=None, thumbnail_blurred=True,
    )  # fmt: skip
    frames = [{"t": 0.0, "frame": 0, "label": "none", "score": 0.01},
              {"t": 2.5, "frame": 25, "label": "none", "score": 0.02}]  # fmt: skip
    payload = json.dumps({"frames": frames, "worst_frame_s": 2.5})
    v = laptop.video_info(item, laptop.VideoFacts("a" * 64, 3.04, "vp9", 76), payload)
    assert (v.frames_analysed, v.duration_s, v.worst_label) == (2, 3.04, "none")
    assert [f.at_s for f in v.frames] == [0.0, 2.5]
    assert laptop.video_info(item, laptop.VideoFacts("a" * 64, None, None, None), "{").frames == ()


def test_scoped_names_in_a_disk_image_and_in_step_texts() -> None:
    r = Redactor({"E1": "Avery Lane"}, "E1", False, ["/ev/laptop.E01"], neutral_paths=True)
    path = "/ev/laptop.E01!p2/Users/sam/Downloads/f.jpg"
    shown = r.path(path, sha256="ab" * 32)
    # the image and its volume stay (chosen by the examiner); the suspect's names go
    assert shown.startswith("/ev/laptop.E01!p2/[folder ") and "sam" not in shown
    assert shown.endswith("[file abababababababab].jpg")
    text = laptop.paths_in_text(
        f"downloaded to {path}; the same profile visited C:\\Users\\sam\\Downloads",
        r,
        {path: "ab" * 32},
    )
    assert text.startswith(f"downloaded to {shown};")
    # a replaced name is replaced where it stands as a name, not inside a word ("same")
    assert "the same profile" in text and "\\sam\\" not in text and "Downloads" not in text


def test_pdf_carries_the_laptop_sections(case: Path, tmp_path: Path) -> None:
    pytest.importorskip("weasyprint", reason="WeasyPrint (the pdf extra) is not installed")
    pypdf = pytest.importorskip("pypdf")
    from consentry.reports.pdf_report import write_pdf

    out = tmp_path / "r.pdf"
    write_pdf(_report(case), out, ReportOptions(reverify="none"))
    text = " ".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    text = re.sub(r"\s+", " ", text)
    for title in ("Disk images", "Deleted files", "Traces of creation", "Videos"):
        assert title in text, title
    assert "verified" in text and "Clothoff" in text


def test_a_mismatch_and_an_unreadable_image_say_so(case: Path) -> None:
    from dataclasses import replace

    r = _report(case)
    (d,) = r.disk_images
    r.disk_images = [
        replace(d, verification="mismatch", computed_md5="f" * 32, message="MD5 stored differs"),
        replace(d, path="/ev/junk.E01", verification="error", volumes=(), segments=(),
                media_size=None, message="libewf cannot open the image"),
    ]  # fmt: skip
    html = render_html(r)
    disk = html[html.index('id="disk-images"') : html.index('id="deleted"')]
    assert "MISMATCH" in disk and "f" * 32 in disk and "MD5 stored differs" in disk
    assert "libewf cannot open the image" in disk and "No volume could be read" in disk
    jsonschema.validate(json.loads(json.dumps(report_document(r))), load_schema())
