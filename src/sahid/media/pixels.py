"""8-bit views of pictures stored with more depth: 16-bit, 32-bit integer and float greyscale.

Pillow's ``convert("L")`` or ``convert("RGB")`` clips such pictures at 255, which turns a
16-bit photo almost white: faces can no longer be detected, yet stay visible once the
copy is viewed with its full depth. Every decoder of :mod:`sahid.media` scales them to
8 bits with :func:`to_8bit` first.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = ["HIGH_DEPTH_MODES", "is_high_depth", "to_8bit"]

#: Pillow modes with more than 8 bits a sample: one channel each.
HIGH_DEPTH_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def is_high_depth(image: Image.Image) -> bool:
    return image.mode in HIGH_DEPTH_MODES


def to_8bit(image: Image.Image) -> Image.Image:
    """An L picture from a 16-bit, 32-bit integer or floating-point greyscale one.

    The values are scaled, not clipped (Pillow's ``convert`` clips at 255, which turns a
    16-bit picture almost white): 16-bit modes by 255/65535; ``I`` and ``F`` by the range
    their values fill: 0-1 (floats), 0-255, 0-65535, else their own minimum to maximum.
    """
    values = np.asarray(image)
    if image.mode.startswith("I;16"):
        scaled = values.astype(np.float64) / 257
    else:
        values = values.astype(np.float64)
        finite = values[np.isfinite(values)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        if lo >= 0 and hi <= 1 and image.mode == "F":
            scaled = values * 255
        elif lo >= 0 and hi <= 255:
            scaled = values
        elif lo >= 0 and hi <= 65535:
            scaled = values / 257
        elif hi > lo:
            scaled = (values - lo) * (255 / (hi - lo))
        else:
            scaled = np.zeros_like(values)
    out = np.clip(np.rint(np.nan_to_num(scaled, nan=0.0, posinf=255, neginf=0)), 0, 255)
    return Image.fromarray(out.astype(np.uint8))  # 2-D uint8: mode L
