"""``consentry service``'s subcommands on a service home, in-process (click's runner): keys
(the token printed once, never listed, refused once disabled), banks, imports and exports,
the index's state, the pack key, the audit log (tampering is found), and the one-line errors
with their stable codes. The server itself is tested through real uvicorn processes in
test_service_http.py / test_service_roundtrip.py."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from consentry.cli.main import main
from consentry.services.matching.types import MatchErrorCode, MatchServiceError, ServiceRole

matching = pytest.importorskip(
    "consentry.services.matching.service", reason="part 2 (MatchingService) not built yet"
)

# the service's own variables must not point a test at a developer's real service
RUNNER_ENV = {"CONSENTRY_SERVICE_HOME": None, "CONSENTRY_SERVICE_DB": None}
A = "d5efe5124b36dc7618c2b9c5778222fd7089f38dd6690c58a974c60c7e3491c3"
B = "80beb4471e6789235db7ec9023d777e825dca6d8833c594dfc2193592b61c496"


def service(home: Path, *args: str | Path, code: int = 0) -> Result:
    result = CliRunner(env=RUNNER_ENV).invoke(
        main, ["service", *map(str, args), "--home", str(home)]
    )
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "svc"


def one_line_error(result: Result, code: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {code}: "), result.stderr


def test_a_key_is_printed_once_listed_without_its_token_and_refused_once_disabled(
    home: Path,
) -> None:
    added = service(home, "key", "add", "--role", "matcher", "--rate", "30", "pipeline")
    token = re.search(r"^token: (cs_\S+)$", added.stdout, re.MULTILINE)
    assert token, added.stdout
    assert "shown only now" in added.stderr
    key_id = int(re.search(r"added key (\d+) pipeline: matcher, 30/min", added.stdout).group(1))

    listed = service(home, "key", "list")
    assert token.group(1) not in listed.output and "pipeline" in listed.output
    (info,) = json.loads(service(home, "key", "list", "--json").stdout)
    assert info["id"] == key_id and info["role"] == "matcher" and info["rate_per_minute"] == 30
    assert token.group(1).startswith(f"cs_{info['prefix']}_")
    assert token.group(1) not in json.dumps(info)

    svc = matching.open_service(home, start_sync=False)
    try:
        caller = svc.authenticate(token.group(1))
        assert caller.role is ServiceRole.MATCHER and caller.key_id == key_id
    finally:
        svc.close()
    service(home, "key", "disable", str(key_id))
    # a process opened after the CLI disabled it refuses it (one that verified it before does
    # within keys.CACHE_SECONDS: test_service_http.py)
    svc = matching.open_service(home, start_sync=False)
    try:
        with pytest.raises(MatchServiceError) as refused:
            svc.authenticate(token.group(1))
        assert refused.value.code is MatchErrorCode.UNAUTHENTICATED
    finally:
        svc.close()
    assert "disabled" in service(home, "key", "list").stdout


def test_banks_import_and_export_keep_valid_hashes_and_list_the_bad_lines(
    home: Path, tmp_path: Path
) -> None:
    service(home, "bank", "add", "victim_reports")
    again = service(home, "bank", "add", "VICTIM_REPORTS", code=2)
    one_line_error(again, "bank_exists")

    listing = tmp_path / "hashes.txt"
    listing.write_text(f"pdq {A}\npdq {B.upper()}\npdq {'0' * 64}\npdq nothex\n")
    imported = service(home, "import", "VICTIM_REPORTS", listing, "--format", "pytx")
    assert "imported into VICTIM_REPORTS: 2 items, 2 hashes, 2 lines skipped" in imported.stdout
    assert imported.stderr.count("skipped: ") == 2, imported.stderr

    out = tmp_path / "bank.txt"
    service(home, "export", "VICTIM_REPORTS", "--format", "pytx", "--out", out)
    exported = {line.split()[1] for line in out.read_text().splitlines() if line.strip()}
    assert exported == {A, B}  # stored lowercase, the all-zero and malformed lines never stored
    refused = service(home, "export", "VICTIM_REPORTS", "--format", "pytx", "--out", out, code=2)
    one_line_error(refused, "file_exists")
    csv_out = tmp_path / "bank.csv"
    service(home, "export", "VICTIM_REPORTS", "--format", "csv", "--out", csv_out)
    assert A in csv_out.read_text() and B in csv_out.read_text()

    status = json.loads(service(home, "status", "--json").stdout)
    pdq = next(ix for ix in status["indexes"] if ix["signal_type"] == "pdq")
    assert pdq["size"] >= 2
    banks = {b["name"]: b["content_count"] for b in status["banks"]}
    assert banks["VICTIM_REPORTS"] == 2

    unknown = service(home, "import", "NO_SUCH_BANK", listing, code=2)
    one_line_error(unknown, "unknown_bank")
    created = service(home, "import", "NEW_BANK", listing, "--create")
    assert "imported into NEW_BANK: 2 items" in created.stdout


def test_the_audit_log_records_the_operator_and_finds_a_changed_entry(home: Path) -> None:
    service(home, "bank", "add", "AUDITED")
    service(home, "key", "add", "--role", "curator", "loader")
    assert service(home, "audit", "verify").exit_code == 0
    shown = service(home, "audit", "show", "--json")
    entries = json.loads(shown.stdout)
    mine = {(e["actor"], e["action"]) for e in entries if e["actor"] != "service"}
    assert mine == {("cli:operator", "bank_created"), ("cli:operator", "key_added")}, entries

    db = home / "service.sqlite"
    with sqlite3.connect(db) as conn:
        (seq,) = conn.execute("SELECT min(seq) FROM service_audit").fetchone()
        conn.execute(
            "UPDATE service_audit SET payload_json = ? WHERE seq = ?", ('{"forged": true}', seq)
        )
    tampered = service(home, "audit", "verify", code=4)
    one_line_error(tampered, "tampered")


def test_the_pack_key_is_a_stable_32_byte_public_key(home: Path) -> None:
    first = service(home, "pack-key").stdout.strip()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert service(home, "pack-key").stdout.strip() == first


def test_group_options_reach_the_subcommands(home: Path) -> None:
    result = CliRunner(env=RUNNER_ENV).invoke(
        main, ["service", "--home", str(home), "bank", "add", "VIA_GROUP"]
    )
    assert result.exit_code == 0, result.output
    assert "VIA_GROUP" in service(home, "bank", "list").stdout


def test_the_server_refuses_a_remote_address_without_allow_remote(home: Path) -> None:
    result = CliRunner(env=RUNNER_ENV).invoke(
        main, ["service", "--home", str(home), "--host", "0.0.0.0"]
    )
    assert result.exit_code == 2
    one_line_error(result, "remote_host")
    assert not home.exists()  # refused before anything was made


def test_an_unreachable_database_is_one_line_with_exit_3(home: Path) -> None:
    result = CliRunner(env=RUNNER_ENV).invoke(
        main,
        ["service", "key", "list", "--home", str(home),
         "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none"],
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    one_line_error(result, "service_unusable")


def test_a_persons_consent_withdrawn_from_the_cli_takes_their_templates_and_hashes(
    home: Path, tmp_path: Path
) -> None:
    import numpy as np

    from consentry.services.matching.types import Caller, Signal, SignalType

    svc = matching.open_service(home, start_sync=False)
    try:
        operator = Caller.local("advocate-desk")
        person = svc.add_person(operator, "P-0001", json.dumps({"consented_at": "2026-11-02"}))
        svc.add_face_template(operator, person.id, np.random.default_rng(1).normal(size=128), "t")
        bank = matching.PACK_BANK
        svc.add_content(operator, bank, [Signal(SignalType.PDQ, A)], person_id=person.id)
        svc.create_bank(operator, "OTHER")
        svc.add_content(operator, "OTHER", [Signal(SignalType.PDQ, B)], person_id=person.id)
        svc.add_content(operator, "OTHER", [Signal(SignalType.MD5, "ab" * 16)])  # nobody's
    finally:
        svc.close()

    (listed,) = json.loads(service(home, "person", "list", "--json").stdout)
    assert (listed["id"], listed["label"], listed["templates"], listed["contents"]) == (
        person.id, "P-0001", 1, 2,
    )  # fmt: skip
    done = service(home, "person", "withdraw", str(person.id), "--yes")
    assert f"withdrew person {person.id}: 1 templates, 2 items, 2 hashes deleted" in done.stdout
    assert json.loads(service(home, "person", "list", "--json").stdout) == []
    out = tmp_path / "other.txt"
    service(home, "export", "OTHER", "--format", "pytx", "--out", out)
    assert out.read_text().split() == ["md5", "ab" * 16]  # the person's hash gone, the rest kept
    again = service(home, "person", "withdraw", str(person.id), "--yes", code=2)
    one_line_error(again, "not_found")
    entries = json.loads(service(home, "audit", "show", "--json").stdout)
    assert "person_withdrawn" in {e["action"] for e in entries}
