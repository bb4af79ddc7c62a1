"""Traces of creation: the services list, the browser parsers (every supported schema, WAL rows,
hostile bytes), the traces pass end to end on a scanned folder (evidence untouched, problems
recorded, reruns idempotent) and the per-person timeline."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest

from consentry.analyzers.artefacts import browsers
from consentry.analyzers.artefacts.browsers import BrowserDbError, parse_profile_file
from consentry.analyzers.artefacts.services import (
    CATEGORIES,
    ServicesListError,
    load_services,
    load_services_list,
    match_host,
)
from consentry.records.traces import ServiceEntry
from consentry.services.case import CaseRef
from consentry.services.scan import ScanRequest, scan
from consentry.store.traces_store import PROFILE_FILE_NAMES, location_tail
from consentry.traces.trace_pass import download_tail

from .browser_profiles import (
    Download,
    Visit,
    chrome_profile,
    chromium_history,
    firefox_profile,
    safari_downloads_plist,
    safari_profile,
    windows_path,
)
from .synthetic import write_jpeg

NO_MODELS = frozenset({"explicit", "faces", "provenance"})
T0 = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
SERVICE = "clothoff.io"  # an entry of the shipped list (tests only write the name as a string)


def _parse(path: Path):
    wal = Path(str(path) + "-wal")
    return parse_profile_file(
        path.name, path.read_bytes(), wal.read_bytes() if wal.exists() else None, "p", str(path)
    )


# -- the services list ----------------------------------------------------------------------------
def test_shipped_list_is_sourced_dated_and_matches_by_registrable_domain() -> None:
    entries = load_services()
    assert len(entries) >= 4
    assert len({e.id for e in entries}) == len(entries)
    for e in entries:
        assert e.category in CATEGORIES
        dt.date.fromisoformat(e.added)
        assert e.source.strip() and ("http" in e.source or "filed" in e.source)
        assert e.domains and all(d == d.lower() and "/" not in d for d in e.domains)
    assert {e.category for e in entries} >= {"undress", "face_swap"}
    clothoff = match_host("www.clothoff.io", entries)
    assert clothoff is not None and clothoff.id == "clothoff"
    assert match_host("CLOTHOFF.IO.", entries) == clothoff  # case, trailing dot
    assert match_host("app.clothoff.io:8443", entries) == clothoff  # port
    assert match_host("notclothoff.io", entries) is None
    assert match_host("clothoff.io.example.com", entries) is None
    assert match_host("", entries) is None
    info = load_services_list(None)
    assert info.origin == "shipped" and len(info.sha256) == 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("services: [", "not valid UTF-8 YAML"),
        ("- a\n- b\n", "expected a mapping with a 'services' list"),
        (
            "services:\n - {id: x, name: X, domains: ['https://x.example/'], category: undress, "
            "added: 2024-01-01, source: s}\n",
            "entry 1 (x): domain",
        ),
        (
            "services:\n - {id: x, name: X, domains: [x.example], category: undress, "
            "added: 2024-01-01}\n",
            "entry 1 (x): source is missing",
        ),
        (
            "services:\n - {id: x, name: X, domains: [x.example], category: porn, "
            "added: 2024-01-01, source: s}\n",
            "entry 1 (x): category must be one of",
        ),
        (
            "services:\n - {id: x, name: X, domains: [x.example], category: undress, "
            "added: someday, source: s}\n",
            "entry 1 (x): added must be a date",
        ),
        (
            "services:\n - {id: x, name: X, domains: [x.example], category: undress, "
            "added: 2024-01-01, source: s}\n - {id: x, name: Y, domains: [y.example], "
            "category: nudify, added: 2024-01-01, source: s}\n",
            "entry 2 (x): id already used by entry 1",
        ),
    ],
)
def test_broken_services_list_is_one_line_naming_file_and_entry(
    tmp_path: Path, text: str, expected: str
) -> None:
    f = tmp_path / "my-services.yaml"
    f.write_text(text)
    with pytest.raises(ServicesListError) as err:
        load_services(f)
    message = str(err.value)
    assert message.startswith(str(f) + ": ") and expected in message
    assert "\n" not in message


def test_store_and_parser_agree_on_profile_file_names() -> None:
    assert set(PROFILE_FILE_NAMES) == set(browsers.PROFILE_NAMES)


# -- parsers --------------------------------------------------------------------------------------
VISITS = [
    Visit(f"https://www.{SERVICE}/", T0, "home"),
    Visit("https://example.org/news", T0 + dt.timedelta(minutes=1), "news"),
]
DOWNLOAD = Download(
    "https://cdn.example.net/r/1.jpg",
    windows_path("alice", "Downloads", "result.jpg"),
    T0 + dt.timedelta(minutes=3),
    1234,
    tab_url=f"https://{SERVICE}/result",
)


@pytest.mark.parametrize("browser", ["chrome", "edge", "brave"])
def test_chromium_history_visits_and_downloads(tmp_path: Path, browser: str) -> None:
    path = chrome_profile(tmp_path, visits=VISITS, downloads=[DOWNLOAD], browser=browser)
    result = _parse(path)
    assert result.browser == browser and result.schema == "chromium"
    visits = [e.event for e in result.events if e.event.kind == "visit"]
    assert [(v.url, v.at_utc) for v in visits] == [
        (f"https://www.{SERVICE}/", "2024-05-01T10:00:00Z"),
        ("https://example.org/news", "2024-05-01T10:01:00Z"),
    ]
    (dl,) = [e for e in result.events if e.event.kind == "download"]
    assert dl.event.download_path == "C:\\Users\\alice\\Downloads\\result.jpg"
    assert dl.event.at_utc == "2024-05-01T10:03:00Z" and dl.event.download_bytes == 1234
    assert f"https://{SERVICE}/result" in dl.related_urls
    assert dl.event.source_row.startswith("downloads.id=1")


def test_firefox_safari_and_their_wal_rows(tmp_path: Path) -> None:
    ff = firefox_profile(tmp_path, visits=VISITS, downloads=[DOWNLOAD], wal=True)
    sf = safari_profile(tmp_path, visits=VISITS, downloads=[DOWNLOAD], wal=True)
    for path, browser in ((ff, "firefox"), (sf, "safari")):
        assert Path(str(path) + "-wal").stat().st_size > 0
        result = _parse(path)
        assert result.browser == browser
        times = {e.event.url: e.event.at_utc for e in result.events if e.event.kind == "visit"}
        assert times[f"https://www.{SERVICE}/"] == "2024-05-01T10:00:00Z"
        # the rows are only in the -wal file: without it the database is empty
        alone = parse_profile_file(path.name, path.read_bytes(), None, "p", str(path))
        assert alone.events == []
    (parsed,) = [e for e in _parse(ff).events if e.event.kind == "download"]
    assert parsed.related_urls == (f"https://{SERVICE}/result",)  # the from_visit page
    dl = parsed.event
    assert dl.download_path == "C:/Users/alice/Downloads/result.jpg"
    assert dl.at_utc == "2024-05-01T10:03:00Z" and dl.download_bytes == 1234
    plist = sf.parent / "Downloads.plist"
    (sdl,) = _parse(plist).events
    assert sdl.event.url == DOWNLOAD.url and sdl.event.at_utc == "2024-05-01T10:03:00Z"
    xml = safari_downloads_plist(tmp_path / "x" / "Downloads.plist", [DOWNLOAD], binary=False)
    assert [e.event.url for e in _parse(xml).events] == [DOWNLOAD.url]


def _hostile(tmp_path: Path) -> dict[str, bytes]:
    good = chromium_history(tmp_path / "good" / "History", VISITS * 50, [DOWNLOAD]).read_bytes()
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    view = tmp_path / "view.sqlite"
    with sqlite3.connect(view) as con:  # a view named like Chrome's tables, calling a function
        con.executescript(
            "CREATE TABLE t(x); CREATE VIEW urls AS SELECT 1 AS id, load_extension('x') AS url, "
            "'' AS title, 0 AS last_visit_time; CREATE VIEW visits AS SELECT 1 AS id, 1 AS url, "
            "0 AS visit_time;"
        )
    rng = random.Random(7)
    return {
        "random": bytes(rng.randrange(256) for _ in range(8192)),
        "random_with_header": b"SQLite format 3\x00"
        + bytes(rng.randrange(256) for _ in range(8176)),
        "empty": b"",
        "truncated": good[: len(good) // 3],
        "header_only": good[:100],
        "corrupt_pages": good[:4096] + bytes(rng.randrange(256) for _ in range(len(good) - 4096)),
        "wrong_schema": other.read_bytes(),
        "hostile_view": view.read_bytes(),
    }


def test_hostile_databases_are_one_line_errors_never_crashes(tmp_path: Path) -> None:
    for label, data in _hostile(tmp_path).items():
        try:
            result = parse_profile_file("History", data, None, "p", "Google/Chrome/History")
        except BrowserDbError as exc:
            assert "\n" not in str(exc), label
        else:  # a cut file may still hold whole pages: then what it holds parses
            assert label in {"truncated", "corrupt_pages"}, label
            assert all(e.event.kind in {"visit", "download"} for e in result.events)
        # a random -wal beside a good database is ignored by SQLite or refused, never a crash
    good = tmp_path / "good" / "History"
    with contextlib.suppress(BrowserDbError):
        parse_profile_file("History", good.read_bytes(), os.urandom(5000), "p", "x")
    with pytest.raises(BrowserDbError):
        parse_profile_file("Downloads.plist", b"bplist00garbage", None, "p", "x")
    with pytest.raises(BrowserDbError):
        parse_profile_file("Downloads.plist", b"<plist><dict/></plist>", None, "p", "x")


def test_time_conversions() -> None:
    assert browsers.webkit_time(13_359_031_200_000_000) == "2024-05-01T10:00:00Z"
    assert browsers.prtime(1_714_557_600_000_000) == "2024-05-01T10:00:00Z"
    assert browsers.mac_time(736_250_400.0) == "2024-05-01T10:00:00Z"
    assert browsers.webkit_time(0) is None and browsers.prtime(-5) is None
    assert browsers.webkit_time("x") is None and browsers.mac_time(1e30) is None


def test_download_paths_and_case_paths_normalise_alike() -> None:
    assert download_tail("C:\\Users\\alice\\Downloads\\a.jpg") == (
        "Users", "alice", "Downloads", "a.jpg",
    )  # fmt: skip
    assert download_tail("file:///C:/Users/alice/My%20Pics/a.jpg") == (
        "Users", "alice", "My Pics", "a.jpg",
    )  # fmt: skip
    assert download_tail("~/Downloads/a.jpg") == ("Downloads", "a.jpg")
    assert location_tail("x", ["\x01p2/Users/alice/Downloads/a.jpg"]) == (
        "Users", "alice", "Downloads", "a.jpg",
    )  # fmt: skip
    assert location_tail("profile/Downloads/a.jpg", []) == ("profile", "Downloads", "a.jpg")
    assert location_tail("a.zip", ["alice/Downloads/a.jpg"]) == ("alice", "Downloads", "a.jpg")


# -- the pass on a scanned folder ---------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _evidence(root: Path) -> dict[str, Path]:
    """A laptop's user folder: a photo, the 'result' downloaded from a listed service's page
    (a harmless picture), a copy of it filed under a folder named after the person, and the
    profiles of four browsers, one of them still in WAL, plus three broken databases."""
    photo = write_jpeg(root / "Users/alice/Pictures/holiday.jpg", seed=11)
    fake = write_jpeg(root / "Users/alice/Downloads/result.jpg", seed=12)
    filed = root / "Users/alice/Documents/Jane_Doe/result.jpg"
    filed.parent.mkdir(parents=True)
    filed.write_bytes(fake.read_bytes())
    size = fake.stat().st_size
    for path, when in ((photo, T0 - dt.timedelta(days=3)), (fake, T0 + dt.timedelta(minutes=3)),
                       (filed, T0 + dt.timedelta(hours=2))):  # fmt: skip
        os.utime(path, (when.timestamp(), when.timestamp()))
    download = Download(
        "https://cdn.example.net/r/1.jpg",
        windows_path("alice", "Downloads", "result.jpg"),
        T0 + dt.timedelta(minutes=3),
        size,
        tab_url=f"https://{SERVICE}/result",
    )
    visits = [
        Visit(f"https://{SERVICE}/", T0, "home"),
        Visit(f"https://{SERVICE}/upload", T0 + dt.timedelta(minutes=1), "upload"),
        Visit("https://example.org/", T0 + dt.timedelta(minutes=2), "other site"),
    ]
    out = {
        "photo": photo,
        "fake": fake,
        "filed": filed,
        "chrome": chrome_profile(root, "alice", visits, [download], wal=True),
        "edge": chrome_profile(root, "alice", visits[2:], browser="edge"),
        "firefox": firefox_profile(root, "alice", [Visit(f"https://app.{SERVICE}/x", T0)]),
        "safari": safari_profile(root, "alice", visits[:1], [download], wal=True),
    }
    broken = root / "Users/bob/AppData/Local/Google/Chrome/User Data/Default/History"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(os.urandom(4096))
    out["broken"] = broken
    cut = root / "Users/carol/AppData/Roaming/Mozilla/Firefox/Profiles/a.default/places.sqlite"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(out["firefox"].read_bytes()[:1500])
    out["cut"] = cut
    other = root / "Users/dave/Library/Safari/History.db"
    other.parent.mkdir(parents=True)
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    out["other"] = other
    (root / "notes").mkdir()
    (root / "notes/History").write_text("a text file about history, not a database\n")
    return out


def _scan(case: CaseRef, evidence: Path, services: Path | None = None) -> None:
    scan(
        ScanRequest(
            case, (str(evidence),), examiner="A. Examiner", workers=1, skip=NO_MODELS,
            link=False, services_file=str(services) if services else None,
        )
    )  # fmt: skip


def _rows(case: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def scanned(tmp_path: Path) -> tuple[CaseRef, Path, dict[str, Path], dict[Path, str]]:
    evidence = tmp_path / "evidence"
    files = _evidence(evidence)
    before = {p: _digest(p) for p in evidence.rglob("*") if p.is_file()}
    ref = CaseRef(tmp_path / "case")
    _scan(ref, evidence)
    return ref, evidence, files, before


def test_pass_finds_service_visits_and_the_download_in_the_case(scanned) -> None:
    ref, evidence, files, before = scanned
    after = {p: _digest(p) for p in evidence.rglob("*") if p.is_file()}
    assert after == before  # every database, -wal included, byte-identical; no -shm left
    assert not list(evidence.rglob("*-shm")) and not list(evidence.rglob("*-journal"))
    rows = _rows(
        ref.path,
        "SELECT t.browser, t.kind, t.host, t.service_id, t.at_utc, l.path, t.match_reason "
        "FROM creation_traces t LEFT JOIN locations l ON l.id = t.matched_location_id "
        "ORDER BY t.browser, t.kind, t.at_utc",
    )
    fake = str(files["fake"])
    assert rows == [
        ("chrome", "download", "cdn.example.net", "clothoff", "2024-05-01T10:03:00Z", fake, "path"),
        ("chrome", "visit", SERVICE, "clothoff", "2024-05-01T10:00:00Z", None, None),
        ("chrome", "visit", SERVICE, "clothoff", "2024-05-01T10:01:00Z", None, None),
        ("firefox", "visit", f"app.{SERVICE}", "clothoff", "2024-05-01T10:00:00Z", None, None),
        ("safari", "download", "cdn.example.net", None, "2024-05-01T10:03:00Z", fake, "path"),
        ("safari", "visit", SERVICE, "clothoff", "2024-05-01T10:00:00Z", None, None),
    ]  # example.org is in the histories and is not stored; the Safari plist has no tab URL
    assert _rows(
        ref.path, "SELECT count(*) FROM creation_traces WHERE local_offset_min IS NOT NULL"
    ) == [(0,)]
    problems = dict(
        _rows(
            ref.path,
            "SELECT l.path, p.message FROM location_problems p JOIN locations l "
            "ON l.id = p.location_id WHERE p.code = 'browser_db_unreadable'",
        )
    )
    assert set(problems) == {str(files["broken"]), str(files["cut"]), str(files["other"])}
    assert "not an SQLite database" in problems[str(files["broken"])]
    assert "not a browser history database" in problems[str(files["other"])]
    (payload,) = _rows(ref.path, "SELECT payload FROM audit_events WHERE action = 'traces_found'")
    event = json.loads(payload[0])
    assert event["services"]["source"] == "shipped" and len(event["services"]["sha256"]) == 64
    assert event["databases_unreadable"] == 3 and event["traces"] == 6
    assert event["by_browser"] == {"chrome": 1, "edge": 1, "firefox": 1, "safari": 2}
    assert event["downloads_in_case"] == 2


def test_rerun_adds_no_duplicates_and_a_new_list_replaces_the_matches(scanned, tmp_path) -> None:
    ref, evidence, files, _ = scanned
    first = _rows(ref.path, "SELECT id, trace_key FROM creation_traces ORDER BY id")
    _scan(ref, evidence)
    assert _rows(ref.path, "SELECT id, trace_key FROM creation_traces ORDER BY id") == first
    assert _rows(ref.path, "SELECT count(*) FROM location_problems WHERE code = "
                           "'browser_db_unreadable'") == [(3,)]  # fmt: skip
    assert _rows(ref.path, "SELECT count(*) FROM audit_events WHERE action = 'traces_found'") == [
        (1,)
    ]  # nothing changed: no second event
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "services:\n - {id: example, name: Example generator, domains: [example.org], "
        "category: generator, added: 2026-12-01, source: test entry}\n"
    )
    _scan(ref, evidence, mine)
    rows = _rows(ref.path, "SELECT browser, kind, service_id FROM creation_traces ORDER BY id")
    assert sorted(rows) == sorted(
        [("chrome", "download", None), ("safari", "download", None),
         ("chrome", "visit", "example"), ("edge", "visit", "example")]
    )  # fmt: skip
    last = json.loads(
        _rows(
            ref.path,
            "SELECT payload FROM audit_events WHERE action = 'traces_found' "
            "ORDER BY seq DESC LIMIT 1",
        )[0][0]  # fmt: skip
    )
    assert last["services"] == {
        "source": "file", "path": str(mine), "entries": 1,
        "sha256": hashlib.sha256(mine.read_bytes()).hexdigest(),
    }  # fmt: skip


def test_download_matched_by_hash_and_by_name_and_size(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    pic = write_jpeg(evidence / "elsewhere/renamed.jpg", seed=21)
    other = write_jpeg(evidence / "kept/photo.jpg", seed=22)
    sha = hashlib.sha256(pic.read_bytes()).digest()
    chrome_profile(
        evidence,
        downloads=[
            Download("https://x.example/1", windows_path("bob", "Downloads", "gone.jpg"), T0,
                     10, sha256=sha),
            Download("https://x.example/2", "D:\\stick\\photo.jpg", T0, other.stat().st_size),
            Download("https://x.example/3", "D:\\stick\\nothing.jpg", T0, 99),
        ],
    )  # fmt: skip
    ref = CaseRef(tmp_path / "case")
    _scan(ref, evidence)
    rows = _rows(
        ref.path,
        "SELECT t.url, l.path, t.match_reason FROM creation_traces t JOIN locations l "
        "ON l.id = t.matched_location_id ORDER BY t.url",
    )
    assert rows == [
        ("https://x.example/1", str(pic), "hash"),
        ("https://x.example/2", str(other), "name_size"),
    ]


# -- the timeline ---------------------------------------------------------------------------------
def _person_with_face(case: Path, sha: str, code: str, name: str) -> None:
    with sqlite3.connect(case / "case.sqlite") as db:
        cur = db.execute(
            "INSERT INTO persons(code, kind, name, status, created_at) "
            "VALUES (?, 'enrolled', ?, 'active', '2026-12-02T00:00:00Z')",
            (code, name),
        )
        db.execute(
            "INSERT INTO faces(sha256, face_index, box_x, box_y, box_w, box_h, analysis_side, "
            "landmarks, detector_score, size_px, frontalness, usable, flags) "
            "VALUES (?, 0, 0, 0, 10, 10, 100, '[]', 0.9, 40, 1, 1, '')",
            (sha,),
        )
        db.execute(
            "INSERT INTO face_matches(sha256, face_index, person_id, level, similarity) "
            "VALUES (?, 0, ?, 'match', 0.9)",
            (sha, cur.lastrowid),
        )


def test_person_timeline_observed_steps_apart_from_inferred(scanned) -> None:
    from consentry.store.case import open_case
    from consentry.store.links_store import LinkRecord, LinksStore
    from consentry.traces.timeline import person_files, person_timelines

    ref, _, files, _ = scanned
    photo_sha, fake_sha = (_digest(files[k]) for k in ("photo", "fake"))
    _person_with_face(ref.path, photo_sha, "E1", "Jane Doe")
    with open_case(ref.path) as case:
        LinksStore(case.store.engine).replace_links(
            [LinkRecord(fake_sha, photo_sha, "1", "{}", 0.4, "[]", False, "{}", 0.8, "{}")], "s"
        )
        timelines = person_timelines(case.store)
        scope = person_files(case.store, ["E1"])
    events = timelines["E1"]
    steps = [(e.step, e.observed) for e in events]
    # the photo saved days before, then the visits, the download, then the copy in Jane_Doe/
    assert steps[0] == ("source_saved", True)
    order = [s for s, _ in steps]
    assert order.index("service_visited") < order.index("fake_downloaded")
    assert order.index("fake_downloaded") < order.index("moved_to_person_folder")
    inferred = {s for s, observed in steps if not observed}
    assert inferred == {"made_with_service", "derived_from", "moved_to_person_folder"}
    assert all(e.observed for e in events if e.step in {"service_visited", "fake_downloaded"})
    moved = next(e for e in events if e.step == "moved_to_person_folder")
    assert "Jane_Doe" in moved.what and moved.at_utc == "2024-05-01T12:00:00Z"
    visits = [e for e in events if e.step == "service_visited"]
    assert {e.at_utc for e in visits} == {"2024-05-01T10:00:00Z", "2024-05-01T10:01:00Z"}
    # the Firefox visit is not joined: no download of E1's files came from that profile
    assert all("firefox" not in e.what for e in visits)
    assert {t.record.event.kind for t in scope["E1"].traces} == {"visit", "download"}
    assert {t.record.event.browser for t in scope["E1"].traces} == {"chrome", "safari"}
    from consentry.services.traces import list_traces

    downloads = [t for t in list_traces(ref).traces if t.kind == "download"]
    assert [(t.source_sha256, t.source_paths) for t in downloads] == [
        (photo_sha, (str(files["photo"]),))
    ] * 2  # each downloaded fake joined to the photo it was made from


def test_person_without_joined_files_sees_no_trace(scanned) -> None:
    from consentry.store.case import open_case
    from consentry.traces.timeline import person_files, person_timelines

    ref, _, files, _ = scanned
    _person_with_face(ref.path, _digest(files["photo"]), "E1", "Jane Doe")  # no derivation link
    with open_case(ref.path) as case:
        scope = person_files(case.store)
        timelines = person_timelines(case.store, ["E1"])
    assert scope["E1"].traces == ()
    assert timelines["E1"] == []  # a face alone joins no browser row and no download


def test_service_entry_record_is_what_match_returns() -> None:
    entry = ServiceEntry("a", "A", ("a.example",), "nudify", "2026-01-01", "test")
    assert match_host("x.a.example", [entry]) is entry


def test_profile_inside_a_disk_image(tmp_path: Path) -> None:
    """A Chrome profile on an ext4 image (its -wal beside it): read through the image, the
    download matched to the picture on the image's volume by its path."""
    from .disk_images import ext4_image

    staging = tmp_path / "staging"
    pic = write_jpeg(staging / "Users/alice/Downloads/result.jpg", seed=31)
    history = chrome_profile(
        staging,
        visits=VISITS,
        downloads=[
            Download(DOWNLOAD.url, windows_path("alice", "Downloads", "result.jpg"),
                     DOWNLOAD.at, pic.stat().st_size, tab_url=DOWNLOAD.tab_url)
        ],
        wal=True,
    )  # fmt: skip
    files = {
        str(p.relative_to(staging)): p.read_bytes()
        for p in (pic, history, Path(str(history) + "-wal"))
    }
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    image = ext4_image(evidence / "laptop.img", files)
    digest = _digest(image)
    ref = CaseRef(tmp_path / "case")
    _scan(ref, image)  # a disk image named as the source
    rows = _rows(
        ref.path,
        "SELECT t.kind, t.service_id, d.path, l.path, t.match_reason FROM creation_traces t "
        "JOIN locations d ON d.id = t.db_location_id "
        "LEFT JOIN locations l ON l.id = t.matched_location_id ORDER BY t.kind, t.at_utc",
    )
    db = f"{image}!p0/Users/alice/AppData/Local/Google/Chrome/User Data/Default/History"
    assert rows == [
        ("download", "clothoff", db, f"{image}!p0/Users/alice/Downloads/result.jpg", "path"),
        ("visit", "clothoff", db, None, None),
    ]
    assert _digest(image) == digest


