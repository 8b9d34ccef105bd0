"""Fingerprints of imported rows, so that importing the same rows twice is refused.

Rows without ids cannot be told apart by id, so every record an import creates carries
in its ``record.created`` entry a ``fingerprint``: HMAC-SHA256, under the vault's
``import-fingerprints`` subkey, of its type and its *checked* fields (the stored form:
enumerations spelled one way, places resolved, defaults filled; an automatic pseudonym
left out). The same row is therefore recognised from CSV or JSON, with other spacing or
spelling. The key keeps the fingerprint from confirming a guess at a withheld field of
a published entry.

A protected person's sealed fields are fingerprinted apart (``sealed_fingerprint``),
under a key derived from that person's own data key: two unnamed children of one
incident with different sealed names are different people, yet nothing about a name
can be tested against the fingerprint once ``sahid person erase`` destroys the key.
A row that matches an erased person in every public field is taken for that person
(it may be), so an old file cannot quietly bring an erased person back.

Rows are matched as a multiset: a file with two identical rows makes two records, and
importing it again finds both. Each earlier record answers for one row at most.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, insert, select

from sahid._internal.canonical import canonical_json
from sahid.records.sealed import PersonSealer
from sahid.schema import import_fingerprints

SUBKEY = "import-fingerprints"
_CHUNK = 500  # ids per IN (...) query


def fingerprint(key: bytes, rtype: str, fields: Mapping[str, Any], erased: bool = False) -> str:
    doc: dict[str, Any] = {"type": rtype, "fields": dict(fields)}
    if erased:
        doc["erased"] = True
    return hmac.new(key, canonical_json(doc), hashlib.sha256).hexdigest()


def sealed_fingerprint(person_key: bytes, sealed: Mapping[str, str]) -> str:
    key = HKDF(SHA256(), 32, salt=None, info=b"sahid/person/fingerprint").derive(person_key)
    return hmac.new(key, canonical_json(dict(sealed)), hashlib.sha256).hexdigest()


@dataclass
class Row:
    """One row of an import: its fingerprint and (persons) its sealed fields."""

    fingerprint: str
    sealed: Mapping[str, str] | None = None


@dataclass
class _Earlier:
    id: str
    sealed_fingerprint: str | None


def first_duplicate(
    conn: Connection, sealer: PersonSealer, rows: list[Row]
) -> tuple[int, str] | None:
    """(index of the first row imported before, id of the record it was), or None."""
    earlier: dict[str, list[_Earlier]] = {}
    wanted = sorted({r.fingerprint for r in rows})
    for i in range(0, len(wanted), _CHUNK):
        found = conn.execute(
            select(
                import_fingerprints.c.id,
                import_fingerprints.c.fingerprint,
                import_fingerprints.c.sealed_fingerprint,
            )
            .where(import_fingerprints.c.fingerprint.in_(wanted[i : i + _CHUNK]))
            .order_by(import_fingerprints.c.seq, import_fingerprints.c.id)
        )
        for rid, fp, sfp in found:
            earlier.setdefault(fp, []).append(_Earlier(rid, sfp))
    if not earlier:
        return None
    keys: dict[str, bytes | None] = {}

    def key_of(rid: str) -> bytes | None:
        if rid not in keys:
            keys[rid] = sealer.key(conn, rid)
        return keys[rid]

    def same(row: Row, old: _Earlier) -> bool:
        if not row.sealed or old.sealed_fingerprint is None:
            return not row.sealed and old.sealed_fingerprint is None
        key = key_of(old.id)
        return key is not None and sealed_fingerprint(key, row.sealed) == old.sealed_fingerprint

    def maybe(row: Row, old: _Earlier) -> bool:  # an erased person: cannot tell, so yes
        return bool(row.sealed) and old.sealed_fingerprint is not None and key_of(old.id) is None

    used: set[str] = set()
    hits: dict[int, str] = {}
    for test in (same, maybe):
        for n, row in enumerate(rows):
            if n in hits:
                continue
            for old in earlier.get(row.fingerprint, ()):
                if old.id not in used and test(row, old):
                    used.add(old.id)
                    hits[n] = old.id
                    break
    if not hits:
        return None
    first = min(hits)
    return first, hits[first]


def record_fingerprint(conn: Connection, seq: int, body: Mapping[str, Any]) -> None:
    """Projection: the fingerprint row of an imported record (``record.created``)."""
    conn.execute(
        insert(import_fingerprints),
        [
            {
                "id": body["id"],
                "fingerprint": body["fingerprint"],
                "sealed_fingerprint": body.get("sealed_fingerprint"),
                "seq": seq,
            }
        ],
    )
