"""What a published site may show, loaded in a few queries and filtered (DESIGN §7).

Protection by default: only incidents marked ``publish`` with an included status, and
the records that belong to them, are selected. The views built here carry no ``note``
fields, no sealed data, no evidence file names or sources, and persons only by
pseudonym unless every role they have is ``official``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from sahid.errors import InputError, NotFound
from sahid.ledger import Entry, parse_entry
from sahid.places import Gazetteer, Place
from sahid.records.model import STATUSES
from sahid.schema import derivations, entries, evidence, records

if TYPE_CHECKING:
    from sahid.archive import Archive

CHILD_TYPES = ("act", "detention", "charge", "case", "statement")
MEDIA_EXT = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
}


def media_kind(media_type: str) -> str | None:
    """ "image", "video" or "audio" for media that must be redacted; None otherwise."""
    if media_type.startswith("image/"):
        return "image"
    if media_type.startswith("video/"):
        return "video"
    if media_type.startswith("audio/"):
        return "audio"
    return None


@dataclass
class Media:
    """A redacted copy to publish (decrypted later), or an item kept in the archive."""

    evidence_id: str  # the linked item
    kind: str  # image | video | audio | document
    copy_id: str | None = None
    copy_sha256: str | None = None
    original_sha256: str | None = None
    media_type: str = ""
    operations: list[dict[str, Any]] = field(default_factory=list)
    seq: int | None = None  # of the redaction.made entry
    copy_added_seq: int | None = None  # of the copy's evidence.added entry

    @property
    def file(self) -> str | None:
        if self.copy_sha256 is None:
            return None
        return f"{self.copy_sha256}.{MEDIA_EXT.get(self.media_type, 'bin')}"


@dataclass
class Loaded:
    """Everything the site needs, keyed by id."""

    records: dict[str, tuple[str, dict[str, Any], str | None, int, int]]
    by_parent: dict[str, list[str]]
    links_by_target: dict[str, list[str]]
    evidence: dict[str, dict[str, Any]]
    copies: dict[str, list[dict[str, Any]]]  # original id -> derivations (seq order)
    copy_ids: frozenset[str]


def load(archive: Archive) -> Loaded:
    """All records, evidence rows (no names, sources or notes) and derivations: 3 queries."""
    recs: dict[str, tuple[str, dict[str, Any], str | None, int, int]] = {}
    by_parent: dict[str, list[str]] = {}
    links_by_target: dict[str, list[str]] = {}
    with archive.engine.connect() as conn:
        for rid, rtype, raw, parent, cseq, useq in conn.execute(
            select(
                records.c.id,
                records.c.type,
                records.c.data,
                records.c.parent,
                records.c.created_seq,
                records.c.updated_seq,
            ).order_by(records.c.created_seq, records.c.id)
        ):
            data: dict[str, Any] = json.loads(raw)
            data.pop("sealed", None)
            data.pop("note", None)
            recs[rid] = (rtype, data, parent, int(cseq), int(useq))
            if parent is not None:
                by_parent.setdefault(parent, []).append(rid)
            if rtype == "link":
                links_by_target.setdefault(str(data["target"]), []).append(rid)
        ev = {
            r.evidence_id: {"sha256": r.sha256, "media_type": r.media_type, "seq": r.added_seq}
            for r in conn.execute(
                select(
                    evidence.c.evidence_id,
                    evidence.c.sha256,
                    evidence.c.media_type,
                    evidence.c.added_seq,
                )
            )
        }
        copies: dict[str, list[dict[str, Any]]] = {}
        for r in conn.execute(select(derivations).order_by(derivations.c.seq)):
            copies.setdefault(r.original_id, []).append(
                {
                    "copy": r.copy_id,
                    "kind": r.kind,
                    "operations": json.loads(r.operations),
                    "seq": int(r.seq),
                }
            )
    copy_ids = frozenset(d["copy"] for ds in copies.values() for d in ds)
    return Loaded(recs, by_parent, links_by_target, ev, copies, copy_ids)


@dataclass
class Selection:
    """The published part of the archive."""

    incidents: list[str]  # newest first
    children: dict[str, list[str]]  # incident -> child record ids (created order)
    links: dict[str, list[str]]  # incident or statement -> link ids
    persons: set[str]
    units: set[str]
    media: dict[str, Media]  # evidence id -> what is shown
    record_ids: set[str]  # every record whose content appears


def check_include(include: Sequence[str]) -> tuple[str, ...]:
    for s in include:
        if s not in STATUSES:
            raise InputError(f"unknown status {s!r} to include; allowed: {', '.join(STATUSES)}")
    return tuple(include)


def sort_key(date: str) -> str:
    return date.lstrip("~")


def select_published(data: Loaded, include: Sequence[str]) -> Selection:
    """Published incidents and what belongs to them; refuses unredacted linked media."""
    wanted = set(check_include(include))
    incs = [
        rid
        for rid, (rtype, d, _, _, _) in data.records.items()
        if rtype == "incident" and d.get("publish") is True and d.get("status") in wanted
    ]
    incs.sort(key=lambda i: (sort_key(data.records[i][1]["start"]), i), reverse=True)
    children: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    persons: set[str] = set()
    units: set[str] = set()
    media: dict[str, Media] = {}
    ids: set[str] = set(incs)
    unredacted: list[tuple[str, str]] = []  # (incident, evidence) for one error naming all
    for inc in incs:
        d = data.records[inc][1]
        units.update(d.get("units", []))
        kids = [c for c in data.by_parent.get(inc, []) if data.records[c][0] in CHILD_TYPES]
        children[inc] = kids
        ids.update(kids)
        targets = [inc] + [c for c in kids if data.records[c][0] == "statement"]
        for target in targets:
            lks = sorted(
                data.links_by_target.get(target, []),
                key=lambda k: (data.records[k][1].get("claim", 0), k),
            )
            links[target] = lks
            ids.update(lks)
            for lk in lks:
                eid = str(data.records[lk][1]["evidence"])
                if eid not in media and (inc, eid) not in unredacted:
                    found = _media(data, inc, eid)
                    if found is None:
                        unredacted.append((inc, eid))
                    else:
                        media[eid] = found
        for c in kids:
            cd = data.records[c][1]
            for key in ("victim", "perpetrator", "person"):
                if cd.get(key):
                    persons.add(str(cd[key]))
            persons.update(cd.get("persons", []))
            for key in ("perpetrator_unit", "unit", "court", "source_unit"):
                if cd.get(key):
                    units.add(str(cd[key]))
    for p in list(persons):
        pd = data.records.get(p)
        if pd is not None and _official(pd[1]) and pd[1].get("unit"):
            units.add(str(pd[1]["unit"]))
    if unredacted:
        items = ", ".join(f"evidence {eid} (incident {inc})" for inc, eid in unredacted)
        first = unredacted[0][1]
        raise InputError(
            f"{len(unredacted)} linked item(s) have no redacted copy and cannot be published: "
            f"{items}; run `sahid redact ID` for each (for example `sahid redact {first}`) "
            "or unlink them"
        )
    persons = {p for p in persons if p in data.records}
    units = {u for u in units if u in data.records}
    ids.update(persons)
    ids.update(units)
    return Selection(incs, children, links, persons, units, media, ids)


def _media(data: Loaded, incident: str, eid: str) -> Media | None:
    """What to publish for linked evidence ``eid``; None if it has no redacted copy."""
    row = data.evidence.get(eid)
    if row is None:
        raise NotFound(f"incident {incident} links evidence {eid}, which is not in the archive")
    kind = media_kind(row["media_type"])
    if kind is None:
        return Media(eid, "document", media_type=row["media_type"])
    if eid in data.copy_ids:  # the link already points at a redacted copy
        for original, ds in data.copies.items():
            for d in ds:
                if d["copy"] == eid:
                    return Media(
                        eid,
                        kind,
                        eid,
                        row["sha256"],
                        data.evidence[original]["sha256"],
                        row["media_type"],
                        d["operations"],
                        d["seq"],
                        int(row["seq"]),
                    )
    made = data.copies.get(eid, [])
    if not made:
        return None
    d = made[-1]  # the newest copy
    copy = data.evidence[d["copy"]]
    return Media(
        eid,
        kind,
        d["copy"],
        copy["sha256"],
        row["sha256"],
        copy["media_type"],
        d["operations"],
        d["seq"],
        int(copy["seq"]),
    )


def _official(person: dict[str, Any]) -> bool:
    roles = person.get("roles", [])
    return bool(roles) and all(r.get("role") == "official" for r in roles)


def person_view(person: dict[str, Any]) -> dict[str, Any]:
    """What may be shown of a person: officials by name, everyone else by pseudonym."""
    if _official(person) and person.get("public_name"):
        return {
            "official": True,
            "name": str(person["public_name"]),
            "position": str(person.get("position") or ""),
            "unit": person.get("unit"),
        }
    pseudonym = str(person.get("pseudonym") or "")
    role, _, letter = pseudonym.rpartition(" ")
    return {
        "official": False,
        "role": role.casefold() if role else "",
        "letter": letter if role else pseudonym,
        "age_group": str(person.get("age_group") or "unknown"),
    }


def district_of(gaz: Gazetteer, place: dict[str, Any] | None) -> Place | None:
    """The district or city a record's place lies in (None if unknown)."""
    if not place or not place.get("place"):
        return None
    try:
        p = gaz.get(str(place["place"]))
    except NotFound:
        return None
    if p.kind in ("district", "city") or p.district is None:
        return p
    try:
        return gaz.get(p.district)
    except NotFound:
        return None