def test_local_offset_given_by_the_examiner_and_a_recovered_duplicate(tmp_path: Path) -> None:
    from consentry.services.case import ServiceError
    from consentry.services.traces import (
        TracesRequest,
        list_traces,
        local_time,
        parse_offset,
        update_traces,
    )
    from consentry.store.traces_store import profile_name

    assert parse_offset("+02:00") == 120 and parse_offset("-0530") == -330
    assert parse_offset("UTC") == 0 and parse_offset("none") is None
    with pytest.raises(ServiceError):
        parse_offset("2 hours")
    assert local_time("2024-05-01T10:00:00Z", 120) == "2024-05-01T12:00:00+02:00"
    assert local_time("2024-05-01T10:00:00Z", None) is None
    assert profile_name("img.E01!p2/Users/a/History (duplicate 2)") == "History"

    evidence = tmp_path / "evidence"
    chrome_profile(evidence, visits=VISITS)
    ref = CaseRef(tmp_path / "case")
    _scan(ref, evidence)
    assert [t.at_local for t in list_traces(ref).traces] == [None]
    result = update_traces(TracesRequest(ref, local_offset="+02:00"))
    assert [(t.at_utc, t.local_offset_min, t.at_local) for t in result.traces] == [
        ("2024-05-01T10:00:00Z", 120, "2024-05-01T12:00:00+02:00")
    ]
    _scan(ref, evidence)  # a later scan keeps the examiner's offset
    assert [t.local_offset_min for t in list_traces(ref).traces] == [120]
    last = json.loads(
        _rows(
            ref.path,
            "SELECT payload FROM audit_events WHERE action = 'traces_found' "
            "ORDER BY seq DESC LIMIT 1",
        )[0][0]  # fmt: skip
    )
    assert last["local_offset_min"] == 120
    cleared = update_traces(TracesRequest(ref, local_offset="none"))
    assert [t.local_offset_min for t in cleared.traces] == [None]


def test_values_no_browser_writes_are_refused_or_skipped(tmp_path: Path) -> None:
    path = firefox_profile(tmp_path, visits=VISITS, downloads=[DOWNLOAD], wal=False)
    with sqlite3.connect(path) as con:  # an infinite size, text times, a blob URL
        con.execute("UPDATE moz_annos SET content = '{\"fileSize\": Infinity, \"endTime\": 1e400}'"
                    " WHERE anno_attribute_id = 2")  # fmt: skip
        con.execute("UPDATE moz_historyvisits SET visit_date = 'yesterday'")
        con.execute("UPDATE moz_places SET url = x'00ff' WHERE id = 2")
    result = _parse(path)
    (dl,) = [e.event for e in result.events if e.event.kind == "download"]
    assert dl.download_bytes is None and dl.at_utc == "2024-05-01T10:03:00Z"  # dateAdded
    assert all(e.event.at_utc is None for e in result.events if e.event.kind == "visit")
