"""The service home's secrets: a Fernet key for face templates at rest (``template.key``) and
the NaCl key pair that victims' packs are sealed to (``pack.key``: the 32-byte private key,
base64). Both are created on first open with mode 0600 (never readable by others), written to
a temporary file and linked into place so that two workers starting together agree on one key.

Several hosts on one PostgreSQL must share these files (copy the home's two key files): a
template encrypted on one host is read on every other, and a pack sealed to one public key
opens only where its private key is.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets as _secrets
from collections.abc import Callable
from pathlib import Path

from consentry.services.matching.types import MatchErrorCode, MatchServiceError

TEMPLATE_KEY = "template.key"
PACK_KEY = "pack.key"


def _create_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content, creating it (0600) if missing; race-free across processes."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{_secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: use theirs
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


class ServiceSecrets:
    """The two keys of one service home."""

    def __init__(self, home: Path) -> None:
        from cryptography.fernet import Fernet
        from nacl.public import PrivateKey

        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.home = home
        self._fernet = Fernet(_create_once(home / TEMPLATE_KEY, Fernet.generate_key))
        raw = _create_once(home / PACK_KEY, lambda: base64.b64encode(bytes(PrivateKey.generate())))
        try:
            self._pack_key = PrivateKey(base64.b64decode(raw, validate=True))
        except Exception as exc:  # noqa: BLE001 - a damaged key file: say which
            raise RuntimeError(f"{home / PACK_KEY} is not a base64 NaCl private key") from exc

    def pack_public_key(self) -> str:
        """The public key packs are sealed to, base64 (``consentry pack --to`` takes it)."""
        return base64.b64encode(bytes(self._pack_key.public_key)).decode("ascii")

    def open_sealed(self, blob: bytes) -> bytes:
        """Open a sealed box made for this service's public key; BAD_PACK otherwise."""
        from nacl.exceptions import CryptoError
        from nacl.public import SealedBox

        try:
            return bytes(SealedBox(self._pack_key).decrypt(bytes(blob)))
        except (CryptoError, ValueError, TypeError):
            raise MatchServiceError(
                MatchErrorCode.BAD_PACK,
                "the pack does not open with this service's key (sealed to another key, "
                "or damaged)",
            ) from None

    def encrypt_template(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt_template(self, blob: bytes) -> bytes:
        return self._fernet.decrypt(blob)


__all__ = ["PACK_KEY", "TEMPLATE_KEY", "ServiceSecrets"]
