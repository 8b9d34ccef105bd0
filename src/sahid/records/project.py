"""Projection handlers for records: the ``records``, ``facets`` and search tables.

Bodies (all kinds keep one shape so import, replay and export share it)::

    record.created  {"type": T, "id": ID, "fields": {...}, ["sealed": B64],
                     ["fingerprint": HEX, ["sealed_fingerprint": HEX]]}  (imported rows)
    link.added      {"type": "link", "id": ID, "fields": {...}}
    record.updated  {"type": T, "id": ID, "set": {field: value or null}}
    erased          {"type": "person", "id": ID}

A handler reads only tables earlier entries wrote, so replay rebuilds them exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from sahid import text as fold
from sahid._internal.canonical import canonical_json
from sahid.ledger import Entry
from sahid.records import duplicates, search
from sahid.records.model import TYPES, RecordType
from sahid.schema import facets, records


def json_text(value: object) -> str:
    """Canonical JSON as text: how projection tables store structured columns."""
    return canonical_json(value).decode()


def texts_of(rtype: RecordType, data: dict[str, Any]) -> list[str]:
    """The original texts of a record that search indexes (never sealed fields)."""
    out: list[str] = []
    for name in rtype.index:
        value = data.get(name)
        if value is None:
            continue
        kind = rtype.field(name).kind
        if kind == "ml":
            out.extend(value[lang] for lang in sorted(value))
        elif kind == "place":
            out.extend(str(value[k]) for k in ("name", "district", "detail") if value.get(k))
        elif kind == "claims":
            for claim in value:
                out.append(claim["text"])
                out.extend(claim.get("framing", []))
        else:
            out.append(str(value))
    return out


def charge_keys(data: dict[str, Any]) -> list[str]:
    keys = []
    if data.get("label"):
        keys.append(" ".join(k for k in fold.tokens(data["label"]) if k))
    if data.get("article"):
        keys.append("art:" + str(data["article"]))
    return keys


def facets_of(
    conn: Connection, rtype: str, rid: str, data: dict[str, Any]
) -> set[tuple[str, str, str]]:
    """(id, key, value) rows this record states about itself or its incident."""
    out: set[tuple[str, str, str]] = set()
    inc = data.get("incident")
    if rtype == "incident":
        out.add((rid, "type", data["type"]))
        out.add((rid, "status", data.get("status", "unverified")))
        out.update((rid, "unit", u) for u in data.get("units", []))
    if rtype == "person":
        out.update((rid, "incident", r["incident"]) for r in data["roles"])
    elif inc:
        out.add((rid, "incident", inc))
    place = data.get("place")
    if isinstance(place, dict) and place.get("place"):
        out.add((rid, "place", place["place"]))
    for name in ("perpetrator_unit", "unit", "source_unit", "court"):
        if data.get(name):
            out.add((rid, "unit", data[name]))
            if inc and rtype in ("act", "detention"):
                out.add((inc, "unit", data[name]))
    if rtype == "charge":
        for key in charge_keys(data):
            out.add((rid, "charge", key))
            if inc:
                out.add((inc, "charge", key))
    if rtype == "link":
        evidence, target = data["evidence"], data["target"]
        row = conn.execute(
            select(records.c.type, records.c.parent).where(records.c.id == target)
        ).first()
        if row is not None and row.type == "incident":
            out.add((evidence, "incident", target))
        elif row is not None:
            out.add((evidence, row.type, target))
            if row.parent:
                out.add((evidence, "incident", row.parent))
    return out


def _dates(rtype: str, data: dict[str, Any]) -> tuple[str | None, str | None]:
    if rtype in ("incident", "detention"):
        return search.date_range(data.get("start"), data.get("end"))
    if rtype in ("statement", "act"):
        return search.date_range(data.get("date"), None)
    return None, None


def _index(conn: Connection, doc: int, rtype: str, rid: str, data: dict[str, Any]) -> None:
    """Facet rows, the search document, and the facets column of every document whose
    facets this record's rows feed (the records it states facets about, and theirs)."""
    stated = {i for (i,) in conn.execute(select(facets.c.id).where(facets.c.origin == rid))}
    conn.execute(delete(facets).where(facets.c.origin == rid))
    rows = facets_of(conn, rtype, rid, data)
    if rows:
        conn.execute(
            insert(facets),
            [{"origin": rid, "id": i, "key": k, "value": v} for i, k, v in sorted(rows)],
        )
    t = TYPES.get(rtype)
    indexed = None
    if t is not None and t.index:
        search.index_doc(conn, doc, rid, rtype, texts_of(t, data), _dates(rtype, data))
        indexed = rid
    search.refresh_facets(conn, stated | {i for i, _, _ in rows}, indexed)


def _parent(rtype: str, data: dict[str, Any]) -> str | None:
    t = TYPES.get(rtype)
    if t is not None and t.parent:
        value = data.get(t.parent)
        return str(value) if value else None
    return None


def record_created(conn: Connection, entry: Entry) -> None:
    b = entry.body
    data = dict(b["fields"])
    if "sealed" in b:
        data["sealed"] = b["sealed"]
    conn.execute(
        insert(records),
        [
            {
                "id": b["id"],
                "type": b["type"],
                "data": json_text(data),
                "parent": _parent(b["type"], data),
                "created_seq": entry.seq,
                "updated_seq": entry.seq,
            }
        ],
    )
    _index(conn, entry.seq, b["type"], b["id"], data)
    if "fingerprint" in b:
        duplicates.record_fingerprint(conn, entry.seq, b)


def apply_set(data: dict[str, Any], changes: Mapping[str, Any]) -> None:
    """Apply a ``record.updated`` entry's ``set`` to a record's data (None clears a field).

    The projection and ``verify-site``'s replay of published entries share this rule.
    """
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value


def record_updated(conn: Connection, entry: Entry) -> None:
    b = entry.body
    row = conn.execute(select(records.c.data).where(records.c.id == b["id"])).first()
    if row is None:
        raise KeyError(b["id"])  # verify reports an entry that cannot be replayed
    data = search.load_json(row.data)
    apply_set(data, b["set"])
    conn.execute(
        update(records)
        .where(records.c.id == b["id"])
        .values(data=json_text(data), parent=_parent(b["type"], data), updated_seq=entry.seq)
    )
    doc = search.drop_doc(conn, b["id"])
    _index(conn, entry.seq if doc is None else doc, b["type"], b["id"], data)


def person_erased(conn: Connection, entry: Entry) -> None:
    b = entry.body
    row = conn.execute(select(records.c.data).where(records.c.id == b["id"])).first()
    if row is None:
        raise KeyError(b["id"])
    data = search.load_json(row.data)
    data.pop("sealed", None)
    data["erased"] = True
    conn.execute(
        update(records)
        .where(records.c.id == b["id"])
        .values(data=json_text(data), updated_seq=entry.seq)
    )


def evidence_indexed(conn: Connection, entry: Entry) -> None:
    """Evidence notes, sources and file names are searchable too."""
    b = entry.body
    texts = [str(b[k]) for k in ("name", "source", "note") if b.get(k)]
    search.index_doc(conn, entry.seq, b["evidence"], "evidence", texts)
