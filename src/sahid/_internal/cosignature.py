"""C2SP tlog-cosignature, Ed25519 ``cosignature/v1`` (c2sp.org/tlog-cosignature).

Raw signature primitives: callers decide what a valid cosignature *means* (a witness
checked consistency first). Implements, by section of the spec:

* *Format*: a cosignature is a signed-note signature line
  ``— <name> base64(key ID ‖ timestamped_signature)``; the key ID is
  SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte public key)[:4]; ``timestamped_signature`` is a
  big-endian u64 POSIX ``timestamp`` (at most 2**63-1) followed by the 64-byte Ed25519
  signature, so the decoded line is exactly 76 bytes.
* *Ed25519 signed message*: ``cosignature/v1\\n``, ``time <timestamp>\\n`` (decimal, no
  leading zeroes), then the whole checkpoint note text (with its final newline, without
  signature lines).
* *Verifier keys* (signed-note vkeys with signature type 0x04):
  ``<name>+<hex key ID>+base64(0x04 ‖ public key)``.

Parsing fails closed: only the one canonical base64 spelling of a line is accepted, so
no two different lines carry the same cosignature; anything malformed raises
VerificationError and nothing else escapes.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sahid._internal.note import SIG_PREFIX, _b64_canonical, _name_problem, key_id
from sahid.errors import InputError, VerificationError

__all__ = [
    "COSIGNATURE_V1",
    "HEADER",
    "MAX_TIMESTAMP",
    "Cosignature",
    "CosignerKey",
    "CosignerSigner",
    "cosigned_message",
]

#: The signed-note signature type of Ed25519 checkpoint cosignatures.
COSIGNATURE_V1 = 0x04
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1
_BLOB = 4 + 8 + 64
_HEX_ID = re.compile(r"[0-9a-f]{8}")


def cosigned_message(text: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosigner signs for checkpoint note ``text`` at ``timestamp``."""
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError("a cosignature timestamp must be an integer from 0 to 2**63-1")
    if not isinstance(text, str) or not text.endswith("\n"):
        raise InputError("the cosigned note text must end with a newline")
    return f"{HEADER}time {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class CosignerKey:
    """A cosigner's (witness's) public key: name and 32-byte Ed25519 key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = _name_problem(self.name) if isinstance(self.name, str) else "name is not text"
        if problem:
            raise InputError(f"invalid cosigner name {self.name!r:.60}: {problem}")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise InputError("an Ed25519 cosigner key must be 32 bytes")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise InputError("not a usable Ed25519 public key") from None
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key, COSIGNATURE_V1))
        object.__setattr__(self, "_key", key)

    @property
    def vkey(self) -> str:
        """``name+keyid+base64(0x04 ‖ public key)``."""
        blob = base64.b64encode(bytes([COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, vkey: object) -> CosignerKey:
        """Parse a cosigner vkey; VerificationError unless it is a well-formed 0x04 key."""
        if not isinstance(vkey, str):
            raise VerificationError("witness key is not text")
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise VerificationError("malformed witness key: want name+keyid+key")
        name, hex_id, blob = parts
        problem = _name_problem(name)
        if problem:
            raise VerificationError(f"malformed witness key: {problem}")
        if not _HEX_ID.fullmatch(hex_id):
            raise VerificationError(f"malformed witness key {name}: key ID is not 8 hex digits")
        raw = _b64_canonical(blob)
        if not raw:
            raise VerificationError(f"malformed witness key {name}: key is not base64")
        if raw[0] != COSIGNATURE_V1:
            raise VerificationError(
                f"key {name} has signature type 0x{raw[0]:02x}; a witness key is an Ed25519 "
                "cosignature key (type 0x04)"
            )
        if len(raw) != 33:
            raise VerificationError(f"witness key {name}: an Ed25519 key must be 32 bytes")
        try:
            parsed = cls(name, raw[1:])
        except InputError as exc:
            raise VerificationError(f"witness key {name}: {exc.message}") from None
        if parsed.key_id.hex() != hex_id:
            raise VerificationError(f"witness key {name}: key ID does not match the key")
        return parsed

    def verify(self, text: str, cosig: Cosignature) -> None:
        """Check ``cosig`` over note ``text``; VerificationError if it is not by this key."""
        if (cosig.name, cosig.key_id) != (self.name, self.key_id):
            raise VerificationError(
                f"cosignature is by {cosig.name}+{cosig.key_id.hex()}, not by witness "
                f"{self.name}+{self.key_id.hex()}"
            )
        try:
            self._key.verify(cosig.signature, cosigned_message(text, cosig.timestamp))
        except (InvalidSignature, InputError):
            raise VerificationError(
                f"cosignature by witness {self.name} does not verify for this checkpoint"
            ) from None


class CosignerSigner:
    """An Ed25519 cosigning key with its name (the witness's private half)."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = CosignerKey(name, pub)
        self._private = private_key

    def cosign(self, text: str, timestamp: int) -> Cosignature:
        sig = self._private.sign(cosigned_message(text, timestamp))
        return Cosignature(self.key.name, self.key.key_id, timestamp, sig)


@dataclass(frozen=True)
class Cosignature:
    """One parsed cosignature line."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def line(self) -> str:
        """The signature line, without its final newline."""
        blob = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{SIG_PREFIX}{self.name} {base64.b64encode(blob).decode()}"

    @classmethod
    def parse(cls, line: object) -> Cosignature:
        """Parse one line (a final newline is allowed); VerificationError if malformed."""
        if not isinstance(line, str):
            raise VerificationError("malformed cosignature line: not text")
        raw = line.removesuffix("\n")
        if not raw.startswith(SIG_PREFIX) or "\n" in raw:
            raise VerificationError("malformed cosignature line: it must be one '— name sig' line")
        name, sep, b64 = raw[len(SIG_PREFIX) :].partition(" ")
        if not sep or _name_problem(name):
            raise VerificationError("malformed cosignature line: bad key name")
        blob = _b64_canonical(b64)
        if blob is None:
            raise VerificationError(
                f"malformed cosignature line by {name}: signature is not canonical base64"
            )
        if len(blob) != _BLOB:
            raise VerificationError(
                f"cosignature line by {name} is not an Ed25519 cosignature/v1 "
                f"({len(blob)} bytes, not {_BLOB})"
            )
        (timestamp,) = struct.unpack(">Q", blob[4:12])
        if timestamp > MAX_TIMESTAMP:
            raise VerificationError(f"cosignature by {name}: timestamp exceeds 2**63-1")
        return cls(name, blob[:4], timestamp, blob[12:])
