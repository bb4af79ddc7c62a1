"""Reading the evidence again for the derivation pass: the bytes of an image content, read-only,
checked against the SHA-256 the scan recorded, and a small cache of decoded work pictures (a
worker verifies pairs grouped by picture, so most reads are cache hits)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from consentry.derivation.features import work_picture
from consentry.media import locate
from consentry.records.problems import Code, ItemError
from consentry.store.links_store import ImageRef

PICTURE_CACHE = 96  # decoded work pictures per worker (~0.6 MB each)


def read_evidence(image: ImageRef) -> bytes:
    """The content's bytes, read-only, as the scan read them (ItemError if they changed)."""
    # a file, an archive member, a file in a disk image (or a zip in one): media.locate
    data = locate.read_bytes(image.ref)
    if hashlib.sha256(data).hexdigest() != image.sha256:  # SHA-256 alone: MD5/SHA-1 add nothing
        raise ItemError(Code.SOURCE_CHANGED, "content no longer hashes as recorded")
    return data


class Pictures:
    """A small LRU of decoded work pictures (pairs are verified grouped by their first image)."""

    def __init__(self, refs: dict[str, ImageRef]) -> None:
        self.refs = refs
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def get(self, sha: str) -> np.ndarray:
        if sha in self.cache:
            self.cache.move_to_end(sha)
            return self.cache[sha]
        rgb = work_picture(read_evidence(self.refs[sha])).rgb
        self.cache[sha] = rgb
        if len(self.cache) > PICTURE_CACHE:
            self.cache.popitem(last=False)
        return rgb


__all__ = ["PICTURE_CACHE", "Pictures", "read_evidence"]
