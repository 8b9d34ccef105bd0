"""What a witness checks before it cosigns (c2sp.org/tlog-witness, ``add-checkpoint``).

A **witness request** is the body of the spec's ``add-checkpoint`` call, so the same
file can be handed to a sahid partner on a USB stick or POSTed to any C2SP witness::

    old <size the witness last cosigned, 0 if never>
    <base64 consistency proof hash>      zero to 63 lines, RFC 6962 §2.1.2 from old
    ...
    <empty line>
    <the checkpoint: a signed note>

:func:`check_request` is the witness's decision as a pure function of the request, the
log keys it trusts for the origin and the newest checkpoint it cosigned before. It
raises in the spec's order: unknown origin (404: :class:`~sahid.errors.NotFound`), no
valid trusted signature (403: VerificationError), old size above the checkpoint's (400:
InputError), old size not the one it last cosigned (409: :class:`WitnessConflict`),
and then, as VerificationError (422), a size-0 checkpoint with a non-empty root, a
proof where none is due, a consistency proof that does not verify, or an equal-size
checkpoint with another root. A witness must never cosign a checkpoint that fails.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sahid._internal import merkle
from sahid._internal.checkpoint import Checkpoint, open_checkpoint
from sahid._internal.note import Verifier
from sahid.errors import InputError, NotFound, VerificationError

__all__ = ["MAX_PROOF", "WitnessConflict", "WitnessRequest", "check_request"]

#: The spec's limit on consistency proof lines.
MAX_PROOF = 63
#: A request is a checkpoint and a few hashes; refuse anything much larger.
MAX_REQUEST = 64 * 1024
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class WitnessConflict(InputError):
    """The request starts from another size than the one the witness last cosigned."""

    code = "conflict"
    http_status = 409

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


def _hash_line(line: str, n: int) -> bytes:
    try:
        raw = base64.b64decode(line.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != merkle.HASH_SIZE or base64.b64encode(raw).decode() != line:
        raise InputError(f"malformed witness request: proof line {n} is not a base64 hash")
    return raw


@dataclass(frozen=True)
class WitnessRequest:
    """``add-checkpoint``: old size, consistency proof, signed checkpoint note."""

    old: int
    proof: tuple[bytes, ...]
    checkpoint: str

    def render(self) -> bytes:
        lines = [f"old {self.old}\n"]
        lines += [base64.b64encode(h).decode() + "\n" for h in self.proof]
        return ("".join(lines) + "\n" + self.checkpoint).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes | str) -> WitnessRequest:
        """Parse a request strictly; InputError (a bad request) for anything malformed."""
        if isinstance(data, bytes):
            if len(data) > MAX_REQUEST:
                raise InputError(f"malformed witness request: more than {MAX_REQUEST} bytes")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError("malformed witness request: not UTF-8") from None
        if not isinstance(data, str):
            raise InputError("malformed witness request: not text")
        head, sep, note = data.partition("\n\n")
        if not sep or not note:
            raise InputError(
                "malformed witness request: want 'old N', proof lines, an empty line, "
                "then the checkpoint"
            )
        lines = head.split("\n")
        first = lines[0]
        if not first.startswith("old ") or not _SIZE.fullmatch(first[4:]):
            raise InputError(
                "malformed witness request: the first line must be 'old N' "
                "(a decimal size without leading zeroes)"
            )
        old = int(first[4:])
        if old > 2**64 - 1:
            raise InputError("malformed witness request: old size is above 2**64-1")
        if len(lines) - 1 > MAX_PROOF:
            raise InputError(f"malformed witness request: more than {MAX_PROOF} proof lines")
        proof = tuple(_hash_line(line, n) for n, line in enumerate(lines[1:], 1))
        return cls(old, proof, note)

    @property
    def origin(self) -> str:
        """The checkpoint's first line, unverified: only for finding the keys to check it."""
        return self.checkpoint.split("\n", 1)[0]


def check_request(
    request: WitnessRequest,
    keys: Sequence[Verifier],
    last: tuple[int, bytes] | None,
) -> Checkpoint:
    """The checkpoint a witness may cosign, or an exception (see the module docstring).

    ``keys``: the log keys the witness trusts for the request's origin (none: the origin
    is unknown); ``last``: size and root of the newest checkpoint it cosigned for that
    origin, None if it never did.
    """
    origin = request.origin
    if not keys:
        raise NotFound(
            f"this witness does not know the log {origin[:80]!r}; "
            "trust its key first with `sahid witness trust VKEY`"
        )
    try:
        cp = open_checkpoint(request.checkpoint, keys, origin=origin)
    except VerificationError as exc:
        raise VerificationError(
            f"the checkpoint of {origin[:80]} is not validly signed by a trusted log key "
            f"({exc.message})"
        ) from None
    if request.old > cp.size:
        raise InputError(f"old size {request.old} is larger than the checkpoint's ({cp.size})")
    last_size = 0 if last is None else last[0]
    if request.old != last_size:
        raise WitnessConflict(
            f"this witness last cosigned size {last_size} of {origin}, but the request is "
            f"from size {request.old}; make a new request with `--old {last_size}`",
            last_size,
        )
    proof = list(request.proof)
    if cp.size == 0 and cp.root_hash != merkle.EMPTY_ROOT:
        raise VerificationError("a checkpoint of size 0 must have the empty tree's root")
    if request.old == 0:
        if proof:
            raise VerificationError("a request from size 0 must not carry a consistency proof")
        return cp
    assert last is not None
    if request.old == cp.size:
        if proof or cp.root_hash != last[1]:
            raise VerificationError(
                f"refusing to cosign: {origin} size {cp.size} has another root than the one "
                "this witness cosigned (a split view or a rewritten log)"
            )
        return cp
    try:
        merkle.verify_consistency(request.old, cp.size, proof, last[1], cp.root_hash)
    except VerificationError as exc:
        raise VerificationError(
            f"refusing to cosign: {origin} size {cp.size} is not consistent with size "
            f"{request.old}, which this witness cosigned ({exc.message})"
        ) from None
    return cp
