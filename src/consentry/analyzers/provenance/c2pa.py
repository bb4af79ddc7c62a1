"""C2PA Content Credentials: is a manifest there, what does it claim, is its signature good?

Read with ``c2pa-python`` (the Content Authenticity Initiative's binding of ``c2pa-rs``), offline:

- ``verify.remote_manifest_fetch = false``: a file that only *points* to a manifest on the web is
  reported as such, with the URL, and nothing is fetched; ``verify.ocsp_fetch = false``: no
  revocation look-ups; ``core.allowed_network_hosts = []``: no host may be contacted at all.
- Trust: without trust anchors, a signature that verifies is **valid but untrusted** - it proves
  the manifest was not changed since someone signed it, not who that someone is (anyone can make
  a certificate and sign any claim). The operator can supply anchors (``scan
  --c2pa-trust-anchors FILE.pem``, for example the C2PA trust list obtained out of band; read by
  ``load_trust_anchors``); only then can a result be "trusted".
- The state is c2pa-rs's own (``Reader``'s ``validation_state``): Trusted -> ``trusted``, Valid ->
  ``valid_untrusted``, Invalid -> ``invalid``, with the failure codes behind it. consentry does
  not second-guess it. Only when the SDK states no state does consentry classify the codes itself
  (``_validation``): a claim signature, hash or binding failure is ``invalid``; untrusted signer
  and CAWG identity codes are not.
- CAWG identity assertions (``cawg.identity``, codes ``cawg.*``) say *who* signed (an X.509 or
  identity-claims credential bound to the claim), not whether the picture changed. Their failures
  (``cawg.x509.credential.untrusted``: the identity credential is not on a trust list) are kept
  apart in ``identity_failures`` and reported as their own signal; they never make a manifest
  ``invalid``. c2pa-rs does lower Trusted to Valid for them: so does consentry (it follows the
  SDK), and ``claim_signer_trusted`` says the claim signer itself chained to an anchor.

What the manifest says (claim generator, actions, IPTC digital source type such as
``trainedAlgorithmicMedia``) is a claim by whoever signed it. How much it counts is decided in
the verdict policy (``policy``), not here.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from consentry.media.sniff import sniff

# c2pa-rs validation status codes (C2PA 2.x spec, 15.2): the untrusted-credential code is the one
# failure that does not mean the file or the manifest was altered.
UNTRUSTED_CODE = "signingCredential.untrusted"
TRUSTED_CODE = "signingCredential.trusted"  # in success: the claim signer chains to an anchor
IDENTITY_PREFIX = "cawg."  # CAWG identity assertion codes: about who signed, not the picture
MAX_ACTIONS = 200
MAX_TRUST_ANCHORS_BYTES = 16 * 1024 * 1024
# the SDK's validation_state -> consentry's state
SDK_STATES = {"Trusted": "trusted", "Valid": "valid_untrusted", "Invalid": "invalid"}

OFFLINE_SETTINGS: dict[str, Any] = {
    "verify": {
        "remote_manifest_fetch": False,
        "ocsp_fetch": False,
        "verify_trust": True,
        "verify_timestamp_trust": True,
    },
    "core": {"allowed_network_hosts": []},
}


class Validation(StrEnum):
    TRUSTED = "trusted"  # SDK "Trusted": valid, and the chain ends at an operator-provided anchor
    # SDK "Valid": claim signature and hashes valid; the signer is not on a trust list, or only
    # an identity assertion (CAWG) is unverified
    VALID_UNTRUSTED = "valid_untrusted"
    INVALID = "invalid"  # SDK "Invalid": a signature, hash or binding check failed


class TrustAnchorsError(ValueError):
    """The trust anchors file cannot be used: one line for the operator."""


@dataclass(frozen=True)
class TrustAnchors:
    """Operator-provided C2PA trust anchors: PEM certificates, and the file's SHA-256."""

    pem: str
    sha256: str  # of the file's bytes, recorded with the scan
    certificates: int
    source: str = ""  # the file it was read from (for messages only)


def trust_anchors_from_bytes(data: bytes, source: str = "") -> TrustAnchors:
    """Check that ``data`` is PEM text holding at least one X.509 certificate. Raises
    ``TrustAnchorsError`` with a one-line reason when not."""
    where = source or "the trust anchors file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrustAnchorsError(f"{where} is not PEM text (not UTF-8)") from None
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TrustAnchorsError(f"{where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TrustAnchorsError(
            f"{where}: a PEM certificate in it does not parse ({exc})"
        ) from None
    return TrustAnchors(text, hashlib.sha256(data).hexdigest(), len(certs), source)


