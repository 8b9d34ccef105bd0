"""Perceptual hashes: find near-duplicate pictures and videos already in the archive.

:func:`phash` is the 64-bit DCT hash (as in pHash and the ``imagehash`` package):
grayscale, 32×32, 2-D DCT-II, the 8×8 lowest frequencies compared with their median.
Re-encoding, resizing and brightness changes move it by a few bits, a different picture
is about 32 bits away. Cropping moves it a lot (10 % off one side: 10-18 bits, 20 %:
about 24), so :func:`image_hashes` adds the hashes of :data:`WINDOWS`, crops anchored at
every edge and corner and off centre, and :func:`similar` takes the smallest distance
between any hash of one picture and any of the other: a crop of a photo matches the
photo's window that it covers, or one of its own windows matches one of the photo's.
Only whole pictures are compared, never faces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from itertools import product
from typing import Any

import numpy as np
from PIL import Image

from sahid.media.pixels import is_high_depth, to_8bit
from sahid.media.redact import PathLike
from sahid.media.thumbs import sample_frames

__all__ = [
    "CUTS",
    "HASHES_VERSION",
    "WINDOWS",
    "WORK_SIDE",
    "hamming",
    "image_hashes",
    "phash",
    "similar",
    "video_hashes",
]

#: Shares of the width (height) a window cuts off its left or right (top or bottom) edge.
CUTS = (0.0, 0.09, 0.18, 0.27)
#: At most this share of an axis is cut off in all (both edges together).
MAX_CUT = 0.27
#: The crops :func:`image_hashes` hashes, as (left, top, right, bottom) shares of the
#: picture: every combination of :data:`CUTS` on the four edges that leaves at least
#: 73 % of each axis — the whole picture first, then windows anchored at each edge and
#: corner, centred and off centre (100 in all).
WINDOWS: tuple[tuple[float, float, float, float], ...] = tuple(
    (x0, y0, 1 - x1, 1 - y1)
    for (x0, x1), (y0, y1) in product(
        [(a, b) for a in CUTS for b in CUTS if a + b <= MAX_CUT + 1e-9], repeat=2
    )
)
#: Changes whenever :func:`image_hashes` or :func:`video_hashes` would give other values:
#: cached hashes of another version are computed anew.
HASHES_VERSION = 3
#: Pictures need not be decoded larger than this (longer side, pixels) to be hashed;
#: windows are hashed from a greyscale copy no larger than this.
WORK_SIDE = 256
#: Pictures smaller than this (shorter side, pixels) get no window hashes.
MIN_WINDOWED = 64

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


def _bits(low: np.ndarray[Any, Any]) -> list[int]:
    """64-bit values of ``N×64`` coefficients: bit 63 is the first, set above the median."""
    above = low > np.median(low, axis=1, keepdims=True)
    return [int.from_bytes(row.tobytes(), "big") for row in np.packbits(above, axis=1)]


def phash(image: Image.Image) -> int:
    """The 64-bit perceptual hash of a picture (bit 63 is the lowest frequency)."""
    if is_high_depth(image):
        image = to_8bit(image)
    gray = image.convert("L").resize((_SIZE, _SIZE), Image.Resampling.LANCZOS)
    pixels = np.asarray(gray, dtype=np.float64)
    d = _dct_matrix(_SIZE)
    low = (d @ pixels @ d.T)[:_LOW, :_LOW]
    return _bits(low.reshape(1, _LOW * _LOW))[0]


def _window_hashes(image: Image.Image) -> list[int]:
    """The pHash of every window in :data:`WINDOWS`, all at once.

    Each window is averaged into 32×32 cells with a summed-area table of a greyscale copy
    at most :data:`WORK_SIDE` pixels a side (area averaging, where :func:`phash` uses
    Lanczos: both give the same hash for the same pixels, to a bit or two).
    """
    gray = image.convert("L")
    if max(gray.size) > WORK_SIDE:
        scale = WORK_SIDE / max(gray.size)
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.BOX)
    pixels = np.asarray(gray, dtype=np.float64)
    height, width = pixels.shape
    table = np.zeros((height + 1, width + 1))
    table[1:, 1:] = pixels.cumsum(axis=0).cumsum(axis=1)
    windows = np.asarray(WINDOWS)
    steps = np.arange(_SIZE + 1) / _SIZE
    # cell edges of each window, whole pixels, never going backwards
    xs = np.rint((windows[:, :1] + (windows[:, 2:3] - windows[:, :1]) * steps) * width)
    ys = np.rint((windows[:, 1:2] + (windows[:, 3:4] - windows[:, 1:2]) * steps) * height)
    xe = np.maximum.accumulate(xs.astype(np.intp), axis=1)
    ye = np.maximum.accumulate(ys.astype(np.intp), axis=1)
    corners = table[ye[:, :, None], xe[:, None, :]]
    sums = corners[:, 1:, 1:] - corners[:, :-1, 1:] - corners[:, 1:, :-1] + corners[:, :-1, :-1]
    areas = np.diff(ye, axis=1)[:, :, None] * np.diff(xe, axis=1)[:, None, :]
    cells = sums / np.maximum(areas, 1)
    d = _dct_matrix(_SIZE)[:_LOW]
    low = (d @ cells @ d.T).reshape(len(WINDOWS), _LOW * _LOW)
    return _bits(low)


def image_hashes(image: Image.Image) -> list[int]:
    """The hash of the whole picture, then of each of its :data:`WINDOWS`.

    A plain pHash moves by about 24 bits when a fifth is cropped from one side; comparing
    these sets with :func:`similar` (smallest distance between any two) finds crops of up
    to about a quarter off one side or corner, or off centre, within 10 bits, while
    different photos stay about 14 bits or more apart (measured on scikit-image's sample
    photos, ``tests/test_phash.py``). Pictures under :data:`MIN_WINDOWED` pixels a side
    get the whole-picture hash only.
    """
    if is_high_depth(image):
        image = to_8bit(image)
    hashes = [phash(image)]
    if min(image.size) >= MIN_WINDOWED:
        hashes.extend(_window_hashes(image))
    return hashes


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def video_hashes(path: PathLike, count: int = 5, *, name: str | None = None) -> list[int]:
    """Hashes of up to ``count`` frames spread evenly over a video (``name`` labels errors)."""
    return [phash(image) for _, image in sample_frames(path, count, name=name)]


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
#: Hash pairs compared at once by :func:`similar` (bounds its memory to a few MB).
_CHUNK = 1 << 19


def _popcount(values: np.ndarray[Any, np.dtype[np.uint64]]) -> np.ndarray[Any, Any]:
    """Set bits of each uint64 (numpy's bitwise_count where there is one)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        out: np.ndarray[Any, Any] = count(values)
        return out
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    summed: np.ndarray[Any, Any] = _POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)
    return summed


