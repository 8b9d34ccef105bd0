"""The records API behind ``Archive.records`` (create, update, link, erase, search).

Every change is one ledger entry; a batch (an import, a person with their sealed key)
is one transaction, so it lands whole or not at all. Input is checked against
:mod:`sahid.records.model` before anything is written, and errors name the row or
field (``where``) and what is allowed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, text

from sahid.errors import InputError, NotFound, VerificationError
from sahid.records import duplicates as dup
from sahid.records import search as fts
from sahid.records.dates import parse_date
from sahid.records.model import (
    PROTECTED_ROLES,
    TYPES,
    Checker,
    check_id,
    check_lang,
    check_sealed,
    enum_value,
    is_protected,
    record_type,
)
from sahid.records.sealed import PersonSealer
from sahid.schema import evidence, records

if TYPE_CHECKING:
    from sahid.archive import Archive
    from sahid.places import Gazetteer

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


@dataclass
class Draft:
    """One record to create: raw input, checked when the batch is created."""

    type: str
    fields: dict[str, Any]
    id: str | None = None
    sealed: dict[str, str] | None = None  # plaintext name/contacts/notes of a person
    where: str = ""  # prefix of error messages: "incidents.csv row 2, column "
    erased: bool = False  # a person erased in the archive exported from
    row: str = ""  # the row, for messages about a whole row: "incidents.csv row 2"


@dataclass
class Created:
    ids: list[str]
    warnings: list[str] = field(default_factory=list)


def title_of(rtype: str, data: Mapping[str, Any], lang: str = "en") -> str:
    """What listings show: a title in ``lang``, a pseudonym for protected persons."""
    if rtype == "person":
        return str(data.get("public_name") or data.get("pseudonym") or "")
    value = data.get(TYPES[rtype].title) if rtype in TYPES else None
    if isinstance(value, dict):
        for key in (lang, "en", "az", "ru"):
            if value.get(key):
                return str(value[key])
        return ""
    return "" if value is None else str(value)


#: Fields that are never published: a private note, a person's sealed box.
PRIVATE_FIELDS = ("note", "sealed")


def _public_first(kind: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``body`` as entries whose public part stands alone: what was given, without its
    note and sealed box, then (if there were any) a ``record.updated`` setting them.

    A published site reveals the entries behind each published record; an entry holding
    a note or a name must stay withheld (only its leaf hash and proof are shown). Kept
    apart, the public entry can be revealed and checked, and the private one withheld.
    """
    holder = "set" if kind == "record.updated" else "fields"
    fields = dict(body[holder])
    private = {k: fields.pop(k) for k in PRIVATE_FIELDS if k in fields}
    if kind != "record.updated" and "sealed" in body:
        private["sealed"] = body["sealed"]
        body = {k: v for k, v in body.items() if k != "sealed"}
    if not private:
        return [(kind, body)]
    out: list[tuple[str, dict[str, Any]]] = []
    if fields or kind != "record.updated":
        out.append((kind, {**body, holder: fields}))
    out.append(("record.updated", {"type": body["type"], "id": body["id"], "set": private}))
    return out


