"""RFC 9162 Merkle primitives: upstream vectors, a naive oracle, properties and costs.

Vectors: ../shared/vectors/merkle (transparency-dev/merkle@417fb0c3, Apache-2.0; see its
README). Every inclusion and consistency vector runs and must fail iff ``wantErr``, with
one deliberate, listed departure: we reject roots that are not 32 bytes even where
upstream only compares them (``DEPARTURES``). Upstream already rejects consistency from
size 0, as we do.

The oracle below is RFC 9162 §2.1 transcribed recursively (MTH, PATH, SUBPROOF and
verifiers that consume a proof along the same recursion); the module under test is
iterative, so the two share no code.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sahid._internal import merkle
from sahid.errors import InputError, VerificationError

from conftest import SHARED

VECTORS = SHARED / "vectors" / "merkle"
UPSTREAM = VECTORS / "transparency-dev-merkle"
TESTDATA = UPSTREAM / "testdata"
FUZZ_SEEDS = UPSTREAM / "compact" / "testdata" / "fuzz" / "FuzzRangeNodes"

#: Vectors whose outcome we change on purpose, with why.
DEPARTURES = {
    "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json": (
        "its equal roots are 12 bytes; we reject any root that is not a 32-byte hash"
    ),
}


def _files(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def _id(path: Path) -> str:
    return path.relative_to(TESTDATA).as_posix()


def _b64(v: str | None) -> bytes:
    return base64.b64decode(v or "")


def _proof(v: list[str] | None) -> list[bytes]:
    return [base64.b64decode(x) for x in v or []]


def _want_err(path: Path, v: dict[str, Any]) -> bool:
    return bool(v["wantErr"]) or _id(path) in DEPARTURES


def test_vectors_are_present():
    assert len(_files("inclusion")) == 98 and len(_files("consistency")) == 98
    for name in DEPARTURES:
        assert (TESTDATA / name).is_file(), name


@pytest.mark.parametrize("path", _files("inclusion"), ids=_id)
def test_inclusion_vectors(path: Path):
    v = json.loads(path.read_text())
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"]))
    if _want_err(path, v):
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", _files("consistency"), ids=_id)
def test_consistency_vectors(path: Path):
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"]))
    if _want_err(path, v):
        with pytest.raises(VerificationError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


def test_departure_is_only_about_the_hash_length():
    """Same vector with 32-byte equal roots: accepted, as upstream wants."""
    same = hashlib.sha256(b"don't care 2").digest()
    merkle.verify_consistency(1, 1, [], same, same)


@pytest.mark.skip(reason="subtreeinclusion/ and subtreeconsistency/: sahid has no range proofs")
def test_subtree_vectors():
    """Placeholder so the skipped upstream folders show up in the report."""


def test_reference_tree_roots_and_hasher_vectors():
    ref = json.loads((VECTORS / "rfc6962_reference_tree.json").read_text())
    leaves = [bytes.fromhex(x) for x in ref["leaves_hex"]]
    assert [merkle.leaf_hash(x).hex() for x in leaves] == ref["leaf_hashes_hex"]
    tree = Tree(leaves)
    roots = ref["roots_by_tree_size_hex"]
    assert sorted(map(int, roots)) == list(range(1, 9))
    for size, want in roots.items():
        n = int(size)
        assert merkle.root(n, tree.reader(n)).hex() == want
        assert Tree(leaves[:n]).cr.root().hex() == want
        assert mth(tuple(leaves[:n])).hex() == want
    assert merkle.EMPTY_ROOT.hex() == ref["empty_tree_root_hex"] == mth(()).hex()
    empty, empty_leaf, leaf, node = ref["hasher_vectors"]
    assert merkle.EMPTY_ROOT.hex() == empty["want_hex"]
    assert merkle.leaf_hash(bytes.fromhex(empty_leaf["input_hex"])).hex() == empty_leaf["want_hex"]
    assert merkle.leaf_hash(leaf["input_ascii"].encode()).hex() == leaf["want_hex"]
    got = merkle.node_hash(node["left_ascii"].encode(), node["right_ascii"].encode())
    assert got.hex() == node["want_hex"]


# -- the oracle: RFC 9162 §2.1, recursive ------------------------------------------------


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(leaves: tuple[bytes, ...]) -> bytes:
    """§2.1.1 MTH."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, d: tuple[bytes, ...]) -> list[bytes]:
    """§2.1.3.1 PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _split(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: tuple[bytes, ...], b: bool) -> list[bytes]:
    """§2.1.4.1 SUBPROOF(m, D[n], b)."""
    if m == len(d):
        return [] if b else [mth(d)]
    k = _split(len(d))
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def _h(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def oracle_inclusion(i: int, n: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Accept iff the proof, read back along PATH's recursion, rebuilds ``root``."""
    if not 0 <= i < n:
        return False
    rest = list(proof)

    def up(i: int, n: int) -> bytes:
        if n == 1:
            return leaf
        k = _split(n)
        sibling = rest.pop()  # PATH puts the top sibling last
        return _h(up(i, k), sibling) if i < k else _h(sibling, up(i - k, n - k))

    try:
        got = up(i, n)
    except IndexError:
        return False
    return not rest and got == root


