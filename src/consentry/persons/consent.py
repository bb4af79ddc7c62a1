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
YAML dates are read as text and checked like JSON's, so ``2026-13-45`` is the same one-line
error in both.

The record must be the enrolled person's own: ``on_behalf_of`` (a guardian consenting for the
person) or, without it, ``consented_by`` must name the person being enrolled
(``check_names``). Names are compared ignoring case, accents, punctuation, extra spaces and
word order ("Powell, Colin" names "colin  POWELL"); anything else is refused, so that one
person's consent never enrolls another.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
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
            value = yaml_mod.load(text, Loader=_loader(yaml_mod))  # noqa: S506 - safe subclass
        except yaml_mod.YAMLError as exc:
            raise ConsentError(f"consent file is not valid YAML: {_yaml_reason(exc)}") from None
        except (ValueError, TypeError, RecursionError) as exc:  # a constructor's own error
            raise ConsentError(f"consent file is not valid YAML: {_one_line(exc)}") from None
    else:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ConsentError(f"consent file is not valid JSON: {_one_line(exc)}") from None
    return validate_consent(value)


def _loader(yaml_mod: Any) -> Any:
    """PyYAML's SafeLoader without its date resolver: ``consented_at: 2026-13-45`` stays the
    text ``2026-13-45`` (checked below with the same message as in JSON) instead of failing
    inside PyYAML."""

    class TextDates(yaml_mod.SafeLoader):
        pass

    TextDates.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml_mod.SafeLoader.yaml_implicit_resolvers.items()
    }
    return TextDates


def _yaml_reason(exc: Any) -> str:
    """PyYAML's several-line message as one line: what, and where."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} at line {mark.line + 1}, column {mark.column + 1}"
    return _one_line(exc)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__


def name_key(name: str) -> tuple[str, ...]:
    """A name as compared: accents dropped (NFKD), case folded, punctuation as spaces, words
    sorted (``Powell, Colin`` == ``colin powell``; ``Zoë`` == ``Zoe``)."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return tuple(sorted(re.findall(r"\w+", plain)))


def check_names(record: ConsentRecord, name: str) -> None:
    """The record must be the consent of ``name`` (the person being enrolled): given by them
    (``consented_by``) or for them (``on_behalf_of``). ConsentError with both names otherwise."""
    field, subject = (
        ("on_behalf_of", record.on_behalf_of)
        if record.on_behalf_of
        else ("consented_by", record.consented_by)
    )
    if not name_key(name) or name_key(subject) != name_key(name):
        raise ConsentError(
            f"the consent record is for {subject!r} ({field}), not for {name!r}: a person is "
            "enrolled only with their own consent (or on_behalf_of them, by a guardian)"
        )


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
    "check_names",
    "name_key",
    "ConsentRecord",
    "LoadedConsent",
    "load_consent",
    "parse_consent",
    "record_from_json",
    "validate_consent",
]
