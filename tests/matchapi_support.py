"""What the matchapi tests share: an app over a service with one key per role, harmless
synthetic uploads, random PDQ hashes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from consentry.matchapi.app import create_app
from consentry.services.matching.service import open_service
from consentry.services.matching.types import Caller, ServiceRole

from .synthetic import photo_like


@dataclass
class Api:
    client: TestClient
    service: Any
    tokens: dict[ServiceRole, str]

    def auth(self, role: ServiceRole = ServiceRole.ADMIN) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, url: str, role: ServiceRole = ServiceRole.ADMIN, **kw: Any) -> Any:
        return self.client.get(url, headers=self.auth(role), **kw)

    def post(self, url: str, role: ServiceRole = ServiceRole.ADMIN, **kw: Any) -> Any:
        return self.client.post(url, headers={**self.auth(role), **kw.pop("headers", {})}, **kw)

    def put(self, url: str, role: ServiceRole = ServiceRole.ADMIN, **kw: Any) -> Any:
        return self.client.put(url, headers=self.auth(role), **kw)

    def patch(self, url: str, role: ServiceRole = ServiceRole.ADMIN, **kw: Any) -> Any:
        return self.client.patch(url, headers=self.auth(role), **kw)

    def delete(self, url: str, role: ServiceRole = ServiceRole.ADMIN, **kw: Any) -> Any:
        return self.client.delete(url, headers=self.auth(role), **kw)


@contextmanager
def real_api(tmp_path: Path, **limits: int) -> Iterator[Api]:
    """The app over a real ``MatchingService`` (SQLite in a temporary home; lookups see a
    write at once, so no sync thread is needed)."""
    with open_service(tmp_path / "service-home", start_sync=False) as service:
        yield make_api(service, **limits)


def make_api(service: Any, **limits: int) -> Api:
    """An app over ``service`` with an admin, curator, matcher and advocate key."""
    tokens = {}
    for role in ServiceRole:
        new = service.add_key(Caller.local(), role, f"test-{role.value}", **limits)
        tokens[role] = new.token
    client = TestClient(create_app(service), raise_server_exceptions=False)
    return Api(client, service, tokens)


def jpeg(seed: int = 3, width: int = 200, height: int = 150) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, width, height).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def random_pdq(seed: int) -> str:
    return np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8).tobytes().hex()


def flip_bits(hex_hash: str, n: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(n):
        value ^= 1 << (bit * 7 % 256)
    return f"{value:064x}"


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: {"error": code, "message": one line}."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "message"}, body
    assert isinstance(body["message"], str) and "\n" not in body["message"]
    if code is not None:
        assert body["error"] == code, body
    return dict(body)
