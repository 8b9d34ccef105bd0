"""Redacted copies of pictures: faces and chosen regions made unrecognisable, and no
metadata at all (DESIGN §6).

:func:`redact_image` decodes a picture (turned upright by its EXIF orientation), covers
every face found by :func:`sahid.media.faces.detect_faces` and every manual region, and
writes a new file without EXIF, XMP, IPTC, ICC or text chunks: JPEG for JPEG (and MPO)
input, PNG for PNG, WebP for WebP, PNG for anything else (HEIC, TIFF, GIF …). Only the
first frame of a multi-frame file is kept. Videos and sound recordings are handled by
:mod:`sahid.media.video`, with the same :class:`Operation` records and
:func:`anonymise_array`.

Every function returns the list of :class:`Operation` it carried out, for the ledger
entry that links the original and the copy. Anonymising is irreversible: each area is
pixelated to a few coarse blocks and then blurred. Only ``dst`` is written; nothing
passes through temporary files. Every failure is an :class:`sahid.errors.InputError`.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from sahid.errors import InputError
from sahid.media.faces import Box, detect_faces_array
from sahid.media.pixels import is_high_depth, to_8bit

__all__ = [
    "DETECT_EVERY",
    "ENLARGE",
    "PIXEL_LIMIT",
    "Operation",
    "anonymise_array",
    "redact_image",
]

#: Largest picture accepted, in pixels: a guard against decompression bombs.
PIXEL_LIMIT = 100_000_000
#: Each side of a face box grows by this share of the box's width or height.
ENLARGE = 0.2
#: Blocks across the longer side of an anonymised area (before the blur).
BLOCKS = 6
#: Faces are searched in every n-th video frame (:mod:`sahid.media.video`).
DETECT_EVERY = 5

Rect = tuple[int, int, int, int]
PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Operation:
    """One redaction carried out on a copy.

    ``kind`` is ``"face"`` (a detected face, ``box`` already enlarged), ``"region"`` (a
    manual rectangle) or ``"mute"`` (silence). ``box`` is ``(x, y, w, h)`` in pixels of the
    upright picture; ``start_ms``/``end_ms`` bound the time an operation applies to in a
    video or audio file (``None`` for still images).
    """

    kind: Literal["face", "region", "mute"]
    box: Rect | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def as_json(self) -> dict[str, Any]:
        """A JSON-safe dict with integers only (no floats)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.box is not None:
            x, y, w, h = self.box
            out["box"] = {"x": int(x), "y": int(y), "w": int(w), "h": int(h)}
        if self.start_ms is not None:
            out["start_ms"] = int(self.start_ms)
        if self.end_ms is not None:
            out["end_ms"] = int(self.end_ms)
        return out


# ---------------------------------------------------------------------------------------
# Anonymising pixels


def _enlarge(box: Box, width: int, height: int) -> Rect:
    dx = math.ceil(box.w * ENLARGE)
    dy = math.ceil(box.h * ENLARGE)
    x0, y0 = max(0, box.x - dx), max(0, box.y - dy)
    x1, y1 = min(width, box.x + box.w + dx), min(height, box.y + box.h + dy)
    return (x0, y0, x1 - x0, y1 - y0)


def anonymise_array(arr: np.ndarray[Any, Any], rect: Rect) -> None:
    """Make ``rect`` (x, y, w, h) of an H×W(×C) uint8 array unrecognisable, in place.

    The area is pixelated to :data:`BLOCKS` blocks across its longer side (each block
    becomes its mean colour) and then given a Gaussian blur half a block wide: only those
    few block means survive, so the detail is gone, not hidden.
    """
    import cv2

    x, y, w, h = rect
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(arr.shape[1], x + w), min(arr.shape[0], y + h)
    if x1 <= x0 or y1 <= y0:
        return
    w, h = x1 - x0, y1 - y0
    block = max(2, math.ceil(max(w, h) / BLOCKS))
    area = np.ascontiguousarray(arr[y0:y1, x0:x1])
    nx, ny = max(1, round(w / block)), max(1, round(h / block))
    means = cv2.resize(area, (nx, ny), interpolation=cv2.INTER_AREA)  # one value per block
    # blur the blocks at 8 pixels a block (cheap), then scale up to the area's size
    step = min(8, block)
    coarse = cv2.resize(means, (nx * step, ny * step), interpolation=cv2.INTER_NEAREST)
    sigma = step / 2
    soft = cv2.GaussianBlur(coarse, (0, 0), sigmaX=sigma, sigmaY=sigma)
    blurred = cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR)
    arr[y0:y1, x0:x1] = blurred.reshape(area.shape)


def _check_regions(
    regions: Iterable[Sequence[int]], width: int, height: int, label: str
) -> list[Rect]:
    out: list[Rect] = []
    for region in regions:
        if len(region) != 4 or not all(isinstance(v, int) for v in region):
            raise InputError(
                f"region {tuple(region)!r} for {label} must be four integers x, y, w, h"
            )
        x, y, w, h = region
        if w <= 0 or h <= 0:
            raise InputError(
                f"region {tuple(region)} for {label} has no area: give w and h above 0"
            )
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            raise InputError(
                f"region {tuple(region)} lies outside the {width}×{height} picture of {label}; "
                "give x, y, w, h in pixels of the upright picture"
            )
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


# ---------------------------------------------------------------------------------------
# Images

_OUTPUT_FORMAT = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WEBP"}
_BOMB_RE = re.compile(r"\((\d+) pixels\)")


