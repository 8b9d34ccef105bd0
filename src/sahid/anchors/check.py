"""``sahid verify`` step 9: every recorded anchor verifies again, from the ledger alone.

For each entry, in ledger order (failures name the entry):

* ``checkpoint.anchored``: the checkpoint of ``size`` exists and existed before the
  entry, ``note_sha256`` is its hash, and the stored ``tsr`` verifies for exactly those
  note bytes against the stored ``trust`` certificates, with the stored nonce, SHA-256,
  genTime and serial;
* ``checkpoint.cosigned``: the same for the checkpoint, and the cosignature line
  verifies by the stored witness key at the stored time;
* ``witness.added`` / ``witness.trusted``: the keys parse; the witness key is this
  archive's own;
* ``witness.cosigned``: replaying the witness's decisions in order gives the same
  answers — the checkpoint is signed by a log key trusted earlier, its old size is the
  size cosigned before for that origin, its consistency proof verifies
  (:func:`~sahid.anchors.witness.check_request`), and the cosignature is by this
  archive's witness key over that checkpoint.

The trust is what was recorded: this proves the tokens and cosignatures are genuine
and match the checkpoints, not that the TSA or witness deserves trust.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography import x509

from sahid._internal.cosignature import Cosignature, CosignerKey
from sahid._internal.note import Verifier, note_text
from sahid.anchors.tsp import format_time, verify_timestamp
from sahid.anchors.witness import WitnessRequest, check_request
from sahid.errors import SahidError, VerificationError
from sahid.ledger import Entry

__all__ = ["KINDS", "check_anchor_entries"]

KINDS = frozenset(
    {
        "checkpoint.anchored",
        "checkpoint.cosigned",
        "witness.added",
        "witness.trusted",
        "witness.cosigned",
    }
)

Fail = Callable[[str, str], VerificationError]

_ANCHORED = {"size", "note_sha256", "tsa", "tsr", "trust", "hash", "gen_time", "nonce", "serial"}
_COSIGNED = {"size", "note_sha256", "witness", "cosignature", "time"}
_WITNESSED = {
    "origin",
    "size",
    "root",
    "old",
    "proof",
    "checkpoint",
    "cosignature",
    "time",
    "witness",
}


class _Bad(Exception):
    """One problem with the entry being checked (turned into the step's failure)."""


def _b64(value: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise _Bad(f"{what} is not base64") from None


def _fields(body: Mapping[str, Any], want: set[str]) -> None:
    if set(body) != want:
        raise _Bad(f"body has fields {sorted(body)}, not {sorted(want)}")


def _checkpoint(body: Mapping[str, Any], seq: int, notes: Mapping[int, str]) -> str:
    size = body["size"]
    if type(size) is not int or size not in notes:
        raise _Bad(f"names checkpoint {size!r:.20}, which the archive does not hold")
    if size > seq:
        raise _Bad(f"anchors checkpoint {size}, which did not exist yet")
    note = notes[size]
    if hashlib.sha256(note.encode("utf-8")).hexdigest() != body["note_sha256"]:
        raise _Bad(f"note_sha256 is not the hash of checkpoint {size}")
    return note


def _anchored(entry: Entry, notes: Mapping[int, str]) -> None:
    b = entry.body
    _fields(b, _ANCHORED)
    note = _checkpoint(b, entry.seq, notes)
    if not isinstance(b["trust"], list) or not b["trust"]:
        raise _Bad("trust holds no certificate")
    try:
        trust = [x509.load_der_x509_certificate(_b64(c, "a trust certificate")) for c in b["trust"]]
    except ValueError:
        raise _Bad("a trust certificate is not DER") from None
    if not isinstance(b["nonce"], str) or not b["nonce"].isdigit():
        raise _Bad("nonce is not a decimal")
    try:
        check = verify_timestamp(
            note.encode("utf-8"),
            _b64(b["tsr"], "tsr"),
            trust,
            nonce=int(b["nonce"]),
            hash_name=str(b["hash"]),
        )
    except VerificationError as exc:
        raise _Bad(f"the RFC 3161 token of {b['tsa']} does not verify ({exc.message})") from None
    if format_time(check.gen_time) != b["gen_time"] or str(check.serial) != b["serial"]:
        raise _Bad("gen_time or serial differ from the token")


def _cosigned(entry: Entry, notes: Mapping[int, str]) -> None:
    b = entry.body
    _fields(b, _COSIGNED)
    note = _checkpoint(b, entry.seq, notes)
    key = CosignerKey.parse(b["witness"])
    cosig = Cosignature.parse(b["cosignature"])
    if cosig.timestamp != b["time"]:
        raise _Bad("time differs from the cosignature's")
    key.verify(note_text(note), cosig)


class _WitnessState:
    """The witness's view, rebuilt entry by entry as ``Witness.cosign`` saw it."""

    def __init__(self, own: CosignerKey) -> None:
        self.own = own
        self.keys: dict[str, list[Verifier]] = {}
        self.last: dict[str, tuple[int, bytes]] = {}

    def trusted(self, entry: Entry) -> None:
        b = entry.body
        _fields(b, {"origin", "log_key", "witness"})
        if b["witness"] != self.own.vkey:
            raise _Bad("witness is not this archive's witness key")
        self.keys.setdefault(str(b["origin"]), []).append(Verifier.parse(b["log_key"]))

    def cosigned(self, entry: Entry) -> None:
        b = entry.body
        _fields(b, _WITNESSED)
        origin = str(b["origin"])
        if b["witness"] != self.own.vkey:
            raise _Bad("witness is not this archive's witness key")
        if type(b["old"]) is not int or not isinstance(b["proof"], list):
            raise _Bad("old or proof has the wrong type")
        proof = tuple(_b64(h, "a proof hash") for h in b["proof"])
        request = WitnessRequest(b["old"], proof, str(b["checkpoint"]))
        if request.origin != origin:
            raise _Bad(f"the checkpoint is not for origin {origin[:80]}")
        try:
            cp = check_request(request, self.keys.get(origin, []), self.last.get(origin))
        except SahidError as exc:
            raise _Bad(f"the witness should have refused this checkpoint ({exc.message})") from None
        if cp.size != b["size"] or base64.b64encode(cp.root_hash).decode() != b["root"]:
            raise _Bad("size or root differ from the checkpoint")
        cosig = Cosignature.parse(b["cosignature"])
        if cosig.timestamp != b["time"]:
            raise _Bad("time differs from the cosignature's")
        self.own.verify(cp.body(), cosig)
        self.last[origin] = (cp.size, cp.root_hash)


def check_anchor_entries(
    entries: Sequence[Entry], notes: Mapping[int, str], own: CosignerKey, fail: Fail
) -> dict[str, int]:
    """Check every anchor entry (ledger order); counts by kind, or ``fail(where, what)``."""
    state = _WitnessState(own)
    counts = {"rfc3161": 0, "cosignatures": 0, "witnessed": 0}
    for entry in entries:
        try:
            if entry.kind == "checkpoint.anchored":
                _anchored(entry, notes)
                counts["rfc3161"] += 1
            elif entry.kind == "checkpoint.cosigned":
                _cosigned(entry, notes)
                counts["cosignatures"] += 1
            elif entry.kind == "witness.added":
                _fields(entry.body, {"witness"})
                CosignerKey.parse(entry.body["witness"])
            elif entry.kind == "witness.trusted":
                state.trusted(entry)
            elif entry.kind == "witness.cosigned":
                state.cosigned(entry)
                counts["witnessed"] += 1
        except _Bad as exc:
            raise fail(f"entry {entry.seq}", f"{entry.kind}: {exc}") from None
        except VerificationError as exc:
            raise fail(f"entry {entry.seq}", f"{entry.kind}: {exc.message}") from None
    return counts
