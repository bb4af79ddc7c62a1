"""Decode a video from its bytes (PyAV), once, for vPDQ and for the keyframes analysed.

One pass over the decoded frames does three things:

- vPDQ sampling, exactly as Meta's ``vpdq`` does (see ``analyzers.vpdq``): frames are counted
  in the decoder's output order, every ``frame_mod``-th is converted to RGB24 at the stream's
  own size (swscale ``AREA``, BT.601, the range its pixel format implies, whatever the stream
  is tagged with) and handed to ``on_vpdq_frame`` (the caller hashes it; nothing full-size is
  kept);
- scene changes: each frame shrunk to 64x48 grey and compared with the frame before it (mean
  absolute difference over ``SCENE_CHANGE_LEVEL``);
- keyframes for analysis: the first frame, then a frame at a scene change, but at most one per
  ``min_spacing_s`` (1 s, or longer for long videos so that ``MAX_KEYFRAMES`` cover all of it),
  plus one after ``max_gap_s`` without a change (a slow pan is analysed too); at most
  ``MAX_KEYFRAMES``, each shrunk to fit ``ANALYSIS_SIDE`` with the stream's rotation applied.

Evidence is hostile: every PyAV/FFmpeg error becomes a ``Problem`` (never an exception out of
``decode_video``). Bounds: declared size (``MAX_PIXELS``), duration and frames decoded
(``MAX_DURATION_S``, ``MAX_FRAMES``: the rest is not decoded, ``video_too_long``), wall time
(``MAX_DECODE_SECONDS``: ``video_partly_decoded``).
"""

from __future__ import annotations

import contextlib
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from consentry.media.decode import ANALYSIS_SIDE
from consentry.records.problems import Code, Problem

MAX_PIXELS = 8192 * 4320  # 8K; a larger declared frame is a bomb, not a camera
MAX_DURATION_S = 2 * 3600.0  # decoded and analysed up to here
MAX_FRAMES = 500_000  # frames decoded at most (2 h at 60 fps is 432,000)
MAX_DECODE_SECONDS = 600.0  # wall time for one video
MAX_KEYFRAMES = 60
MIN_SPACING_S = 1.0  # at most one keyframe per second
MAX_GAP_S = 10.0  # a keyframe at least this often when nothing changes
SCENE_SIDE = (64, 48)
SCENE_CHANGE_LEVEL = 30.0  # mean absolute grey difference (0-255) between consecutive frames
FALLBACK_RATE = 25.0  # frame rate used when the stream declares none (vpdq refuses such video)
# decoding stops short when this share of the declared frames was not decoded
PARTLY_DECODED_SHARE = 0.95

VpdqSink = Callable[[int, float, np.ndarray], None]  # frame number, frame rate, RGB24 frame


@dataclass
class Keyframe:
    frame_number: int
    time_s: float
    rgb: np.ndarray  # fits ANALYSIS_SIDE, rotation applied
    width: int  # the frame as decoded (before rotation and shrinking)
    height: int
    scene_change: bool


@dataclass
class DecodedVideo:
    decoded: bool  # at least one frame was decoded
    container: str | None = None
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    frame_count: int = 0  # frames decoded
    declared_frames: int | None = None
    duration_s: float | None = None  # declared by the container, else up to the last frame
    rotation: int = 0
    keyframes: list[Keyframe] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _rate(stream: object) -> float | None:
    for attr in ("average_rate", "base_rate", "guessed_rate"):
        value = getattr(stream, attr, None)
        if value is not None and value.numerator > 0 and value.denominator > 0:
            return float(value)
    return None


