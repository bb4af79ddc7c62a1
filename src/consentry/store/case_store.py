"""All reads and writes of a case go through CaseStore, so the SQL lives in one file.

Writes that belong together (a location's content, its problems and the archive members it
revealed) commit in one transaction: a process killed at any instant leaves either all of it
or none, and the next run redoes exactly what is missing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from consentry.records.analyzer_counts import CountRule, FaceTableCounts, FindingCounts
from consentry.records.items import (
    ChildLocation,
    FileSystemMeta,
    FoundFile,
    ThumbnailRecord,
    WorkItem,
    WorkResult,
)
from consentry.records.locations import LocationRef
from consentry.records.problems import Code, Problem
from consentry.store import audit
from consentry.store.case_counts import (
    AnalyzerCounts,
    CaseCounts,
    FaceCounts,
    FindingLabelCounts,
    LabelCount,
    ProblemCounts,
    ThumbnailCounts,
)
from consentry.store.rows import FindingRow, LocationRow, ProblemCodes, ScanRow, SourceRow
from consentry.store.schema import (
    AuditEvent,
    CaseInfo,
    Content,
    ContentProblem,
    FaceRow,
    Finding,
    Location,
    LocationProblem,
    Scan,
    Source,
    Thumbnail,
    VideoHash,
)

LOCATIONS: Table = Location.__table__  # type: ignore[assignment]
CONTENTS: Table = Content.__table__  # type: ignore[assignment]
LOC_PROBLEMS: Table = LocationProblem.__table__  # type: ignore[assignment]
CONTENT_PROBLEMS: Table = ContentProblem.__table__  # type: ignore[assignment]
SOURCES: Table = Source.__table__  # type: ignore[assignment]
SCANS: Table = Scan.__table__  # type: ignore[assignment]
AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
CASE_INFO: Table = CaseInfo.__table__  # type: ignore[assignment]
FINDINGS: Table = Finding.__table__  # type: ignore[assignment]
FACES: Table = FaceRow.__table__  # type: ignore[assignment]
THUMBS: Table = Thumbnail.__table__  # type: ignore[assignment]
VIDEO_HASHES: Table = VideoHash.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class DiskFile:
    """A file on disk the case depends on, as it was when first inventoried."""

    raw_path: bytes
    path: str
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    location_id: int
    source_id: int
    rel_path: str  # relative to the source root


# Keys per IN (...) query: an archive may hold up to archives.MAX_MEMBERS (100,000) members,
# recorded in one transaction, and PostgreSQL takes at most 65,535 parameters per statement
# (SQLite before 3.32: 999), so the look-ups go in chunks that fit either.
KEYS_PER_QUERY = 900


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), KEYS_PER_QUERY):
        yield keys[start : start + KEYS_PER_QUERY]


def _insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]):
    """INSERT ... ON CONFLICT DO NOTHING, in the dialect's own words (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)  # type: ignore[assignment]
    else:  # pragma: no cover - other databases are not supported
        raise RuntimeError(f"unsupported database dialect: {dialect}")
    conn.execute(stmt, list(rows))


