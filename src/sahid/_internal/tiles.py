"""C2SP tlog-tiles layout ("Merkle Tree" and "Partial Tiles" sections) as pure functions.

Tile ``n`` at level ``l`` holds the hashes of tree nodes at height ``8*l``, indices
``n*256 .. n*256+255``. A tree of size ``s`` has, at level ``l``, ``s >> 8l`` complete
nodes of that height: the full tiles, then one partial tile of width
``(s >> 8l) % 256`` when that is not zero.
"""

from __future__ import annotations

from pathlib import Path

from sahid._internal.fsutil import write_atomic
from sahid._internal.merkle import NodeReader

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


def encode_index(n: int) -> str:
    """``1234067`` → ``x001/x234/067``: 3-digit elements, all but the last with ``x``."""
    if n < 0:
        raise ValueError("tile index must not be negative")
    parts = []
    while True:
        parts.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    parts.reverse()
    return "/".join([*(f"x{p}" for p in parts[:-1]), parts[-1]])


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    if not 0 <= level <= 63 or not 1 <= width <= TILE_WIDTH:
        raise ValueError("tile level or width out of range")
    path = f"tile/{level}/{encode_index(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def tiles_for_size(size: int) -> list[tuple[int, int, int]]:
    """Every (level, index, width) tile a tree of ``size`` leaves needs."""
    out: list[tuple[int, int, int]] = []
    level = 0
    while True:
        count = size >> (TILE_HEIGHT * level)
        if count == 0:
            return out
        out += [(level, n, TILE_WIDTH) for n in range(count // TILE_WIDTH)]
        if count % TILE_WIDTH:
            out.append((level, count // TILE_WIDTH, count % TILE_WIDTH))
        level += 1


def write_tiles(out_dir: Path, size: int, read: NodeReader) -> int:
    """Write all tiles for ``size`` (temp → fsync → rename); returns the file count."""
    written = 0
    for level, index, width in tiles_for_size(size):
        height = TILE_HEIGHT * level
        first = index * TILE_WIDTH
        hashes = read([(height, first + i) for i in range(width)])
        path = out_dir / tile_path(level, index, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, b"".join(hashes), mode=0o644)
        written += 1
    return written
