"""Projection handlers of the anchor entry kinds (tables in :mod:`sahid.schema`).

* ``checkpoint.anchored`` / ``checkpoint.cosigned`` -> a row of ``anchors``;
* ``witness.added`` / ``witness.trusted`` -> a row of ``witness_keys``;
* ``witness.cosigned`` -> a row of ``witnessed``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert

from sahid.ledger import Entry
from sahid.schema import anchors, witness_keys, witnessed

__all__ = ["HANDLERS", "posix_time"]


def posix_time(seconds: int) -> str:
    """A cosignature's POSIX time as sahid's UTC text (the ``anchors.time`` column)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _anchored(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(anchors),
        [
            {
                "seq": entry.seq,
                "kind": "rfc3161",
                "size": b["size"],
                "note_sha256": b["note_sha256"],
                "source": b["tsa"],
                "time": b["gen_time"],
            }
        ],
    )


def _cosigned(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(anchors),
        [
            {
                "seq": entry.seq,
                "kind": "cosignature",
                "size": b["size"],
                "note_sha256": b["note_sha256"],
                "source": b["witness"],
                "time": posix_time(b["time"]),
            }
        ],
    )


def _witness_added(conn: Connection, entry: Entry) -> None:
    vkey = str(entry.body["witness"])
    conn.execute(
        insert(witness_keys),
        [{"role": "witness", "origin": vkey.split("+", 1)[0], "key": vkey, "seq": entry.seq}],
    )


def _witness_trusted(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(witness_keys),
        [{"role": "log", "origin": b["origin"], "key": b["log_key"], "seq": entry.seq}],
    )


def _witness_cosigned(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(witnessed),
        [
            {
                "seq": entry.seq,
                "origin": b["origin"],
                "size": b["size"],
                "root": b["root"],
                "time": b["time"],
            }
        ],
    )


HANDLERS = {
    "checkpoint.anchored": _anchored,
    "checkpoint.cosigned": _cosigned,
    "witness.added": _witness_added,
    "witness.trusted": _witness_trusted,
    "witness.cosigned": _witness_cosigned,
}
