"""Redacted copies of photos, videos and audio: faces and chosen regions made unrecognisable,
chosen stretches of sound silenced, and no metadata at all.

* :func:`redact_image` decodes a picture (turned upright by its EXIF orientation), covers
  every face found by :func:`sahid.media.faces.detect_faces` and every manual region, and
  writes a new file without EXIF, XMP, IPTC, ICC or text chunks: JPEG for JPEG (and MPO)
  input, PNG for PNG, WebP for WebP, PNG for anything else (HEIC, TIFF, GIF …). Only the
  first frame of a multi-frame file is kept.
* :func:`redact_video` re-encodes the first video stream as H.264 in MP4, one frame at a
  time, with faces detected every few frames; audio is copied, or decoded, silenced in the
  given ranges and encoded as AAC.
* :func:`mute_audio` silences ranges of an audio-only file and writes AAC in M4A.

Every function returns the list of :class:`Operation` it carried out, for the ledger
entry that links the original and the copy. Anonymising is irreversible: each area is
pixelated to a few coarse blocks and then blurred. Only ``dst`` is written; nothing
passes through temporary files. Every failure is an :class:`sahid.errors.InputError`.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sahid.errors import InputError, SahidError
from sahid.media.faces import Box, detect_faces_array

if TYPE_CHECKING:
    import av.container

__all__ = [
    "DETECT_EVERY",
    "ENLARGE",
    "PIXEL_LIMIT",
    "Operation",
    "anonymise_array",
    "mute_audio",
    "redact_image",
    "redact_video",
]

#: Largest picture accepted, in pixels: a guard against decompression bombs.
PIXEL_LIMIT = 100_000_000
#: Each side of a face box grows by this share of the box's width or height.
ENLARGE = 0.2
#: Blocks across the longer side of an anonymised area (before the blur).
BLOCKS = 6
#: Faces are searched in every n-th video frame.
DETECT_EVERY = 5

Rect = tuple[int, int, int, int]
Progress = Callable[[int, int], None]
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Operation:
    """One redaction carried out on a copy.

    ``kind`` is ``"face"`` (a detected face, ``box`` already enlarged), ``"region"`` (a
    manual rectangle) or ``"mute"`` (silence). ``box`` is ``(x, y, w, h)`` in pixels of the
    upright picture; ``start_ms``/``end_ms`` bound the time an operation applies to in a
    video or audio file (``None`` for still images).
    """

    kind: Literal["face", "region", "mute"]
    box: Rect | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe dict with integers only (no floats)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.box is not None:
            x, y, w, h = self.box
            out["box"] = {"x": int(x), "y": int(y), "w": int(w), "h": int(h)}
        if self.start_ms is not None:
            out["start_ms"] = int(self.start_ms)
        if self.end_ms is not None:
            out["end_ms"] = int(self.end_ms)
        return out


# ---------------------------------------------------------------------------------------
# Anonymising pixels


def _enlarge(box: Box, width: int, height: int) -> Rect:
    dx = math.ceil(box.w * ENLARGE)
    dy = math.ceil(box.h * ENLARGE)
    x0, y0 = max(0, box.x - dx), max(0, box.y - dy)
    x1, y1 = min(width, box.x + box.w + dx), min(height, box.y + box.h + dy)
    return (x0, y0, x1 - x0, y1 - y0)


def anonymise_array(arr: np.ndarray[Any, Any], rect: Rect) -> None:
    """Make ``rect`` (x, y, w, h) of an H×W(×C) uint8 array unrecognisable, in place.

    The area is pixelated to :data:`BLOCKS` blocks across its longer side (each block
    becomes its mean colour) and then given a Gaussian blur half a block wide: only those
    few block means survive, so the detail is gone, not hidden.
    """
    import cv2

    x, y, w, h = rect
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(arr.shape[1], x + w), min(arr.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    w, h = x1 - x0, y1 - y0
    block = max(2, math.ceil(max(w, h) / BLOCKS))
    area = np.ascontiguousarray(arr[y0:y1, x0:x1])
    nx, ny = max(1, round(w / block)), max(1, round(h / block))
    means = cv2.resize(area, (nx, ny), interpolation=cv2.INTER_AREA)  # one value per block
    # blur the blocks at 8 pixels a block (cheap), then scale up to the area's size
    step = min(8, block)
    coarse = cv2.resize(means, (nx * step, ny * step), interpolation=cv2.INTER_NEAREST)
    sigma = step / 2
    soft = cv2.GaussianBlur(coarse, (0, 0), sigmaX=sigma, sigmaY=sigma)
    blurred = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    arr[y0:y1, x0:x1] = blurred.reshape(area.shape)


def _check_regions(
    regions: Iterable[Sequence[int]], width: int, height: int, label: str
) -> list[Rect]:
    out: list[Rect] = []
    for region in regions:
        if len(region) != 4 or not all(isinstance(v, int) for v in region):
            raise InputError(
                f"region {tuple(region)!r} for {label} must be four integers x, y, w, h"
            )
        x, y, w, h = region
        if w <= 0 or h <= 0:
            raise InputError(
                f"region {tuple(region)} for {label} has no area: give w and h above 0"
            )
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            raise InputError(
                f"region {tuple(region)} lies outside the {width}×{height} picture of {label}; "
                "give x, y, w, h in pixels of the upright picture"
            )
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# ---------------------------------------------------------------------------------------
# Images

_OUTPUT_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_BOMB_RE = re.compile(r"\((\d+) pixels\)")


def _bomb_message(label: str, size: tuple[int, int] | None, pixels: int | None) -> str:
    what = f"{size[0]}×{size[1]} pixels" if size else f"{pixels or 'too many'} pixels"
    return (
        f"{label}: image is {what}, over the limit of {PIXEL_LIMIT // 1_000_000} megapixels; "
        "it may be a decompression bomb — check the file, or scale it down before redacting"
    )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The size a picture's header claims, read without Pillow's decompression-bomb check."""
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is not None and not accept(data[:16]):
                continue
            opened = factory(io.BytesIO(data), "")
            return (int(opened.size[0]), int(opened.size[1]))
        except Exception:  # noqa: S112 - try the next format
            continue
    return None


