"""Member key files and the wrapped vault secrets (DESIGN §2).

A **member key file** (``keys/<member>.key``) holds the member's Ed25519 signing key and
X25519 (age) identity, encrypted with ChaCha20-Poly1305 under a key derived by Argon2id
from the member's passphrase. The KDF parameters sit beside the ciphertext in clear and
are bound into the AEAD's associated data, so lowering them breaks the tag; parameters
below the floor are refused before any work is done.

The **vault secrets** (``keys/<member>.vault``) are the archive's age identity, its log
key (signs checkpoints) and its data key (SQLCipher, entry sealing, blob names), age-
encrypted to each member's X25519 recipient.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sahid._internal.canonical import canonical_json
from sahid._internal.fsutil import write_atomic
from sahid.config import KdfParams
from sahid.errors import AuthError, InputError, VerificationError

KEY_FORMAT = "sahid-member-key/1"
VAULT_FORMAT = "sahid-vault/1"
Random = Callable[[int], bytes]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, AttributeError):
        raise VerificationError(f"{what}: not valid base64") from None


def ed25519_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_seed(key: Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def member_id_for(sign_public: bytes) -> str:
    """A member's id: 16 hex digits of SHA-256 over its signing public key."""
    return hashlib.sha256(b"sahid/member\n" + sign_public).hexdigest()[:16]


def derive_key(passphrase: bytes, salt: bytes, kdf: KdfParams) -> bytes:
    return hash_secret_raw(
        secret=passphrase,
        salt=salt,
        time_cost=kdf.time_cost,
        memory_cost=kdf.memory_kib,
        parallelism=kdf.parallelism,
        hash_len=32,
        type=Type.ID,
    )


@dataclass(frozen=True)
class MemberKeys:
    """An unlocked member: signing key and age identity, in memory only."""

    member_id: str
    signing_key: Ed25519PrivateKey
    identity: pyrage.x25519.Identity

    @property
    def sign_public(self) -> bytes:
        return ed25519_public(self.signing_key)

    @property
    def recipient(self) -> str:
        return str(self.identity.to_public())

    @classmethod
    def generate(cls) -> MemberKeys:
        sk = Ed25519PrivateKey.generate()
        return cls(member_id_for(ed25519_public(sk)), sk, pyrage.x25519.Identity.generate())


def key_path(keys_dir: Path, member_id: str) -> Path:
    return keys_dir / f"{member_id}.key"


def vault_path(keys_dir: Path, member_id: str) -> Path:
    return keys_dir / f"{member_id}.vault"


def _key_header(member: MemberKeys, kdf: KdfParams, salt: bytes) -> dict[str, Any]:
    return {
        "format": KEY_FORMAT,
        "member": member.member_id,
        "kdf": {"alg": "argon2id", **kdf.as_dict(), "salt": b64(salt)},
        "aead": "chacha20poly1305",
        "public": {"ed25519": b64(member.sign_public), "x25519": member.recipient},
    }


def write_key_file(
    path: Path, member: MemberKeys, passphrase: bytes, kdf: KdfParams, rng: Random = os.urandom
) -> None:
    """Encrypt the member's secrets under the passphrase and write the key file."""
    if kdf.below_floor():
        raise InputError(
            f"KDF parameters m={kdf.memory_kib} KiB t={kdf.time_cost} are below the floor "
            f"(m>={KdfParams.FLOOR_MEMORY_KIB} KiB, t>={KdfParams.FLOOR_TIME_COST})"
        )
    salt, nonce = rng(16), rng(12)
    header = _key_header(member, kdf, salt)
    secret = canonical_json(
        {"ed25519": b64(ed25519_seed(member.signing_key)), "x25519": str(member.identity)}
    )
    ct = ChaCha20Poly1305(derive_key(passphrase, salt, kdf)).encrypt(
        nonce, secret, canonical_json(header)
    )
    doc = {**header, "nonce": b64(nonce), "ciphertext": b64(ct)}
    write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode())


def read_key_header(path: Path) -> dict[str, Any]:
    """Parse a key file's clear part; a broken file is an AuthError naming it."""
    try:
        doc = json.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
            raise ValueError("not a sahid member key file")
        kdf = doc["kdf"]
        if kdf.get("alg") != "argon2id":
            raise ValueError("unknown KDF")
        KdfParams(int(kdf["m"]), int(kdf["t"]), int(kdf["p"]))
        for k in ("member", "nonce", "ciphertext"):
            if not isinstance(doc[k], str):
                raise ValueError(f"field {k} is not text")
        return doc
    except FileNotFoundError:
        raise AuthError(f"key file {path} is missing") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AuthError(f"key file {path} is corrupted ({exc}); restore it from a backup") from None


