"""Issue 18.4: a ``--person`` report names no one else, in any format.

Reports scoped to one person still carried file names holding another enrolled person's name
as well as the scoped one's (``swap_avery_on_blake.jpg``), names of persons who are not
enrolled at all (``Carol_White nude with Avery.jpg``, a folder ``Dana_Fox``), and withheld
audit events that still showed their action and time. Now, below the source folder, every
folder and file name of a person-scoped report is a neutral identifier (a file:
``[file <16 hex of its SHA-256>].jpg``) unless the examiner opts in with ``--show-paths``, and
a withheld event shows its sequence number and hash only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main

from .security_case import build_case

# variants of the first person's selfie (the same face, so they are that person's images)
OWN = [
    "Avery_Lane/swap_avery_on_blake.jpg",
    "Avery_Lane/Carol_White nude with Avery.jpg",
    "Dana_Fox/avery 2.jpg",
    "Avery_Lane/IMG_0042.jpg",
]
# names that must not appear in the first person's reports (case-sensitive: "white" is CSS)
OTHERS = ("Blake", "blake", "Moreno", "Carol", "White", "Dana", "Fox")
FORMATS = ["html", "pdf", "json", "csv", "vics", "case", "hashpack", "notice"]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("scope")
    case_dir, _evidence, codes = build_case(root, {0: OWN})
    yield case_dir, codes


def write(case: Path, fmt: str, out: Path, *extra: str) -> str:
    """The report as text (a folder format: all its files; a PDF: its extracted text)."""
    if fmt == "pdf":
        pytest.importorskip("weasyprint", reason="WeasyPrint (the pdf extra) is not installed")
    args = ["report", "--case", str(case), "--format", fmt, "--out", str(out), *extra]
    result = CliRunner().invoke(main, [*args, "--reverify", "none"])
    assert result.exit_code == 0, result.output
    if fmt == "pdf":
        pypdf = pytest.importorskip("pypdf")
        return "\n".join(page.extract_text() for page in pypdf.PdfReader(out).pages)
    files = sorted(out.iterdir()) if out.is_dir() else [out]
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def own_files(case: Path, code: str) -> list[str]:
    persons = json.loads(
        CliRunner().invoke(main, ["persons", "--case", str(case), "--json"]).output
    )
    return next(p["items"] for p in persons["persons"] if p["id"] == code)


@pytest.mark.parametrize("fmt", FORMATS)
def test_person_report_names_no_one_else_in_any_format(
    scanned: tuple[Path, dict[str, str]], tmp_path: Path, fmt: str
) -> None:
    case, codes = scanned
    code = codes["Avery Lane"]
    items = own_files(case, code)
    assert sum(1 for i in items if any(i.endswith(o.split("/")[-1]) for o in OWN)) == len(OWN)
    extra = ["--include-names"] if fmt == "hashpack" else []  # the pack's file_names column
    text = write(case, fmt, tmp_path / f"out-{fmt}", "--person", code, *extra)
    for other in OTHERS:
        assert other not in text, (fmt, other)
    assert not re.search(rf"\b{codes['Blake Moreno']}\b", text), fmt
    assert "swap_" not in text and "nude with" not in text and "IMG_0042" not in text, fmt
    if fmt not in ("notice", "pdf"):  # notices name images by hash; the PDF wraps long paths
        assert "[file " in text, fmt  # neutral identifiers instead
    if fmt in ("json", "csv", "html"):
        assert "Avery_Lane" in text  # the folder named after this person alone stays


def test_neutral_names_carry_the_hash_and_stay_consistent(
    scanned: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    case, codes = scanned
    doc = json.loads(write(case, "json", tmp_path / "p.json", "--person", codes["Avery Lane"]))
    for item in doc["items"]:
        name = item["location"].rsplit("/", 1)[1]
        assert name == f"[file {item['sha256'][:16]}].jpg", name
        assert item["rel_path"].endswith(name)
    folders = {i["location"].rsplit("/", 2)[1] for i in doc["items"]}
    assert "Avery_Lane" in folders and "[folder 1]" in folders  # Dana_Fox -> [folder 1]
    for person in doc["persons"]:
        assert all("Dana" not in f[0] for f in person["folders"])


def test_withheld_audit_events_show_sequence_and_hash_only(
    scanned: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    case, codes = scanned
    doc = json.loads(write(case, "json", tmp_path / "a.json", "--person", codes["Avery Lane"]))
    withheld = [a for a in doc["audit"] if a["withheld"]]
    assert withheld  # Blake Moreno's enrolment at least
    for a in withheld:
        assert (a["action"], a["ts"], a["actor"], a["payload"]) == ("withheld", "", None, {})
        assert len(a["hash"]) == 64 and len(a["prev_hash"]) == 64
    kept = [a["action"] for a in doc["audit"] if not a["withheld"]]
    assert kept.count("person_enrolled") == 1  # this person's own enrolment
    html = write(case, "html", tmp_path / "a.html", "--person", codes["Avery Lane"])
    assert html.count("person_enrolled") == 1


def test_show_paths_is_the_examiners_opt_in(
    scanned: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    case, codes = scanned
    text = write(case, "json", tmp_path / "s.json", "--person", codes["Avery Lane"], "--show-paths")
    assert "IMG_0042.jpg" in text and "[file " not in text
    whole = write(case, "json", tmp_path / "w.json")  # a whole-case report is not scoped
    assert "IMG_0042.jpg" in whole and "[file " not in whole


def test_redactor_neutral_paths_unit() -> None:
    from consentry.reports.redact import Redactor

    sha = "ab" * 32
    zip_member = "/src/Dana_Fox/backup.zip!/phone/Carol nude.jpg"
    r = Redactor(
        {"E1": "Avery Lane", "E2": "Blake Moreno"},
        "E1",
        False,
        ["/src"],
        neutral_paths=True,
        file_hashes={"/src/Avery_Lane/Carol nude.jpg": sha, zip_member: "cd" * 32},
    )
    assert r.path("/src/Avery_Lane/Carol nude.jpg") == f"/src/Avery_Lane/[file {sha[:16]}].jpg"
    assert (
        r.path(zip_member) == "/src/[folder 1]/[archive 1]!/[folder 2]/[file cdcdcdcdcdcdcdcd].jpg"
    )
    assert r.path("/src/Dana_Fox", folder=True) == "/src/[folder 1]"  # the same identifier
    assert r.path("/src/Avery_Lane/x", folder=True) == "/src/Avery_Lane/[folder 3]"
    assert r.path("/src/Avery_Lane/unknown.gif") == "/src/Avery_Lane/[file 1].gif"  # no hash
    message = r.message("Carol nude.jpg in backup.zip! is truncated")
    assert "Carol" not in message and "backup" not in message
    redacting = Redactor({"E1": "Avery Lane"}, "E1", True, ["/src"], neutral_paths=True)
    assert redacting.path("/src/Avery_Lane/a.jpg", sha256=sha).startswith("/src/[E1]/[file ")
    assert r.path("/src/Avery_Lane/with Jane.Carol", sha256=sha) == (
        f"/src/Avery_Lane/[file {sha[:16]}]"  # an extension that may be a word is dropped
    )
