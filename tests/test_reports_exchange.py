"""Exchange formats from a real scanned case: VICS 2.0 (round trip), CASE/UCO JSON-LD (checked
with case-utils' ``case_validate``, offline), a person's hash pack, takedown notices with their
48-hour deadlines (injected clock) and the Hong Kong disposal schedule.

Expected values come from the case store itself (SQL on case.sqlite) or from ``persons --json``,
not from the report structure the writers read, so a writer that drops or alters data fails.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from consentry.cli.main import main
from consentry.reports import case_uco, hashpack, notice, vics
from consentry.reports.collect import CaseReport, collect_case
from consentry.reports.options import ReportOptions

from .exchange_case import LFW, SKIP_REASON, build_case

needs_faces = pytest.mark.skipif(not LFW.is_dir(), reason=SKIP_REASON)
OPTIONS = ReportOptions(reverify="stat")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not LFW.is_dir():
        pytest.skip(SKIP_REASON)
    yield build_case(tmp_path_factory.mktemp("exchange"))


@pytest.fixture()
def case(scanned: Path, tmp_path: Path) -> Path:
    """A private copy: notice tests write audit events."""
    shutil.copytree(scanned, tmp_path / "case")
    return tmp_path / "case"


@pytest.fixture(scope="module")
def report(scanned: Path) -> CaseReport:
    return collect_case(scanned, OPTIONS)


def rows(case: Path, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql, params).fetchall()


def image_contents(case: Path) -> dict[str, tuple]:
    """sha256 -> (md5, sha1, pdq, size) of every image content, straight from the store."""
    found = rows(case, "SELECT sha256, md5, sha1, pdq, size FROM contents WHERE is_image")
    return {r[0]: r[1:] for r in found}


def person_items(case: Path, code: str) -> list[str]:
    result = CliRunner().invoke(main, ["persons", "--case", str(case), "--json"])
    assert result.exit_code == 0, result.output
    person = next(p for p in json.loads(result.output)["persons"] if p["id"] == code)
    return list(person["items"])


def sha_of_locations(case: Path, paths: list[str]) -> set[str]:
    marks = ",".join("?" * len(paths))
    return {
        r[0] for r in rows(case, f"SELECT sha256 FROM locations WHERE path IN ({marks})", *paths)
    }


# -- VICS --------------------------------------------------------------------------------------
@needs_faces
def test_vics_round_trip_keeps_every_hash_path_time_and_flag(
    scanned: Path, report: CaseReport, tmp_path: Path
) -> None:
    out = tmp_path / "case.vics.json"
    assert vics.write_vics(report, out, OPTIONS) == [out]
    back = vics.read_vics(out)
    assert back == vics.case_from_report(report, OPTIONS)  # nothing lost or altered in the file

    expected = image_contents(scanned)
    by_sha = {m.alt_hash("SHA256"): m for m in back.media}
    assert set(by_sha) == set(expected)  # one Media per image content, non-images left out
    enrolled_shas = sha_of_locations(scanned, person_items(scanned, "E1")) | sha_of_locations(
        scanned, person_items(scanned, "E2")
    )
    for sha, (md5, sha1, pdq, size) in expected.items():
        media = by_sha[sha]
        assert (media.md5, media.sha1, media.media_size) == (md5.upper(), sha1.upper(), size)
        assert media.alt_hash("PDQ") == pdq
        assert media.victim_identified == (sha in enrolled_shas)
        assert media.category == vics.ADULT_INTIMATE  # the stand-in scores every image 0.97
        assert not media.is_precategorized and "consentry:auto" in media.tags
        locations = rows(scanned, "SELECT path, mtime_ns FROM locations WHERE sha256 = ?", sha)
        assert sorted(f.file_path for f in media.media_files) == sorted(p for p, _ in locations)
        for f in media.media_files:
            mtime_ns = dict(locations)[f.file_path]
            written = datetime.fromisoformat(f.written or "")
            assert abs(written.timestamp() - mtime_ns / 1e9) < 1
    copies = [m for m in back.media if len(m.media_files) == 2]
    assert len(copies) == 1 and any("backup.zip!/" in f.file_path for f in copies[0].media_files)
    assert back.categories == vics.CATEGORIES
    text = out.read_text()
    assert "Colin Powell" not in text and "Tony Blair" not in text  # codes, never names


@needs_faces
def test_vics_for_one_person_names_no_other(scanned: Path, tmp_path: Path) -> None:
    options = ReportOptions(reverify="none", person="E1")
    out = tmp_path / "e1.vics.json"
    vics.write_vics(collect_case(scanned, options), out, options)
    back = vics.read_vics(out)
    expected = sha_of_locations(scanned, person_items(scanned, "E1"))
    assert {m.alt_hash("SHA256") for m in back.media} == expected
    assert all(m.victim_identified and m.tags[1:] == ("consentry:person:E1",) for m in back.media)
    text = out.read_text()
    assert not re.search(r"\bE2\b|Tony|Blair", text)


@needs_faces
def test_redacted_exports_carry_no_names(scanned: Path, tmp_path: Path) -> None:
    options = ReportOptions(reverify="none", redact=True)
    report = collect_case(scanned, options)
    vics.write_vics(report, tmp_path / "r.vics.json", options)
    case_uco.write_case_uco(report, tmp_path / "r.jsonld", options)
    for name in ("r.vics.json", "r.jsonld"):
        text = (tmp_path / name).read_text()
        assert not re.search("Colin|Powell|Tony|Blair", text), name
        assert "[E1]" in text and "[E2]" in text  # folders named after them, now by code
    back = vics.read_vics(tmp_path / "r.vics.json")
    assert len(back.media) == len(image_contents(scanned))  # redaction drops no image


def test_vics_reader_accepts_what_other_tools_write(tmp_path: Path) -> None:
    media_list = {
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/"
        "Default/$metadata#Media",
        "value": [
            {
                "MediaID": 7,
                "Category": 0,
                "MD5": "adebf3fa3c9be7f73825e1cb9e2dea09",
                "VictimIdentified": "true",
                "IsDistributed": "true",
                "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "AA=="}],
            }
        ],
    }
    path = tmp_path / "hashset.json"
    path.write_text(json.dumps(media_list), encoding="utf-8-sig")  # with a BOM, as some write
    (media,) = vics.read_vics(path).media
    assert media.media_id == 7 and media.md5 == "ADEBF3FA3C9BE7F73825E1CB9E2DEA09"
    assert media.victim_identified and media.alt_hash("photodna") == "AA=="

    for bad, message in (
        ({"value": []}, "not a VICS file"),
        ({**media_list, "value": [{"MediaID": 1}]}, "has no MD5"),
        ([1, 2], "must be a JSON object"),
    ):
        path.write_text(json.dumps(bad))
        with pytest.raises(vics.VicsError, match=message):
            vics.read_vics(path)
    path.write_text("{not json")
    with pytest.raises(vics.VicsError, match="not readable JSON"):
        vics.read_vics(path)


_hex = st.text("0123456789ABCDEF", min_size=32, max_size=32)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_media = st.builds(
    vics.VicsMedia,
    media_id=st.integers(1, 10**6),
    md5=_hex,
    sha1=st.none() | _hex,
    category=st.sampled_from([0, 100, 101, 102]),
    media_size=st.none() | st.integers(0, 2**40),
    mime_type=st.none() | _text,
    victim_identified=st.booleans(),
    offender_identified=st.booleans(),
    is_precategorized=st.booleans(),
    tags=st.lists(st.text("abcxyz:E0123", min_size=1, max_size=8), max_size=3).map(tuple),
    comments=st.none() | _text,
    alternative_hashes=st.lists(
        st.tuples(st.sampled_from(["PDQ", "SHA256"]), _text), max_size=2
    ).map(tuple),
    media_files=st.lists(
        st.builds(vics.VicsMediaFile, _text, _text, st.none() | _text, st.none() | _text),
        max_size=3,
    ).map(tuple),
    metadata=st.lists(st.tuples(_text, _text), max_size=2).map(tuple),
)


@given(st.builds(vics.VicsCase, case_id=_text, case_number=st.none() | _text,
                 media=st.lists(_media, min_size=1, max_size=3).map(tuple)))  # fmt: skip
def test_vics_dump_and_parse_are_inverse(case: vics.VicsCase) -> None:
    assert vics.parse_vics(json.loads(json.dumps(vics.dump_vics(case)))) == case


# -- CASE/UCO ----------------------------------------------------------------------------------
def case_validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run case-utils' validator with its bundled ontology, with no network where possible."""
    script = Path(sys.executable).with_name("case_validate")
    command = [str(script), "--built-version", case_uco.CASE_VERSION, *map(str, args)]
    if shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"]).returncode == 0:
        command = ["unshare", "-rn", *command]  # a network namespace with no interface
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@needs_faces
def test_case_uco_export_validates_offline_and_describes_the_case(
    scanned: Path, report: CaseReport, tmp_path: Path
) -> None:
    rdflib = pytest.importorskip("rdflib")
    out = tmp_path / "case.jsonld"
    case_uco.write_case_uco(report, out, OPTIONS)

    strict = case_validate("--format", "turtle", out)
    results = rdflib.Graph().parse(data=strict.stdout, format="turtle")
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    severities = {str(o) for o in results.objects(None, sh.resultSeverity)}
    messages = {str(o) for o in results.objects(None, sh.resultMessage)}
    # The only remarks are Info: "PDQ" is not in UCO's open hash-name vocabulary
    assert severities == {str(sh.Info)}, strict.stdout[-3000:]
    assert messages == {"Value is not member of the vocabulary HashNameVocab."}
    allowed = case_validate("--allow-info", out)
    assert allowed.returncode == 0, allowed.stdout[-3000:] + allowed.stderr[-2000:]
    assert "Conforms: True" in allowed.stdout

    g = rdflib.Graph().parse(out, format="json-ld")
    q = lambda text: list(g.query(PREFIXES + text))  # noqa: E731
    files = q("SELECT ?f ?path WHERE { ?f a observable:File ; core:hasFacet ?ff . "
              "?ff a observable:FileFacet ; observable:filePath ?path }")  # fmt: skip
    expected_paths = {r[0] for r in rows(scanned, "SELECT path FROM locations")}
    assert {str(p) for _, p in files} == expected_paths  # every location (all were hashed)
    hashes = q(
        "SELECT ?path ?m ?v WHERE { ?f core:hasFacet ?ff, ?cd . ?ff observable:filePath ?path . "
        "?cd observable:hash ?h . ?h types:hashMethod ?m ; types:hashValue ?v }"
    )
    got = {(str(p), str(m)): str(v).lower() for p, m, v in hashes}
    for path, md5, sha1, sha256, pdq in rows(
        scanned,
        "SELECT l.path, c.md5, c.sha1, c.sha256, c.pdq FROM locations l "
        "JOIN contents c ON c.sha256 = l.sha256",
    ):
        assert got[(path, "MD5")] == md5 and got[(path, "SHA1")] == sha1
        assert got[(path, "SHA256")] == sha256 and got.get((path, "PDQ")) == pdq

    config = q("SELECT ?name ?value WHERE { ?t a tool:ConfiguredTool ; core:name "
               "'consentry explicit analyzer' ; configuration:usesConfiguration ?c . "
               "?c configuration:configurationEntry ?e . ?e configuration:itemName ?name ; "
               "configuration:itemValue ?value }")  # fmt: skip
    entries = {(str(n), str(v)) for n, v in config}
    (model,) = {
        r[0] for r in rows(scanned, "SELECT model_sha256 FROM findings WHERE analyzer = 'explicit'")
    }
    assert ("model_sha256", model) in entries and ("explicit_from", "0.8") in entries

    classes = q("SELECT ?path ?class ?conf WHERE { ?a a analysis:Analysis ; action:object ?f ; "
                "action:result ?r ; action:instrument ?t . ?f core:hasFacet ?ff . "
                "?ff observable:filePath ?path . ?r a analysis:AnalyticResult ; core:hasFacet ?rf ."
                " ?rf analysis:classification ?c . ?c analysis:class ?class . "
                "OPTIONAL { ?c analysis:classificationConfidence ?conf } }")  # fmt: skip
    by_path: dict[str, dict[str, object]] = {}
    for path, cls, conf in classes:
        by_path.setdefault(str(path), {})[str(cls)] = conf and float(conf)
    for path in person_items(scanned, "E1"):
        assert by_path[path]["explicit:explicit"] == pytest.approx(0.97)
        assert "person:E1" in by_path[path]
    assert not any("person:E1" in c for p, c in by_path.items() if "Tony_Blair" in p)
    text = out.read_text()
    assert "Colin Powell" not in text and "Tony Blair" not in text


