"""What erasing an enrolled person removes from the case folder besides the store's rows, and
how the erasure is kept when the same images are analysed again.

``person remove`` deletes the person's templates and matches, and the faces matched to them
(at the match or possible level) lose what identifies them: the plaintext embedding (the
project's own face model would re-find them from any photo), the group assignment and the
face crop ``CASE_DIR/faces/<sha[:2]>/<sha>_<n>.jpg``. The face row itself stays, flagged
``erased`` and not usable: the image still has a face there, which the persons count reports
as unattributed, without saying whose.

A later scan that analyses the same image again (another copy at a new path, a newer face
model) writes the crop again before the store keeps the old, erased face row; the identity
refresh at the end of every scan (``enforce``) deletes such crops and any embedding that came
back, and records it. What erasure cannot do: recognise the person in images scanned *later*
(that would need their template, which is what is erased); their faces there are treated like
any unknown face. Thumbnails of whole images are kept (they are the evidence, with everyone in
them; images not labelled ``none`` are blurred anyway). File deletion overwrites the crop's
bytes first, which does not reach old copies on SSDs or copy-on-write file systems: keep case
folders on an encrypted volume.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from consentry.media.thumbnails import FACE_DIR
from consentry.store.persons_store import FaceKey, PersonsStore


def crop_file(case_dir: Path, key: FaceKey) -> Path:
    """Where the scan writes a face's crop (``thumbnails.write_face_crop``)."""
    sha, index = key
    return case_dir / FACE_DIR / sha[:2] / f"{sha}_{index}.jpg"


def delete_crops(case_dir: Path, keys: Iterable[FaceKey]) -> tuple[int, list[str]]:
    """Overwrite and delete the crop files of ``keys`` that exist: (deleted, failures). A file
    that cannot be deleted stops nothing: it is named in the failures (and tried again at the
    next refresh, which looks for every erased face's crop)."""
    deleted, failed = 0, []
    for key in keys:
        path = crop_file(case_dir, key)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.write(b"\0" * size)
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            failed.append(f"{path.relative_to(case_dir)}: {exc.strerror or exc}")
            continue
        deleted += 1
    return deleted, failed


def enforce(ps: PersonsStore, case_dir: Path) -> tuple[int, int, list[str]]:
    """Remove what came back on erased faces: (embeddings or crop paths, crop files, crop
    files that could not be deleted)."""
    keys = ps.erased_faces()
    if not keys:
        return 0, 0, []
    cleared = ps.reerase(keys)
    deleted, failed = delete_crops(case_dir, keys)
    return cleared, deleted, failed


__all__ = ["crop_file", "delete_crops", "enforce"]
