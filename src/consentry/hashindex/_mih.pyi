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
    tables: Sequence[tuple[Buffer, Buffer, int, int, int]],  # (slots, ovf, start, nbits, radius)
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
def ovf_size(offsets: Buffer, nbits: int, /) -> int: ...
def to_slots(offsets: Buffer, ids: Buffer, nbits: int, slots: Buffer, ovf: Buffer, /) -> int: ...
def to_csr(slots: Buffer, ovf: Buffer, nbits: int, offsets: Buffer, ids: Buffer, /) -> int: ...
def slot_update(
    slots: Buffer,
    ovf: Buffer,
    used: int,
    rows: Sequence[Buffer],
    alive: Sequence[Buffer],
    lo: int,
    hi: int,
    dead: Buffer,
    start: int,
    nbits: int,
    /,
) -> tuple[int | None, int]: ...
