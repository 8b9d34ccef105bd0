"""Anchors: outside memory of a log's checkpoints (DESIGN §3, "Anchors").

The archive holder could rewrite history and re-sign it with the log key; only what
others hold can show that. Two kinds of anchor are recorded, each as a ledger entry:

* **RFC 3161 timestamps** (``checkpoint.anchored``): a TSA signs SHA-256 of the exact
  bytes of a checkpoint note, with a time (:mod:`sahid.anchors.tsp`);
* **witness cosignatures** (``checkpoint.cosigned``): a partner archive, acting as a
  C2SP witness, cosigns the checkpoint after checking it is consistent with every one it
  cosigned before (:mod:`sahid.anchors.witness`, :mod:`sahid.anchors.partner`).

The archive side is ``archive.anchors`` (:class:`sahid.anchors.service.Anchors`) and
``archive.witness`` (:class:`sahid.anchors.partner.Witness`). What outsiders need, with
no archive at all, is exported here: pure verification functions and the file formats.
"""

from sahid._internal.cosignature import Cosignature, CosignerKey
from sahid.anchors.tsp import TimestampCheck, load_trust, timestamp_request, verify_timestamp
from sahid.anchors.verify import (
    CosignatureCheck,
    verify_checkpoint_cosignature,
    verify_checkpoint_timestamp,
)
from sahid.anchors.witness import WitnessConflict, WitnessRequest, check_request

__all__ = [
    "Cosignature",
    "CosignatureCheck",
    "CosignerKey",
    "TimestampCheck",
    "WitnessConflict",
    "WitnessRequest",
    "check_request",
    "load_trust",
    "timestamp_request",
    "verify_checkpoint_cosignature",
    "verify_checkpoint_timestamp",
    "verify_timestamp",
]
