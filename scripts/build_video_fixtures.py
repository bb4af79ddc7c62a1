"""Build the small harmless test videos in tests/data/videos/ and, with Meta's ``vpdq``, their
reference vPDQ features (tests/data/videos/vpdq_reference.json).

The pictures are drawn here (smooth random colour fields, bars and moving discs from fixed
seeds): nothing is downloaded and nothing shows a person. Encoding uses PyAV with fixed codec
settings and one thread, so a rerun writes the same frames.

    .venv/bin/python scripts/build_video_fixtures.py            # write the videos
    /tmp/vpdqenv/bin/python scripts/build_video_fixtures.py --reference   # vpdq's features

The second form runs in a scratch virtual environment outside the repository where Meta's
``vpdq`` package was built (``pip install vpdq`` needs libavcodec-dev libavformat-dev
libavutil-dev libswscale-dev libavdevice-dev pkg-config); it only reads the videos.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "videos"
REFERENCE = OUT / "vpdq_reference.json"


@dataclass(frozen=True)
class Spec:
    name: str
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    rate: Fraction
    seconds: float
    options: dict[str, str]


SPECS = (
    Spec(
        "scenes.mp4",
        "mp4",
        "libx264",
        "yuv420p",
        160,
        120,
        Fraction(10),
        4.0,
        {"crf": "28", "preset": "medium", "threads": "1", "bf": "2"},
    ),
    Spec(
        "scenes.webm",
        "webm",
        "libvpx-vp9",
        "yuv420p",
        160,
        120,
        Fraction(10),
        4.0,
        {"crf": "40", "b": "0", "threads": "1", "cpu-used": "4", "row-mt": "0"},
    ),
    Spec(
        "scenes.avi",
        "avi",
        "mpeg4",
        "yuv420p",
        160,
        120,
        Fraction(10),
        4.0,
        {"qscale": "6", "threads": "1"},
    ),
    # full-range YUV (as phones record) at NTSC's 29.97 frames per second
    Spec(
        "scenes.mov",
        "mov",
        "libx264",
        "yuvj420p",
        160,
        120,
        Fraction(30000, 1001),
        3.0,
        {"crf": "30", "preset": "medium", "threads": "1", "bf": "3"},
    ),
    Spec(
        "scenes.mkv",
        "matroska",
        "libvpx",
        "yuv420p",
        160,
        120,
        Fraction(10),
        4.0,
        {"crf": "30", "b": "200k", "threads": "1", "cpu-used": "4"},
    ),
    # tagged BT.709 (as HD cameras write): vpdq still converts with BT.601 coefficients
    Spec(
        "scenes_bt709.mp4",
        "mp4",
        "libx264",
        "yuv420p",
        160,
        120,
        Fraction(10),
        4.0,
        {
            "crf": "28",
            "preset": "medium",
            "threads": "1",
            "bf": "2",
            "x264-params": "colormatrix=bt709:colorprim=bt709:transfer=bt709",
        },
    ),
    # the same footage smaller and more compressed: a near duplicate of scenes.mp4
    Spec(
        "scenes_small.mp4",
        "mp4",
        "libx264",
        "yuv420p",
        128,
        96,
        Fraction(10),
        4.0,
        {"crf": "28", "preset": "medium", "threads": "1", "bf": "0"},
    ),
)


def _field(seed: int, width: int, height: int):  # noqa: ANN202 - numpy stays optional here
    """A smooth random colour field (upsampled coarse noise): good PDQ quality, nobody in it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.float32)


def frame_at(t: float, width: int, height: int):  # noqa: ANN202
    """The picture shown at ``t`` seconds: three scenes (cuts at 1.5 s and 3 s), each a colour
    field with a disc moving across it."""
    import numpy as np

    scene = 0 if t < 1.5 else (1 if t < 3.0 else 2)
    base = _field(100 + scene, width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    cx = width * (0.2 + 0.6 * ((t % 1.5) / 1.5))
    cy = height * (0.5 + 0.2 * np.sin(t * 2.0))
    r = min(width, height) * 0.18
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
    colour = np.array([[240, 240, 40], [30, 200, 230], [230, 60, 160]][scene], np.float32)
    base[disc] = colour
    bar = ((xx * 10) // width) % 2 == 0  # in proportion: the same picture at any size
    base[(yy < height // 8) & bar] *= 0.4
    return np.clip(base, 0, 255).astype(np.uint8)


def encode(spec: Spec, path: Path) -> None:
    import av

    frames = round(spec.seconds * spec.rate)
    # bitexact: no creation dates or library versions in the container (reruns are identical)
    opts = {"fflags": "+bitexact"}
    with av.open(str(path), "w", format=spec.container, container_options=opts) as out:
        stream = out.add_stream(spec.codec, rate=spec.rate, options=dict(spec.options))
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = spec.pix_fmt
        stream.codec_context.thread_count = 1
        # no encoder/muxer version strings: reruns with another FFmpeg differ only in the frames
        out.metadata["encoder"] = ""
        for i in range(frames):
            rgb = frame_at(float(i / spec.rate), spec.width, spec.height)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = 1 / spec.rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def build() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for spec in SPECS:
        path = OUT / spec.name
        encode(spec, path)
        size = path.stat().st_size
        print(f"{spec.name}: {size:,} bytes")
        if size > 200_000:
            raise SystemExit(f"{spec.name} is over 200 KB")


def reference() -> None:
    import vpdq  # Meta's package, in a scratch venv (see the module docstring)

    out: dict[str, object] = {
        "vpdq_version": _version("vpdq"),
        "seconds_per_hash": 1.0,
        "note": "vpdq.computeHash(path) with its defaults, on the FFmpeg it was built against",
        "videos": {},
    }
    ffmpeg = _ffmpeg_versions()
    if ffmpeg:
        out["ffmpeg"] = ffmpeg
    videos: dict[str, list[dict[str, object]]] = {}
    every: dict[str, list[dict[str, object]]] = {}
    for spec in SPECS:
        videos[spec.name] = _features(vpdq.computeHash(str(OUT / spec.name)))
        # seconds_per_hash=0: every frame hashed (decode order and B-frames checked too)
        every[spec.name] = _features(vpdq.computeHash(str(OUT / spec.name), seconds_per_hash=0))
    out["videos"] = videos
    out["every_frame"] = every
    REFERENCE.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    total = sum(len(v) for v in videos.values()) + sum(len(v) for v in every.values())
    print(f"wrote {REFERENCE} ({total} features)")


def _features(features: list) -> list[dict[str, object]]:  # type: ignore[type-arg]
    return [
        {
            "frame_number": f.frame_number,
            "timestamp": round(f.timestamp, 6),
            "pdq": f.hex,
            "quality": f.quality,
        }
        for f in features
    ]


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _ffmpeg_versions() -> dict[str, str]:
    import subprocess

    try:
        text = subprocess.run(
            ["pkg-config", "--modversion", "libavcodec", "libavformat", "libswscale"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return {}
    return dict(zip(("libavcodec", "libavformat", "libswscale"), text, strict=False))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", action="store_true", help="run Meta's vpdq on the videos")
    ns = ap.parse_args(argv)
    if ns.reference:
        reference()
    else:
        build()


if __name__ == "__main__":
    sys.exit(main())
