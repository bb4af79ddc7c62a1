"""Evidence is read-only: a scan changes no byte, name, size or time of any source file,
and a change made by someone else is detected and reported at the end of the next scan."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

from click.testing import CliRunner

from consentry.cli.main import main

from .synthetic import write_jpeg


def _snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    snap: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            st = p.lstat()  # before reading: the snapshot must not disturb what it records
            if p.is_dir():
                # listing a folder updates its atime (relatime); only file atimes are kept
                snap[str(p.relative_to(root))] = (st.st_mtime_ns, st.st_mode)
                continue
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NOATIME", 0))
            with os.fdopen(fd, "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            snap[str(p.relative_to(root))] = (
                st.st_size,
                st.st_mtime_ns,
                st.st_atime_ns,
                st.st_mode,
                digest,
            )
    return snap


def _make_evidence(root: Path) -> None:
    for i in range(6):
        write_jpeg(root / f"folder{i % 2}" / f"{i}.jpg", seed=i)
    with zipfile.ZipFile(root / "bundle.zip", "w") as z:
        z.write(root / "folder0" / "0.jpg", "x/0.jpg")
    (root / "readme.txt").write_text("harmless\n")


def _scan(evidence: Path, case: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        main, ["scan", str(evidence), "--case", str(case), "--workers", "1", "-q", "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_scan_changes_nothing_in_the_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    _make_evidence(evidence)
    before = _snapshot(evidence)
    summary = _scan(evidence, tmp_path / "case")
    assert summary["files"] == 9  # 6 jpg + zip + member + txt
    assert summary["source_changes"] == []
    assert _snapshot(evidence) == before  # bytes, size, mtime, atime, mode, and no new files


def test_change_by_someone_else_is_reported(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    _make_evidence(evidence)
    case = tmp_path / "case"
    _scan(evidence, case)
    victim = evidence / "folder1" / "1.jpg"
    victim.write_bytes(victim.read_bytes() + b"tampered")
    (evidence / "readme.txt").unlink()
    summary = _scan(evidence, case)
    assert sorted(Path(p).name for p in summary["source_changes"]) == ["1.jpg", "readme.txt"]
    problems = CliRunner().invoke(main, ["case", "problems", "--case", str(case), "--json"])
    rows = json.loads(problems.output)["problems"]
    codes = {(Path(r["path"]).name, r["code"]) for r in rows}
    assert ("1.jpg", "source_changed") in codes and ("readme.txt", "source_missing") in codes
    changed = next(r for r in rows if r["code"] == "source_changed")
    assert "content changed" in changed["message"]
    audit = CliRunner().invoke(main, ["audit", "show", "--case", str(case), "--json"])
    assert '"source_changed"' in audit.output


def test_case_folder_inside_evidence_is_refused(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    _make_evidence(evidence)
    before = _snapshot(evidence)
    result = CliRunner().invoke(main, ["scan", str(evidence), "--case", str(evidence / "case")])
    assert result.exit_code == 2
    assert "would write into evidence" in result.output
    assert _snapshot(evidence) == before
