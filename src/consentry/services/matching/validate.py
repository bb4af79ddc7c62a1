"""Validation of everything a caller sends the matching service, before anything is stored or
searched: hashes, bank names, metadata, thresholds, batch sizes. Each failure is a
``MatchServiceError`` with a stable code and a one-line reason (HMA answered some of these with
a 500, ThreatExchange #1287; a corrupt hash once crashed its index build, #1609).

Used by the core service and by the shells (they validate early, for a 400 before a body is
processed) so both say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from consentry.services.matching.types import MatchErrorCode, MatchServiceError, Signal, SignalType

HEX_LENGTH = {SignalType.PDQ: 64, SignalType.MD5: 32, SignalType.SHA256: 64}
PDQ_MIN_QUALITY = 50  # Meta's guidance: below it a PDQ hash is too plain to match on
MAX_THRESHOLD = 31  # PDQ: Meta's match distance, and what the index answers exactly
MAX_LOOKUP_SIGNALS = 1000  # per lookup call
BANK_NAME = re.compile(r"[A-Z0-9_]{1,128}")  # HMA's rule, after upper-casing
MAX_METADATA_PAIRS = 32
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024
MAX_NOTE = 4096
_HEX = frozenset("0123456789abcdef")


def parse_signal_type(signal_type: str) -> SignalType:
    """``pdq`` | ``md5`` | ``sha256`` (any case; HMA's ``video_md5`` is not one: BAD_REQUEST)."""
    try:
        return SignalType(str(signal_type).strip().lower())
    except ValueError:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST,
            f"unknown signal type {str(signal_type)[:32]!r}: one of pdq, md5, sha256",
        ) from None


def parse_signal(signal_type: str, value: str, quality: int | None = None) -> Signal:
    """A validated signal; hex of either case is accepted and kept lowercase."""
    kind = parse_signal_type(signal_type)
    if not isinstance(value, str):
        raise MatchServiceError(MatchErrorCode.BAD_HASH, f"a {kind} hash is a hex string")
    text = value.strip().lower()
    want = HEX_LENGTH[kind]
    shown = text[:80] + ("..." if len(text) > 80 else "")
    if len(text) != want:
        raise MatchServiceError(
            MatchErrorCode.BAD_HASH,
            f"a {kind} hash has {want} hex digits, not {len(text)}: {shown!r}",
        )
    if not _HEX.issuperset(text):
        raise MatchServiceError(
            MatchErrorCode.BAD_HASH, f"a {kind} hash is hex digits only (0-9, a-f): {shown!r}"
        )
    if kind is SignalType.PDQ:
        if text in ("0" * 64, "f" * 64):
            raise MatchServiceError(
                MatchErrorCode.ZERO_HASH,
                "an all-zero or all-one PDQ hash (a featureless image) would match other "
                "featureless images: refused",
            )
        if quality is not None:
            quality = parse_quality(quality)
            if quality < PDQ_MIN_QUALITY:
                raise MatchServiceError(
                    MatchErrorCode.LOW_QUALITY,
                    f"PDQ quality {quality} is below {PDQ_MIN_QUALITY}: too plain to match on",
                )
    elif quality is not None:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"only a PDQ hash has a quality, {kind}"
        )
    return Signal(kind, text, quality)


def parse_quality(quality: object) -> int:
    if isinstance(quality, bool):
        raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "PDQ quality is a number 0..100")
    try:
        q = int(str(quality).strip()) if not isinstance(quality, int) else quality
    except ValueError:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"PDQ quality is a number 0..100, not {str(quality)[:20]!r}"
        ) from None
    if not 0 <= q <= 100:
        raise MatchServiceError(MatchErrorCode.BAD_REQUEST, f"PDQ quality is 0..100, not {q}")
    return q


def parse_bank_name(name: str) -> str:
    """HMA's bank-name rule: ``[A-Z0-9_]{1,128}`` after upper-casing (stored upper-case)."""
    text = str(name).strip().upper()
    if not BANK_NAME.fullmatch(text):
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST,
            f"a bank name is 1-128 of A-Z, 0-9 and _ (HMA's rule): {str(name)[:40]!r}",
        )
    return text


def parse_ratio(ratio: float) -> float:
    try:
        value = float(ratio)
    except (TypeError, ValueError):
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, "matching_enabled_ratio is a number 0..1"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"matching_enabled_ratio is 0..1, not {value}"
        )
    return value


def parse_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "a threshold is a whole number 0..31")
    if not 0 <= threshold <= MAX_THRESHOLD:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST,
            f"a PDQ threshold is 0..{MAX_THRESHOLD} (the index answers exactly up to it), "
            f"not {threshold}",
        )
    return threshold


def parse_metadata(metadata: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Sorted (key, value) string pairs; bounded so a content item stays small in memory."""
    if metadata is None:
        return ()
    if not isinstance(metadata, Mapping):
        raise MatchServiceError(MatchErrorCode.BAD_REQUEST, "metadata is an object of strings")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"metadata has at most {MAX_METADATA_PAIRS} pairs"
        )
    pairs = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST, "metadata keys and values are strings"
            )
        if not 1 <= len(key) <= MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise MatchServiceError(
                MatchErrorCode.BAD_REQUEST,
                f"a metadata key has 1-{MAX_METADATA_KEY} characters, a value at most "
                f"{MAX_METADATA_VALUE}",
            )
        pairs.append((key, value))
    return tuple(sorted(pairs))


def parse_note(note: str | None) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"a note is text of at most {MAX_NOTE} characters"
        )
    return note


__all__ = [
    "HEX_LENGTH",
    "MAX_LOOKUP_SIGNALS",
    "MAX_THRESHOLD",
    "PDQ_MIN_QUALITY",
    "parse_bank_name",
    "parse_metadata",
    "parse_note",
    "parse_quality",
    "parse_ratio",
    "parse_signal",
    "parse_signal_type",
    "parse_threshold",
]
