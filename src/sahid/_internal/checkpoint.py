"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): a log's tree head as a signed note.

*Note text*: at least three non-empty lines, each ending in a newline:

1. the **origin**, non-empty (a schema-less URL is only a recommendation, so spaces are
   accepted: sum.golang.org's origin is ``go.sum database tree``);
2. the **tree size** in ASCII decimal, no sign, no leading zeroes unless it is ``0``,
   below 2**64;
3. the **root hash**, base64 of the RFC 6962 root (32 bytes for SHA-256 logs), in its
   one canonical encoding so that a checkpoint has exactly one text;
4. optional **extension lines**, which must be non-empty.

*Signatures*: the body is signed as a note (:mod:`sahid._internal.note`); signatures
from unknown keys (witness cosignatures, rotated keys) are ignored, as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sahid._internal.note import Signer, Verifier, open_note, sign_note
from sahid.errors import InputError, VerificationError

__all__ = ["MAX_SIZE", "Checkpoint", "open_checkpoint", "sign_checkpoint"]

MAX_SIZE = 2**64 - 1
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_CONTROL = re.compile(r"[\x00-\x1f]")


def _line_problem(line: object, what: str) -> str | None:
    if not isinstance(line, str) or not line:
        return f"{what} must be non-empty text"
    if _CONTROL.search(line):
        return f"{what} holds a newline or control character"
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return f"{what} is not valid Unicode"
    return None


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: log origin, tree size, root hash and opaque extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _line_problem(self.origin, "origin")
        if problem is None and (type(self.size) is not int or not 0 <= self.size <= MAX_SIZE):
            problem = "tree size must be an integer from 0 to 2**64-1"
        if problem is None and (not isinstance(self.root_hash, bytes) or not self.root_hash):
            problem = "root hash must be non-empty bytes"
        if problem is None and not isinstance(self.extensions, tuple):
            problem = "extension lines must be a tuple"
        for line in self.extensions if problem is None else ():
            problem = problem or _line_problem(line, "extension line")
        if problem:
            raise InputError(f"invalid checkpoint: {problem}")

    def body(self) -> str:
        """The note text: origin, size, base64 root hash, extension lines; all end in \\n."""
        root = base64.b64encode(self.root_hash).decode()
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def parse(cls, body: str, hash_size: int | None = 32) -> Checkpoint:
        """Parse a checkpoint body strictly; ``hash_size=None`` accepts any root length."""
        if not isinstance(body, str) or not body.endswith("\n"):
            raise VerificationError("malformed checkpoint: must be text ending in a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError("malformed checkpoint: fewer than three lines")
        origin, size_text, root_text, *ext = lines
        problem = _line_problem(origin, "origin")
        if problem:
            raise VerificationError(f"malformed checkpoint: {problem}")
        if not _SIZE.fullmatch(size_text) or int(size_text) > MAX_SIZE:
            raise VerificationError(
                f"malformed checkpoint: tree size {size_text[:30]!r} is not a decimal "
                "from 0 to 2**64-1 without leading zeroes"
            )
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            root = b""
        if not root or base64.b64encode(root).decode() != root_text:
            raise VerificationError("malformed checkpoint: root hash is not canonical base64")
        if hash_size is not None and len(root) != hash_size:
            raise VerificationError(f"malformed checkpoint: root hash is not {hash_size} bytes")
        for line in ext:
            problem = _line_problem(line, "extension line")
            if problem:
                raise VerificationError(f"malformed checkpoint: {problem}")
        return cls(origin, int(size_text), root, tuple(ext))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a note signed by the log's key."""
    return sign_note(cp.body(), [signer])


def open_checkpoint(
    note: str | bytes,
    verifiers: Verifier | Sequence[Verifier],
    *,
    origin: str | None = None,
    hash_size: int | None = 32,
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; ``origin``, if given, must match.

    The origin check matters: a checkpoint of another log signed by the same key would
    otherwise be taken for this one.
    """
    trusted = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    cp = Checkpoint.parse(open_note(note, trusted).text, hash_size)
    if origin is not None and cp.origin != origin:
        raise VerificationError(
            f"checkpoint is for log {cp.origin[:80]!r}, not the expected {origin[:80]!r}"
        )
    return cp
