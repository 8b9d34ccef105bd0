"""sahid.media: sniff by content, extract metadata without floats, clean without re-encoding.

Runs on the real-world files in ``shared/vectors/media`` (see its README.md) and checks
clean copies with Debian's ``exiftool`` (package ``libimage-exiftool-perl``).
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import av
import pikepdf
import pillow_heif
import pytest
from PIL import Image
from PIL.ExifTags import TAGS

from sahid._internal.canonical import canonical_json
from sahid.errors import InputError, SahidError
from sahid.media.clean import _TIFF_KEEP, CLEANABLE, clean
from sahid.media.metadata import extract
from sahid.media.sniff import sniff

from conftest import SHARED

VECTORS = SHARED / "vectors" / "media"
if not VECTORS.is_dir():
    pytest.skip(f"media vectors not found at {VECTORS}", allow_module_level=True)

EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (VECTORS / "expected_metadata.json").read_text(encoding="utf-8")
)["files"]
FILES = sorted(p for p in VECTORS.iterdir() if p.suffix not in (".md", ".json"))
IDS = [p.name for p in FILES]
#: Vectors that hold no decodable picture or frames: cleaning them must fail cleanly.
UNCLEANABLE = {
    "exiftool_quicktime.heic": "cannot decode",  # 623-byte structure-only control file
    "exiftool_quicktime.mov": "no audio or video data",  # its mdat is empty
}
VIDEO = {"video/mp4", "video/quicktime"}

pillow_heif.register_heif_opener()


def _type(path: Path) -> str:
    with path.open("rb") as fh:
        return sniff(fh.read(64))


# ---------------------------------------------------------------------------------------
# (a) sniff


def test_vectors_present() -> None:
    assert len(FILES) == 23
    assert set(IDS) <= set(EXPECTED)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_sniff_vectors_by_content(path: Path, tmp_path: Path) -> None:
    expected = EXPECTED[path.name]["File:MIMEType"]
    assert _type(path) == expected
    # The name plays no part: a copy with a misleading name sniffs the same.
    decoy = tmp_path / "evidence.txt"
    decoy.write_bytes(path.read_bytes()[:64])
    assert _type(decoy) == expected


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\x00" * 16


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"OggS\x00\x02" + b"\x00" * 20, "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + b"\x00" * 8, "audio/mpeg"),
        (b"PK\x03\x04\x14\x00", "application/zip"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        (_ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio/mp4"),
        (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
        (_ftyp(b"isom", b"isom", b"avc1"), "video/mp4"),
        (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"heic"), "image/heif"),
        (_ftyp(b"avif", b"avif", b"mif1"), "image/avif"),
        (_ftyp(b"mif1", b"mif1", b"avif"), "image/avif"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", "video/quicktime"),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "image/gif"),
        (b"GIF87a\x01\x00\x01\x00\x00\x00\x00", "image/gif"),
        (b"GIF90a", "application/octet-stream"),
        (b"", "application/octet-stream"),
        (b"\xff", "application/octet-stream"),
        (b"hello, world", "application/octet-stream"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "video/x-msvideo"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm\x42\x87", "video/webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "video/x-matroska"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x84abcd", "application/octet-stream"),
        (b"\x1a\x45\xdf\xa3\x42\x82", "application/octet-stream"),
    ],
)
def test_sniff_table(head: bytes, expected: str) -> None:
    assert sniff(head) == expected


def test_sniff_random_garbage_never_raises() -> None:
    rng = random.Random(4)
    for _ in range(2000):
        head = bytes(rng.randrange(256) for _ in range(rng.randrange(70)))
        assert isinstance(sniff(head), str)


# ---------------------------------------------------------------------------------------
# (b) extract


def _walk(value: Any, where: str = "$") -> None:
    """No floats, no bytes, only JSON types and I-JSON integers anywhere."""
    assert not isinstance(value, float), f"float at {where}"
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"key {k!r} at {where}"
            _walk(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{where}[{i}]")
    else:
        assert value is None or isinstance(value, bool | int | str), f"{type(value)} at {where}"
        if isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) <= 2**53 - 1, where


def _close(text: Any, expected: float) -> bool:
    return isinstance(text, str) and abs(Decimal(text) - Decimal(repr(expected))) < Decimal(
        "0.00001"
    )


def _flat_text(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_extract_finds_expected_metadata(path: Path) -> None:
    exp = EXPECTED[path.name]
    result = extract(path, _type(path))
    _walk(result.fields)
    canonical_json(result.fields)  # RFC 8785-safe as it stands
    errors = [p for p in result.problems if not p.startswith("warning:")]
    assert errors == [] or path.name == "exiftool_quicktime.heic", result.problems
    fields = result.fields
    exif = fields.get("exif", {})
    qt = fields.get("quicktime", {})
    container = qt.get("container", {})
    text = _flat_text(fields)

    lat = exp.get("Composite:GPSLatitude") or exp.get("XMP:GPSLatitude")
    lon = exp.get("Composite:GPSLongitude") or exp.get("XMP:GPSLongitude")
    if lat not in (None, ""):
        assert _close(fields["gps"]["latitude"], lat), fields.get("gps")
        assert _close(fields["gps"]["longitude"], lon), fields.get("gps")
    alt = exp.get("Composite:GPSAltitude")
    if alt not in (None, "") and "altitude" in fields.get("gps", {}):
        assert abs(Decimal(fields["gps"]["altitude"]) - Decimal(repr(alt))) < Decimal("0.01")

    for tag in ("Make", "Model", "DateTimeOriginal", "Artist", "Copyright", "XPAuthor"):
        want = exp.get(f"EXIF:{tag}")
        if want is not None and not path.name.endswith(".pdf"):  # PDF: EXIF of an inner JPEG
            assert str(exif.get(tag, "")).strip() == str(want).strip(), tag
    for tag, key in (("Make", "com.apple.quicktime.make"), ("Model", "com.apple.quicktime.model")):
        want = exp.get(f"QuickTime:{tag}")
        if want is not None:
            assert container.get(key) == want
    if "QuickTime:CreateDate" in exp:
        date, time = exp["QuickTime:CreateDate"].split(" ")
        assert qt["atoms"]["creation_time"] == f"{date.replace(':', '-')}T{time}Z"
    if "QuickTime:Artist" in exp:
        assert exp["QuickTime:Artist"] in container.values()
        assert qt["atoms"]["udta"]["©ART"] == exp["QuickTime:Artist"]  # Mac Roman text
    for tag in ("By-line", "City", "Country-PrimaryLocationName", "CopyrightNotice"):
        want = exp.get(f"IPTC:{tag}")
        if want is not None and not path.name.endswith(".pdf"):
            assert fields["iptc"][tag] == want, tag
    for tag in ("Creator", "CreatorTool", "SerialNumber", "City"):
        want = exp.get(f"XMP:{tag}")
        if want is not None and path.suffix != ".mov":  # MOV: XMP in a udta box
            values = want if isinstance(want, list) else [want]
            for v in values:
                assert str(v) in fields["xmp"], tag
    if "PDF:Creator" in exp:
        assert fields["pdf"]["Creator"] == exp["PDF:Creator"]
    for size in ("Width", "Height"):
        for group in ("File", "PNG", "RIFF"):
            want = exp.get(f"{group}:Image{size}")
            if want is not None and "image" in fields and path.name != "mei_issue508_tiny_gps.jpg":
                assert fields["image"][size.lower()] == want
    assert "GPS" not in text or "gps" in fields or path.name == "mei_nikon_d5000.jpg"


def _audio_file(path: Path, fmt: str, codec: str) -> None:
    """A short silent audio file with an artist tag, written by PyAV."""
    from av.audio.frame import AudioFrame

    with path.open("wb") as fh, av.open(fh, "w", format=fmt) as c:
        c.metadata["artist"] = "Reporter Name"
        c.metadata["title"] = "march"
        stream = c.add_stream(codec, rate=44100)
        stream.layout = "mono"
        frame = AudioFrame(format=stream.format.name, layout="mono", samples=4096)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.rate = 44100
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            c.mux(packet)


@pytest.mark.parametrize(
    ("fmt", "codec", "media_type", "tagged"),
    [
        ("mp3", "libmp3lame", "audio/mpeg", True),
        ("flac", "flac", "audio/flac", True),
        ("ipod", "aac", "audio/mp4", True),
        ("ogg", "flac", "audio/ogg", True),
        ("wav", "pcm_s16le", "audio/wav", False),  # RIFF INFO tags: mutagen reads ID3 only
    ],
)
def test_extract_audio_tags(
    fmt: str, codec: str, media_type: str, tagged: bool, tmp_path: Path
) -> None:
    path = tmp_path / "recording.bin"
    _audio_file(path, fmt, codec)
    assert _type(path) == media_type
    result = extract(path, media_type)
    _walk(result.fields)
    assert result.problems == []
    assert "audio" in result.fields
    if tagged:
        assert "Reporter Name" in _flat_text(result.fields["audio"])


# ---------------------------------------------------------------------------------------
# (c) clean: nothing identifying left, as exiftool sees it

EXIFTOOL = shutil.which("exiftool")
FORBIDDEN_NAMES = {
    "SerialNumber",
    "BodySerialNumber",
    "InternalSerialNumber",
    "LensSerialNumber",
    "CameraSerialNumber",
    "OwnerName",
    "Artist",
    "Creator",
    "Author",
    "XPAuthor",
    "By-line",
    "Make",
    "Model",
    "Software",
    "DateTimeOriginal",
    "CreateDate",
    "ModifyDate",
    "CreationDate",
    "creation_time",
    "TrackCreateDate",
    "TrackModifyDate",
    "MediaCreateDate",
    "MediaModifyDate",
    "GeoTiffDirectory",
    "ModelTransform",
    "ModelTiePoint",
}
FORBIDDEN_GROUPS = ("XMP", "IPTC", "Photoshop", "MakerNotes", "GeoTiff", "Keys", "UserData")
#: Image-structure tags a clean TIFF keeps, by Pillow's names.
TIFF_STRUCTURE = {TAGS.get(tag, str(tag)) for tag in _TIFF_KEEP}
ZERO_DATES = {"0000:00:00 00:00:00", 0, "0"}


def _exiftool(path: Path) -> dict[str, Any]:
    if EXIFTOOL is None:
        if os.environ.get("CI"):
            pytest.fail("exiftool is missing: apt-get install libimage-exiftool-perl")
        pytest.skip("exiftool is not installed (Debian package libimage-exiftool-perl)")
    out = subprocess.run(
        [EXIFTOOL, "-j", "-a", "-G1", "-n", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data[0]


def _leaks(tags: dict[str, Any]) -> list[str]:
    leaks = []
    for key, value in tags.items():
        group, _, name = key.rpartition(":")
        if group in ("System", "ExifTool", "File", "Composite", "SourceFile") or not group:
            continue
        if group.startswith(FORBIDDEN_GROUPS):
            leaks.append(f"{key}={value!r}")
        elif name.startswith("GPS"):
            leaks.append(f"{key}={value!r}")
        elif name in FORBIDDEN_NAMES and value not in ZERO_DATES:
            leaks.append(f"{key}={value!r}")
    return leaks


def _clean_to(path: Path, out_dir: Path) -> tuple[Path, Any]:
    dst = out_dir / f"clean-{path.name}"
    with dst.open("wb") as fh:
        report = clean(path, fh, _type(path))
    return dst, report


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_clean_leaves_no_identifying_metadata(path: Path, tmp_path: Path) -> None:
    if path.name in UNCLEANABLE:
        with pytest.raises(InputError, match=UNCLEANABLE[path.name]):
            _clean_to(path, tmp_path)
        return
    before = _leaks(_exiftool(path))
    assert before or path.suffix in (".png", ".tif"), "the vector should carry metadata"
    dst, report = _clean_to(path, tmp_path)
    assert report.removed
    tags = _exiftool(dst)
    assert "ExifTool:Error" not in tags, tags.get("ExifTool:Error")
    assert _leaks(tags) == []
    # Also our own reader: no GPS, no EXIF identity, no XMP/IPTC.
    again = extract(dst, _type(dst))
    assert [p for p in again.problems if not p.startswith("warning:")] == []
    for group in ("gps", "xmp", "iptc", "png_text"):
        assert group not in again.fields, group
    assert set(again.fields.get("exif", {})) <= {"Orientation"} | TIFF_STRUCTURE
    container = again.fields.get("quicktime", {}).get("container", {})
    assert set(container) <= {"major_brand", "minor_version", "compatible_brands"}


def test_clean_jpeg_keeps_orientation_only(tmp_path: Path) -> None:
    src = VECTORS / "mei_apple_iphone4.jpg"
    with Image.open(src) as im:
        orientation = im.getexif().get(0x0112, 1)
    dst, _ = _clean_to(src, tmp_path)
    with Image.open(dst) as im:
        exif = im.getexif()
        assert dict(exif) == ({0x0112: orientation} if orientation != 1 else {})


def test_clean_bigtiff_falls_back_to_lossless_reencode(tmp_path: Path) -> None:
    src = tmp_path / "big.tif"
    im = Image.new("RGB", (31, 17))
    im.putdata([(x * 7 % 256, x * 3 % 256, x % 256) for x in range(31 * 17)])
    exif = Image.Exif()
    exif[0x013B] = "Officer Name"  # Artist
    im.save(src, format="TIFF", big_tiff=True, exif=exif)
    assert src.read_bytes()[:4] == b"II+\x00"
    dst, report = _clean_to(src, tmp_path)
    assert report.method == "reencoded-lossless"
    with Image.open(dst) as out:
        assert out.tobytes() == im.tobytes()
        assert 0x013B not in out.getexif()
    assert b"Officer Name" not in dst.read_bytes()


def test_clean_progressive_jpeg_with_comment_and_trailer(tmp_path: Path) -> None:
    src = tmp_path / "p.jpg"
    im = Image.new("RGB", (64, 48))
    im.putdata([(x % 256, (x * 5) % 256, 90) for x in range(64 * 48)])
    exif = Image.Exif()
    exif[0x010F] = "Make Corp"  # Make
    im.save(src, format="JPEG", progressive=True, exif=exif, comment=b"Officer Name")
    src.write_bytes(src.read_bytes() + b"TRAILER Officer Name")
    dst, report = _clean_to(src, tmp_path)
    assert report.method == "lossless"
    assert "comment (COM)" in report.removed and "EXIF" in report.removed
    assert any("after end of image" in r for r in report.removed)
    out = dst.read_bytes()
    assert b"Officer Name" not in out and b"Make Corp" not in out
    assert out.endswith(b"\xff\xd9")
    assert _jpeg_scan(src.read_bytes()).startswith(_jpeg_scan(out))
    with Image.open(src) as a, Image.open(dst) as b:
        assert a.tobytes() == b.tobytes()


def _big_jpeg(path: Path, *, progressive: bool = False, restart: int = 0) -> bytes:
    """A JPEG with a few hundred KiB of noisy scan data and Make and Orientation tags."""
    im = Image.merge("RGB", [Image.effect_noise((320, 240), 30 + 20 * i) for i in range(3)])
    exif = Image.Exif()
    exif[0x010F] = "Make Corp"  # Make
    exif[0x0112] = 6  # Orientation
    buf = io.BytesIO()
    extra: dict[str, Any] = {"restart_marker_blocks": restart} if restart else {}
    im.save(buf, "JPEG", quality=95, progressive=progressive, exif=exif, **extra)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def _after_first_scan(data: bytes) -> int:
    """Offset of the first marker after the first scan's entropy-coded data."""
    from sahid.media.jpeg import scan_markers

    sos = data.index(b"\xff\xda")
    return next(scan_markers(data, sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")))[0]


def _hiding_jpegs(tmp_path: Path) -> list[Path]:
    """JPEGs with metadata hidden where only a full marker walk finds it."""
    out = []
    base = _big_jpeg(tmp_path / "plain.jpg")
    out.append(tmp_path / "plain.jpg")
    prog = _big_jpeg(tmp_path / "prog-src.jpg", progressive=True)
    at = _after_first_scan(prog)
    hidden = b"\xff\xe1\x00\x0eExif\x00\x00SECRET" + b"\xff\xfe\x00\x07SECRT"
    # An APP1 and a COM between two scans, then a trailer holding its own JPEG and EOI.
    trailer = b"MotionPhoto SECRET \xff\xd8\xff\xe1\x00\x08SECRET\xff\xd9 SECRET"
    (tmp_path / "prog.jpg").write_bytes(prog[:at] + hidden + prog[at:] + trailer)
    out.append(tmp_path / "prog.jpg")
    # Baseline: an APP1 just before EOI, and data after EOI.
    end = _after_first_scan(base)
    (tmp_path / "late-app.jpg").write_bytes(base[:end] + hidden + base[end:] + trailer)
    out.append(tmp_path / "late-app.jpg")
    rst = _big_jpeg(tmp_path / "restart.jpg", restart=4)
    assert any(bytes((0xFF, c)) in rst for c in range(0xD0, 0xD8))
    (tmp_path / "restart.jpg").write_bytes(rst + trailer)
    out.append(tmp_path / "restart.jpg")
    return out


def _clean_via(src: Path, make: Any, tmp_path: Path) -> tuple[bytes, Any]:
    dst = tmp_path / "out.jpg"
    dst.unlink(missing_ok=True)
    with make(dst) as fh:
        report = clean(src, fh, "image/jpeg")
    return dst.read_bytes(), report


def test_clean_jpeg_into_files_matches_bytes(tmp_path: Path) -> None:
    """Every kind of destination gets the same bytes, and hidden metadata never survives."""
    jpegs = [p for p in FILES if _type(p) == "image/jpeg"] + _hiding_jpegs(tmp_path)
    writers = {
        "buffered": lambda p: p.open("wb"),
        "raw": lambda p: open(p, "wb", buffering=0),
        "append": lambda p: p.open("ab"),
    }
    for src in jpegs:
        expected = io.BytesIO()
        report = clean(src, expected, "image/jpeg")
        assert expected.getvalue() == clean_jpeg_bytes_of(src)
        for name, make in writers.items():
            got, again = _clean_via(src, make, tmp_path)
            assert got == expected.getvalue(), (src.name, name)
            assert again == report, (src.name, name)
        if src.parent == tmp_path:
            assert b"SECRET" not in got and b"SECRT" not in got and b"Make Corp" not in got
            assert got.endswith(b"\xff\xd9")
            if src.name != "plain.jpg":
                assert any("after end of image" in r for r in report.removed)
            with Image.open(src) as a, Image.open(io.BytesIO(got)) as b:
                assert a.tobytes() == b.tobytes()
                assert dict(b.getexif()) == {0x0112: 6}


def clean_jpeg_bytes_of(src: Path) -> bytes:
    from sahid.media.jpeg import clean_bytes

    return clean_bytes(src.read_bytes(), [])


def test_clean_jpeg_into_pipe(tmp_path: Path) -> None:
    src = _hiding_jpegs(tmp_path)[1]
    expected = clean_jpeg_bytes_of(src)
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []

    def drain() -> None:
        with open(read_fd, "rb") as fh:
            chunks.extend(iter(lambda: fh.read(1 << 16), b""))

    import threading

    reader = threading.Thread(target=drain)
    reader.start()
    with open(write_fd, "wb") as fh:
        clean(src, fh, "image/jpeg")
    reader.join()
    assert b"".join(chunks) == expected


def test_clean_many(tmp_path: Path) -> None:
    from sahid.media.clean import clean_many

    sources = _hiding_jpegs(tmp_path)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(sources[0].read_bytes()[:5000])  # no EOI
    taken = tmp_path / "taken.jpg"
    taken.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    pairs = [(p, out / p.name) for p in sources]
    pairs += [(bad, out / "bad.jpg"), (sources[0], taken), (tmp_path / "nope.jpg", out / "n")]
    results = clean_many(pairs, "image/jpeg", workers=3)
    assert len(results) == len(pairs)
    for (src, dst), result in zip(pairs[: len(sources)], results, strict=False):
        expected = io.BytesIO()
        assert result == clean(src, expected, "image/jpeg")
        assert dst.read_bytes() == expected.getvalue()
        assert dst.stat().st_mode & 0o777 == 0o600
    bad_result, taken_result, missing_result = results[len(sources) :]
    assert isinstance(bad_result, InputError) and "truncated" in bad_result.message
    assert not (out / "bad.jpg").exists()  # a partial copy is removed
    assert isinstance(taken_result, InputError) and "exists" in taken_result.message
    assert taken.read_bytes() == b"keep me"  # never overwritten
    assert isinstance(missing_result, InputError)
    assert not (out / "n").exists()
    out2 = tmp_path / "out2"
    out2.mkdir()
    one = clean_many([(p, out2 / p.name) for p in sources], "image/jpeg", workers=1)
    assert one == results[: len(sources)]
    assert all((out2 / p.name).read_bytes() == (out / p.name).read_bytes() for p in sources)
    with pytest.raises(InputError, match="cannot clean application/zip yet"):
        clean_many(pairs, "application/zip")
    assert clean_many([], "image/jpeg") == []


def test_clean_unsupported_type(tmp_path: Path) -> None:
    src = tmp_path / "a.zip"
    src.write_bytes(b"PK\x03\x04" + b"\x00" * 60)
    with pytest.raises(InputError, match=r"cannot clean application/zip yet"):
        clean(src, io.BytesIO(), sniff(src.read_bytes()))
    assert "application/zip" not in CLEANABLE


# ---------------------------------------------------------------------------------------
# (d) pixels and frames unchanged


def _jpeg_scan(data: bytes) -> bytes:
    """Everything from the first SOS marker on, found by walking the header segments."""
    pos = 2
    while True:
        code = data[pos + 1]
        if code == 0xDA:
            return data[pos:]
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")


def _packets(path: Path) -> dict[str, list[bytes]]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type in ("video", "audio")]
        out: dict[str, list[bytes]] = {f"{s.type}{i}": [] for i, s in enumerate(streams)}
        names = {s.index: f"{s.type}{i}" for i, s in enumerate(streams)}
        for packet in c.demux(streams):
            if packet.size:
                out[names[packet.stream.index]].append(bytes(packet))
        return out


def _frames(path: Path, count: int = 5) -> list[bytes]:
    with av.open(str(path)) as c:
        frames = []
        for frame in c.decode(video=0):
            frames.append(frame.to_image().tobytes())
            if len(frames) == count:
                break
        return frames


@pytest.mark.parametrize("path", [p for p in FILES if p.name not in UNCLEANABLE], ids=str)
def test_clean_keeps_pixels_and_frames(path: Path, tmp_path: Path) -> None:
    media_type = _type(path)
    dst, report = _clean_to(path, tmp_path)
    assert _type(dst) == media_type or media_type == "image/heic"
    if media_type.startswith("image/"):
        with Image.open(path) as a, Image.open(dst) as b:
            assert (a.mode, a.size) == (b.mode, b.size)
            assert a.tobytes() == b.tobytes()
        if media_type == "image/jpeg":
            assert report.method == "lossless"
            assert _jpeg_scan(path.read_bytes()).startswith(_jpeg_scan(dst.read_bytes()))
        elif media_type in ("image/png", "image/webp", "image/tiff"):
            assert report.method == "lossless"
        else:
            assert report.method == "reencoded-lossless"
    elif media_type in VIDEO:
        assert report.method == "remuxed"
        assert _packets(path) == _packets(dst)
        frames = _frames(path)
        assert frames and frames == _frames(dst)
    elif media_type == "application/pdf":
        with pikepdf.open(path) as a, pikepdf.open(dst) as b:
            assert len(a.pages) == len(b.pages)
            for pa, pb in zip(a.pages, b.pages, strict=True):
                assert _pdf_images(pa) == _pdf_images(pb)


def _pdf_images(page: pikepdf.Page) -> list[bytes]:
    xobjects = page.obj.get("/Resources", {}).get("/XObject", {})
    return [
        pikepdf.PdfImage(x).as_pil_image().tobytes()
        for x in xobjects.values()
        if x.get("/Subtype") == pikepdf.Name.Image
    ]


def test_clean_pdf_annotations_and_attachments(tmp_path: Path) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Officer Name"
    annot = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Annot,
            Subtype=pikepdf.Name.Text,
            Rect=[0, 0, 10, 10],
            T=pikepdf.String("Officer Name"),
            M=pikepdf.String("D:20240101120000Z"),
            Contents=pikepdf.String("note"),
        )
    )
    pdf.pages[0].obj["/Annots"] = pikepdf.Array([annot])
    pdf.attachments["who.txt"] = b"Officer Name"
    src = tmp_path / "in.pdf"
    pdf.save(src)
    dst, report = _clean_to(src, tmp_path)
    assert report.method == "rewritten"
    with pikepdf.open(dst) as out:
        assert "/Info" not in out.trailer
        assert "/T" not in out.pages[0].obj["/Annots"][0]
        assert len(out.attachments) == 0
    assert b"Officer Name" not in dst.read_bytes()