def oracle_consistency(m: int, n: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> bool:
    """Accept iff the proof, read back along SUBPROOF's recursion, rebuilds both roots."""
    if not 0 < m <= n:
        return False
    rest = list(proof)

    def up(m: int, n: int, b: bool) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                return root1, root1
            h = rest.pop()
            return h, h
        k = _split(n)
        if m <= k:
            right = rest.pop()
            old, new = up(m, k, b)
            return old, _h(new, right)
        left = rest.pop()
        old, new = up(m - k, n - k, False)
        return _h(left, old), _h(left, new)

    try:
        old, new = up(m, n, True)
    except IndexError:
        return False
    return not rest and old == root1 and new == root2


# -- a tree built by CompactRange ----------------------------------------------------------


class Tree:
    """Leaves appended through CompactRange; completed nodes kept in a dict, as storage."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.cr = merkle.CompactRange()
        self.calls: list[int] = []
        for data in leaves:
            self.add(data)

    def add(self, data: bytes) -> None:
        i = self.cr.size
        leaf = merkle.leaf_hash(data)
        self.nodes[(0, i)] = leaf
        for level, h in enumerate(self.cr.append(leaf), 1):
            self.nodes[(level, ((i + 1) >> level) - 1)] = h
        self.leaves.append(data)

    def reader(self, size: int) -> merkle.NodeReader:
        """A reader for the tree of ``size`` that refuses nodes not complete in it."""

        def read(wanted: Sequence[tuple[int, int]]) -> list[bytes]:
            self.calls.append(len(wanted))
            for level, index in wanted:
                assert (index + 1) << level <= size, f"node {level}/{index} not in size {size}"
            return [self.nodes[n] for n in wanted]

        return read


@pytest.fixture(scope="module")
def tree200() -> Tree:
    return Tree([i.to_bytes(2, "big") * (i % 3) for i in range(200)])


def test_compact_range_completes_the_right_nodes():
    tree = Tree()
    for i in range(1, 130):
        before = set(tree.nodes)
        tree.add(i.to_bytes(2, "big"))
        new = set(tree.nodes) - before - {(0, i - 1)}
        want = {(lvl, (i >> lvl) - 1) for lvl in range(1, i.bit_length()) if i % (1 << lvl) == 0}
        assert new == want
        assert tree.cr.size == i
        d = tuple(tree.leaves)
        assert all(h == mth(d[j << lvl : (j + 1) << lvl]) for (lvl, j), h in tree.nodes.items())


def test_compact_range_resumes_from_storage(tree200: Tree):
    for size in (0, 1, 2, 3, 64, 127, 128, 199):
        cr = merkle.CompactRange.from_reader(size, tree200.reader(size))
        assert cr.size == size and cr.root() == mth(tuple(tree200.leaves[:size]))
        for i in range(size, 200):
            assert cr.append(tree200.nodes[(0, i)]) == [
                tree200.nodes[(lvl, ((i + 1) >> lvl) - 1)]
                for lvl in range(1, 9)
                if (i + 1) % (1 << lvl) == 0
            ]
        assert cr.root() == mth(tuple(tree200.leaves))


def test_compact_range_rejects_bad_leaves_and_sizes():
    with pytest.raises(InputError):
        merkle.CompactRange().append(b"short")
    with pytest.raises(InputError):
        merkle.CompactRange.from_reader(-1, lambda nodes: [])
    assert merkle.CompactRange().root() == merkle.EMPTY_ROOT


def test_every_proof_of_every_tree_up_to_200(tree200: Tree):
    """Exhaustive: each proof equals the RFC's, verifies, and costs one read."""
    d = tuple(tree200.leaves)
    roots = [merkle.EMPTY_ROOT]
    for n in range(1, len(d) + 1):
        read = tree200.reader(n)
        roots.append(merkle.root(n, read))
        assert roots[n] == mth(d[:n])
        for i in range(n):
            tree200.calls.clear()
            proof = merkle.inclusion_proof(i, n, read)
            assert proof == path(i, d[:n])
            assert len(tree200.calls) <= 1
            merkle.verify_inclusion(i, n, tree200.nodes[(0, i)], proof, roots[n])
        for m in range(1, n + 1):
            tree200.calls.clear()
            proof = merkle.consistency_proof(m, n, read)
            assert proof == subproof(m, d[:n], True)
            assert len(tree200.calls) <= 1
            merkle.verify_consistency(m, n, proof, roots[m], roots[n])


def _flip(proof: list[bytes], j: int, bit: int) -> list[bytes]:
    bad = list(proof)
    bad[j] = bytes(b ^ (1 << (bit % 8)) if k == bit // 8 else b for k, b in enumerate(bad[j]))
    return bad


def _rejects(fn: Any, *args: Any) -> bool:
    try:
        fn(*args)
    except VerificationError:
        return True
    return False


sizes = st.integers(1, 200)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=1, max_size=200, unique=True), st.data())
def test_inclusion_proofs_resist_changes(leaves: list[bytes], data: st.DataObject):
    tree = Tree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1), label="index")
    root = merkle.root(n, tree.reader(n))
    assert root == tree.cr.root() == mth(tuple(leaves))
    leaf = tree.nodes[(0, i)]
    proof = merkle.inclusion_proof(i, n, tree.reader(n))
    merkle.verify_inclusion(i, n, leaf, proof, root)
    for j in range(len(proof)):
        bit = data.draw(st.integers(0, 255), label=f"bit in element {j}")
        assert _rejects(merkle.verify_inclusion, i, n, leaf, _flip(proof, j, bit), root)
    bit = data.draw(st.integers(0, 255), label="bit in leaf")
    assert _rejects(merkle.verify_inclusion, i, n, _flip([leaf], 0, bit)[0], proof, root)
    assert _rejects(merkle.verify_inclusion, i, n, leaf, [*proof, leaf], root)
    assert _rejects(merkle.verify_inclusion, i, n, leaf, [leaf, *proof], root)
    if proof:
        assert _rejects(merkle.verify_inclusion, i, n, leaf, proof[:-1], root)
        assert _rejects(merkle.verify_inclusion, i, n, leaf, proof[1:], root)
    for other in {i - 1, i + 1, i ^ 1, i + n, -1}:
        if other != i:
            assert _rejects(merkle.verify_inclusion, other, n, leaf, proof, root)
    # RFC 9162 proofs do not pin the size: another size passes exactly when the RFC's own
    # recursion accepts it (same proof shape); the signed checkpoint binds size to root.
    for size in {n - 1, n + 1, n * 2, n // 2, data.draw(sizes, label="size"), 0, -1}:
        if size != n:
            assert _rejects(merkle.verify_inclusion, i, size, leaf, proof, root) != (
                oracle_inclusion(i, size, leaf, proof, root)
            )


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=6), min_size=2, max_size=200, unique=True), st.data())
def test_consistency_proofs_resist_changes(leaves: list[bytes], data: st.DataObject):
    tree = Tree(leaves)
    n = len(leaves)
    m = data.draw(st.integers(1, n - 1), label="old size")
    root1, root2 = merkle.root(m, tree.reader(m)), merkle.root(n, tree.reader(n))
    proof = merkle.consistency_proof(m, n, tree.reader(n))
    merkle.verify_consistency(m, n, proof, root1, root2)
    for j in range(len(proof)):
        bit = data.draw(st.integers(0, 255), label=f"bit in element {j}")
        assert _rejects(merkle.verify_consistency, m, n, _flip(proof, j, bit), root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, proof[:-1], root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, proof[1:], root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, [*proof, root1], root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, [root1, *proof], root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, proof, root2, root1)
    assert _rejects(merkle.verify_consistency, m, n, proof, root1, tree.cr.root()[::-1])
    size_pairs = {(m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1), (0, n), (n, m), (m, m)}
    size_pairs.add((data.draw(sizes, label="size1"), data.draw(sizes, label="size2")))
    for m2, n2 in size_pairs - {(m, n)}:
        assert _rejects(merkle.verify_consistency, m2, n2, proof, root1, root2) != (
            oracle_consistency(m2, n2, proof, root1, root2)
        ), (m2, n2)


