"""Tell a media type from a file's first bytes (its content), never from its name."""

from __future__ import annotations

__all__ = ["HEAD_SIZE", "OCTET_STREAM", "sniff"]

#: How many leading bytes :func:`sniff` looks at.
HEAD_SIZE = 64
OCTET_STREAM = "application/octet-stream"

_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_M4A_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})
# Top-level QuickTime atoms that may open a .mov written without an ftyp box.
_QT_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_SIMPLE: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"II+\x00", "image/tiff"),  # BigTIFF
    (b"MM\x00+", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"PK\x03\x04", "application/zip"),
    (b"PK\x05\x06", "application/zip"),
    (b"PK\x07\x08", "application/zip"),
)


def _ftyp(head: bytes) -> str | None:
    """The media type named by an ISO base media ``ftyp`` box, if ``head`` opens with one."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = int.from_bytes(head[0:4], "big")
    end = min(len(head), size) if size >= 16 else min(len(head), 16)
    major = head[8:12]
    brands = [major] + [head[i : i + 4] for i in range(16, end - 3, 4)]
    if major in _M4A_BRANDS:
        return "audio/mp4"
    if major == b"qt  ":
        return "video/quicktime"
    if major in _AVIF_BRANDS:
        return "image/avif"
    if major in _HEIC_BRANDS:
        return "image/heic"
    if major in _HEIF_BRANDS:
        # A generic image-file brand: exiftool and libheif call such files HEIF unless
        # the AVIF brand says otherwise.
        if any(b in _AVIF_BRANDS for b in brands):
            return "image/avif"
        return "image/heif"
    return "video/mp4"


_EBML = b"\x1a\x45\xdf\xa3"
_DOCTYPES = {b"webm": "video/webm", b"matroska": "video/x-matroska"}


def _ebml(head: bytes) -> str:
    """WebM or Matroska, by the DocType element (ID ``42 82``) of an EBML header."""
    at = head.find(b"\x42\x82", 4)
    if at < 0 or at + 3 > len(head) or not head[at + 2] & 0x80:
        return OCTET_STREAM  # no one-byte size: not a header sahid knows
    size = head[at + 2] & 0x7F
    return _DOCTYPES.get(head[at + 3 : at + 3 + size], OCTET_STREAM)


def _mpeg_frame_sync(head: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, a layer and a valid bitrate index."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 0x3
    layer = (head[1] >> 1) & 0x3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 0x3
    return version != 1 and layer != 0 and bitrate != 0xF and rate != 0x3


def sniff(head: bytes) -> str:
    """The media type of a file whose first bytes are ``head`` (64 bytes are enough).

    Content decides, not the file name: a JPEG named ``clip.mp4`` is ``image/jpeg``.
    Unknown content is ``application/octet-stream``.
    """
    head = bytes(head[:HEAD_SIZE])
    for magic, media_type in _SIMPLE:
        if head.startswith(magic):
            return media_type
    if head.startswith(b"RIFF") and len(head) >= 12:
        kind = head[8:12]
        if kind == b"WEBP":
            return "image/webp"
        if kind == b"WAVE":
            return "audio/wav"
        if kind == b"AVI ":
            return "video/x-msvideo"
        return OCTET_STREAM
    if head.startswith(_EBML):
        return _ebml(head)
    found = _ftyp(head)
    if found is not None:
        return found
    if len(head) >= 8 and head[4:8] in _QT_ATOMS and int.from_bytes(head[0:4], "big") >= 8:
        return "video/quicktime"
    if _mpeg_frame_sync(head):
        return "audio/mpeg"
    return OCTET_STREAM
