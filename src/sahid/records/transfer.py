"""Import and export of records as JSON or CSV (the format: docs/records.schema.json).

JSON: one object ``{"format": "sahid-records", "version": 1, "incidents": [...], ...}``
with a list per record type. CSV: one file per type (``incidents.csv``), one column per
field; multilingual fields split into ``title_az``, ``title_ru``, ``title_en``; places
into ``place``, ``place_district``, ``place_detail``, ``place_id``; lists joined with
``;``; claims, hearings and roles as JSON. Evidence is referred to as ``sha256:HEX``, so
links survive the move to another archive holding the same files.

An import is one batch: every row is checked first and nothing is written unless all
are good; errors name the file, row and column. Persons' sealed fields are exported
only when asked (``include_sealed``), because they are exactly what must not leak.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from sahid.errors import InputError
from sahid.records.model import (
    LANGS,
    SEALED_FIELDS,
    TYPES,
    RecordType,
    as_bool,
    check_text,
    record_type,
    shown,
)
from sahid.records.service import Draft
from sahid.schema import evidence, records

if TYPE_CHECKING:
    from sahid.archive import Archive

FORMAT = "sahid-records"
VERSION = 1
# Creation order: a record's references point to records of earlier types (or the same).
ORDER = (
    "unit",
    "source",
    "incident",
    "person",
    "case",
    "act",
    "detention",
    "charge",
    "statement",
    "link",
)
PLURAL = {t: ("persons" if t == "person" else t + "s") for t in ORDER}
SINGULAR = {p: t for t, p in PLURAL.items()}
JSON_CELLS = ("claims", "hearings", "roles")
# Deeper than any record needs (a claim's framing list is 6 levels down in a file).
MAX_DEPTH = 16


def type_for_name(path: Path, given: str | None) -> str:
    name = given or path.stem.lower()
    name = SINGULAR.get(name, name)
    if name not in TYPES:
        raise InputError(
            f"{path.name}: cannot tell which records it holds; name it like incidents.csv "
            f"or pass --type ({', '.join(ORDER)})"
        )
    return name


# --- export --------------------------------------------------------------------------


def export_records(
    archive: Archive, types: Sequence[str] = ORDER, *, include_sealed: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Every record of ``types`` in creation order, in the import format."""
    for t in types:
        record_type(t)
    out: dict[str, list[dict[str, Any]]] = {}
    svc = archive.records
    with archive.engine.connect() as conn:
        sha = {
            r.evidence_id: r.sha256
            for r in conn.execute(select(evidence.c.evidence_id, evidence.c.sha256))
        }
        for t in ORDER:
            if t not in types:
                continue
            rows = conn.execute(
                select(records.c.id, records.c.data)
                .where(records.c.type == t)
                .order_by(records.c.created_seq)
            ).all()
            items = []
            for rid, raw in rows:
                data = json.loads(raw)
                sealed = data.pop("sealed", None)
                item: dict[str, Any] = {"id": rid, **data}  # with "erased": true, if so
                for f in TYPES[t].fields:
                    if f.ref == ("evidence",) and f.name in item:
                        item[f.name] = "sha256:" + sha[item[f.name]]
                if include_sealed and sealed is not None:
                    opened = svc.sealer.open(conn, rid, sealed)
                    if opened:
                        item["sealed"] = opened
                items.append(item)
            out[t] = items
    return out


def to_json(data: dict[str, list[dict[str, Any]]]) -> str:
    doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
    for t in ORDER:
        if t in data:
            doc[PLURAL[t]] = data[t]
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def to_geojson(incidents: Iterable[dict[str, Any]]) -> str:
    """Incidents as a GeoJSON FeatureCollection of points (gazetteer coordinates).

    Incidents whose place is not in the gazetteer, or has no coordinates, are left out
    of the features and counted in ``"unlocated"``.
    """
    from sahid.places import Gazetteer

    gaz = Gazetteer.load()
    features = []
    unlocated = 0
    for item in incidents:
        place_id = (item.get("place") or {}).get("place")
        place = gaz.get(place_id) if place_id else None
        if place is None or place.lat is None or place.lon is None:
            unlocated += 1
            continue
        props = {k: v for k, v in item.items() if k not in ("note", "place")}
        props["place"] = {
            "id": place.id,
            "az": place.name_az,
            "ru": place.name_ru,
            "en": place.name_en,
        }
        features.append(
            {
                "type": "Feature",
                "id": item["id"],
                "geometry": {"type": "Point", "coordinates": [float(place.lon), float(place.lat)]},
                "properties": props,
            }
        )
    doc = {"type": "FeatureCollection", "features": features, "unlocated": unlocated}
    return json.dumps(doc, ensure_ascii=False, indent=1) + "\n"


