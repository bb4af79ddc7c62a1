"""The served-bytes blur check (``web_case.looks_blurred``) tells obscured thumbnails from sharp
ones: calibrated on ``media.thumbnails`` output for harmless synthetic photos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from consentry.media.thumbnails import render_thumbnail

from ..web_case import BLUR_BOUND, blur_energy, looks_blurred, people


def thumbnail_bytes(label: str) -> list[bytes]:
    out = []
    for person in people():
        for photo in sorted(person.glob("*.jpg")):
            img, _ = render_thumbnail(np.asarray(Image.open(photo).convert("RGB")), label)
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=85)
            out.append(buf.getvalue())
    return out


@pytest.mark.parametrize("label", ["explicit", "suggestive", "unknown"])
def test_obscured_thumbnails_look_blurred(label: str) -> None:
    energies = [blur_energy(b) for b in thumbnail_bytes(label)]
    assert energies and all(looks_blurred(b) for b in thumbnail_bytes(label)), energies


def test_sharp_thumbnails_do_not_look_blurred() -> None:
    energies = [blur_energy(b) for b in thumbnail_bytes("none")]
    assert energies and min(energies) > BLUR_BOUND, energies
    assert not any(looks_blurred(b) for b in thumbnail_bytes("none"))
