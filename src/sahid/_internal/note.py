"""C2SP signed-note (c2sp.org/signed-note): text signed by one or more named keys.

Implements, by section of the spec:

* *Format*: UTF-8 text ending in a newline, with no ASCII control characters but
  newline; a blank line; then signature lines ``— <name> <base64(keyid ‖ signature)>``.
  The text may hold empty lines: it ends at the *last* blank line of the note.
  Key names are non-empty with no Unicode spaces and no ``+``.
* *Signatures*: the key ID is SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. Lines from
  unknown keys (name and ID not both matching a trusted key) are kept, unverified, in
  :attr:`OpenedNote.other_lines`, whatever their signature type. A line from a trusted
  key that does not verify rejects the whole note; a note with no verified trusted
  signature is rejected; at most :data:`MAX_SIGNATURES` lines (as Go's sumdb/note).
* *Ed25519 signatures* (type 0x01): the only type sahid signs or trusts. Other types
  (ECDSA 0x02, cosignature 0x04, RFC 6962 0x05, ...) are refused as verifier keys.
* *Verifier keys*: ``<name>+<hex keyid>+<base64(0x01 ‖ 32-byte public key)>``.

Opening fails closed: an empty trust set, a malformed note, a bad signature from a
trusted key or no trusted signature all raise VerificationError. Nothing else escapes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sahid.errors import InputError, VerificationError

__all__ = [
    "ED25519",
    "MAX_SIGNATURES",
    "OpenedNote",
    "Signer",
    "Verifier",
    "add_signatures",
    "key_id",
    "note_text",
    "open_note",
    "sign_note",
]

ED25519 = 0x01
SIG_PREFIX = "\u2014 "  # em dash, space
#: Go's sumdb/note refuses more; the spec requires accepting at least 16.
MAX_SIGNATURES = 100

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # ASCII controls except newline
_BAD_NAME = re.compile(r"[\s+\x00-\x1f]")  # Unicode spaces, plus, controls
_HEX_ID = re.compile(r"[0-9a-f]{8}")


def key_id(name: str, public_key: bytes, sig_type: int = ED25519) -> bytes:
    """SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], the spec's recommended key ID."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def _name_problem(name: str) -> str | None:
    if not name:
        return "key name is empty"
    if _BAD_NAME.search(name):
        return "key name holds a space, a plus or a control character"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "key name is not valid Unicode"
    return None


