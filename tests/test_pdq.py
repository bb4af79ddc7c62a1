"""PDQ agrees with Meta's reference (python-threatexchange) on the same 512 px image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from consentry.analyzers.pdq import (
    DIHEDRAL_DEVIATION_MAX,
    MATCH_DISTANCE,
    bits_to_hex,
    hamming,
    pdq_of_rgb,
)
from consentry.media.decode import decode_image

from .synthetic import photo_like

pytx_hasher = pytest.importorskip(
    "threatexchange.signal_type.pdq.pdq_hasher", reason="python-threatexchange not installed"
)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _shared_images() -> list[Path]:
    real = sorted((SHARED / "realfake" / "real").glob("*.jpg"))[:12]
    lfw = sorted((SHARED / "faces" / "lfw").rglob("*.jpg"))[:12]
    return real + lfw


@given(st.lists(st.integers(0, 1), min_size=256, max_size=256))
def test_hex_matches_pytx_bit_order(bits: list[int]) -> None:
    expected = format(int("".join(map(str, bits)), 2), "064x")
    assert bits_to_hex(np.array(bits)) == expected


def test_pdq_agrees_with_threatexchange_on_shared_photos() -> None:
    paths = _shared_images()
    if not paths:
        pytest.skip("../shared/data is absent: no real photos to compare on")
    compared = 0
    for path in paths:
        image = decode_image(path.read_bytes())
        ours = pdq_of_rgb(image.rgb)
        if ours.quality < 80:
            continue
        # the same 512 px picture, handed to Meta's library as a lossless PNG
        buf = io.BytesIO()
        Image.fromarray(image.rgb).save(buf, "PNG")
        theirs, their_quality = pytx_hasher.pdq_from_bytes(buf.getvalue())
        assert hamming(ours.hex, theirs) <= 10, path
        assert abs(ours.quality - their_quality) <= 5
        compared += 1
    assert compared >= 10


def test_dihedral_variants_match_transformed_copies() -> None:
    """The stored variants are close to the hash of the rotated/flipped picture (within the
    documented deviation) and far closer than plain PDQ, which misses such copies outright."""
    if not _shared_images():
        # the median claim is about real photos; one synthetic picture alone sits at 32 bits
        pytest.skip("needs ../shared/data (realfake/real, faces/lfw) photos")
    pictures = [decode_image(p.read_bytes()).rgb for p in _shared_images()[:8]]
    pictures.append(np.asarray(photo_like(7, 200, 200)))
    dists = []
    for rgb in pictures:
        img = Image.fromarray(rgb)
        base = pdq_of_rgb(rgb)
        assert base.dihedral[0] == base.hex
        for transpose in Image.Transpose:
            moved = pdq_of_rgb(np.asarray(img.transpose(transpose)), dihedral=False)
            best = min(hamming(moved.hex, d) for d in base.dihedral)
            assert best <= DIHEDRAL_DEVIATION_MAX
            dists.append(best)
            if transpose in (Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT):
                assert hamming(moved.hex, base.hex) > 64  # plain PDQ: unrelated-looking
    assert float(np.median(dists)) <= MATCH_DISTANCE  # most copies match at the usual distance


def test_large_jpeg_is_decoded_at_reduced_size_and_hashes_like_full_decode() -> None:
    big = photo_like(3, 3000, 2000)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=92)
    image = decode_image(buf.getvalue())
    assert (image.width, image.height) == (3000, 2000)
    assert max(image.rgb.shape[:2]) == 512
    full = big.copy()
    full.thumbnail((512, 512))
    assert hamming(pdq_of_rgb(image.rgb).hex, pdq_of_rgb(np.asarray(full)).hex) <= 16
