"""Records (issue 5): model, sealed persons, places, search, import/export, demo."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sahid.archive import Archive
from sahid.errors import InputError, NotFound, SahidError
from sahid.records.dates import parse_date
from sahid.records.model import TYPES
from sahid.records.service import Draft, letters
from sahid.records.transfer import (
    export_records,
    from_csv,
    import_files,
    json_schema,
    to_csv,
    to_json,
)

from conftest import FAST_KDF, PASSPHRASE, downgrade

IMISHLI = {
    "en": "Police car hits four schoolchildren, two killed",
    "az": "Polis maşını dörd məktəblini vurdu",
}


@pytest.fixture
def arc(make_archive):
    return make_archive()


def seed(arc: Archive) -> dict[str, str]:
    """A small case: units, an incident in İmişli, victims, an act, charge, statement."""
    r = arc.records
    r.create(
        [
            Draft(
                "unit",
                {"name": {"en": "Ministry of Internal Affairs"}, "kind": "ministry"},
                "u-mia",
            ),
            Draft(
                "unit",
                {"name": {"en": "State Traffic Police, Imishli district"}, "parent": "u-mia"},
                "u-dyp",
            ),
        ]
    )
    inc = r.add(
        "incident",
        {
            "title": IMISHLI,
            "start": "2025-01-18T12:30",
            "place": {"name": "İmişli", "detail": "Abbasgulu Shadlinski Street"},
            "type": "killing",
            "summary": {"en": "A police vehicle hit four schoolchildren at the roadside."},
        },
    ).ids[0]
    other = r.add(
        "incident",
        {
            "title": {"en": "Protest dispersed in Quba"},
            "start": "2012-03",
            "place": "Quba",
            "type": "protest_dispersal",
        },
    ).ids[0]
    v1 = r.add(
        "person",
        {"roles": [{"incident": inc, "role": "victim"}], "age_group": "child"},
        sealed={"name": "PLANTED-NAME Aysel", "contacts": "+994 50 000 00 00"},
    ).ids[0]
    v2 = r.add(
        "person", {"roles": [{"incident": inc, "role": "victim"}], "age_group": "child"}
    ).ids[0]
    act = r.add(
        "act",
        {
            "incident": inc,
            "victim": v1,
            "perpetrator_unit": "u-dyp",
            "type": "hit by vehicle",
            "outcome": "death",
        },
    ).ids[0]
    charge = r.add("charge", {"incident": other, "label": "hooliganism", "article": "221.3"}).ids[0]
    stmt = r.add(
        "statement",
        {
            "incident": inc,
            "source_unit": "u-dyp",
            "date": "2025-01-18",
            "language": "ru",
            "text": "В Имишли служебный автомобиль сбил детей на обочине дороги.",
            "claims": [
                {"n": 1, "text": "It was a traffic accident.", "framing": ["no human agent"]}
            ],
        },
    ).ids[0]
    return {
        "inc": inc,
        "other": other,
        "v1": v1,
        "v2": v2,
        "act": act,
        "charge": charge,
        "stmt": stmt,
    }


def test_records_are_entries_and_replay_exactly(arc):
    ids = seed(arc)
    body = arc.entry(arc.records.get(ids["inc"])["created_seq"]).body
    assert body["type"] == "incident" and body["fields"]["start"] == "2025-01-18T12:30"
    arc.records.update(ids["inc"], {"status": "corroborated"})
    assert arc.records.get(ids["inc"])["fields"]["status"] == "corroborated"
    report = arc.verify()  # step 6 replays every entry and compares every table + FTS
    assert report.size == arc.size


def test_dates_keep_their_precision():
    assert parse_date("2025-01-18T12:30", "d").precision == "minute"
    assert parse_date("2018-07", "d").bounds() == ("2018-07-01T00:00", "2018-07-31T23:59")
    approx = parse_date("~2013", "d")
    assert approx.approximate and approx.as_json() == "~2013" and approx.precision == "year"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InputError, match="in the future"):
        parse_date("2026-02", "start", now=now)
    with pytest.raises(InputError, match="not a real calendar date"):
        parse_date("2025-02-30", "start")
    with pytest.raises(InputError, match=r"start: '18\.01\.2025' is not a date"):
        parse_date("18.01.2025", "start")


@given(st.text(max_size=30))
@settings(max_examples=300)
def test_date_parser_fails_only_with_input_errors(value):
    try:
        d = parse_date(value, "d")
    except InputError:
        return
    assert parse_date(d.as_json(), "d") == d
    lo, hi = d.bounds()
    assert lo <= hi


def test_bad_record_input_names_the_field(arc):
    r = arc.records
    with pytest.raises(InputError, match=r"type: 'riot' is not allowed; allowed: killing, injury"):
        r.add("incident", {"title": "x", "start": "2025", "type": "riot"})
    with pytest.raises(InputError, match="start: missing; it is required"):
        r.add("incident", {"title": "x", "type": "killing"})
    with pytest.raises(InputError, match="no incident with id 'inc-nope'"):
        r.add("act", {"incident": "inc-nope", "type": "beating"})
    with pytest.raises(InputError, match="incident has no field 'colour'"):
        r.add("incident", {"title": "x", "start": "2025", "type": "killing", "colour": "red"})
    with pytest.raises(InputError, match="unknown record type 'riot'"):
        r.add("riot", {})
    with pytest.raises(NotFound):
        r.get("inc-missing")
    size = arc.size
    with pytest.raises(InputError, match=r"\[1\]"):
        r.create([Draft("source", {"name": "ok"}), Draft("source", {}, where="[1].")])
    assert arc.size == size  # nothing of the failed batch was written


def test_persons_are_sealed_and_pseudonymous(arc):
    ids = seed(arc)
    listing = arc.records.of_type("person")
    assert [p["title"] for p in listing] == ["Victim A", "Victim B"]
    assert "PLANTED-NAME" not in json.dumps(listing)
    assert arc.records.get(ids["v1"])["sealed"] == "sealed"
    opened = arc.records.get(ids["v1"], reveal=True)["sealed"]
    assert opened == {"name": "PLANTED-NAME Aysel", "contacts": "+994 50 000 00 00"}
    # Searching never finds sealed names.
    assert arc.records.search("Aysel") == []
    with pytest.raises(InputError, match="name is sealed, not public"):
        arc.records.add(
            "person", {"roles": [{"incident": ids["inc"], "role": "victim"}], "public_name": "X"}
        )
    # Officials acting in office are named.
    off = arc.records.add(
        "person",
        {"roles": [{"incident": ids["inc"], "role": "official"}], "position": "driver"},
        sealed={"name": "Officer Named Publicly"},
    ).ids[0]
    assert arc.records.get(off)["title"] == "Officer Named Publicly"
    assert [h.id for h in arc.records.search("Officer Named")] == [off]
    assert letters(0) == "A" and letters(25) == "Z" and letters(26) == "AA"


def test_erase_destroys_the_key_and_verify_still_passes(arc, tmp_path):
    ids = seed(arc)
    with arc.engine.connect() as conn:
        wrapped = conn.execute(
            text("SELECT wrapped FROM person_keys WHERE person_id = :p"), {"p": ids["v1"]}
        ).scalar()
    assert wrapped
    arc.records.erase(ids["v1"])
    shown = arc.records.get(ids["v1"], reveal=True)
    assert shown["sealed"] == "erased"
    with pytest.raises(InputError, match="already erased"):
        arc.records.erase(ids["v1"])
    arc.verify()
    # The key's bytes are nowhere in the database any more: decrypt every page to a
    # plaintext copy (test only) and scan it, plus the WAL.
    plain = tmp_path / "plain.db"
    raw = arc.engine.raw_connection()
    try:
        db = raw.driver_connection
        db.execute(f"ATTACH DATABASE '{plain}' AS plain KEY ''")
        db.execute("SELECT sqlcipher_export('plain')").fetchall()
        db.execute("DETACH DATABASE plain")
    finally:
        raw.close()
    assert sqlite3.connect(plain).execute("SELECT count(*) FROM records").fetchone()[0] > 0
    assert wrapped not in plain.read_bytes()
    root = arc.root
    arc.close()
    with Archive.open(root, PASSPHRASE) as again:
        assert again.records.get(ids["v1"], reveal=True)["sealed"] == "erased"
        again.verify()


def test_places_resolve_in_three_spellings(arc):
    made = [
        arc.records.add(
            "incident", {"title": f"t{i}", "start": "2025", "type": "injury", "place": name}
        ).ids[0]
        for i, name in enumerate(["İmişli", "Imishli", "Имишли"])
    ]
    places = {arc.records.get(i)["fields"]["place"]["place"] for i in made}
    assert len(places) == 1
    unknown = arc.records.add(
        "incident", {"title": "t", "start": "2025", "type": "injury", "place": "Atlantis Village"}
    )
    assert "Atlantis Village" in unknown.warnings[0]
    assert arc.records.get(unknown.ids[0])["fields"]["place"] == {"name": "Atlantis Village"}


@pytest.mark.parametrize("query", ["İmişli", "Imishli", "Имишли", "IMISHLI", "imişlidə"])
def test_three_spellings_find_the_same_things(arc, query):
    ids = seed(arc)
    (added,) = arc.add([_note_file(arc)], note="Witness video filmed in İmişli at the roadside")
    found = {h.id for h in arc.records.search(query)}
    assert {ids["inc"], ids["stmt"], added.evidence} <= found
    assert ids["other"] not in found


def _note_file(arc):
    path = arc.root.parent / "clip.bin"
    path.write_bytes(b"not really a video")
    return path


def test_search_filters_ranking_and_snippets(arc):
    ids = seed(arc)
    r = arc.records
    hits = r.search("schoolchildren")
    assert hits[0].id == ids["inc"] and "[schoolchildren]" in hits[0].snippet
    assert hits[0].snippet.startswith("Police car hits four [schoolchildren]")
    f = r.filters(place="Imishli")  # the town is the district seat: the district counts
    assert {h.id for h in r.search("", f)} >= {ids["inc"], ids["stmt"], ids["act"]}
    assert ids["other"] not in {h.id for h in r.search("", f)}
    assert {h.id for h in r.search("", r.filters(charges=["hooliganism"]))} >= {ids["other"]}
    assert ids["other"] in {h.id for h in r.search("", r.filters(charges=["221.3"]))}
    # A unit filter includes its subunits: the ministry finds the traffic police's act.
    by_unit = {h.id for h in r.search("", r.filters(units=["u-mia"]))}
    assert {ids["inc"], ids["act"]} <= by_unit
    dated = {h.id for h in r.search("", r.filters(date_from="2025-01", date_to="2025-01-31"))}
    assert ids["inc"] in dated and ids["other"] not in dated
    assert {h.id for h in r.search("", r.filters(types=["protest-dispersal"]))} == {
        ids["other"],
        ids["charge"],
    }
    with pytest.raises(InputError, match="--type: 'riot' is not allowed"):
        r.filters(types=["riot"])
    with pytest.raises(InputError, match="not in the gazetteer"):
        r.filters(place="Atlantis")
    with pytest.raises(InputError, match="--from 2025 is after --to 2024"):
        r.filters(date_from="2025", date_to="2024")


def test_links_carry_claims_and_status(arc):
    ids = seed(arc)
    (ev,) = arc.add([_note_file(arc)], note="dashcam")
    r = arc.records
    r.add("link", {"evidence": ev.evidence, "target": ids["inc"]})
    lnk = r.add(
        "link",
        {
            "evidence": "sha256:" + ev.sha256,
            "target": ids["stmt"],
            "claim": 1,
            "relation": "contradicts",
        },
    ).ids[0]
    shown = r.get(ids["stmt"])
    assert [(x["relation"], x["claim"]) for x in shown["links"]] == [("contradicts", 1)]
    r.update(lnk, {"status": "verified"})
    assert r.get(ids["stmt"])["links"][0]["status"] == "verified"
    with pytest.raises(InputError, match="has no claim 7"):
        r.add("link", {"evidence": ev.evidence, "target": ids["stmt"], "claim": 7})
    with pytest.raises(InputError, match="an incident link is 'documents'"):
        r.add("link", {"evidence": ev.evidence, "target": ids["inc"], "relation": "supports"})
    with pytest.raises(InputError, match="no evidence 'feedbeef'"):
        r.add("link", {"evidence": "feedbeef", "target": ids["inc"]})
    # Evidence linked to the incident is found through the incident's place.
    found = {h.id for h in r.search("dashcam", r.filters(place="İmişli"))}
    assert found == {ev.evidence}
    arc.verify()


def test_export_import_round_trip_json_and_csv(make_archive, tmp_path):
    a = make_archive(name="a")
    ids = seed(a)
    a.records.update(ids["inc"], {"status": "verified"})
    data = export_records(a, include_sealed=True)
    (tmp_path / "all.json").write_text(to_json(data), encoding="utf-8")
    b = make_archive(name="b")
    imported, _ = import_files(b, [tmp_path / "all.json"])
    assert len(imported) == sum(len(v) for v in data.values())
    assert export_records(b, include_sealed=True) == data
    assert b.records.get(ids["v1"], reveal=True)["sealed"]["name"] == "PLANTED-NAME Aysel"
    # CSV: one file per type, same records.
    folder = tmp_path / "csv"
    folder.mkdir()
    for t, items in data.items():
        (folder / f"{t}s.csv".replace("persons", "persons")).write_text(
            to_csv(TYPES[t], items, include_sealed=True), encoding="utf-8"
        )
    c = make_archive(name="c")
    import_files(c, sorted(folder.iterdir()))
    assert export_records(c, include_sealed=True) == data
    # Importing the same file again is refused, naming the row; nothing is added.
    size = b.size
    with pytest.raises(InputError, match=r"all.json: units\[0\].id 'u-mia' already exists"):
        import_files(b, [tmp_path / "all.json"])
    assert b.size == size
    # Without --include-sealed, exports hold no sealed fields.
    assert "PLANTED-NAME" not in to_json(export_records(a))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,title_en,start\nx,t,2025\n", "missing column 'type'"),
        ("id,title_en,start,type,colour\nx,t,2025,killing,red\n", "unknown column 'colour'"),
        ("id,title_en,start,type\nx,t,2025,killing,extra\n", "row 2: has 5 cells"),
        (
            "id,title_en,start,type\nx,t,2099-01-01,killing\n",
            "row 2, column start: '2099-01-01' is in the future",
        ),
        (
            "id,title_en,start,type\nx,t,2025,riot\n",
            "row 2, column type: 'riot' is not allowed; allowed: killing",
        ),
        ("id,title_en,start,type\nx,t,2025,killing\nx,t,2025,killing\n", "id 'x' appears twice"),
    ],
)
def test_csv_import_errors_name_row_and_column(arc, tmp_path, content, message):
    path = tmp_path / "incidents.csv"
    path.write_text(content, encoding="utf-8")
    size = arc.size
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        import_files(arc, [path])
    assert arc.size == size


def test_import_refuses_wrong_encoding_and_unknown_files(arc, tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_bytes(
        "id,title_en,start,type\nx,İmişli,2025,killing\n".encode("cp1254", "replace") + b"\xff"
    )
    with pytest.raises(InputError, match="not UTF-8"):
        import_files(arc, [path])
    other = tmp_path / "stuff.csv"
    other.write_text("id\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot tell which records it holds"):
        import_files(arc, [other])
    bad = tmp_path / "x.json"
    bad.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(InputError, match="not a sahid records file"):
        import_files(arc, [bad])


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_csv_reader_fails_only_with_input_errors(content):
    try:
        from_csv("incidents.csv", content, "incident")
    except InputError:
        pass


def test_json_schema_is_documented_and_current():
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "records.schema.json"
    assert json.loads(doc.read_text(encoding="utf-8")) == json_schema(), (
        "regenerate with: python -m sahid.records.transfer > docs/records.schema.json"
    )


def test_exports_validate_against_the_schema(arc):
    jsonschema = pytest.importorskip("jsonschema")
    seed(arc)
    doc = json.loads(to_json(export_records(arc, include_sealed=True)))
    jsonschema.validate(doc, json_schema())


def test_upgrade_from_schema_0001(tmp_path):

    from sahid.store import SCHEMA_HEAD

    arc = Archive.init(tmp_path / "old", PASSPHRASE, kdf=FAST_KDF)
    (ev,) = arc.add([_note_file(arc)], note="kept from before İmişli")
    root = downgrade(arc, "0001")
    with pytest.raises(SahidError, match="run `sahid upgrade`"):
        Archive.open(root, PASSPHRASE)
    assert Archive.upgrade(root, PASSPHRASE) == ("0001", SCHEMA_HEAD)
    with Archive.open(root, PASSPHRASE) as again:
        assert [h.id for h in again.records.search("Imishli")] == [ev.evidence]
        again.verify()


def test_demo_builds_from_the_sample(tmp_path):
    from sahid.demo import build_demo

    summary = build_demo(tmp_path / "demo", PASSPHRASE, kdf=FAST_KDF)
    assert summary["counts"]["incident"] == 7 and summary["counts"]["statement"] == 2
    with Archive.open(tmp_path / "demo", PASSPHRASE) as arc:
        arc.verify()
        for q in ("Имишли", "Imishli", "İmişli"):
            assert "imishli-2025-01-18" in {h.id for h in arc.records.search(q)}
        evidence = arc.evidence_list()
        originals = [e for e in evidence if not (e["name"] or "").startswith("redacted-")]
        assert originals and all("synthetic" in (e["source"] or "") for e in originals)
        assert len(evidence) == 2 * len(originals) - 1  # one redacted copy per picture
        inc = arc.records.get("imishli-2025-01-18")
        assert inc["links"] and inc["fields"]["place"]["place"]
        assert [p["title"] for p in arc.records.of_type("person")][:2] == ["Victim A", "Victim B"]


def test_incidents_export_as_geojson_points(arc):
    from sahid.records.transfer import to_geojson

    ids = seed(arc)
    arc.records.add(
        "incident", {"title": "x", "start": "2025", "type": "threat", "place": "Atlantis"}
    )
    doc = json.loads(to_geojson(export_records(arc, ("incident",))["incident"]))
    assert doc["type"] == "FeatureCollection" and doc["unlocated"] == 1
    by_id = {f["id"]: f for f in doc["features"]}
    lon, lat = by_id[ids["inc"]]["geometry"]["coordinates"]
    assert 44.7 < lon < 50.7 and 38.3 < lat < 42.0  # inside Azerbaijan
    assert by_id[ids["inc"]]["properties"]["place"]["ru"] == "Имишли"
