"""Media protection benchmark (issue 6): face redaction and perceptual hashing.

- Face redaction of a 12 MP photo (scikit-image's astronaut scaled up, so there is a real
  face to find), in seconds per megapixel; peer in the same run: decoding and re-encoding
  the same JPEG with Pillow and no detection (the floor any redaction pays).
- Face redaction of 10 s of 720p30 H.264 video with a moving face and sound, scaled to
  one minute; peer: a plain PyAV decode + libx264 encode of the same clip (the floor of
  any re-encoding redactor; Debian's ffmpeg is not installed here).
- pHash throughput on 1 000 photos already decoded; peer: the same photos resized to
  32×32 greyscale by Pillow alone (the part of pHash no implementation can skip). Also
  the throughput of ``image_hashes`` (the whole picture and its 100 crop windows, what
  ``sahid similar`` stores per picture) on the first 200 of them.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from bench.common import peak_rss_mb, write_result


def _astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def _jpeg(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _video(path: Path, seconds: int, size: tuple[int, int], fps: int) -> None:
    face = _astronaut().crop((150, 30, 300, 200)).resize((size[0] // 4, size[1] // 3))
    out = av.open(str(path), "w", format="mp4")
    with out:
        v: Any = out.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        a: Any = out.add_stream("aac", rate=48000)
        a.layout = "mono"
        for i in range(seconds * fps):
            frame = Image.new("RGB", size, (90, 120, 150))
            frame.paste(face, (size[0] // 5 + i * 3 % (size[0] // 2), size[1] // 4))
            vf = av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, fps)
            for p in v.encode(vf):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)
        t = np.arange(seconds * 48000) / 48000
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            af = av.AudioFrame.from_ndarray(
                samples[None, start : start + 1024], format="flt", layout="mono"
            )
            af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)


def _transcode(src: Path, dst: Path) -> None:
    inp = av.open(str(src))
    out = av.open(str(dst), "w", format="mp4")
    with inp, out:
        vin = inp.streams.video[0]
        v: Any = out.add_stream("libx264", rate=vin.average_rate)
        v.width, v.height, v.pix_fmt = vin.width, vin.height, "yuv420p"
        for frame in inp.decode(vin):
            arr = frame.to_ndarray(format="rgb24")
            for p in v.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                out.mux(p)
        for p in v.encode(None):
            out.mux(p)


def main() -> Path:
    from sahid.media.phash import WINDOWS, image_hashes, phash
    from sahid.media.redact import redact_image
    from sahid.media.video import redact_video

    tmp = Path(tempfile.mkdtemp(prefix="sahid-bench-media-"))
    try:
        big = _astronaut().resize((4000, 3000), Image.Resampling.BICUBIC)
        photo = _jpeg(big)
        mp = big.width * big.height / 1e6
        t = time.perf_counter()
        ops = redact_image(photo, io.BytesIO(), faces=True)
        ours_photo = time.perf_counter() - t
        t = time.perf_counter()
        Image.open(io.BytesIO(photo)).save(io.BytesIO(), "JPEG", quality=90)
        floor_photo = time.perf_counter() - t

        clip, seconds = tmp / "clip.mp4", 10
        _video(clip, seconds, (1280, 720), 30)
        t = time.perf_counter()
        vops = redact_video(clip, tmp / "red.mp4", faces=True, mute=[(1000, 2000)])
        ours_video = time.perf_counter() - t
        t = time.perf_counter()
        _transcode(clip, tmp / "plain.mp4")
        floor_video = time.perf_counter() - t

        base = _astronaut()
        images = [base.rotate(i % 7, expand=False).resize((640 - i % 50, 480)) for i in range(1000)]
        t = time.perf_counter()
        for im in images:
            phash(im)
        ours_hash = time.perf_counter() - t
        t = time.perf_counter()
        for im in images:
            im.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
        floor_hash = time.perf_counter() - t
        windowed = images[:200]
        t = time.perf_counter()
        for im in windowed:
            image_hashes(im)
        ours_windows = time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_minute = ours_video * 60 / seconds
    result = {
        "photo_megapixels": round(mp, 1),
        "photo_faces": sum(1 for o in ops if o.kind == "face"),
        "photo_redact_s": round(ours_photo, 3),
        "photo_redact_s_per_mp": round(ours_photo / mp, 4),
        "photo_floor_s": round(floor_photo, 3),
        "photo_ratio_vs_floor": round(ours_photo / floor_photo, 2),
        "video_seconds": seconds,
        "video_face_operations": len(vops),
        "video_redact_s": round(ours_video, 2),
        "video_redact_s_per_minute_720p": round(per_minute, 1),
        "video_floor_s": round(floor_video, 2),
        "video_ratio_vs_floor": round(ours_video / floor_video, 2),
        "phash_images": len(images),
        "phash_per_s": round(len(images) / ours_hash, 1),
        "phash_ratio_vs_resize_floor": round(ours_hash / floor_hash, 2),
        "image_hashes_windows": len(WINDOWS),
        "image_hashes_per_s": round(len(windowed) / ours_windows, 1),
        "bench_process_peak_rss_mb": round(peak_rss_mb(), 1),  # holds 1 000 images
    }
    result["summary"] = {
        "redact_s_per_megapixel": result["photo_redact_s_per_mp"],
        "redact_s_per_minute_720p": result["video_redact_s_per_minute_720p"],
        "video_ratio_vs_transcode": result["video_ratio_vs_floor"],
        "phash_per_s": result["phash_per_s"],
        "image_hashes_per_s": result["image_hashes_per_s"],
    }
    print(result)
    return write_result("media", result)


if __name__ == "__main__":
    print(main())
