"""Sealed person fields: each protected person's name, contacts and notes under a key
of their own (DESIGN §4, "protect people").

The ledger entry carries only ``sealed`` = ChaCha20-Poly1305(person key, fields), bound
to the archive and person id. The person key lives in ``person_keys``, wrapped with the
vault's ``person-keys`` subkey: it is not part of the ledger, so deleting it (``sahid
person erase``) leaves every signature, leaf and checkpoint valid while making the
sealed fields unreadable for ever. SQLite ``secure_delete`` and a WAL truncation make
sure the key's bytes are overwritten, not merely unlinked.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from sqlalchemy import Connection, delete, insert, select

from sahid._internal.canonical import canonical_json
from sahid.errors import VerificationError
from sahid.schema import person_keys

_DOMAIN = b"sahid/person/v1\n"


class PersonSealer:
    """Seals and opens persons' fields; ``wrap_key`` is the vault's person-keys subkey."""

    def __init__(self, wrap_key: bytes, archive_id: str, rng: Callable[[int], bytes] = os.urandom):
        self._wrap = ChaCha20Poly1305(wrap_key)
        self._archive = archive_id.encode()
        self._rng = rng

    def _ad(self, person_id: str, what: bytes) -> bytes:
        return _DOMAIN + what + b"\n" + self._archive + b"\n" + person_id.encode()

    def new_key(self, person_id: str) -> tuple[bytes, bytes]:
        """A fresh person key and its wrapped form for ``person_keys``."""
        key = ChaCha20Poly1305.generate_key()
        nonce = self._rng(12)
        return key, nonce + self._wrap.encrypt(nonce, key, self._ad(person_id, b"key"))

    def seal(self, person_id: str, key: bytes, fields: Mapping[str, str]) -> str:
        nonce = self._rng(12)
        box = ChaCha20Poly1305(key).encrypt(
            nonce, canonical_json(dict(fields)), self._ad(person_id, b"fields")
        )
        return base64.b64encode(nonce + box).decode()

    def store_key(self, conn: Connection, person_id: str, wrapped: bytes) -> None:
        conn.execute(insert(person_keys), [{"person_id": person_id, "wrapped": wrapped}])

    def key(self, conn: Connection, person_id: str) -> bytes | None:
        wrapped = conn.execute(
            select(person_keys.c.wrapped).where(person_keys.c.person_id == person_id)
        ).scalar()
        if wrapped is None:
            return None
        try:
            return self._wrap.decrypt(wrapped[:12], wrapped[12:], self._ad(person_id, b"key"))
        except InvalidTag:
            raise VerificationError(
                f"person_keys: the key of {person_id} does not open (damaged or swapped)",
                where=f"person {person_id}",
            ) from None

    def open(self, conn: Connection, person_id: str, sealed: str) -> dict[str, Any] | None:
        """The sealed fields, or None once the person was erased."""
        key = self.key(conn, person_id)
        if key is None:
            return None
        raw = base64.b64decode(sealed)
        try:
            plain = ChaCha20Poly1305(key).decrypt(
                raw[:12], raw[12:], self._ad(person_id, b"fields")
            )
        except InvalidTag:
            raise VerificationError(
                f"the sealed fields of {person_id} do not open with its key (tampered)",
                where=f"person {person_id}",
            ) from None
        value: dict[str, Any] = json.loads(plain)
        return value

    @staticmethod
    def destroy(conn: Connection, person_id: str) -> bool:
        """Delete the key (inside the caller's transaction); True if there was one."""
        return bool(
            conn.execute(delete(person_keys).where(person_keys.c.person_id == person_id)).rowcount
        )
