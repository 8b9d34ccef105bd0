"""RFC 9162 §2.1 Merkle tree primitives — hazardous: no policy, no storage.

Nodes are addressed as ``(level, index)``: the perfect subtree of ``2**level`` leaves
over ``[index * 2**level, (index + 1) * 2**level)``; level 0 are leaf hashes. Proofs and
roots ask a :data:`NodeReader` (the storage layer) for the stored hashes of *complete*
nodes in one batch, so each costs O(log n) node reads and hashes — the tree is never
rebuilt. Verification functions raise :class:`sahid.errors.VerificationError` and
nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from sahid.errors import InputError, VerificationError

HASH_SIZE = 32
NodeReader = Callable[[Sequence[tuple[int, int]]], Sequence[bytes]]

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x00 ‖ data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def range_nodes(begin: int, end: int) -> list[tuple[int, int]]:
    """Split [begin, end) into maximal aligned perfect subtrees, left to right."""
    out: list[tuple[int, int]] = []
    while begin < end:
        size = begin & -begin if begin else 1 << (end.bit_length())
        while begin + size > end:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, begin >> level))
        begin += size
    return out


def _fold(hashes: Sequence[bytes]) -> bytes:
    h = hashes[-1]
    for left in reversed(hashes[:-1]):
        h = node_hash(left, h)
    return h


def _largest_power_below(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class _Batch:
    """Collects the subtree ranges a computation needs, then reads them in one call."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def want(self, begin: int, end: int) -> None:
        self.ranges.append((begin, end))

    def hashes(self, read: NodeReader) -> list[bytes]:
        parts = [range_nodes(b, e) for b, e in self.ranges]
        flat = [n for p in parts for n in p]
        got = list(read(flat)) if flat else []
        if len(got) != len(flat):
            raise VerificationError("storage returned the wrong number of tree nodes")
        out, i = [], 0
        for p in parts:
            out.append(_fold(got[i : i + len(p)]))
            i += len(p)
        return out


def root(size: int, read: NodeReader) -> bytes:
    """RFC 9162 §2.1.1 MTH of the first ``size`` leaves."""
    if size < 0:
        raise InputError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    batch = _Batch()
    batch.want(0, size)
    return batch.hashes(read)[0]


def _path_ranges(index: int, lo: int, hi: int, out: _Batch) -> None:
    # RFC 9162 §2.1.3.1 PATH, iteratively; siblings are appended leaf-to-root.
    stack: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _largest_power_below(hi - lo)
        if index < lo + k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            lo = lo + k
    for begin, end in reversed(stack):
        out.want(begin, end)


def inclusion_proof(index: int, size: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the audit path of leaf ``index`` in the tree of ``size``."""
    if size <= 0 or not 0 <= index < size:
        raise InputError(f"leaf index {index} is out of range for a tree of size {size}")
    batch = _Batch()
    _path_ranges(index, 0, size, batch)
    return batch.hashes(read)


def consistency_proof(old: int, new: int, read: NodeReader) -> list[bytes]:
    """RFC 9162 §2.1.4.1: proof that the tree of ``old`` leaves is a prefix of ``new``."""
    if not 0 < old <= new:
        raise InputError(
            f"consistency proof from size {old} to {new} is out of range (need 0 < old <= new)"
        )
    batch = _Batch()
    m, lo, hi, complete = old, 0, new, True
    stack: list[tuple[int, int]] = []
    while m != hi - lo:
        k = _largest_power_below(hi - lo)
        if m <= k:
            stack.append((lo + k, hi))
            hi = lo + k
        else:
            stack.append((lo, lo + k))
            m -= k
            lo = lo + k
            complete = False
    if not complete:
        batch.want(lo, hi)
    for begin, end in reversed(stack):
        batch.want(begin, end)
    return batch.hashes(read)


def _check_hashes(proof: Sequence[bytes], *others: bytes) -> None:
    for h in (*proof, *others):
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise VerificationError("proof or root hash has the wrong length")


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """RFC 9162 §2.1.3.2; raises VerificationError unless the proof is exactly right."""
    _check_hashes(proof, leaf, root_hash)
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is not inside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
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
    """RFC 9162 §2.1.4.2; a proof from size 0 is rejected (it proves nothing).

    Roots are compared, not length-checked: a root of the wrong length can never equal a
    computed hash, so it fails anyway (as upstream's equal-size vectors expect).
    """
    _check_hashes(proof)
    if size1 <= 0:
        raise VerificationError("a consistency proof from size 0 proves nothing and is rejected")
    if size1 > size2:
        raise VerificationError(f"old size {size1} is larger than new size {size2}")
    if size1 == size2:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError("roots differ for equal tree sizes")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
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


class CompactRange:
    """The right frontier of a growing tree: append leaves, learn completed nodes."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    @classmethod
    def from_reader(cls, size: int, read: NodeReader) -> CompactRange:
        cr = cls()
        nodes = range_nodes(0, size)
        hashes = read(nodes) if nodes else []
        cr._stack = [(level, h) for (level, _), h in zip(nodes, hashes, strict=True)]
        cr.size = size
        return cr

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; return the internal nodes it completes, levels 1..t."""
        stack = self._stack
        completed: list[bytes] = []
        h, level = leaf, 0
        while stack and stack[-1][0] == level:
            h = node_hash(stack.pop()[1], h)
            level += 1
            completed.append(h)
        stack.append((level, h))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return _fold([h for _, h in self._stack])