def _bomb_message(label: str, size: tuple[int, int] | None, pixels: int | None) -> str:
    what = f"{size[0]}×{size[1]} pixels" if size else f"{pixels or 'too many'} pixels"
    return (
        f"{label}: image is {what}, over the limit of {PIXEL_LIMIT // 1_000_000} megapixels; "
        "it may be a decompression bomb — check the file, or scale it down before redacting"
    )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """The size a picture's header claims, read without Pillow's decompression-bomb check."""
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            if accept is not None and not accept(data[:16]):
                continue
            opened = factory(io.BytesIO(data), "")
            return (int(opened.size[0]), int(opened.size[1]))
        except Exception:  # noqa: S112 - try the next format
            continue
    return None


def _webp_lossless(data: bytes) -> bool:
    """Whether a WebP file's image is VP8L (lossless) rather than VP8."""
    pos = 12
    while pos + 8 <= len(data):
        fourcc = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc in (b"VP8 ", b"VP8L"):
            return fourcc == b"VP8L"
        pos += 8 + size + (size & 1)
    return False


def _register_heif() -> None:
    try:
        from sahid.media.metadata import _register_heif as register

        register()
    except Exception:  # noqa: S110 - HEIF support is optional
        pass


def _open_image(data: bytes, label: str, *, draft: int | None = None) -> tuple[Image.Image, str]:
    """Decoded, upright picture and its Pillow format; InputError for anything wrong.

    ``draft`` lets a JPEG decoder skip detail not needed for a picture of that many pixels
    a side (for thumbnails).
    """
    if not data:
        raise InputError(f"{label} is empty: give the original picture file")
    # A library may have switched this on process-wide (WeasyPrint does on import):
    # a truncated picture must be reported, never half-decoded.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypmsf1", b"ftypheif"):
        _register_heif()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            match = _BOMB_RE.search(str(exc))
            pixels = int(match.group(1)) if match else None
            raise InputError(_bomb_message(label, _header_size(data), pixels)) from None
        except UnidentifiedImageError:
            raise InputError(
                f"{label} is not a picture sahid can read: give a JPEG, PNG, WebP, HEIC or TIFF"
            ) from None
        except Exception as exc:
            raise InputError(
                f"{label} is damaged ({_one_line(exc)}): use the original or a complete copy"
            ) from None
        fmt = str(image.format or "PNG")
        width, height = image.size
        if width * height > PIXEL_LIMIT:
            raise InputError(_bomb_message(label, (width, height), None))
        try:
            if draft is not None and fmt in ("JPEG", "MPO"):
                image.draft("RGB", (draft, draft))
            image.load()
        except Exception as exc:
            raise InputError(
                f"{label} is truncated or damaged ({_one_line(exc)}): "
                "use the original or a complete copy"
            ) from None
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:
            upright = image  # unreadable EXIF: keep the stored orientation
    return _to_srgb(upright), fmt


def _to_srgb(image: Image.Image) -> Image.Image:
    """A copy in L, LA, RGB or RGBA, converted to sRGB if it carries an ICC profile.

    16-bit, 32-bit and floating-point greyscale pictures become 8-bit L, scaled (not clipped).
    """
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    icc = image.info.get("icc_profile")
    if is_high_depth(image):
        image = to_8bit(image)
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):
        try:
            image = image.convert("RGBA" if has_alpha else "RGB")
        except Exception:
            image = image.convert("RGB")
    if icc and image.mode in ("RGB", "RGBA"):
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, source, srgb, outputMode=image.mode)
            if converted is not None:
                image = converted
        except Exception:  # noqa: S110 - an unusable profile: keep the pixels as they are
            pass
    return image


def redact_image(
    src: bytes | BinaryIO,
    dst: BinaryIO,
    *,
    faces: bool,
    regions: Sequence[Rect] = (),
    name: str | None = None,
) -> list[Operation]:
    """Write to ``dst`` a copy of the picture ``src`` with faces and ``regions`` anonymised.

    ``regions`` are ``(x, y, w, h)`` in pixels of the upright picture (after EXIF
    orientation). The output carries no metadata at all. ``name`` labels error messages.
    """
    label = name or str(getattr(src, "name", "") or "the picture")
    data = bytes(src) if isinstance(src, bytes | bytearray) else src.read()
    image, fmt = _open_image(data, label)
    width, height = image.size
    manual = _check_regions(regions, width, height, label)

    arr = np.array(image)  # a writable copy, H×W or H×W×C uint8
    ops: list[Operation] = []
    if faces:
        rgb = arr if image.mode == "RGB" else np.asarray(image.convert("RGB"))
        for box in detect_faces_array(rgb):
            rect = _enlarge(box, width, height)
            ops.append(Operation("face", rect))
    ops.extend(Operation("region", rect) for rect in manual)
    for op in ops:
        assert op.box is not None
        anonymise_array(arr, op.box)

    out_format = _OUTPUT_FORMAT.get(fmt, "PNG")
    clean = Image.fromarray(arr, mode=image.mode)  # a new image: no info, no EXIF, no ICC
    if out_format == "JPEG" and clean.mode not in ("RGB", "L"):
        clean = clean.convert("RGB")
    buf = io.BytesIO()
    options: dict[str, Any] = {}
    if out_format == "JPEG":
        options = {"quality": 90, "optimize": True}
    elif out_format == "WEBP":
        options = {"quality": 90, "method": 4, "exif": b"", "icc_profile": ""}
        if _webp_lossless(data):
            options["lossless"] = True
    try:
        clean.save(buf, format=out_format, **options)
    except Exception as exc:
        raise InputError(f"cannot write the redacted copy of {label}: {_one_line(exc)}") from None
    dst.write(buf.getvalue())
    return ops
