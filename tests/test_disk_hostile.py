"""Hostile disk images (tests/disk_hostile.py): none stops a scan, each becomes a recorded
problem with a stable code, the evidence is byte-identical afterwards, and a second scan adds
no location.

All the images are named as sources of one ``consentry scan`` (a subprocess with a timeout, so
that a hang fails instead of blocking the suite), scanned twice into the same case. When that
scan fails, each image is scanned alone so that the test of the image that stops it fails and
the others still say what they record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from consentry.records.disk import DiskImageInfo
from consentry.records.locations import is_disk_element, split_disk_element
from consentry.store.database import open_engine, sqlite_url
from consentry.store.disk_store import disk_images

from .conftest import RunCli
from .disk_hostile import BUILDERS, A, B, Hostile

NO_ANALYZERS = ("--skip", "explicit,faces,provenance", "--no-links")
BAD = {"internal_error", "worker_lost", "item_timeout"}  # a bug met, not a handled image
SCAN_TIMEOUT = 120
ALONE_TIMEOUT = 30  # an image scanned in a case of its own (one that may hang a scan)


@dataclass
class Loc:
    id: int
    source: str
    path: str
    chain: list[str]
    sha256: str | None
    deleted: bool | None
    recovery: str | None
    codes: dict[str, str] = field(default_factory=dict)  # code -> severity

    @property
    def place(self) -> tuple[str, str] | None:
        """(volume, path) of a location inside an image, path without the leading "/"."""
        if not self.chain or not is_disk_element(self.chain[0]):
            return None
        volume, path, _occurrence = split_disk_element(self.chain[0])
        return volume, path.lstrip("/")


@dataclass
class Scanned:
    rc: int
    output: str
    locations: list[Loc]
    keys: set[str]
    problem_rows: int
    json: dict[str, object] | None


@dataclass
class Corpus:
    cases: dict[str, Hostile]
    skipped: dict[str, str]
    before: dict[str, dict[Path, str]]
    after: dict[str, dict[Path, str]]
    runs: dict[str, _Run]  # by case name (one run holds every case scanned together)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_case(case: Path) -> tuple[list[Loc], set[str], int]:
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        sources = dict(db.execute("SELECT id, path FROM sources"))
        locs: dict[int, Loc] = {}
        keys = set()
        for lid, sid, path, chain, sha, deleted, recovery, key in db.execute(
            "SELECT id, source_id, path, member_chain, sha256, deleted, recovery, path_key "
            "FROM locations"
        ):
            locs[lid] = Loc(lid, sources[sid], path, json.loads(chain), sha, deleted, recovery)
            keys.add(key)
        rows = 0
        for lid, code, severity in db.execute(
            "SELECT location_id, code, severity FROM location_problems"
        ):
            locs[lid].codes[code] = severity
            rows += 1
        by_sha: dict[str, dict[str, str]] = {}
        for sha, code, severity in db.execute(
            "SELECT sha256, code, severity FROM content_problems"
        ):
            by_sha.setdefault(sha, {})[code] = severity
            rows += 1
        for loc in locs.values():
            if loc.sha256:
                loc.codes.update(by_sha.get(loc.sha256, {}))
    return list(locs.values()), keys, rows


def _scan(run_cli: RunCli, sources: list[Path], case: Path, timeout: float) -> Scanned:
    args = ["scan", *sources, "--case", case, "--workers", "2", "-q", "--json", *NO_ANALYZERS]
    try:
        proc = run_cli(*args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Scanned(-1, f"timed out after {timeout} s", [], set(), 0, None)
    parsed = None
    with contextlib.suppress(ValueError):
        parsed = json.loads(proc.stdout)
    locs, keys, rows = _read_case(case) if (case / "case.sqlite").exists() else ([], set(), 0)
    return Scanned(proc.returncode, proc.stdout + proc.stderr, locs, keys, rows, parsed)


@dataclass
class _Run:
    first: Scanned
    second: Scanned
    disk_images: dict[str, DiskImageInfo]
    audit: list[tuple[str, dict[str, object]]]


def _scan_twice(run_cli: RunCli, cases: list[Hostile], case_dir: Path, timeout: float) -> _Run:
    sources = [c.source for c in cases]
    first = _scan(run_cli, sources, case_dir, timeout)
    second = _scan(run_cli, sources, case_dir, timeout) if first.rc == 0 else first
    images: dict[str, DiskImageInfo] = {}
    audit: list[tuple[str, dict[str, object]]] = []
    if (case_dir / "case.sqlite").exists():
        engine = open_engine(sqlite_url(case_dir / "case.sqlite"))
        try:
            images = {info.path: info for info in disk_images(engine)}
        finally:
            engine.dispose()
        with contextlib.closing(sqlite3.connect(case_dir / "case.sqlite")) as db:
            for action, payload in db.execute("SELECT action, payload FROM audit_events"):
                audit.append((action, json.loads(payload)))
    return _Run(first, second, images, audit)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, run_cli: RunCli) -> Corpus:
    root = tmp_path_factory.mktemp("hostile-disks")
    cases: dict[str, Hostile] = {}
    skipped: dict[str, str] = {}
    for builder in BUILDERS:
        folder = root / builder.__name__
        folder.mkdir()
        try:
            cases[builder.__name__] = builder(folder)
        except pytest.skip.Exception as exc:
            skipped[builder.__name__] = str(exc)
    before = {n: {p: _sha256(p) for p in c.evidence} for n, c in cases.items()}
    runs: dict[str, _Run] = {}
    together = [n for n, c in cases.items() if not c.alone]
    run = _scan_twice(run_cli, [cases[n] for n in together], root / "case", SCAN_TIMEOUT)
    if run.first.rc == 0:
        runs.update(dict.fromkeys(together, run))
    else:  # find which image stops it: each alone, into a case of its own
        for n in together:
            runs[n] = _scan_twice(run_cli, [cases[n]], root / f"case-{n}", ALONE_TIMEOUT)
    for n, c in cases.items():
        if c.alone:
            runs[n] = _scan_twice(run_cli, [c], root / f"case-{n}", ALONE_TIMEOUT)
    after = {n: {p: _sha256(p) for p in c.evidence} for n, c in cases.items()}
    return Corpus(cases, skipped, before, after, runs)


NAMES = [b.__name__ for b in BUILDERS]

# Bugs of the disk part's code (media/disk.py) these images show, not fixed at 20:05 UTC on
# 2026-12-02 (helper H5's report): each test below fails until it is fixed, then passes and
# its strict xfail turns red so that the mark is removed.
_SHORT_READ = (
    "disk._TskStream: a live file whose read stops before its declared size is silently cut "
    "short (no unreadable problem)"
)
KNOWN: dict[tuple[str, str], str] = {
    ("code", "huge_declared_size"): "a 1 TiB declared ext4 inode is hashed to its end (pytsk3 "
    "gives zeros): the scan hangs (item_timeout after 300+300 s at best)",
    ("read", "huge_declared_size"): "same: the scan hangs on the 1 TiB inode",
    ("again", "huge_declared_size"): "same: the scan hangs on the 1 TiB inode",
    ("code", "fat_cyclic_chain"): _SHORT_READ + ": cyc.bin (20,000 bytes) recorded as empty",
    ("code", "fat_short_chain"): _SHORT_READ + ": big.jpg (8 MiB) recorded as 2,048 bytes",
    ("read", "fat_short_chain"): _SHORT_READ + ": big.jpg (8 MiB) recorded as 2,048 bytes",
    ("code", "fat_directory_loop"): "a directory that is its own child is walked one level "
    "more and not reported",
    ("code", "random_e01"): "random bytes named .E01 become a plain file with no problem",
    ("code", "odd_names"): "names in images that are not UTF-8 get no non_utf8_name",
    ("code", "names_that_escape_alike"): "names in images that are not UTF-8 get no non_utf8_name",
}


def _params(test: str) -> list[object]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN[(test, n)]))
        if (test, n) in KNOWN
        else n
        for n in NAMES
    ]


def _case(corpus: Corpus, name: str) -> Hostile:
    if name in corpus.skipped:
        pytest.skip(corpus.skipped[name])
    return corpus.cases[name]


def _of(scanned: Scanned, hostile: Hostile) -> list[Loc]:
    """The locations of this image (its source's, whatever the case holds besides)."""
    source = os.path.abspath(hostile.source)
    return [loc for loc in scanned.locations if loc.source == source]


def _matches(loc: Loc, key: str) -> bool:
    """Whether ``loc`` is the file ``key`` ("p1/a.jpg") of its image; a name that is not UTF-8
    may be kept with surrogate escapes or with \\xNN escapes."""
    place = loc.place
    if place is None:
        return False
    got = "/".join(place)
    shown = key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return got in (key, shown)


def _where(locs: list[Loc], hostile: Hostile) -> list[Loc]:
    if hostile.where is None:
        return locs
    if hostile.where == "":
        return [loc for loc in locs if not loc.chain]
    return [loc for loc in locs if loc.place in ((hostile.where, ""),)]


@pytest.mark.parametrize("name", _params("code"))
def test_scan_completes_and_records_the_code(corpus: Corpus, name: str) -> None:
    hostile = _case(corpus, name)
    scanned = corpus.runs[name].first
    assert scanned.rc == 0, f"{hostile.name}: the scan stopped:\n{scanned.output[-3000:]}"
    locs = _of(scanned, hostile)
    assert locs, f"{hostile.name}: nothing recorded for {hostile.source}"
    held = _where(locs, hostile)
    found = {code for loc in held for code in loc.codes}
    everything = {loc.path: sorted(loc.codes) for loc in locs if loc.codes}
    assert found & hostile.codes, (
        f"{hostile.name}: expected one of {sorted(hostile.codes)} "
        f"{'anywhere' if hostile.where is None else repr(hostile.where)}; recorded: {everything}"
    )
    bad = {loc.path: sorted(set(loc.codes) & BAD) for loc in locs if set(loc.codes) & BAD}
    assert not bad, f"{hostile.name}: a bug was met, not a problem handled: {bad}"


@pytest.mark.parametrize("name", _params("read"))
def test_what_is_still_there_is_read_and_what_is_not_is_said(corpus: Corpus, name: str) -> None:
    hostile = _case(corpus, name)
    if not hostile.intact and not hostile.broken:
        pytest.skip(f"{hostile.name}: no file of it is expected either way")
    scanned = corpus.runs[name].first
    assert scanned.rc == 0, scanned.output[-2000:]
    locs = _of(scanned, hostile)
    listed = sorted("/".join(p) for loc in locs if (p := loc.place))
    for key, data in hostile.intact.items():
        hits = [loc for loc in locs if _matches(loc, key)]
        assert hits, f"{hostile.name}: {key} not found; listed: {listed}"
        want = hashlib.sha256(data).hexdigest()
        assert [loc.sha256 for loc in hits] == [want], f"{hostile.name}: {key} read wrongly"
    for key in hostile.broken:
        for loc in (loc for loc in locs if _matches(loc, key)):
            errors = [c for c, severity in loc.codes.items() if severity == "error"]
            assert errors, (
                f"{hostile.name}: {key} is listed as read ({loc.sha256}) but its bytes are not "
                f"in the image; codes: {loc.codes}"
            )


@pytest.mark.parametrize("name", _params("evidence"))
def test_evidence_is_byte_identical_after_two_scans(corpus: Corpus, name: str) -> None:
    _case(corpus, name)
    assert corpus.after[name] == corpus.before[name]


@pytest.mark.parametrize("name", _params("again"))
def test_second_scan_adds_no_location(corpus: Corpus, name: str) -> None:
    hostile = _case(corpus, name)
    first, second = corpus.runs[name].first, corpus.runs[name].second
    assert first.rc == 0, first.output[-2000:]
    assert second.rc == 0, f"{hostile.name}: the second scan stopped:\n{second.output[-2000:]}"
    assert second.json is not None and second.json["new_locations"] == 0, second.output[-2000:]
    assert second.keys == first.keys
    assert second.problem_rows == first.problem_rows
    places = [(loc.path, tuple(loc.chain)) for loc in _of(second, hostile)]
    assert len(places) == len(set(places)), f"{hostile.name}: a location is listed twice"


def test_a_flipped_byte_is_a_hash_mismatch_and_an_audit_event(corpus: Corpus) -> None:
    hostile = _case(corpus, "e01_flipped_byte")
    run = corpus.runs["e01_flipped_byte"]
    row = run.disk_images.get(os.path.abspath(hostile.source))
    assert row is not None, f"no disk_images row for it: {sorted(run.disk_images)}"
    assert row.verification == "mismatch", row
    assert row.stored_md5 and row.computed_md5 and row.stored_md5 != row.computed_md5, row
    events = [p for e, p in run.audit if e == "disk_image_verified"]
    assert any(p.get("verification") == "mismatch" for p in events), events


def test_images_that_do_not_verify_are_never_shown_verified(corpus: Corpus) -> None:
    for name in ("e01_missing_segment", "e01_truncated", "random_e01"):
        if name in corpus.skipped:
            continue
        run = corpus.runs[name]
        row = run.disk_images.get(os.path.abspath(corpus.cases[name].source))
        if row is not None:
            assert row.verification != "verified", (name, row)


def test_a_reused_deleted_file_is_not_passed_off_as_recovered(corpus: Corpus) -> None:
    hostile = _case(corpus, "deleted_reused")
    scanned = corpus.runs["deleted_reused"].first
    assert scanned.rc == 0, scanned.output[-2000:]
    deleted = [loc for loc in _of(scanned, hostile) if loc.deleted]
    assert deleted, "the deleted entry old/?.bin is not listed"
    for loc in deleted:
        assert loc.recovery in ("partial", "unrecoverable"), (loc.path, loc.recovery, loc.codes)
        assert {"deleted_partial", "deleted_unrecoverable"} & set(loc.codes), loc.codes


def test_every_builder_ran_or_says_why(corpus: Corpus) -> None:
    assert set(corpus.cases) | set(corpus.skipped) == set(NAMES)
    for name, why in corpus.skipped.items():
        assert "needs" in why, (name, why)


def _iter_paths(corpus: Corpus) -> Iterator[str]:
    for scanned in {id(r.first): r.first for r in corpus.runs.values()}.values():
        for loc in scanned.locations:
            yield loc.path


def test_odd_names_are_shown_escaped(corpus: Corpus) -> None:
    hostile = _case(corpus, "odd_names")
    shown = [p for p in _iter_paths(corpus) if p.startswith(os.path.abspath(hostile.source))]
    assert any("caf\\xe9.jpg" in p for p in shown), shown


def test_names_that_escape_alike_stay_two_files(corpus: Corpus) -> None:
    hostile = _case(corpus, "names_that_escape_alike")
    scanned = corpus.runs["names_that_escape_alike"].first
    assert scanned.rc == 0, scanned.output[-2000:]
    files = [loc for loc in _of(scanned, hostile) if (p := loc.place) and p[1].startswith("n/")]
    want = {hashlib.sha256(d).hexdigest() for d in (A, B)}
    assert {loc.sha256 for loc in files} == want, [(loc.chain, loc.sha256) for loc in files]
    assert len(files) == 2, [loc.chain for loc in files]
