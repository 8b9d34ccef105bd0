"""Redacted copies of videos and sound recordings (DESIGN §6).

* :func:`redact_video` re-encodes the first video stream as H.264 in MP4, one frame at a
  time, with faces detected every few frames; audio is copied, or decoded, silenced in the
  given ranges and encoded as AAC.
* :func:`mute_audio` silences ranges of an audio-only file and writes AAC in M4A.

Both return the :class:`sahid.media.redact.Operation` list they carried out, write only
``dst_path`` (partial output is removed on failure) and raise
:class:`sahid.errors.InputError` for anything wrong with the input. Pictures are handled
by :mod:`sahid.media.redact`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sahid.errors import InputError, SahidError
from sahid.media.faces import detect_faces_array
from sahid.media.redact import (
    DETECT_EVERY,
    Operation,
    PathLike,
    Rect,
    _check_regions,
    _enlarge,
    _one_line,
    anonymise_array,
)

if TYPE_CHECKING:
    import av.container

__all__ = ["mute_audio", "redact_video"]

Progress = Callable[[int, int], None]


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
        # FFmpeg's message ends with the path opened (a /proc/self/fd/N of a memfd): the
        # label names the file instead.
        reason = str(getattr(exc, "strerror", None) or _one_line(exc))
        raise InputError(
            f"{label} is not a video or audio file sahid can read ({reason})"
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


#: A stream may end this much before the duration its container states (seconds).
END_TOLERANCE = Fraction(1)


def _incomplete(label: str, detail: str) -> InputError:
    return InputError(
        f"{label} is truncated or damaged ({detail}): use the original or a complete copy"
    )


class _Extent:
    """How much of a file the demuxer delivered: packets per stream, and where they end.

    A file cut short (a download or a copy that stopped) still opens when its index comes
    first (a moov-first MP4), and decoding then simply stops early: :meth:`check` compares
    what was read with what the container announces, so that a copy of part of a
    recording is refused instead of being passed off as the whole.
    """

    def __init__(self, label: str, origin: Fraction) -> None:
        self.label = label
        self.origin = origin
        self.packets: dict[int, int] = {}
        self.end = Fraction(0)

    def see(self, packet: Any) -> None:
        if not packet.size:
            return  # the flush packet a demuxer gives at the end of each stream
        when = None
        if packet.pts is not None and packet.time_base is not None:
            when = Fraction(packet.pts) * packet.time_base - self.origin
            end = when + Fraction(packet.duration or 0) * packet.time_base
            self.end = max(self.end, end)
        if packet.is_corrupt:
            at = f" at {float(when):.1f} s" if when is not None else ""
            raise _incomplete(self.label, f"its data stops{at}")
        index = packet.stream.index
        self.packets[index] = self.packets.get(index, 0) + 1

    def check(self, stream: Any, what: str, expected: int, duration: Fraction | None) -> None:
        """``expected``: the frames the container's index lists (0: unknown), read while
        the container was open; ``duration``: what it says it lasts (None: don't trust)."""
        got = self.packets.get(stream.index, 0)
        if expected > 0:
            if got < expected:
                raise _incomplete(
                    self.label, f"only {got} of its {expected} {what} frames are in the file"
                )
        elif duration is not None and self.end < duration - END_TOLERANCE:
            raise _incomplete(
                self.label, f"it ends at {float(self.end):.1f} s of {float(duration):.1f} s"
            )


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
    name: str | None = None,
) -> list[Operation]:
    """Write to ``dst_path`` an MP4 (H.264, and AAC or copied audio) redacted copy.

    Faces are detected in every ``detect_every``-th frame; each frame is covered with the
    boxes found at the detections before and after it (and the one before that), so that
    moving faces stay covered. At most ``detect_every`` decoded frames are held at once.
    ``regions`` are ``(x, y, w, h)`` of the upright frame and cover the whole video;
    ``mute`` lists ``(start_ms, end_ms)`` of silence, from the start of the file.
    ``progress(done_frames, total_frames)`` is called as frames are written (the total is
    an estimate, 0 if unknown). Partial output is removed on failure. ``name`` labels
    errors (default: the file name).
    """
    label = name or Path(src_path).name
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

        extent = _Extent(label, origin)
        expected = vin.frames or 0
        duration = Fraction(inp.duration, 1_000_000) if inp.duration else None
        try:
            for packet in inp.demux(streams):
                extent.see(packet)
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
        extent.check(vin, "video", expected, duration)
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
    src_path: PathLike,
    dst_path: PathLike,
    mute: Sequence[tuple[int, int]],
    *,
    name: str | None = None,
) -> list[Operation]:
    """Write to ``dst_path`` an M4A (AAC) copy of an audio file, silent in ``mute`` ranges.

    Only the first audio stream is kept; there is no metadata or cover art in the copy.
    ``name`` labels errors (default: the file name).
    """
    import av

    label = name or Path(src_path).name
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
                extent = _Extent(label, origin)
                expected = ain.frames or 0
                try:
                    for packet in inp.demux(ain):
                        extent.see(packet)
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
                # audio durations are often estimated from the bit rate: frames only
                extent.check(ain, "sound", expected, None)
                muter.flush()
    except SahidError:
        _discard(dst, before)
        raise
    except Exception as exc:
        _discard(dst, before)
        raise InputError(f"cannot mute {label}: {_one_line(exc)}") from None
    return [Operation("mute", None, lo, hi) for lo, hi in ranges]
