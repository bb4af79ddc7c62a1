"""Types of the C extension built from _mih.c (see its header comment)."""

from collections.abc import Sequence
from typing import Any as Buffer  # numpy arrays and bytes (the buffer protocol)

CHUNK_BITS: int

def merge(
    old_offsets: Buffer | None,
    old_ids: Buffer | None,
    check_alive: bool,
    rows: Sequence[Buffer],
    alive: Sequence[Buffer],
    lo: int,
    hi: int,
    start: int,
    nbits: int,
    new_offsets: Buffer,
    new_ids: Buffer,
    /,
) -> int: ...
def search(
    tables: Sequence[tuple[Buffer, Buffer, int, int, int]],
    rows: Sequence[Buffer],
    alive: Sequence[Buffer],
    rids: Sequence[Buffer] | None,
    n_main: int,
    n_rows: int,
    queries: Buffer,
    threshold: int,
    want_rows: bool = False,
    /,
) -> tuple[bytes, ...]: ...