def load_trust_anchors(path: str) -> TrustAnchors:
    """Read and check a PEM trust anchors file; ``TrustAnchorsError`` says why it cannot be used
    (missing, unreadable, too large, not PEM)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TRUST_ANCHORS_BYTES + 1)
    except FileNotFoundError:
        raise TrustAnchorsError(f"C2PA trust anchors file {path} does not exist") from None
    except IsADirectoryError:
        raise TrustAnchorsError(f"C2PA trust anchors file {path} is a folder") from None
    except OSError as exc:
        raise TrustAnchorsError(
            f"C2PA trust anchors file {path} cannot be read: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_TRUST_ANCHORS_BYTES:
        raise TrustAnchorsError(f"C2PA trust anchors file {path} is over 16 MiB: not a PEM list")
    return trust_anchors_from_bytes(data, f"C2PA trust anchors file {path}")


@dataclass(frozen=True)
class C2paAction:
    action: str  # e.g. c2pa.created, c2pa.edited, c2pa.placed
    digital_source_type: str | None  # IPTC code (last URI segment), e.g. trainedAlgorithmicMedia
    software_agent: str | None
    manifest: str  # manifest label
    active: bool  # in the active (most recent) manifest, not an ingredient's


@dataclass(frozen=True)
class C2paEvidence:
    """What a C2PA manifest store in the file says, and how its validation came out."""

    present: bool
    remote_url: str | None = None  # manifest referenced on the web: not fetched (offline)
    validation: Validation | None = None
    validation_state: str | None = None  # c2pa-rs's own word: Trusted | Valid | Invalid
    failure_codes: tuple[str, ...] = ()  # every failure code the SDK states (identity ones too)
    trust_anchors_configured: bool = False
    identity_failures: tuple[str, ...] = ()  # the CAWG identity codes among failure_codes
    claim_signer_trusted: bool = False  # signingCredential.trusted: the claim signer is anchored
    claim_generator: str | None = None
    title: str | None = None
    signer: str | None = None  # certificate issuer / common name as the manifest states them
    signed_at: str | None = None
    actions: tuple[C2paAction, ...] = ()
    digital_source_types: tuple[str, ...] = ()  # every IPTC code stated, in any manifest
    manifests: int = 0


class C2paReader:
    """An offline C2PA reader; build once per process (``load``), then ``read`` per file."""

    def __init__(self, trust_anchors_pem: str | None = None) -> None:
        import c2pa  # ImportError when c2pa-python is not installed: the caller records it

        self._c2pa = c2pa
        settings = json.loads(json.dumps(OFFLINE_SETTINGS))
        if trust_anchors_pem:
            settings["trust"] = {"user_anchors": trust_anchors_pem}
        self.trust_anchors_configured = bool(trust_anchors_pem)
        self.trust_anchors_sha256 = (
            hashlib.sha256(trust_anchors_pem.encode("utf-8")).hexdigest()
            if trust_anchors_pem
            else None
        )
        self._context = c2pa.Context.from_dict(settings)
        self.sdk_version = str(c2pa.sdk_version())

    def read(self, data: bytes) -> C2paEvidence:
        """The manifest store in ``data``. Raises ``C2paError`` when one is there but unreadable,
        ``LookupError`` when the format is one c2pa cannot read."""
        c2pa = self._c2pa
        mime = sniff(data[:64]).mime
        fmt = mime if mime.startswith("image/") else None  # None: let c2pa detect it
        try:
            reader = c2pa.Reader.try_create(fmt, io.BytesIO(data), None, self._context)
        except c2pa.C2paError.NotSupported as exc:
            raise LookupError(f"c2pa cannot read {mime}: {exc}") from None
        except c2pa.C2paError as exc:
            url = _remote_url(str(exc))
            if url is not None:
                return C2paEvidence(
                    present=True,
                    remote_url=url,
                    trust_anchors_configured=self.trust_anchors_configured,
                )
            raise
        if reader is None:
            return C2paEvidence(present=False)
        with reader:
            store = json.loads(reader.json())
        return evidence_from_store(store, self.trust_anchors_configured)


def evidence_from_store(store: dict[str, Any], trust_anchors_configured: bool) -> C2paEvidence:
    """Digest a manifest store (``Reader.json()``) into ``C2paEvidence``."""
    manifests = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) or {}
    codes = _failure_codes(store)
    state = store.get("validation_state")
    actions: list[C2paAction] = []
    source_types: list[str] = []
    for label, manifest in manifests.items():
        for assertion in manifest.get("assertions") or []:
            if not isinstance(assertion, dict):
                continue
            data = assertion.get("data")
            source_types += _source_types_in(data)
            if str(assertion.get("label", "")).startswith("c2pa.actions"):
                for item in (data or {}).get("actions") or []:
                    if isinstance(item, dict) and len(actions) < MAX_ACTIONS:
                        actions.append(
                            C2paAction(
                                action=str(item.get("action", "")),
                                digital_source_type=_code(item.get("digitalSourceType")),
                                software_agent=_agent(item.get("softwareAgent")),
                                manifest=str(label),
                                active=label == active_label,
                            )
                        )
    signature = active.get("signature_info") or {}
    return C2paEvidence(
        present=True,
        validation=_validation(state, codes),
        validation_state=state if isinstance(state, str) else None,
        failure_codes=codes,
        trust_anchors_configured=trust_anchors_configured,
        identity_failures=tuple(c for c in codes if is_identity_code(c)),
        claim_signer_trusted=TRUSTED_CODE in _success_codes(store),
        claim_generator=_claim_generator(active),
        title=_text(active.get("title")),
        signer=" / ".join(str(signature[k]) for k in ("issuer", "common_name") if signature.get(k))
        or None,
        signed_at=_text(signature.get("time")),
        actions=tuple(actions),
        digital_source_types=tuple(dict.fromkeys(source_types)),
        manifests=len(manifests),
    )


def is_identity_code(code: str) -> bool:
    """A CAWG identity assertion code: a statement about who signed, not about the picture."""
    return code.startswith(IDENTITY_PREFIX)


def claim_failures(codes: tuple[str, ...]) -> tuple[str, ...]:
    """The failure codes about the claim itself (signature, hashes, bindings): neither the
    untrusted-signer code nor CAWG identity codes."""
    return tuple(c for c in codes if c != UNTRUSTED_CODE and not is_identity_code(c))


def _validation(state: Any, codes: tuple[str, ...]) -> Validation:
    """The SDK's state when it states one (Trusted / Valid / Invalid); only without one are the
    codes classified here: a claim signature, hash or binding failure makes it invalid."""
    if isinstance(state, str) and state in SDK_STATES:
        return Validation(SDK_STATES[state])
    if claim_failures(codes):
        return Validation.INVALID
    return Validation.VALID_UNTRUSTED


def _failure_codes(store: dict[str, Any]) -> tuple[str, ...]:
    found: list[str] = []
    results = store.get("validation_results") or {}
    for item in (results.get("activeManifest") or {}).get("failure") or []:
        if isinstance(item, dict):
            found.append(str(item.get("code")))
    for item in store.get("validation_status") or []:
        if isinstance(item, dict):
            found.append(str(item.get("code")))
    return tuple(dict.fromkeys(found))


def _success_codes(store: dict[str, Any]) -> set[str]:
    results = store.get("validation_results") or {}
    items = (results.get("activeManifest") or {}).get("success") or []
    return {str(i.get("code")) for i in items if isinstance(i, dict)}


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        parts = [
            " ".join(str(i[k]) for k in ("name", "version") if i.get(k))
            for i in info
            if isinstance(i, dict)
        ]
        text = "; ".join(p for p in parts if p)
        if text:
            return text[:500]
    return _text(manifest.get("claim_generator"))


def _source_types_in(value: Any, depth: int = 0) -> list[str]:
    """Every digitalSourceType (any key spelling) stated anywhere in an assertion's data."""
    if depth > 12:
        return []
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if "digitalsourcetype" in str(key).lower() and (code := _code(item)) is not None:
                out.append(code)
            else:
                out += _source_types_in(item, depth + 1)
    elif isinstance(value, list):
        for item in value[:MAX_ACTIONS]:
            out += _source_types_in(item, depth + 1)
    return out


def _code(value: Any) -> str | None:
    """``http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia`` -> the code."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().rstrip("/").rsplit("/", 1)[-1][:200]


def _agent(value: Any) -> str | None:
    if isinstance(value, dict):
        return " ".join(str(value[k]) for k in ("name", "version") if value.get(k)) or None
    return _text(value)


def _text(value: Any) -> str | None:
    return str(value)[:500] if isinstance(value, str | int | float) and str(value) else None


def _remote_url(message: str) -> str | None:
    """The URL in c2pa-rs's "must fetch remote manifests from url ..." refusal, if that is it."""
    if "remote" not in message.lower():
        return None
    match = re.search(r"https?://\S+", message)
    return match.group(0).rstrip(".,;)") if match else "(not stated)"


__all__ = [
    "IDENTITY_PREFIX",
    "OFFLINE_SETTINGS",
    "SDK_STATES",
    "TRUSTED_CODE",
    "UNTRUSTED_CODE",
    "C2paAction",
    "C2paEvidence",
    "C2paReader",
    "TrustAnchors",
    "TrustAnchorsError",
    "Validation",
    "claim_failures",
    "evidence_from_store",
    "is_identity_code",
    "load_trust_anchors",
    "trust_anchors_from_bytes",
]
