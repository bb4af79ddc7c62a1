"""C2PA provenance, tested with credentials made here: a test CA and an ES256 signing certificate
built with ``cryptography``, harmless generated pictures signed with c2pa's own Builder.

Nothing is fetched: the reader is configured offline, and the remote-manifest test shows it
refuses to fetch rather than fetching.
"""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from typing import Any

import pytest

from consentry.analyzers.provenance import (
    ProvenanceAnalyzer,
    SignalKind,
    Strength,
    Verdict,
)
from consentry.analyzers.provenance_c2pa import (
    OFFLINE_SETTINGS,
    UNTRUSTED_CODE,
    C2paReader,
    Validation,
    evidence_from_store,
)
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