def revealed_entries(
    archive: Archive, data: Loaded, ids: Iterable[str], parsed: dict[int, Entry] | None = None
) -> tuple[list[int], dict[int, str]]:
    """Seqs of the entries that created or changed the given records, and entry times.

    ``parsed``, if given, receives every entry read on the way (by seq), so the proofs
    need not open and parse them again.
    """
    keep: dict[int, Entry] = {} if parsed is None else parsed
    wanted = set(ids)
    seqs: set[int] = set()
    scan: list[tuple[int, int]] = []
    for rid in wanted:
        _, _, _, cseq, useq = data.records[rid]
        seqs.add(cseq)
        seqs.add(useq)
        if useq > cseq:
            scan.append((cseq, useq))
    times: dict[int, str] = {}
    ledger = archive.ledger
    with archive.engine.connect() as conn:
        if scan:
            lo = min(a for a, _ in scan) + 1
            hi = max(b for _, b in scan)
            for seq, sealed in conn.execute(
                select(entries.c.seq, entries.c.sealed)
                .where(entries.c.seq >= lo, entries.c.seq <= hi)
                .order_by(entries.c.seq)
            ):
                e = parse_entry(ledger.sealer.open(seq, sealed), f"entry {seq}")
                times[int(seq)] = e.ts
                keep[int(seq)] = e
                if e.kind in ("record.updated", "erased") and e.body.get("id") in wanted:
                    seqs.add(int(seq))
        missing = sorted(seqs - set(times))
        for start in range(0, len(missing), 500):
            chunk = missing[start : start + 500]
            for seq, sealed in conn.execute(
                select(entries.c.seq, entries.c.sealed).where(entries.c.seq.in_(chunk))
            ):
                e = parse_entry(ledger.sealer.open(seq, sealed), f"entry {seq}")
                times[int(seq)] = e.ts
                keep[int(seq)] = e
    for seq in [s for s in keep if s not in seqs]:
        del keep[seq]
    return sorted(seqs), times
