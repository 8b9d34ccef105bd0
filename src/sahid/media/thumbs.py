"""Small JPEG previews of pictures and videos.

Thumbnails and keyframes show the faces of the people in the evidence: callers store them
encrypted like the originals. They carry no metadata (no EXIF, ICC, comments).

Video keyframes are found by seeking, so only a few frames are ever decoded and held.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from sahid.errors import InputError, SahidError
from sahid.media.redact import PathLike, _one_line, _open_image
from sahid.media.video import _open_media

__all__ = ["image_thumbnail", "video_keyframes"]

#: At most this many frames are decoded after a seek while looking for the wanted time.
MAX_DECODE_AFTER_SEEK = 250


def _jpeg(image: Image.Image, max_side: int) -> bytes:
    if max_side < 1:
        raise InputError("max_side must be 1 or more")
    if image.mode not in ("RGB", "L"):
        if image.mode in ("RGBA", "LA"):
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image.convert("RGBA"), mask=image.convert("RGBA").split()[3])
            image = background
        else:
            image = image.convert("RGB")
    image = image.copy()
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    clean = Image.frombytes(image.mode, image.size, image.tobytes())  # no info at all
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=85, optimize=True)
    return buf.getvalue()


def image_thumbnail(
    src: bytes | BinaryIO | Image.Image, max_side: int = 320, *, name: str | None = None
) -> bytes:
    """A JPEG no larger than ``max_side`` on its longer side, upright, without metadata."""
    if isinstance(src, Image.Image):
        return _jpeg(src, max_side)
    label = name or str(getattr(src, "name", "") or "the picture")
    data = bytes(src) if isinstance(src, bytes | bytearray) else src.read()
    image, _ = _open_image(data, label, draft=max_side * 2)
    return _jpeg(image, max_side)


def sample_frames(
    path: PathLike, count: int, *, name: str | None = None
) -> Iterator[tuple[int, Image.Image]]:
    """Up to ``count`` upright frames spread evenly over a video: ``(time in ms, image)``.

    Each frame is reached by seeking to the keyframe before it and decoding forward; one
    decoded frame is held at a time. ``name`` labels errors (default: the file name).
    """
    label = name or Path(path).name
    if count < 1:
        raise InputError("count must be 1 or more")
    inp = _open_media(path, label)
    try:
        with inp:
            yield from _sample(inp, label, count)
    except SahidError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read frames of {label}: {_one_line(exc)}") from None


def _upright(frame: Any) -> Image.Image:
    arr = frame.to_ndarray(format="rgb24")
    turn = round((frame.rotation or 0) / 90) % 4
    if turn:
        arr = np.ascontiguousarray(np.rot90(arr, k=turn))
    return Image.fromarray(arr, mode="RGB")


def _sample(inp: Any, label: str, count: int) -> Iterator[tuple[int, Image.Image]]:
    import av

    videos = [
        s for s in inp.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if not videos:
        raise InputError(f"{label} has no video stream: there are no frames to show")
    stream = videos[0]
    time_base = stream.time_base or Fraction(1, 1_000_000)
    origin = Fraction(inp.start_time or 0, 1_000_000)
    duration = Fraction(inp.duration, 1_000_000) if inp.duration else None
    if duration is None and stream.duration is not None:
        duration = stream.duration * time_base
    targets = [duration * (2 * i + 1) / (2 * count) for i in range(count)] if duration else [0]
    seen: set[int] = set()
    for target in targets:
        when = origin + target
        try:
            inp.seek(int(when / time_base), stream=stream, backward=True, any_frame=False)
        except av.FFmpegError:
            if targets[0] != target:
                continue
        best: Any = None
        best_ms = 0
        decoded = 0
        try:
            for frame in inp.decode(stream):
                decoded += 1
                t = frame.time if frame.time is not None else when
                best, best_ms = frame, int((Fraction(t) - origin) * 1000)
                if t >= when or decoded >= MAX_DECODE_AFTER_SEEK:
                    break
        except av.FFmpegError as exc:
            if best is None:
                raise InputError(
                    f"{label}: cannot decode its video ({_one_line(exc)}); "
                    "the codec may be unsupported"
                ) from None
        if best is None:
            continue
        if best_ms in seen:
            continue
        seen.add(best_ms)
        yield max(0, best_ms), _upright(best)
    if not seen:
        raise InputError(f"{label} holds no video frames: give the original recording")


def video_keyframes(
    path: PathLike, count: int = 5, max_side: int = 320, *, name: str | None = None
) -> list[tuple[int, bytes]]:
    """Up to ``count`` JPEG frames spread over a video: ``(time in ms, JPEG bytes)``."""
    return [(ms, _jpeg(image, max_side)) for ms, image in sample_frames(path, count, name=name)]