def _all_32(*hs: bytes) -> bool:
    return all(len(h) == 32 for h in hs)


hashes = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=40))
big = st.integers(-(2**65), 2**65)


@settings(max_examples=300, deadline=None)
@given(big, big, hashes, st.lists(hashes, max_size=70), hashes)
def test_inclusion_garbage_only_raises_verification_error(i, n, leaf, proof, root):
    valid = _all_32(leaf, root, *proof) and oracle_inclusion(i, n, leaf, proof, root)
    assert _rejects(merkle.verify_inclusion, i, n, leaf, proof, root) != valid


@settings(max_examples=300, deadline=None)
@given(big, big, st.lists(hashes, max_size=70), hashes, hashes)
def test_consistency_garbage_only_raises_verification_error(m, n, proof, root1, root2):
    valid = _all_32(root1, root2, *proof) and oracle_consistency(m, n, proof, root1, root2)
    assert _rejects(merkle.verify_consistency, m, n, proof, root1, root2) != valid


def test_consistency_from_zero_is_rejected():
    for proof in ([], [merkle.EMPTY_ROOT]):
        with pytest.raises(VerificationError, match="size 0"):
            merkle.verify_consistency(0, 5, proof, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    with pytest.raises(VerificationError, match="size 0"):
        merkle.verify_consistency(0, 0, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: merkle.inclusion_proof(5, 5, r),
        lambda r: merkle.inclusion_proof(-1, 5, r),
        lambda r: merkle.inclusion_proof(0, 0, r),
        lambda r: merkle.consistency_proof(0, 5, r),
        lambda r: merkle.consistency_proof(-1, 5, r),
        lambda r: merkle.consistency_proof(6, 5, r),
        lambda r: merkle.root(-1, r),
        lambda r: merkle.range_nodes(-1, 5),
        lambda r: merkle.range_nodes(6, 5),
    ],
    ids=["index=size", "index<0", "size=0", "old=0", "old<0", "old>new", "root<0", "b<0", "b>e"],
)
def test_bad_requests_are_input_errors(call: Any):
    def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        raise AssertionError("no read expected")

    with pytest.raises(InputError):
        call(read)


