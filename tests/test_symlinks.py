"""Symbolic links never lead a scan out of the evidence: a link to a file outside its source is
recorded with its target path and never read; a link inside the source is followed; a source
that is itself a link to a folder is walked."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from consentry.cli.main import main

from .synthetic import photo_like

NO_ANALYZERS = ["--skip", "explicit,faces,provenance", "--no-links"]

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    photo_like(seed, 64, 48).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _scan(source: Path, case: Path) -> str:
    result = CliRunner().invoke(
        main, ["scan", str(source), "--case", str(case), "--workers", "1", "-q", *NO_ANALYZERS]
    )
    assert result.exit_code == 0, result.output
    return result.output


def _locations(case: Path) -> dict[str, tuple[str | None, dict[str, str]]]:
    """rel_path -> (sha256, {problem code: message})."""
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        out = {}
        for lid, rel, sha in db.execute("SELECT id, rel_path, sha256 FROM locations"):
            problems = dict(
                db.execute(
                    "SELECT code, message FROM location_problems WHERE location_id = ?", (lid,)
                ).fetchall()
            )
            out[rel] = (sha, problems)
        return out


def test_links_out_of_the_source_are_recorded_not_read(tmp_path: Path) -> None:
    home = tmp_path / "home" / "examiner"
    home.mkdir(parents=True)
    (home / "selfie.jpg").write_bytes(_jpeg(1))
    source = tmp_path / "evidence"
    (source / "DCIM").mkdir(parents=True)
    (source / "DCIM" / "IMG_0001.jpg").write_bytes(_jpeg(2))
    os.symlink(home / "selfie.jpg", source / "DCIM" / "IMG_1234.jpg")  # absolute, outside
    os.symlink("../../home/examiner/selfie.jpg", source / "DCIM" / "rel_out.jpg")  # relative
    os.symlink("/proc/self/environ", source / "env.txt")
    os.symlink("DCIM/IMG_0001.jpg", source / "inside.jpg")  # inside: followed as before
    case = tmp_path / "case"
    _scan(source, case)
    locs = _locations(case)

    sha, problems = locs["DCIM/IMG_1234.jpg"]
    assert sha is None  # not hashed, so not thumbnailed or reported as content
    assert str(home / "selfie.jpg") in problems["symlink_outside_source"]
    sha, problems = locs["DCIM/rel_out.jpg"]
    assert sha is None
    message = problems["symlink_outside_source"]
    assert "../../home/examiner/selfie.jpg" in message and str(home / "selfie.jpg") in message
    sha, problems = locs["env.txt"]
    assert sha is None and "/proc/self/environ" in problems["symlink_outside_source"]

    inside_sha, inside_problems = locs["inside.jpg"]
    assert inside_sha == locs["DCIM/IMG_0001.jpg"][0] is not None
    assert inside_problems == {}
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        (n_contents,) = db.execute("SELECT count(*) FROM contents").fetchone()
        severity = db.execute(
            "SELECT DISTINCT severity FROM location_problems WHERE code = 'symlink_outside_source'"
        ).fetchall()
    assert n_contents == 1  # only IMG_0001.jpg's bytes: nothing from outside the evidence
    assert severity == [("warning",)]


def test_a_source_that_is_a_link_to_a_folder_is_walked_once(tmp_path: Path) -> None:
    real = tmp_path / "mounted" / "phone"
    (real / "sub").mkdir(parents=True)
    (real / "a.jpg").write_bytes(_jpeg(3))
    (real / "sub" / "b.jpg").write_bytes(_jpeg(4))
    os.symlink(real / "a.jpg", real / "sub" / "link_to_a.jpg")  # inside the real folder
    os.symlink(real, real / "sub" / "loop_dir", target_is_directory=True)
    source = tmp_path / "evidence_link"
    os.symlink(real, source, target_is_directory=True)
    case = tmp_path / "case"
    _scan(source, case)
    locs = _locations(case)
    assert set(locs) == {"a.jpg", "sub/b.jpg", "sub/link_to_a.jpg", "sub/loop_dir"}
    assert locs["a.jpg"][0] is not None and locs["sub/b.jpg"][0] is not None
    assert locs["sub/link_to_a.jpg"][0] == locs["a.jpg"][0]  # inside the linked source
    assert "symlink_dir_not_followed" in locs["sub/loop_dir"][1]
    with contextlib.closing(sqlite3.connect(case / "case.sqlite")) as db:
        kinds = db.execute("SELECT kind FROM sources").fetchall()
    assert kinds == [("folder",)]


def test_a_file_named_as_the_source_is_read_even_through_a_link(tmp_path: Path) -> None:
    """The examiner named it: a single-file source is followed wherever it leads."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "photo.jpg").write_bytes(_jpeg(5))
    os.symlink(tmp_path / "store" / "photo.jpg", tmp_path / "named.jpg")
    case = tmp_path / "case"
    _scan(tmp_path / "named.jpg", case)
    ((sha, problems),) = _locations(case).values()
    assert sha is not None and problems == {}
