"""Checking a checkpoint's anchors with nothing but the anchors (for outsiders).

Pure functions: no archive, no network, no clock. A court, a partner or the published
site's verifier calls them with a checkpoint note and what anchors it:

* :func:`verify_checkpoint_timestamp` — an RFC 3161 ``TimeStampResp`` whose message
  imprint is SHA-256 of the exact bytes of the signed checkpoint note, checked against
  the TSA certificates the caller trusts (:func:`sahid.anchors.tsp.verify_timestamp`).
  A valid token proves the log key had signed that tree head before the token's time.
* :func:`verify_checkpoint_cosignature` — a C2SP ``cosignature/v1`` line over the
  note's text, by the witness key the caller trusts. A valid cosignature says the
  witness checked that this tree head is consistent with every earlier one it saw.

Given ``log_key`` (the log's note verifier key), each also checks the checkpoint's own
signature and that its origin is the key's name. Every failure raises
:class:`~sahid.errors.VerificationError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from sahid._internal.checkpoint import Checkpoint, open_checkpoint
from sahid._internal.cosignature import Cosignature, CosignerKey
from sahid._internal.note import Verifier, note_text
from sahid.anchors.tsp import TimestampCheck, load_trust, verify_timestamp
from sahid.errors import VerificationError

__all__ = [
    "CosignatureCheck",
    "verify_checkpoint_cosignature",
    "verify_checkpoint_timestamp",
]


def _as_bytes(note: str | bytes) -> bytes:
    if isinstance(note, bytes):
        return note
    if isinstance(note, str):
        try:
            return note.encode("utf-8")
        except UnicodeEncodeError:
            raise VerificationError("the checkpoint note is not valid Unicode") from None
    raise VerificationError("the checkpoint note is not text")


def _checkpoint(note: bytes, log_key: str | Verifier | None) -> Checkpoint:
    if log_key is None:
        return Checkpoint.parse(note_text(note))
    verifier = log_key if isinstance(log_key, Verifier) else Verifier.parse(log_key)
    return open_checkpoint(note, verifier, origin=verifier.name)


def verify_checkpoint_timestamp(
    note: str | bytes,
    tsr: bytes,
    trust: Sequence[x509.Certificate] | bytes,
    *,
    log_key: str | Verifier | None = None,
    nonce: int | None = None,
    subject: str | None = None,
) -> TimestampCheck:
    """Check that ``tsr`` timestamps exactly ``note`` (SHA-256) and chains to ``trust``.

    ``trust`` is a list of certificates or the bytes of a PEM bundle / DER certificate.
    """
    data = _as_bytes(note)
    _checkpoint(data, log_key)
    certs = load_trust(trust) if isinstance(trust, bytes) else list(trust)
    return verify_timestamp(data, tsr, certs, nonce=nonce, hash_name="sha256", subject=subject)


@dataclass(frozen=True)
class CosignatureCheck:
    """A verified cosignature: who, when, and for which tree head."""

    witness: str  # the witness's vkey
    time: int  # POSIX seconds, as the witness signed it
    origin: str
    size: int

    def as_json(self) -> dict[str, object]:
        return {
            "witness": self.witness,
            "time": self.time,
            "origin": self.origin,
            "size": self.size,
        }


def verify_checkpoint_cosignature(
    note: str | bytes,
    line: str | Cosignature,
    witness: str | CosignerKey,
    *,
    log_key: str | Verifier | None = None,
) -> CosignatureCheck:
    """Check that ``line`` is ``witness``'s cosignature/v1 of the checkpoint ``note``."""
    data = _as_bytes(note)
    cp = _checkpoint(data, log_key)
    key = witness if isinstance(witness, CosignerKey) else CosignerKey.parse(witness)
    cosig = line if isinstance(line, Cosignature) else Cosignature.parse(line)
    key.verify(note_text(data), cosig)
    return CosignatureCheck(key.vkey, cosig.timestamp, cp.origin, cp.size)