def test_trivial_requests_read_nothing():
    def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        raise AssertionError("no read expected")

    assert merkle.root(0, read) == merkle.EMPTY_ROOT
    assert merkle.consistency_proof(7, 7, read) == []
    assert merkle.range_nodes(3, 3) == []


@pytest.mark.parametrize(
    "damage",
    [lambda hs: hs[:-1], lambda hs: [*hs, hs[0]], lambda hs: [h[:31] for h in hs]],
    ids=["missing", "extra", "short"],
)
def test_damaged_storage_is_a_verification_error(tree200: Tree, damage: Any):
    def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        return list(damage([tree200.nodes[x] for x in nodes]))

    for call in (
        lambda: merkle.root(100, read),
        lambda: merkle.inclusion_proof(37, 100, read),
        lambda: merkle.consistency_proof(37, 100, read),
        lambda: merkle.CompactRange.from_reader(100, read),
    ):
        with pytest.raises(VerificationError):
            call()


# -- compact ranges ------------------------------------------------------------------------


def _seed(path: Path) -> tuple[int, int]:
    lines = path.read_text().splitlines()
    assert lines[0] == "go test fuzz v1"
    begin, end = (int(x.removeprefix("uint64(").removesuffix(")")) for x in lines[1:3])
    return begin, end


