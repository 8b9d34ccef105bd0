"""The record types (DESIGN §4, after HURIDOCS Events) and how their fields are checked.

Each type is a table of :class:`Field` specs. The same specs validate CLI input, JSON
and CSV imports, generate the documented JSON Schema (``docs/records.schema.json``) and
name the CSV columns, so the formats cannot drift apart. Validation returns the stored
form (canonical, no floats) or raises :class:`InputError` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sahid.errors import InputError
from sahid.records.dates import parse_date

LANGS = ("az", "ru", "en")
STATUSES = ("unverified", "corroborated", "verified", "disputed")
INCIDENT_TYPES = (
    "killing",
    "injury",
    "ill_treatment",
    "torture",
    "arbitrary_detention",
    "enforced_disappearance",
    "home_raid",
    "protest_dispersal",
    "siege",
    "checkpoint",
    "extortion",
    "threat",
    "other",
)
ROLES = ("victim", "witness", "detainee", "protester", "official")
# People in these roles are protected: their names and contacts are sealed.
PROTECTED_ROLES = frozenset({"victim", "witness", "detainee", "protester"})
AGE_GROUPS = ("child", "adult", "elderly", "unknown")
GENDERS = ("female", "male", "other", "unknown")
UNIT_KINDS = ("police", "ministry", "security", "prosecutor", "court", "military", "other")
OUTCOMES = ("death", "injury", "detention", "property_damage", "none", "unknown")
DETENTION_OUTCOMES = ("released", "fined", "charged", "sentenced", "still_held", "unknown")
CHARGE_STATUSES = ("reported", "filed", "dropped", "convicted", "acquitted", "pending")
CASE_STATUSES = ("pending", "ongoing", "verdict", "appeal", "closed")
RELATIONS = ("documents", "supports", "contradicts")
SEALED_FIELDS = ("name", "contacts", "notes")

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# Characters no text a documenter types holds: C0 controls but tab, newline and carriage
# return, DEL, and the C1 controls (in a UTF-8 file, the trace of a wrong encoding).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_DIGITS = re.compile(r"[0-9]+")
MAX_INT = 2**53 - 1  # the largest integer an entry may hold (RFC 8785, I-JSON)
_URL = re.compile(r"https?://[^\s]+")
_LANG = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class Field:
    """One field of a record type: its kind decides how input is checked and stored."""

    name: str
    kind: str  # text ml enum date bool int ref refs place strings claims hearings roles url
    required: bool = False
    choices: tuple[str, ...] = ()
    ref: tuple[str, ...] = ()  # record types a ref/refs field may point to
    help: str = ""
    default: Any = None


@dataclass(frozen=True)
class RecordType:
    name: str
    prefix: str  # of generated ids
    fields: tuple[Field, ...]
    help: str = ""
    parent: str | None = None  # the field naming the incident a record belongs to
    title: str = "title"  # the field shown in listings
    index: tuple[str, ...] = field(default=())  # fields searched

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise InputError(
            f"{self.name} has no field {shown(name)}; "
            f"fields: {', '.join(f.name for f in self.fields)}"
        )


def _f(name: str, kind: str, **kw: Any) -> Field:
    return Field(name, kind, **kw)


NOTE = _f("note", "text", help="Free note (kept in the archive).")

TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        RecordType(
            "incident",
            "inc",
            (
                _f("title", "ml", required=True, help="What happened, in a few words."),
                _f("start", "date", required=True, help="When it started (with precision)."),
                _f("end", "date", help="When it ended, if it lasted."),
                _f("place", "place", help="Where: a place name in az, ru or en spelling."),
                _f("type", "enum", required=True, choices=INCIDENT_TYPES),
                _f("summary", "ml", help="A short, cautious account."),
                _f("status", "enum", choices=STATUSES, default="unverified"),
                _f("related", "refs", ref=("incident",), help="Related incidents."),
                _f("units", "refs", ref=("unit",), help="Units reported to be responsible."),
                _f("publish", "bool", default=False, help="Marked for publication."),
                NOTE,
            ),
            "An event: a killing, an injury, a dispersal, a raid.",
            index=("title", "summary", "place", "note"),
        ),
        RecordType(
            "person",
            "per",
            (
                _f("roles", "roles", required=True, help="Role per incident."),
                _f("pseudonym", "text", help="Shown instead of the name (set automatically)."),
                _f("age_group", "enum", choices=AGE_GROUPS, default="unknown"),
                _f("gender", "enum", choices=GENDERS, default="unknown"),
                _f("public_name", "text", help="Name of an official acting in office."),
                _f("position", "text", help="Official's position or rank."),
                _f("unit", "ref", ref=("unit",), help="Official's unit."),
            ),
            "A victim, witness, detainee, protester (sealed) or official (public).",
            title="pseudonym",
            index=("public_name", "position"),
        ),
        RecordType(
            "unit",
            "unit",
            (
                _f("name", "ml", required=True, help="Name of the unit or institution."),
                _f("kind", "enum", choices=UNIT_KINDS, default="police"),
                _f("parent", "ref", ref=("unit",), help="The unit it belongs to."),
                _f("place", "place", help="Where it sits."),
                NOTE,
            ),
            "A police unit, ministry, prosecutor's office or court, with hierarchy.",
            title="name",
            index=("name", "note"),
        ),
        RecordType(
            "act",
            "act",
            (
                _f("incident", "ref", required=True, ref=("incident",)),
                _f("victim", "ref", ref=("person",)),
                _f("perpetrator_unit", "ref", ref=("unit",)),
                _f("perpetrator", "ref", ref=("person",), help="An official (person)."),
                _f("type", "text", required=True, help="What was done, e.g. 'hit by vehicle'."),
                _f("outcome", "enum", choices=OUTCOMES, default="unknown"),
                _f("date", "date"),
                NOTE,
            ),
            "Who did what to whom.",
            parent="incident",
            title="type",
            index=("type", "note"),
        ),
        RecordType(
            "detention",
            "det",
            (
                _f("incident", "ref", ref=("incident",)),
                _f("person", "ref", required=True, ref=("person",)),
                _f("unit", "ref", ref=("unit",)),
                _f("start", "date", required=True),
                _f("end", "date"),
                _f("place", "place"),
                _f("outcome", "enum", choices=DETENTION_OUTCOMES, default="unknown"),
                NOTE,
            ),
            "A person held by a unit.",
            parent="incident",
            title="outcome",
            index=("place", "note"),
        ),
        RecordType(
            "charge",
            "chg",
            (
                _f("incident", "ref", ref=("incident",)),
                _f("person", "ref", ref=("person",)),
                _f("article", "text", help="Criminal/administrative code article, e.g. 221.3."),
                _f("label", "text", help="What the charge is called, e.g. hooliganism."),
                _f("status", "enum", choices=CHARGE_STATUSES, default="reported"),
                _f("case", "ref", ref=("case",)),
                NOTE,
            ),
            "A charge brought against a person.",
            parent="incident",
            title="label",
            index=("article", "label", "note"),
        ),
        RecordType(
            "case",
            "case",
            (
                _f("incident", "ref", ref=("incident",)),
                _f("court", "ref", ref=("unit",)),
                _f("judge", "text", help="Judge's name (public: acting in office)."),
                _f("number", "text", help="Case number."),
                _f("persons", "refs", ref=("person",)),
                _f("hearings", "hearings", help="Hearings: date and note."),
                _f("verdict", "text"),
                _f("sentence", "text"),
                _f("status", "enum", choices=CASE_STATUSES, default="pending"),
                NOTE,
            ),
            "A court case: court, judge, hearings, verdict, sentence.",
            parent="incident",
            title="number",
            index=("judge", "number", "verdict", "sentence", "note"),
        ),
        RecordType(
            "statement",
            "st",
            (
                _f("incident", "ref", ref=("incident",)),
                _f("source", "text", help="Who said it (if not a unit in the archive)."),
                _f("source_unit", "ref", ref=("unit",)),
                _f("date", "date", required=True),
                _f("language", "text", required=True, help="Language code: az, ru, en, ..."),
                _f("text", "text", required=True, help="The original text."),
                _f("translation", "ml", help="Translations."),
                _f("url", "url", help="Where it was published."),
                _f("capture", "ref", ref=("evidence",), help="Captured page (evidence id)."),
                _f("claims", "claims", help="The claims it makes, numbered."),
                NOTE,
            ),
            "An official or media claim, set beside the evidence.",
            parent="incident",
            title="text",
            index=("source", "text", "translation", "claims", "note"),
        ),
        RecordType(
            "link",
            "lnk",
            (
                _f("evidence", "ref", required=True, ref=("evidence",)),
                _f("target", "ref", required=True, ref=("incident", "statement")),
                _f("claim", "int", help="The statement's claim number."),
                _f("relation", "enum", choices=RELATIONS, default="documents"),
                _f("status", "enum", choices=STATUSES, default="unverified"),
                NOTE,
            ),
            "Evidence linked to an incident, or to a statement's claim it supports or "
            "contradicts; each link has its own verification status.",
            title="relation",
        ),
        RecordType(
            "source",
            "src",
            (
                _f("name", "text", required=True),
                _f("kind", "text", help="Channel, witness group, newspaper, ..."),
                _f("reliability", "text", help="Reliability notes."),
                NOTE,
            ),
            "Where information came from.",
            title="name",
            index=("name", "kind", "note"),
        ),
    )
}
RECORD_TYPES = tuple(TYPES)


def record_type(name: str) -> RecordType:
    t = TYPES.get(name)
    if t is None:
        raise InputError(f"unknown record type {shown(name)}; allowed: {', '.join(RECORD_TYPES)}")
    return t


def check_id(value: str, what: str = "id") -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise InputError(
            f"{what}: {shown(value)} is not a valid id; use 1-64 of a-z, 0-9, '.', '_', '-'"
        )
    return value


def shown(value: Any, limit: int = 40) -> str:
    """``repr`` of a user's value for an error message: one short line."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "…")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return "a number of many digits"
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def check_text(value: str, where: str) -> str:
    """Refuse control characters (NUL, escape, C1, ...); tabs and newlines are text."""
    bad = _CONTROL.search(value)
    if bad is not None:
        raise InputError(
            f"{where}: holds the control character U+{ord(bad.group()):04X} at position "
            f"{bad.start() + 1}; remove it (was the file saved in another encoding?)"
        )
    return value