def _webp_lossless(data: bytes) -> bool:
    """Whether a WebP file's image is VP8L (lossless) rather than VP8."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8L"
        pos += 8 + size + (size & 1)
    return False


def _register_heif() -> None:
    try:
        from sahid.media.metadata import _register_heif as register

        register()
    except Exception:  # noqa: S110 - HEIF support is optional
        pass


def _open_image(data: bytes, label: str, *, draft: int | None = None) -> tuple[Image.Image, str]:
    """Decoded, upright picture and its Pillow format; InputError for anything wrong.

    ``draft`` lets a JPEG decoder skip detail not needed for a picture of that many pixels
    a side (for thumbnails).
    """
    if not data:
        raise InputError(f"{label} is empty: give the original picture file")
    # A library may have switched this on process-wide (WeasyPrint does on import):
    # a truncated picture must be reported, never half-decoded.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftypheif"):
        _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            match = _BOMB_RE.search(str(exc))
            pixels = int(match.group(1)) if match else None
            raise InputError(_bomb_message(label, _header_size(data), pixels)) from None
        except UnidentifiedImageError:
            raise InputError(
                f"{label} is not a picture sahid can read: give a JPEG, PNG, WebP, HEIC or TIFF"
            ) from None
        except Exception as exc:
            raise InputError(
                f"{label} is damaged ({_one_line(exc)}): use the original or a complete copy"
            ) from None
        fmt = str(image.format or "PNG")
        width, height = image.size
        if width * height > PIXEL_LIMIT:
            raise InputError(_bomb_message(label, (width, height), None))
        try:
            if draft is not None and fmt in ("JPEG", "MPO"):
                image.draft("RGB", (draft, draft))
            image.load()
        except Exception as exc:
            raise InputError(
                f"{label} is truncated or damaged ({_one_line(exc)}): "
                "use the original or a complete copy"
            ) from None
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:
            upright = image  # unreadable EXIF: keep the stored orientation
    return _to_srgb(upright), fmt


def _to_srgb(image: Image.Image) -> Image.Image:
    """A copy in L, LA, RGB or RGBA, converted to sRGB if it carries an ICC profile."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    icc = image.info.get("icc_profile")
    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        try:
            image = image.convert("RGBA" if has_alpha else "RGB")
        except Exception:
            image = image.convert("RGB")
    if icc and image.mode in ("RGB", "RGBA"):
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode=image.mode)
            if converted is not None:
                image = converted
        except Exception:  # noqa: S110 - an unusable profile: keep the pixels as they are
            pass
    return image


