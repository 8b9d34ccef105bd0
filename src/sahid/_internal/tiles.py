"""C2SP tlog-tiles layout (https://c2sp.org/tlog-tiles) as pure functions plus one writer.

From the spec's "Merkle Tree" section: tile ``n`` at level ``l`` holds the hashes of
tree nodes of height ``8*l`` (``MTH(D[(n*256 + i) * 256**l : (n*256 + i + 1) * 256**l])``),
i.e. our nodes ``(8*l, n*256 + i)``. From "Partial Tiles": a tree of size ``s`` has
``s >> 8l`` complete nodes at that height, which fill ``(s >> 8l) // 256`` full tiles and,
when ``(s >> 8l) % 256`` is not zero, one partial tile of that width; empty tiles are
never served. Every hash in every tile is a complete node, which storage can read.
"""

from __future__ import annotations

from pathlib import Path

from sahid._internal.fsutil import fsync_dir, write_atomic
from sahid._internal.merkle import HASH_SIZE, NodeReader
from sahid.errors import InputError, VerificationError

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "encode_index",
    "tile_path",
    "tiles_for_size",
    "write_tiles",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_LEVEL = 63


def encode_index(n: int) -> str:
    """``<N>`` of a tile path: ``1234067`` → ``x001/x234/067`` (spec "Merkle Tree").

    Zero-padded 3-digit elements, all but the last prefixed with ``x``, so a file
    never shares its name with a folder.
    """
    if n < 0:
        raise InputError(f"tile index {n} is negative")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>`` for a full tile, ``tile/<L>/<N>.p/<W>`` for a partial one."""
    if not 0 <= level <= MAX_LEVEL:
        raise InputError(f"tile level {level} is outside 0..{MAX_LEVEL}")
    if not 1 <= width <= TILE_WIDTH:
        raise InputError(f"tile width {width} is outside 1..{TILE_WIDTH}")
    path = f"tile/{level}/{encode_index(index)}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def tiles_for_size(size: int) -> list[tuple[int, int, int]]:
    """Every ``(level, index, width)`` tile of a tree of ``size`` leaves, level by level."""
    if size < 0:
        raise InputError(f"tree size {size} is negative")
    out: list[tuple[int, int, int]] = []
    level = 0
    count = size
    while count:
        full, rest = divmod(count, TILE_WIDTH)
        out += [(level, n, TILE_WIDTH) for n in range(full)]
        if rest:
            out.append((level, full, rest))
        level += 1
        count >>= TILE_HEIGHT
    return out


def write_tiles(out_dir: Path, size: int, read: NodeReader) -> int:
    """Write every tile of the tree of ``size`` under ``out_dir``; return how many.

    Each file goes through a synced temp file and a rename; a tile already holding the
    right bytes is left alone (full tiles are immutable), and each folder is synced once
    at the end rather than once per file.
    """
    folders: set[Path] = set()
    count = 0
    for level, index, width in tiles_for_size(size):
        first = index * TILE_WIDTH
        data = _tile_bytes(read, [(TILE_HEIGHT * level, first + i) for i in range(width)])
        path = out_dir / tile_path(level, index, width)
        if not _holds(path, data):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data, 0o644, sync_dir=False)
        folders.update(p for p in (path.parent, *path.parent.parents) if p.is_relative_to(out_dir))
        count += 1
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        fsync_dir(folder)
    return count


def _tile_bytes(read: NodeReader, nodes: list[tuple[int, int]]) -> bytes:
    hashes = read(nodes)
    if len(hashes) != len(nodes) or any(len(h) != HASH_SIZE for h in hashes):
        raise VerificationError("storage returned a wrong number or size of tree node hashes")
    return b"".join(hashes)


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError):
        return False