class CaseStore:
    def __init__(self, engine: Engine, head_path: Path | None = None) -> None:
        self.engine = engine
        self.head_path = head_path

    # -- case info -------------------------------------------------------------------------
    def get_info(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(CASE_INFO.c.value).where(CASE_INFO.c.key == key)).scalar()

    def set_info(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(CASE_INFO.delete().where(CASE_INFO.c.key == key))
            conn.execute(CASE_INFO.insert().values(key=key, value=value))

    # -- audit log ---------------------------------------------------------------------------
    def append_audit(self, action: str, actor: str | None, payload: dict[str, Any]) -> int:
        body = audit.canonical_json(payload)
        with self.engine.begin() as conn:
            last = conn.execute(
                select(AUDIT.c.seq, AUDIT.c.hash).order_by(AUDIT.c.seq.desc()).limit(1)
            ).first()
            seq = (last.seq + 1) if last else 1
            prev = last.hash if last else audit.GENESIS
            ts = audit.now_iso()
            digest = audit.event_hash(ts, action, actor, body, prev)
            conn.execute(
                AUDIT.insert().values(
                    seq=seq,
                    ts=ts,
                    action=action,
                    actor=actor,
                    payload=body,
                    prev_hash=prev,
                    hash=digest,
                )
            )
        if self.head_path is not None:
            audit.write_head(self.head_path, seq, digest)
        return seq

    def audit_events(self) -> list[audit.StoredEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(AUDIT).order_by(AUDIT.c.seq)).all()
        return [
            audit.StoredEvent(r.seq, r.ts, r.action, r.actor, r.payload, r.prev_hash, r.hash)
            for r in rows
        ]

    # -- scans ---------------------------------------------------------------------------------
    def begin_scan(self, **fields: Any) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(SCANS.insert().values(status="running", **fields))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def finish_scan(self, scan_id: int, finished_at: str, summary: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(SCANS)
                .where(SCANS.c.id == scan_id)
                .values(
                    status="completed",
                    finished_at=finished_at,
                    summary_json=json.dumps(summary, sort_keys=True),
                )
            )

    def fail_scan(self, scan_id: int, finished_at: str, error: str) -> None:
        """A scan that stopped on an error (recorded; its pending files stay pending)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(SCANS)
                .where(SCANS.c.id == scan_id)
                .values(
                    status="failed",
                    finished_at=finished_at,
                    summary_json=json.dumps({"error": error}, sort_keys=True),
                )
            )

    def mark_interrupted_scans(self) -> list[int]:
        """Scans still ``running`` when a new one starts (the case lock is held, so no other
        scan runs): they were killed without a word. Marked ``interrupted``; ids returned."""
        with self.engine.begin() as conn:
            ids = [
                int(r[0])
                for r in conn.execute(select(SCANS.c.id).where(SCANS.c.status == "running"))
            ]
            if ids:
                conn.execute(update(SCANS).where(SCANS.c.id.in_(ids)).values(status="interrupted"))
        return ids

    def scans(self) -> list[ScanRow]:
        """Every scan of the case, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(SCANS).order_by(SCANS.c.id)).all()
        return [
            ScanRow(
                id=r.id,
                started_at=r.started_at,
                finished_at=r.finished_at,
                status=r.status,
                examiner=r.examiner,
                host=r.host,
                timezone=r.timezone,
                tool_version=r.tool_version,
                sources=tuple(json.loads(r.sources_json)),
            )
            for r in rows
        ]

    def last_scan_status(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(SCANS.c.status).order_by(SCANS.c.id.desc()).limit(1)).first()
        return None if row is None else str(row[0])

    # -- inventory -------------------------------------------------------------------------------
    def ensure_source(self, ref: LocationRef, kind: str) -> int:
        with self.engine.begin() as conn:
            _insert_ignore(
                conn,
                SOURCES,
                [dict(path_key=ref.key, path=ref.display, raw_path=ref.raw_path, kind=kind)],
                ["path_key"],
            )
            return int(
                conn.execute(select(SOURCES.c.id).where(SOURCES.c.path_key == ref.key)).scalar_one()
            )

    def add_found(self, source_id: int, found: Sequence[FoundFile]) -> int:
        """Record files found by the walk; returns how many were new to the case."""
        with self.engine.begin() as conn:
            return self._add_locations(
                conn,
                [
                    (f.ref, f.rel_path, f.size, f.mtime_ns, f.readable, f.problems, f.fs)
                    for f in found
                ],
                source_id=source_id,
                parent_id=None,
            )

    def _add_locations(
        self,
        conn: Connection,
        entries: Sequence[_Entry],
        source_id: int,
        parent_id: int | None,
    ) -> int:
        if not entries:
            return 0
        keys = [e[0].key for e in entries]
        existing = {
            key
            for chunk in _chunks(keys)
            for key in conn.execute(
                select(LOCATIONS.c.path_key).where(LOCATIONS.c.path_key.in_(chunk))
            ).scalars()
        }
        rows = [
            dict(
                path_key=ref.key,
                source_id=source_id,
                parent_id=parent_id,
                path=ref.display,
                rel_path=rel,
                raw_path=ref.raw_path,
                member_chain=json.dumps(list(ref.member_chain), ensure_ascii=False),
                size=size,
                mtime_ns=mtime,
                sha256=None,
                state="pending" if readable else "done",
                address=ref.address,
                **_fs_columns(fs),
            )
            for ref, rel, size, mtime, readable, _, fs in entries
            if ref.key not in existing
        ]
        _insert_ignore(conn, LOCATIONS, rows, ["path_key"])
        with_problems = [(e[0].key, e[5]) for e in entries if e[5] and e[0].key not in existing]
        if with_problems:
            ids = {
                key: loc_id
                for chunk in _chunks([k for k, _ in with_problems])
                for key, loc_id in conn.execute(
                    select(LOCATIONS.c.path_key, LOCATIONS.c.id).where(
                        LOCATIONS.c.path_key.in_(chunk)
                    )
                ).all()
            }
            self._add_location_problems(
                conn, [(ids[k], p) for k, problems in with_problems for p in problems]
            )
        return len(rows)

    @staticmethod
    def _upgrade_to_image(conn: Connection, images: list[dict[str, Any]]) -> None:
        """Bytes without a signature (TGA, PCX) are decoded only where their name says image:
        the same bytes met first as ``x.bin`` (a plain file) and then as ``x.tga`` are an image,
        whichever was recorded first."""
        by_sha = {c["sha256"]: c for c in images}
        for keys in _chunks(list(by_sha)):
            plain = conn.execute(
                select(CONTENTS.c.sha256).where(
                    CONTENTS.c.sha256.in_(keys), CONTENTS.c.is_image.is_(False)
                )
            ).scalars()
            for sha in list(plain):
                conn.execute(update(CONTENTS).where(CONTENTS.c.sha256 == sha).values(**by_sha[sha]))

    @staticmethod
    def _add_location_problems(conn: Connection, items: Iterable[tuple[int, Problem]]) -> None:
        rows = [
            dict(location_id=loc, code=p.code.value, severity=p.severity.value, message=p.message)
            for loc, p in items
        ]
        _insert_ignore(conn, LOC_PROBLEMS, rows, ["location_id", "code"])

    # -- processing ----------------------------------------------------------------------------
    def pending(self, after_id: int = 0, limit: int = 2000) -> list[WorkItem]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    LOCATIONS.c.id,
                    LOCATIONS.c.raw_path,
                    LOCATIONS.c.member_chain,
                    LOCATIONS.c.rel_path,
                    LOCATIONS.c.address,
                )
                .where(LOCATIONS.c.state == "pending", LOCATIONS.c.id > after_id)
                .order_by(LOCATIONS.c.id)
                .limit(limit)
            ).all()
        return [
            WorkItem(
                r.id,
                LocationRef(bytes(r.raw_path), tuple(json.loads(r.member_chain)), r.address),
                r.rel_path,
            )
            for r in rows
        ]

    def count_pending(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(LOCATIONS)
                    .where(LOCATIONS.c.state == "pending")
                ).scalar_one()
            )

    def record(self, results: Sequence[WorkResult]) -> None:
        """Store finished work in one transaction (all of it, or none after a kill)."""
        if not results:
            return
        with self.engine.begin() as conn:
            contents = {r.content.sha256: asdict(r.content) for r in results if r.content}
            _insert_ignore(conn, CONTENTS, list(contents.values()), ["sha256"])
            self._upgrade_to_image(conn, [c for c in contents.values() if c["is_image"]])
            content_problems = [
                dict(
                    sha256=r.content.sha256,
                    code=p.code.value,
                    severity=p.severity.value,
                    message=p.message,
                )
                for r in results
                if r.content
                for p in r.content_problems
            ]
            _insert_ignore(conn, CONTENT_PROBLEMS, content_problems, ["sha256", "code"])
            self._add_analysis(conn, results)
            _insert_ignore(
                conn,
                VIDEO_HASHES,
                [asdict(h) for r in results for h in r.video_hashes],
                ["sha256", "frame_number"],
            )
            # re-analysis problems too (the evidence changed, the worker was lost): recorded
            # on the location they were met at
            self._add_location_problems(
                conn, [(r.location_id, p) for r in results for p in r.location_problems]
            )
            located = [r for r in results if not r.reanalysis]
            for r in located:
                conn.execute(
                    update(LOCATIONS)
                    .where(LOCATIONS.c.id == r.location_id)
                    .values(
                        state="done",
                        sha256=r.content.sha256 if r.content else None,
                        size=r.content.size if r.content else LOCATIONS.c.size,
                    )
                )
                if r.children:
                    source_id = conn.execute(
                        select(LOCATIONS.c.source_id).where(LOCATIONS.c.id == r.location_id)
                    ).scalar_one()
                    self._add_locations(
                        conn,
                        [_child_entry(c) for c in r.children],
                        source_id=source_id,
                        parent_id=r.location_id,
                    )

    @staticmethod
    def _add_analysis(conn: Connection, results: Sequence[WorkResult]) -> None:
        analyses = [r.analysis for r in results if r.analysis is not None]
        # a finding redone with another model file replaces the old one (see reanalysis_items)
        redone: dict[tuple[str, str | None], list[str]] = {}
        for f in (f for a in analyses for f in a.findings):
            redone.setdefault((f.analyzer, f.model_sha256 or None), []).append(f.sha256)
        for (analyzer, model), shas in redone.items():
            conn.execute(
                FINDINGS.delete().where(
                    FINDINGS.c.analyzer == analyzer,
                    FINDINGS.c.sha256.in_(shas),
                    func.coalesce(FINDINGS.c.model_sha256, "") != (model or ""),
                )
            )
        _insert_ignore(
            conn,
            FINDINGS,
            [asdict(f) for a in analyses for f in a.findings],
            ["sha256", "analyzer"],
        )
        _insert_ignore(
            conn, FACES, [asdict(f) for a in analyses for f in a.faces], ["sha256", "face_index"]
        )
        thumbs = {a.thumbnail.sha256: asdict(a.thumbnail) for a in analyses if a.thumbnail}
        if thumbs:
            # a thumbnail is re-rendered when the explicit label becomes known: replace it
            conn.execute(THUMBS.delete().where(THUMBS.c.sha256.in_(list(thumbs))))
            conn.execute(THUMBS.insert(), list(thumbs.values()))

    def reanalysis_items(
        self,
        analyzers: frozenset[str],
        want_thumbnails: bool,
        models: dict[str, str | None] | None = None,
    ) -> list[WorkItem]:
        """Image contents that lack a finding of an enabled analyzer (or a thumbnail). For the
        analyzers in ``models``, a finding made with another model file counts as missing."""
        models = models or {}
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:
            images = conn.execute(
                select(C.c.sha256, func.min(L.c.id))
                .select_from(C.join(L, L.c.sha256 == C.c.sha256))
                .where(C.c.is_image.is_(True))
                .group_by(C.c.sha256)
            ).all()
            have: dict[str, set[str]] = {}
            labels: dict[str, str | None] = {}
            for sha, analyzer, label, model in conn.execute(
                select(
                    FINDINGS.c.sha256,
                    FINDINGS.c.analyzer,
                    FINDINGS.c.label,
                    FINDINGS.c.model_sha256,
                )
            ):
                if analyzer in models and (model or None) != models[analyzer]:
                    continue  # made with another model: redo
                have.setdefault(sha, set()).add(analyzer)
                if analyzer == "explicit":
                    labels[sha] = label
            thumbs = set(conn.execute(select(THUMBS.c.sha256)).scalars())
            todo: list[tuple[str, int, frozenset[str]]] = []
            for sha, loc_id in images:
                needs = set(analyzers - have.get(sha, set()))
                if want_thumbnails and sha not in thumbs:
                    needs.add("thumbnail")
                if needs:
                    todo.append((sha, loc_id, frozenset(needs)))
            if not todo:
                return []
            refs = {
                r.id: r
                for r in conn.execute(
                    select(L.c.id, L.c.raw_path, L.c.member_chain, L.c.rel_path, L.c.address).where(
                        L.c.id.in_([t[1] for t in todo])
                    )
                )
            }
        return [
            WorkItem(
                loc_id,
                LocationRef(
                    bytes(refs[loc_id].raw_path),
                    tuple(json.loads(refs[loc_id].member_chain)),
                    refs[loc_id].address,
                ),
                refs[loc_id].rel_path,
                needs=needs,
                expected_sha256=sha,
                known_label=labels.get(sha),
            )
            for sha, loc_id, needs in todo
        ]

    # -- read-only check ---------------------------------------------------------------------
    def disk_files(self) -> list[DiskFile]:
        """Files on disk (not archive members) the case has inventoried."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    LOCATIONS.c.id,
                    LOCATIONS.c.raw_path,
                    LOCATIONS.c.path,
                    LOCATIONS.c.size,
                    LOCATIONS.c.mtime_ns,
                    LOCATIONS.c.sha256,
                    LOCATIONS.c.source_id,
                    LOCATIONS.c.rel_path,
                )
                .where(LOCATIONS.c.member_chain == "[]")
                .order_by(LOCATIONS.c.id)
            ).all()
        return [
            DiskFile(
                bytes(r.raw_path),
                r.path,
                r.size,
                r.mtime_ns,
                r.sha256,
                r.id,
                r.source_id,
                r.rel_path,
            )
            for r in rows
        ]

    def outer_disk_files(self, location_ids: Iterable[int]) -> set[int]:
        """The files on disk that hold these locations: each location itself when it is on
        disk, else its outermost archive."""
        with self.engine.connect() as conn:
            parents = dict(conn.execute(select(LOCATIONS.c.id, LOCATIONS.c.parent_id)).all())
        out = set()
        for loc in location_ids:
            while parents.get(loc) is not None:
                loc = parents[loc]
            out.add(loc)
        return out

    def add_problems(self, items: Sequence[tuple[int, Problem]]) -> None:
        with self.engine.begin() as conn:
            self._add_location_problems(conn, items)

    # -- summary -----------------------------------------------------------------------------
    def counts(self, rules: Sequence[CountRule]) -> CaseCounts:
        """The case's counts (files, images, contents, per analyzer, problems), all measured
        in the store in one connection. ``rules``: how each analyzer's findings are counted
        (``analyzers.registry.count_rules()``); the store knows no analyzer by name."""
        by_finding = [r for r in rules if isinstance(r, FindingCounts)]
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:

            def scalar(stmt: Any) -> int:
                return int(conn.execute(stmt).scalar_one() or 0)

            files = scalar(select(func.count()).select_from(L))
            on_disk = scalar(select(func.count()).select_from(L).where(L.c.member_chain == "[]"))
            images = scalar(
                select(func.count())
                .select_from(L.join(C, L.c.sha256 == C.c.sha256))
                .where(C.c.is_image.is_(True))
            )
            unique_contents = scalar(select(func.count(func.distinct(L.c.sha256))))
            videos = scalar(  # analysed frame by frame: their findings count like images'
                select(func.count())
                .select_from(LOCATIONS.join(C, C.c.sha256 == LOCATIONS.c.sha256))
                .where(C.c.is_video.is_(True))
            )
            unique_images = scalar(
                select(func.count(func.distinct(L.c.sha256)))
                .select_from(L.join(C, L.c.sha256 == C.c.sha256))
                .where(C.c.is_image.is_(True))
            )
            archives = scalar(
                select(func.count(func.distinct(L.c.parent_id))).where(L.c.parent_id.is_not(None))
            )
            unhashed = scalar(select(func.count()).select_from(L).where(L.c.sha256.is_(None)))
            # read and failed (a pending file has no hash yet either: it is not "unreadable");
            # the segment files of a disk image are never read as files (their content is
            # the image's volumes), so they are not unreadable either
            image_files = (
                select(SOURCES.c.id).where(SOURCES.c.kind == "disk_image").scalar_subquery()
            )
            unreadable = scalar(
                select(func.count())
                .select_from(L)
                .where(
                    L.c.sha256.is_(None),
                    L.c.state != "pending",
                    ~((L.c.member_chain == "[]") & L.c.source_id.in_(image_files)),
                )
            )
            pending = scalar(select(func.count()).select_from(L).where(L.c.state == "pending"))
            # problems per location: the location's own, plus those of the content found there
            loc_rows = conn.execute(
                select(LOC_PROBLEMS.c.code, LOC_PROBLEMS.c.severity, func.count()).group_by(
                    LOC_PROBLEMS.c.code, LOC_PROBLEMS.c.severity
                )
            ).all()
            content_rows = conn.execute(
                select(CONTENT_PROBLEMS.c.code, CONTENT_PROBLEMS.c.severity, func.count())
                .select_from(CONTENT_PROBLEMS.join(L, L.c.sha256 == CONTENT_PROBLEMS.c.sha256))
                .group_by(CONTENT_PROBLEMS.c.code, CONTENT_PROBLEMS.c.severity)
            ).all()
            label_rows = conn.execute(
                select(
                    FINDINGS.c.analyzer,
                    FINDINGS.c.label,
                    func.count(),
                    func.count(func.distinct(L.c.sha256)),
                )
                .select_from(FINDINGS.join(L, L.c.sha256 == FINDINGS.c.sha256))
                .where(FINDINGS.c.analyzer.in_([r.analyzer for r in by_finding]))
                .group_by(FINDINGS.c.analyzer, FINDINGS.c.label)
            ).all()
            faces_total = scalar(select(func.count()).select_from(FACES))
            faces_usable = scalar(
                select(func.count()).select_from(FACES).where(FACES.c.usable.is_(True))
            )
            images_with_faces = scalar(select(func.count(func.distinct(FACES.c.sha256))))
            thumbs_blurred = scalar(
                select(func.count()).select_from(THUMBS).where(THUMBS.c.blurred.is_(True))
            )
            thumbs_total = scalar(select(func.count()).select_from(THUMBS))
        by_label: dict[str, dict[str, LabelCount]] = {r.analyzer: {} for r in by_finding}
        for analyzer, label, n, u in label_rows:
            by_label[analyzer][str(label)] = LabelCount(files=int(n), unique_images=int(u))
        by_code: dict[str, tuple[str, int]] = {}
        for code, severity, n in [*loc_rows, *content_rows]:
            first_severity, seen = by_code.get(code, (severity, 0))
            by_code[code] = (first_severity, seen + int(n))

        def problems(severity: str) -> ProblemCounts:
            of = {k: n for k, (sev, n) in sorted(by_code.items()) if sev == severity}
            return ProblemCounts(total=sum(of.values()), by_code=of)

        def files_labelled(of: dict[str, LabelCount], label: str) -> int:
            return of[label].files if label in of else 0

        # label blocks in the rules' order, then face-table blocks (the summary's key order)
        per_analyzer: dict[str, AnalyzerCounts] = {}
        for rule in by_finding:
            labels = by_label[rule.analyzer]
            per_analyzer[rule.analyzer] = FindingLabelCounts(
                named={c.key: files_labelled(labels, c.label) for c in rule.labels},
                by_label=labels,
                images_not_analysed=max(images + videos - sum(c.files for c in labels.values()), 0),
                by_label_key=rule.by_label_key,
            )
        for face_rule in rules:
            if isinstance(face_rule, FaceTableCounts):
                per_analyzer[face_rule.analyzer] = FaceCounts(
                    faces=faces_total,
                    usable_faces=faces_usable,
                    unique_images_with_faces=images_with_faces,
                )
        return CaseCounts(
            files=files,
            files_on_disk=on_disk,
            archive_members=files - on_disk,
            archives_opened=archives,
            images=images,
            unique_contents=unique_contents,
            unique_images=unique_images,
            # files whose bytes were also found elsewhere (unreadable files have no content)
            duplicate_locations=files - unhashed - unique_contents,
            unreadable=unreadable,
            pending=pending,
            analyzers=per_analyzer,
            thumbnails=ThumbnailCounts(written=thumbs_total, blurred=thumbs_blurred),
            errors=problems("error"),
            warnings=problems("warning"),
        )

    # -- what a report reads ---------------------------------------------------------------------
    def location_rows(self) -> list[LocationRow]:
        """Every location with its content's hashes and metadata, in path order."""
        L, C = LOCATIONS, CONTENTS
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    L.c.id,
                    L.c.parent_id,
                    L.c.source_id,
                    L.c.path,
                    L.c.rel_path,
                    L.c.size,
                    L.c.mtime_ns,
                    L.c.sha256,
                    L.c.member_chain,
                    C.c.md5,
                    C.c.sha1,
                    C.c.mime,
                    C.c.width,
                    C.c.height,
                    C.c.pdq,
                    C.c.pdq_quality,
                    C.c.is_image,
                )
                .select_from(L.outerjoin(C, C.c.sha256 == L.c.sha256))
                .order_by(L.c.path, L.c.id)
            ).all()
        return [
            LocationRow(**{**r._mapping, "is_image": bool(r.is_image)})  # NULL: never read
            for r in rows
        ]

    def findings(self) -> dict[tuple[str, str], FindingRow]:
        """Every analyzer result, by (content SHA-256, analyzer)."""
        F = FINDINGS
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    F.c.sha256,
                    F.c.analyzer,
                    F.c.analyzer_version,
                    F.c.model_sha256,
                    F.c.status,
                    F.c.label,
                    F.c.score,
                )
            ).all()
        return {(r.sha256, r.analyzer): FindingRow(**r._mapping) for r in rows}

    def finding_payloads(self, analyzer: str) -> Iterator[tuple[str, str]]:
        """(content SHA-256, evidence JSON) of every result of one analyzer, streamed: the
        payloads of a large case need not all be held at once."""
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(
                select(FINDINGS.c.sha256, FINDINGS.c.payload).where(FINDINGS.c.analyzer == analyzer)
            )
            for row in result:
                yield str(row.sha256), str(row.payload)

    def thumbnails(self) -> dict[str, ThumbnailRecord]:
        """The review thumbnail of each content that has one, by SHA-256."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(THUMBS)).all()
        return {r.sha256: ThumbnailRecord(r.sha256, r.path, bool(r.blurred), r.label) for r in rows}

    def sources(self) -> dict[int, SourceRow]:
        """Every source, by id, with the number of locations found in it."""
        L = LOCATIONS
        with self.engine.connect() as conn:
            found = {
                int(sid): int(n)
                for sid, n in conn.execute(
                    select(L.c.source_id, func.count()).group_by(L.c.source_id)
                )
            }
            rows = conn.execute(select(SOURCES.c.id, SOURCES.c.path, SOURCES.c.kind)).all()
        return {r.id: SourceRow(r.id, r.path, r.kind, int(found.get(r.id, 0))) for r in rows}

    def problem_codes(self) -> ProblemCodes:
        """Problem codes by location id and by content SHA-256."""
        by_loc: dict[int, set[str]] = defaultdict(set)
        by_sha: dict[str, set[str]] = defaultdict(set)
        with self.engine.connect() as conn:
            for loc, code in conn.execute(select(LOC_PROBLEMS.c.location_id, LOC_PROBLEMS.c.code)):
                by_loc[loc].add(code)
            for sha, code in conn.execute(
                select(CONTENT_PROBLEMS.c.sha256, CONTENT_PROBLEMS.c.code)
            ):
                by_sha[sha].add(code)
        return ProblemCodes(
            {k: frozenset(v) for k, v in by_loc.items()},
            {k: frozenset(v) for k, v in by_sha.items()},
        )

    def problems_listing(self, limit: int = 1000) -> list[dict[str, str]]:
        L = LOCATIONS
        with self.engine.connect() as conn:
            loc = conn.execute(
                select(
                    L.c.path, LOC_PROBLEMS.c.code, LOC_PROBLEMS.c.severity, LOC_PROBLEMS.c.message
                )
                .select_from(LOC_PROBLEMS.join(L, L.c.id == LOC_PROBLEMS.c.location_id))
                .order_by(L.c.path)
                .limit(limit)
            ).all()
            con = conn.execute(
                select(
                    L.c.path,
                    CONTENT_PROBLEMS.c.code,
                    CONTENT_PROBLEMS.c.severity,
                    CONTENT_PROBLEMS.c.message,
                )
                .select_from(CONTENT_PROBLEMS.join(L, L.c.sha256 == CONTENT_PROBLEMS.c.sha256))
                .order_by(L.c.path)
                .limit(limit)
            ).all()
        rows = [dict(path=r[0], code=r[1], severity=r[2], message=r[3]) for r in [*loc, *con]]
        return sorted(rows, key=lambda r: (r["path"], r["code"]))


_Entry = tuple[LocationRef, str, int | None, int | None, bool, list[Problem], FileSystemMeta | None]


def _child_entry(c: ChildLocation) -> _Entry:
    return (c.ref, c.rel_path, c.size, c.mtime_ns, c.readable, c.problems, None)


def _fs_columns(fs: FileSystemMeta | None) -> dict[str, Any]:
    if fs is None:
        return dict(deleted=None, recovery=None, atime_ns=None, ctime_ns=None, crtime_ns=None)
    return dict(
        deleted=fs.deleted,
        recovery=fs.recovery,
        atime_ns=fs.atime_ns,
        ctime_ns=fs.ctime_ns,
        crtime_ns=fs.crtime_ns,
    )


__all__ = ["CaseStore", "Code", "DiskFile"]
