"""Perceptual hashes: find near-duplicate pictures and videos already in the archive.

:func:`phash` is the 64-bit DCT hash (as in pHash and the ``imagehash`` package):
grayscale, 32×32, 2-D DCT-II, the 8×8 lowest frequencies compared with their median.
Re-encoding, resizing and brightness changes move it by a few bits, a different picture
is about 32 bits away; cropping 10 % off every side moves it by about 20, so
:func:`image_hashes` adds hashes of centre crops that find such copies too. Only whole
pictures are compared, never faces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import numpy as np
from PIL import Image

from sahid.media.pixels import is_high_depth, to_8bit
from sahid.media.redact import PathLike
from sahid.media.thumbs import sample_frames

__all__ = [
    "CROPS",
    "HASHES_VERSION",
    "WORK_SIDE",
    "hamming",
    "image_hashes",
    "phash",
    "similar",
    "video_hashes",
]

#: Shares cut from each side for the extra hashes of :func:`image_hashes`.
CROPS = (0.05, 0.1)
#: Changes whenever :func:`image_hashes` or :func:`video_hashes` would give other values:
#: cached hashes of another version are computed anew.
HASHES_VERSION = 2
#: Pictures need not be decoded larger than this (longer side, pixels) to be hashed.
WORK_SIDE = 512

_SIZE = 32
_LOW = 8


@cache
def _dct_matrix(n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The orthonormal DCT-II matrix: ``D @ x`` is the DCT of the column vector ``x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    d = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    d[0, :] = np.sqrt(1 / n)
    out: np.ndarray[Any, np.dtype[np.float64]] = d.astype(np.float64)
    return out


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash of a picture (bit 63 is the lowest frequency)."""
    if is_high_depth(image):
        image = to_8bit(image)
    gray = image.convert("L").resize((_SIZE, _SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.float64)
    d = _dct_matrix(_SIZE)
    low = (d @ pixels @ d.T)[:_LOW, :_LOW]
    bits = (low > np.median(low)).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def image_hashes(image: Image.Image) -> list[int]:
    """The hash of the whole picture, then of its centre with :data:`CROPS` cut off each side.

    A plain pHash moves by about 20 bits when 10 % is cropped from every side; comparing
    these sets with :func:`similar` (smallest distance between any two) finds such crops at
    distance 0-2, while different photos stay about 20 bits or more apart.
    """
    width, height = image.size
    hashes = [phash(image)]
    for share in CROPS:
        dx, dy = round(width * share), round(height * share)
        if width - 2 * dx >= 8 and height - 2 * dy >= 8:
            hashes.append(phash(image.crop((dx, dy, width - dx, height - dy))))
    return hashes


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def video_hashes(path: PathLike, count: int = 5, *, name: str | None = None) -> list[int]:
    """Hashes of up to ``count`` frames spread evenly over a video (``name`` labels errors)."""
    return [phash(image) for _, image in sample_frames(path, count, name=name)]


def similar(
    h: int | Sequence[int],
    candidates: Mapping[str, Sequence[int]],
    max_distance: int = 10,
) -> list[tuple[str, int]]:
    """Candidates within ``max_distance`` bits of ``h``, nearest first: ``(key, distance)``.

    ``h`` is one hash or several (the frames of a video); a candidate's distance is the
    smallest between any of its hashes and any of ``h``.
    """
    mine = [h] if isinstance(h, int) else list(h)
    found: list[tuple[str, int]] = []
    for key, hashes in candidates.items():
        best = min((hamming(a, b) for a in mine for b in hashes), default=None)
        if best is not None and best <= max_distance:
            found.append((key, best))
    found.sort(key=lambda item: (item[1], item[0]))
    return found
