"""What a worker on another machine checks before it takes work: that it can read the evidence
and write the case folder, at the paths this machine gave. A cluster node where the share is
not mounted (or hangs: a stale NFS mount) then says so once, with its name, and is left out,
instead of turning every file it is handed into a 'missing' problem or hanging on it."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from consentry.execution.core import WorkerUnusable

# A stat that has not answered in this time is a hung mount.
PROBE_SECONDS = 30.0


def require_paths(
    readable: Sequence[bytes | str],
    writable: Sequence[bytes | str] = (),
    timeout_s: float = PROBE_SECONDS,
) -> None:
    """Raise ``WorkerUnusable`` unless every ``readable`` path can be read and every
    ``writable`` folder written here, each answered within ``timeout_s``."""
    for path in readable:
        _check(path, os.R_OK, "read", timeout_s)
    for path in writable:
        _check(path, os.W_OK | os.X_OK, "write", timeout_s)


def _check(path: bytes | str, mode: int, verb: str, timeout_s: float) -> None:
    shown = os.fsdecode(path)
    answer: list[str | None] = []

    def look() -> None:
        try:
            os.stat(path)
            answer.append(None if os.access(path, mode) else f"cannot {verb} {shown}")
        except OSError as exc:
            answer.append(f"cannot {verb} {shown}: {exc.strerror or exc}")

    # a daemon thread: a hung mount blocks it, not the worker, which reports and goes on
    thread = threading.Thread(target=look, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not answer:
        raise WorkerUnusable(f"{shown} did not answer within {timeout_s:.0f} s (a hung mount?)")
    if answer[0] is not None:
        raise WorkerUnusable(answer[0])


__all__ = ["PROBE_SECONDS", "require_paths"]
