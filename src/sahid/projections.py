"""Projections: tables derived from ledger entries (DESIGN, "one picture").

Each entry kind may have a handler that writes the rows the entry causes. Handlers run
inside the append transaction, so an entry and its rows commit together. ``verify``
replays every entry into an empty in-memory database with the same handlers and
compares the result with the stored tables, row by row.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, insert, select

from sahid.anchors import project as anchors_project
from sahid.ledger import Entry
from sahid.records import project, search
from sahid.schema import (
    archive_facts,
    custody,
    derivations,
    evidence,
    members,
    metadata,
    projection_tables,
)

Handler = Callable[[Connection, Entry], None]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def apply(conn: Connection, batch: Iterable[Entry]) -> None:
    """Run each entry's handler; search facets are refreshed once for the whole batch."""
    with search.deferred_facets(conn):
        for entry in batch:
            handler = HANDLERS.get(entry.kind)
            if handler is not None:
                handler(conn, entry)


@handles("archive.created")
def _archive_created(conn: Connection, entry: Entry) -> None:
    conn.execute(
        insert(archive_facts),
        [
            {"key": key, "value": str(entry.body[key]), "seq": entry.seq}
            for key in ("archive", "origin", "log_key")
        ],
    )


@handles("member.added")
def _member_added(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(members),
        [
            {
                "member_id": b["member"],
                "name": b["name"],
                "ed25519": base64.b64decode(b["ed25519"]),
                "x25519": b["x25519"],
                "role": b["role"],
                "added_seq": entry.seq,
            }
        ],
    )


@handles("evidence.added")
def _evidence_added(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(evidence),
        [
            {
                "evidence_id": b["evidence"],
                "blob": b["blob"],
                "sha256": b["sha256"],
                "size": b["size"],
                "media_type": b["media_type"],
                "name": b.get("name"),
                "name_b64": b.get("name_b64"),
                "source": b.get("source"),
                "note": b.get("note"),
                "metadata": project.json_text(b.get("metadata", {})),
                "metadata_problems": project.json_text(b.get("metadata_problems", [])),
                "added_seq": entry.seq,
                "added_ts": entry.ts,
            }
        ],
    )
    _custody(conn, entry, "added")
    project.evidence_indexed(conn, entry)


@handles("evidence.received")
def _evidence_received(conn: Connection, entry: Entry) -> None:
    _custody(conn, entry, "received")


def _custody(conn: Connection, entry: Entry, event: str) -> None:
    b = entry.body
    conn.execute(
        insert(custody),
        [
            {
                "seq": entry.seq,
                "evidence_id": b["evidence"],
                "event": event,
                "source": b.get("source"),
                "note": b.get("note"),
                "name": b.get("name"),
                "by": entry.by,
                "ts": entry.ts,
            }
        ],
    )


@handles("redaction.made")
def _redaction_made(conn: Connection, entry: Entry) -> None:
    b = entry.body
    conn.execute(
        insert(derivations),
        [
            {
                "copy_id": b["copy"],
                "original_id": b["original"],
                "kind": "redaction",
                "operations": project.json_text(b["operations"]),
                "seq": entry.seq,
            }
        ],
    )


HANDLERS["record.created"] = project.record_created
HANDLERS["link.added"] = project.record_created
HANDLERS["record.updated"] = project.record_updated
HANDLERS["erased"] = project.person_erased
HANDLERS.update(anchors_project.HANDLERS)


def replay_engine() -> Engine:
    """An empty in-memory database with the projection tables (nothing on disk)."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine, tables=projection_tables())
    with engine.begin() as conn:
        search.create_fts(conn)
    return engine


def table_rows(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table's rows in primary-key order, for comparison."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for table in projection_tables():
        order = list(table.primary_key.columns) or list(table.columns)
        out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    if search.has_fts(conn):
        out[search.FTS_TABLE] = search.fts_rows(conn)
    return out