def columns(rtype: RecordType, *, include_sealed: bool = False) -> list[str]:
    cols = ["id"]
    for f in rtype.fields:
        if f.kind == "ml":
            cols += [f"{f.name}_{lang}" for lang in LANGS]
        elif f.kind == "place":
            cols += [f.name, f"{f.name}_district", f"{f.name}_detail", f"{f.name}_id"]
        else:
            cols.append(f.name)
    if rtype.name == "person":
        cols.append("erased")
        if include_sealed:
            cols += [f"sealed_{k}" for k in SEALED_FIELDS]
    return cols


def to_csv(
    rtype: RecordType, items: Iterable[dict[str, Any]], *, include_sealed: bool = False
) -> str:
    buf = io.StringIO()
    cols = columns(rtype, include_sealed=include_sealed)
    writer = csv.DictWriter(buf, cols, lineterminator="\n")
    writer.writeheader()
    for item in items:
        row: dict[str, str] = {"id": item["id"]}
        for f in rtype.fields:
            v = item.get(f.name)
            if v is None:
                continue
            if f.kind == "ml":
                row.update({f"{f.name}_{k}": t for k, t in v.items()})
            elif f.kind == "place":
                row[f.name] = v["name"]
                row[f"{f.name}_district"] = v.get("district", "")
                row[f"{f.name}_detail"] = v.get("detail", "")
                row[f"{f.name}_id"] = v.get("place", "") + ("~within" if v.get("within") else "")
            elif f.name in JSON_CELLS:
                row[f.name] = json.dumps(v, ensure_ascii=False, sort_keys=True)
            elif f.kind == "refs":
                row[f.name] = ";".join(v)
            elif f.kind == "bool":
                row[f.name] = "true" if v else "false"
            else:
                row[f.name] = str(v)
        if item.get("erased"):
            row["erased"] = "true"
        for k, text in (item.get("sealed") or {}).items():
            row[f"sealed_{k}"] = text
        writer.writerow(row)
    return buf.getvalue()


# --- import --------------------------------------------------------------------------


