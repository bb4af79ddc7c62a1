"""The provenance evidence behind each item's verdict, as the reports show it.

A provenance finding's payload (``ProvenanceFinding.to_payload``) is read back into typed values:
the verdict, every signal with its name, strength and one-line detail, what was and was not
checked, and the C2PA facts (state as c2pa-rs gave it, the codes behind it, claim generator,
digital source types, signer). Prompts, seeds and model names stay in the case (they are in the
signals' details, shortened); the full payload is the store's.

Free text here is the file's own (a prompt, a C2PA title, a signer's name): every string goes
through the report's ``Redactor``, so a redacted or person-scoped report names no one it must
not, here as anywhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from consentry.analyzers.provenance.c2pa import SDK_STATES, is_identity_code
from consentry.analyzers.provenance.policy import signal_name
from consentry.reports.model import (
    C2paActionInfo,
    C2paInfo,
    ProvenanceCheckInfo,
    ProvenanceInfo,
    ProvenanceSignalInfo,
)
from consentry.reports.redact import Redactor

if TYPE_CHECKING:
    from consentry.reports.model import ReportItem

MAX_SIGNALS = 50
MAX_TEXT = 500


def provenance_info(payload: dict[str, Any], redactor: Redactor) -> ProvenanceInfo:
    """A provenance finding's payload as report values; free text redacted per the report."""

    def text(value: Any) -> str | None:
        if value is None or value == "":
            return None
        return redactor.text(str(value)[:MAX_TEXT])

    def texts(values: Any) -> tuple[str, ...]:
        return tuple(t for v in _list(values) if (t := text(v)) is not None)

    signals = tuple(
        ProvenanceSignalInfo(
            kind=str(s.get("kind", "")),
            name=text(signal_name(str(s.get("kind", "")), str(s.get("name") or ""))) or "",
            strength=str(s.get("strength", "")),
            detail=text(s.get("detail")) or "",
            source=text(s.get("source")) or "",
        )
        for s in _dicts(payload.get("signals"))[:MAX_SIGNALS]
    )
    checks = tuple(
        ProvenanceCheckInfo(
            name=str(c.get("name", "")),
            status=str(c.get("status", "")),
            detail=text(c.get("detail")) or "",
        )
        for c in _dicts(payload.get("checks"))
    )
    raw = payload.get("c2pa")
    c2pa = None
    if isinstance(raw, dict):
        codes = texts(raw.get("failure_codes"))
        sdk_state = raw.get("validation_state")
        sdk_state = sdk_state if isinstance(sdk_state, str) and sdk_state in SDK_STATES else None
        c2pa = C2paInfo(
            present=bool(raw.get("present")),
            # the SDK's state, as the analyzer now records it; findings stored before it did
            # (a CAWG identity failure then read "invalid") are shown with the SDK's state too
            state=SDK_STATES[sdk_state] if sdk_state else text(raw.get("validation")),
            sdk_state=sdk_state,
            codes=codes,
            identity_codes=tuple(c for c in codes if is_identity_code(c)),
            claim_signer_trusted=bool(raw.get("claim_signer_trusted")),
            trust_anchors_configured=bool(raw.get("trust_anchors_configured")),
            claim_generator=text(raw.get("claim_generator")),
            digital_source_types=texts(raw.get("digital_source_types")),
            actions=tuple(
                C2paActionInfo(
                    action=text(a.get("action")) or "",
                    digital_source_type=text(a.get("digital_source_type")),
                    software_agent=text(a.get("software_agent")),
                    active=bool(a.get("active")),
                )
                for a in _dicts(raw.get("actions"))[:MAX_SIGNALS]
            ),
            signer=text(raw.get("signer")),
            signed_at=text(raw.get("signed_at")),
            title=text(raw.get("title")),
            remote_url=text(raw.get("remote_url")),
            manifests=int(raw.get("manifests") or 0),
        )
    return ProvenanceInfo(
        verdict=str(payload.get("verdict", "")),
        signals=signals,
        checks=checks,
        c2pa=c2pa,
        error=text(payload.get("error")),
    )


def with_provenance(
    items: Sequence[ReportItem], payloads: Iterable[tuple[str, str]], redactor: Redactor
) -> list[ReportItem]:
    """``items`` with their content's provenance evidence attached (only theirs is kept).
    ``payloads``: (SHA-256, payload JSON) of the provenance findings
    (``CaseStore.finding_payloads``)."""
    wanted = {i.sha256 for i in items if i.sha256 and i.provenance_verdict is not None}
    infos: dict[str, ProvenanceInfo] = {}
    for sha, payload in payloads:
        if sha in wanted:
            try:
                parsed = json.loads(payload)
            except (TypeError, ValueError):
                continue
            if isinstance(parsed, dict):
                infos[sha] = provenance_info(parsed, redactor)
    return [replace(i, provenance=infos[i.sha256]) if i.sha256 in infos else i for i in items]


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in _list(value) if isinstance(v, dict)]


__all__ = [
    "C2paActionInfo",
    "C2paInfo",
    "ProvenanceCheckInfo",
    "ProvenanceInfo",
    "ProvenanceSignalInfo",
    "provenance_info",
    "with_provenance",
]
