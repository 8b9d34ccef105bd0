"""C2SP tlog-checkpoint: origin, tree size and root hash, in a signed note."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sahid._internal.note import Signer, Verifier, open_note, sign_note
from sahid.errors import VerificationError


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        ext = "".join(f"{line}\n" for line in self.extensions)
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n{ext}"

    @classmethod
    def parse(cls, body: str, hash_size: int | None = 32) -> Checkpoint:
        """Parse a checkpoint body; ``hash_size=None`` accepts any root length (other logs)."""
        if not body.endswith("\n"):
            raise VerificationError("malformed checkpoint: must end with a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError("malformed checkpoint: fewer than three lines")
        origin, size_text, root_text, *ext = lines
        if not origin:
            raise VerificationError("malformed checkpoint: empty origin")
        if (
            not size_text.isascii()
            or not size_text.isdigit()
            or (size_text != "0" and size_text[0] == "0")
        ):
            raise VerificationError(f"malformed checkpoint: bad tree size {size_text!r}")
        size = int(size_text)
        if size >= 2**64:
            raise VerificationError("malformed checkpoint: tree size overflows")
        try:
            root = base64.b64decode(root_text.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise VerificationError("malformed checkpoint: root hash is not base64") from None
        if not root or (hash_size is not None and len(root) != hash_size):
            raise VerificationError(f"malformed checkpoint: root hash is not {hash_size} bytes")
        if any(not line for line in ext):
            raise VerificationError("malformed checkpoint: empty extension line")
        return cls(origin, size, root, tuple(ext))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    return sign_note(cp.body(), [signer])


def open_checkpoint(note: str | bytes, verifiers: Verifier | Sequence[Verifier]) -> Checkpoint:
    trusted = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    opened = open_note(note, trusted)
    return Checkpoint.parse(opened.text)
