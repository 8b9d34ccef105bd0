"""Clean-copy benchmark (issue 4): strip metadata from 1 000 JPEGs.

Peers in the same run: ``exiftool -all= -o OUTDIR`` over the same files in one
invocation (exiftool's batch mode, its fastest use), and one exiftool process per photo
(how scripts usually call it; timed on a 200-file sample and scaled). Target: >= 5x.
Each input is a real JPEG (Pillow-encoded, 1280x960) carrying EXIF with GPS, make,
model, serial number and timestamps, plus an XMP packet.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import write_result
from sahid.media.clean import clean

COUNT = 1000
PER_FILE_SAMPLE = 200


def make_jpegs(folder: Path) -> list[Path]:
    # Noise compresses like a real photo (hundreds of KB), unlike a smooth gradient.
    base = Image.merge("RGB", [Image.effect_noise((1280, 960), 40 + 10 * i) for i in range(3)])
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif[0x0110] = "iPhone 12"  # Model
    exif[0x0132] = "2025:01:18 12:30:00"  # DateTime
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (39.0, 52.0, 16.0), "E", (48.0, 3.0, 37.0)
    exif.get_ifd(0x8769)[0xA431] = "SERIAL-1234567"  # BodySerialNumber
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    buf = io.BytesIO()
    base.save(buf, "JPEG", quality=85, exif=exif, xmp=xmp)
    data = buf.getvalue()
    paths = []
    for i in range(COUNT):
        p = folder / f"photo-{i:04d}.jpg"
        p.write_bytes(data)
        paths.append(p)
    return paths


def main() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="sahid-bench-clean-"))
    try:
        src = tmp / "in"
        src.mkdir()
        paths = make_jpegs(src)
        size = paths[0].stat().st_size
        ours_dir = tmp / "ours"
        ours_dir.mkdir()
        t = time.perf_counter()
        for p in paths:
            with (ours_dir / p.name).open("wb") as dst:
                clean(p, dst, "image/jpeg")
        ours = time.perf_counter() - t
        peer_dir = tmp / "exiftool"
        t = time.perf_counter()
        subprocess.run(
            ["exiftool", "-q", "-all=", "-o", str(peer_dir) + "/", *map(str, paths)],
            check=True,
        )
        peer = time.perf_counter() - t
        # How people usually call it: one exiftool process per photo (scaled from a sample).
        sample = paths[:PER_FILE_SAMPLE]
        per_dir = tmp / "exiftool-per-file"
        per_dir.mkdir()
        t = time.perf_counter()
        for p in sample:
            subprocess.run(
                ["exiftool", "-q", "-all=", "-o", str(per_dir / p.name), str(p)], check=True
            )
        per_file = (time.perf_counter() - t) * COUNT / len(sample)
        left = subprocess.run(
            [
                "exiftool",
                "-j",
                "-GPS*",
                "-Make",
                "-Model",
                "-SerialNumber",
                str(ours_dir / paths[0].name),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "files": COUNT,
        "bytes_per_file": size,
        "sahid_clean_s": round(ours, 3),
        "exiftool_s": round(peer, 3),
        "speedup_vs_exiftool_batch": round(peer / ours, 2),
        "exiftool_per_file_s_scaled": round(per_file, 1),
        "speedup_vs_exiftool_per_file": round(per_file / ours, 1),
        "identifying_tags_left_in_sample": left.count(":") - 1,
    }
    result["summary"] = {
        "speedup_vs_exiftool_batch": result["speedup_vs_exiftool_batch"],
        "speedup_vs_exiftool_per_file": result["speedup_vs_exiftool_per_file"],
        "target": ">= 5",
        "ok_batch": result["speedup_vs_exiftool_batch"] >= 5,
        "ok_per_file": result["speedup_vs_exiftool_per_file"] >= 5,
    }
    print(result)
    return write_result("clean", result)


if __name__ == "__main__":
    print(main())
