"""FollowTheMoney export (issue 7, item 4): every entity is valid per the ``followthemoney``
package's own model, and nothing sealed, private or identifying leaves with it."""

from __future__ import annotations

import json

from followthemoney import model
from followthemoney.proxy import EntityProxy

from sahid.records.ftm import archive_records, entities, to_lines
from test_records import seed

from conftest import run_cli


def checked(entity: dict) -> EntityProxy:
    """The entity through FtM's own cleaning: unknown schemata, unknown properties or values
    FtM would drop or change (bad dates, languages, countries, references) all fail."""
    proxy = model.get_proxy(entity, cleaned=False)  # raises InvalidData on unknown props
    assert proxy.schema.name == entity["schema"]
    cleaned = proxy.to_dict()["properties"]
    assert {k: sorted(v) for k, v in cleaned.items()} == {
        k: sorted(v) for k, v in entity["properties"].items()
    }, entity
    return proxy


def full_case(arc) -> dict[str, str]:
    ids = seed(arc)
    r = arc.records
    ids["official"] = r.add(
        "person",
        {
            "roles": [{"incident": ids["other"], "role": "official"}],
            "public_name": "Colonel PLANTED-OFFICIAL",
            "position": "head of district police",
            "unit": "u-dyp",
        },
    ).ids[0]
    ids["detainee"] = r.add(
        "person",
        {"roles": [{"incident": ids["other"], "role": "detainee"}]},
        sealed={"name": "PLANTED-DETAINEE Rashad"},
    ).ids[0]
    ids["court"] = r.add("unit", {"name": {"en": "Quba District Court"}, "kind": "court"}).ids[0]
    ids["case"] = r.add(
        "case",
        {
            "incident": ids["other"],
            "court": ids["court"],
            "number": "1(101)-45/2012",
            "persons": [ids["detainee"]],
            "verdict": "guilty",
            "sentence": "3 years",
        },
    ).ids[0]
    ids["charge2"] = r.add(
        "charge",
        {
            "incident": ids["other"],
            "person": ids["detainee"],
            "case": ids["case"],
            "article": "221.3",
            "label": "hooliganism",
        },
    ).ids[0]
    ids["detention"] = r.add(
        "detention",
        {"incident": ids["other"], "person": ids["detainee"], "unit": "u-dyp", "start": "2012-03"},
    ).ids[0]
    r.update(ids["inc"], {"note": "PLANTED-NOTE ask Aysel's mother"})
    return ids


def test_every_entity_is_valid_ftm_and_holds_nothing_private(make_archive):
    arc = make_archive()
    ids = full_case(arc)
    found = list(entities(archive_records(arc)))
    proxies = {p.id: p for p in map(checked, found)}
    assert len(proxies) == len(found)  # ids are unique
    schemata = {p.schema.name for p in proxies.values()}
    expected = {"Event", "PublicBody", "Person", "UnknownLink", "CourtCase", "CourtCaseParty"}
    assert expected | {"Article"} == schemata
    event = proxies["sahid-" + ids["inc"]]
    assert event.get("startDate") == ["2025-01-18T12:30"] and event.get("country") == ["az"]
    assert "sahid-u-dyp" in event.get("organizer") and "sahid-" + ids["v1"] in event.get("involved")
    assert event.get("location") == ["İmişli"]  # the street detail stays out
    victim = proxies["sahid-" + ids["v1"]]
    assert victim.get("name") == ["Victim A"]
    official = proxies["sahid-" + ids["official"]]
    assert official.get("name") == ["Colonel PLANTED-OFFICIAL"]
    assert official.get("position") == ["head of district police"]
    assert proxies["sahid-u-dyp"].get("parent") == ["sahid-u-mia"]
    party = proxies["sahid-" + ids["charge2"]]
    assert party.get("role") == ["charged: 221.3 hooliganism"]
    assert proxies["sahid-" + ids["stmt"]].get("language") == ["rus"]
    # Every reference points at an entity of the same export.
    for p in proxies.values():
        for prop, values in p.properties.items():
            if p.schema.get(prop).type.name == "entity":
                assert set(values) <= set(proxies), (p.id, prop)
    text = to_lines(found)
    for secret in ("PLANTED-NAME", "PLANTED-DETAINEE", "PLANTED-NOTE", "+994", "Shadlinski"):
        assert secret not in text
    assert [json.loads(line)["id"] for line in text.splitlines()] == [e["id"] for e in found]


def test_selection_never_points_outside_itself(make_archive):
    arc = make_archive()
    ids = full_case(arc)
    only_one = [r for r in archive_records(arc) if r[0] in (ids["inc"], ids["v1"], ids["act"])]
    found = {e["id"]: e for e in entities(only_one)}
    for e in found.values():
        checked(e)
    event = found["sahid-" + ids["inc"]]["properties"]
    assert event["involved"] == ["sahid-" + ids["v1"]] and "organizer" not in event
    assert "sahid-" + ids["act"] not in found  # its perpetrator unit is not in the selection


def test_cli_export_ftm(make_archive, tmp_path, passfile):
    arc = make_archive()
    full_case(arc)
    root = arc.root
    arc.close()
    out = tmp_path / "entities.ftm.json"
    done = run_cli("export", "-o", str(out), "--format", "ftm", "--archive", str(root),
                   "--passphrase-file", str(passfile), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert json.loads(done.stdout)["entities"] == len(lines) > 10
    for line in lines:
        checked(json.loads(line))
    refused = run_cli("export", "-o", str(tmp_path / "x"), "--format", "ftm", "--include-sealed",
                      "--archive", str(root), "--passphrase-file", str(passfile))  # fmt: skip
    assert refused.returncode == 1 and "never holds sealed fields" in refused.stderr
    assert not (tmp_path / "x").exists()
