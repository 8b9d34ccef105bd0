"""Raw RFC 9162 §2.1 Merkle tree primitives — hazardous: no policy, no storage.

Nodes are addressed as ``(level, index)``: the perfect subtree of ``2**level`` leaves
over ``[index * 2**level, (index + 1) * 2**level)``; level 0 are the leaf hashes. Roots
and proofs ask a :data:`NodeReader` (the storage layer) for the stored hashes of
*complete* nodes, in one batch, so each costs O(log n) node reads and hashes and the
tree is never rebuilt. The proof builders follow transparency-dev/merkle's
``proof.Inclusion``/``proof.Consistency`` (a proof is the siblings up to the highest
complete node, one "ephemeral" hash folded from the compact range to its right, then
the compact range to its left), which yields exactly RFC 9162 §2.1.3.1 PATH and
§2.1.4.1 SUBPROOF.

Verification (§2.1.3.2, §2.1.4.2) raises :class:`~sahid.errors.VerificationError` and
nothing else. It checks that a proof leads from the given sizes to the given roots; it
does not bind the sizes themselves (several sizes can share a proof shape), so callers
must take sizes and roots together from a signed checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from sahid.errors import InputError, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeReader",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
#: Batch reader of stored hashes of complete nodes, in the order asked.
NodeReader = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]
Node = tuple[int, int]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


# -- node sets ---------------------------------------------------------------------------


def range_nodes(begin: int, end: int) -> list[Node]:
    """``[begin, end)`` as maximal aligned perfect subtrees, left to right (compact range).

    Left of the point where the paths to leaves ``begin - 1`` and ``end`` split the
    nodes grow (the zero bits of ``begin - 1``), right of it they shrink (the one bits
    of ``end``); see transparency-dev/merkle ``compact.Decompose``.
    """
    if not 0 <= begin <= end:
        raise InputError(f"leaf range [{begin}, {end}) is not a valid range")
    if begin == 0:
        left, right = 0, end
    else:
        last = begin - 1
        mask = (1 << ((last ^ end).bit_length() - 1)) - 1
        left, right = ~last & mask, end & mask
    out: list[Node] = []
    pos = begin
    while left:
        level = (left & -left).bit_length() - 1
        out.append((level, pos >> level))
        pos += 1 << level
        left &= left - 1
    while right:
        level = right.bit_length() - 1
        out.append((level, pos >> level))
        pos += 1 << level
        right ^= 1 << level
    return out


def _path_nodes(index: int, level: int, size: int) -> tuple[list[Node], int, int]:
    """Nodes of the path from complete node ``(level, index)`` to the root of ``size``.

    Returns ``(nodes, inner, right)``: ``nodes[:inner]`` are the siblings up to the
    highest complete ancestor (the fork), ``nodes[inner:inner + right]`` the compact
    range right of the fork (folded into one proof hash), and the rest the compact range
    left of it, left to right (used in reverse).
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    nodes = [(level + i, (index >> i) ^ 1) for i in range(inner)]
    fork = level + inner
    begin = (index >> inner) << fork
    right = range_nodes(begin + (1 << fork), size)
    nodes += right
    nodes += range_nodes(0, begin)
    return nodes, inner, len(right)


def _read(read: NodeReader, nodes: Sequence[Node]) -> Sequence[bytes]:
    """One batched read, checked: storage damage must not turn into a wrong proof."""
    if not nodes:
        return []
    got = read(nodes)
    if len(got) != len(nodes) or any(len(h) != HASH_SIZE for h in got):
        raise VerificationError("storage returned a wrong number or size of tree node hashes")
    return got


