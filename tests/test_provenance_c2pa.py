"""C2PA provenance, tested with credentials made here: a test CA and an ES256 signing certificate
built with ``cryptography``, harmless generated pictures signed with c2pa's own Builder.

Nothing is fetched: the reader is configured offline, and the remote-manifest test shows it
refuses to fetch rather than fetching.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consentry.analyzers.provenance import ProvenanceAnalyzer
from consentry.analyzers.provenance.c2pa import (
    OFFLINE_SETTINGS,
    SDK_STATES,
    UNTRUSTED_CODE,
    C2paReader,
    Validation,
    evidence_from_store,
)
from consentry.analyzers.provenance.policy import SignalKind, Strength, Verdict
from tests.synthetic import photo_like

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed")
x509 = pytest.importorskip("cryptography.x509", reason="cryptography is not installed")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


@dataclass(frozen=True)
class SigningCredentials:
    ca_pem: str
    chain_pem: str  # signing certificate, then the CA
    key_pem: str


def make_credentials(name: str = "consentry test") -> SigningCredentials:
    """A throw-away root CA and an ES256 end-entity signing certificate it issued."""
    now = datetime.datetime.now(datetime.UTC)

    def subject(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            ]
        )

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not sign,
            crl_sign=not sign,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(subject("Test Root CA"))
        .issuer_name(subject("Test Root CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(subject("Test Signer"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return SigningCredentials(pem(ca), pem(leaf) + pem(ca), key_pem)


@pytest.fixture(scope="module")
def creds() -> SigningCredentials:
    return make_credentials()


def harmless_image(fmt: str, seed: int = 7, size: tuple[int, int] = (320, 240)) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, *size).save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def manifest(source_type: str = "trainedAlgorithmicMedia", agent: str = "Test Diffusion") -> dict:
    return {
        "claim_generator_info": [{"name": "consentry-test-generator", "version": "1.0"}],
        "title": "lighthouse at dusk",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC + source_type,
                            "softwareAgent": {"name": agent, "version": "2.0"},
                        }
                    ]
                },
            }
        ],
    }


def sign(
    creds: SigningCredentials,
    data: bytes,
    mime: str,
    definition: dict[str, Any] | None = None,
    remote_url: str | None = None,
) -> bytes:
    """``data`` with a C2PA manifest signed by the test certificate (ES256)."""
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, creds.chain_pem.encode(), creds.key_pem.encode(), None
        )
    )
    context = c2pa.Context.from_dict(OFFLINE_SETTINGS)
    builder = c2pa.Builder.from_json(definition or manifest(), context=context)
    if remote_url is not None:
        builder.set_no_embed()
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    builder.sign(signer, mime, io.BytesIO(data), out)
    return out.getvalue()


class _SettingsSignerContext(c2pa.Context):  # type: ignore[name-defined]
    """A Context whose signer comes from its settings (``signer`` + ``cawg_x509_signer``):
    c2pa-python only knows a context has one when handed a Signer object, so say so here."""

    @property
    def has_signer(self) -> bool:
        return True


def _local(creds: SigningCredentials) -> dict[str, Any]:
    return {"local": {"alg": "es256", "sign_cert": creds.chain_pem, "private_key": creds.key_pem}}


def sign_with_identity(
    creds: SigningCredentials, identity: SigningCredentials, data: bytes, mime: str
) -> bytes:
    """``data`` signed by ``creds`` with a CAWG X.509 identity assertion signed by ``identity``
    (c2pa-rs's settings-built signer adds it)."""
    settings = json.loads(json.dumps(OFFLINE_SETTINGS))
    settings["signer"] = _local(creds)
    settings["cawg_x509_signer"] = _local(identity)
    builder = c2pa.Builder.from_json(manifest(), context=_SettingsSignerContext.from_dict(settings))
    out = io.BytesIO()
    builder.sign(mime, io.BytesIO(data), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def identity_jpeg(creds: SigningCredentials) -> bytes:
    signed = sign_with_identity(
        creds, make_credentials("identity issuer"), harmless_image("JPEG", seed=21), "image/jpeg"
    )
    if b"cawg.identity" not in signed:
        pytest.skip("this c2pa-python does not add a CAWG identity assertion from its settings")
    return signed


@pytest.fixture(scope="module")
def signed_jpeg(creds: SigningCredentials) -> bytes:
    return sign(creds, harmless_image("JPEG"), "image/jpeg")


@pytest.fixture(scope="module")
def analyzer() -> ProvenanceAnalyzer:
    return ProvenanceAnalyzer.load()


def test_signed_ai_claim_without_trust_list_is_valid_untrusted_and_indicated(
    analyzer: ProvenanceAnalyzer, signed_jpeg: bytes
) -> None:
    finding = analyzer.analyze(signed_jpeg)
    ev = finding.c2pa
    assert ev is not None and ev.present
    assert ev.validation is Validation.VALID_UNTRUSTED
    assert ev.validation_state == "Valid"
    assert ev.failure_codes == (UNTRUSTED_CODE,)
    assert not ev.trust_anchors_configured
    assert ev.claim_generator == "consentry-test-generator 1.0"
    assert ev.signer and "Test Signer" in ev.signer
    created = [a for a in ev.actions if a.action == "c2pa.created"]
    assert created and created[0].digital_source_type == "trainedAlgorithmicMedia"
    assert created[0].software_agent == "Test Diffusion 2.0" and created[0].active
    assert "trainedAlgorithmicMedia" in ev.digital_source_types
    assert finding.digital_source_types == ("trainedAlgorithmicMedia",)
    assert finding.c2pa_actions == ("c2pa.created",)
    assert finding.claim_generator == "consentry-test-generator 1.0"
    # an untrusted signature proves integrity, not who signed: indicated, and it says so
    assert finding.verdict is Verdict.INDICATED
    claim = [s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM]
    assert len(claim) == 1 and claim[0].strength is Strength.INDICATES
    assert "valid but untrusted" in claim[0].detail
    assert "no trust list configured" in claim[0].detail


def test_signed_ai_claim_with_the_ca_as_trust_anchor_is_confirmed(
    creds: SigningCredentials, signed_jpeg: bytes
) -> None:
    analyzer = ProvenanceAnalyzer.load(trust_anchors_pem=creds.ca_pem)
    finding = analyzer.analyze(signed_jpeg)
    assert finding.c2pa is not None
    assert finding.c2pa.validation is Validation.TRUSTED
    assert finding.c2pa.trust_anchors_configured
    assert finding.verdict is Verdict.CONFIRMED
    assert any(
        s.kind is SignalKind.C2PA_AI_CLAIM and s.strength is Strength.CONFIRMS
        for s in finding.signals
    )
    assert analyzer.describe()["c2pa_trust_anchors_configured"] is True


def test_another_ca_as_trust_anchor_leaves_it_untrusted(signed_jpeg: bytes) -> None:
    other = make_credentials("someone else")
    finding = ProvenanceAnalyzer.load(trust_anchors_pem=other.ca_pem).analyze(signed_jpeg)
    assert finding.c2pa is not None
    assert finding.c2pa.validation is Validation.VALID_UNTRUSTED
    assert finding.verdict is Verdict.INDICATED
    claim = next(s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM)
    assert "not on the configured trust list" in claim.detail


def test_png_with_composite_source_type(creds: SigningCredentials, analyzer: ProvenanceAnalyzer):
    signed = sign(
        creds,
        harmless_image("PNG", seed=3),
        "image/png",
        manifest("compositeWithTrainedAlgorithmicMedia"),
    )
    finding = analyzer.analyze(signed)
    assert finding.c2pa is not None and finding.c2pa.validation is Validation.VALID_UNTRUSTED
    assert finding.digital_source_types == ("compositeWithTrainedAlgorithmicMedia",)
    assert finding.verdict is Verdict.INDICATED
    claim = next(s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM)
    assert "composite" in claim.detail


def test_bytes_changed_after_signing_make_the_signature_invalid(
    creds: SigningCredentials, analyzer: ProvenanceAnalyzer, signed_jpeg: bytes
) -> None:
    tampered = bytearray(signed_jpeg)
    tampered[-2000] ^= 0xFF  # in the entropy-coded image data, well after the manifest
    finding = analyzer.analyze(bytes(tampered))
    ev = finding.c2pa
    assert ev is not None and ev.present
    assert ev.validation is Validation.INVALID
    assert ev.validation_state == "Invalid"
    assert any("mismatch" in code for code in ev.failure_codes)
    # the claim is still reported, as an indication, with the failure spelled out
    assert finding.verdict is Verdict.INDICATED
    claim = next(s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM)
    assert claim.strength is Strength.INDICATES
    assert "validation failed" in claim.detail and "mismatch" in claim.detail
    # even a trust anchor cannot make a changed file trusted
    trusted = ProvenanceAnalyzer.load(trust_anchors_pem=creds.ca_pem).analyze(bytes(tampered))
    assert trusted.c2pa is not None and trusted.c2pa.validation is Validation.INVALID
    assert trusted.verdict is Verdict.INDICATED


def test_manifest_without_ai_claim_is_context_only(
    creds: SigningCredentials, analyzer: ProvenanceAnalyzer
) -> None:
    signed = sign(creds, harmless_image("JPEG", seed=11), "image/jpeg", manifest("digitalCapture"))
    finding = analyzer.analyze(signed)
    assert finding.c2pa is not None and finding.c2pa.present
    assert finding.digital_source_types == ("digitalCapture",)
    assert finding.verdict is Verdict.NO_SIGNAL  # a capture claim is not evidence of "real"
    assert [s.kind for s in finding.signals] == [SignalKind.C2PA_MANIFEST]
    assert finding.signals[0].strength is Strength.CONTEXT


def test_remote_manifest_is_reported_and_not_fetched(
    creds: SigningCredentials, analyzer: ProvenanceAnalyzer
) -> None:
    # port 9 (discard) on the loopback: a fetch attempt could not succeed either way
    url = "http://127.0.0.1:9/manifest.c2pa"
    signed = sign(creds, harmless_image("PNG", seed=5), "image/png", remote_url=url)
    assert url.encode() in signed  # the reference is in the file (XMP), the manifest is not
    finding = analyzer.analyze(signed)
    assert finding.c2pa is not None and finding.c2pa.present
    assert finding.c2pa.remote_url == url
    assert finding.c2pa.validation is None
    assert finding.verdict is Verdict.NO_SIGNAL
    (signal,) = [s for s in finding.signals if s.kind is SignalKind.C2PA_MANIFEST]
    assert "not fetched" in signal.detail and signal.strength is Strength.CONTEXT


def test_no_manifest(analyzer: ProvenanceAnalyzer) -> None:
    finding = analyzer.analyze(harmless_image("JPEG"))
    assert finding.c2pa is not None and not finding.c2pa.present
    check = next(c for c in finding.checks if c.name == "c2pa")
    assert check.status.value == "checked" and check.detail == "no manifest"


def test_reader_settings_are_offline() -> None:
    assert OFFLINE_SETTINGS["verify"]["remote_manifest_fetch"] is False
    assert OFFLINE_SETTINGS["verify"]["ocsp_fetch"] is False
    assert OFFLINE_SETTINGS["core"]["allowed_network_hosts"] == []
    assert C2paReader().trust_anchors_configured is False


def test_evidence_from_store_handles_v1_claim_generator_and_ingredients() -> None:
    store = {
        "active_manifest": "urn:a",
        "manifests": {
            "urn:a": {
                "claim_generator": "Some Editor/1.2",
                "assertions": [
                    {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.edited"}]}}
                ],
            },
            "urn:b": {
                "assertions": [
                    {
                        "label": "c2pa.actions.v2",
                        "data": {
                            "actions": [
                                {
                                    "action": "c2pa.created",
                                    "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                                }
                            ]
                        },
                    }
                ]
            },
        },
        "validation_state": "Valid",
        "validation_status": [{"code": UNTRUSTED_CODE}],
    }
    ev = evidence_from_store(store, trust_anchors_configured=False)
    assert ev.claim_generator == "Some Editor/1.2"
    assert ev.manifests == 2
    ingredient = [a for a in ev.actions if not a.active]
    assert ingredient and ingredient[0].digital_source_type == "trainedAlgorithmicMedia"
    assert ev.validation is Validation.VALID_UNTRUSTED


# --- CAWG identity assertions: who signed, not whether the picture changed (issue 11, 4) -------
def test_an_unverified_identity_assertion_alone_is_not_invalid(
    analyzer: ProvenanceAnalyzer, identity_jpeg: bytes
) -> None:
    finding = analyzer.analyze(identity_jpeg)
    ev = finding.c2pa
    assert ev is not None and ev.present
    assert ev.validation_state == "Valid"  # c2pa-rs validates the claim
    assert ev.validation is Validation.VALID_UNTRUSTED
    assert ev.identity_failures == ("cawg.x509.credential.untrusted",)
    assert set(ev.failure_codes) == {UNTRUSTED_CODE, "cawg.x509.credential.untrusted"}
    claim = next(s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM)
    assert "valid but untrusted" in claim.detail
    assert "changed after signing" not in claim.detail
    (identity,) = [s for s in finding.signals if s.kind is SignalKind.C2PA_IDENTITY]
    assert identity.strength is Strength.CONTEXT
    assert "cawg.x509.credential.untrusted" in identity.detail
    assert "does not mean the picture was changed" in identity.detail
    assert finding.verdict is Verdict.INDICATED


def test_a_trusted_claim_signer_with_an_unverified_identity_follows_the_sdk(
    creds: SigningCredentials, identity_jpeg: bytes
) -> None:
    """c2pa-rs says Valid, not Trusted, while the identity assertion is unverified, though the
    claim signer chains to the anchor: consentry says the same and states both facts."""
    finding = ProvenanceAnalyzer.load(trust_anchors_pem=creds.ca_pem).analyze(identity_jpeg)
    ev = finding.c2pa
    assert ev is not None
    assert ev.validation_state == "Valid" and ev.validation is Validation.VALID_UNTRUSTED
    assert ev.claim_signer_trusted
    assert ev.failure_codes == ("cawg.x509.credential.untrusted",)
    claim = next(s for s in finding.signals if s.kind is SignalKind.C2PA_AI_CLAIM)
    assert "on the configured trust list" in claim.detail and "identity" in claim.detail
    assert finding.verdict is Verdict.INDICATED


def _sdk_state(data: bytes, anchors: str | None) -> tuple[str, set[str]]:
    """c2pa.Reader's own validation state and failure codes, read with consentry's settings."""
    settings = json.loads(json.dumps(OFFLINE_SETTINGS))
    if anchors:
        settings["trust"] = {"user_anchors": anchors}
    mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, c2pa.Context.from_dict(settings))
    assert reader is not None
    with reader:
        state = reader.get_validation_state()
        results = reader.get_validation_results() or {}
    failures = (results.get("activeManifest") or {}).get("failure") or []
    return str(state), {str(f["code"]) for f in failures}


def test_consentry_states_agree_with_c2pa_reader(
    creds: SigningCredentials, signed_jpeg: bytes, identity_jpeg: bytes
) -> None:
    """For every generated file, with and without anchors: consentry's state is the SDK's
    (Trusted -> trusted, Valid -> valid_untrusted, Invalid -> invalid), with the same codes."""
    tampered = bytearray(signed_jpeg)
    tampered[-2000] ^= 0xFF
    other = make_credentials("someone else")
    files = {
        "signed": signed_jpeg,
        "tampered": bytes(tampered),
        "identity": identity_jpeg,
        "capture_png": sign(
            creds, harmless_image("PNG", seed=4), "image/png", manifest("digitalCapture")
        ),
    }
    seen: set[str] = set()
    for anchors in (None, creds.ca_pem, other.ca_pem):
        reader = C2paReader(anchors)
        for name, data in files.items():
            state, sdk_codes = _sdk_state(data, anchors)
            ev = reader.read(data)
            assert ev.validation_state == state, name
            assert ev.validation is Validation(SDK_STATES[state]), (name, state, ev.failure_codes)
            assert sdk_codes <= set(ev.failure_codes), name
            seen.add(state)
    assert seen == {"Trusted", "Valid", "Invalid"}


def test_classification_without_an_sdk_state_on_the_sdks_json_shape() -> None:
    """When the SDK states no validation_state, codes decide: claim failures make it invalid,
    the untrusted-signer and CAWG identity codes do not."""

    def store(*codes: str, state: str | None = None) -> dict[str, Any]:
        failure = [{"code": c, "url": "self#jumbf=/c2pa/urn:x/c2pa.signature"} for c in codes]
        out: dict[str, Any] = {
            "active_manifest": "urn:x",
            "manifests": {"urn:x": {"claim_generator_info": [{"name": "Gen"}]}},
            "validation_results": {"activeManifest": {"success": [], "failure": failure}},
        }
        if state is not None:
            out["validation_state"] = state
        return out

    cawg = "cawg.x509.credential.untrusted"
    ev = evidence_from_store(store(UNTRUSTED_CODE, cawg), False)
    assert ev.validation is Validation.VALID_UNTRUSTED and ev.identity_failures == (cawg,)
    ev = evidence_from_store(store("cawg.identity.assertion.mismatch"), False)
    assert ev.validation is Validation.VALID_UNTRUSTED
    ev = evidence_from_store(store("assertion.dataHash.mismatch", cawg), False)
    assert ev.validation is Validation.INVALID and ev.identity_failures == (cawg,)
    ev = evidence_from_store(store("claimSignature.mismatch"), False)
    assert ev.validation is Validation.INVALID
    # the SDK's own state wins over the codes, both ways
    assert evidence_from_store(store(cawg, state="Valid"), False).validation is (
        Validation.VALID_UNTRUSTED
    )
    assert evidence_from_store(store(state="Invalid"), False).validation is Validation.INVALID
    trusted = evidence_from_store(store(state="Trusted"), True)
    assert trusted.validation is Validation.TRUSTED


def test_an_invalid_claim_names_the_claim_codes_not_the_identity_ones() -> None:
    from consentry.analyzers.provenance.policy import signals_for

    failure = [{"code": "assertion.dataHash.mismatch"}, {"code": "cawg.x509.credential.untrusted"}]
    ev = evidence_from_store(
        {
            "active_manifest": "urn:x",
            "manifests": {"urn:x": {}},
            "validation_state": "Invalid",
            "validation_results": {"activeManifest": {"failure": failure}},
        },
        False,
    )
    signals = signals_for(ev, [], None, None, None)
    manifest_signal = next(s for s in signals if s.kind is SignalKind.C2PA_MANIFEST)
    assert "validation failed (assertion.dataHash.mismatch)" in manifest_signal.detail
    assert any(s.kind is SignalKind.C2PA_IDENTITY for s in signals)


# --- Trust anchors: scan --c2pa-trust-anchors (issue 11, 5) -----------------------------------
def test_trust_anchors_file_checks(tmp_path: Path, creds: SigningCredentials) -> None:
    from consentry.analyzers.provenance.c2pa import TrustAnchorsError, load_trust_anchors

    good = tmp_path / "anchors.pem"
    good.write_text(creds.ca_pem + make_credentials("second").ca_pem)
    anchors = load_trust_anchors(str(good))
    assert anchors.certificates == 2
    assert anchors.sha256 == hashlib.sha256(good.read_bytes()).hexdigest()
    assert C2paReader(anchors.pem).trust_anchors_sha256 == anchors.sha256
    (tmp_path / "text.pem").write_text("hello\n")
    (tmp_path / "binary.pem").write_bytes(b"\xff\xfe\x00")
    broken = creds.ca_pem.replace(creds.ca_pem.splitlines()[3], "AAAA" * 16)
    (tmp_path / "broken.pem").write_text(broken)
    for name, words in [
        ("missing.pem", "does not exist"),
        ("text.pem", "no PEM certificate"),
        ("binary.pem", "not PEM text"),
        ("broken.pem", "does not parse"),
        (".", "is a folder"),
    ]:
        with pytest.raises(TrustAnchorsError, match=words) as info:
            load_trust_anchors(str(tmp_path / name))
        assert "\n" not in str(info.value)


def test_findings_model_key_keeps_old_keys_and_adds_the_anchors() -> None:
    from consentry.analyzers.provenance import findings_model_key

    assert findings_model_key(None, None) is None
    assert findings_model_key("d" * 64, None) == "d" * 64  # findings made before: unchanged
    assert findings_model_key(None, "a" * 64) == "c2pa_trust_anchors:" + "a" * 64
    assert findings_model_key("d" * 64, "a" * 64) == "d" * 64 + ",c2pa_trust_anchors:" + "a" * 64


class _CountingScorer:
    model_sha256 = "0" * 64
    calls = 0

    def score(self, rgb: Any) -> float:
        type(self).calls += 1
        return 0.01


def _scan_cli(evidence: Path, case: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    from click.testing import CliRunner

    from consentry.cli.main import main

    return CliRunner().invoke(
        main,
        ["scan", str(evidence), "--case", str(case), "--workers", "1", "-q", "--json", *extra],
        env=env,
    )


def _provenance_rows(case: Path) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    import sqlite3

    with sqlite3.connect(case / "case.sqlite") as db:
        rows = db.execute(
            "SELECT sha256, label, model_sha256, payload FROM findings WHERE analyzer='provenance'"
        ).fetchall()
    return {sha: (label, model, json.loads(payload)) for sha, label, model, payload in rows}


def _last_scan_started(case: Path) -> dict[str, Any]:
    import sqlite3

    with sqlite3.connect(case / "case.sqlite") as db:
        rows = db.execute(
            "SELECT payload FROM audit_events WHERE action='scan_started' ORDER BY seq"
        ).fetchall()
    return dict(json.loads(rows[-1][0]))


def test_scan_with_trust_anchors_reads_trusted_and_redoes_only_provenance(
    tmp_path: Path, creds: SigningCredentials, signed_jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consentry.analyzers import runner as image_analysis
    from consentry.analyzers.explicit import ExplicitAnalyzer

    image_analysis.reset_process()
    monkeypatch.setattr(
        "consentry.analyzers.explicit.load_explicit", lambda: ExplicitAnalyzer(_CountingScorer())
    )
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "signed.jpg").write_bytes(signed_jpeg)
    (evidence / "plain.png").write_bytes(harmless_image("PNG", seed=9))
    signed_sha = hashlib.sha256(signed_jpeg).hexdigest()
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(creds.ca_pem)
    anchors_sha = hashlib.sha256(anchors.read_bytes()).hexdigest()
    case = tmp_path / "case"
    try:
        result = _scan_cli(evidence, case, "--skip", "faces")
        assert result.exit_code == 0, result.output
        label, model, payload = _provenance_rows(case)[signed_sha]
        assert (label, model) == ("indicated", None)
        assert payload["c2pa"]["validation"] == "valid_untrusted"
        assert (
            _last_scan_started(case)["analyzers"]["provenance"]["c2pa_trust_anchors_sha256"] is None
        )

        _CountingScorer.calls = 0
        result = _scan_cli(evidence, case, "--skip", "faces", "--c2pa-trust-anchors", str(anchors))
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["analysed"] == 0  # nothing re-hashed
        assert _CountingScorer.calls == 0  # the explicit findings were not redone
        rows = _provenance_rows(case)
        label, model, payload = rows[signed_sha]
        assert label == "confirmed"
        assert payload["c2pa"]["validation"] == "trusted"
        assert model == f"c2pa_trust_anchors:{anchors_sha}"
        assert all(m == model for _l, m, _p in rows.values())  # every image redone
        described = _last_scan_started(case)["analyzers"]["provenance"]
        assert described["c2pa_trust_anchors_sha256"] == anchors_sha

        # the same anchors again: nothing to redo; other anchors (from the environment): redone
        result = _scan_cli(evidence, case, "--skip", "faces", "--c2pa-trust-anchors", str(anchors))
        assert result.exit_code == 0 and _CountingScorer.calls == 0
        other = tmp_path / "other.pem"
        other.write_text(make_credentials("someone else").ca_pem)
        env = {"CONSENTRY_C2PA_TRUST_ANCHORS": str(other)}
        result = _scan_cli(evidence, case, "--skip", "faces", env=env)
        assert result.exit_code == 0, result.output
        label, model, payload = _provenance_rows(case)[signed_sha]
        assert label == "indicated" and payload["c2pa"]["validation"] == "valid_untrusted"
        other_sha = hashlib.sha256(other.read_bytes()).hexdigest()
        assert model == "c2pa_trust_anchors:" + other_sha
        assert _CountingScorer.calls == 0
        # the report's methods name the anchors the findings were made with
        _report(case, "json", tmp_path / "r.json")
        doc = json.loads((tmp_path / "r.json").read_text())
        (method,) = [m for m in doc["methods"] if m["analyzer"] == "provenance"]
        assert method["thresholds"]["c2pa_trust_anchors_sha256"] == other_sha
        assert f"c2pa_trust_anchors:{other_sha}" in method["model_sha256"]
    finally:
        image_analysis.reset_process()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.pem", None, "does not exist"),
        ("notes.pem", b"just some notes\n", "no PEM certificate"),
        ("photo.pem", b"\xff\xd8\xff\xe0 not text", "not PEM text"),
    ],
)
def test_unusable_trust_anchors_are_one_line_misuse_before_any_write(
    tmp_path: Path, name: str, content: bytes | None, words: str
) -> None:
    from consentry.cli.main import EXIT_MISUSE

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "a.png").write_bytes(harmless_image("PNG", seed=2, size=(64, 64)))
    anchors = tmp_path / name
    if content is not None:
        anchors.write_bytes(content)
    case = tmp_path / "case"
    for args, env in [
        (("--c2pa-trust-anchors", str(anchors)), None),
        ((), {"CONSENTRY_C2PA_TRUST_ANCHORS": str(anchors)}),
    ]:
        result = _scan_cli(evidence, case, *args, env=env)
        assert result.exit_code == EXIT_MISUSE, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], lines
        assert not case.exists()