def redact_image(
    src: bytes | BinaryIO,
    dst: BinaryIO,
    *,
    faces: bool,
    regions: Sequence[Rect] = (),
    name: str | None = None,
) -> list[Operation]:
    """Write to ``dst`` a copy of the picture ``src`` with faces and ``regions`` anonymised.

    ``regions`` are ``(x, y, w, h)`` in pixels of the upright picture (after EXIF
    orientation). The output carries no metadata at all. ``name`` labels error messages.
    """
    label = name or str(getattr(src, "name", "") or "the picture")
    data = bytes(src) if isinstance(src, bytes | bytearray) else src.read()
    image, fmt = _open_image(data, label)
    width, height = image.size
    manual = _check_regions(regions, width, height, label)

    arr = np.array(image)  # a writable copy, H×W or H×W×C uint8
    ops: list[Operation] = []
    if faces:
        rgb = arr if image.mode == "RGB" else np.asarray(image.convert("RGB"))
        for box in detect_faces_array(rgb):
            rect = _enlarge(box, width, height)
            ops.append(Operation("face", rect))
    ops.extend(Operation("region", rect) for rect in manual)
    for op in ops:
        assert op.box is not None
        anonymise_array(arr, op.box)

    out_format = _OUTPUT_FORMAT.get(fmt, "PNG")
    clean = Image.fromarray(arr, mode=image.mode)  # a new image: no info, no EXIF, no ICC
    if out_format == "JPEG" and clean.mode not in ("RGB", "L"):
        clean = clean.convert("RGB")
    buf = io.BytesIO()
    options: dict[str, Any] = {}
    if out_format == "JPEG":
        options = {"quality": 90, "optimize": True}
    elif out_format == "WEBP":
        options = {"quality": 90, "method": 4, "exif": b"", "icc_profile": ""}
        if _webp_lossless(data):
            options["lossless"] = True
    try:
        clean.save(buf, format=out_format, **options)
    except Exception as exc:
        raise InputError(f"cannot write the redacted copy of {label}: {_one_line(exc)}") from None
    dst.write(buf.getvalue())
    return ops


# ---------------------------------------------------------------------------------------
# Audio and video

_COPY_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac"})


def _check_mute(mute: Iterable[Sequence[int]], label: str) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for rng in mute:
        if len(rng) != 2 or not all(isinstance(v, int) for v in rng):
            raise InputError(f"mute range {tuple(rng)!r} for {label} must be two integers (ms)")
        start, end = rng
        if start < 0 or end <= start:
            raise InputError(
                f"mute range {start}–{end} ms for {label} is empty or negative: "
                "give start and end in milliseconds, start < end"
            )
        out.append((start, end))
    return sorted(out)


def _open_media(src: PathLike, label: str) -> av.container.InputContainer:
    import av

    path = Path(src)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror or _one_line(exc)}") from None
    if size == 0:
        raise InputError(f"{label} is empty (0 bytes): give the original recording")
    try:
        return av.open(str(path), metadata_errors="replace")
    except Exception as exc:
        raise InputError(
            f"{label} is not a video or audio file sahid can read ({_one_line(exc)})"
        ) from None


