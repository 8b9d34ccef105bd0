"""Read identifying metadata out of a media file into JSON-safe values.

Every value is RFC 8785-safe for :func:`sahid._internal.canonical.canonical_json`: text,
integers within ±(2**53 - 1), booleans, ``None``, lists and dicts. Numbers that are not
integers (EXIF rationals, GPS degrees) become decimal strings such as ``"40.123456"``;
bytes become ``{"base64": ...}`` when short and ``{"bytes": n}`` when dropped.

Fields are grouped by source: ``exif``, ``gps``, ``xmp``, ``iptc``, ``png_text``,
``quicktime``, ``matroska`` (WebM too), ``avi``, ``pdf``, ``audio``. Damaged files never
raise: whatever could be read is returned and each failure becomes a one-line entry in
:attr:`Extracted.problems`.
Videos and audio are read through their headers only, so memory stays bounded.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["Extracted", "extract", "jsonable"]

MAX_INT = 2**53 - 1
#: Bytes values up to this size are kept as base64; longer ones are only counted.
MAX_INLINE_BYTES = 512
#: The largest ``moov`` box the atom walker reads into memory.
MAX_MOOV = 64 * 1024 * 1024
_GPS_PLACES = 7

IMAGE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/tiff",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/gif",
    }
)
QUICKTIME_TYPES = frozenset({"video/mp4", "video/quicktime"})
#: Other containers, read through PyAV alone, into the group named here.
CONTAINER_GROUPS = {
    "video/webm": "matroska",
    "video/x-matroska": "matroska",
    "video/x-msvideo": "avi",
}
VIDEO_TYPES = QUICKTIME_TYPES | frozenset(CONTAINER_GROUPS)
AUDIO_TYPES = frozenset({"audio/mpeg", "audio/wav", "audio/ogg", "audio/flac", "audio/mp4"})


@dataclass(frozen=True)
class Extracted:
    """Metadata read from one file: ``fields`` grouped by source, and what went wrong."""

    fields: dict[str, Any]
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# JSON-safe values


def _decimal_text(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _fraction_text(num: int, den: int) -> str:
    if den == 0:
        return "NaN" if num == 0 else ("Infinity" if num > 0 else "-Infinity")
    with localcontext() as ctx:
        ctx.prec = 15
        return _decimal_text(Decimal(num) / Decimal(den))


def _text(raw: str) -> str:
    """Valid Unicode text (no lone surrogates), with trailing NULs dropped."""
    return raw.encode("utf-8", "replace").decode("utf-8").rstrip("\x00")


def _bytes_value(raw: bytes) -> Any:
    if len(raw) > MAX_INLINE_BYTES:
        return {"bytes": len(raw)}
    return {"base64": base64.b64encode(raw).decode("ascii")}


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as RFC 8785-safe JSON: no floats, no bytes, integers within 2**53."""
    if depth > 32:
        return "<too deep>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -MAX_INT <= value <= MAX_INT else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return _decimal_text(Decimal(repr(value)))
    if isinstance(value, Fraction):
        return _fraction_text(value.numerator, value.denominator)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_value(bytes(value))
    if isinstance(value, Mapping):
        return {_text(str(k)): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    num = getattr(value, "numerator", None)
    den = getattr(value, "denominator", None)
    if isinstance(num, int) and isinstance(den, int):  # PIL.TiffImagePlugin.IFDRational
        return _fraction_text(num, den)
    return _text(str(value))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:200]}"


# ---------------------------------------------------------------------------------------
# Images: EXIF, GPS, XMP, IPTC (Pillow, pillow-heif)

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_INTEROP_IFD = 0xA005
_MAKER_NOTE = 0x927C
_USER_COMMENT = 0x9286
_XP_TAGS = frozenset({0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F})  # XPTitle … XPSubject

_IPTC_NAMES = {
    (1, 90): "CodedCharacterSet",
    (2, 5): "ObjectName",
    (2, 25): "Keywords",
    (2, 40): "SpecialInstructions",
    (2, 55): "DateCreated",
    (2, 60): "TimeCreated",
    (2, 62): "DigitalCreationDate",
    (2, 63): "DigitalCreationTime",
    (2, 80): "By-line",
    (2, 85): "By-lineTitle",
    (2, 90): "City",
    (2, 92): "Sub-location",
    (2, 95): "Province-State",
    (2, 100): "Country-PrimaryLocationCode",
    (2, 101): "Country-PrimaryLocationName",
    (2, 103): "OriginalTransmissionReference",
    (2, 105): "Headline",
    (2, 110): "Credit",
    (2, 115): "Source",
    (2, 116): "CopyrightNotice",
    (2, 118): "Contact",
    (2, 120): "Caption-Abstract",
    (2, 122): "Writer-Editor",
}