def test_case_validate_rejects_a_broken_export(tmp_path: Path) -> None:
    """The validator used above can fail: a hash without its method is a violation."""
    broken = {
        "@context": {"kb": "urn:consentry:test:", **case_uco.CONTEXT},
        "@graph": [
            {
                "@id": "kb:File-1",
                "@type": "observable:File",
                "core:hasFacet": [
                    {
                        "@id": "kb:ContentDataFacet-1",
                        "@type": "observable:ContentDataFacet",
                        "observable:hash": [
                            {
                                "@id": "kb:Hash-1",
                                "@type": "types:Hash",
                                "types:hashValue": {"@type": "xsd:hexBinary", "@value": "00FF"},
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "broken.jsonld"
    path.write_text(json.dumps(broken))
    result = case_validate("--allow-info", path)
    assert result.returncode != 0 and "Conforms: False" in result.stdout
    assert "types:hashMethod" in result.stdout


PREFIXES = "".join(f"PREFIX {k}: <{v}>\n" for k, v in case_uco.CONTEXT.items())


# -- hash pack ---------------------------------------------------------------------------------
@needs_faces
def test_hash_pack_holds_exactly_the_persons_hashes_and_no_names(
    scanned: Path, tmp_path: Path
) -> None:
    from threatexchange.signal_type.pdq.signal import PdqSignal

    options = ReportOptions(reverify="none", person="E1")
    out = tmp_path / "pack"
    written = hashpack.write_hashpack(collect_case(scanned, options), out, options)
    assert sorted(p.name for p in written) == ["hashes.csv", "manifest.json", "pdq.txt"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)

    items = person_items(scanned, "E1")
    shas = sha_of_locations(scanned, items)
    contents = image_contents(scanned)
    lines = (out / "pdq.txt").read_text().splitlines()
    assert all(line.startswith("pdq ") for line in lines)
    pdqs = [PdqSignal.validate_signal_str(line.split(" ", 1)[1]) for line in lines]
    assert sorted(pdqs) == sorted(contents[s][2] for s in shas)  # all quality >= 50 here
    table = list(csv.DictReader((out / "hashes.csv").open()))
    assert {r["sha256"] for r in table} == shas
    assert all(r["md5"] == contents[r["sha256"]][0] for r in table)
    assert sum(int(r["copies"]) for r in table) == len(items)

    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["person"] == "E1"
        and manifest["case_id"] == json.loads((scanned / "case.json").read_text())["case_id"]
    )
    assert manifest["counts"]["unique_sha256"] == len(shas)
    assert manifest["counts"]["images"] == len(items) == len(shas) + 1  # the zip copy
    assert manifest["tool_version"] and manifest["created_at"]
    for entry in manifest["files"]:
        data = (out / entry["name"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    everything = b"".join(p.read_bytes() for p in out.iterdir())
    assert b"\xff\xd8\xff" not in everything  # no JPEG inside
    for hidden in (b"Colin", b"Powell", b".jpg", b"Tony", b"Blair"):
        assert hidden not in everything
    assert not re.search(rb"\bE2\b", everything)

    # file names as they are need show_paths too (a person-scoped report names files neutrally)
    named = ReportOptions(reverify="none", person="E1", include_names=True, show_paths=True)
    hashpack.write_hashpack(collect_case(scanned, named), tmp_path / "named", named)
    assert json.loads((tmp_path / "named" / "manifest.json").read_text())["person_name"] == (
        "Colin Powell"
    )
    assert "3.jpg" in (tmp_path / "named" / "hashes.csv").read_text()


@needs_faces
def test_hash_pack_needs_one_known_person(report: CaseReport, tmp_path: Path) -> None:
    with pytest.raises(hashpack.HashPackError, match="--person"):
        hashpack.write_hashpack(report, tmp_path / "p", OPTIONS)
    with pytest.raises(hashpack.HashPackError, match="no person E9"):
        hashpack.write_hashpack(report, tmp_path / "p", replace(OPTIONS, person="E9"))


def test_low_quality_pdq_stays_out_of_the_pdq_lines() -> None:
    item = _item(sha256="a" * 64, pdq="f" * 64, pdq_quality=20)
    (packed,) = hashpack.packed_images([item], "E1")
    assert not packed.matchable and packed.copies == 1


# -- notices -----------------------------------------------------------------------------------
def notice_cli(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["notice", *map(str, args)])
    return result.exit_code, result.output


def notice_list(case: Path, *args: str) -> dict[str, dict]:
    code, output = notice_cli("list", "--case", case, "--json", *args)
    assert code == 0, output
    return {n["notice_id"]: n for n in json.loads(output)["notices"]}


@needs_faces
def test_notices_one_per_platform_with_the_acts_elements(case: Path, tmp_path: Path) -> None:
    options = ReportOptions(
        reverify="none",
        person="E1",
        urls=("https://www.pics.example/a/1", "https://pics.example/b", "http://host.test/x"),
        contact_name="A. Advocate",
        contact_email="advocate@example.org",
        contact_address="1 Main St",
        signature="A. Advocate",
        show_paths=True,  # the schedule's real locations (by default: neutral identifiers)
    )
    report = collect_case(case, options)
    out = tmp_path / "notices"
    written = notice.write_case_notices(case, report, out, options)
    by_platform = {
        p.name.split("-", 2)[2].removesuffix(".md"): p
        for p in written
        if p.name.startswith("notice-")
    }
    assert sorted(by_platform) == ["host.test", "pics.example"]
    shas = sha_of_locations(case, person_items(case, "E1"))
    first = by_platform["pics.example"].read_text()
    assert "https://www.pics.example/a/1" in first and "https://pics.example/b" in first
    assert "host.test" not in first
    for text in (p.read_text() for p in by_platform.values()):
        assert all(sha in text for sha in shas)
        for element in ("Signature: /s/ A. Advocate", "good faith belief", "without the consent",
                        "advocate@example.org", "1 Main St", "digital forgeries",
                        "48 hours", "TAKE IT DOWN Act", "not legal advice"):  # fmt: skip
            assert element in text, element
        assert not re.search(r"\bE2\b|Tony|Blair", text)

    schedule = list(csv.DictReader((out / "disposal-schedule-E1.csv").open()))
    assert {(r["location"], r["sha256"]) for r in schedule} == {
        (p, s) for p, s in rows(case, "SELECT path, sha256 FROM locations")
        if p in person_items(case, "E1")
    }  # fmt: skip
    assert any("backup.zip!/" in r["location"] for r in schedule)  # every copy

    states = notice_list(case)
    assert sorted(s["platform"] for s in states.values()) == ["host.test", "pics.example"]
    assert all(s["status"] == "pending" and s["person"] == "E1" for s in states.values())
    events = [
        json.loads(p)
        for (p,) in rows(case, "SELECT payload FROM audit_events WHERE action = 'notice_created'")
    ]
    for event in events:
        path = out / event["notice_file"]
        assert event["notice_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert set(event["item_hashes"]) == shas and event["person"] == "E1"


@needs_faces
def test_generic_notice_deadline_and_overdue(case: Path, tmp_path: Path) -> None:
    options = ReportOptions(reverify="none", person="E1")
    notice.write_case_notices(case, collect_case(case, options), tmp_path / "n1", options)
    notice.write_case_notices(case, collect_case(case, options), tmp_path / "n2", options)
    (old, new) = sorted(notice_list(case), key=lambda n: n)  # two generic notices
    generic = next((tmp_path / "n1").glob("notice-*-generic.md")).read_text()
    assert "identified by their hashes" in generic and "[signature: to be filled in]" in generic

    sent_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    code, output = notice_cli("sent", "--case", case, old, "--at", sent_at.isoformat())
    assert code == 0, output
    code, output = notice_cli("sent", "--case", case, new.lower())  # now
    assert code == 0, output
    states = notice_list(case)
    assert states[old]["status"] == "sent" and states[new]["status"] == "sent"
    deadline = datetime.fromisoformat(states[old]["deadline"])
    assert deadline - datetime.fromisoformat(states[old]["sent"]) == timedelta(hours=48)
    assert deadline == sent_at + timedelta(hours=48)
    # the clock, injected: just before and at the deadline
    before = notice_list(case, "--as-of", (deadline - timedelta(seconds=1)).isoformat())
    assert before[old]["status"] == "sent"
    after = notice_list(case, "--as-of", deadline.isoformat())
    assert after[old]["status"] == "overdue" and after[new]["status"] == "overdue"

    assert notice_cli("sent", "--case", case, old)[0] == 2  # already sent
    code, output = notice_cli("sent", "--case", case, "NFFFFFFFF")
    assert code == 2 and "no notice NFFFFFFFF" in output
    assert notice_cli("sent", "--case", case, new, "--at", "yesterday")[0] == 2
    assert CliRunner().invoke(main, ["audit", "verify", "--case", str(case)]).exit_code == 0
    later = (deadline + timedelta(hours=1)).isoformat()
    code, output = notice_cli("list", "--case", case, "--as-of", later)
    assert code == 0 and output.count("overdue") == 2 and old in output, output


@needs_faces
def test_status_follows_the_injected_clock(case: Path, tmp_path: Path) -> None:
    from consentry.store.case import open_case

    options = ReportOptions(reverify="none", person="E1")
    notice.write_case_notices(case, collect_case(case, options), tmp_path / "n", options)
    with open_case(case) as opened:
        (state,) = notice.notice_states(opened.store.audit_events(), datetime.now(UTC))
        sent = datetime.now(UTC) + timedelta(minutes=5)
        deadline = datetime.fromisoformat(notice.mark_sent(opened.store, state.notice_id, sent))
        events = opened.store.audit_events()
    at = {
        when: notice.notice_states(events, when)[0].status
        for when in (sent, deadline - timedelta(seconds=1), deadline, deadline + timedelta(days=9))
    }
    assert list(at.values()) == ["sent", "sent", "overdue", "overdue"]
    assert notice.notice_states(events[:-1], deadline)[0].status == "pending"


@needs_faces
def test_notice_refuses_without_person_or_with_bad_url(report: CaseReport, tmp_path: Path) -> None:
    with pytest.raises(notice.NoticeError, match="--person"):
        notice.create_notices(report, tmp_path, OPTIONS)
    with pytest.raises(notice.NoticeError, match="not a web address"):
        notice.create_notices(report, tmp_path, replace(OPTIONS, person="E1", urls=("ftp:/x",)))


def test_images_labelled_none_are_left_out_of_notices() -> None:
    items = [
        _item(sha256="a" * 64, explicit_label="explicit"),
        _item(sha256="b" * 64, explicit_label="none"),
        _item(sha256="c" * 64, explicit_label=None),  # not analysed: may be intimate
        _item(sha256="d" * 64, explicit_label="explicit", person_codes=("E2",)),
    ]
    chosen, left_out = notice.notice_items(items, "E1")
    assert [i.sha256[0] for i in chosen] == ["a", "c"] and left_out == 1


def test_urls_are_grouped_by_host() -> None:
    groups = notice.group_urls(
        [
            "https://WWW.Site.example/1",
            "https://site.example/2",
            "http://other.example/3",
            "https://site.example/2",
        ]  # fmt: skip
    )
    assert groups == [
        ("site.example", ("https://WWW.Site.example/1", "https://site.example/2")),
        ("other.example", ("http://other.example/3",)),
    ]


def _item(**change: object):  # a hand-built ReportItem for unit tests
    from consentry.reports.collect import ReportItem

    base = dict(
        location="/e/a.jpg", rel_path="a.jpg", source="/e", size=1, mtime=None, sha256="a" * 64,
        md5="b" * 32, sha1="c" * 40, pdq="d" * 64, pdq_quality=100, mime="image/jpeg",
        width=10, height=10, explicit_label="explicit", explicit_score=0.9,
        provenance_verdict=None, person_codes=("E1",), thumbnail=None, thumbnail_blurred=True,
    )  # fmt: skip
    return ReportItem(**{**base, **change})  # type: ignore[arg-type]