def test_trust_anchors_need_the_provenance_analyzer(
    tmp_path: Path, creds: SigningCredentials
) -> None:
    from consentry.cli.main import EXIT_MISUSE

    anchors = tmp_path / "anchors.pem"
    anchors.write_text(creds.ca_pem)
    (tmp_path / "evidence").mkdir()
    result = _scan_cli(
        tmp_path / "evidence",
        tmp_path / "case",
        "--skip",
        "provenance",
        "--c2pa-trust-anchors",
        str(anchors),
    )
    assert result.exit_code == EXIT_MISUSE and "--c2pa-trust-anchors" in result.output
    assert not (tmp_path / "case").exists()


# --- Reports: the provenance evidence per item (issue 11, 6) ----------------------------------
def _comfy_png() -> bytes:
    from PIL import PngImagePlugin

    from .test_provenance_metadata import COMFY_PROMPT

    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(COMFY_PROMPT))
    buf = io.BytesIO()
    photo_like(31, 320, 240).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def _report(case: Path, fmt: str, out: Path, *extra: str) -> None:
    from click.testing import CliRunner

    from consentry.cli.main import main

    result = CliRunner().invoke(
        main, ["report", "--case", str(case), "--format", fmt, "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output


def test_json_and_html_reports_show_the_provenance_evidence(
    tmp_path: Path, signed_jpeg: bytes, identity_jpeg: bytes
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from consentry.analyzers import runner as image_analysis
    from consentry.reports.json_report import load_schema

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "signed.jpg").write_bytes(signed_jpeg)
    (evidence / "identity.jpg").write_bytes(identity_jpeg)
    (evidence / "comfy.png").write_bytes(_comfy_png())
    (evidence / "plain.png").write_bytes(harmless_image("PNG", seed=8))
    case = tmp_path / "case"
    image_analysis.reset_process()
    try:
        assert _scan_cli(evidence, case, "--skip", "faces,explicit").exit_code == 0
    finally:
        image_analysis.reset_process()
    out = tmp_path / "r.json"
    _report(case, "json", out)
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, load_schema())
    items = {Path(i["location"]).name: i for i in doc["items"]}

    signed = items["signed.jpg"]["provenance"]
    assert signed["verdict"] == items["signed.jpg"]["provenance_verdict"] == "indicated"
    c2 = signed["c2pa"]
    assert (c2["state"], c2["sdk_state"], c2["codes"]) == (
        "valid_untrusted",
        "Valid",
        [UNTRUSTED_CODE],
    )
    assert c2["claim_generator"] == "consentry-test-generator 1.0"
    assert c2["digital_source_types"] == ["trainedAlgorithmicMedia"]
    assert c2["actions"][0]["action"] == "c2pa.created" and c2["actions"][0]["active"]
    claim = next(s for s in signed["signals"] if s["kind"] == "c2pa_ai_claim")
    assert claim["strength"] == "indicates"
    assert claim["name"] == "C2PA trainedAlgorithmicMedia claim (valid, untrusted signature)"

    identity = items["identity.jpg"]["provenance"]
    assert identity["c2pa"]["state"] == "valid_untrusted"
    assert identity["c2pa"]["identity_codes"] == ["cawg.x509.credential.untrusted"]
    assert any(s["kind"] == "c2pa_identity" for s in identity["signals"])

    comfy = items["comfy.png"]["provenance"]
    assert comfy["verdict"] == "indicated"
    assert [s["name"] for s in comfy["signals"]] == ["ComfyUI workflow metadata"]
    assert comfy["c2pa"]["present"] is False
    plain = items["plain.png"]["provenance"]
    assert plain["verdict"] == "no_signal" and plain["signals"] == []
    assert {c["name"] for c in plain["checks"]} >= {"c2pa", "metadata", "watermark"}

    # the schema holds the new fields to their shape
    broken = json.loads(out.read_text())
    broken["items"][0]["provenance"]["c2pa"] = {"state": "fine"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema())

    html_out = tmp_path / "r.html"
    _report(case, "html", html_out)
    html = html_out.read_text()
    # the verdict in words, then the signal(s) it rests on (issue 13: the signal that made it)
    assert "AI generation indicated" in html
    assert "<strong>ComfyUI workflow metadata</strong>" in html
    c2pa_signal = "C2PA trainedAlgorithmicMedia claim (valid, untrusted signature)"
    assert f"<strong>{c2pa_signal}</strong>" in html
    assert "cawg.x509.credential.untrusted" in html


def test_provenance_text_in_a_person_scoped_report_names_no_one_else() -> None:
    """A prompt, C2PA title or signer naming another person: in E2's report that name and
    that person's code become [other person]; in a redacted report, the person's code."""
    from consentry.reports.provenance_info import provenance_info
    from consentry.reports.redact import OTHER_PERSON, Redactor

    payload = {
        "verdict": "indicated",
        "signals": [
            {
                "kind": "generator_metadata",
                "strength": "indicates",
                "detail": "ComfyUI generation record (png:prompt): prompt 'Jane Doe on a beach'",
                "source": "png:prompt",
                "name": "ComfyUI workflow metadata",
            },
            {"kind": "c2pa_manifest", "strength": "context", "detail": "matches E1", "source": "c"},
        ],
        "checks": [{"name": "c2pa", "status": "checked", "detail": "manifest valid_untrusted"}],
        "c2pa": {
            "present": True,
            "validation": "valid_untrusted",
            "validation_state": "Valid",
            "failure_codes": [UNTRUSTED_CODE],
            "claim_generator": "Gen 1",
            "title": "Jane Doe, edited",
            "signer": "Jane Doe Studio / Jane Doe",
            "actions": [{"action": "c2pa.edited", "software_agent": "tool for Jane Doe"}],
            "digital_source_types": ["trainedAlgorithmicMedia"],
            "manifests": 1,
        },
    }
    enrolled = {"E1": "Jane Doe", "E2": "Ann Smith"}
    scoped = provenance_info(payload, Redactor(enrolled, "E2", False))
    text = json.dumps(__import__("dataclasses").asdict(scoped))
    assert "Jane" not in text and "E1" not in text
    assert OTHER_PERSON in scoped.signals[0].detail and OTHER_PERSON in scoped.signals[1].detail
    assert scoped.c2pa is not None and scoped.c2pa.title == f"{OTHER_PERSON}, edited"
    redacted = provenance_info(payload, Redactor(enrolled, None, True))
    assert redacted.c2pa is not None and redacted.c2pa.signer == "[E1] Studio / [E1]"
    plain = provenance_info(payload, Redactor(enrolled, None, False))
    assert plain.c2pa is not None and plain.c2pa.title == "Jane Doe, edited"
    assert plain.summary == "indicated: ComfyUI workflow metadata"


def test_a_finding_stored_before_the_fix_is_shown_with_the_sdks_state() -> None:
    """Findings made when a CAWG identity failure read "invalid" still carry the SDK's own
    validation_state: the report shows that, and the identity codes apart."""
    from consentry.reports.provenance_info import provenance_info
    from consentry.reports.redact import Redactor

    old = {
        "verdict": "indicated",
        "signals": [
            {"kind": "c2pa_ai_claim", "strength": "indicates", "detail": "x", "source": "c2pa"}
        ],
        "checks": [],
        "c2pa": {
            "present": True,
            "validation": "invalid",
            "validation_state": "Valid",
            "failure_codes": [UNTRUSTED_CODE, "cawg.x509.credential.untrusted"],
        },
    }
    info = provenance_info(old, Redactor({}, None, False))
    assert info.c2pa is not None
    assert (info.c2pa.state, info.c2pa.sdk_state) == ("valid_untrusted", "Valid")
    assert info.c2pa.identity_codes == ("cawg.x509.credential.untrusted",)
    assert info.signals[0].name == "C2PA AI source type claim"  # no name stored: the kind's
