"""Test media made on the spot: sample photos from scikit-image and short synthetic videos."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

data: Any = pytest.importorskip("skimage.data")


def photo(name: str) -> Image.Image:
    """A scikit-image sample photo as an RGB or L Pillow image."""
    return Image.fromarray(getattr(data, name)())


def encoded(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def face_patch(size: tuple[int, int] = (120, 136)) -> Image.Image:
    """The astronaut's head and shoulders."""
    return photo("astronaut").crop((150, 30, 300, 200)).resize(size)


def make_video(
    path: Path,
    *,
    seconds: float = 2,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
    audio: bool = True,
    face: bool = True,
    rate: int = 48000,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    container: str = "mp4",
    sideways: bool = False,
    faststart: bool = False,
    audio_codec: str = "aac",
    sample_format: str = "fltp",
    tags: dict[str, str] | None = None,
) -> Path:
    """An MP4 (H.264) with the astronaut's face moving across, and a 440 Hz sine track
    (other containers and codecs as asked; ``tags`` are container metadata).

    ``sideways``: frames are stored turned 90° counterclockwise with a display matrix that
    turns them upright again, as phones record portrait video. ``faststart``: the index
    (moov) comes before the data, as in files made for streaming; such a file still opens
    when its end is cut off.
    """
    patch = face_patch((size[0] * 3 // 8, size[1] * 17 // 30))
    options = {"movflags": "faststart"} if faststart else {}
    out = av.open(str(path), "w", format=container, options=options)
    with out:
        out.metadata.update(tags or {})
        video: Any = out.add_stream(codec, rate=fps)
        video.width, video.height = (size[1], size[0]) if sideways else size
        video.pix_fmt = pix_fmt
        sound = None
        if audio:
            sound = out.add_stream(audio_codec, rate=rate)
            sound.layout = "mono"
        frames = round(seconds * fps)
        for i in range(frames):
            background = Image.new("RGB", size, (90, 120, 150))
            if face:
                background.paste(patch, (size[0] // 5 + i * size[0] // 100, size[1] // 5))
            pixels = np.asarray(background)
            if sideways:
                pixels = np.ascontiguousarray(np.rot90(pixels, k=1))
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            t = np.arange(round(seconds * rate)) / rate
            signal = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(signal), 1024):
                chunk = np.ascontiguousarray(signal[None, k : k + 1024])
                aframe = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
                aframe.sample_rate = rate
                aframe.pts = k
                aframe.time_base = Fraction(1, rate)
                for packet in sound.encode(aframe):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    if sideways:
        _turn_clockwise_on_display(path)
    return path


def _turn_clockwise_on_display(path: Path) -> None:
    """Set the first track's tkhd matrix to "rotate 90° clockwise" (iPhone portrait)."""
    data = bytearray(path.read_bytes())
    at = data.index(b"tkhd")
    version = data[at + 4]
    matrix = at + 8 + (20 if version == 0 else 32) + 16
    data[matrix : matrix + 36] = struct.pack(
        ">9I", 0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000
    )
    path.write_bytes(bytes(data))


def make_audio(path: Path, *, seconds: float = 2, rate: int = 44100) -> Path:
    """A WAV file with a 440 Hz sine (16-bit mono)."""
    out = av.open(str(path), "w", format="wav")
    with out:
        stream = out.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        t = np.arange(round(seconds * rate)) / rate
        signal = (16000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        for k in range(0, len(signal), 4096):
            chunk = np.ascontiguousarray(signal[None, k : k + 4096])
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = k
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def audio_samples(path: Path) -> tuple[np.ndarray[Any, Any], int]:
    """The first channel of the first audio stream as float, and its sample rate."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            if not frame.format.is_planar:
                arr = arr.reshape(-1, len(frame.layout.channels)).T
            chunk = arr[0].astype(np.float64)
            if frame.format.name.startswith("s16"):
                chunk /= 32768
            chunks.append(chunk)
    return np.concatenate(chunks), rate


def video_frames(path: Path, every: int = 1) -> list[np.ndarray[Any, Any]]:
    with av.open(str(path)) as container:
        return [
            f.to_ndarray(format="rgb24")
            for i, f in enumerate(container.decode(video=0))
            if i % every == 0
        ]


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels but holds a few bytes (a bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
        + b"\x00\x00\x00\x00IEND\xaeB`\x82"
    )