def letters(n: int) -> str:
    """0 → A, 25 → Z, 26 → AA: pseudonym letters."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


class Records:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.sealer = PersonSealer(archive.vault.subkey("person-keys"), archive.config.archive_id)

    @property
    def gazetteer(self) -> Gazetteer:
        from sahid.places import Gazetteer

        return Gazetteer.load()

    # -- reading -------------------------------------------------------------------------
    def _existing(self, conn: Connection, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are records already (one query per 500 ids)."""
        found: set[str] = set()
        for at in range(0, len(ids), 500):
            chunk = list(ids[at : at + 500])
            found.update(conn.scalars(select(records.c.id).where(records.c.id.in_(chunk))))
        return found

    def _row(self, conn: Connection, rid: str) -> tuple[str, dict[str, Any]] | None:
        row = conn.execute(
            select(records.c.type, records.c.data).where(records.c.id == rid)
        ).first()
        return None if row is None else (str(row.type), fts.load_json(row.data))

    def get(self, rid: str, *, reveal: bool = False, rtype: str | None = None) -> dict[str, Any]:
        """A record's fields; ``reveal`` opens a person's sealed fields (or says erased)."""
        with self.archive.engine.connect() as conn:
            found = self._row(conn, rid)
            if found is None or (rtype is not None and found[0] != rtype):
                what = rtype or "record"
                raise NotFound(f"no {what} with id {rid!r}; list them with `sahid {what} ls`")
            kind, data = found
            meta = conn.execute(
                select(records.c.created_seq, records.c.updated_seq).where(records.c.id == rid)
            ).one()
            out: dict[str, Any] = {"id": rid, "type": kind, "title": title_of(kind, data)}
            sealed = data.pop("sealed", None)
            out["fields"] = data
            if kind == "person":
                if data.get("erased"):
                    out["sealed"] = "erased"
                elif sealed is not None:
                    out["sealed"] = self.sealer.open(conn, rid, sealed) if reveal else "sealed"
            out["created_seq"], out["updated_seq"] = meta
            if kind in ("incident", "statement"):
                out["links"] = self._links(conn, rid)
            if kind == "incident":
                out["related"] = [
                    {
                        "id": r.id,
                        "type": r.type,
                        "title": title_of(r.type, fts.load_json(r.data)),
                    }
                    for r in conn.execute(
                        select(records.c.id, records.c.type, records.c.data)
                        .where(records.c.parent == rid)
                        .order_by(records.c.created_seq)
                    )
                ]
        return out

    def _links(self, conn: Connection, target: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            text(
                "SELECT r.id, r.data FROM records r WHERE r.type = 'link' AND r.id IN "
                "(SELECT origin FROM facets WHERE value = :t)"
            ),
            {"t": target},
        )
        out = []
        for rid, data in rows:
            d = fts.load_json(data)
            if d["target"] == target:
                out.append({"id": rid, **d})
        return sorted(out, key=lambda d: (d.get("claim", 0), d["id"]))

    def of_type(self, rtype: str, *, lang: str = "en") -> list[dict[str, Any]]:
        record_type(rtype)
        with self.archive.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.id, records.c.data)
                .where(records.c.type == rtype)
                .order_by(records.c.created_seq)
            ).all()
        out = []
        for rid, raw in rows:
            data = fts.load_json(raw)
            data.pop("sealed", None)
            out.append({"id": rid, "title": title_of(rtype, data, lang), "fields": data})
        return out

    # -- writing -------------------------------------------------------------------------
    def _checker(self, conn: Connection, pending: dict[str, str]) -> Checker:
        def exists(types: tuple[str, ...], rid: str) -> bool:
            if rid in pending:
                return pending[rid] in types
            found = conn.execute(select(records.c.type).where(records.c.id == rid)).scalar()
            return found in types

        def resolve_place(name: str, district: str | None) -> str | None:
            place = self.gazetteer.resolve(name, district)
            return None if place is None else place.id

        def resolve_evidence(value: str) -> str | None:
            value = value.strip()
            col = evidence.c.evidence_id
            if value.startswith("sha256:"):
                col, value = evidence.c.sha256, value[7:].lower()
            found = conn.execute(select(evidence.c.evidence_id).where(col == value)).scalar()
            return None if found is None else str(found)

        def place_known(place_id: str) -> bool:
            try:
                self.gazetteer.get(place_id)
            except NotFound:
                return False
            return True

        return Checker(
            exists,
            resolve_place,
            resolve_evidence,
            now=self.archive._now(),
            place_known=place_known,
        )

    def kind_of(self, rid: str) -> str | None:
        """The type of record ``rid`` (None if there is none)."""
        with self.archive.engine.connect() as conn:
            found = self._row(conn, rid)
        return None if found is None else found[0]

    def _new_id(self, conn: Connection, prefix: str, taken: Mapping[str, str]) -> str:
        while True:
            rid = prefix + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
            if rid not in taken and self._row(conn, rid) is None:
                return rid

    def create(
        self,
        drafts: Sequence[Draft],
        *,
        imported: bool = False,
        allow_duplicates: bool = False,
    ) -> Created:
        """Check and append a batch of records in one transaction (all or nothing).

        ``imported`` fingerprints every record (:mod:`sahid.records.duplicates`) and
        refuses rows imported before, unless ``allow_duplicates``.
        """
        if not drafts:
            raise InputError("nothing to add")
        items: list[tuple[str, dict[str, Any]]] = []
        keys: list[tuple[str, bytes]] = []
        rows: list[dup.Row] = []
        fp_key = self.archive.vault.subkey(dup.SUBKEY) if imported else b""
        with self.archive.engine.connect() as conn:
            pending: dict[str, str] = {}
            # (an id that is not text is refused by check_id below, in row order)
            existing = self._existing(conn, [d.id for d in drafts if isinstance(d.id, str)])
            for d in drafts:
                rtype = record_type(d.type)
                if d.id is not None:
                    check_id(d.id, f"{d.where}id" if d.where else "id")
                    if d.id in pending:
                        raise InputError(f"{d.where}id {d.id!r} appears twice in this batch")
                    if d.id in existing:
                        raise InputError(
                            f"{d.where}id {d.id!r} already exists in the archive "
                            "(imported before?); nothing was added"
                        )
                    pending[d.id] = rtype.name
            ids = [d.id or "" for d in drafts]
            for i, d in enumerate(drafts):
                if not ids[i]:
                    ids[i] = self._new_id(conn, record_type(d.type).prefix, pending)
                    pending[ids[i]] = d.type
            checker = self._checker(conn, pending)
            made: dict[str, dict[str, Any]] = {}
            counts: dict[tuple[str, str], int] = {}
            for rid, d in zip(ids, drafts, strict=True):
                rtype = record_type(d.type)
                values = checker.fields(rtype, d.fields, d.where)
                self._rules(conn, rtype.name, values, d.where, made, rid)
                body: dict[str, Any] = {"type": rtype.name, "id": rid, "fields": values}
                sealed: tuple[bytes, dict[str, str]] | None = None
                auto = not values.get("pseudonym")
                if rtype.name == "person":
                    sealed = self._person(conn, rid, values, d, body, keys, counts)
                elif d.sealed:
                    raise InputError(f"{d.where}sealed fields exist only for persons")
                elif d.erased:
                    raise InputError(f"{d.where}erased: only persons are erased")
                if imported:
                    public = {k: v for k, v in values.items() if not (auto and k == "pseudonym")}
                    body["fingerprint"] = dup.fingerprint(fp_key, rtype.name, public, d.erased)
                    if sealed is not None:
                        body["sealed_fingerprint"] = dup.sealed_fingerprint(*sealed)
                    rows.append(dup.Row(body["fingerprint"], sealed[1] if sealed else None))
                made[rid] = values
                kind = "link.added" if rtype.name == "link" else "record.created"
                items.extend(_public_first(kind, body))
                if d.erased:
                    items.append(("erased", {"type": "person", "id": rid}))
            if imported and not allow_duplicates:
                found = dup.first_duplicate(conn, self.sealer, rows)
                if found is not None:
                    d = drafts[found[0]]
                    row = d.row or d.where.rstrip(". ") or f"record {found[0] + 1}"
                    raise InputError(
                        f"{row}: this {d.type} was imported before as {found[1]}; nothing was "
                        "imported (give rows ids to tell them apart, or import again with "
                        "--allow-duplicates)"
                    )

        def store_keys(conn: Connection) -> None:
            for pid, wrapped in keys:
                self.sealer.store_key(conn, pid, wrapped)

        self.archive.append_batch(items, also=store_keys if keys else None)
        return Created(ids, checker.unresolved)

    def _person(
        self,
        conn: Connection,
        rid: str,
        values: dict[str, Any],
        d: Draft,
        body: dict[str, Any],
        keys: list[tuple[str, bytes]],
        counts: dict[tuple[str, str], int],
    ) -> tuple[bytes, dict[str, str]] | None:
        """Pseudonym, public name and sealed fields; returns (data key, sealed fields)."""
        protected = is_protected(values["roles"])
        if protected and values.get("public_name"):
            raise InputError(
                f"{d.where}public_name: a {values['roles'][0]['role']}'s name is sealed, "
                "not public; give it as the sealed name (--name) instead"
            )
        sealed = {k: v for k, v in check_sealed(d.sealed or {}, d.where).items() if v}
        if d.erased and sealed:
            raise InputError(
                f"{d.where}sealed: an erased person has no sealed fields; "
                "drop them, or the erased mark"
            )
        if not protected and "name" in sealed and not values.get("public_name"):
            values["public_name"] = sealed.pop("name")  # officials acting in office are named
        if not values.get("pseudonym"):
            first = next(
                (r for r in values["roles"] if r["role"] in PROTECTED_ROLES), values["roles"][0]
            )
            slot = (first["incident"], first["role"])
            if slot not in counts:
                counts[slot] = self._count_role(conn, *slot)
            values["pseudonym"] = f"{first['role'].capitalize()} {letters(counts[slot])}"
            counts[slot] += 1
        if not sealed:
            return None
        key, wrapped = self.sealer.new_key(rid)
        body["sealed"] = self.sealer.seal(rid, key, sealed)
        keys.append((rid, wrapped))
        return key, sealed

    def _count_role(self, conn: Connection, incident: str, role: str) -> int:
        rows = conn.execute(
            text(
                "SELECT r.data FROM records r JOIN facets f ON f.id = r.id "
                "WHERE r.type = 'person' AND f.key = 'incident' AND f.value = :i"
            ),
            {"i": incident},
        )
        n = 0
        for (raw,) in rows:
            roles = fts.load_json(raw)["roles"]
            first = next((r for r in roles if r["role"] in PROTECTED_ROLES), roles[0])
            n += (first["incident"], first["role"]) == (incident, role)
        return n

    def _data(
        self, conn: Connection, rid: str, made: Mapping[str, dict[str, Any]]
    ) -> dict[str, Any]:
        if rid in made:
            return dict(made[rid])
        found = self._row(conn, rid)
        return {} if found is None else found[1]

    def _rules(
        self,
        conn: Connection,
        rtype: str,
        v: dict[str, Any],
        where: str,
        made: Mapping[str, dict[str, Any]],
        rid: str,
    ) -> None:
        """Checks that span fields or records."""
        if rtype == "unit" and v.get("parent"):
            chain, at = [rid], v["parent"]
            while at is not None and at not in chain:
                chain.append(at)
                at = self._data(conn, at, made).get("parent")
            if at == rid:
                raise InputError(
                    f"{where}parent: {v['parent']} would make the unit hierarchy loop "
                    f"({' → '.join([*chain, rid])}); a unit cannot lie within itself"
                )
        if rtype in ("incident", "detention") and v.get("end") and v.get("start"):
            lo = parse_date(v["start"], "start").bounds()[0]
            if parse_date(v["end"], "end").bounds()[1] < lo:
                raise InputError(f"{where}end: {v['end']} is before start {v['start']}")
        if rtype == "statement":
            if not v.get("source") and not v.get("source_unit"):
                raise InputError(
                    f"{where}source: give the source (text) or source_unit (a unit id)"
                )
            check_lang(v["language"], f"{where}language")
        if rtype == "charge" and not v.get("article") and not v.get("label"):
            raise InputError(f"{where}article: give the article, the label, or both")
        if rtype == "link":
            target = self._data(conn, v["target"], made)
            is_statement = "language" in target  # statements alone have a language
            if v.get("claim") is not None:
                numbers = [c["n"] for c in target.get("claims", [])]
                if not is_statement or v["claim"] not in numbers:
                    raise InputError(
                        f"{where}claim: {v['target']} has no claim {v['claim']}"
                        + (f"; its claims are {', '.join(map(str, numbers))}" if numbers else "")
                    )
            if v.get("relation") in ("supports", "contradicts") and not is_statement:
                raise InputError(
                    f"{where}relation: evidence can support or contradict a statement's claim; "
                    "an incident link is 'documents'"
                )

    def add(
        self,
        rtype: str,
        fields: dict[str, Any],
        *,
        rid: str | None = None,
        sealed: dict[str, str] | None = None,
    ) -> Created:
        return self.create([Draft(rtype, fields, rid, sealed)])

    def update(
        self, rid: str, fields: dict[str, Any], *, sealed: Mapping[str, str | None] | None = None
    ) -> Created:
        """Change fields (None clears one) in one ``record.updated`` entry.

        ``sealed`` (persons only) sets name, contacts or notes (None or "" clears one):
        sealed under the person's data key, made now if the person had none, unless the
        person was erased. An official's name is their public name.
        """
        keys: list[tuple[str, bytes]] = []
        with self.archive.engine.connect() as conn:
            found = self._row(conn, rid)
            if found is None:
                raise NotFound(f"no record with id {rid!r}")
            rtype, data = found
            checker = self._checker(conn, {})
            values = checker.fields(record_type(rtype), fields, "", partial=True)
            merged = {k: v for k, v in {**data, **values}.items() if v is not None}
            self._rules(conn, rtype, merged, "", {}, rid)
            if rtype == "person":
                given = check_sealed(sealed or {}, "")
                if not is_protected(merged["roles"]):
                    if "name" in given:  # officials acting in office are named
                        values["public_name"] = given.pop("name")
                elif merged.get("public_name"):
                    raise InputError("public_name: a protected person's name stays sealed")
                if given:
                    box = self._reseal(conn, rid, data, given, keys)
                    if box is not None or "sealed" in data:
                        values["sealed"] = box
            elif sealed:
                raise InputError("sealed fields exist only for persons")
        if not values:
            raise InputError("nothing to change: give at least one field")

        def store_keys(conn: Connection) -> None:
            for pid, wrapped in keys:
                self.sealer.store_key(conn, pid, wrapped)

        self.archive.append_batch(
            _public_first("record.updated", {"type": rtype, "id": rid, "set": values}),
            also=store_keys if keys else None,
        )
        return Created([rid], checker.unresolved)

    def _reseal(
        self,
        conn: Connection,
        rid: str,
        data: Mapping[str, Any],
        given: Mapping[str, str | None],
        keys: list[tuple[str, bytes]],
    ) -> str | None:
        """The new sealed box of person ``rid`` (None once every field is cleared)."""
        if data.get("erased"):
            raise InputError(
                f"{rid} was erased; its sealed fields are gone and cannot be set again "
                "(add the person anew if they agree)"
            )
        key = self.sealer.key(conn, rid)
        old: dict[str, Any] = {}
        if "sealed" in data:
            opened = self.sealer.open(conn, rid, data["sealed"]) if key is not None else None
            if opened is None:
                raise VerificationError(
                    f"the data key of {rid} is missing though it was not erased; "
                    "its sealed fields cannot be opened",
                    where=f"person {rid}",
                )
            old = opened
        new = {k: v for k, v in {**old, **given}.items() if v}
        if not new:
            return None
        if key is None:
            key, wrapped = self.sealer.new_key(rid)
            keys.append((rid, wrapped))
        return self.sealer.seal(rid, key, new)

    def erase(self, person_id: str) -> None:
        """Destroy a person's data key: their sealed fields become unrecoverable."""
        with self.archive.engine.connect() as conn:
            found = self._row(conn, person_id)
            if found is None or found[0] != "person":
                raise NotFound(f"no person with id {person_id!r}; see `sahid person ls`")
            if found[1].get("erased"):
                raise InputError(f"{person_id} was already erased")

        def destroy(conn: Connection) -> None:
            self.sealer.destroy(conn, person_id)

        self.archive.append_batch([("erased", {"type": "person", "id": person_id})], also=destroy)
        if self.archive.engine.dialect.name == "sqlite":
            # Outside any transaction: copy the WAL back and truncate it, so the old page
            # holding the key is overwritten in the main file and gone from the WAL.
            raw = self.archive.engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.close()

    # -- search --------------------------------------------------------------------------
    def filters(
        self,
        *,
        place: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        types: Sequence[str] = (),
        units: Sequence[str] = (),
        charges: Sequence[str] = (),
        statuses: Sequence[str] = (),
        kinds: Sequence[str] = (),
    ) -> fts.Filters:
        """Turn user filter values into id sets (places and units include what is within)."""
        f = fts.Filters()
        if place:
            found = self.gazetteer.resolve(place)
            if found is None:
                raise InputError(
                    f"--place: {place!r} is not in the gazetteer; search for it as text instead"
                )
            # "Imishli" is the town and the district named after it: filter on both.
            area = found.district if self.gazetteer.is_seat(found) else found.id
            f.places = self.gazetteer.within(area or found.id)
        if date_from:
            f.date_from = parse_date(date_from, "--from").bounds()[0]
        if date_to:
            f.date_to = parse_date(date_to, "--to").bounds()[1]
        if f.date_from and f.date_to and f.date_from > f.date_to:
            raise InputError(f"--from {date_from} is after --to {date_to}")
        incident = TYPES["incident"]
        if types:
            f.types = frozenset(enum_value(incident.field("type"), t, "--type") for t in types)
        if statuses:
            field = incident.field("status")
            f.statuses = frozenset(enum_value(field, s, "--status") for s in statuses)
        if kinds:
            allowed = (*TYPES, "evidence")
            for k in kinds:
                if k not in allowed:
                    raise InputError(f"--kind: {k!r} is not allowed; allowed: {', '.join(allowed)}")
            f.kinds = frozenset(kinds)
        if units:
            f.units = self._units(units)
        if charges:
            from sahid.records.project import charge_keys

            f.charges = frozenset(
                k for c in charges for k in charge_keys({"label": c, "article": c})
            )
        return f

    def _units(self, wanted: Sequence[str]) -> frozenset[str]:
        """Unit ids (or names in any language) plus every unit below them."""
        from sahid import text as fold

        with self.archive.engine.connect() as conn:
            rows = conn.execute(
                select(records.c.id, records.c.data).where(records.c.type == "unit")
            ).all()
        units = {rid: fts.load_json(raw) for rid, raw in rows}
        found: set[str] = set()
        for w in wanted:
            key = fold.search_key(w)
            hit = [
                rid
                for rid, d in units.items()
                if rid == w or any(fold.search_key(n) == key for n in d["name"].values())
            ]
            if not hit:
                raise InputError(f"--unit: no unit {w!r}; list them with `sahid unit ls`")
            found.update(hit)
        grew = True
        while grew:
            below = {rid for rid, d in units.items() if d.get("parent") in found}
            grew = not below <= found
            found |= below
        return frozenset(found)

    def match_groups(self, query: str, keys: Sequence[str] | None = None) -> fts.Groups | None:
        """The phrases ``search`` looks for (None without words): each word as a prefix,
        or its stem; a place, or its other names."""
        keys = fts.query_keys(query) if keys is None else keys
        if not keys:
            return None
        alts: dict[int, set[str]] = {}
        for place in self.gazetteer.match_words(query):
            names = self.gazetteer.keys(place.id)
            for i, k in enumerate(keys):
                if k in names:
                    alts.setdefault(i, set()).update(names)
        return fts.match_groups(keys, alts)

    def match_expression(self, query: str, keys: Sequence[str] | None = None) -> str | None:
        """The FTS5 expression of :meth:`match_groups` (None without words)."""
        groups = self.match_groups(query, keys)
        return fts.render(groups) if groups else None

    def search(
        self,
        query: str,
        filters: fts.Filters | None = None,
        *,
        limit: int = 20,
        offset: int = 0,
        ranking: str = "window",
    ) -> list[fts.Hit]:
        """Ranked matches with snippets; ``ranking="all"`` scores every match, not only
        the newest ones (see :data:`sahid.records.search.WINDOW`)."""
        if ranking not in ("window", "all"):
            raise InputError(f"--ranking: {ranking!r} is not allowed; allowed: window, all")
        filters = filters or fts.Filters()
        keys = fts.query_keys(query)
        groups = self.match_groups(query, keys)
        if not keys and filters == fts.Filters():
            raise InputError("give words to search for, or at least one filter")
        with self.archive.engine.connect() as conn:
            rows = fts.run_query(conn, groups, filters, limit, offset, ranking=ranking)
            return self._hits(conn, rows, fts.snippet_keys(keys, groups))

    def _hits(
        self, conn: Connection, rows: list[tuple[str, str, float]], keys: list[str]
    ) -> list[fts.Hit]:
        from sahid.records.project import texts_of

        ids = tuple(r[0] for r in rows if r[1] != "evidence")
        # Plain SQL: SQLAlchemy built this select afresh for each search (its IN list
        # has a new length each time), about 0.3 ms a search under the profiler.
        marks = ", ".join("?" * len(ids))
        datas = {
            str(rid): fts.load_json(raw)
            for rid, raw in conn.exec_driver_sql(
                f"SELECT id, data FROM records WHERE id IN ({marks})",  # noqa: S608
                ids,
            )
        }
        ev_ids = [r[0] for r in rows if r[1] == "evidence"]
        evs = (
            {
                r.evidence_id: r
                for r in conn.execute(
                    select(
                        evidence.c.evidence_id, evidence.c.name, evidence.c.source, evidence.c.note
                    ).where(evidence.c.evidence_id.in_(ev_ids))
                )
            }
            if ev_ids
            else {}
        )
        hits = []
        for rid, rtype, rank in rows:
            hit = fts.Hit(rid, rtype, rank)
            if rtype == "evidence":
                ev = evs[rid]
                texts = [t for t in (ev.note, ev.source, ev.name) if t]
                hit.title = ev.name or rid
            else:
                data = datas[rid]
                data.pop("sealed", None)
                texts = texts_of(TYPES[rtype], data)
                hit.title = title_of(rtype, data)
            hit.snippet = fts.snippet(texts, keys)
            hits.append(hit)
        return hits