def similar(
    h: int | Sequence[int],
    candidates: Mapping[str, Sequence[int]],
    max_distance: int = 10,
) -> list[tuple[str, int]]:
    """Candidates within ``max_distance`` bits of ``h``, nearest first: ``(key, distance)``.

    ``h`` is one hash or several (a picture's windows, the frames of a video); a
    candidate's distance is the smallest between any of its hashes and any of ``h``.
    """
    mine = np.array([h] if isinstance(h, int) else list(h), dtype=np.uint64)
    keys = [key for key, hashes in candidates.items() if len(hashes)]
    if not len(mine) or not keys:
        return []
    counts = np.array([len(candidates[key]) for key in keys])
    theirs = np.fromiter(
        (v for key in keys for v in candidates[key]), dtype=np.uint64, count=int(counts.sum())
    )
    nearest = np.empty(len(theirs), dtype=np.uint8)
    step = max(1, _CHUNK // len(mine))
    for start in range(0, len(theirs), step):
        part = theirs[start : start + step]
        nearest[start : start + step] = _popcount(mine[:, None] ^ part[None, :]).min(axis=0)
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    best = np.minimum.reduceat(nearest, offsets)
    found = [(key, int(d)) for key, d in zip(keys, best, strict=True) if d <= max_distance]
    found.sort(key=lambda item: (item[1], item[0]))
    return found
