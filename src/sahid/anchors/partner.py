"""This archive as a witness of a partner's log: ``archive.witness`` (C2SP tlog-witness).

A partner group's archive keeps outside memory of our log: it trusts our log key
(``sahid witness trust VKEY``, a ``witness.trusted`` entry), and for each request it
checks the checkpoint's signature and its consistency with the newest checkpoint it
cosigned before (:func:`sahid.anchors.witness.check_request`), then cosigns it with its
**witness key** and records that (``witness.cosigned``) in the same transaction, so the
next request must be consistent with it. The ledger is the witness's state: a replay
rebuilds it, and ``sahid verify`` re-checks every cosignature and consistency proof.

The witness key is an Ed25519 key derived from the vault (HKDF label
``sahid/witness-key``), distinct from the log key as the cosignature spec requires; its
name is ``<origin>/witness``. Entry bodies::

    witness.trusted   {origin, log_key, witness}
    witness.cosigned  {origin, size, root, old, proof, checkpoint, cosignature, time, witness}
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, select

from sahid._internal.cosignature import CosignerKey, CosignerSigner
from sahid._internal.note import Verifier
from sahid.anchors.witness import WitnessConflict, WitnessRequest, check_request
from sahid.errors import InputError, VerificationError
from sahid.schema import witness_keys, witnessed

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = ["WITNESS_SUFFIX", "Witness"]

WITNESS_SUFFIX = "/witness"


class Witness:
    """Cosigning partners' checkpoints after checking them."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        seed = archive.vault.subkey("witness-key")
        name = archive.config.origin + WITNESS_SUFFIX
        self.signer = CosignerSigner(name, Ed25519PrivateKey.from_private_bytes(seed))

    def key(self) -> CosignerKey:
        """This archive's witness key (give its ``vkey`` to the logs you witness)."""
        return self.signer.key

    # -- trusted logs -------------------------------------------------------------------
    def keys_for(self, conn: Connection, origin: str) -> list[Verifier]:
        rows = conn.execute(
            select(witness_keys.c.key).where(
                witness_keys.c.role == "log", witness_keys.c.origin == origin
            )
        ).scalars()
        return [Verifier.parse(str(k)) for k in rows]

    @staticmethod
    def last(conn: Connection, origin: str) -> tuple[int, bytes] | None:
        """Size and root of the newest checkpoint of ``origin`` this witness cosigned."""
        row = conn.execute(
            select(witnessed.c.size, witnessed.c.root)
            .where(witnessed.c.origin == origin)
            .order_by(witnessed.c.seq.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row.size), base64.b64decode(row.root))

    def logs(self) -> list[dict[str, Any]]:
        """The logs this archive witnesses, each with the newest size it cosigned."""
        with self.archive.engine.connect() as conn:
            rows = conn.execute(
                select(witness_keys.c.origin, witness_keys.c.key, witness_keys.c.seq)
                .where(witness_keys.c.role == "log")
                .order_by(witness_keys.c.seq)
            ).all()
            out = []
            for origin, key, seq in rows:
                last = self.last(conn, origin)
                out.append(
                    {
                        "origin": origin,
                        "log_key": key,
                        "seq": seq,
                        "size": None if last is None else last[0],
                        "root": None if last is None else base64.b64encode(last[1]).decode(),
                    }
                )
        return out

    def trust(self, vkey: str, origin: str | None = None) -> dict[str, Any]:
        """Trust log key ``vkey`` for ``origin`` (default: the key's name, as in sahid)."""
        try:
            verifier = Verifier.parse(vkey.strip())
        except VerificationError as exc:
            raise InputError(f"log key: {exc.message}") from None
        origin = verifier.name if origin is None else origin
        if not origin or "\n" in origin or any(ord(c) < 0x20 for c in origin):
            raise InputError("--origin must be one line of text")
        if verifier.vkey == self.archive.config.log_key:
            raise InputError("this is this archive's own log key: a log cannot witness itself")
        for known in self.logs():
            if known["origin"] == origin and known["log_key"] == verifier.vkey:
                return {
                    "origin": origin,
                    "log_key": verifier.vkey,
                    "seq": known["seq"],
                    "added": False,
                }
        body = {"origin": origin, "log_key": verifier.vkey, "witness": self.key().vkey}
        entry = self.archive.append("witness.trusted", body)
        return {"origin": origin, "log_key": verifier.vkey, "seq": entry.seq, "added": True}

    # -- cosigning ----------------------------------------------------------------------
    def cosign(self, request: WitnessRequest | bytes | str) -> dict[str, Any]:
        """Check ``request`` and cosign its checkpoint (C2SP add-checkpoint), or refuse.

        Refusals (nothing is recorded): see :func:`~sahid.anchors.witness.check_request`.
        On success the cosignature is recorded before it is returned.
        """
        req = request if isinstance(request, WitnessRequest) else WitnessRequest.parse(request)
        origin = req.origin
        with self.archive.engine.connect() as conn:
            keys = self.keys_for(conn, origin)
            last = self.last(conn, origin)
        cp = check_request(req, keys, last)
        timestamp = int(self.archive._now().timestamp())
        cosig = self.signer.cosign(cp.body(), timestamp)
        body = {
            "origin": cp.origin,
            "size": cp.size,
            "root": base64.b64encode(cp.root_hash).decode(),
            "old": req.old,
            "proof": [base64.b64encode(h).decode() for h in req.proof],
            "checkpoint": req.checkpoint,
            "cosignature": cosig.line(),
            "time": timestamp,
            "witness": self.key().vkey,
        }

        def unchanged(conn: Connection) -> None:
            # The check and the update are one transaction (the spec's race): the row
            # before ours must still be the one checked against.
            rows = (
                conn.execute(
                    select(witnessed.c.size)
                    .where(witnessed.c.origin == origin)
                    .order_by(witnessed.c.seq.desc())
                    .limit(2)
                )
                .scalars()
                .all()
            )
            before = rows[1] if len(rows) > 1 else None
            if before != (None if last is None else last[0]):
                raise WitnessConflict(
                    f"another cosignature of {origin} was recorded meanwhile; ask again",
                    0 if before is None else int(before),
                )

        entry = self.archive.append_batch([("witness.cosigned", body)], also=unchanged)[0]
        return {
            "seq": entry.seq,
            "origin": cp.origin,
            "size": cp.size,
            "old": req.old,
            "root": body["root"],
            "time": timestamp,
            "witness": self.key().vkey,
            "cosignature": cosig.line(),
        }