def _text(f: Field, value: Any, where: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, int) and abs(value) > MAX_INT:
            raise InputError(f"{where}: the number is too large; write it as text")
        value = str(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: expected text, got {type(value).__name__}")
    text: str = check_text(value, where).strip()
    if not text and f.required:
        raise InputError(f"{where}: is empty; it is required")
    return text


def enum_value(f: Field, value: Any, where: str) -> str:
    """An enumeration value, spelled with - or spaces as well as _."""
    text = _text(f, value, where).replace("-", "_").replace(" ", "_")
    if text not in f.choices:
        raise InputError(f"{where}: {shown(value)} is not allowed; allowed: {', '.join(f.choices)}")
    return text


def _ml(f: Field, value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected text or an object of languages (az, ru, en)")
    out: dict[str, str] = {}
    for lang, text in value.items():
        if lang not in LANGS:
            raise InputError(f"{where}: language {shown(lang)} is not one of {', '.join(LANGS)}")
        t = _text(Field(f.name, "text"), text, f"{where}.{lang}")
        if t:
            out[lang] = t
    if not out and f.required:
        raise InputError(f"{where}: is empty; it is required")
    return out


def _bool(f: Field, value: Any, where: str) -> bool:
    return as_bool(value, where)


def as_bool(value: Any, where: str) -> bool:
    """true/false, also written yes/no or 1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().casefold() in (
        "true",
        "yes",
        "1",
        "false",
        "no",
        "0",
    ):
        return value.strip().casefold() in ("true", "yes", "1")
    raise InputError(f"{where}: {shown(value)} is not true or false")


def _int(value: Any, where: str) -> int:
    """A whole number 0 ≤ n ≤ 2**53-1 (ASCII digits, not '²' or '٣')."""
    if isinstance(value, bool):
        raise InputError(f"{where}: expected a whole number")
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()) and len(value.strip()) < 20:
        value = int(value.strip())
    if isinstance(value, int):
        if not 0 <= value <= MAX_INT:
            raise InputError(f"{where}: {shown(value)} is not a whole number from 0 to 2**53-1")
        return value
    raise InputError(f"{where}: {shown(value)} is not a whole number")


def _list(value: Any, where: str) -> list[Any]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(";") if v.strip()]
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list")
    return value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected an object")
    return value


def _only(value: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    extra = sorted(set(value) - set(keys))
    if extra:
        raise InputError(f"{where}: unknown key {shown(extra[0])}; allowed: {', '.join(keys)}")


class Checker:
    """Validates input against a record type, resolving references and places.

    ``exists(type_names, id)`` answers whether a referenced record exists;
    ``resolve_place(name, district)`` returns a place id or None;
    ``resolve_evidence(id or "sha256:HEX")`` returns the evidence id or None.
    """

    def __init__(
        self,
        exists: Callable[[tuple[str, ...], str], bool],
        resolve_place: Callable[[str, str | None], str | None],
        resolve_evidence: Callable[[str], str | None],
        now: datetime | None = None,
        place_known: Callable[[str], bool] = lambda place_id: True,
    ) -> None:
        self.place_known = place_known
        self.exists = exists
        self.resolve_place = resolve_place
        self.resolve_evidence = resolve_evidence
        self.now = now
        self.unresolved: list[str] = []

    def fields(
        self, rtype: RecordType, values: Mapping[str, Any], where: str, *, partial: bool = False
    ) -> dict[str, Any]:
        """The stored form of ``values``; ``partial`` checks an update (no defaults)."""
        known = {f.name for f in rtype.fields}
        for key in values:
            if key not in known:
                raise InputError(
                    f"{where}{key}: {rtype.name} has no field {shown(key)}; "
                    f"fields: {', '.join(f.name for f in rtype.fields)}"
                )
        out: dict[str, Any] = {}
        for f in rtype.fields:
            fw = where + f.name
            if f.name not in values or values[f.name] is None or values[f.name] == "":
                if partial:
                    if f.name in values:
                        out[f.name] = None  # clears the field
                    continue
                if f.required:
                    raise InputError(f"{fw}: missing; it is required")
                if f.default is not None:
                    out[f.name] = f.default
                continue
            value = self.value(f, values[f.name], fw)
            if value in ("", [], {}) and f.required:
                raise InputError(f"{fw}: is empty; it is required")
            if value not in ("", [], {}):
                out[f.name] = value
        return out

    def value(self, f: Field, value: Any, where: str) -> Any:
        kind = f.kind
        if kind == "text":
            return _text(f, value, where)
        if kind == "url":
            url = _text(f, value, where)
            if not _URL.fullmatch(url):
                raise InputError(f"{where}: {shown(url)} is not an http(s) URL")
            return url
        if kind == "ml":
            return _ml(f, value, where)
        if kind == "enum":
            return enum_value(f, value, where)
        if kind == "bool":
            return _bool(f, value, where)
        if kind == "int":
            return _int(value, where)
        if kind == "date":
            return parse_date(_text(f, value, where), where, now=self.now).as_json()
        if kind == "ref":
            return self.ref(f.ref, _text(f, value, where), where)
        if kind == "refs":
            return sorted({self.ref(f.ref, str(v).strip(), where) for v in _list(value, where)})
        if kind == "place":
            return self.place(value, where)
        if kind == "claims":
            return self.claims(value, where)
        if kind == "hearings":
            return self.hearings(value, where)
        if kind == "roles":
            return self.roles(value, where)
        raise AssertionError(kind)

    def ref(self, types: tuple[str, ...], value: str, where: str) -> str:
        if types == ("evidence",):
            found = self.resolve_evidence(value)
            if found is None:
                raise InputError(
                    f"{where}: no evidence {shown(value)} in this archive; add the file first "
                    "(`sahid add`), or give its id from `sahid ls` or sha256:HEX"
                )
            return found
        check_id(value, where)
        if not self.exists(types, value):
            raise InputError(
                f"{where}: no {' or '.join(types)} with id {shown(value)}; "
                f"list them with `sahid {types[0]} ls`"
            )
        return value

    def place(self, value: Any, where: str) -> dict[str, Any]:
        if isinstance(value, str):
            value = {"name": value}
        value = _mapping(value, where)
        _only(value, ("name", "district", "detail", "place", "within"), where)
        name = _text(Field("name", "text", required=True), value.get("name", ""), f"{where}.name")
        out: dict[str, Any] = {"name": name}
        district = value.get("district")
        if district:
            out["district"] = _text(Field("district", "text"), district, f"{where}.district")
        if value.get("detail"):
            out["detail"] = _text(Field("detail", "text"), value["detail"], f"{where}.detail")
        place_id = value.get("place")
        if place_id is not None:
            if not self.place_known(str(place_id)):
                raise InputError(f"{where}.place: {shown(place_id)} is not a gazetteer place id")
            if value.get("within"):
                out["within"] = True
        else:
            place_id = self.resolve_place(name, out.get("district"))
        if place_id is None and out.get("district"):
            place_id = self.resolve_place(out["district"], None)
            if place_id is not None:
                out["within"] = True  # the settlement itself is not in the gazetteer
        if place_id is None:
            self.unresolved.append(f"{where}: {shown(name)} is not in the gazetteer; kept as text")
        else:
            out["place"] = str(place_id)
        return out

    def claims(self, value: Any, where: str) -> list[dict[str, Any]]:
        out = []
        seen: set[int] = set()
        for i, item in enumerate(_list(value, where)):
            w = f"{where}[{i}]"
            if isinstance(item, str):
                item = {"n": i + 1, "text": item}
            item = _mapping(item, w)
            _only(item, ("n", "text", "framing"), w)
            n = _int(item.get("n", i + 1), f"{w}.n")
            if n < 1 or n in seen:
                raise InputError(f"{w}.n: claim numbers must be 1, 2, ... without repeats")
            seen.add(n)
            claim: dict[str, Any] = {
                "n": n,
                "text": _text(Field("text", "text", required=True), item.get("text", ""), w),
            }
            framing = [
                _text(Field("framing", "text"), x, f"{w}.framing")
                for x in _list(item.get("framing", []), f"{w}.framing")
            ]
            if framing:
                claim["framing"] = framing
            out.append(claim)
        return sorted(out, key=lambda c: c["n"])

    def hearings(self, value: Any, where: str) -> list[dict[str, Any]]:
        out = []
        for i, item in enumerate(_list(value, where)):
            w = f"{where}[{i}]"
            if isinstance(item, str):
                date, _, note = item.partition(" ")
                item = {"date": date, "note": note}
            item = _mapping(item, w)
            _only(item, ("date", "note"), w)
            hearing = {"date": parse_date(str(item.get("date", "")), f"{w}.date").as_json()}
            if item.get("note"):
                hearing["note"] = _text(Field("note", "text"), item["note"], f"{w}.note")
            out.append(hearing)
        return sorted(out, key=lambda h: h["date"].lstrip("~"))

    def roles(self, value: Any, where: str) -> list[dict[str, str]]:
        out: dict[tuple[str, str], dict[str, str]] = {}
        for i, item in enumerate(_list(value, where)):
            w = f"{where}[{i}]"
            if isinstance(item, str):
                incident, sep, role = item.rpartition(":")
                if not sep:
                    raise InputError(f"{w}: write roles as INCIDENT:ROLE, e.g. inc-1:victim")
                item = {"incident": incident, "role": role}
            item = _mapping(item, w)
            _only(item, ("incident", "role"), w)
            role = enum_value(
                Field("role", "enum", choices=ROLES), item.get("role", ""), f"{w}.role"
            )
            incident = self.ref(("incident",), str(item.get("incident", "")), f"{w}.incident")
            out[(incident, role)] = {"incident": incident, "role": role}
        if not out:
            raise InputError(f"{where}: a person needs at least one role in an incident")
        return [out[k] for k in sorted(out)]


def check_sealed(sealed: Mapping[str, Any], where: str) -> dict[str, str | None]:
    """A person's sealed fields as given: text, stripped; None or empty clears one."""
    out: dict[str, str | None] = {}
    for key, value in sealed.items():
        if key not in SEALED_FIELDS:
            raise InputError(
                f"{where}sealed.{key[:40]}: not a sealed field; allowed: {', '.join(SEALED_FIELDS)}"
            )
        if value is None:
            out[key] = None
            continue
        if not isinstance(value, str):
            raise InputError(f"{where}sealed.{key}: expected text, got {type(value).__name__}")
        out[key] = check_text(value, f"{where}sealed.{key}").strip() or None
    return out


def is_protected(roles: list[dict[str, str]]) -> bool:
    """Anyone who is not only an official acting in office is protected."""
    return any(r["role"] in PROTECTED_ROLES for r in roles)


def check_lang(value: str, where: str) -> str:
    if not _LANG.fullmatch(value):
        raise InputError(f"{where}: {shown(value)} is not a language code like az, ru or en")
    return value
