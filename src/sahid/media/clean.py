"""Write a copy of a media file with identifying metadata removed.

Pixels and frames are not re-encoded where the format allows it (``CleanReport.method``):

* image/jpeg, ``lossless``: drop APPn (EXIF, XMP, IPTC, MPF …), COM and data after EOI;
  keep JFIF (without thumbnail), ICC, Adobe, a minimal EXIF with only Orientation, and
  the entropy-coded data byte for byte.
* image/png, ``lossless``: keep only image-structure, colour and animation chunks.
* image/webp, ``lossless``: drop EXIF, XMP and unknown RIFF chunks; fix the VP8X flags
  and the RIFF size.
* image/tiff, ``lossless``: new IFDs with only image-structure tags, strips and tiles
  copied byte for byte (checked by decoding both); if the layout is unusual (BigTIFF,
  old-style JPEG, damaged IFDs) ``reencoded-lossless``: the same pixels written with LZW.
* image/heic, image/heif, ``reencoded-lossless``: decode, then encode lossless RGB 4:4:4
  HEVC without EXIF, XMP, thumbnails or depth maps (decoded pixels stay identical; the
  file grows).
* application/pdf, ``rewritten``: drop Info, every /Metadata stream, /PieceInfo,
  attachments, annotation authors and dates, and APPn segments of embedded JPEG images.
* video/mp4, video/quicktime, video/webm, video/x-matroska, video/x-msvideo (AVI),
  ``remuxed``: stream copy of audio and video only, into the same container (no data,
  timed-metadata, subtitle, attachment or cover-art streams); container and stream
  metadata dropped, movie and track times left at zero.

Only ``dst`` is written: no temporary files ever hold plaintext. Any failure is an
:class:`sahid.errors.InputError` with a one-line reason.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import warnings
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from sahid.errors import InputError, SahidError
from sahid.media import jpeg

__all__ = ["CLEANABLE", "CleanReport", "check_cleanable", "clean", "clean_many"]


@dataclass(frozen=True)
class CleanReport:
    """How a clean copy was made and what was left out of it."""

    method: str
    removed: list[str] = field(default_factory=list)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _read_image_file(src: Path, name: str, limit: int = 512 * 1024 * 1024) -> bytes:
    try:
        size = src.stat().st_size
        if size > limit:
            raise InputError(f"{name}: {size} bytes is too large for an image")
        return src.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {name}: {_one_line(exc)}") from None


# ---------------------------------------------------------------------------------------
# JPEG (the marker walk is in sahid.media.jpeg)


def _read_fd(fd: int, name: str, limit: int = 512 * 1024 * 1024) -> bytes:
    """All of an open file; one ``read()`` for a regular file that does not change."""
    info = os.fstat(fd)
    if info.st_size > limit:
        raise InputError(f"{name}: {info.st_size} bytes is too large for an image")
    regular = stat.S_ISREG(info.st_mode)
    chunks = []
    total = 0
    want = info.st_size + 1  # one byte more than fstat said: the same read() sees the end
    while True:
        chunk = os.read(fd, want)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise InputError(f"{name}: more than {limit} bytes is too large for an image")
        if regular and len(chunk) < want:
            break  # a short read of a regular file ends at its end
        want = 1 << 20  # a pipe, or a file that grew while we read: read on to the end
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _clean_jpeg(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    removed: list[str] = []
    try:
        fd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {_one_line(exc)}") from None
    try:
        data = _read_fd(fd, name)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {_one_line(exc)}") from None
    finally:
        os.close(fd)
    # Only bytes that were parsed go out: the scans are written from this same buffer as
    # views (a buffered file passes large writes straight to the OS), never re-read from
    # the source, which could have changed since (sendfile would do that, and is no
    # faster here: the marker walk has to read every byte anyway).
    try:
        pieces = jpeg.plan(data, removed)
    except InputError as exc:
        raise InputError(f"{name}: {exc.message}") from None
    view = memoryview(data)
    for piece in pieces:
        dst.write(piece if isinstance(piece, bytes) else view[piece[0] : piece[1]])
    return CleanReport("lossless", removed)


# ---------------------------------------------------------------------------------------
# PNG

_PNG_SIG = b"\x89PNG\r\n\x1a\n"
# Chunks that carry the picture, its colour or its animation; everything else goes.
_PNG_KEEP = frozenset(
    {
        b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP",
        b"sBIT", b"bKGD", b"pHYs", b"hIST", b"cICP", b"mDCV", b"cLLI", b"acTL", b"fcTL",
        b"fdAT",
    }
)  # fmt: skip


def _clean_png(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    data = _read_image_file(src, name)
    if not data.startswith(_PNG_SIG):
        raise InputError("not a PNG: bad signature")
    out = bytearray(_PNG_SIG)
    removed: list[str] = []
    pos = len(_PNG_SIG)
    while True:
        if pos + 12 > len(data):
            raise InputError("truncated PNG: the file ends before the IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise InputError(f"truncated PNG: chunk {kind!r} runs past the end")
        body = data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : end], "big")
        if zlib.crc32(kind + body) != crc:
            raise InputError(f"damaged PNG: bad checksum in chunk {kind!r}")
        if kind in _PNG_KEEP:
            out += data[pos:end]
        else:
            removed.append(f"PNG {kind.decode('latin-1')} chunk")
        pos = end
        if kind == b"IEND":
            break
    if len(data) > pos:
        removed.append(f"{len(data) - pos} bytes after IEND")
    dst.write(bytes(out))
    return CleanReport("lossless", removed)


# ---------------------------------------------------------------------------------------
# WebP

_WEBP_KEEP = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04


def _clean_webp(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    data = _read_image_file(src, name)
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise InputError("not a WebP: bad RIFF header")
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > len(data):
        raise InputError("truncated WebP: the RIFF size runs past the end of the file")
    body = bytearray()
    removed: list[str] = []
    pos = 12
    while pos + 8 <= riff_end:
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)
        if pos + 8 + size > riff_end:
            raise InputError(f"truncated WebP: chunk {kind!r} runs past the end")
        chunk = bytearray(data[pos : min(end, riff_end)])
        if size & 1 and len(chunk) < 8 + size + 1:
            chunk += b"\x00"
        if kind in _WEBP_KEEP:
            if kind == b"VP8X" and size >= 1:
                chunk[8] &= ~(_VP8X_EXIF | _VP8X_XMP) & 0xFF
            body += chunk
        else:
            name = kind.decode("latin-1").strip(" \x00")
            removed.append(f"WebP {name} chunk")
        pos = end
    if not body:
        raise InputError("damaged WebP: no image chunks")
    if riff_end < len(data):
        removed.append(f"{len(data) - riff_end} bytes after the RIFF chunk")
    dst.write(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body))
    return CleanReport("lossless", removed)


# ---------------------------------------------------------------------------------------
# Re-encoded images: TIFF and HEIC/HEIF


def _open_image(src: Path, name: str) -> Any:
    from PIL import Image

    try:
        im = Image.open(src)
    except Exception as exc:
        raise InputError(f"cannot decode {name}: {_one_line(exc)}") from None
    try:
        im.load()
    except Exception as exc:
        im.close()
        raise InputError(f"cannot decode {name}: {_one_line(exc)}") from None
    return im


_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
}
# Tags that describe how to decode and show the pixels; every other tag is dropped
# (EXIF/GPS/SubIFD pointers, IPTC, XMP, Photoshop, GeoTIFF, Make, Model, Artist, dates …).
_TIFF_KEEP = frozenset(
    {
        254, 256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 279, 282, 283, 284, 296,
        301, 317, 318, 319, 320, 322, 323, 324, 325, 332, 338, 339, 340, 341, 347, 529,
        530, 531, 532, 34675,
    }
)  # fmt: skip
_TIFF_MAX_IFDS = 1024


class _NotSimpleTiff(Exception):
    """A TIFF layout the IFD rewriter does not handle: fall back to re-encoding."""


def _tiff_values(bo: str, typ: int, count: int, raw: bytes) -> list[int]:
    if typ in (3, 8):
        return list(struct.unpack(f"{bo}{count}{'H' if typ == 3 else 'h'}", raw))
    if typ in (4, 9, 13):
        return list(struct.unpack(f"{bo}{count}{'I' if typ != 9 else 'i'}", raw))
    if typ in (1, 7):
        return list(raw)
    raise _NotSimpleTiff(f"unexpected type {typ} for an offset or count tag")


def _tiff_rewrite(data: bytes) -> bytes:
    """The same TIFF with only image-structure tags; strips and tiles copied byte for byte."""
    if data[:4] == b"II*\x00":
        bo = "<"
    elif data[:4] == b"MM\x00*":
        bo = ">"
    else:
        raise _NotSimpleTiff("not a classic TIFF (BigTIFF is re-encoded)")
    n = len(data)
    ifds: list[dict[int, tuple[int, int, bytes]]] = []
    offset = struct.unpack(f"{bo}I", data[4:8])[0]
    seen: set[int] = set()
    while offset:
        if offset in seen or offset + 2 > n or len(ifds) >= _TIFF_MAX_IFDS:
            raise _NotSimpleTiff("bad IFD chain")
        seen.add(offset)
        count = struct.unpack(f"{bo}H", data[offset : offset + 2])[0]
        if offset + 2 + 12 * count + 4 > n:
            raise _NotSimpleTiff("IFD runs past the end")
        entries: dict[int, tuple[int, int, bytes]] = {}
        for i in range(count):
            at = offset + 2 + 12 * i
            tag, typ, cnt = struct.unpack(f"{bo}HHI", data[at : at + 8])
            size = _TIFF_TYPE_SIZES.get(typ)
            if size is None:
                continue
            length = size * cnt
            if length <= 4:
                raw = data[at + 8 : at + 8 + length]
            else:
                where = struct.unpack(f"{bo}I", data[at + 8 : at + 12])[0]
                if where + length > n:
                    raise _NotSimpleTiff(f"tag {tag} runs past the end")
                raw = data[where : where + length]
            entries[tag] = (typ, cnt, raw)
        ifds.append(entries)
        offset = struct.unpack(f"{bo}I", data[offset + 2 + 12 * count : offset + 6 + 12 * count])[0]
    if not ifds:
        raise _NotSimpleTiff("no image directory")

    out = bytearray(data[:4] + b"\x00\x00\x00\x00")
    next_ptr = 4
    for entries in ifds:
        compression = entries.get(259)
        if compression and _tiff_values(bo, *compression)[:1] == [6]:
            raise _NotSimpleTiff("old-style JPEG compression")
        if 273 in entries and 279 in entries:
            off_tag, cnt_tag = 273, 279
        elif 324 in entries and 325 in entries:
            off_tag, cnt_tag = 324, 325
        else:
            raise _NotSimpleTiff("no strips or tiles")
        offsets = _tiff_values(bo, *entries[off_tag])
        counts = _tiff_values(bo, *entries[cnt_tag])
        if len(offsets) != len(counts):
            raise _NotSimpleTiff("strip offsets and counts differ in number")
        new_offsets = []
        for where, length in zip(offsets, counts, strict=True):
            if where < 0 or length < 0 or where + length > n:
                raise _NotSimpleTiff("image data runs past the end")
            new_offsets.append(len(out))
            out += data[where : where + length]
            if len(out) % 2:
                out += b"\x00"
        kept = {tag: e for tag, e in entries.items() if tag in _TIFF_KEEP}
        kept[off_tag] = (4, len(new_offsets), struct.pack(f"{bo}{len(new_offsets)}I", *new_offsets))
        kept[cnt_tag] = (4, len(counts), struct.pack(f"{bo}{len(counts)}I", *counts))
        # Out-of-line values first, then the directory itself.
        cells: list[bytes] = []
        for tag in sorted(kept):
            typ, cnt, raw = kept[tag]
            if len(raw) > 4:
                where = len(out)
                out += raw
                if len(out) % 2:
                    out += b"\x00"
                value = struct.pack(f"{bo}I", where)
            else:
                value = raw.ljust(4, b"\x00")
            cells.append(struct.pack(f"{bo}HHI", tag, typ, cnt) + value)
        ifd_at = len(out)
        out[next_ptr : next_ptr + 4] = struct.pack(f"{bo}I", ifd_at)
        out += struct.pack(f"{bo}H", len(cells)) + b"".join(cells) + b"\x00\x00\x00\x00"
        next_ptr = ifd_at + 2 + 12 * len(cells)
    return bytes(out)


def _decoded_frames(source: Path | bytes) -> list[tuple[str, tuple[int, int], bytes]]:
    from PIL import Image, ImageSequence

    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
        return [(f.mode, f.size, f.tobytes()) for f in ImageSequence.Iterator(im)]


_TIFF_REMOVED = "TIFF tags other than image structure (EXIF, GPS, IPTC, XMP, GeoTIFF, maker notes)"


def _clean_tiff(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    data = _read_image_file(src, name)
    try:
        rewritten = _tiff_rewrite(data)
        # Trust the rewrite only if it decodes to exactly the original pixels.
        if _decoded_frames(rewritten) != _decoded_frames(src):
            raise _NotSimpleTiff("rewritten pixels differ")
    except Exception:
        return _reencode_tiff(src, dst, name)
    dst.write(rewritten)
    return CleanReport("lossless", [_TIFF_REMOVED])


def _reencode_tiff(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    from PIL import Image, ImageSequence

    im = _open_image(src, name)
    with im:
        frames = []
        try:
            for frame in ImageSequence.Iterator(im):
                fresh = Image.frombytes(frame.mode, frame.size, frame.tobytes())
                icc = frame.info.get("icc_profile")
                if icc:
                    fresh.info["icc_profile"] = icc
                frames.append(fresh)
        except Exception as exc:
            raise InputError(f"cannot decode {name}: {_one_line(exc)}") from None
    buf = io.BytesIO()
    try:
        frames[0].save(
            buf,
            format="TIFF",
            compression="tiff_lzw",
            save_all=len(frames) > 1,
            append_images=frames[1:],
        )
    except Exception as exc:
        raise InputError(f"cannot write a clean TIFF: {_one_line(exc)}") from None
    dst.write(buf.getvalue())
    return CleanReport("reencoded-lossless", [_TIFF_REMOVED])


def _clean_heif(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(src, convert_hdr_to_8bit=False)
        primary = heif[heif.primary_index]
        info = primary.info
        removed = [name for name in ("exif", "xmp") if info.get(name)]
        if info.get("thumbnails"):
            removed.append("thumbnails")
        if info.get("depth_images"):
            removed.append("depth images")
        if info.get("metadata"):
            removed.append("other metadata items")
        image = primary.to_pillow()
    except Exception as exc:
        raise InputError(f"cannot decode {name}: {_one_line(exc)}") from None
    icc = image.info.get("icc_profile")
    image.info.clear()
    buf = io.BytesIO()
    try:
        out = pillow_heif.from_pillow(image)
        out.save(
            buf,
            quality=-1,
            chroma=444,
            matrix_coefficients=0,
            exif=None,
            xmp=None,
            icc_profile=icc,
            enc_params={"preset": "ultrafast"},
        )
    except Exception as exc:
        raise InputError(f"cannot encode a clean HEIF: {_one_line(exc)}") from None
    dst.write(buf.getvalue())
    return CleanReport("reencoded-lossless", removed)


# ---------------------------------------------------------------------------------------
# PDF


def _clean_pdf(src: Path, dst: BinaryIO, name: str) -> CleanReport:
    import pikepdf

    removed: list[str] = []
    try:
        pdf = pikepdf.open(src)
    except Exception as exc:
        raise InputError(f"cannot open PDF {name}: {_one_line(exc)}") from None
    with pdf:
        try:
            if "/Info" in pdf.trailer:
                removed.append("PDF Info dictionary")
                del pdf.trailer["/Info"]
            names = pdf.Root.get("/Names")
            if isinstance(names, pikepdf.Dictionary) and "/EmbeddedFiles" in names:
                del names["/EmbeddedFiles"]
                removed.append("PDF embedded files (attachments)")
            for obj in pdf.objects:
                if not isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
                    continue
                for key in ("/Metadata", "/PieceInfo", "/LastModified"):
                    if key in obj:
                        del obj[key]
                        removed.append(f"PDF {key[1:]}")
                if "/Rect" in obj and "/Subtype" in obj and "/FT" not in obj:
                    # An annotation: /T is its author, /M and /CreationDate its times.
                    # (On a form field /T is the field name, so fields keep it.)
                    for key in ("/T", "/M", "/CreationDate"):
                        if key in obj:
                            del obj[key]
                            removed.append(f"PDF annotation {key[1:]}")
                if (
                    isinstance(obj, pikepdf.Stream)
                    and obj.get("/Subtype") == pikepdf.Name.Image
                    and obj.get("/Filter") == pikepdf.Name.DCTDecode
                ):
                    raw = obj.read_raw_bytes()
                    jpeg_removed: list[str] = []
                    cleaned = jpeg.clean_bytes(raw, jpeg_removed, keep_orientation=False)
                    if jpeg_removed:
                        obj.write(cleaned, filter=pikepdf.Name.DCTDecode)
                        removed.extend(f"embedded JPEG {r}" for r in jpeg_removed)
            buf = io.BytesIO()
            pdf.remove_unreferenced_resources()
            pdf.save(buf, deterministic_id=True, fix_metadata_version=False)
        except SahidError:
            raise
        except Exception as exc:
            raise InputError(f"cannot clean PDF {name}: {_one_line(exc)}") from None
    dst.write(buf.getvalue())
    return CleanReport("rewritten", sorted(set(removed)))


# ---------------------------------------------------------------------------------------
# MP4 / QuickTime


#: The muxer that writes a clean copy in the container of each video type.
_MUXERS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
}


def _clean_video(src: Path, dst: BinaryIO, name: str, media_type: str) -> CleanReport:
    import av

    removed = [
        "container metadata (creation time, location ©xyz, make, model, software, keys, udta)",
        "stream metadata (creation time, handler, encoder)",
    ]
    try:
        inp = av.open(str(src), metadata_errors="replace")
    except Exception as exc:
        raise InputError(f"cannot open video {name}: {_one_line(exc)}") from None
    with inp:
        keep = []
        for stream in inp.streams:
            attached = bool(stream.disposition & av.stream.Disposition.attached_pic)
            if stream.type in ("video", "audio") and not attached:
                keep.append(stream)
            else:
                kind = "cover art" if attached else f"{stream.type} stream"
                removed.append(f"{kind} #{stream.index}")
        if not keep:
            raise InputError(f"cannot clean {name}: no audio or video stream")
        seekable = bool(getattr(dst, "seekable", lambda: False)())
        options = {"fflags": "+bitexact"}
        fmt = _MUXERS[media_type]
        if not seekable and fmt in ("mp4", "mov"):
            options["movflags"] = "frag_keyframe+empty_moov"
        try:
            out = av.open(dst, mode="w", format=fmt, options=options)
        except Exception as exc:
            raise InputError(f"cannot write a clean {fmt}: {_one_line(exc)}") from None
        try:
            with out:
                mapping = {}
                for stream in keep:
                    target = out.add_stream_from_template(stream)
                    target.metadata.clear()
                    mapping[stream.index] = target
                out.metadata.clear()
                packets = 0
                try:
                    for packet in inp.demux(keep):
                        if not packet.size or (packet.dts is None and packet.pts is None):
                            continue  # the demuxer's flush packets (Matroska may omit dts)
                        packet.stream = mapping[packet.stream.index]
                        out.mux(packet)
                        packets += 1
                except av.FFmpegError as exc:
                    removed.append(f"unreadable data after {packets} packets ({_one_line(exc)})")
                if packets == 0:
                    raise InputError(f"cannot clean {name}: it holds no audio or video data")
        except SahidError:
            raise
        except Exception as exc:
            raise InputError(f"cannot remux {name}: {_one_line(exc)}") from None
    return CleanReport("remuxed", removed)


# ---------------------------------------------------------------------------------------

#: ``cleaner(src, dst, name)``: ``name`` is what messages call the file.
_Cleaner = Callable[[Path, BinaryIO, str], CleanReport]


def _video_cleaner(media_type: str) -> _Cleaner:
    return lambda src, dst, name: _clean_video(src, dst, name, media_type)


_CLEANERS: dict[str, _Cleaner] = {
    "image/jpeg": _clean_jpeg,
    "image/png": _clean_png,
    "image/webp": _clean_webp,
    "image/tiff": _clean_tiff,
    "image/heic": _clean_heif,
    "image/heif": _clean_heif,
    "application/pdf": _clean_pdf,
    **{video: _video_cleaner(video) for video in _MUXERS},
}
#: The media types :func:`clean` can handle.
CLEANABLE = frozenset(_CLEANERS)


def check_cleanable(media_type: str) -> None:
    """InputError, saying what to do instead, unless :func:`clean` handles ``media_type``."""
    if media_type in _CLEANERS:
        return
    if media_type == "image/gif":
        raise InputError(
            "cannot clean image/gif: GIF comments and application blocks are not stripped "
            "yet; make a redacted copy instead (sahid redact writes a PNG without metadata)"
        )
    raise InputError(
        f"cannot clean {media_type} yet: supported types are {', '.join(sorted(CLEANABLE))}"
    )


def _cleaner(media_type: str) -> _Cleaner:
    check_cleanable(media_type)
    return _CLEANERS[media_type]


def _run(cleaner: _Cleaner, src: Path, dst: BinaryIO, name: str) -> CleanReport:
    """``cleaner(src, dst, name)`` with every failure turned into an :class:`InputError`."""
    try:
        return cleaner(src, dst, name)
    except InputError as exc:
        if str(src) in exc.message:  # a library's message quoting the path it was given
            raise InputError(exc.message.replace(str(src), name)) from None
        raise
    except SahidError:
        raise
    except MemoryError:
        raise InputError(f"{name}: too large to clean in memory") from None
    except Exception as exc:
        raise InputError(f"cannot clean {name}: {type(exc).__name__}: {_one_line(exc)}") from None


def clean(src: Path, dst: BinaryIO, media_type: str, *, name: str | None = None) -> CleanReport:
    """Write to ``dst`` a copy of ``src`` (of ``media_type``) without identifying metadata.

    ``name`` is what error messages call the file (default: its file name; an evidence id
    for a decrypted in-memory copy). Raises :class:`InputError` for types it cannot clean
    and for files too damaged to clean; in that case ``dst`` may hold a partial copy and
    must be discarded.
    """
    cleaner = _cleaner(media_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(cleaner, src, dst, src.name if name is None else name)


def _clean_to_new_file(cleaner: _Cleaner, src: Path, dst: Path) -> CleanReport | InputError:
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return InputError(f"cannot create {dst}: {_one_line(exc)}")
    try:
        with open(fd, "wb") as out:
            return _run(cleaner, src, out, src.name)
    except (SahidError, OSError) as exc:
        dst.unlink(missing_ok=True)  # a partial copy must not be mistaken for a clean one
        if isinstance(exc, InputError):
            return exc
        if isinstance(exc, SahidError):
            raise
        return InputError(f"cannot write {dst}: {_one_line(exc)}")


def clean_many(
    pairs: Iterable[tuple[Path, Path]], media_type: str, workers: int | None = None
) -> list[CleanReport | InputError]:
    """Clean each ``src`` (all of ``media_type``) into a new file ``dst``, several at a time.

    Each ``dst`` is created (mode 0600) and must not exist yet. The answer has one entry
    per pair, in order: its :class:`CleanReport`, or the :class:`InputError` that stopped
    it, in which case that ``dst`` was removed. Files are cleaned by ``workers`` threads
    (default: one per CPU): reads and writes run without the GIL, the marker walk holds
    it (for JPEG about 0.2 ms per 770 KB photo). Raises :class:`InputError` at once only
    for a type it cannot clean.
    """
    cleaner = _cleaner(media_type)
    todo = list(pairs)
    count = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    # Warning filters are process-wide: set them once here, not in each thread.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if count == 1:
            return [_clean_to_new_file(cleaner, src, dst) for src, dst in todo]
        with ThreadPoolExecutor(count, thread_name_prefix="sahid-clean") as pool:
            return list(pool.map(lambda pair: _clean_to_new_file(cleaner, *pair), todo))
