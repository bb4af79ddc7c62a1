"""The SQL of disk images: the ``disk_images`` rows (format, segments, volumes, the check of
the stored hashes) and the deleted files found in their file systems, as reports read them.

One row per source: the inventory writes it each time it opens the image (the volumes it
found may differ after a tool upgrade; the verification is kept from the first run that did
it, so a resumed scan does not read a 500 GB image twice).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, Table, select

from consentry.records.disk import DeletedFile, DiskImageInfo, VolumeInfo
from consentry.store.case_store import LOCATIONS, SOURCES, CaseStore
from consentry.store.schema import DiskImage

DISK_IMAGES: Table = DiskImage.__table__  # type: ignore[assignment]


def _engine(engine_or_store: Engine | CaseStore | Any) -> Engine:
    """Accept an engine, a CaseStore, or anything that holds a ``store`` (a Case)."""
    if isinstance(engine_or_store, Engine):
        return engine_or_store
    if isinstance(engine_or_store, CaseStore):
        return engine_or_store.engine
    store = getattr(engine_or_store, "store", None)
    if isinstance(store, CaseStore):
        return store.engine
    engine = getattr(engine_or_store, "engine", None)
    if isinstance(engine, Engine):
        return engine
    raise TypeError(f"not an engine or a case store: {type(engine_or_store).__name__}")


def _row(info: DiskImageInfo) -> dict[str, Any]:
    return dict(
        source_id=info.source_id,
        format=info.format,
        segments_json=json.dumps(info.segments, ensure_ascii=False),
        media_size=info.media_size,
        volumes_json=json.dumps([asdict(v) for v in info.volumes], ensure_ascii=False),
        stored_md5=info.stored_md5,
        stored_sha1=info.stored_sha1,
        computed_md5=info.computed_md5,
        computed_sha1=info.computed_sha1,
        verification=info.verification,
        verified_at=info.verified_at,
        message=info.message,
    )


def write_disk_image(engine_or_store: Engine | CaseStore | Any, info: DiskImageInfo) -> None:
    """Insert or replace the row of ``info.source_id`` (one transaction)."""
    engine = _engine(engine_or_store)
    with engine.begin() as conn:
        conn.execute(DISK_IMAGES.delete().where(DISK_IMAGES.c.source_id == info.source_id))
        conn.execute(DISK_IMAGES.insert().values(**_row(info)))


def _info(r: Any, path: str) -> DiskImageInfo:
    volumes = [VolumeInfo(**v) for v in json.loads(r.volumes_json or "[]")]
    return DiskImageInfo(
        source_id=int(r.source_id),
        path=path,
        format=r.format,
        segments=list(json.loads(r.segments_json or "[]")),
        media_size=r.media_size,
        volumes=volumes,
        stored_md5=r.stored_md5,
        stored_sha1=r.stored_sha1,
        computed_md5=r.computed_md5,
        computed_sha1=r.computed_sha1,
        verification=r.verification,
        verified_at=r.verified_at,
        message=r.message,
    )


def disk_image(engine_or_store: Engine | CaseStore | Any, source_id: int) -> DiskImageInfo | None:
    """The row of one source, or None when it is not a disk image (or not opened yet)."""
    engine = _engine(engine_or_store)
    with engine.connect() as conn:
        r = conn.execute(
            select(DISK_IMAGES, SOURCES.c.path)
            .select_from(DISK_IMAGES.join(SOURCES, SOURCES.c.id == DISK_IMAGES.c.source_id))
            .where(DISK_IMAGES.c.source_id == source_id)
        ).first()
    return None if r is None else _info(r, r.path)


def disk_images(engine_or_store: Engine | CaseStore | Any) -> list[DiskImageInfo]:
    """Every disk image of the case, in source order."""
    engine = _engine(engine_or_store)
    with engine.connect() as conn:
        rows = conn.execute(
            select(DISK_IMAGES, SOURCES.c.path)
            .select_from(DISK_IMAGES.join(SOURCES, SOURCES.c.id == DISK_IMAGES.c.source_id))
            .order_by(DISK_IMAGES.c.source_id)
        ).all()
    return [_info(r, r.path) for r in rows]


def deleted_files(engine_or_store: Engine | CaseStore | Any) -> list[DeletedFile]:
    """Every deleted entry found in a disk image's file system (recovered, partial or
    unrecoverable), in path order. Members of an archive that was itself a deleted file are
    not listed again: the archive is (they are found through it)."""
    engine = _engine(engine_or_store)
    L = LOCATIONS
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                L.c.id,
                L.c.path,
                L.c.size,
                L.c.recovery,
                L.c.mtime_ns,
                L.c.atime_ns,
                L.c.ctime_ns,
                L.c.crtime_ns,
                L.c.sha256,
            )
            .where(L.c.deleted.is_(True))
            .order_by(L.c.path, L.c.id)
        ).all()
    return [
        DeletedFile(
            location_id=int(r.id),
            path=r.path,
            size=r.size,
            recovery=r.recovery or "unrecoverable",
            mtime_ns=r.mtime_ns,
            atime_ns=r.atime_ns,
            ctime_ns=r.ctime_ns,
            crtime_ns=r.crtime_ns,
            sha256=r.sha256,
        )
        for r in rows
    ]


__all__ = ["deleted_files", "disk_image", "disk_images", "write_disk_image"]
