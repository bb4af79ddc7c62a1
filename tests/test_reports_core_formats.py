"""Every core report format written from a real scanned case, through the CLI, and checked as
a reader would: JSON against its schema, CSV row by row, the HTML's embedded pictures decoded
(blurred where the rule says), the PDF's page count and "page x of y" footers, the report's
SHA-256 in the audit log. The case and the stand-in explicit scorer are test_reports_core's."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from consentry.cli.main import main
from consentry.reports import formats
from consentry.reports.collect import ReportItem, collect_case
from consentry.reports.csv_report import COLUMNS
from consentry.reports.html_report import Thumbnails, UnsafeThumbnail
from consentry.reports.json_report import load_schema
from consentry.reports.options import ReportOptions

from . import test_reports_core as core
from .test_reports_core import NAMES

case = core.case  # the module-scoped scanned case, built once for this module too

jsonschema = pytest.importorskip("jsonschema")
IMG = re.compile(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


def report(case_dir: Path, fmt: str, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        main, ["report", "--case", str(case_dir), "--format", fmt, "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result.output


def audit_events(case_dir: Path, action: str) -> list[dict]:
    with sqlite3.connect(case_dir / "case.sqlite") as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE action = ? ORDER BY seq", (action,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


OBSCURED = 10.0  # strongest edges (grey levels between neighbours) of a blurred thumbnail


def edges(img: Image.Image) -> float:
    """The 99th percentile of the grey-level step between neighbouring pixels: a few levels
    for a thumbnail the blur rule pixelated and blurred, tens for a sharp photo."""
    a = np.asarray(img.convert("L"), dtype=np.float64)
    return float(np.percentile(np.abs(np.diff(a, axis=1)), 99))


def embedded(html: str) -> dict[str, Image.Image]:
    """Every picture embedded in the HTML, by the SHA-256 prefix in its alt text."""
    out = {}
    for data, alt in IMG.findall(html):
        out[alt.split()[-1]] = Image.open(io.BytesIO(base64.b64decode(data)))
    return out


def test_json_validates_against_the_schema_and_is_recorded_in_the_audit_log(
    case: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    report(case, "json", out, "--requested-by", "Test Requester")
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["requested_by"] == "Test Requester"
    assert len(doc["items"]) == doc["counts"]["files"]["value"]
    # the schema can fail: a count without what it counts is rejected
    broken = json.loads(out.read_text())
    broken["counts"]["files"]["what"] = ""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())
    event = audit_events(case, "report_written")[-1]
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert event["format"] == "json" and event["sha256"] == sha
    assert event["person"] is None and event["redact"] is False
    assert (tmp_path / "r.json.sha256").read_text().split()[0] == sha
    verify = CliRunner().invoke(main, ["audit", "verify", "--case", str(case)])
    assert verify.exit_code == 0, verify.output


def test_csv_has_one_row_per_location(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.csv"
    report(case, "csv", out)
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    expected = collect_case(case, ReportOptions(reverify="none"))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["location"] for r in rows] == [i.location for i in expected.items]
    by_name = {r["location"].rpartition("/")[2]: r for r in rows}
    assert by_name["edited_selfie.jpg"]["explicit_label"] == "explicit"
    assert by_name["landscape.jpg"]["explicit_label"] == "none"


def test_html_embeds_only_blurred_pictures_of_images_not_labelled_none(
    case: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    report(case, "html", out)
    html = out.read_text()
    assert "http://" not in html and "https://" not in html.replace("https://consentry", "")
    data = collect_case(case, ReportOptions(reverify="none"))
    labels = {i.sha256[:12]: i.explicit_label for i in data.items if i.sha256}
    pictures = embedded(html)
    assert pictures, "no thumbnails embedded"
    explicit = {k: v for k, v in pictures.items() if labels[k] != "none"}
    sharp = {k: v for k, v in pictures.items() if labels[k] == "none"}
    assert explicit and sharp
    for key, img in explicit.items():
        assert edges(img) < OBSCURED, key
    # the measure tells the two apart: the harmless pictures shown sharp are far from it
    assert min(edges(img) for img in sharp.values()) > 2 * OBSCURED
    for section in ("Sources and re-verification", "Audit log", "Limitations", "not measured"):
        assert section in html
    assert data.case_id in html


def test_a_stale_unblurred_thumbnail_of_an_explicit_image_is_never_embedded(
    case: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "case"
    shutil.copytree(case, copy)
    with sqlite3.connect(copy / "case.sqlite") as db:
        db.execute("UPDATE thumbnails SET blurred = 0, label = 'none'")  # as if stale
    data = collect_case(copy, ReportOptions(reverify="none"))
    for item in data.items:
        if item.explicit_label != "none":
            assert item.thumbnail is None, item
    out = tmp_path / "r.html"
    report(copy, "html", out, "--reverify", "none")
    labels = {i.sha256[:12]: i.explicit_label for i in data.items if i.sha256}
    assert all(labels[k] == "none" for k in embedded(out.read_text()))
    # and the last line of defence, in the writer itself
    item = next(i for i in data.items if i.explicit_label == "explicit")
    forged = ReportItem(
        **{**item.__dict__, "thumbnail": "thumbs/x.jpg", "thumbnail_blurred": False}
    )
    with pytest.raises(UnsafeThumbnail):
        Thumbnails(data.case_dir).uri(forged)


def test_person_scoped_html_names_no_one_else(case: Path, tmp_path: Path) -> None:
    data = collect_case(case, ReportOptions(reverify="none"))
    person = next(p for p in data.persons if p.kind == "enrolled" and p.images)
    out = tmp_path / "p.html"
    report(case, "html", out, "--person", person.code.lower())
    html = out.read_text()
    assert person.name and person.name in html
    for other in data.persons:
        if other.code != person.code:
            assert not re.search(rf"\b{other.code}\b", html), other.code
            if other.name:
                assert other.name not in html and other.name.replace(" ", "_") not in html
    own = {i.sha256[:12] for i in data.items if person.code in i.person_codes and i.sha256}
    assert set(embedded(html)) == own
    # no hash of another file either (derivation links name a source photo only when it is
    # one of this person's own images)
    others = {i.sha256 for i in data.items if i.sha256} - {
        i.sha256 for i in data.items if person.code in i.person_codes
    }
    assert others and not [sha for sha in others if sha[:16] in html]
    event = audit_events(case, "report_written")[-1]
    assert event["person"] == person.code


def test_redacted_html_has_codes_instead_of_names(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    report(case, "html", out, "--redact")
    html = out.read_text()
    for name in NAMES:
        assert name not in html and name.replace(" ", "_") not in html, name
    assert "[E1]" in html


def test_pdf_has_every_page_numbered_x_of_y(case: Path, tmp_path: Path) -> None:
    pytest.importorskip("weasyprint", reason="WeasyPrint (the pdf extra) is not installed")
    pypdf = pytest.importorskip("pypdf")
    out = tmp_path / "r.pdf"
    report(case, "pdf", out, "--reverify", "stat")
    reader = pypdf.PdfReader(out)
    n = len(reader.pages)
    assert n >= 3
    for i, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert f"page {i} of {n}" in text, (i, text[-200:])
        assert "CR-" in text  # the report ID on every page
    assert audit_events(case, "report_written")[-1]["format"] == "pdf"
    # every picture in the PDF is, byte for byte, a thumbnail the scan wrote; those of images
    # not labelled none are the blurred ones
    thumbs = {p.read_bytes(): p.stem for p in (case / "thumbs").rglob("*.jpg")}
    data_model = collect_case(case, ReportOptions())
    labels = {i.sha256: i.explicit_label for i in data_model.items}
    masks = [
        np.asarray(Image.open(case / link.mask_render).convert("RGB"))
        for link in data_model.links
        if link.mask_render
    ]
    seen = []
    for page in reader.pages:
        for picture in page.images:
            image = picture.indirect_reference
            if image.get("/Filter") == "/DCTDecode":  # JPEG, embedded as is
                assert image._data in thumbs, "a picture that is not one of the case's thumbnails"
                seen.append(thumbs[image._data])
            else:  # a derivation render the report was allowed to show (re-encoded by the PDF)
                pixels = np.asarray(picture.image.convert("RGB"))
                assert any(m.shape == pixels.shape and (m == pixels).all() for m in masks)
    assert {labels[s] for s in seen} >= {"explicit", "none"}
    for sha in seen:
        if labels[sha] != "none":
            assert edges(Image.open(case / "thumbs" / sha[:2] / f"{sha}.jpg")) < OBSCURED


def test_unknown_person_and_missing_format_are_one_line_errors(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    args = ["report", "--case", str(case), "--out", str(tmp_path / "x")]
    result = runner.invoke(main, [*args, "--format", "html", "--person", "E99"])
    assert result.exit_code == 2 and "no person E99" in result.output
    monkeypatch.setitem(formats.WRITERS, "vics", ("consentry.reports.no_such_module", "w"))
    result = runner.invoke(main, [*args, "--format", "vics"])
    assert result.exit_code == 2 and "not available" in result.output
    result = runner.invoke(main, [*args, "--format", "html", "--case", str(tmp_path / "nope")])
    assert result.exit_code == 3


def test_scoped_and_redacted_json_validate_too(case: Path, tmp_path: Path) -> None:
    data = collect_case(case, ReportOptions(reverify="none"))
    person = next(p for p in data.persons if p.kind == "enrolled" and p.images)
    out = tmp_path / "p.json"
    report(case, "json", out, "--person", person.code, "--redact", "--reverify", "none")
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["scope"] == person.code and doc["redacted"] is True
    assert [p["code"] for p in doc["persons"]] == [person.code]
    assert all(i["person_codes"] == [person.code] for i in doc["items"])
    assert doc["counts"]["files"]["value"] == person.images == len(doc["items"])