def _fit(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rotated(rgb: np.ndarray, rotation: int) -> np.ndarray:
    # PyAV's rotation is the display matrix's counter-clockwise angle
    turns = (round(rotation / 90) % 4) if rotation else 0
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


# 8-bit formats whose first plane is the luma, read in place for scene detection
_LUMA_FIRST = {
    "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv411p", "yuv410p",
    "yuv440p", "yuvj440p", "nv12", "nv21", "nv16", "gray",
}  # fmt: skip


def _grey(frame: Any) -> np.ndarray:
    """The frame as a SCENE_SIDE grey grid: luma sampled in place (no conversion) where the
    format allows, else converted; good enough to see a cut, and nearly free per frame."""
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        luma = luma[:, : plane.width]
        sy = max(1, plane.height // SCENE_SIDE[1])
        sx = max(1, plane.width // SCENE_SIDE[0])
        return luma[::sy, ::sx][: SCENE_SIDE[1], : SCENE_SIDE[0]].astype(np.float32)
    return (
        frame.reformat(
            width=SCENE_SIDE[0], height=SCENE_SIDE[1], format="gray", interpolation="AREA"
        )
        .to_ndarray()
        .astype(np.float32)
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def decode_video(
    data: bytes | BinaryIO,
    on_vpdq_frame: VpdqSink | None = None,
    *,
    seconds_per_hash: float = 1.0,
    max_keyframes: int = MAX_KEYFRAMES,
    max_duration_s: float = MAX_DURATION_S,
    max_frames: int = MAX_FRAMES,
    max_decode_seconds: float = MAX_DECODE_SECONDS,
    analysis_side: int = ANALYSIS_SIDE,
) -> DecodedVideo:
    """Decode ``data`` (the file's bytes, or a seekable binary stream for a file too large to
    hold in memory); never raises for any input (errors are the result's problems).

    ``on_vpdq_frame`` may raise ``ValueError`` (a frame it cannot hash): recorded, decoding
    goes on."""
    import av  # PyAV is loaded only when a video is met

    out = DecodedVideo(decoded=False)
    try:
        source = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        container = av.open(source, mode="r", metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - FFmpeg's error tree, and worse, on hostile bytes
        out.problems.append(Problem(Code.CORRUPT_VIDEO, f"cannot open video: {_error(exc)}"))
        return out
    try:
        _decode(
            container,
            out,
            on_vpdq_frame,
            seconds_per_hash,
            max_keyframes,
            max_duration_s,
            max_frames,
            max_decode_seconds,
            analysis_side,
        )
    except Exception as exc:  # noqa: BLE001 - no video may stop a scan
        out.problems.append(
            Problem(
                Code.VIDEO_PARTLY_DECODED if out.decoded else Code.CORRUPT_VIDEO,
                f"decoding failed after {out.frame_count} frames: {_error(exc)}",
            )
        )
    finally:
        with contextlib.suppress(Exception):  # closing a broken container may fail too
            container.close()
    return out


def _decode(
    container: object,
    out: DecodedVideo,
    on_vpdq_frame: VpdqSink | None,
    seconds_per_hash: float,
    max_keyframes: int,
    max_duration_s: float,
    max_frames: int,
    max_decode_seconds: float,
    analysis_side: int,
) -> None:
    import av

    assert isinstance(container, av.container.InputContainer)
    out.container = container.format.name
    streams = container.streams.video
    if not streams:
        out.problems.append(Problem(Code.CORRUPT_VIDEO, "no video stream in the file"))
        return
    stream = streams[0]
    ctx = stream.codec_context
    out.codec = ctx.name
    width, height = int(ctx.width or 0), int(ctx.height or 0)
    out.width, out.height = width or None, height or None
    if width <= 0 or height <= 0:
        out.problems.append(Problem(Code.CORRUPT_VIDEO, "the video stream has no frame size"))
        return
    if width * height > MAX_PIXELS:
        out.problems.append(
            Problem(
                Code.TOO_LARGE_FOR_ANALYSIS,
                f"declared frame {width}x{height} is over {MAX_PIXELS:,} pixels: not decoded",
            )
        )
        return
    rate = _rate(stream)
    if rate is None:
        out.problems.append(
            Problem(
                Code.VIDEO_PARTLY_DECODED,
                f"no frame rate declared: vPDQ sampled as at {FALLBACK_RATE:g} fps "
                "(Meta's vpdq refuses such a video)",
            )
        )
    out.frame_rate = rate
    rate_used = rate or FALLBACK_RATE
    mod = max(1, int(seconds_per_hash * rate_used)) if seconds_per_hash > 0 else 1
    out.declared_frames = int(stream.frames) or None
    declared = None
    if container.duration is not None and container.duration > 0:
        declared = container.duration / 1_000_000
    elif stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
    rotation = 0
    ctx.thread_count = 1  # one worker per core already
    src_range = "JPEG" if (ctx.format is not None and ctx.format.name.startswith("yuvj")) else None
    min_spacing = MIN_SPACING_S
    max_gap = MAX_GAP_S
    if declared and declared > 0:
        span = min(declared, max_duration_s)
        min_spacing = max(MIN_SPACING_S, span / max_keyframes)
        max_gap = max(MAX_GAP_S, 2 * span / max_keyframes)
    started = time.monotonic()
    previous: np.ndarray | None = None
    last_key: float | None = None
    first_pts: float | None = None
    last_t = 0.0
    number = -1
    stopped: Problem | None = None
    for frame in container.decode(stream):
        number += 1
        out.frame_count = number + 1
        out.decoded = True
        if frame.pts is not None and frame.time_base is not None:
            pts = float(frame.pts * frame.time_base)
            if first_pts is None:
                first_pts = pts
            t = pts - first_pts
        else:
            t = number / rate_used
        if not math.isfinite(t) or t < 0:
            t = number / rate_used
        last_t = max(last_t, t)
        if number == 0:
            rotation = int(getattr(frame, "rotation", 0) or 0)
            out.rotation = rotation
            if src_range is None and frame.format.name.startswith("yuvj"):
                src_range = "JPEG"
        if frame.width * frame.height > MAX_PIXELS:  # the stream changed size part-way
            stopped = Problem(
                Code.VIDEO_PARTLY_DECODED,
                f"frame {number} is {frame.width}x{frame.height}, over {MAX_PIXELS:,} pixels: "
                "decoding stopped",
            )
            break
        fmt = frame.format.name
        if on_vpdq_frame is not None and number % mod == 0:
            rgb = frame.reformat(
                width=width,
                height=height,
                format="rgb24",
                src_colorspace="ITU601",
                interpolation="AREA",
                src_color_range="JPEG" if fmt.startswith("yuvj") else "MPEG",
                dst_color_range="JPEG",
            ).to_ndarray()
            try:
                on_vpdq_frame(number, rate_used, rgb)
            except ValueError as exc:
                if not any(p.code is Code.VIDEO_PARTLY_DECODED for p in out.problems):
                    out.problems.append(
                        Problem(Code.VIDEO_PARTLY_DECODED, f"frame {number}: {exc}"[:300])
                    )
        grey = _grey(frame)
        change = previous is not None and float(np.abs(grey - previous).mean()) > SCENE_CHANGE_LEVEL
        previous = grey
        if len(out.keyframes) < max_keyframes and (
            last_key is None or (change and t - last_key >= min_spacing) or t - last_key >= max_gap
        ):
            w, h = _fit(frame.width, frame.height, analysis_side)
            small = frame.reformat(
                width=w, height=h, format="rgb24", interpolation="AREA"
            ).to_ndarray()
            out.keyframes.append(
                Keyframe(
                    number,
                    round(t, 3),
                    _rotated(small, rotation),
                    frame.width,
                    frame.height,
                    bool(change),
                )
            )
            last_key = t
        if t > max_duration_s or out.frame_count >= max_frames:
            stopped = Problem(
                Code.VIDEO_TOO_LONG,
                f"decoding stopped at {t:.0f} s / {out.frame_count:,} frames (limits "
                f"{max_duration_s:.0f} s, {max_frames:,} frames): the rest is hashed, not "
                "analysed",
            )
            break
        if time.monotonic() - started > max_decode_seconds:
            stopped = Problem(
                Code.VIDEO_PARTLY_DECODED,
                f"decoding took over {max_decode_seconds:.0f} s: stopped at {t:.0f} s "
                f"({out.frame_count:,} frames)",
            )
            break
    out.duration_s = round(declared, 3) if declared else round(last_t + 1 / rate_used, 3)
    if stopped is not None:
        out.problems.append(stopped)
    elif not out.decoded:
        out.problems.append(Problem(Code.CORRUPT_VIDEO, "no frame could be decoded"))
    elif out.declared_frames and out.frame_count < out.declared_frames * PARTLY_DECODED_SHARE:
        out.problems.append(
            Problem(
                Code.VIDEO_PARTLY_DECODED,
                f"decoded {out.frame_count:,} of {out.declared_frames:,} declared frames",
            )
        )
    elif declared and last_t + 1 / rate_used < declared * PARTLY_DECODED_SHARE - 0.5:
        out.problems.append(
            Problem(
                Code.VIDEO_PARTLY_DECODED,
                f"frames decoded up to {last_t:.1f} s of {declared:.1f} s declared",
            )
        )


__all__ = ["MAX_KEYFRAMES", "DecodedVideo", "Keyframe", "decode_video"]
