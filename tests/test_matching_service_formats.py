"""Imports and exports of the matching service (issue 15 part 2, formats.py): a real
``consentry report --format hashpack`` folder (written by ``reports.hashpack.write_hashpack``
from a stand-in report), pytx ``pdq <hex>`` lines, CSV; bad lines skipped and listed, an edited
pack refused, exports read back."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from consentry.reports.hashpack import write_hashpack
from consentry.services.matching.formats import hashpack_bytes, parse_import, sniff
from consentry.services.matching.service import MatchingService, open_service
from consentry.services.matching.types import Caller, MatchErrorCode, MatchServiceError
from consentry.services.matching.validate import parse_signal

OP = Caller.local()
RNG = np.random.default_rng(7)


def rand_hex(n_bytes: int) -> str:
    return RNG.integers(0, 256, n_bytes, dtype=np.uint8).tobytes().hex()


@pytest.fixture
def svc(tmp_path: Path) -> MatchingService:
    s = open_service(tmp_path / "home", start_sync=False)
    s.create_bank(OP, "CASE")
    yield s  # type: ignore[misc]
    s.close()


def make_hashpack(folder: Path) -> list[SimpleNamespace]:
    """A hashpack written by the report writer itself, for person P1 of a stand-in report:
    three images (one with a low-quality PDQ, one without a PDQ) and one of another person."""
    items = [
        SimpleNamespace(
            person_codes=codes,
            sha256=rand_hex(32),
            md5=rand_hex(16),
            pdq=pdq,
            pdq_quality=quality,
            location=f"file{i}.jpg",
            mime="image/jpeg",
            video=None,
        )
        for i, (codes, pdq, quality) in enumerate(
            [
                (["P1"], rand_hex(32), 90),
                (["P1"], rand_hex(32), 20),
                (["P1"], None, None),
                (["P2"], rand_hex(32), 95),
            ]
        )
    ]
    report = SimpleNamespace(
        persons=[SimpleNamespace(code="P1", kind="victim", name="Person One")],
        items=items,
        generated_at="2026-12-02T00:00:00Z",
        case_id="case-123",
        report_id="rep-9",
        tool_version="test",
    )
    options = SimpleNamespace(person="P1", include_names=False)
    write_hashpack(report, folder, options)  # type: ignore[arg-type]
    return items


def test_hashpack_import_one_item_per_image(svc: MatchingService, tmp_path: Path) -> None:
    items = make_hashpack(tmp_path / "pack")
    data = hashpack_bytes(tmp_path / "pack")
    assert sniff(data) == "hashpack"
    result = svc.import_hashes(OP, "CASE", data)
    # P1's three images: 3 + 2 + 2 signals (the quality-20 PDQ is not stored); P2's not at all
    assert (result.added, result.signals) == (3, 7)
    assert len(result.skipped) == 1 and "quality 20" in result.skipped[0]
    good, low, _none, other = items
    hits = svc.lookup(
        OP,
        [
            parse_signal("pdq", good.pdq),
            parse_signal("pdq", low.pdq),
            parse_signal("sha256", low.sha256),
            parse_signal("md5", other.md5),
        ],
    )
    assert [len(r.matches) for r in hits] == [1, 0, 1, 0]
    assert dict(hits[0].matches[0].metadata) == {
        "case_id": "case-123",
        "person": "P1",
        "report_id": "rep-9",
    }
    event = next(e for e in svc.audit_log(OP) if e.action == "import")
    assert event.payload["format"] == "hashpack" and event.payload["case_id"] == "case-123"


def test_an_edited_hashpack_is_refused(svc: MatchingService, tmp_path: Path) -> None:
    make_hashpack(tmp_path / "pack")
    csv_path = tmp_path / "pack" / "hashes.csv"
    csv_path.write_text(csv_path.read_text() + f"{rand_hex(32)},{rand_hex(16)},,,1\n")
    with pytest.raises(MatchServiceError) as info:
        svc.import_hashes(OP, "CASE", hashpack_bytes(tmp_path / "pack"), "hashpack")
    assert info.value.code is MatchErrorCode.BAD_REQUEST and "manifest" in info.value.message
    assert svc.get_bank(OP, "CASE").content_count == 0


def test_a_zip_without_pack_files_or_not_a_zip(svc: MatchingService) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.txt", "hello")
    for data in (buffer.getvalue(), b"PK\x03\x04 not really"):
        with pytest.raises(MatchServiceError) as info:
            svc.import_hashes(OP, "CASE", data)
        assert info.value.code is MatchErrorCode.BAD_REQUEST


def test_pytx_lines_with_bad_lines_skipped(svc: MatchingService) -> None:
    a, b = rand_hex(32), rand_hex(32)
    text = "\n".join(
        [
            "# a comment",
            f"pdq {a}",
            f"PDQ {b.upper()}",
            "pdq 1234",
            f"pdq {'0' * 64}",
            f"md5 {rand_hex(16)}",
            "justoneword",
            f"tmk {a}",
            "",
        ]
    )
    assert sniff(text.encode()) == "pytx"
    result = svc.import_hashes(OP, "CASE", text.encode())
    assert (result.added, result.signals) == (3, 3)
    assert [s.split(":")[0] for s in result.skipped] == ["line 4", "line 5", "line 7", "line 8"]
    assert all(r.matches for r in svc.lookup(OP, [parse_signal("pdq", a), parse_signal("pdq", b)]))


def test_csv_typed_rows_and_export_round_trip(svc: MatchingService, tmp_path: Path) -> None:
    p1, p2, m = rand_hex(32), rand_hex(32), rand_hex(16)
    text = (
        "signal_type,value,quality,note\n"
        f"pdq,{p1},80,first\n"
        f"pdq,{p2},30,low\n"
        f"md5,{m},,\n"
        f"pdq,{p2},abc,\n"
    )
    assert sniff(text.encode()) == "csv"
    result = svc.import_hashes(OP, "CASE", text.encode(), "csv")
    assert (result.added, result.signals) == (2, 2)
    assert len(result.skipped) == 2
    exported = svc.export_bank(OP, "CASE", "csv")
    svc.create_bank(OP, "COPY")
    again = svc.import_hashes(OP, "COPY", exported, "auto")
    assert (again.added, again.signals, again.skipped) == (2, 2, ())
    pytx = svc.export_bank(OP, "CASE", "pytx").decode()
    assert sorted(pytx.splitlines()) == sorted([f"pdq {p1}", f"md5 {m}"])
    [copied] = svc.lookup(OP, [parse_signal("pdq", p1)], banks=["COPY"])
    assert len(copied.matches) == 1
    assert svc.get_content(OP, "COPY", copied.matches[0].content_id).note == "first"
    with pytest.raises(MatchServiceError):
        svc.export_bank(OP, "CASE", "xml")


def test_csv_without_a_known_header_is_refused() -> None:
    with pytest.raises(MatchServiceError) as info:
        parse_import(b"a,b\n1,2\n", "csv")
    assert info.value.code is MatchErrorCode.BAD_REQUEST
    with pytest.raises(MatchServiceError):
        parse_import(b"\xff\xfe\x00garbage", "pytx")
    with pytest.raises(MatchServiceError):
        parse_import(b"", "yaml")