def test_clean_video_to_unseekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def write(self, b: Any) -> int:
            self.buf += bytes(b)
            return len(b)

    pipe = Pipe()
    report = clean(VECTORS / "mei_with_gps.mp4", pipe, "video/mp4")  # type: ignore[arg-type]
    assert report.method == "remuxed"
    with av.open(io.BytesIO(bytes(pipe.buf))) as c:
        assert "location" not in c.metadata
        assert sum(1 for _ in c.decode(video=0)) > 0


# ---------------------------------------------------------------------------------------
# (e) damaged input


def _check_clean_output(dst: Path, media_type: str) -> None:
    """A clean copy of a damaged file must still be a readable file of its type."""
    if media_type.startswith("image/"):
        with Image.open(dst) as im:
            im.load()
    elif media_type == "application/pdf":
        with pikepdf.open(dst) as pdf:
            assert len(pdf.pages) >= 0
    elif media_type in VIDEO:
        with av.open(str(dst)) as c:
            for _ in c.demux():
                pass


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_truncated_input(path: Path, tmp_path: Path) -> None:
    media_type = _type(path)
    data = path.read_bytes()
    bad = tmp_path / path.name
    bad.write_bytes(data[: len(data) // 2])
    result = extract(bad, media_type)
    _walk(result.fields)
    assert result.problems, "a truncated file must be reported"
    assert all(isinstance(p, str) and "\n" not in p for p in result.problems)
    dst = tmp_path / "clean.out"
    try:
        with dst.open("wb") as fh:
            clean(bad, fh, media_type)
    except SahidError as exc:
        assert isinstance(exc, InputError)
        assert exc.message and "\n" not in exc.message
    else:
        _check_clean_output(dst, media_type)


@pytest.mark.parametrize("media_type", sorted(CLEANABLE | {"audio/mpeg", "audio/mp4"}))
def test_garbage_input(media_type: str, tmp_path: Path) -> None:
    rng = random.Random(media_type)
    bad = tmp_path / "garbage"
    bad.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    result = extract(bad, media_type)
    assert result.problems
    _walk(result.fields)
    with pytest.raises(InputError):
        clean(bad, io.BytesIO(), media_type)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert extract(empty, media_type).problems
    with pytest.raises(InputError):
        clean(empty, io.BytesIO(), media_type)


SMALL = [p for p in FILES if p.stat().st_size < 100_000]


@pytest.mark.parametrize("path", SMALL, ids=[p.name for p in SMALL])
def test_mutated_input_never_escapes(path: Path, tmp_path: Path) -> None:
    """Random byte flips and cuts: extract never raises, clean raises only InputError."""
    rng = random.Random(path.name)
    data = path.read_bytes()
    media_type = _type(path)
    bad = tmp_path / "mutated"
    for _ in range(8):
        mutated = bytearray(data)
        for _ in range(rng.choice((1, 8, 64))):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if rng.random() < 0.3:
            mutated = mutated[: rng.randrange(len(mutated))]
        bad.write_bytes(bytes(mutated))
        _walk(extract(bad, media_type).fields)
        try:
            clean(bad, io.BytesIO(), media_type)
        except InputError as exc:
            assert exc.message and "\n" not in exc.message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    assert extract(missing, "image/jpeg").problems
    with pytest.raises(InputError):
        clean(missing, io.BytesIO(), "image/jpeg")


# --- WebM, Matroska and AVI: sniffed, read and cleaned through PyAV ---------------------

#: What a phone or an editing program may leave in a container's tags.
VIDEO_TAGS = {
    "title": "protest at the district office",
    "location": "+39.8700+048.0600/",
    "creation_time": "2025-01-18T12:30:00Z",
    "make": "Apple",
    "model": "iPhone 12",
    "artist": "Witness A",
    "date": "2025-01-18",
    "comment": "serial SN-1234",
}
OTHER_VIDEOS = {
    "video/webm": ("clip.webm", {"codec": "libvpx", "container": "webm",
                                 "audio_codec": "libopus", "sample_format": "flt"}),
    "video/x-matroska": ("clip.mkv", {"codec": "libx264", "container": "matroska"}),
    "video/x-msvideo": ("clip.avi", {"codec": "mpeg4", "container": "avi", "audio_codec": "ac3"}),
}  # fmt: skip


@pytest.mark.parametrize("media_type", sorted(OTHER_VIDEOS))
def test_other_video_containers(media_type: str, tmp_path: Path) -> None:
    """Sniffed by content (whatever the name), their tags kept in the private record,
    and a clean copy in the same container: no tag left that exiftool sees, the same
    packets and frames."""
    from mediagen import make_video

    name, options = OTHER_VIDEOS[media_type]
    path = make_video(tmp_path / name, tags=VIDEO_TAGS, face=False, **options)
    renamed = path.rename(tmp_path / "clip.jpg")  # the name says nothing
    assert _type(renamed) == media_type
    found = extract(renamed, media_type)
    group = "avi" if media_type == "video/x-msvideo" else "matroska"
    tags = {k.lower(): v for k, v in found.fields[group]["container"].items()}
    assert tags["artist"] == "Witness A" and tags["title"] == VIDEO_TAGS["title"]
    if group == "matroska":  # AVI's INFO chunk has no place for these
        assert tags["make"] == "Apple" and tags["model"] == "iPhone 12"
        assert found.fields["gps"]["latitude"].startswith("39.87")
    assert {s["type"] for s in found.fields[group]["streams"]} == {"video", "audio"}
    dst, report = _clean_to(renamed, tmp_path)
    assert report.method == "remuxed"
    assert _type(dst) == media_type
    tags_left = _exiftool(dst)
    assert _leaks(tags_left) == []
    text = json.dumps(tags_left)
    for value in ("Witness A", "protest at", "39.87", "SN-1234", "2025", "Apple", "iPhone"):
        assert value not in text, value
    assert _packets(renamed) == _packets(dst)
    frames = _frames(renamed)
    assert frames and frames == _frames(dst)