def _b64(text: str) -> bytes | None:
    """Decode standard padded base64; None if it is not."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def _b64_canonical(text: str) -> bytes | None:
    """Decode base64 that is in its one canonical form (no stray bits in the padding).

    Without this, a few bits of a signature line could change without changing the
    decoded signature, and two different notes would verify as the same.
    """
    raw = _b64(text)
    if raw is None or base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note key: name and 32-byte public key."""

    name: str
    public_key: bytes
    key_id: bytes = field(init=False, repr=False, compare=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problem = _name_problem(self.name) if isinstance(self.name, str) else "name is not text"
        if problem:
            raise InputError(f"invalid note key name {self.name!r:.60}: {problem}")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise InputError("an Ed25519 public key must be 32 bytes")
        try:
            key = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError:
            raise InputError("not a usable Ed25519 public key") from None
        object.__setattr__(self, "key_id", key_id(self.name, self.public_key))
        object.__setattr__(self, "_key", key)

    @property
    def vkey(self) -> str:
        """The verifier key text ``name+keyid+base64(0x01 ‖ public key)``."""
        blob = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse a vkey; VerificationError for anything but a well-formed Ed25519 key."""
        if not isinstance(vkey, str):
            raise VerificationError("verifier key is not text")
        parts = vkey.split("+", 2)
        if len(parts) != 3:
            raise VerificationError("malformed verifier key: want name+keyid+key")
        name, hex_id, blob = parts
        problem = _name_problem(name)
        if problem:
            raise VerificationError(f"malformed verifier key: {problem}")
        if not _HEX_ID.fullmatch(hex_id):
            raise VerificationError(
                f"malformed verifier key {name}: key ID is not 8 lowercase hex digits"
            )
        raw = _b64_canonical(blob)
        if not raw:
            raise VerificationError(f"malformed verifier key {name}: key is not base64")
        if raw[0] != ED25519:
            raise VerificationError(
                f"verifier key {name} has signature type 0x{raw[0]:02x}; "
                "only Ed25519 (0x01) keys can be trusted"
            )
        if len(raw) != 33:
            raise VerificationError(
                f"verifier key {name}: an Ed25519 public key must be 32 bytes, not {len(raw) - 1}"
            )
        try:
            verifier = cls(name, raw[1:])
        except InputError as exc:
            raise VerificationError(f"verifier key {name}: {exc.message}") from None
        if verifier.key_id.hex() != hex_id:
            raise VerificationError(f"verifier key {name}: key ID does not match the key")
        return verifier


class Signer:
    """An Ed25519 note signing key with its name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        pub = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = Verifier(name, pub)  # validates the name
        self.name = name
        self.private_key = private_key

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def sign(self, msg: bytes) -> bytes:
        return self.private_key.sign(msg)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        """Parse Go's ``PRIVATE+KEY+name+keyid+base64(0x01 ‖ seed)``; InputError if bad."""
        parts = skey.split("+", 4) if isinstance(skey, str) else []
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise InputError("malformed signer key: want PRIVATE+KEY+name+keyid+key")
        name, hex_id, blob = parts[2:]
        raw = _b64_canonical(blob)
        if raw is None or len(raw) != 33 or raw[0] != ED25519:
            raise InputError(f"signer key {name!r:.60} is not an Ed25519 note key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.key_id.hex() != hex_id:
            raise InputError(f"signer key {name!r:.60}: key ID does not match the key")
        return signer


def _text_problem(text: str) -> str | None:
    if not text.endswith("\n"):
        return "text must end with a newline"
    if _CONTROL.search(text):
        return "text holds a control character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text is not valid Unicode"
    return None


def _sig_line(signer: Signer, msg: bytes) -> str:
    sig = base64.b64encode(signer.key_id + signer.sign(msg)).decode()
    return f"{SIG_PREFIX}{signer.name} {sig}\n"


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """The signed note: ``text``, a blank line, one signature line per signer."""
    problem = _text_problem(text)
    if problem:
        raise InputError(f"cannot sign note: {problem}")
    if not signers:
        raise InputError("cannot sign note: no signers")
    if len(signers) > MAX_SIGNATURES:
        raise InputError(f"cannot sign note: more than {MAX_SIGNATURES} signers")
    msg = text.encode()
    return text + "\n" + "".join(_sig_line(s, msg) for s in signers)


@dataclass(frozen=True)
class _Line:
    raw: str  # without the final newline
    name: str
    b64: str
    blob: bytes  # keyid ‖ signature


def _parse(note: str | bytes) -> tuple[str, list[_Line]]:
    """Split and check the note's form (the spec's *Format*); no signature is checked."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("malformed note: not UTF-8") from None
    elif not isinstance(note, str):
        raise VerificationError("malformed note: not text")
    problem = _text_problem(note)
    if problem:
        raise VerificationError(f"malformed note: {problem}")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise VerificationError("malformed note: no blank line before the signatures")
    text, block = note[: cut + 1], note[cut + 2 :]
    if not block:
        raise VerificationError("malformed note: no signature lines")
    raws = block[:-1].split("\n")
    if len(raws) > MAX_SIGNATURES:
        raise VerificationError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    lines = []
    for raw in raws:
        if not raw.startswith(SIG_PREFIX):
            raise VerificationError("malformed note: a signature line must start with '— '")
        name, sep, b64 = raw[len(SIG_PREFIX) :].partition(" ")
        blob = _b64(b64) if sep else None
        if blob is None or len(blob) < 5 or _name_problem(name):
            raise VerificationError("malformed note: bad signature line")
        lines.append(_Line(raw, name, b64, blob))
    return text, lines


def note_text(note: str | bytes) -> str:
    """The text of a well-formed note, its signatures unchecked: never trust it alone.

    For messages that other keys sign over the same text (cosignatures); VerificationError
    if the note is malformed.
    """
    return _parse(note)[0]


def add_signatures(note: str, signers: Sequence[Signer]) -> str:
    """Append signature lines (e.g. cosignatures) to a note, keeping its lines.

    The existing signatures are not checked: open the note first. A signer whose name
    and key ID already sign the note is skipped, so cosigning twice changes nothing.
    """
    text, lines = _parse(note)
    present = {(line.name, line.blob[:4]) for line in lines}
    new = [s for s in signers if (s.name, s.key_id) not in present]
    if len(lines) + len(new) > MAX_SIGNATURES:
        raise InputError(f"cannot add signatures: a note holds at most {MAX_SIGNATURES}")
    msg = text.encode()
    return note + "".join(_sig_line(s, msg) for s in new)


@dataclass(frozen=True)
class OpenedNote:
    """A verified note: its text, the trusted keys that signed it, the other lines."""

    text: str
    verified: list[Verifier]
    other_lines: list[str]  # signature lines of unknown keys, unverified, without "\n"


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> OpenedNote:
    """Check the note's form and its signatures by ``verifiers`` (the spec's rules)."""
    if not verifiers:
        raise VerificationError("no trusted keys given: refusing to open a note without them")
    known: dict[tuple[str, bytes], Verifier] = {}
    for trusted in verifiers:
        if known.setdefault((trusted.name, trusted.key_id), trusted) != trusted:
            raise VerificationError(f"two trusted keys share the name {trusted.name} and key ID")
    text, lines = _parse(note)
    msg = text.encode()
    verified: list[Verifier] = []
    others: list[str] = []
    for line in lines:
        v = known.get((line.name, line.blob[:4]))
        if v is None:
            others.append(line.raw)
            continue
        if _b64_canonical(line.b64) is None or not v.verify(msg, line.blob[4:]):
            raise VerificationError(f"invalid signature by trusted key {v.name}")
        if v not in verified:
            verified.append(v)
    if not verified:
        raise VerificationError("no trusted signature: the note is not signed by a trusted key")
    return OpenedNote(text, verified, others)
