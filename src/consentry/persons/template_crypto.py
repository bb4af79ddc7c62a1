"""Identity templates are encrypted at rest (Fernet: AES-128-CBC + HMAC-SHA256, `cryptography`).

Where the key comes from, first match wins:

1. the environment variable ``CONSENTRY_KEY`` (a Fernet key: 32 random bytes, url-safe
   base64, as ``consentry person key`` or ``Fernet.generate_key()`` prints it);
2. the key file ``CASE_DIR/keys/templates.key``, created with mode 0600 (owner only) the first
   time a template is written and no environment key is set.

Why both? The key file makes a case work out of the box, but it sits beside the database: a
copy of the whole case folder carries the key with it. For real protection keep the key
elsewhere: set ``CONSENTRY_KEY`` (from a password manager or a secrets store) before the first
enrollment, and no key file is written.

The store keeps a *key check*: a Fernet token of a fixed text, made with the case's key. A
different key cannot decrypt it, so a wrong key is one clear error before any template is used,
never garbage similarities.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.fernet import Fernet, InvalidToken

ENV_VAR = "CONSENTRY_KEY"
KEY_DIR = "keys"
KEY_FILE = "templates.key"
KEY_CHECK_PLAINTEXT = b"consentry template key check v1"
EMBEDDING_DTYPE = "<f4"


class TemplateKeyError(RuntimeError):
    """No usable key, or a key that does not belong to this case (one line for the examiner)."""


@dataclass(frozen=True)
class TemplateKey:
    fernet: Fernet
    source: str  # "environment variable CONSENTRY_KEY" or the key file's path

    def encrypt(self, embedding: np.ndarray) -> bytes:
        vector = np.asarray(embedding, dtype=EMBEDDING_DTYPE).reshape(-1)
        return self.fernet.encrypt(vector.tobytes())

    def decrypt(self, token: bytes) -> np.ndarray:
        try:
            raw = self.fernet.decrypt(bytes(token))
        except InvalidToken:
            raise TemplateKeyError(
                f"a template cannot be decrypted with the key from {self.source}: wrong key"
            ) from None
        return np.frombuffer(raw, dtype=EMBEDDING_DTYPE).copy()

    def make_check(self) -> str:
        return self.fernet.encrypt(KEY_CHECK_PLAINTEXT).decode("ascii")

    def verify_check(self, check: str) -> None:
        try:
            ok = self.fernet.decrypt(check.encode("ascii")) == KEY_CHECK_PLAINTEXT
        except InvalidToken:
            ok = False
        if not ok:
            raise TemplateKeyError(
                f"the template key from {self.source} is not this case's key: its templates "
                f"cannot be decrypted (set {ENV_VAR} to the key used at enrollment, or unset it "
                f"to use {KEY_DIR}/{KEY_FILE})"
            )


def key_file_path(case_dir: Path) -> Path:
    return case_dir / KEY_DIR / KEY_FILE


def load_key(case_dir: Path, create: bool = False) -> TemplateKey:
    """The key from ``CONSENTRY_KEY`` or the case's key file; ``create`` makes the file when
    neither exists. Raises TemplateKeyError with the reason otherwise."""
    env = os.environ.get(ENV_VAR)
    if env:
        return TemplateKey(_fernet(env.strip().encode("ascii", "replace"), ENV_VAR), ENV_VAR)
    path = key_file_path(case_dir)
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise TemplateKeyError(
                f"key file {path} is readable by others (mode {mode:o}): chmod 600 it"
            )
        return TemplateKey(_fernet(path.read_bytes().strip(), str(path)), str(path))
    if not create:
        raise TemplateKeyError(
            f"no template key: set {ENV_VAR} or restore {path} (templates cannot be used)"
        )
    path.parent.mkdir(mode=0o700, exist_ok=True)
    key = Fernet.generate_key()
    # O_EXCL + 0600 from the start: the key is never readable by others, not even briefly
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return TemplateKey(Fernet(key), str(path))


def _fernet(key: bytes, source: str) -> Fernet:
    try:
        return Fernet(key)
    except ValueError:
        raise TemplateKeyError(
            f"the key from {source} is not a Fernet key (32 bytes, url-safe base64)"
        ) from None


__all__ = [
    "ENV_VAR",
    "KEY_FILE",
    "TemplateKey",
    "TemplateKeyError",
    "key_file_path",
    "load_key",
]
