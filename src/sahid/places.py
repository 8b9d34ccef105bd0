"""The gazetteer: Azerbaijan's districts, cities and settlements with az/ru/en names.

The data is packaged (``sahid/data/places.json``, built by ``tools/build_gazetteer.py``
from GeoNames and the project's district list; see ``data/PLACES-LICENSE.md``), so nothing
is fetched or read from outside the package at run time. Names are matched through
:func:`sahid.text.search_key`, so "İmişli", "Imishli" and "Имишли" find the same place.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from sahid.errors import NotFound
from sahid.text import tokens

__all__ = ["Gazetteer", "Place"]

# Words that name the level of a place rather than the place ("İmişli rayonu", "г. Баку").
_DISTRICT_WORDS = ("rayonu", "rayon", "r-nu", "district", "район", "р-н", "rayonunun")
_CITY_WORDS = ("şəhəri", "şəhər", "city", "город", "town")
_CITY_PREFIXES = ("город", "г", "city of")


def _phrase(text: str) -> str:
    """The search key of a name, words joined by one space."""
    return " ".join(t for t in tokens(text) if t)


_DISTRICT_KEYS = frozenset(_phrase(w) for w in _DISTRICT_WORDS)
_CITY_KEYS = frozenset(_phrase(w) for w in _CITY_WORDS)
_CITY_PREFIX_KEYS = tuple(_phrase(w) + " " for w in _CITY_PREFIXES)


def _split_level(key: str) -> tuple[str, str | None]:
    """Strip a level word from a phrase key: ("imisli raonu") → ("imisli", "district")."""
    head, _, last = key.rpartition(" ")
    if head:
        if last in _DISTRICT_KEYS:
            return head, "district"
        if last in _CITY_KEYS:
            return head, "city"
        for prefix in _CITY_PREFIX_KEYS:
            if key.startswith(prefix):
                return key[len(prefix) :], "city"
    return key, None


@dataclass(frozen=True)
class Place:
    """One place of the gazetteer; ``district`` is the id of the district or city it is in."""

    id: str
    kind: str  # "district" | "city" | "settlement"
    name_az: str
    name_ru: str
    name_en: str
    district: str | None
    lat: str | None  # decimal degrees as text, e.g. "39.85500", so no float round-trips
    lon: str | None
    aliases: tuple[str, ...]

    def name(self, lang: str) -> str:
        """The name in ``lang`` ("az", "ru" or "en"), English for any other language."""
        if lang == "az":
            return self.name_az
        if lang == "ru":
            return self.name_ru
        return self.name_en

    def all_names(self) -> tuple[str, ...]:
        """Every name and alias, in a fixed order."""
        return (self.name_az, self.name_ru, self.name_en, *self.aliases)


class Gazetteer:
    """Look places up by id or by name in any of the usual spellings."""

    def __init__(self, places: list[Place], population: dict[str, int]) -> None:
        self._places = {p.id: p for p in places}
        self._population = population
        self._keys: dict[str, frozenset[str]] = {}
        self._by_key: dict[str, list[Place]] = {}
        self._children: dict[str, set[str]] = {}
        for place in sorted(places, key=lambda p: p.id):
            keys: set[str] = set()
            for name in place.all_names():
                key = _phrase(name)
                if key:
                    keys.add(key)
                    keys.add(_split_level(key)[0])
            self._keys[place.id] = frozenset(keys)
            for key in keys:
                self._by_key.setdefault(key, []).append(place)
            if place.district is not None:
                self._children.setdefault(place.district, set()).add(place.id)

    @classmethod
    @functools.cache
    def load(cls) -> Gazetteer:
        """The packaged gazetteer, read once per process."""
        raw = (files("sahid") / "data" / "places.json").read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(raw)
        places: list[Place] = []
        population: dict[str, int] = {}
        for p in data["places"]:
            places.append(
                Place(
                    id=p["id"],
                    kind=p["kind"],
                    name_az=p["az"],
                    name_ru=p["ru"],
                    name_en=p["en"],
                    district=p["district"],
                    lat=p["lat"],
                    lon=p["lon"],
                    aliases=tuple(p["aliases"]),
                )
            )
            if p.get("pop") is not None:
                population[p["id"]] = int(p["pop"])
        return cls(places, population)

    def get(self, place_id: str) -> Place:
        """The place with id ``place_id``."""
        try:
            return self._places[place_id]
        except KeyError:
            raise NotFound(
                f"no place with id {place_id!r} in the gazetteer; "
                "look it up by name or keep the place as free text"
            ) from None

    def places(self) -> list[Place]:
        """All places, sorted by id."""
        return [self._places[k] for k in sorted(self._places)]

    def keys(self, place_id: str) -> frozenset[str]:
        """The search keys of all names and aliases of a place (for indexing)."""
        self.get(place_id)
        return self._keys[place_id]

    def within(self, place_id: str) -> frozenset[str]:
        """``place_id`` and the ids of the places whose district it is."""
        self.get(place_id)
        return frozenset({place_id, *self._children.get(place_id, ())})

    def is_seat(self, place: Place) -> bool:
        """True for a settlement whose district or city bears its name (a district seat)."""
        return any(self._is_seat(place, k) for k in self._keys[place.id])

    def _is_seat(self, place: Place, key: str) -> bool:
        """A settlement whose own district or city goes by the same name (a district seat)."""
        return (
            place.kind == "settlement"
            and place.district is not None
            and key in self._keys[place.district]
        )

    def _rank(self, place: Place, key: str, level: str | None) -> tuple[int, int, str]:
        seat = self._is_seat(place, key)
        if level == "district":
            order = {"district": 0, "city": 1}.get(place.kind, 2 if seat else 3)
        elif level == "city":
            order = {"city": 0, "district": 2}.get(place.kind, 1 if seat else 3)
        else:
            order = 0 if seat else {"city": 1, "district": 2}.get(place.kind, 3)
        return (order, -self._population.get(place.id, 0), place.id)

    def _admin(self, name: str) -> frozenset[str] | None:
        """Ids within every district or city called ``name``; None if there is none."""
        key, level = _split_level(_phrase(name))
        found = [
            p
            for p in self._by_key.get(key, ())
            if p.kind != "settlement" and (level is None or p.kind == level)
        ]
        if not found:
            return None
        return frozenset().union(*(self.within(p.id) for p in found))

    def resolve(self, name: str, district: str | None = None) -> Place | None:
        """The place ``name`` most likely means, or None (then keep the name as free text).

        A level word ("rayonu", "район", "şəhəri", "city", ...) is stripped and makes the
        district or city win. If ``district`` names a known district or city, only places in
        it are candidates, so a village that shares its name with one elsewhere is not taken
        for it. Otherwise a district seat beats its district ("İmişli" is the town), then
        cities, districts and settlements by population; ties go to the smaller id.
        """
        key, level = _split_level(_phrase(name))
        candidates = self._by_key.get(key, [])
        if not candidates:
            return None
        if district is not None:
            inside = self._admin(district)
            if inside is not None:
                candidates = [p for p in candidates if p.id in inside]
                if not candidates:
                    return None
        return min(candidates, key=lambda p: self._rank(p, key, level))

    def match_words(self, query: str) -> list[Place]:
        """Places named by a word or a 2-3 word phrase of ``query``, for query expansion."""
        toks = [t for t in tokens(query) if t]
        found: dict[str, Place] = {}
        for start in range(len(toks)):
            for size in (3, 2, 1):
                if start + size > len(toks):
                    continue
                key = " ".join(toks[start : start + size])
                for place in sorted(self._by_key.get(key, ()), key=lambda p: p.id):
                    found.setdefault(place.id, place)
        return list(found.values())
