"""sahid.media.jpeg: the vectorised marker search against a byte-by-byte reading of T.81.

The reference below is the plain reading of ITU-T T.81 B.1.1.2 and F.1.2.3: inside
entropy-coded data ``FF 00`` is a stuffed byte, ``FF D0``-``FF D7`` are restart markers,
``FF 01`` is TEM and ``FF FF`` is fill; any other ``FF xx`` is a marker.
"""

from __future__ import annotations

import io
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sahid.media.jpeg import clean_bytes, exif_orientation, plan, scan_markers

NOT_MARKERS = {0x00, 0x01, 0xFF, *range(0xD0, 0xD8)}


def reference_markers(data: bytes, start: int) -> list[tuple[int, int]]:
    found = []
    pos = start
    while pos + 1 < len(data):
        if data[pos] == 0xFF and data[pos + 1] not in NOT_MARKERS:
            found.append((pos, data[pos + 1]))
        pos += 1
    return found


# Bytes rich in FF and in the codes that follow it, so every case occurs often.
jpegish = st.lists(
    st.sampled_from([0x00, 0x01, 0xD0, 0xD7, 0xD9, 0xDA, 0xE1, 0xFE, 0xFF, 0xFF, 0x12, 0xC4]),
    max_size=300,
).map(bytes)


@settings(max_examples=500)
@given(jpegish, st.integers(min_value=0, max_value=40))
def test_scan_markers_matches_reference(data: bytes, start: int) -> None:
    assert list(scan_markers(data, start)) == reference_markers(data, start)


@given(st.binary(max_size=5000), st.integers(min_value=0, max_value=100))
def test_scan_markers_on_any_bytes(data: bytes, start: int) -> None:
    assert list(scan_markers(data, start)) == reference_markers(data, start)


def test_scan_markers_across_word_boundaries() -> None:
    # Every position of a marker relative to the 8-byte words the search skips by.
    for at in range(0, 40):
        data = bytearray(b"\x11" * 48)
        data[at : at + 2] = b"\xff\xe1"
        assert list(scan_markers(bytes(data), 0)) == [(at, 0xE1)]
        assert list(scan_markers(memoryview(bytes(data)), 0)) == [(at, 0xE1)]


def _exif(orientation: int, byte_order: str, typ: int = 3) -> bytes:
    bo = "<" if byte_order == "II" else ">"
    short, long = struct.pack(bo + "HH", orientation, 0), struct.pack(bo + "I", orientation)
    value = short if typ == 3 else long
    make = struct.pack(bo + "HHI", 0x010F, 2, 4) + b"ACM\x00"
    entry = struct.pack(bo + "HHI", 0x0112, typ, 1) + value
    magic = b"II*\x00" if byte_order == "II" else b"MM\x00*"
    tiff = magic + struct.pack(bo + "I", 8) + struct.pack(bo + "H", 2) + make + entry
    return b"Exif\x00\x00" + tiff + struct.pack(bo + "I", 0)


@given(st.integers(0, 12), st.sampled_from(["II", "MM"]), st.sampled_from([3, 4]))
def test_exif_orientation_agrees_with_pillow(orientation: int, byte_order: str, typ: int) -> None:
    payload = _exif(orientation, byte_order, typ)
    exif = Image.Exif()
    exif.load(payload)
    expected = exif.get(0x0112, 1)
    assert exif_orientation(payload) == (expected if 2 <= expected <= 8 else 1)


@given(st.binary(max_size=80))
def test_exif_orientation_never_fails(junk: bytes) -> None:
    assert 1 <= exif_orientation(b"Exif\x00\x00" + junk) <= 8


def _photo(progressive: bool = False) -> bytes:
    im = Image.merge("RGB", [Image.effect_noise((96, 64), 40 + 10 * i) for i in range(3)])
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, progressive=progressive)
    return buf.getvalue()


@settings(max_examples=60, deadline=None)
@given(st.booleans(), st.lists(st.integers(min_value=0, max_value=10_000), max_size=4))
def test_segments_planted_anywhere_between_scans_are_dropped(
    progressive: bool, picks: list[int]
) -> None:
    """A COM planted at any marker boundary after the first scan never survives."""
    data = _photo(progressive)
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    # Marker boundaries after the first scan, where a decoder would accept a segment.
    bounds = [at for at, _ in reference_markers(data, start)]
    spots = sorted({bounds[p % len(bounds)] for p in picks})
    planted = bytearray(data)
    for at in reversed(spots):
        planted[at:at] = b"\xff\xfe\x00\x08SECRET"
    removed: list[str] = []
    out = clean_bytes(bytes(planted), removed)
    assert b"SECRET" not in out
    assert removed.count("comment (COM)") == len(spots)
    assert out == clean_bytes(data, [])
    assert plan(bytes(planted), [])[0] == plan(data, [])[0]  # same header
