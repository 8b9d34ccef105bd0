"""Records as FollowTheMoney entities (the data model of Aleph, OpenSanctions and others).

So that newsrooms and researchers can load sahid's findings into their own tools, each
record becomes FtM entities, written one JSON object per line (FtM's usual form):

=============  ==========================================================================
sahid          FollowTheMoney
=============  ==========================================================================
incident       ``Event`` (name per language, summary, dates, place, country ``az``,
               ``involved``: victims, detainees, units; ``organizer``: perpetrator units)
unit           ``PublicBody`` (names, ``parent`` unit)
person         ``Person``: an official by name and position, anyone else by pseudonym only
act            ``UnknownLink`` perpetrator → victim, role "act type (outcome)"
detention      ``UnknownLink`` unit → detained person, role "detention"
case           ``CourtCase`` (court, number, status) and a ``CourtCaseParty`` per person
charge         ``CourtCaseParty`` (the charged person, role "charged: article label")
statement      ``Article`` (publisher, date, language, original text, translations)
=============  ==========================================================================

Protection is the caller's selection plus what this module never writes: notes, sealed
fields, evidence names or sources. Ids are the archive's record ids with a ``sahid-``
prefix, so entities from the same archive merge and entities from different archives
do not collide by accident. Values are written as FtM's types expect (dates as ISO
prefixes, ``~`` dropped; languages as ISO 639-2; countries as ISO 3166 alpha-2); the
tests check every entity against the ``followthemoney`` package's model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sahid.records.model import is_protected

if TYPE_CHECKING:
    from sahid.archive import Archive

__all__ = ["LANGUAGE_CODES", "archive_records", "entities", "public_data", "to_lines"]

#: ISO 639-1 (as sahid stores languages) to ISO 639-2 (as FtM's language type wants).
LANGUAGE_CODES = {"az": "aze", "ru": "rus", "en": "eng", "tr": "tur", "ka": "kat", "fa": "fas"}
PREFIX = "sahid-"

Record = tuple[str, str, Mapping[str, Any]]  # (id, type, data without notes or sealed fields)


def _id(rid: object) -> str:
    return PREFIX + str(rid)


def _texts(value: object) -> list[str]:
    """The texts of a multilingual field ({"az": ..., "en": ...}) or a plain text."""
    if isinstance(value, Mapping):
        return [str(v) for _, v in sorted(value.items()) if v]
    return [str(value)] if value else []


def _date(value: object) -> list[str]:
    return [str(value).lstrip("~").replace(" ", "T")] if value else []


def _place(place: object) -> list[str]:
    """A place as one line: its name and district (never the detail, which may be a home)."""
    if not isinstance(place, Mapping) or not place.get("name"):
        return []
    parts = [str(place["name"])]
    if place.get("district") and place["district"] != place["name"]:
        parts.append(str(place["district"]))
    return [", ".join(parts)]


def _entity(schema: str, rid: str, props: Mapping[str, list[str]]) -> dict[str, Any]:
    kept = {k: v for k, v in props.items() if v}
    return {"id": rid, "schema": schema, "properties": dict(sorted(kept.items()))}


def entities(records: Iterable[Record]) -> Iterator[dict[str, Any]]:
    """FtM entities for ``records`` (in creation order), as plain dicts.

    References to records outside ``records`` are left out, so a selection never points
    at something it does not hold.
    """
    recs = list(records)
    known = {rid for rid, _, _ in recs}
    unit_names = {rid: (_texts(d.get("name")) or [""])[0] for rid, t, d in recs if t == "unit"}
    involved: dict[str, list[str]] = {}
    organizers: dict[str, list[str]] = {}

    def ref(value: object) -> list[str]:
        return [_id(value)] if value and str(value) in known else []

    def note_involved(incident: object, *parties: object) -> None:
        for p in parties:
            if p and str(p) in known and str(incident) in known:
                involved.setdefault(str(incident), []).append(_id(p))

    out: list[dict[str, Any]] = []
    for rid, rtype, d in recs:
        if rtype == "unit":
            out.append(
                _entity(
                    "PublicBody",
                    _id(rid),
                    {"name": _texts(d.get("name")), "parent": ref(d.get("parent"))},
                )
            )
        elif rtype == "person":
            roles = sorted({str(r.get("role")) for r in d.get("roles") or [] if r.get("role")})
            official = not is_protected(d.get("roles") or []) and bool(d.get("public_name"))
            props = {
                "name": [str(d["public_name"] if official else d.get("pseudonym") or "person")],
                "description": [", ".join(roles)] if roles else [],
                "position": [str(d["position"])] if official and d.get("position") else [],
                "country": ["az"],
            }
            out.append(_entity("Person", _id(rid), props))
        elif rtype == "act":
            doer = d.get("perpetrator") or d.get("perpetrator_unit")
            note_involved(d.get("incident"), d.get("victim"))
            if d.get("perpetrator_unit") and str(d.get("incident")) in known:
                organizers.setdefault(str(d["incident"]), []).extend(ref(d["perpetrator_unit"]))
            if ref(doer) and ref(d.get("victim")):
                role = str(d.get("type") or "act")
                if d.get("outcome"):
                    role += f" ({d['outcome']})"
                props = {
                    "subject": ref(doer),
                    "object": ref(d.get("victim")),
                    "role": [role],
                    "date": _date(d.get("date")),
                }
                out.append(_entity("UnknownLink", _id(rid), props))
        elif rtype == "detention":
            note_involved(d.get("incident"), d.get("person"), d.get("unit"))
            if ref(d.get("unit")) and ref(d.get("person")):
                props = {
                    "subject": ref(d.get("unit")),
                    "object": ref(d.get("person")),
                    "role": ["detention" + (f" ({d['outcome']})" if d.get("outcome") else "")],
                    "startDate": _date(d.get("start")),
                    "endDate": _date(d.get("end")),
                }
                out.append(_entity("UnknownLink", _id(rid), props))
        elif rtype == "case":
            court = unit_names.get(str(d.get("court")), "")
            props = {
                "name": [" ".join(p for p in ("Case", str(d.get("number") or ""), court) if p)],
                "caseNumber": [str(d["number"])] if d.get("number") else [],
                "court": [court] if court else [],
                "status": [str(d["status"])] if d.get("status") else [],
                "country": ["az"],
                "summary": [f"{k}: {d[k]}" for k in ("verdict", "sentence") if d.get(k)],
            }
            out.append(_entity("CourtCase", _id(rid), props))
            for person in d.get("persons") or []:
                if ref(person):
                    party = {"case": [_id(rid)], "party": ref(person), "role": ["defendant"]}
                    out.append(_entity("CourtCaseParty", _id(f"{rid}-{person}"), party))
        elif rtype == "charge":
            note_involved(d.get("incident"), d.get("person"))
            label = " ".join(str(d[k]) for k in ("article", "label") if d.get(k))
            if ref(d.get("person")) and ref(d.get("case")):
                props = {
                    "case": ref(d.get("case")),
                    "party": ref(d.get("person")),
                    "role": ["charged: " + label if label else "charged"],
                    "status": [str(d["status"])] if d.get("status") else [],
                }
                out.append(_entity("CourtCaseParty", _id(rid), props))
        elif rtype == "statement":
            lang = LANGUAGE_CODES.get(str(d.get("language") or ""))
            props = {
                "title": [str(d.get("source") or "statement")],
                "publisher": [str(d["source"])] if d.get("source") else [],
                "publishedAt": _date(d.get("date")),
                "language": [lang] if lang else [],
                "bodyText": [str(d["text"])] if d.get("text") else [],
                "summary": _texts(d.get("translation")),
                "sourceUrl": [str(d["url"])] if d.get("url") else [],
            }
            out.append(_entity("Article", _id(rid), props))
    for rid, rtype, d in recs:
        if rtype != "incident":
            continue
        props = {
            "name": _texts(d.get("title")),
            "summary": _texts(d.get("summary")),
            "startDate": _date(d.get("start")),
            "endDate": _date(d.get("end")),
            "location": _place(d.get("place")),
            "country": ["az"],
            "keywords": [str(d[k]) for k in ("type", "status") if d.get(k)],
            "involved": sorted(
                {*involved.get(rid, []), *(u for unit in d.get("units") or [] for u in ref(unit))}
            ),
            "organizer": sorted(set(organizers.get(rid, []))),
        }
        out.append(_entity("Event", _id(rid), props))
    yield from out


def archive_records(archive: Archive) -> list[Record]:
    """Every record of the archive in creation order, without notes or sealed fields."""
    from sqlalchemy import select

    from sahid.schema import records

    out: list[Record] = []
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(records.c.id, records.c.type, records.c.data).order_by(
                records.c.created_seq, records.c.id
            )
        )
        for rid, rtype, raw in rows:
            out.append((str(rid), str(rtype), public_data(json.loads(raw))))
    return out


PRIVATE_KEYS = frozenset({"note", "sealed", "erased"})


def public_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A record's data without its notes and sealed fields (FtM never holds those)."""
    return {k: v for k, v in data.items() if k not in PRIVATE_KEYS}


def to_lines(items: Iterable[dict[str, Any]]) -> str:
    """FtM's line-delimited JSON: one entity per line, keys sorted."""
    return "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in items)
