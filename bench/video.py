"""Video throughput: decode + vPDQ, and the full analysis (keyframes through the analyzers).

Builds a synthetic harmless video (drawn colour fields with moving discs, a cut every
``--scene-s`` seconds; nothing downloaded), then times, in this process:

- ``decode + vPDQ``: ``media.video.decode_video`` with the vPDQ sink (every frame decoded, one a
  second hashed at full size, scene detection on every frame, keyframes kept);
- ``analyse_video``: the same plus the planned analyzers on each keyframe and the contact sheet
  (the scan's default analyzers: explicit, faces, provenance), after loading them once;
- with ``--vpdq-python PATH`` (a venv where Meta's ``vpdq`` is installed), Meta's
  ``vpdq.computeHash`` on the same file, and whether its features equal ours.

    .venv/bin/python bench/video.py --seconds 60 --size 1280x720
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image


def picture(t: float, w: int, h: int, scene_s: float) -> np.ndarray:
    scene = int(t // scene_s)
    rng = np.random.default_rng(1000 + scene)
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)).copy()
    yy, xx = np.ogrid[0:h, 0:w]
    cx = w * (0.2 + 0.6 * ((t % scene_s) / scene_s))
    cy = h * (0.5 + 0.2 * np.sin(t))
    r = min(w, h) * 0.15
    base[((xx - cx) ** 2 + (yy - cy) ** 2) < r * r] = (240, 220, 40)
    return base


def build(path: Path, seconds: float, w: int, h: int, fps: int, scene_s: float) -> None:
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"crf": "26"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(picture(i / fps, w, h, scene_s), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


META = """
import json, sys, time, vpdq
t = time.perf_counter()
f = vpdq.computeHash(sys.argv[1], thread_count=1)
print(json.dumps({"s": time.perf_counter() - t,
                  "features": [[x.frame_number, x.hex, x.quality] for x in f]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--scene-s", type=float, default=5.0)
    ap.add_argument("--vpdq-python", help="python of a venv with Meta's vpdq installed")
    ns = ap.parse_args()
    w, h = (int(v) for v in ns.size.split("x"))

    from consentry.analyzers import runner, vpdq
    from consentry.analyzers.plan import AnalysisPlan
    from consentry.analyzers.registry import BUILTIN_NAMES
    from consentry.analyzers.video import analyse_video
    from consentry.media.video import decode_video

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        build(path, ns.seconds, w, h, ns.fps, ns.scene_s)
        data = path.read_bytes()
        features: list = []  # type: ignore[type-arg]
        t = time.perf_counter()
        video = decode_video(data, lambda n, r, rgb: features.append(vpdq.feature("b", n, r, rgb)))
        decode_s = time.perf_counter() - t

        runner.init_process(AnalysisPlan(frozenset(BUILTIN_NAMES), str(Path(tmp) / "case")))
        t = time.perf_counter()
        outcome = analyse_video(data, "b" * 64)
        full_s = time.perf_counter() - t
        result = {
            "video": f"{w}x{h} h264 {ns.fps} fps, {ns.seconds:g} s, {len(data):,} bytes",
            "frames_decoded": video.frame_count,
            "vpdq_features": len(features),
            "keyframes": len(video.keyframes),
            "decode_vpdq_s": round(decode_s, 2),
            "decode_fps": round(video.frame_count / decode_s, 1),
            "analyse_video_s": round(full_s, 2),
            "analysed_keyframes_per_s": round(outcome.keyframes_analysed / full_s, 2),
            "realtime_factor": round(ns.seconds / full_s, 2),
            "analyzers": sorted(BUILTIN_NAMES),
        }
        if ns.vpdq_python:
            meta = json.loads(
                subprocess.run(
                    [ns.vpdq_python, "-c", META, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            ours = [[f.frame_number, f.pdq, f.quality] for f in features]
            result["meta_vpdq_s"] = round(meta["s"], 2)
            result["equal_to_meta_vpdq"] = ours == meta["features"]
            result["differing_features"] = sum(
                a != b for a, b in zip(ours, meta["features"], strict=False)
            )
        print(json.dumps(result, indent=1))
    sys.exit(0)


if __name__ == "__main__":
    main()