def read_file(path: Path, rtype_name: str | None = None) -> list[Draft]:
    """Drafts from a JSON or CSV file, checked for shape (values are checked later)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path.name}: not UTF-8 (bad byte at offset {exc.start}); save the file as UTF-8"
        ) from None
    if path.suffix.lower() == ".json":
        return from_json(path.name, content)
    if path.suffix.lower() == ".csv":
        return from_csv(path.name, content, type_for_name(path, rtype_name))
    raise InputError(f"{path.name}: import reads .json or .csv files")


def _loads(content: str, where: str) -> Any:
    """``json.loads`` failing only with InputError, and never deeper than MAX_DEPTH."""
    try:
        value = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply; records never are") from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError(f"{where}: a number has too many digits; write it as text") from None
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(
                f"{where}: nested too deeply (more than {MAX_DEPTH} levels); records never are"
            )
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value


def from_json(name: str, content: str) -> list[Draft]:
    doc = _loads(content, name)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f'{name}: not a sahid records file (needs "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise InputError(
            f"{name}: version {shown(doc.get('version'))} is not supported (need {VERSION})"
        )
    allowed = {"format", "version", *SINGULAR}
    for key in doc:
        if key not in allowed:
            raise InputError(
                f"{name}: unknown key {shown(key)}; allowed: {', '.join(sorted(allowed))}"
            )
    drafts = []
    for t in ORDER:
        items = doc.get(PLURAL[t], [])
        if not isinstance(items, list):
            raise InputError(f"{name}: {PLURAL[t]} must be a list")
        for i, item in enumerate(items):
            where = f"{name}: {PLURAL[t]}[{i}]."
            if not isinstance(item, dict):
                raise InputError(f"{where[:-1]}: must be an object")
            fields = dict(item)
            rid = fields.pop("id", None)
            sealed = fields.pop("sealed", None)
            if sealed is not None and not isinstance(sealed, dict):
                raise InputError(f"{where}sealed: must be an object")
            erased = t == "person" and as_bool(fields.pop("erased", False), f"{where}erased")
            drafts.append(Draft(t, fields, rid, sealed, where, erased, where[:-1]))
    return drafts


def from_csv(name: str, content: str, rtype_name: str) -> list[Draft]:
    rtype = TYPES[rtype_name]
    try:
        reader = csv.reader(io.StringIO(content, newline=""), strict=True)
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{name}: not valid CSV ({exc})") from None
    if not rows:
        raise InputError(f"{name}: empty; the first line must name the columns")
    header = [h.strip() for h in rows[0]]
    allowed = columns(rtype, include_sealed=True)
    for h in header:
        if h not in allowed:
            raise InputError(f"{name}: unknown column {shown(h)}; allowed: {', '.join(allowed)}")
    if len(set(header)) != len(header):
        raise InputError(f"{name}: a column appears twice in the header")
    for f in rtype.fields:
        needed = [f"{f.name}_{lang}" for lang in LANGS] if f.kind == "ml" else [f.name]
        if f.required and not any(c in header for c in needed):
            raise InputError(f"{name}: missing column {needed[0]!r}; {f.name} is required")
    drafts = []
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{name} row {n}, column "
        if len(row) != len(header):
            raise InputError(
                f"{name} row {n}: has {len(row)} cells but the header has {len(header)} columns"
            )
        for h, cell in zip(header, row, strict=True):
            check_text(cell, where + h)
        cells = {h: c for h, c in zip(header, row, strict=True) if c.strip()}
        draft = _draft(rtype, cells, where)
        draft.row = f"{name} row {n}"
        drafts.append(draft)
    return drafts


def _draft(rtype: RecordType, cells: dict[str, str], where: str) -> Draft:
    fields: dict[str, Any] = {}
    for f in rtype.fields:
        if f.kind == "ml":
            value = {
                lang: cells[f"{f.name}_{lang}"] for lang in LANGS if f"{f.name}_{lang}" in cells
            }
            if value:
                fields[f.name] = value
        elif f.kind == "place":
            if f.name in cells:
                place: dict[str, Any] = {"name": cells[f.name]}
                for part in ("district", "detail"):
                    if f"{f.name}_{part}" in cells:
                        place[part] = cells[f"{f.name}_{part}"]
                pid = cells.get(f"{f.name}_id", "")
                if pid:
                    place["place"], _, within = pid.partition("~")
                    if within:
                        place["within"] = True
                fields[f.name] = place
        elif f.name in cells:
            cell = cells[f.name]
            fields[f.name] = cell
            if f.name in JSON_CELLS and cell.lstrip().startswith("["):
                fields[f.name] = _loads(cell, f"{where}{f.name}")
    sealed = {k: cells[f"sealed_{k}"] for k in SEALED_FIELDS if f"sealed_{k}" in cells}
    erased = "erased" in cells and as_bool(cells["erased"], f"{where}erased")
    return Draft(rtype.name, fields, cells.get("id"), sealed or None, where, erased)


def import_files(
    archive: Archive,
    paths: Sequence[Path],
    rtype: str | None = None,
    *,
    allow_duplicates: bool = False,
) -> tuple[list[str], list[str]]:
    """Import every file in one transaction; returns (ids, warnings).

    Rows imported before (the same checked fields: see :mod:`sahid.records.duplicates`)
    are refused, naming the first, unless ``allow_duplicates``.
    """
    drafts: list[Draft] = []
    for path in paths:
        drafts += read_file(path, rtype)
    if not drafts:
        raise InputError("the files hold no records; nothing was imported")
    drafts.sort(key=lambda d: ORDER.index(d.type))  # stable: file order within a type
    created = archive.records.create(drafts, imported=True, allow_duplicates=allow_duplicates)
    return created.ids, created.warnings


def json_schema() -> dict[str, Any]:
    """The documented JSON Schema of the import/export format (from the field specs)."""
    defs: dict[str, Any] = {}
    props: dict[str, Any] = {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
    }
    for t in ORDER:
        rtype = TYPES[t]
        fprops: dict[str, Any] = {"id": {"$ref": "#/$defs/id"}}
        for f in rtype.fields:
            schema = _field_schema(f)
            if f.help:
                schema["description"] = f.help
            fprops[f.name] = schema
        if t == "person":
            fprops["sealed"] = {
                "type": "object",
                "description": "Sealed fields (only in exports made with --include-sealed).",
                "properties": {k: {"type": "string"} for k in SEALED_FIELDS},
                "additionalProperties": False,
            }
            fprops["erased"] = {
                "type": "boolean",
                "description": "The person was erased: their sealed fields are gone for ever.",
            }
        defs[t] = {
            "type": "object",
            "description": rtype.help,
            "properties": fprops,
            "required": [f.name for f in rtype.fields if f.required],
            "additionalProperties": False,
        }
        props[PLURAL[t]] = {"type": "array", "items": {"$ref": f"#/$defs/{t}"}}
    defs.update(_COMMON_DEFS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sahid records import/export",
        "type": "object",
        "required": ["format", "version"],
        "properties": props,
        "additionalProperties": False,
        "$defs": defs,
    }


_COMMON_DEFS: dict[str, Any] = {
    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9._-]{0,63}$"},
    "date": {
        "type": "string",
        "pattern": r"^~?\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2})?)?)?$",
        "description": "ISO prefix in its precision (year, month, day, minute); ~ = approximate.",
    },
    "ml": {
        "type": "object",
        "properties": {lang: {"type": "string"} for lang in LANGS},
        "additionalProperties": False,
    },
    "place": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "description": "As given (any spelling)."},
            "district": {"type": "string"},
            "detail": {"type": "string"},
            "place": {"type": "string", "description": "Gazetteer place id (resolved)."},
            "within": {"type": "boolean", "description": "Only the district was resolved."},
        },
        "additionalProperties": False,
    },
}


def _field_schema(f: Any) -> dict[str, Any]:
    kind = f.kind
    if kind in ("text", "url"):
        return {"type": "string"}
    if kind == "enum":
        return {"enum": list(f.choices)}
    if kind == "bool":
        return {"type": "boolean"}
    if kind == "int":
        return {"type": "integer", "minimum": 1}
    if kind == "date":
        return {"$ref": "#/$defs/date"}
    if kind == "ml":
        return {"$ref": "#/$defs/ml"}
    if kind == "place":
        return {"$ref": "#/$defs/place"}
    if kind == "ref":
        return {"type": "string", "description": "Id of a " + " or ".join(f.ref)}
    if kind == "refs":
        return {"type": "array", "items": {"type": "string"}}
    if kind == "claims":
        return {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["n", "text"],
                "properties": {
                    "n": {"type": "integer", "minimum": 1},
                    "text": {"type": "string"},
                    "framing": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        }
    if kind == "hearings":
        return {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["date"],
                "properties": {"date": {"$ref": "#/$defs/date"}, "note": {"type": "string"}},
                "additionalProperties": False,
            },
        }
    if kind == "roles":
        return {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["incident", "role"],
                "properties": {
                    "incident": {"$ref": "#/$defs/id"},
                    "role": {"enum": ["victim", "witness", "detainee", "protester", "official"]},
                },
                "additionalProperties": False,
            },
        }
    raise AssertionError(kind)


if __name__ == "__main__":
    import sys

    sys.stdout.write(json.dumps(json_schema(), ensure_ascii=False, indent=2) + "\n")