def open_key_file(path: Path, passphrase: bytes) -> MemberKeys:
    """Unlock a key file, refusing weak KDF parameters before deriving anything."""
    doc = read_key_header(path)
    kdf_doc = doc["kdf"]
    kdf = KdfParams(int(kdf_doc["m"]), int(kdf_doc["t"]), int(kdf_doc["p"]))
    if kdf.below_floor():
        raise AuthError(
            f"key file {path} uses KDF parameters below the floor "
            f"(m={kdf.memory_kib} KiB, t={kdf.time_cost}); refusing to open it"
        )
    header = {k: doc[k] for k in ("format", "member", "kdf", "aead", "public") if k in doc}
    try:
        salt = unb64(kdf_doc["salt"], f"{path} kdf.salt")
        nonce = unb64(doc["nonce"], f"{path} nonce")
        ct = unb64(doc["ciphertext"], f"{path} ciphertext")
        aad = canonical_json(header)
    except (VerificationError, InputError) as exc:
        raise AuthError(f"key file {path} is corrupted ({exc.message})") from None
    try:
        secret = ChaCha20Poly1305(derive_key(passphrase, salt, kdf)).decrypt(nonce, ct, aad)
    except (InvalidTag, ValueError):
        raise AuthError(
            f"cannot unlock {path}: wrong passphrase, or the key file was altered"
        ) from None
    try:
        inner = json.loads(secret)
        sk = Ed25519PrivateKey.from_private_bytes(base64.b64decode(inner["ed25519"]))
        ident = pyrage.x25519.Identity.from_str(inner["x25519"])
    except (ValueError, KeyError, TypeError, binascii.Error, pyrage.IdentityError) as exc:
        raise AuthError(f"key file {path} holds unusable keys ({exc})") from None
    member = MemberKeys(member_id_for(ed25519_public(sk)), sk, ident)
    public = doc.get("public", {})
    if (
        member.member_id != doc["member"]
        or public.get("ed25519") != b64(member.sign_public)
        or public.get("x25519") != member.recipient
    ):
        raise VerificationError(
            f"key file {path}: its keys do not match its own header (file was replaced)",
            where=str(path),
        )
    return member


@dataclass(frozen=True)
class VaultSecrets:
    """The archive-wide secrets every member can unwrap."""

    archive_id: str
    identity: pyrage.x25519.Identity
    log_key: Ed25519PrivateKey
    data_key: bytes

    def subkey(self, label: str) -> bytes:
        """Independent 32-byte keys for the database, entry sealing and blob names."""
        return HKDF(SHA256(), 32, salt=None, info=f"sahid/{label}".encode()).derive(self.data_key)

    @classmethod
    def generate(cls, archive_id: str, rng: Random = os.urandom) -> VaultSecrets:
        return cls(
            archive_id,
            pyrage.x25519.Identity.generate(),
            Ed25519PrivateKey.from_private_bytes(rng(32)),
            rng(32),
        )


def write_vault_file(path: Path, vault: VaultSecrets, recipient: str) -> None:
    plain = canonical_json(
        {
            "format": VAULT_FORMAT,
            "archive": vault.archive_id,
            "vault_identity": str(vault.identity),
            "log_key": b64(ed25519_seed(vault.log_key)),
            "data_key": b64(vault.data_key),
        }
    )
    ct = pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)])
    write_atomic(path, bytes(ct))


def open_vault_file(path: Path, member: MemberKeys, archive_id: str) -> VaultSecrets:
    try:
        ct = path.read_bytes()
    except OSError:
        raise AuthError(f"vault file {path} is missing or unreadable") from None
    try:
        doc = json.loads(pyrage.decrypt(ct, [member.identity]))
        vault = VaultSecrets(
            archive_id=str(doc["archive"]),
            identity=pyrage.x25519.Identity.from_str(doc["vault_identity"]),
            log_key=Ed25519PrivateKey.from_private_bytes(base64.b64decode(doc["log_key"])),
            data_key=base64.b64decode(doc["data_key"]),
        )
    except (pyrage.DecryptError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise VerificationError(
            f"vault file {path} cannot be opened with member {member.member_id}'s key "
            f"({type(exc).__name__}): it was replaced or corrupted",
            step=1,
            where=str(path),
        ) from None
    if vault.archive_id != archive_id or doc.get("format") != VAULT_FORMAT:
        raise VerificationError(
            f"vault file {path} belongs to another archive ({vault.archive_id})",
            step=1,
            where=str(path),
        )
    return vault
