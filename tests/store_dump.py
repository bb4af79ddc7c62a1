"""Dump a case store by natural keys, for comparing two stores row for row.

Row ids, scan records and the audit log describe runs, not evidence, so they are left out.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def dump_items(case: Path) -> dict[str, list[tuple[object, ...]]]:
    with sqlite3.connect(case / "case.sqlite") as db:
        q = {
            "sources": "SELECT path_key, path, kind FROM sources",
            "locations": """SELECT l.path_key, l.path, l.rel_path, l.member_chain, l.size,
                                   l.mtime_ns, l.sha256, l.state, p.path_key, s.path_key
                            FROM locations l LEFT JOIN locations p ON p.id = l.parent_id
                            JOIN sources s ON s.id = l.source_id""",
            "contents": "SELECT * FROM contents",
            "location_problems": """SELECT l.path_key, lp.code, lp.severity, lp.message
                                    FROM location_problems lp
                                    JOIN locations l ON l.id = lp.location_id""",
            "content_problems": "SELECT sha256, code, severity, message FROM content_problems",
            "findings": """SELECT sha256, analyzer, analyzer_version, model_sha256, status,
                                  label, score, payload FROM findings""",
            "faces": """SELECT sha256, face_index, box_x, box_y, box_w, box_h, landmarks,
                               detector_score, size_px, sharpness, frontalness, usable, flags,
                               embedding, crop_path FROM faces""",
            "thumbnails": "SELECT sha256, path, blurred, label FROM thumbnails",
            # identities derived at the end of a scan (persons/refresh.py); times left out
            "persons": "SELECT code, kind, name, status FROM persons",
            "face_clusters": """SELECT c.sha256, c.face_index, p.code, c.assigned_by
                                FROM face_clusters c JOIN persons p ON p.id = c.person_id""",
            "face_matches": """SELECT m.sha256, m.face_index, p.code, m.level, m.similarity
                               FROM face_matches m JOIN persons p ON p.id = m.person_id""",
            # the derivation pass: features, verified pairs, links (their renders' folders too)
            "derivation_features": "SELECT * FROM derivation_features",
            "derivation_pairs": "SELECT * FROM derivation_pairs",
            "derivation_links": "SELECT * FROM derivation_links",
            "video_hashes": """SELECT sha256, frame_number, timestamp_s, pdq, quality
                               FROM video_hashes""",
        }
        return {name: sorted(db.execute(sql).fetchall(), key=repr) for name, sql in q.items()}


def differences(
    expected: dict[str, list[tuple[object, ...]]], actual: dict[str, list[tuple[object, ...]]]
) -> list[str]:
    """The tables of two dumps that differ, each with its row counts and up to two rows on
    each side (empty: equal)."""
    out = []
    for table, rows in expected.items():
        if actual[table] != rows:
            gone = [r for r in rows if r not in actual[table]][:2]
            new = [r for r in actual[table] if r not in rows][:2]
            out.append(f"{table}: {len(rows)} vs {len(actual[table])} rows; {gone} -> {new}")
    return out


def count_rows(case: Path) -> dict[str, int]:
    with sqlite3.connect(case / "case.sqlite") as db:
        return {
            t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (
                "sources",
                "locations",
                "contents",
                "location_problems",
                "content_problems",
                "findings",
                "faces",
                "thumbnails",
                "persons",
                "face_clusters",
                "face_matches",
            )
        }
