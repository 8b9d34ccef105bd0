"""The JPEG marker walk behind clean copies (ITU-T T.81 Annex B).

:func:`plan` reads a whole JPEG once and answers the clean copy as pieces: new header
bytes (only JFIF without thumbnail, ICC, Adobe, the frame and scan tables, and a minimal
EXIF holding only Orientation), then ``(start, end)`` ranges of the original that are
copied byte for byte (the entropy-coded scans and the tables between them). APPn and COM
segments anywhere, also between scans, and everything after EOI are left out.

Finding where the entropy-coded data ends is the hot part: a photo holds a ``FF`` byte
every few hundred bytes, almost all of them stuffed (``FF 00``). :func:`scan_markers`
finds every marker candidate of the rest of the file in a few vectorised passes (NumPy
releases the GIL for them, so several files are walked in parallel) instead of a Python
step per ``FF`` byte.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from sahid.errors import InputError

__all__ = ["Piece", "clean_bytes", "plan", "scan_markers"]

#: New header bytes, or a ``(start, end)`` range of the original to copy unchanged.
Piece = bytes | tuple[int, int]

SOI = b"\xff\xd8"
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field
_EOI = 0xD9
_SOS = 0xDA


def app_name(marker: int, payload: bytes) -> str:
    """What a dropped APPn or COM segment held, in words for the report."""
    if marker == 0xE1 and payload.startswith(b"Exif\x00"):
        return "EXIF"
    if marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xap/1.0/"):
        return "XMP"
    if marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/xmp/extension/"):
        return "XMP (extended)"
    if marker == 0xED:
        return "IPTC/Photoshop (APP13)"
    if marker == 0xE2 and payload.startswith(b"MPF\x00"):
        return "MPF (APP2)"
    if marker == 0xFE:
        return "comment (COM)"
    if marker == 0xE0 and payload.startswith(b"JFXX\x00"):
        return "JFIF thumbnail (JFXX)"
    tag = payload[:12].split(b"\x00", 1)[0].decode("latin-1", "replace")
    return f"APP{marker - 0xE0}" + (f" {tag!r}" if tag.isprintable() and tag else "")


def _keep_segment(marker: int, payload: bytes) -> bytes | None:
    """The segment payload to keep, or None to drop it."""
    if marker == 0xE0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
        # Keep version and density, drop any embedded thumbnail.
        return payload[:12] + b"\x00\x00"
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        return payload  # colour management, needed to show the pixels right
    if marker == 0xEE and payload.startswith(b"Adobe"):
        return payload  # colour transform flag, needed to decode CMYK/YCCK
    if 0xE0 <= marker <= 0xEF or marker == 0xFE:
        return None
    return payload


def _orientation_app1(orientation: int) -> bytes:
    """A minimal EXIF segment holding only the Orientation tag (so the photo stays upright)."""
    tiff = b"MM\x00*" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff


def exif_orientation(payload: bytes) -> int:
    """The Orientation (2-8) in an APP1 EXIF payload's first IFD; 1 if absent or unreadable.

    Only IFD0 is read: Orientation lives there (EXIF 2.32 §4.6.4), and a damaged or odd
    EXIF block must not stop the copy, so anything unexpected answers 1 (upright).
    """
    tiff = payload[6:]
    if len(tiff) < 8 or tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return 1
    bo = "<" if tiff[0] == 0x49 else ">"
    (ifd,) = struct.unpack_from(bo + "I", tiff, 4)
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack_from(bo + "H", tiff, ifd)
    for i in range(min(count, (len(tiff) - ifd - 2) // 12)):
        tag, typ, n = struct.unpack_from(bo + "HHI", tiff, ifd + 2 + 12 * i)
        if tag == 0x0112:
            if typ not in (3, 4) or n != 1:  # one SHORT (as EXIF says) or LONG
                return 1
            (value,) = struct.unpack_from(bo + ("H" if typ == 3 else "I"), tiff, ifd + 10 + 12 * i)
            return value if 2 <= value <= 8 else 1
    return 1


def scan_markers(data: bytes | bytearray | memoryview, start: int) -> Iterator[tuple[int, int]]:
    """``(offset, code)`` of each marker candidate from ``start`` on, in order.

    A candidate is an ``FF`` byte followed by a code that is not stuffing (``00``), a
    fill byte (``FF``), TEM (``01``) or a restart marker (``D0``-``D7``): those are part
    of the entropy-coded data. After a fill run (``FF FF D9``) the candidate is the last
    ``FF``. Callers skip candidates that lie inside a segment they have already parsed.
    """
    buf = np.frombuffer(data, np.uint8)[start:]
    n = len(buf)
    if n < 2:
        return
    is_ff = buf[:-1] == 0xFF  # the last byte cannot start a marker
    whole = len(is_ff) & ~7
    # Whole 8-byte words with no FF are skipped at once; only words holding one are looked
    # into. A photo has an FF every ~700 bytes, so few words are.
    # (A bool test first: NumPy's nonzero is several times faster on bools than on words.)
    words = np.flatnonzero(is_ff[:whole].view(np.uint64) != 0)
    rows, cols = np.nonzero(is_ff[:whole].reshape(-1, 8)[words])
    at = np.concatenate((words[rows] * 8 + cols, np.flatnonzero(is_ff[whole:]) + whole))
    code = buf[at + 1]
    real = (code != 0x00) & (code != 0xFF) & (code != 0x01) & ((code < 0xD0) | (code > 0xD7))
    for offset, value in zip(at[real].tolist(), code[real].tolist(), strict=True):
        yield start + offset, value


def plan(data: bytes, removed: list[str], keep_orientation: bool = True) -> list[Piece]:
    """The clean JPEG as pieces; what was left out is appended to ``removed``.

    Raises :class:`InputError` for a file that is not a JPEG or ends before its EOI.
    """
    if not data.startswith(SOI):
        raise InputError("not a JPEG: no start-of-image marker")
    n = len(data)
    pos = 2
    segments: list[tuple[int, bytes]] = []  # header segments up to the first SOS
    while True:
        while pos + 1 < n and data[pos] == 0xFF and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 4 > n or data[pos] != 0xFF:
            raise InputError(f"damaged JPEG: no marker at offset {pos}")
        code = data[pos + 1]
        if code in _STANDALONE:
            pos += 2
            continue
        if code == _EOI:
            raise InputError("damaged JPEG: end of image before any image data")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > n:
            raise InputError(f"truncated JPEG: segment at offset {pos} runs past the end")
        segments.append((code, data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
        if code == _SOS:  # entropy-coded data follows
            break
    pieces: list[Piece] = [_header(segments, removed, keep_orientation)]
    run = pos  # start of the current range of kept bytes
    for marker_at, code in scan_markers(data, pos):
        if marker_at < pos:
            continue  # inside a segment parsed below
        if code == _EOI:
            pieces.append((run, marker_at + 2))
            trailer = n - (marker_at + 2)
            if trailer > 0:
                removed.append(f"{trailer} bytes after end of image")
            return pieces
        if marker_at + 4 > n:
            raise InputError("truncated JPEG: a segment header runs past the end")
        length = int.from_bytes(data[marker_at + 2 : marker_at + 4], "big")
        end = marker_at + 2 + length
        if length < 2 or end > n:
            raise InputError(f"truncated JPEG: segment at offset {marker_at} runs past the end")
        if 0xE0 <= code <= 0xEF or code == 0xFE:
            removed.append(app_name(code, data[marker_at + 4 : end]))
            if marker_at > run:
                pieces.append((run, marker_at))
            run = end
        pos = end  # tables (DHT, DQT, SOS of the next scan...) stay in the current range
    raise InputError("truncated JPEG: the image data ends without an EOI marker")


def _header(segments: list[tuple[int, bytes]], removed: list[str], keep_orientation: bool) -> bytes:
    """SOI and the kept header segments, with an Orientation-only EXIF after any JFIF."""
    orientation = 1
    if keep_orientation:
        exif = next((p for m, p in segments if m == 0xE1 and p.startswith(b"Exif\x00")), None)
        orientation = exif_orientation(exif) if exif is not None else 1
    out = bytearray(SOI)
    jfif_end = 0  # where the Orientation segment goes: after JFIF, which must stay first
    for code, payload in segments:
        kept = _keep_segment(code, payload)
        if kept is None:
            removed.append(app_name(code, payload))
            continue
        if kept != payload:
            removed.append("JFIF thumbnail")
        out += bytes((0xFF, code)) + struct.pack(">H", len(kept) + 2) + kept
        if code == 0xE0 and len(out) == 4 + len(kept) + 2:
            jfif_end = len(out)
    if orientation != 1:
        app1 = _orientation_app1(orientation)
        at = jfif_end or 2
        out[at:at] = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return bytes(out)


def clean_bytes(data: bytes, removed: list[str], keep_orientation: bool = True) -> bytes:
    """The clean JPEG in one piece of memory (for JPEGs embedded in other files)."""
    view = memoryview(data)
    return b"".join(
        piece if isinstance(piece, bytes) else view[piece[0] : piece[1]]
        for piece in plan(data, removed, keep_orientation)
    )
