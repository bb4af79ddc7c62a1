"""API keys: tokens, their argon2id hashes, a short verification cache, per-key rate limits.

A token is ``cs_<prefix>_<secret>``: the prefix (12 hex digits) finds the key's row, the
secret (43 URL-safe characters, 256 bits) is checked against its argon2id hash (as the web
app's passwords, ``services/accounts.py``). The token is shown once, at creation.

argon2id costs ~50 ms by design, too much per request at thousands of lookups a second: a
verified token is remembered in this process for ``CACHE_SECONDS`` (by its SHA-256, never the
token itself). A disabled key therefore stops working at once in the process that disabled it
and within ``CACHE_SECONDS`` in the others.

Rate limits are a token bucket per key in each process (``rate_per_minute``, bursts up to a
minute's worth): with N workers a key may get up to N times its rate. A shared limit would put
the database on every request's path; put one in the reverse proxy if it must be exact.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from consentry.services.matching.types import Caller, MatchErrorCode, MatchServiceError

if TYPE_CHECKING:
    from argon2 import PasswordHasher

TOKEN = re.compile(r"cs_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
CACHE_SECONDS = 10.0
MAX_KEY_NAME = 128


@dataclass(frozen=True)
class NewToken:
    prefix: str
    secret: str

    @property
    def token(self) -> str:
        return f"cs_{self.prefix}_{self.secret}"


def new_token() -> NewToken:
    return NewToken(secrets.token_hex(6), secrets.token_urlsafe(32))


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Verified against for an unknown prefix, so both answers take about as long."""
    return _hasher().hash(secrets.token_urlsafe(16))


def hash_secret(secret: str) -> str:
    return _hasher().hash(secret)


def verify_secret(secret_hash: str | None, secret: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(secret_hash or _dummy_hash(), secret)) and bool(secret_hash)
    except (VerificationError, InvalidHashError):
        return False


def parse_token(token: str | None) -> tuple[str, str]:
    """(prefix, secret) of a well-formed token; UNAUTHENTICATED otherwise."""
    if not token:
        raise MatchServiceError(MatchErrorCode.UNAUTHENTICATED, "an API key is required")
    found = TOKEN.fullmatch(token.strip())
    if found is None:
        raise MatchServiceError(MatchErrorCode.UNAUTHENTICATED, "not a valid API key")
    return found.group(1), found.group(2)


def check_key_name(name: str) -> str:
    text = str(name).strip()
    if not 1 <= len(text) <= MAX_KEY_NAME or not text.isprintable():
        raise MatchServiceError(
            MatchErrorCode.BAD_REQUEST, f"a key name is 1-{MAX_KEY_NAME} printable characters"
        )
    return text


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class KeyCache:
    """Verified tokens (by SHA-256) -> their caller, for ``CACHE_SECONDS``."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Caller]] = {}

    def get(self, digest: str) -> Caller | None:
        with self._lock:
            found = self._entries.get(digest)
            if found is None:
                return None
            if found[0] < time.monotonic():
                del self._entries[digest]
                return None
            return found[1]

    def put(self, digest: str, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.seconds, caller)

    def drop_key(self, key_id: int) -> None:
        with self._lock:
            for digest in [d for d, (_, c) in self._entries.items() if c.key_id == key_id]:
                del self._entries[digest]


class RateLimiter:
    """A token bucket per key id: ``rate_per_minute`` tokens a minute, at most that many held."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}  # key id -> (tokens, at)

    def check(self, caller: Caller, cost: float = 1.0) -> None:
        if caller.key_id is None or caller.rate_per_minute <= 0:
            return
        rate = caller.rate_per_minute
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(caller.key_id, (float(rate), now))
            tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
            if tokens < cost:
                self._buckets[caller.key_id] = (tokens, now)
                wait = (cost - tokens) * 60.0 / rate
                raise MatchServiceError(
                    MatchErrorCode.RATE_LIMITED,
                    f"rate limit of {rate} requests a minute reached for this key: retry in "
                    f"{wait:.1f} s",
                )
            self._buckets[caller.key_id] = (tokens - cost, now)


__all__ = [
    "CACHE_SECONDS",
    "KeyCache",
    "NewToken",
    "RateLimiter",
    "check_key_name",
    "hash_secret",
    "new_token",
    "parse_token",
    "token_digest",
    "verify_secret",
]