def _snapshot(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _discard(path: Path, before: tuple[int, int, int] | None) -> None:
    """Remove partial output (empty it if it is a descriptor path such as a memfd's).

    A file that was there before and has not been touched (``before`` is its snapshot)
    is left alone.
    """
    if before is not None and _snapshot(path) == before:
        return
    try:
        if path.is_symlink() or str(path).startswith(("/proc/", "/dev/")):
            if path.exists():
                os.truncate(path, 0)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _start_seconds(container: av.container.InputContainer) -> Fraction:
    start = container.start_time
    return Fraction(start, 1_000_000) if start is not None else Fraction(0)


class _Muter:
    """Decode → zero the samples inside the mute ranges → AAC encode, frame by frame."""

    def __init__(
        self, out: Any, in_stream: Any, mute: list[tuple[int, int]], origin: Fraction
    ) -> None:
        import av

        self.av = av
        self.mute = mute
        self.origin = origin
        rate = in_stream.codec_context.sample_rate or 48000
        self.stream = out.add_stream("aac", rate=rate)
        channels = in_stream.codec_context.channels or 2
        self.stream.layout = "mono" if channels == 1 else "stereo"  # more channels: downmixed
        self.stream.bit_rate = 96_000 if channels == 1 else 160_000
        self.stream.metadata.clear()
        self.next_sample = 0

    def process(self, frame: Any) -> None:
        arr = frame.to_ndarray()
        rate = frame.sample_rate
        if frame.pts is not None and frame.time_base is not None:
            start = Fraction(frame.pts) * frame.time_base - self.origin
        else:
            start = Fraction(self.next_sample, rate)
        planar = frame.format.is_planar
        channels = len(frame.layout.channels)
        n = frame.samples
        self.next_sample = int(start * rate) + n
        changed = False
        for lo_ms, hi_ms in self.mute:
            lo = math.floor(Fraction(lo_ms, 1000) * rate - start * rate)
            hi = math.ceil(Fraction(hi_ms, 1000) * rate - start * rate)
            lo, hi = max(0, lo), min(n, hi)
            if hi <= lo:
                continue
            changed = True
            if planar:
                arr[:, lo:hi] = 0
            else:
                arr[:, lo * channels : hi * channels] = 0
        if changed:
            new = self.av.AudioFrame.from_ndarray(
                arr, format=frame.format.name, layout=frame.layout.name
            )
            new.sample_rate = rate
            new.pts = frame.pts
            new.time_base = frame.time_base
            frame = new
        for packet in self.stream.encode(frame):
            self.out_mux(packet)

    def out_mux(self, packet: Any) -> None:
        self.stream.container.mux(packet)

    def flush(self) -> None:
        for packet in self.stream.encode(None):
            self.out_mux(packet)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _union(rects: Iterable[Rect]) -> list[Rect]:
    return sorted(set(rects))


def redact_video(
    src_path: PathLike,
    dst_path: PathLike,
    *,
    faces: bool,
    regions: Sequence[Rect] = (),
    mute: Sequence[tuple[int, int]] = (),
    progress: Progress | None = None,
    detect_every: int = DETECT_EVERY,
) -> list[Operation]:
    """Write to ``dst_path`` an MP4 (H.264, and AAC or copied audio) redacted copy.

    Faces are detected in every ``detect_every``-th frame; each frame is covered with the
    boxes found at the detections before and after it (and the one before that), so that
    moving faces stay covered. At most ``detect_every`` decoded frames are held at once.
    ``regions`` are ``(x, y, w, h)`` of the upright frame and cover the whole video;
    ``mute`` lists ``(start_ms, end_ms)`` of silence, from the start of the file.
    ``progress(done_frames, total_frames)`` is called as frames are written (the total is
    an estimate, 0 if unknown). Partial output is removed on failure.
    """
    label = Path(src_path).name
    if detect_every < 1:
        raise InputError("detect_every must be 1 or more")
    mute_ranges = _check_mute(mute, label)
    inp = _open_media(src_path, label)
    before = _snapshot(Path(dst_path))
    try:
        with inp:
            return _redact_video(
                inp, Path(dst_path), label, faces, regions, mute_ranges, progress, detect_every
            )
    except SahidError:
        _discard(Path(dst_path), before)
        raise
    except Exception as exc:
        _discard(Path(dst_path), before)
        raise InputError(f"cannot redact {label}: {_one_line(exc)}") from None


def _redact_video(
    inp: av.container.InputContainer,
    dst: Path,
    label: str,
    faces: bool,
    regions: Sequence[Rect],
    mute: list[tuple[int, int]],
    progress: Progress | None,
    every: int,
) -> list[Operation]:
    import av

    videos = [
        s for s in inp.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if not videos:
        raise InputError(
            f"{label} has no video stream: for a sound recording use mute_audio instead"
        )
    if inp.format.name == "image2" or inp.format.name.endswith("_pipe"):
        raise InputError(f"{label} is a picture, not a video: redact it with redact_image")
    vin = videos[0]
    if vin.codec_context is None or not vin.codec_context.name:
        raise InputError(f"{label}: its video codec is not supported; convert it to H.264 first")
    vin.thread_type = "AUTO"
    ain = inp.streams.audio[0] if inp.streams.audio else None
    if mute and ain is None:
        raise InputError(f"{label} has no sound to mute: remove the mute ranges")
    origin = _start_seconds(inp)
    rate = vin.average_rate or vin.guessed_rate or Fraction(25)
    total = vin.frames or 0
    if not total and inp.duration:
        total = int(Fraction(inp.duration, 1_000_000) * rate)

    out = av.open(str(dst), mode="w", format="mp4", options={"fflags": "+bitexact"})
    ops: list[Operation] = []
    with out:
        vout = out.add_stream("libx264", rate=rate)
        vout.pix_fmt = "yuv420p"
        vout.options = {"crf": "20", "preset": "veryfast"}
        vout.codec_context.time_base = vin.time_base or Fraction(1, 90000)
        vout.metadata.clear()
        muter: _Muter | None = None
        aout: Any = None
        if ain is not None:
            if mute or ain.codec_context.name not in _COPY_AUDIO:
                muter = _Muter(out, ain, mute, origin)
            else:
                aout = out.add_stream_from_template(ain)
                aout.metadata.clear()
        out.metadata.clear()

        state = _VideoState(out, vout, label, faces, regions, every, progress, total, origin)
        streams = [vin] + ([ain] if ain is not None else [])
        backlog: list[Any] = []  # audio packets read before the first video frame

        def audio(packet: Any) -> None:
            if muter is not None:
                for aframe in packet.decode():
                    muter.process(aframe)
            elif aout is not None and packet.dts is not None:
                packet.stream = aout
                out.mux(packet)

        try:
            for packet in inp.demux(streams):
                if packet.stream is vin:
                    for frame in packet.decode():
                        state.push(frame)
                    if backlog and state.size is not None:
                        for held in backlog:
                            audio(held)
                        backlog = []
                elif state.size is None:
                    backlog.append(packet)
                else:
                    audio(packet)
        except av.FFmpegError as exc:
            if state.frames == 0:
                raise InputError(
                    f"{label}: cannot decode its video ({_one_line(exc)}); "
                    "the codec may be unsupported — convert it to H.264 first"
                ) from None
            raise InputError(
                f"{label} is damaged after {state.frames} frames: {_one_line(exc)}"
            ) from None
        if state.frames == 0:
            raise InputError(f"{label} holds no video frames: give the original recording")
        for held in backlog:
            audio(held)
        state.finish()
        if muter is not None:
            muter.flush()
        ops = state.operations()
        end_ms = state.last_ms
        ops.extend(Operation("region", r, 0, end_ms) for r in state.regions)
        ops.extend(Operation("mute", None, lo, hi) for lo, hi in mute)
    return ops


class _VideoState:
    """Frames waiting for the next face detection, and what has been done so far."""

    def __init__(
        self,
        out: Any,
        vout: Any,
        label: str,
        faces: bool,
        regions: Sequence[Rect],
        every: int,
        progress: Progress | None,
        total: int,
        origin: Fraction,
    ) -> None:
        self.out, self.vout, self.label = out, vout, label
        self.faces, self.raw_regions, self.every = faces, regions, every
        self.progress, self.total, self.origin = progress, total, origin
        self.regions: list[Rect] = []
        self.size: tuple[int, int] | None = None  # upright (width, height) of the output
        self.pending: list[tuple[np.ndarray[Any, Any], int, Fraction]] = []
        self.before: list[Rect] = []  # detection before the pending frames' own
        self.current: list[Rect] = []  # detection on the first pending frame
        self.frames = 0
        self.written = 0
        self.last_pts = -1
        self.last_ms = 0
        self.face_ops: list[Operation] = []

    def push(self, frame: Any) -> None:
        arr = frame.to_ndarray(format="rgb24")
        turn = round((frame.rotation or 0) / 90) % 4
        if turn:
            arr = np.rot90(arr, k=turn)
        if self.size is None:
            height, width = arr.shape[:2]
            self.size = (_even(width), _even(height))
            self.vout.width, self.vout.height = self.size
            self.regions = _check_regions(self.raw_regions, width, height, self.label)
        width, height = self.size
        arr = np.ascontiguousarray(arr[:height, :width])
        if arr.shape[0] != height or arr.shape[1] != width:
            padded = np.zeros((height, width, 3), dtype=np.uint8)
            padded[: arr.shape[0], : arr.shape[1]] = arr
            arr = padded
        time_base = frame.time_base or self.vout.codec_context.time_base
        pts = frame.pts if frame.pts is not None else self.last_pts + 1
        if pts <= self.last_pts:
            pts = self.last_pts + 1
        self.last_pts = pts
        if self.frames % self.every == 0 and self.pending:
            following = self._detect(arr)
            self._flush(following)
            self.before, self.current = self.current, following
        elif self.frames == 0:
            self.current = self._detect(arr)
        self.pending.append((arr, pts, Fraction(time_base)))
        self.frames += 1

    def _detect(self, arr: np.ndarray[Any, Any]) -> list[Rect]:
        if not self.faces:
            return []
        assert self.size is not None
        width, height = self.size
        return [_enlarge(b, width, height) for b in detect_faces_array(arr)]

    def _flush(self, following: list[Rect]) -> None:
        import av

        rects = _union(self.before + self.current + following)
        first_ms = last_ms = None
        for arr, pts, time_base in self.pending:
            for rect in rects + self.regions:
                anonymise_array(arr, rect)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = pts
            frame.time_base = time_base
            for packet in self.vout.encode(frame):
                self.out.mux(packet)
            ms = int((Fraction(pts) * time_base - self.origin) * 1000)
            first_ms = ms if first_ms is None else first_ms
            last_ms = ms
            self.written += 1
            if self.progress is not None:
                self.progress(self.written, max(self.total, self.written))
        if first_ms is not None and last_ms is not None:
            self.last_ms = max(self.last_ms, last_ms)
            self.face_ops.extend(Operation("face", r, first_ms, last_ms) for r in rects)
        self.pending = []

    def finish(self) -> None:
        if self.pending:
            self._flush([])
        if self.frames:
            for packet in self.vout.encode(None):
                self.out.mux(packet)

    def operations(self) -> list[Operation]:
        return list(self.face_ops)


def mute_audio(
    src_path: PathLike, dst_path: PathLike, mute: Sequence[tuple[int, int]]
) -> list[Operation]:
    """Write to ``dst_path`` an M4A (AAC) copy of an audio file, silent in ``mute`` ranges.

    Only the first audio stream is kept; there is no metadata or cover art in the copy.
    """
    import av

    label = Path(src_path).name
    ranges = _check_mute(mute, label)
    inp = _open_media(src_path, label)
    dst = Path(dst_path)
    before = _snapshot(dst)
    try:
        with inp:
            if not inp.streams.audio:
                raise InputError(f"{label} has no sound: there is nothing to mute")
            ain = inp.streams.audio[0]
            origin = _start_seconds(inp)
            out = av.open(str(dst), mode="w", format="ipod", options={"fflags": "+bitexact"})
            with out:
                muter = _Muter(out, ain, ranges, origin)
                out.metadata.clear()
                decoded = 0
                try:
                    for packet in inp.demux(ain):
                        for frame in packet.decode():
                            muter.process(frame)
                            decoded += 1
                except av.FFmpegError as exc:
                    if decoded == 0:
                        raise InputError(
                            f"{label}: cannot decode its sound ({_one_line(exc)}); "
                            "convert it to WAV or AAC first"
                        ) from None
                    raise InputError(f"{label} is damaged: {_one_line(exc)}") from None
                if decoded == 0:
                    raise InputError(f"{label} holds no sound: give the original recording")
                muter.flush()
    except SahidError:
        _discard(dst, before)
        raise
    except Exception as exc:
        _discard(dst, before)
        raise InputError(f"cannot mute {label}: {_one_line(exc)}") from None
    return [Operation("mute", None, lo, hi) for lo, hi in ranges]
