"""The consent record without which nobody is enrolled.

Why a file and not command-line flags? Consent is given before the examiner types anything: a
signed form, an e-mail, a call note. The record says who consented, when, to what, and who
recorded it; the examiner keeps the original and gives consentry its summary as JSON or YAML.
consentry stores the validated record and the SHA-256 of the file as given, so the stored
record can be tied back to the file later.

Example (JSON; the same keys in YAML)::

    {
      "consented_by": "Jane Doe",
      "consented_at": "2026-03-02T14:30:00+01:00",
      "scope": "search case 2026-017 for images depicting me",
      "recorded_by": "A. Examiner",
      "method": "signed form",            # optional
      "on_behalf_of": null,               # optional: the person, when a guardian consents
      "reference": "form 17/2026",        # optional: where the original is kept
      "expires_at": "2027-03-02",         # optional: templates are not used after this
      "notes": "..."                      # optional
    }

Unknown keys are refused (a typo such as ``consented-at`` must not pass as a missing field).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REQUIRED = ("consented_by", "consented_at", "scope", "recorded_by")
OPTIONAL = ("method", "on_behalf_of", "reference", "expires_at", "notes")
MAX_TEXT = 2000  # characters per field: a summary, not the form itself


class ConsentError(ValueError):
    """The consent record is missing, unreadable or incomplete (one line for the examiner)."""


@dataclass(frozen=True)
class ConsentRecord:
    consented_by: str
    consented_at: str  # ISO 8601 date or date-time, as given
    scope: str
    recorded_by: str
    method: str | None = None
    on_behalf_of: str | None = None
    reference: str | None = None
    expires_at: str | None = None  # ISO 8601 date or date-time
    notes: str | None = None

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires_at is None:
            return False
        return _as_datetime(self.expires_at) <= (now or datetime.now(UTC))


@dataclass(frozen=True)
class LoadedConsent:
    record: ConsentRecord
    file_sha256: str  # of the file exactly as given


def load_consent(path: Path) -> LoadedConsent:
    """Read and validate a consent file (JSON, or YAML when named .yaml/.yml)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConsentError(f"cannot read consent file {path}: {exc.strerror or exc}") from None
    return LoadedConsent(
        parse_consent(data, yaml=path.suffix.lower() in {".yaml", ".yml"}),
        hashlib.sha256(data).hexdigest(),
    )


def parse_consent(data: bytes, yaml: bool = False) -> ConsentRecord:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConsentError("consent file is not UTF-8 text") from None
    value: Any
    if yaml:
        try:
            import yaml as yaml_mod
        except ImportError:
            raise ConsentError("YAML consent files need PyYAML installed; use JSON") from None
        try:
            value = yaml_mod.safe_load(text)
        except yaml_mod.YAMLError as exc:
            raise ConsentError(f"consent file is not valid YAML: {exc}") from None
    else:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConsentError(f"consent file is not valid JSON: {exc}") from None
    return validate_consent(value)


def validate_consent(value: Any, now: datetime | None = None) -> ConsentRecord:
    """Check fields and dates; every problem is named in one message."""
    if not isinstance(value, dict):
        raise ConsentError("consent record must be an object with keys " + ", ".join(REQUIRED))
    problems: list[str] = []
    unknown = sorted(str(k) for k in value if k not in REQUIRED + OPTIONAL)
    if unknown:
        problems.append(
            f"unknown field(s) {', '.join(unknown)} (allowed: {', '.join(REQUIRED + OPTIONAL)})"
        )
    fields: dict[str, str | None] = {}
    for key in REQUIRED + OPTIONAL:
        raw = value.get(key)
        if isinstance(raw, date | datetime):  # YAML parses bare dates itself
            raw = raw.isoformat()
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if key in REQUIRED:
                problems.append(f"missing {key}")
            fields[key] = None
            continue
        if not isinstance(raw, str):
            problems.append(f"{key} must be text")
            continue
        if len(raw) > MAX_TEXT:
            problems.append(f"{key} is longer than {MAX_TEXT} characters")
            continue
        fields[key] = raw.strip()
    now = now or datetime.now(UTC)
    for key in ("consented_at", "expires_at"):
        text = fields.get(key)
        if text is None:
            continue
        try:
            when = _as_datetime(text)
        except ValueError:
            problems.append(f"{key} {text!r} is not an ISO 8601 date (e.g. 2026-03-02)")
            continue
        if key == "consented_at" and when > now:
            problems.append(f"consented_at {text} is in the future")
        if key == "expires_at" and when <= now:
            problems.append(f"expires_at {text} has passed: the consent is no longer valid")
    if (
        not problems
        and fields["expires_at"]
        and (_as_datetime(fields["expires_at"] or "") <= _as_datetime(fields["consented_at"] or ""))
    ):
        problems.append("expires_at is not after consented_at")
    if problems:
        raise ConsentError("invalid consent record: " + "; ".join(problems))
    return ConsentRecord(**fields)  # type: ignore[arg-type]


def record_from_json(text: str) -> ConsentRecord:
    """The stored record back (it was validated when stored)."""
    return ConsentRecord(**json.loads(text))


def _as_datetime(text: str) -> datetime:
    """A date is taken as its start, UTC; a date-time without offset as UTC."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


__all__ = [
    "ConsentError",
    "ConsentRecord",
    "LoadedConsent",
    "load_consent",
    "parse_consent",
    "record_from_json",
    "validate_consent",
]
