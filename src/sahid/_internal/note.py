"""C2SP signed-note: text signed by one or more named keys (Ed25519, type 0x01).

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <name> <base64(keyid ‖ signature)>``. The key ID is the first 4 bytes of
SHA-256(name ‖ 0x0A ‖ type ‖ public key). Verifier keys are written
``<name>+<hex keyid>+<base64(type ‖ public key)>``.

Opening fails closed: a malformed note, a bad signature from a known key, no
signature from any trusted key, or an empty trust set all raise VerificationError.
Signature lines from unknown keys (any type) are kept but not trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sahid.errors import VerificationError

ED25519 = 0x01
SIG_PREFIX = "\u2014 "
MAX_SIGNATURES = 100


def key_id(name: str, public_key: bytes, sig_type: int = ED25519) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _valid_name(name: str) -> bool:
    return (
        bool(name) and "+" not in name and not any(c.isspace() for c in name) and name.isprintable()
    )


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise VerificationError("invalid base64 in signed note") from None


@dataclass(frozen=True)
class Verifier:
    name: str
    public_key: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _valid_name(self.name):
            raise VerificationError(f"invalid key name {self.name!r}")
        if len(self.public_key) != 32:
            raise VerificationError("Ed25519 public key must be 32 bytes")
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))

    @property
    def vkey(self) -> str:
        blob = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(sig, msg)
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise VerificationError(f"malformed verifier key {vkey!r}")
        name, hash_hex, blob = parts
        try:
            kid = bytes.fromhex(hash_hex)
        except ValueError:
            raise VerificationError(f"malformed verifier key {vkey!r}") from None
        raw = _b64decode(blob)
        if len(hash_hex) != 8 or len(raw) != 33 or raw[0] != ED25519:
            raise VerificationError(f"verifier key {vkey!r} is not an Ed25519 note key")
        v = cls(name, raw[1:])
        if v.key_id != kid:
            raise VerificationError(f"verifier key {vkey!r} has the wrong key ID")
        return v


class Signer:
    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self.name = name
        self.private_key = private_key
        pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, pub)

    def sign(self, msg: bytes) -> bytes:
        return self.private_key.sign(msg)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise VerificationError("malformed signer key")
        raw = _b64decode(parts[4])
        if len(raw) != 33 or raw[0] != ED25519:
            raise VerificationError("signer key is not an Ed25519 note key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_id.hex() != parts[3]:
            raise VerificationError("signer key has the wrong key ID")
        return signer


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise VerificationError("malformed note: text must be non-empty lines ending in a newline")
    for ch in text:
        if ch != "\n" and (ord(ch) < 0x20 or ord(ch) == 0x7F):
            raise VerificationError("malformed note: control character in text")


def _sig_line(signer: Signer, text: str) -> str:
    sig = signer.sign(text.encode())
    return f"{SIG_PREFIX}{signer.name} {base64.b64encode(signer.verifier.key_id + sig).decode()}\n"


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    _check_text(text)
    if not signers:
        raise VerificationError("a note needs at least one signer")
    return text + "\n" + "".join(_sig_line(s, text) for s in signers)


def add_signatures(note: str, signers: Sequence[Signer]) -> str:
    text, _ = _split(note)
    return note + "".join(_sig_line(s, text) for s in signers)


@dataclass(frozen=True)
class OpenedNote:
    text: str
    verified: list[Verifier]
    other_lines: list[str]


def _split(note: str | bytes) -> tuple[str, list[str]]:
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("malformed note: not UTF-8") from None
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise VerificationError("malformed note: no signature block")
    text, sigs = note[: cut + 1], note[cut + 2 :]
    _check_text(text)
    lines = sigs[:-1].split("\n")
    if not lines or len(lines) > MAX_SIGNATURES:
        raise VerificationError("malformed note: no signatures or too many")
    return text, lines


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    if not verifiers:
        raise VerificationError(
            "no trusted keys given: refusing to open a note without a trust set"
        )
    text, lines = _split(note)
    msg = text.encode()
    by_id = {(v.name, v.key_id): v for v in verifiers}
    verified: list[Verifier] = []
    others: list[str] = []
    for line in lines:
        if not line.startswith(SIG_PREFIX):
            raise VerificationError("malformed note: bad signature line")
        parts = line[len(SIG_PREFIX) :].split(" ")
        if len(parts) != 2 or not _valid_name(parts[0]):
            raise VerificationError("malformed note: bad signature line")
        raw = _b64decode(parts[1])
        if len(raw) < 5:
            raise VerificationError("malformed note: signature too short")
        v = by_id.get((parts[0], raw[:4]))
        if v is None:
            others.append(line)
            continue
        if not v.verify(msg, raw[4:]):
            raise VerificationError(f"invalid signature by {v.name}")
        if v not in verified:
            verified.append(v)
    if not verified:
        raise VerificationError("no signature by a trusted key")
    return OpenedNote(text, verified, others)