def _check_compact_range(begin: int, end: int, nodes: list[tuple[int, int]]) -> None:
    """Covers [begin, end) exactly, left to right, aligned perfect subtrees, maximal."""
    pos = begin
    for level, index in nodes:
        assert level >= 0 and index >= 0
        assert index << level == pos  # aligned and contiguous: no gap, no overlap
        pos += 1 << level
        parent_begin = (index >> 1) << (level + 1)
        assert not (begin <= parent_begin and parent_begin + (2 << level) <= end), "not maximal"
    assert pos == end
    # The levels strictly rise, then strictly fall: at most two nodes per level.
    levels = [lvl for lvl, _ in nodes]
    p = 1
    while p < len(levels) and levels[p] > levels[p - 1]:
        p += 1
    assert all(a > b for a, b in zip(levels[p:], levels[p + 1 :], strict=False))


@pytest.mark.parametrize("seed", sorted(FUZZ_SEEDS.iterdir()), ids=lambda p: p.name[:12])
def test_range_nodes_on_upstream_fuzz_seeds(seed: Path):
    begin, end = _seed(seed)
    if begin > end:
        with pytest.raises(InputError):
            merkle.range_nodes(begin, end)
        return
    _check_compact_range(begin, end, merkle.range_nodes(begin, end))


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**64), st.integers(0, 2**64))
def test_range_nodes_property(a: int, b: int):
    begin, end = min(a, b), max(a, b)
    _check_compact_range(begin, end, merkle.range_nodes(begin, end))


def test_range_nodes_small_exhaustive():
    for begin in range(70):
        for end in range(begin, 140):
            _check_compact_range(begin, end, merkle.range_nodes(begin, end))


# -- cost at scale -------------------------------------------------------------------------


def test_one_read_of_log_n_complete_nodes_at_a_million():
    n = 10**6
    calls: list[list[tuple[int, int]]] = []

    def read(nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        calls.append(list(nodes))
        for level, index in nodes:
            assert (index + 1) << level <= n, "asked for a node outside the tree"
        return [hashlib.sha256(f"{lvl}/{idx}".encode()).digest() for lvl, idx in nodes]

    bound = 2 * n.bit_length()  # 40
    requests = [
        lambda: merkle.root(n, read),
        lambda: merkle.CompactRange.from_reader(n, read),
        *(lambda i=i: merkle.inclusion_proof(i, n, read) for i in (0, 1, 123_457, n - 2, n - 1)),
        *(
            lambda m=m: merkle.consistency_proof(m, n, read)
            for m in (1, 2, 3, 333_333, 2**19, 2**19 + 1, n - 1)
        ),
    ]
    for request in requests:
        calls.clear()
        out = request()
        assert len(calls) == 1
        assert len(calls[0]) <= bound and len(set(calls[0])) == len(calls[0])
        if isinstance(out, list):
            assert len(out) <= n.bit_length() + 1
