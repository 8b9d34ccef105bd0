"""C2SP tlog-tiles: paths, tile sets, and an independent client that recomputes the
root from nothing but the tile files (../shared/vectors/c2sp-specs/tlog-tiles.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sahid._internal import merkle
from sahid._internal.tiles import encode_index, tile_path, tiles_for_size, write_tiles


def test_path_encoding_examples_from_the_spec():
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 5, 17) == "tile/1/005.p/17"


def test_tile_set_for_70000_as_in_the_spec():
    tiles = tiles_for_size(70_000)
    level0 = [t for t in tiles if t[0] == 0]
    assert sum(1 for t in level0 if t[2] == 256) == 273
    assert (0, 273, 112) in tiles
    assert (1, 0, 256) in tiles and (1, 1, 17) in tiles and (2, 0, 1) in tiles
    assert tiles_for_size(256) == [(0, 0, 256), (1, 0, 1)]


def _node_store(size: int) -> dict[tuple[int, int], bytes]:
    nodes: dict[tuple[int, int], bytes] = {}
    cr = merkle.CompactRange()
    for i in range(size):
        leaf = merkle.leaf_hash(i.to_bytes(8, "big"))
        nodes[(0, i)] = leaf
        for level, h in enumerate(cr.append(leaf), 1):
            nodes[(level, ((i + 1) >> level) - 1)] = h
    return nodes


def independent_root(out: Path, size: int) -> bytes:
    """A tiles client: reads only files named by the spec for this size."""

    def tile(level: int, index: int) -> bytes:
        count = size >> (8 * level)
        width = 256 if (index + 1) * 256 <= count else count % 256
        name = f"tile/{level}/{_enc(index)}" + ("" if width == 256 else f".p/{width}")
        data = (out / name).read_bytes()
        assert len(data) == 32 * width
        return data

    def node(height: int, index: int) -> bytes:
        # Node at height h: from the tile at level h // 8, hashing up h % 8 levels.
        level, up = divmod(height, 8)
        first = index << up
        hashes = [
            tile(level, (first + i) // 256)[((first + i) % 256) * 32 :][:32] for i in range(1 << up)
        ]
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    parts = [node(level, index) for level, index in merkle.range_nodes(0, size)]
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = merkle.node_hash(left, h)
    return h


def _enc(n: int) -> str:
    digits = f"{n:03d}"
    groups = []
    while n >= 1000:
        groups.insert(0, f"{n % 1000:03d}")
        n //= 1000
    groups.insert(0, f"{n:03d}")
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]]) if groups else digits


@pytest.mark.parametrize("size", [1, 2, 255, 256, 257, 511, 65536 + 3, 70_000])
def test_independent_client_recomputes_the_root(tmp_path, size):
    nodes = _node_store(size)
    written = write_tiles(tmp_path, size, lambda wanted: [nodes[n] for n in wanted])
    assert written == len(tiles_for_size(size))
    assert independent_root(tmp_path, size) == merkle.root(size, lambda w: [nodes[n] for n in w])
    assert not list(tmp_path.rglob("*.tmp"))
    # Level-1 hashes are MTHs of full level-0 tiles.
    if size >= 256:
        full0 = (tmp_path / "tile/0/000").read_bytes()
        hashes = [full0[i : i + 32] for i in range(0, 8192, 32)]
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        lvl1 = next((tmp_path / "tile" / "1").rglob("*"))
        lvl1 = lvl1 if lvl1.is_file() else next(p for p in lvl1.rglob("*") if p.is_file())
        assert lvl1.read_bytes()[:32] == hashes[0]
    assert hashlib.sha256(b"").digest() == merkle.EMPTY_ROOT


def test_archive_tiles_verify_with_only_public_material(make_archive, tmp_path):
    from sahid._internal.checkpoint import open_checkpoint
    from sahid._internal.note import Verifier

    arc = make_archive(entries=300, batch=100)
    files, cp = arc.write_tiles(tmp_path / "out")
    assert files == len(tiles_for_size(cp.size)) + 1
    note = (tmp_path / "out" / "checkpoint").read_text()
    checked = open_checkpoint(note, Verifier.parse(arc.log_key()))
    assert independent_root(tmp_path / "out", checked.size) == checked.root_hash
