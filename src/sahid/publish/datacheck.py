"""Check a site's open data against its revealed ledger entries (``sahid verify-site``).

The manifest signature proves that the publishers wrote ``data/incidents.json``; this
proves that what it says is what their signed log says. The revealed ``record.created``
and ``record.updated`` entries are replayed in log order (as the archive's projections
are), and every published incident must match them field by field: title, summary,
dates, type, status, place, units, related incidents, and the number of acts,
detentions and charges (with the charges' labels). The set of incidents must be
exactly the revealed incidents marked for publication. Values the site derives from
the gazetteer (district, coordinates) are not re-derived here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sahid.errors import VerificationError
from sahid.ledger import Entry
from sahid.records.project import apply_set

__all__ = ["INCIDENTS", "check_incidents", "replay_records"]

INCIDENTS = "data/incidents.json"
_PLACE_KEYS = ("name", "detail", "place")

Records = dict[str, tuple[str, dict[str, Any]]]
_COUNTED = ("act", "detention", "charge")  # children whose numbers the site publishes


def replay_records(entries: Mapping[int, Entry]) -> Records:
    """``{id: (type, fields)}`` from the revealed record entries, in seq order."""
    out: Records = {}
    for seq in sorted(entries):
        e = entries[seq]
        body = e.body
        if e.kind in ("record.created", "link.added") and isinstance(body.get("fields"), dict):
            out[str(body["id"])] = (str(body.get("type")), dict(body["fields"]))
        elif e.kind == "record.updated" and str(body.get("id")) in out:
            apply_set(out[str(body["id"])][1], dict(body.get("set") or {}))
    return out


def _fail(message: str) -> VerificationError:
    return VerificationError(f"{INCIDENTS}: {message}", where=INCIDENTS)


def _children(records: Records) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
    """``{incident: {"act": [...], "detention": [...], "charge": [...]}}`` in one pass."""
    out: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for rtype, fields in records.values():
        if rtype in _COUNTED and fields.get("incident") is not None:
            kinds = out.setdefault(str(fields["incident"]), {t: [] for t in _COUNTED})
            kinds[rtype].append(fields)
    return out


def _expected(
    fields: Mapping[str, Any], kinds: Mapping[str, list[Mapping[str, Any]]]
) -> dict[str, Any]:
    """What ``data/incidents.json`` must say of an incident (ledger-backed fields)."""
    place = fields.get("place") or {}
    return {
        "title": fields.get("title", {}),
        "summary": fields.get("summary", {}),
        "start": fields.get("start"),
        "end": fields.get("end"),
        "type": fields.get("type"),
        "status": fields.get("status", "unverified"),
        "place": {k: place[k] for k in _PLACE_KEYS if isinstance(place, dict) and k in place},
        "acts": len(kinds.get("act", [])),
        "detentions": len(kinds.get("detention", [])),
        "charges": sorted(
            str(c.get("label") or c.get("article") or "") for c in kinds.get("charge", [])
        ),
    }


def check_incidents(read: Callable[[str], bytes], entries: Mapping[int, Entry]) -> int:
    """Raise :class:`VerificationError` naming the incident and field that disagree."""
    try:
        doc = json.loads(read(INCIDENTS))
    except (UnicodeDecodeError, ValueError):
        raise _fail("is not valid JSON") from None
    rows = doc.get("incidents") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in rows
    ):
        raise _fail("is not {incidents: [{id, ...}, ...]}")
    records = replay_records(entries)
    published = {
        rid for rid, (t, f) in records.items() if t == "incident" and f.get("publish") is True
    }
    children = _children(records)
    unit_ids = {u for u, (t, _) in records.items() if t == "unit"}
    listed = [str(r["id"]) for r in rows]
    if len(set(listed)) != len(listed):
        raise _fail("lists an incident twice")
    if extra := sorted(set(listed) - published):
        raise _fail(f"incident {extra[0]} has no revealed ledger entry marking it for publication")
    if missing := sorted(published - set(listed)):
        raise _fail(f"leaves out incident {missing[0]}, whose entries the site reveals")
    for row in rows:
        rid = str(row["id"])
        fields = records[rid][1]
        for key, want in _expected(fields, children.get(rid, {})).items():
            if row.get(key) != want:
                raise _fail(f"incident {rid}: {key} differs from its signed ledger entries")
        units = row.get("units")
        recorded = set(fields.get("units") or [])
        if not isinstance(units, list) or not set(units) <= recorded:
            raise _fail(f"incident {rid}: units differ from its signed ledger entries")
        if recorded & unit_ids - set(units):
            raise _fail(f"incident {rid}: units leave out a unit its entries name")
        related = row.get("related")
        named = [r for r in fields.get("related") or [] if r in published]
        if related != named:
            raise _fail(f"incident {rid}: related differs from its signed ledger entries")
    return len(rows)
