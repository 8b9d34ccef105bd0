"""RFC 9162 Merkle primitives against the transparency-dev vectors and properties.

Vectors: ../shared/vectors/merkle (transparency-dev/merkle@417fb0c3, Apache-2.0); see its
README for provenance. Every inclusion and consistency vector is run. Deliberate
departure: consistency from size 0 is always rejected (issue 3), so vectors that accept
it upstream are expected to fail here; the test says which.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sahid import InputError, VerificationError
from sahid._internal import merkle

from conftest import SHARED

VECTORS = SHARED / "vectors" / "merkle"
TESTDATA = VECTORS / "transparency-dev-merkle" / "testdata"


def _files(kind: str) -> list[Path]:
    return sorted((TESTDATA / kind).rglob("*.json"))


def _b64(v: str | None) -> bytes:
    return base64.b64decode(v or "")


def _proof(v: list[str] | None) -> list[bytes]:
    return [base64.b64decode(x) for x in v or []]


def test_vectors_are_present():
    assert len(_files("inclusion")) > 50 and len(_files("consistency")) > 50


@pytest.mark.parametrize("path", _files("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_inclusion_vectors(path: Path):
    v = json.loads(path.read_text())
    call = lambda: merkle.verify_inclusion(  # noqa: E731
        v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), _proof(v["proof"]), _b64(v["root"])
    )
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            call()
    else:
        call()


@pytest.mark.parametrize("path", _files("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_consistency_vectors(path: Path):
    v = json.loads(path.read_text())
    want_err = v["wantErr"] or v["size1"] == 0  # our rule: size 0 proves nothing
    call = lambda: merkle.verify_consistency(  # noqa: E731
        v["size1"], v["size2"], _proof(v["proof"]), _b64(v["root1"]), _b64(v["root2"])
    )
    if want_err:
        with pytest.raises(VerificationError):
            call()
    else:
        call()


def test_reference_tree_roots_and_hasher_vectors():
    ref = json.loads((VECTORS / "rfc6962_reference_tree.json").read_text())
    leaves = [bytes.fromhex(x) for x in ref["leaves_hex"]]
    assert [merkle.leaf_hash(x).hex() for x in leaves] == ref["leaf_hashes_hex"]
    tree = Tree(leaves)
    assert ref["roots_by_tree_size_hex"]
    for size, root_hex in ref["roots_by_tree_size_hex"].items():
        assert tree.root(int(size)).hex() == root_hex, size
        assert tree.cr.root().hex() == ref["roots_by_tree_size_hex"][str(len(leaves))]
    assert merkle.EMPTY_ROOT.hex() == ref["empty_tree_root_hex"]
    empty, empty_leaf, leaf, node = ref["hasher_vectors"]
    assert merkle.EMPTY_ROOT.hex() == empty["want_hex"]
    assert merkle.leaf_hash(b"").hex() == empty_leaf["want_hex"]
    assert merkle.leaf_hash(leaf["input_ascii"].encode()).hex() == leaf["want_hex"]
    assert (
        merkle.node_hash(node["left_ascii"].encode(), node["right_ascii"].encode()).hex()
        == node["want_hex"]
    )


class Tree:
    """Test helper: a tree built by CompactRange, with a dict-backed NodeReader."""

    def __init__(self, leaves: list[bytes] = ()) -> None:  # type: ignore[assignment]
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.cr = merkle.CompactRange()
        self.reads = 0
        for data in leaves:
            self.add(data)

    def add(self, data: bytes) -> None:
        i = self.cr.size
        leaf = merkle.leaf_hash(data)
        self.nodes[(0, i)] = leaf
        for level, h in enumerate(self.cr.append(leaf), 1):
            self.nodes[(level, ((i + 1) >> level) - 1)] = h

    def read(self, wanted):
        self.reads += 1
        return [self.nodes[n] for n in wanted]

    def root(self, size: int) -> bytes:
        return merkle.root(size, self.read)


def naive_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, for comparison."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=140))
def test_every_proof_verifies_for_every_leaf_and_size(leaves):
    tree = Tree(leaves)
    n = len(leaves)
    assert tree.cr.root() == naive_mth(leaves) == tree.root(n)
    roots = {m: tree.root(m) for m in range(1, n + 1)}
    for m in range(1, n + 1):
        assert roots[m] == naive_mth(leaves[:m])
        for i in range(m):
            proof = merkle.inclusion_proof(i, m, tree.read)
            merkle.verify_inclusion(i, m, merkle.leaf_hash(leaves[i]), proof, roots[m])
        proof = merkle.consistency_proof(m, n, tree.read)
        merkle.verify_consistency(m, n, proof, roots[m], roots[n])


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 300), st.data())
def test_any_change_breaks_a_proof(n, data):
    tree = Tree([i.to_bytes(4, "big") for i in range(n)])
    i = data.draw(st.integers(0, n - 1))
    root = tree.root(n)
    leaf = merkle.leaf_hash(i.to_bytes(4, "big"))
    proof = merkle.inclusion_proof(i, n, tree.read)
    merkle.verify_inclusion(i, n, leaf, proof, root)
    if proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(proof)
        bad[j] = bytes(b ^ (1 << (bit % 8)) if k == bit // 8 else b for k, b in enumerate(bad[j]))
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(i, n, leaf, bad, root)
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(i, n, leaf, proof[:-1], root)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(i, n, leaf, [*proof, root], root)
    other = data.draw(st.integers(0, n - 1).filter(lambda x: x != i))
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(other, n, leaf, proof, root)
    m = data.draw(st.integers(1, n - 1))
    cproof = merkle.consistency_proof(m, n, tree.read)
    merkle.verify_consistency(m, n, cproof, tree.root(m), root)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(m, n, cproof, tree.root(m), merkle.leaf_hash(b"x"))
    with pytest.raises(VerificationError):
        merkle.verify_consistency(m, n, cproof[:-1], tree.root(m), root)


def test_consistency_from_zero_is_rejected():
    with pytest.raises(VerificationError, match="size 0"):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, merkle.EMPTY_ROOT)
    with pytest.raises(InputError):
        merkle.consistency_proof(0, 5, lambda nodes: [])


def test_range_nodes_on_fuzz_seeds():
    seeds = sorted(
        (
            VECTORS / "transparency-dev-merkle" / "compact" / "testdata" / "fuzz" / "FuzzRangeNodes"
        ).iterdir()
    )
    assert seeds
    for seed in seeds:
        nums = [
            int(x.split("(")[1].rstrip(")"))
            for x in seed.read_text().splitlines()
            if x.startswith("uint64(")
        ]
        begin, end = nums[0], nums[1]
        if begin > end or end - begin > 2**40:
            continue
        nodes = merkle.range_nodes(begin, end)
        pos = begin
        for level, index in nodes:
            size = 1 << level
            assert index * size == pos, (seed.name, nodes)
            pos += size
        assert pos == end


def test_proofs_need_log_n_reads_at_a_million():
    calls: list[int] = []

    def read(nodes):
        calls.append(len(nodes))
        return [hashlib.sha256(f"{lvl}/{idx}".encode()).digest() for lvl, idx in nodes]

    for index in (0, 123_457, 999_999):
        calls.clear()
        merkle.inclusion_proof(index, 1_000_000, read)
        assert len(calls) == 1 and calls[0] <= 2 * 20
    calls.clear()
    merkle.consistency_proof(333_333, 1_000_000, read)
    assert len(calls) == 1 and calls[0] <= 2 * 20
