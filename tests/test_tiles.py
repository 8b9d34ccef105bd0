"""C2SP tlog-tiles (../shared/vectors/c2sp-specs/tlog-tiles.md): paths, tile sets, and an
independent client that rebuilds the tree from nothing but the tile files."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from sahid._internal import merkle
from sahid._internal.tiles import encode_index, tile_path, tiles_for_size, write_tiles
from sahid.errors import InputError, VerificationError

MAX_SIZE = 65536 + 300
SIZES = [1, 2, 255, 256, 257, 511, 512, 65535, 65536, 65536 + 3, 65536 + 300]


# -- paths and tile sets ("Merkle Tree" and "Partial Tiles") -------------------------------


def test_path_encoding_examples_from_the_spec():
    assert encode_index(1234067) == "x001/x234/067"  # the spec's own example
    assert encode_index(0) == "000"
    assert encode_index(7) == "007"
    assert encode_index(999) == "999"
    assert encode_index(1000) == "x001/000"
    assert encode_index(1_000_000) == "x001/x000/000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 1234067, 256) == "tile/0/x001/x234/067"
    assert tile_path(1, 5, 17) == "tile/1/005.p/17"
    assert tile_path(63, 0, 1) == "tile/63/000.p/1"


@pytest.mark.parametrize(
    "args", [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)], ids=str
)
def test_bad_tile_coordinates_are_input_errors(args: tuple[int, int, int]):
    with pytest.raises(InputError):
        tile_path(*args)


def test_tile_sets_from_the_spec():
    # "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial
    # level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of width
    # 17, and one partial level 2 tile of width 1."
    want = [(0, n, 256) for n in range(273)] + [(0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)]
    assert tiles_for_size(70_000) == want
    # "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
    # tile of width 1."
    assert tiles_for_size(256) == [(0, 0, 256), (1, 0, 1)]
    assert tiles_for_size(0) == []  # "Empty tiles MUST NOT be served."
    assert tiles_for_size(1) == [(0, 0, 1)]
    with pytest.raises(InputError):
        tiles_for_size(-1)


@pytest.mark.parametrize("size", [*SIZES, 70_000, 256**3 + 256**2 + 1])
def test_partial_tile_widths_follow_the_formula(size: int):
    """Partial tile at level l has floor(s / 256**l) mod 256 entries, if not zero."""
    tiles = tiles_for_size(size)
    for level in range(8):
        partial = [w for lvl, _, w in tiles if lvl == level and w < 256]
        full = [n for lvl, n, w in tiles if lvl == level and w == 256]
        width = (size // 256**level) % 256
        assert partial == ([width] if width else [])
        assert full == list(range(size // 256 ** (level + 1)))


# -- an independent client -----------------------------------------------------------------


def _tile_name(level: int, index: int, size: int) -> str:
    """The file a client may fetch for tile (level, index) of a checkpoint of ``size``."""
    count = size // 256**level
    width = 256 if (index + 1) * 256 <= count else count % 256
    assert width, "a client never asks for an empty tile"
    digits = f"{index:03d}"
    groups = [digits[max(0, k - 3) : k] for k in range(len(digits), 0, -3)][::-1]
    groups[0] = groups[0].rjust(3, "0")
    n = "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])
    return f"tile/{level}/{n}" + ("" if width == 256 else f".p/{width}")


def read_tree_from_tiles(out: Path, size: int) -> merkle.NodeReader:
    """A NodeReader backed only by tile files: node (h, j) comes from the tile at level
    h // 8, hashed up h % 8 levels ("the Merkle Tree levels between those expressed by the
    tile hashes are reconstructed by hashing the leaves")."""
    cache: dict[tuple[int, int], bytes] = {}

    def tile(level: int, index: int) -> bytes:
        if (level, index) not in cache:
            data = (out / _tile_name(level, index, size)).read_bytes()
            assert len(data) % 32 == 0 and 0 < len(data) <= 8192
            cache[(level, index)] = data
        return cache[(level, index)]

    def node(height: int, index: int) -> bytes:
        assert (index + 1) << height <= size, "only complete nodes can be read"
        level, up = divmod(height, 8)
        first = index << up
        row = [
            tile(level, k // 256)[(k % 256) * 32 : (k % 256) * 32 + 32]
            for k in range(first, first + (1 << up))
        ]
        while len(row) > 1:
            row = [_h(row[k], row[k + 1]) for k in range(0, len(row), 2)]
        return row[0]

    def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        return [node(h, j) for h, j in nodes]

    return read


def _h(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def client_root(read: merkle.NodeReader, size: int) -> bytes:
    """MTH from the perfect subtrees given by the one bits of ``size``, largest first."""
    parts, begin = [], 0
    for height in range(size.bit_length() - 1, -1, -1):
        if size >> height & 1:
            parts.append((height, begin >> height))
            begin += 1 << height
    hashes = read(parts)
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = _h(left, root)
    return root


# -- writing -------------------------------------------------------------------------------


class Store:
    """Complete nodes of a MAX_SIZE-leaf tree, filled by CompactRange as storage would."""

    def __init__(self, size: int) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        cr = merkle.CompactRange()
        for i in range(size):
            leaf = merkle.leaf_hash(i.to_bytes(8, "big"))
            self.nodes[(0, i)] = leaf
            for level, h in enumerate(cr.append(leaf), 1):
                self.nodes[(level, ((i + 1) >> level) - 1)] = h

    def reader(self, size: int) -> merkle.NodeReader:
        def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
            for level, index in nodes:
                assert (index + 1) << level <= size, "tiles need only complete nodes"
            return [self.nodes[n] for n in nodes]

        return read


@pytest.fixture(scope="module")
def store() -> Store:
    return Store(MAX_SIZE)


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("size", SIZES)
def test_independent_client_rebuilds_the_tree(tmp_path: Path, store: Store, size: int):
    written = write_tiles(tmp_path, size, store.reader(size))
    expected = {tile_path(*t) for t in tiles_for_size(size)}
    assert written == len(expected)
    assert _files(tmp_path) == expected  # nothing else, no temp files left
    for lvl, n, w in tiles_for_size(size):
        assert (tmp_path / tile_path(lvl, n, w)).stat().st_size == 32 * w
    want = merkle.root(size, store.reader(size))
    tiles = read_tree_from_tiles(tmp_path, size)
    assert client_root(tiles, size) == want
    # The tiles suffice for proofs, too.
    for i in {0, size // 3, size - 1}:
        proof = merkle.inclusion_proof(i, size, tiles)
        merkle.verify_inclusion(i, size, store.nodes[(0, i)], proof, want)
    if size > 1:
        old = size // 2 + 1
        proof = merkle.consistency_proof(old, size, tiles)
        merkle.verify_consistency(old, size, proof, client_root(tiles, old), want)


def test_level_one_hashes_are_roots_of_full_level_zero_tiles(tmp_path: Path, store: Store):
    size = 65536 + 3
    write_tiles(tmp_path, size, store.reader(size))
    level1 = (tmp_path / "tile/1/000").read_bytes()
    for n in (0, 1, 255):
        row = (tmp_path / tile_path(0, n)).read_bytes()
        hashes = [row[k : k + 32] for k in range(0, 8192, 32)]
        while len(hashes) > 1:
            hashes = [_h(hashes[k], hashes[k + 1]) for k in range(0, len(hashes), 2)]
        assert level1[n * 32 : n * 32 + 32] == hashes[0]
    assert (tmp_path / "tile/2/000.p/1").read_bytes() == store.nodes[(16, 0)]


def test_growing_log_rewrites_only_what_changed(tmp_path: Path, store: Store):
    assert write_tiles(tmp_path, 0, store.reader(0)) == 0
    write_tiles(tmp_path, 300, store.reader(300))
    full = tmp_path / "tile/0/000"
    first = full.stat()
    assert write_tiles(tmp_path, 600, store.reader(600)) == len(tiles_for_size(600))
    again = full.stat()
    assert (first.st_ino, first.st_mtime_ns) == (again.st_ino, again.st_mtime_ns)
    # Partial tiles of the older checkpoint stay valid for it; the new ones are correct.
    assert client_root(read_tree_from_tiles(tmp_path, 300), 300) == merkle.root(
        300, store.reader(300)
    )
    assert client_root(read_tree_from_tiles(tmp_path, 600), 600) == merkle.root(
        600, store.reader(600)
    )
    # A damaged full tile is put right on the next write.
    full.write_bytes(b"\x00" * 8192)
    write_tiles(tmp_path, 600, store.reader(600))
    assert full.read_bytes() == b"".join(store.nodes[(0, i)] for i in range(256))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_damaged_storage_is_a_verification_error(tmp_path: Path, store: Store):
    def short(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        return [store.nodes[n][:31] for n in nodes]

    with pytest.raises(VerificationError):
        write_tiles(tmp_path, 10, short)
    with pytest.raises(VerificationError):
        write_tiles(tmp_path, 10, lambda nodes: [store.nodes[n] for n in nodes][:-1])


def test_archive_tiles_verify_with_only_public_material(make_archive, tmp_path):
    from sahid._internal.checkpoint import open_checkpoint
    from sahid._internal.note import Verifier

    arc = make_archive(entries=300, batch=100)
    files, cp = arc.write_tiles(tmp_path / "out")
    assert files == len(tiles_for_size(cp.size)) + 1
    note = (tmp_path / "out" / "checkpoint").read_text()
    checked = open_checkpoint(note, Verifier.parse(arc.log_key()))
    tiles = read_tree_from_tiles(tmp_path / "out", checked.size)
    assert client_root(tiles, checked.size) == checked.root_hash