def _tag_value(tag: int, value: Any) -> Any:
    if isinstance(value, bytes):
        if tag in _XP_TAGS:
            return _text(value.decode("utf-16-le", "replace"))
        if tag == _USER_COMMENT and len(value) >= 8:
            code, body = value[:8], value[8:]
            if code.startswith(b"UNICODE"):
                return _text(body.decode("utf-16", "replace"))
            return _text(body.decode("latin-1")).strip()
        if tag == _MAKER_NOTE:
            return {"bytes": len(value)}
    return jsonable(value)


def _ifd_dict(ifd: Mapping[int, Any], names: Mapping[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, value in ifd.items():
        if tag in (_EXIF_IFD, _GPS_IFD, _INTEROP_IFD):
            continue
        name = names.get(tag, f"0x{tag:04X}")
        out[name] = _tag_value(tag, value)
    return out


def _dms(value: Any) -> Fraction | None:
    """Degrees from an EXIF (degrees, minutes, seconds) triple of rationals."""
    try:
        parts = [_as_fraction(v) for v in value]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if len(parts) != 3:
        return None
    return parts[0] + parts[1] / 60 + parts[2] / 3600


def _as_fraction(v: Any) -> Fraction:
    num = getattr(v, "numerator", None)
    den = getattr(v, "denominator", None)
    if isinstance(num, int) and isinstance(den, int):
        # Cameras write 0/0 for an unused seconds field: read it as zero.
        return Fraction(num, den) if den else Fraction(0)
    if isinstance(v, int | float):
        return Fraction(v)
    raise TypeError(f"not a number: {type(v).__name__}")


def _degrees_text(value: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 30
        dec = Decimal(value.numerator) / Decimal(value.denominator)
        return _decimal_text(dec.quantize(Decimal(1).scaleb(-_GPS_PLACES)))


def _gps_fields(gps: Mapping[int, Any]) -> dict[str, Any]:
    from PIL.ExifTags import GPSTAGS

    out = _ifd_dict(gps, GPSTAGS)
    lat, lon = _dms(gps.get(2, ())), _dms(gps.get(4, ()))
    if lat is not None and lon is not None:
        if str(gps.get(1, "N")).strip().upper().startswith("S"):
            lat = -lat
        if str(gps.get(3, "E")).strip().upper().startswith("W"):
            lon = -lon
        out["latitude"] = _degrees_text(lat)
        out["longitude"] = _degrees_text(lon)
    if 6 in gps:
        try:
            alt = _as_fraction(gps[6])
            ref = gps.get(5, 0)
            if ref in (1, b"\x01"):
                alt = -alt
            out["altitude"] = _fraction_text(alt.numerator, alt.denominator)
        except (TypeError, ValueError, ZeroDivisionError):
            pass
    return out


def _exif_fields(exif: Any, fields: dict[str, Any], problems: list[str]) -> None:
    from PIL.ExifTags import TAGS

    try:
        base = _ifd_dict(exif, TAGS)
    except Exception as exc:
        problems.append(f"EXIF: {_one_line(exc)}")
        return
    for ifd_tag in (_EXIF_IFD, _INTEROP_IFD):
        try:
            sub = exif.get_ifd(ifd_tag)
        except Exception as exc:
            problems.append(f"EXIF sub-IFD 0x{ifd_tag:04X}: {_one_line(exc)}")
            continue
        base.update(_ifd_dict(sub, TAGS))
    if base:
        fields["exif"] = base
    try:
        gps = exif.get_ifd(_GPS_IFD)
    except Exception as exc:
        problems.append(f"EXIF GPS: {_one_line(exc)}")
        return
    if gps:
        fields["gps"] = _gps_fields(gps)


def _iptc_fields(im: Any) -> dict[str, Any]:
    from PIL import IptcImagePlugin

    raw = IptcImagePlugin.getiptcinfo(im)
    if not raw:
        return {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            record, dataset = key
        except (TypeError, ValueError):
            continue
        name = _IPTC_NAMES.get((record, dataset), f"{record}:{dataset}")
        values = value if isinstance(value, list) else [value]
        texts = [_decode_text(v) if isinstance(v, bytes) else jsonable(v) for v in values]
        out[name] = texts[0] if len(texts) == 1 else texts
    return out


def _decode_text(raw: bytes) -> str:
    try:
        return _text(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _text(raw.decode("latin-1"))


def _xmp_text(raw: Any) -> str | None:
    if isinstance(raw, str):
        return _text(raw)
    if isinstance(raw, bytes | bytearray):
        return _decode_xmp(bytes(raw))
    return None


def _decode_xmp(raw: bytes) -> str:
    """XMP packets are UTF-8, UTF-16 or UTF-32; tell them apart by BOM or NUL layout."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\xfe\xff", "utf-16-be"),
        (b"\xff\xfe", "utf-16-le"),
    ):
        if raw.startswith(bom):
            return _text(raw[len(bom) :].decode(codec, "replace"))
    if raw[:4] == b"\x00\x00\x00<":
        codec = "utf-32-be"
    elif raw[:4] == b"<\x00\x00\x00":
        codec = "utf-32-le"
    elif raw[:2] == b"\x00<":
        codec = "utf-16-be"
    elif raw[:2] == b"<\x00":
        codec = "utf-16-le"
    else:
        codec = "utf-8"
    return _text(raw.decode(codec, "replace"))


_PNG_TEXT_SKIP = frozenset(
    {"exif", "xmp", "icc_profile", "dpi", "gamma", "transparency", "aspect", "srgb", "chromaticity"}
)
_PNG_XMP_KEY = "XML:com.adobe.xmp"


def _image(path: Path, media_type: str, fields: dict[str, Any], problems: list[str]) -> None:
    from PIL import Image

    if media_type in ("image/heic", "image/heif"):
        _register_heif()
    try:
        im = Image.open(path)
    except Exception as exc:
        problems.append(f"cannot open image: {_one_line(exc)}")
        return
    with im:
        fields["image"] = {"format": jsonable(im.format), "width": im.width, "height": im.height}
        try:
            _exif_fields(im.getexif(), fields, problems)
        except Exception as exc:
            problems.append(f"EXIF: {_one_line(exc)}")
        info = dict(im.info)
        xmp = _xmp_text(info.get("xmp")) or _xmp_text(info.get(_PNG_XMP_KEY))
        if xmp is None and media_type == "image/tiff":
            tags = getattr(im, "tag_v2", {})
            xmp = _xmp_text(tags.get(700)) if hasattr(tags, "get") else None
        if xmp:
            fields["xmp"] = xmp
        if media_type in ("image/jpeg", "image/tiff"):
            try:
                iptc = _iptc_fields(im)
            except Exception as exc:
                problems.append(f"IPTC: {_one_line(exc)}")
            else:
                if iptc:
                    fields["iptc"] = iptc
        if media_type == "image/png":
            text = {
                _text(str(k)): jsonable(v)
                for k, v in info.items()
                if k not in _PNG_TEXT_SKIP and k != _PNG_XMP_KEY and isinstance(v, str)
            }
            if text:
                fields["png_text"] = text
        if media_type in ("image/jpeg", "image/gif") and isinstance(info.get("comment"), bytes):
            fields["comment"] = _decode_text(info["comment"])
        try:
            im.load()  # a damaged or truncated image shows up here, not only in the header
        except Exception as exc:
            problems.append(f"image data: {_one_line(exc)}")


_heif_registered = False


def _register_heif() -> None:
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


# ---------------------------------------------------------------------------------------
# QuickTime / MP4: PyAV container metadata and a small atom walker

_MAC_EPOCH_OFFSET = 2082844800  # seconds from 1904-01-01 to 1970-01-01
_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


def _iso6709(text: str) -> dict[str, str] | None:
    """``+51.4169-000.0806/`` → latitude/longitude (and altitude) as decimal strings."""
    m = _ISO6709.match(text.strip())
    if m is None:
        return None
    try:
        out = {
            "latitude": _decimal_text(Decimal(m.group(1))),
            "longitude": _decimal_text(Decimal(m.group(2))),
        }
        if m.group(3):
            out["altitude"] = _decimal_text(Decimal(m.group(3)))
    except InvalidOperation:
        return None
    out["iso6709"] = _text(text.strip())
    return out


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield kind, pos + header, pos + size
        pos += size


def _mac_time(seconds: int) -> str | None:
    import datetime as dt

    if seconds <= 0:
        return None
    try:
        moment = dt.datetime.fromtimestamp(seconds - _MAC_EPOCH_OFFSET, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _walk_moov(data: bytes, out: dict[str, Any]) -> None:
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind == b"mvhd" and end - start >= 20:
            version = data[start]
            if version == 1 and end - start >= 28:
                created, modified = struct.unpack(">QQ", data[start + 4 : start + 20])
            else:
                created, modified = struct.unpack(">II", data[start + 4 : start + 12])
            for name, value in (("creation_time", created), ("modification_time", modified)):
                text = _mac_time(value)
                if text:
                    out[name] = text
        elif kind == b"udta":
            udta: dict[str, Any] = {}
            for sub, s, e in _boxes(data, start, end):
                if sub[:1] == b"\xa9" and e - s >= 4:
                    length = int.from_bytes(data[s : s + 2], "big")
                    language = int.from_bytes(data[s + 2 : s + 4], "big")
                    raw = data[s + 4 : s + 4 + length]
                    name = sub.decode("latin-1").replace("\xa9", "©")
                    # Macintosh language codes (< 0x400) mean Mac Roman text.
                    text = raw.decode("mac_roman") if language < 0x400 else _decode_text(raw)
                    udta[name] = _text(text)
            if udta:
                out.setdefault("udta", {}).update(udta)


def _atoms(fh: BinaryIO, size: int, out: dict[str, Any], problems: list[str]) -> None:
    """Find the top-level ``moov`` box by seeking, and read it if it is not huge."""
    pos = 0
    while pos + 8 <= size:
        fh.seek(pos)
        header = fh.read(16)
        if len(header) < 8:
            break
        box_size, kind = struct.unpack(">I4s", header[:8])
        header_len = 8
        if box_size == 1 and len(header) >= 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
            header_len = 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header_len:
            problems.append(f"atom walker: bad box size at offset {pos}")
            return
        if kind == b"moov":
            if pos + box_size > size:
                problems.append("atom walker: moov box is truncated")
                return
            if box_size > MAX_MOOV:
                problems.append(f"atom walker: moov box of {box_size} bytes skipped (too large)")
                return
            fh.seek(pos + header_len)
            _walk_moov(fh.read(box_size - header_len), out)
            return
        pos += box_size
    problems.append("atom walker: no moov box")


def _quicktime(path: Path, fields: dict[str, Any], problems: list[str]) -> None:
    qt: dict[str, Any] = {}
    try:
        with path.open("rb") as fh:
            atoms: dict[str, Any] = {}
            _atoms(fh, path.stat().st_size, atoms, problems)
            if atoms:
                qt["atoms"] = atoms
    except OSError as exc:
        problems.append(f"cannot read file: {_one_line(exc)}")
    _pyav(path, qt, problems)
    if qt:
        fields["quicktime"] = qt
    gps = _video_gps(qt)
    if gps:
        fields["gps"] = gps


def _container(path: Path, group: str, fields: dict[str, Any], problems: list[str]) -> None:
    """A WebM, Matroska or AVI file: container and stream tags as PyAV reads them."""
    found: dict[str, Any] = {}
    _pyav(path, found, problems)
    if found:
        fields[group] = found
    gps = _video_gps(found)
    if gps:
        fields["gps"] = gps


def _video_gps(qt: Mapping[str, Any]) -> dict[str, str] | None:
    # Tag names by case: Matroska writes LOCATION, QuickTime's keys are lowercase.
    container = {str(k).lower(): v for k, v in qt.get("container", {}).items()}
    udta = qt.get("atoms", {}).get("udta", {})
    for text in (
        container.get("com.apple.quicktime.location.iso6709"),
        container.get("location"),
        udta.get("©xyz"),
    ):
        if isinstance(text, str):
            parsed = _iso6709(text)
            if parsed:
                return parsed
    return None


def _pyav(path: Path, qt: dict[str, Any], problems: list[str]) -> None:
    import av

    try:
        container = av.open(str(path), metadata_errors="replace")
    except Exception as exc:
        problems.append(f"PyAV cannot open the container: {_one_line(exc)}")
        return
    with container:
        qt["format"] = jsonable(container.format.name)
        if container.duration is not None:
            qt["duration_us"] = jsonable(int(container.duration))
        qt["container"] = jsonable(dict(container.metadata))
        streams = []
        for stream in container.streams:
            entry: dict[str, Any] = {"index": stream.index, "type": jsonable(stream.type)}
            try:
                entry["codec"] = jsonable(stream.codec_context.name)
            except Exception:  # data streams have no codec context
                entry["codec"] = None
            entry["metadata"] = jsonable(dict(stream.metadata))
            streams.append(entry)
        qt["streams"] = streams


# ---------------------------------------------------------------------------------------
# PDF and audio


def _pdf(path: Path, fields: dict[str, Any], problems: list[str]) -> None:
    import pikepdf

    try:
        pdf = pikepdf.open(path)
    except Exception as exc:
        problems.append(f"cannot open PDF: {_one_line(exc)}")
        return
    with pdf:
        problems.extend(f"PDF: {' '.join(str(w).split())[:200]}" for w in pdf.get_warnings())
        info: dict[str, Any] = {}
        try:
            for key, value in pdf.docinfo.items():
                info[_text(str(key).lstrip("/"))] = _pdf_value(value)
        except Exception as exc:
            problems.append(f"PDF Info: {_one_line(exc)}")
        if info:
            fields["pdf"] = info
        try:
            meta = pdf.Root.get("/Metadata")
            if meta is not None:
                fields["xmp"] = _decode_xmp(meta.read_bytes())
        except Exception as exc:
            problems.append(f"PDF XMP: {_one_line(exc)}")


def _pdf_value(value: Any) -> Any:
    import pikepdf

    if isinstance(value, pikepdf.String):
        return _text(str(value))
    if isinstance(value, pikepdf.Name):
        return _text(str(value))
    if isinstance(value, bool | int):
        return jsonable(value)
    if isinstance(value, Decimal):
        return _decimal_text(value)
    return _text(str(value))


def _audio(path: Path, fields: dict[str, Any], problems: list[str]) -> None:
    import mutagen

    try:
        audio = mutagen.File(path)
    except Exception as exc:
        problems.append(f"cannot read audio tags: {_one_line(exc)}")
        return
    if audio is None:
        problems.append("mutagen does not recognise this audio file")
        return
    out: dict[str, Any] = {"format": type(audio).__name__}
    tags: dict[str, Any] = {}
    try:
        for key, value in (audio.tags or {}).items():
            tags[_text(str(key))] = _audio_value(value)
    except Exception as exc:
        problems.append(f"audio tags: {_one_line(exc)}")
    if tags:
        out["tags"] = tags
    fields["audio"] = out


def _audio_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_audio_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return _bytes_value(bytes(value))
    data = getattr(value, "data", None)
    if isinstance(data, bytes):  # pictures and other binary frames
        return {"bytes": len(data)}
    text = getattr(value, "text", None)
    if isinstance(text, list):
        return [_text(str(t)) for t in text]
    return jsonable(value) if isinstance(value, int | str | tuple) else _text(str(value))


# ---------------------------------------------------------------------------------------


def extract(path: Path, media_type: str) -> Extracted:
    """Read the metadata of ``path``, taken to be ``media_type`` (see :func:`sniff`).

    Never raises for damaged or unreadable input: what could be read is returned and each
    failure is a one-line entry in ``problems``.
    """
    fields: dict[str, Any] = {}
    problems: list[str] = []
    try:
        if media_type in IMAGE_TYPES:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                _image(path, media_type, fields, problems)
            problems.extend(f"warning: {' '.join(str(w.message).split())[:200]}" for w in caught)
        elif media_type in QUICKTIME_TYPES:
            _quicktime(path, fields, problems)
        elif media_type in CONTAINER_GROUPS:
            _container(path, CONTAINER_GROUPS[media_type], fields, problems)
        elif media_type == "application/pdf":
            _pdf(path, fields, problems)
        elif media_type in AUDIO_TYPES:
            _audio(path, fields, problems)
        else:
            problems.append(f"no metadata reader for {media_type}")
    except Exception as exc:  # a reader bug or a library surprise must not reach callers
        problems.append(f"metadata reader failed: {_one_line(exc)}")
    return Extracted(fields=jsonable(fields), problems=problems)