def _fold(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """Hash a compact range ``hashes[lo:hi]`` (left to right) into its root, right first."""
    h = hashes[hi - 1]
    for i in range(hi - 2, lo - 1, -1):
        h = node_hash(hashes[i], h)
    return h


def _assemble(hashes: Sequence[bytes], start: int, inner: int, right: int) -> list[bytes]:
    """Turn the hashes of :func:`_path_nodes` (from ``start``) into proof order."""
    mid = start + inner
    proof = list(hashes[start:mid])
    if right:
        proof.append(_fold(hashes, mid, mid + right))
    proof += reversed(hashes[mid + right :])
    return proof


# -- roots and proofs --------------------------------------------------------------------


def root(size: int, read: NodeReader) -> bytes:
    """RFC 9162 §2.1.1 MTH of the first ``size`` leaves, from their compact range."""
    if size < 0:
        raise InputError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    nodes = range_nodes(0, size)
    return _fold(_read(read, nodes), 0, len(nodes))


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH: the audit path of leaf ``index`` in the tree of ``size``."""
    if size <= 0 or not 0 <= index < size:
        raise InputError(f"leaf index {index} is out of range for a tree of size {size}")
    nodes, inner, right = _path_nodes(index, 0, size)
    return _assemble(_read(read, nodes), 0, inner, right)


def consistency_proof(old: int, new: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF: proof that the tree of ``old`` leaves prefixes ``new``.

    It is the largest perfect subtree ending at ``old`` (left out when ``old`` is a
    power of two: the verifier has it as the old root) and that node's path in ``new``.
    """
    if not 0 < old <= new:
        raise InputError(f"consistency proof from size {old} to {new} needs 0 < old <= new")
    if old == new:
        return []
    level = (old & -old).bit_length() - 1
    index = (old - 1) >> level
    nodes, inner, right = _path_nodes(index, level, new)
    if index == 0:
        return _assemble(_read(read, nodes), 0, inner, right)
    hashes = _read(read, [(level, index), *nodes])
    return [hashes[0], *_assemble(hashes, 1, inner, right)]


# -- verification ------------------------------------------------------------------------


def _check_sizes(hashes: Sequence[bytes], what: str) -> None:
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise VerificationError(f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise VerificationError unless ``proof`` is exactly right."""
    _check_sizes((leaf, root_hash), "a leaf or root")
    _check_sizes(proof, "an inclusion proof element")
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not inside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short")
    if r != root_hash:
        raise VerificationError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2; a proof from size 0 is rejected, as it proves nothing."""
    _check_sizes((root1, root2), "a tree root")
    _check_sizes(proof, "a consistency proof element")
    if size1 <= 0:
        raise VerificationError("a consistency proof from size 0 proves nothing and is rejected")
    if size1 > size2:
        raise VerificationError(f"old tree size {size1} is larger than new size {size2}")
    if size1 == size2:
        if proof:
            raise VerificationError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError("the roots of two trees of equal size differ")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else proof
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for i in range(1, len(path)):
        c = path[i]
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != root1 or sr != root2:
        raise VerificationError("consistency proof does not match the roots")


# -- appending ---------------------------------------------------------------------------


class CompactRange:
    """The right frontier of a growing tree: append leaf hashes, learn completed nodes.

    Its hashes are the nodes of ``range_nodes(0, size)``, whose levels are the one bits
    of ``size``, so appending leaf ``i`` merges as many of them as ``i`` has trailing
    one bits.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._hashes: list[bytes] = []
        self._size = 0

    @classmethod
    def from_reader(cls, size: int, read: NodeReader) -> CompactRange:
        """Resume at ``size`` with one read of its compact range."""
        cr = cls()
        cr._hashes = list(_read(read, range_nodes(0, size)))
        cr._size = size
        return cr

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf: bytes) -> list[bytes]:
        """Add leaf ``size``; return the nodes it completes, levels 1..t, to store.

        Leaf ``i`` completes node ``(l, ((i + 1) >> l) - 1)`` for each ``l >= 1`` with
        ``2**l`` dividing ``i + 1``.
        """
        if len(leaf) != HASH_SIZE:
            raise InputError(f"a leaf hash must be {HASH_SIZE} bytes, not {len(leaf)}")
        i = self._size
        hashes = self._hashes
        completed: list[bytes] = []
        h = leaf
        for _ in range((~i & (i + 1)).bit_length() - 1):
            h = node_hash(hashes.pop(), h)
            completed.append(h)
        hashes.append(h)
        self._size = i + 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves so far."""
        if not self._hashes:
            return EMPTY_ROOT
        return _fold(self._hashes, 0, len(self._hashes))
