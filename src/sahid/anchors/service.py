"""The log owner's side of anchoring: ``archive.anchors`` (DESIGN §3, "Anchors").

* :meth:`Anchors.timestamp` asks a TSA for an RFC 3161 token over the exact bytes of a
  checkpoint note, verifies the answer (imprint, nonce, signature, chain to the trusted
  certificates) and records it as a ``checkpoint.anchored`` entry;
* :meth:`Anchors.witness_request` writes the C2SP ``add-checkpoint`` request a witness
  needs (checkpoint + consistency proof from the size it last cosigned);
* :meth:`Anchors.add_cosignatures` verifies a witness's cosignature lines against the
  witness keys this log knows (``witness.added`` entries, or keys passed in) and records
  each as a ``checkpoint.cosigned`` entry.

Entry bodies (no ``name`` or ``note`` keys, so the site may reveal them)::

    checkpoint.anchored  {size, note_sha256, tsa, tsr, trust, hash, gen_time, nonce, serial}
    checkpoint.cosigned  {size, note_sha256, witness, cosignature, time}
    witness.added        {witness}

``tsr`` is base64 of the TimeStampResp DER as the TSA sent it; ``trust`` the base64 DER
of the certificates it was verified against; ``nonce`` and ``serial`` are decimal text
(they may exceed JSON's safe integers); ``witness`` is the witness's vkey.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from sahid._internal.cosignature import Cosignature, CosignerKey
from sahid._internal.note import SIG_PREFIX, note_text
from sahid.anchors.project import posix_time
from sahid.anchors.tsp import (
    Transport,
    check_tsa_url,
    fingerprint,
    format_time,
    http_post,
    load_trust,
    refusal,
    timestamp_request,
    verify_timestamp,
)
from sahid.anchors.witness import WitnessRequest
from sahid.errors import InputError, NetworkError, NotFound, VerificationError
from sahid.schema import anchors, checkpoints, witness_keys

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = ["MAX_SKEW", "Anchors", "read_trust_file"]

#: A cosignature dated further in the future than this (seconds) is refused.
MAX_SKEW = 3600


def read_trust_file(path: Path) -> list[x509.Certificate]:
    """The certificates of a PEM bundle or DER file the user trusts (InputError if not)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NotFound(f"trust file {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"trust file {path} cannot be read ({exc.strerror})") from None
    try:
        return load_trust(data, str(path))
    except VerificationError as exc:
        raise InputError(exc.message) from None


def note_sha256(note: str) -> str:
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


class Anchors:
    """RFC 3161 anchors and witness cosignatures of this archive's checkpoints."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    # -- reading ------------------------------------------------------------------------
    def checkpoint(self, size: int | None = None) -> tuple[int, str]:
        """The checkpoint of ``size`` (default: the newest) as (size, signed note)."""
        with self.archive.engine.connect() as conn:
            if size is None:
                latest = self.archive.ledger.latest_checkpoint(conn)
                if latest is None:
                    raise NotFound("the archive has no checkpoint yet")
                return latest
            note = conn.execute(
                select(checkpoints.c.note).where(checkpoints.c.size == size)
            ).scalar()
        if note is None:
            raise NotFound(
                f"the archive has no checkpoint of size {size}; list them with "
                "`sahid log checkpoint` or pick another --size"
            )
        return size, str(note)

    def recorded(self, size: int | None = None) -> list[dict[str, Any]]:
        """Every recorded anchor (of the checkpoint of ``size``), in ledger order."""
        query = select(anchors).order_by(anchors.c.seq)
        if size is not None:
            query = query.where(anchors.c.size == size)
        with self.archive.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "seq": r.seq,
                "kind": r.kind,
                "size": r.size,
                "note_sha256": r.note_sha256,
                "source": r.source,
                "time": r.time,
            }
            for r in rows
        ]

    def entries(self) -> list[tuple[int, dict[str, Any]]]:
        """(seq, body) of every anchor entry, in ledger order (for publishing)."""
        return [(a["seq"], self.archive.entry(a["seq"]).body) for a in self.recorded()]

    # -- RFC 3161 -----------------------------------------------------------------------
    def timestamp(
        self,
        tsa: str,
        trust: Sequence[x509.Certificate],
        *,
        size: int | None = None,
        transport: Transport | None = None,
        subject: str | None = None,
    ) -> dict[str, Any]:
        """Timestamp the checkpoint of ``size`` (default newest) at ``tsa``; record it.

        The one network call is ``transport(tsa, request)`` (default :func:`http_post`).
        Nothing is recorded unless the response verifies against ``trust``.
        """
        check_tsa_url(tsa)
        if not trust:
            raise InputError("no trusted TSA certificates: pass --ca FILE")
        cp_size, note = self.checkpoint(size)
        data = note.encode("utf-8")
        nonce = int.from_bytes(self.archive._rng(8), "big")
        request = timestamp_request(hashlib.sha256(data).digest(), nonce)
        tsr = (transport or http_post)(tsa, request)
        refused = refusal(tsr)
        if refused is not None:
            raise NetworkError(f"TSA {tsa} refused to timestamp ({refused})")
        try:
            check = verify_timestamp(
                data, tsr, trust, nonce=nonce, hash_name="sha256", subject=subject
            )
        except VerificationError as exc:
            raise VerificationError(f"TSA {tsa}: {exc.message}", where=tsa) from None
        body = {
            "size": cp_size,
            "note_sha256": hashlib.sha256(data).hexdigest(),
            "tsa": tsa,
            "tsr": base64.b64encode(tsr).decode(),
            "trust": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in trust],
            "hash": check.hash_name,
            "gen_time": format_time(check.gen_time),
            "nonce": str(check.nonce),
            "serial": str(check.serial),
        }
        entry = self.archive.append("checkpoint.anchored", body)
        return {
            "seq": entry.seq,
            "kind": "rfc3161",
            "size": cp_size,
            "note_sha256": body["note_sha256"],
            "tsa": tsa,
            "gen_time": body["gen_time"],
            "serial": body["serial"],
            "nonce": body["nonce"],
            "signer": check.tsa,
            "trust": [fingerprint(c) for c in trust],
        }

    # -- witnesses ----------------------------------------------------------------------
    def witnesses(self) -> list[dict[str, Any]]:
        """The witnesses this log takes cosignatures from, with the newest size each signed."""
        with self.archive.engine.connect() as conn:
            rows = conn.execute(
                select(witness_keys.c.key, witness_keys.c.seq)
                .where(witness_keys.c.role == "witness")
                .order_by(witness_keys.c.seq)
            ).all()
            out = []
            for key, seq in rows:
                out.append(
                    {
                        "witness": key,
                        "name": key.split("+", 1)[0],
                        "seq": seq,
                        "cosigned_size": self._cosigned_size(conn, key),
                    }
                )
        return out

    @staticmethod
    def _cosigned_size(conn: Any, vkey: str) -> int | None:
        found = conn.execute(
            select(func.max(anchors.c.size)).where(
                anchors.c.kind == "cosignature", anchors.c.source == vkey
            )
        ).scalar()
        return None if found is None else int(found)

    def add_witness(self, vkey: str) -> dict[str, Any]:
        """Record ``vkey`` (an Ed25519 cosignature key) as a witness this log trusts."""
        try:
            key = CosignerKey.parse(vkey)
        except VerificationError as exc:
            raise InputError(exc.message) from None
        known = {w["witness"]: w for w in self.witnesses()}
        if key.vkey in known:
            return {
                "witness": key.vkey,
                "name": key.name,
                "seq": known[key.vkey]["seq"],
                "added": False,
            }
        entry = self.archive.append("witness.added", {"witness": key.vkey})
        return {"witness": key.vkey, "name": key.name, "seq": entry.seq, "added": True}

    def _pick_witness(self, witness: str | None) -> str | None:
        known = [w["witness"] for w in self.witnesses()]
        if witness is None:
            if len(known) > 1:
                names = ", ".join(k.split("+", 1)[0] for k in known)
                raise InputError(
                    f"several witnesses are known ({names}); choose one with --witness"
                )
            return known[0] if known else None
        for k in known:
            if witness.strip() in (k, k.split("+", 1)[0]):
                return str(k)
        try:
            return CosignerKey.parse(witness).vkey
        except VerificationError:
            raise NotFound(
                f"no known witness {witness[:80]!r}; add it with `sahid log witness add VKEY`"
            ) from None

    def witness_request(
        self, *, witness: str | None = None, old: int | None = None, size: int | None = None
    ) -> tuple[WitnessRequest, dict[str, Any]]:
        """The add-checkpoint request for ``witness`` (checkpoint + consistency proof).

        ``old`` defaults to the newest size this log has recorded a cosignature of from
        that witness (0 if none): the size the witness will check consistency from.
        """
        vkey = self._pick_witness(witness)
        cp_size, note = self.checkpoint(size)
        if old is None:
            with self.archive.engine.connect() as conn:
                old = (self._cosigned_size(conn, vkey) if vkey else None) or 0
        if not 0 <= old <= cp_size:
            raise InputError(f"--old {old} is out of range: it must be 0 to {cp_size}")
        proof: list[bytes] = []
        if 0 < old < cp_size:
            proof = self.archive.consistency_proof(old, cp_size).proof
        request = WitnessRequest(old, tuple(proof), note)
        return request, {"witness": vkey, "old": old, "size": cp_size, "proof": len(proof)}

    def add_cosignatures(
        self,
        data: str | bytes,
        *,
        witness_keys: Sequence[str] = (),
        size: int | None = None,
    ) -> dict[str, Any]:
        """Verify and record the cosignature lines in ``data`` (a witness's answer, or a
        checkpoint note with them appended). Lines of unknown keys are ignored, but at
        least one must be by a known witness; any known line that fails refuses all."""
        text = _text(data)
        lines, cosigned_text = _split(text)
        keys: dict[tuple[str, bytes], CosignerKey] = {}
        for vkey in [*witness_keys, *(w["witness"] for w in self.witnesses())]:
            try:
                key = CosignerKey.parse(vkey)
            except VerificationError as exc:
                raise InputError(f"--witness-key: {exc.message}") from None
            keys[(key.name, key.key_id)] = key
        log = self.archive.log_signer.verifier
        found: list[tuple[Cosignature, CosignerKey]] = []
        ignored: list[str] = []
        for line in lines:
            cosig = _parse_line(line, (log.name, log.key_id))
            if cosig is None:
                continue  # the log's own signature of a pasted note
            known = keys.get((cosig.name, cosig.key_id))
            if known is None:
                ignored.append(f"{cosig.name}+{cosig.key_id.hex()}")
            else:
                found.append((cosig, known))
        if not found:
            shown = ignored[0] if ignored else "none"
            raise InputError(
                f"no cosignature by a known witness (unknown witness key: {shown}); add the "
                "witness with `sahid log witness add VKEY` or pass --witness-key VKEY"
            )
        now = int(self.archive._now().timestamp())
        candidates = self._candidates(size, cosigned_text)
        items: list[tuple[str, dict[str, Any]]] = []
        skipped = []
        recorded = {
            (a["source"], a["size"], a["time"])
            for a in self.recorded()
            if a["kind"] == "cosignature"
        }
        for cosig, key in found:
            if cosig.timestamp > now + MAX_SKEW:
                raise VerificationError(
                    f"cosignature by {key.name} is dated {posix_time(cosig.timestamp)}, in the "
                    "future: refused"
                )
            cp_size, note = _matching(candidates, cosig, key)
            if (key.vkey, cp_size, posix_time(cosig.timestamp)) in recorded:
                skipped.append({"witness": key.vkey, "size": cp_size, "time": cosig.timestamp})
                continue
            items.append(
                (
                    "checkpoint.cosigned",
                    {
                        "size": cp_size,
                        "note_sha256": note_sha256(note),
                        "witness": key.vkey,
                        "cosignature": cosig.line(),
                        "time": cosig.timestamp,
                    },
                )
            )
        made = self.archive.append_batch(items) if items else []
        return {
            "added": [
                {
                    "seq": e.seq,
                    "size": e.body["size"],
                    "witness": e.body["witness"],
                    "time": e.body["time"],
                }
                for e in made
            ],
            "skipped": skipped,
            "ignored": ignored,
        }

    def _candidates(self, size: int | None, text: str | None) -> list[tuple[int, str]]:
        """Checkpoints a cosignature may be for: the one named, else newest first."""
        if size is not None:
            return [self.checkpoint(size)]
        with self.archive.engine.connect() as conn:
            notes = self.archive.ledger.checkpoint_notes(conn)
        if text is not None:
            notes = [(s, n) for s, n in notes if note_text(n) == text]
            if not notes:
                raise NotFound("the pasted checkpoint is not one of this archive's checkpoints")
        return notes[::-1]


def _text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise VerificationError("the cosignature file is not UTF-8") from None
    return data


def _split(text: str) -> tuple[list[str], str | None]:
    """Signature lines, and the cosigned note's text if the file is a whole note."""
    if text.startswith(SIG_PREFIX):
        lines = [line for line in text.split("\n") if line]
        return lines, None
    body = note_text(text)
    block = text[len(body) + 1 :]
    return [line for line in block.split("\n") if line], body


def _parse_line(line: str, log: tuple[str, bytes]) -> Cosignature | None:
    """A cosignature line parsed, or None for the log's own signature line."""
    name, _, b64 = line.removeprefix(SIG_PREFIX).partition(" ")
    try:
        if name == log[0] and base64.b64decode(b64, validate=True)[:4] == log[1]:
            return None
    except ValueError:
        pass
    return Cosignature.parse(line)


def _matching(
    candidates: Sequence[tuple[int, str]], cosig: Cosignature, key: CosignerKey
) -> tuple[int, str]:
    for cp_size, note in candidates:
        try:
            key.verify(note_text(note), cosig)
        except VerificationError:
            continue
        return cp_size, note
    where = f"size {candidates[0][0]}" if len(candidates) == 1 else "any checkpoint"
    raise VerificationError(
        f"bad cosignature: the line by witness {key.name} does not verify for {where} of this log"
    )
