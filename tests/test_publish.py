"""The public site (DESIGN §7): protection by default, three languages, refusals."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sahid import Archive
from sahid.errors import InputError
from sahid.protect import redact
from sahid.publish import LANGS, build_site, render_page, translations
from sahid.publish.build import publish_site

from conftest import FAST_KDF, PASSPHRASE

mediagen = pytest.importorskip("mediagen")

PLANTED = (
    "PLANTED-VICTIM-NAME",
    "PLANTED-CONTACT",
    "PLANTED-SEALED-NOTE",
    "PLANTED-NOTE",
    "PLANTED-FILENAME",
    "PLANTED-SOURCE",
    "PLANTED-EVNOTE",
    "PLANTED-MAKE",
    "PLANTED-SERIAL",
    "PLANTED-DOC",
    "HIDDEN-INCIDENT",
    "HIDDEN-ACT",
    "hidden-inc",
    "sha256-of-original",  # replaced below by the original's real hash
)
PAGE_TYPES = (
    "index.html",
    "map.html",
    "timeline.html",
    "stats.html",
    "feed.xml",
    "incidents/inc-pub.html",
    "incidents/inc-approx.html",
    "units/u-police.html",
    "districts/d-imishli.html",
)


# Planted GPS: 40°11'22.5"N 47°09'33.3"E, nowhere near the gazetteer points the map uses.
GPS_TEXTS = ("40.1895", "47.1592", "40 deg 11", "47 deg 9")


def _planted_photo(name: str = "astronaut") -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PLANTED-MAKE"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (40.0, 11.0, 22.5), "E", (47.0, 9.0, 33.3)
    exif.get_ifd(0x8769)[0xA431] = "PLANTED-SERIAL"
    image = mediagen.photo(name).convert("RGB")
    data: bytes = mediagen.encoded(image, "JPEG", quality=92, exif=exif)
    return data


def _populate(arc: Archive, tmp: Path) -> dict[str, str]:
    rec = arc.records
    rec.add("unit", {"name": {"en": "Imishli police", "az": "İmişli polisi"}}, rid="u-police")
    rec.add(
        "incident",
        {
            "title": {"en": "Beating at the market", "az": "Bazarda döyülmə", "ru": "Избиение"},
            "start": "2018-01",
            "place": "İmişli",
            "type": "ill_treatment",
            "summary": {"en": "A trader was beaten."},
            "units": ["u-police"],
            "status": "corroborated",
            "publish": True,
            "note": "PLANTED-NOTE internal",
        },
        rid="inc-pub",
    )
    rec.add(
        "incident",
        {
            "title": {"en": "Old raid"},
            "start": "~2013",
            "place": "Gəncə",
            "type": "home_raid",
            "status": "verified",
            "publish": True,
            "related": ["inc-pub"],
        },
        rid="inc-approx",
    )
    rec.add(
        "incident",
        {
            "title": {"en": "HIDDEN-INCIDENT title"},
            "start": "2020-05-05",
            "place": "Quba",
            "type": "threat",
            "units": ["u-police"],
            "note": "PLANTED-NOTE hidden",
        },
        rid="hidden-inc",
    )
    rec.add(
        "incident",
        {
            "title": {"en": "HIDDEN-INCIDENT disputed"},
            "start": "2021",
            "type": "threat",
            "status": "disputed",
            "publish": True,
        },
        rid="hidden-disputed",
    )
    rec.add(
        "person",
        {"roles": [{"incident": "inc-pub", "role": "victim"}], "age_group": "adult"},
        rid="per-victim",
        sealed={
            "name": "PLANTED-VICTIM-NAME",
            "contacts": "PLANTED-CONTACT",
            "notes": "PLANTED-SEALED-NOTE",
        },
    )
    rec.add(
        "person",
        {"roles": [{"incident": "inc-pub", "role": "official"}], "position": "captain"},
        rid="per-officer",
        sealed={"name": "Rauf Officerov"},
    )
    rec.add(
        "person",
        {"roles": [{"incident": "hidden-inc", "role": "witness"}]},
        rid="per-hidden",
        sealed={"name": "PLANTED-VICTIM-NAME hidden"},
    )
    rec.add(
        "act",
        {
            "incident": "inc-pub",
            "victim": "per-victim",
            "perpetrator_unit": "u-police",
            "perpetrator": "per-officer",
            "type": "beating",
            "outcome": "injury",
            "note": "PLANTED-NOTE act",
        },
    )
    rec.add("act", {"incident": "hidden-inc", "victim": "per-hidden", "type": "HIDDEN-ACT"})
    rec.add(
        "charge",
        {
            "incident": "inc-pub",
            "person": "per-victim",
            "article": "221.3",
            "label": "hooliganism",
            "note": "PLANTED-NOTE charge",
        },
    )
    rec.add(
        "statement",
        {
            "incident": "inc-pub",
            "source": "Ministry of Internal Affairs",
            "date": "2018-01-20",
            "language": "en",
            "text": "An incident occurred at the market.",
            "claims": [{"n": 1, "text": "An incident occurred.", "framing": ["no agent"]}],
            "note": "PLANTED-NOTE statement",
        },
        rid="st-1",
    )
    photo = tmp / "PLANTED-FILENAME.jpg"
    photo.write_bytes(_planted_photo())
    second = tmp / "PLANTED-FILENAME-2.jpg"
    second.write_bytes(_planted_photo("coffee"))
    doc = tmp / "PLANTED-DOC.txt"
    doc.write_text("PLANTED-DOC testimony text\n", encoding="utf-8")
    (p,) = arc.add([photo], source="PLANTED-SOURCE", note="PLANTED-EVNOTE")
    (d,) = arc.add([doc], source="PLANTED-SOURCE", note="PLANTED-EVNOTE")
    (q,) = arc.add([second], source="PLANTED-SOURCE", note="PLANTED-EVNOTE")
    assert p.evidence and d.evidence and q.evidence
    rec.add("link", {"evidence": q.evidence, "target": "inc-approx"})
    rec.add("link", {"evidence": p.evidence, "target": "inc-pub", "note": "PLANTED-NOTE link"})
    rec.add("link", {"evidence": d.evidence, "target": "inc-pub"})
    rec.add(
        "link",
        {"evidence": p.evidence, "target": "st-1", "claim": 1, "relation": "contradicts"},
    )
    return {
        "photo": p.evidence,
        "doc": d.evidence,
        "photo_sha": p.sha256 or "",
        "photo2": q.evidence,
        "photo2_sha": q.sha256 or "",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("publish")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHID_STATE_DIR", str(tmp / "state"))
        with Archive.init(tmp / "arc", PASSPHRASE, kdf=FAST_KDF) as arc:
            ids = _populate(arc, tmp)
            with pytest.raises(InputError) as err:
                build_site(arc, tmp / "refused")
            ids["unredacted_error"] = err.value.message
            assert not (tmp / "refused").exists()
            done = redact(arc, ids["photo"])
            assert done["faces"] >= 1
            with pytest.raises(InputError) as err:  # one copy made, one still missing
                build_site(arc, tmp / "refused", include=("corroborated", "verified"))
            ids["unredacted_error_one"] = err.value.message
            redact(arc, ids["photo2"])
            out = tmp / "site"
            report = build_site(arc, out, include=("unverified", "corroborated", "verified"))
            published = tmp / "published"
            summary = publish_site(
                arc, published, langs=list(LANGS), include=["corroborated", "verified"]
            )
            yield {
                "arc": arc,
                "out": out,
                "report": report,
                "ids": ids,
                "tmp": tmp,
                "published": published,
                "summary": summary,
            }


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_refuses_linked_images_without_redacted_copy_naming_each(built: dict[str, Any]) -> None:
    ids = built["ids"]
    assert ids["unredacted_error"] == (
        "2 linked item(s) have no redacted copy and cannot be published: "
        f"evidence {ids['photo']} (incident inc-pub), "
        f"evidence {ids['photo2']} (incident inc-approx); run `sahid redact ID` for each "
        f"(for example `sahid redact {ids['photo']}`) or unlink them"
    )
    assert ids["unredacted_error_one"].startswith(
        f"1 linked item(s) have no redacted copy and cannot be published: "
        f"evidence {ids['photo2']} (incident inc-approx);"
    )


def test_published_site_with_proofs_holds_no_planted_secret(built: dict[str, Any]) -> None:
    """The whole ``sahid publish`` output, ``verify/`` included, scanned byte by byte.

    The originals' SHA-256 may appear only in ``verify/`` (the derivation chain
    original → redacted copy is what lets a reader check a copy); nowhere else.
    """
    from sahid.publish.proofs import verify_site

    out: Path = built["published"]
    files = _files(out)
    assert any(n.startswith("verify/") for n in files) and "data/entities.ftm.json" in files
    ids = built["ids"]
    anywhere = [s.encode() for s in PLANTED[:-1]] + [g.encode() for g in GPS_TEXTS]
    outside_verify = [ids["photo_sha"].encode(), ids["photo2_sha"].encode()]
    for name, data in files.items():
        assert "PLANTED" not in name, name
        for needle in anywhere:
            assert needle not in data, (name, needle)
        assert b"planted" not in data.lower(), name
        if not name.startswith("verify/"):
            for needle in outside_verify:
                assert needle not in data, (name, needle)
    derivations = files["verify/derivations.json"].decode()
    assert ids["photo_sha"] in derivations and ids["photo2_sha"] in derivations
    # every published picture: no EXIF at all, no GPS/make/serial left (exiftool agrees)
    import shutil
    import subprocess

    media = sorted((out / "media").iterdir())
    assert len(media) == 2
    if shutil.which("exiftool"):
        for path in media:
            tags = subprocess.run(
                ["exiftool", "-j", "-a", "-G1", str(path)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for bad in ("GPS", "Make", "Serial", "PLANTED", "DateTimeOriginal"):
                assert bad not in tags, (path.name, bad)
    checked = verify_site(out)
    assert checked.derivations == 2 and checked.files >= len(files) - 2  # manifest, signature
    assert checked.incidents == 2  # data/incidents.json matched against the entries


def test_no_planted_secret_in_any_output_byte(built: dict[str, Any]) -> None:
    files = _files(built["out"])
    assert files
    needles = [s.encode() for s in PLANTED[:-1]]
    needles.append(built["ids"]["photo_sha"].encode())  # the original's hash stays private
    needles.append(built["ids"]["photo"].encode())  # and so do evidence ids
    for name, data in files.items():
        assert "PLANTED" not in name, name
        for needle in needles:
            assert needle not in data, (name, needle)
        lowered = data.lower()
        assert b"planted" not in lowered, name
    # the official is named, the victim only by pseudonym
    page = files["en/incidents/inc-pub.html"].decode()
    assert "Rauf Officerov" in page and "Victim A (adult)" in page
    assert "Zərərçəkən A" in files["az/incidents/inc-pub.html"].decode()
    assert "Пострадавший A" in files["ru/incidents/inc-pub.html"].decode()


def test_media_are_redacted_copies_without_exif_or_faces(built: dict[str, Any]) -> None:
    from sahid.media.faces import detect_faces

    media = sorted((built["out"] / "media").iterdir())
    assert len(media) == 2
    for path in media:
        data = path.read_bytes()
        assert path.name == hashlib.sha256(data).hexdigest() + ".jpg"
        with Image.open(path) as img:
            assert not len(img.getexif())
            assert "exif" not in img.info
            assert detect_faces(img) == []
    ids, report = built["ids"], built["report"]
    by_original = {d["original_sha256"]: d for d in report.derivations}
    assert set(by_original) == {ids["photo_sha"], ids["photo2_sha"]}
    assert {d["copy_sha256"] + ".jpg" for d in report.derivations} == {p.name for p in media}
    assert by_original[ids["photo_sha"]]["operations"]  # the astronaut's face was blurred
    for d in report.derivations:
        assert isinstance(d["operations"], list) and isinstance(d["seq"], int)
        assert isinstance(d["copy_added_seq"], int) and d["copy_added_seq"] < d["seq"]
        assert {d["seq"], d["copy_added_seq"]} <= set(report.revealed)
    copy = by_original[ids["photo_sha"]]["copy_sha256"]
    page = (built["out"] / "en/incidents/inc-pub.html").read_text(encoding="utf-8")
    assert f"../../media/{copy}.jpg" in page
    assert "Kept in the archive" in page  # the text document is not published
    assert "contradicts" in page


def test_only_published_incidents(built: dict[str, Any]) -> None:
    report = built["report"]
    assert report.incidents == ["inc-pub", "inc-approx"]  # newest first
    out = built["out"]
    for lang in LANGS:
        assert not (out / lang / "incidents" / "hidden-inc.html").exists()
        assert not (out / lang / "incidents" / "hidden-disputed.html").exists()
        assert not (out / lang / "districts" / "d-quba.html").exists()
    arc: Archive = built["arc"]
    seqs = set(report.revealed)
    for rid in ("inc-pub", "inc-approx", "u-police", "st-1", "per-victim"):
        assert arc.records.get(rid)["created_seq"] in seqs
    hidden = arc.records.get("hidden-inc")["created_seq"]
    assert hidden not in seqs


def test_every_page_type_in_three_languages_with_switch(built: dict[str, Any]) -> None:
    out = built["out"]
    root = (out / "index.html").read_text(encoding="utf-8")
    for lang in LANGS:
        assert f'href="{lang}/index.html"' in root
        for page in PAGE_TYPES:
            path = out / lang / page
            assert path.is_file(), path
            if page.endswith(".html"):
                text = path.read_text(encoding="utf-8")
                assert f'<html lang="{lang}">' in text
                depth = "../" * (page.count("/") + 1)
                for other in LANGS:
                    if other != lang:
                        assert f'href="{depth}{other}/{page}"' in text, (lang, page, other)
                assert f'href="{depth}{lang}/verify.html"' in text
    en = (out / "en/incidents/inc-approx.html").read_text(encoding="utf-8")
    assert "~2013" in en
    assert "January 2018" in (out / "en/incidents/inc-pub.html").read_text(encoding="utf-8")
    assert "yanvar 2018" in (out / "az/incidents/inc-pub.html").read_text(encoding="utf-8")
    assert "Gəncə" in (out / "az/incidents/inc-approx.html").read_text(encoding="utf-8")
    assert "Гянджа" in (out / "ru/incidents/inc-approx.html").read_text(encoding="utf-8")
    svg = (out / "en/map.html").read_text(encoding="utf-8")
    assert svg.count("<path") >= 70 and "<circle" in svg and "districts/d-imishli.html" in svg
    stats = (out / "ru/stats.html").read_text(encoding="utf-8")
    assert "hooliganism (221.3)" in stats and "жестокое обращение" in stats
    marker = json.loads((out / "sahid-site.json").read_text(encoding="utf-8"))
    assert marker["generator"] == "sahid"


def test_data_exports(built: dict[str, Any]) -> None:
    out = built["out"]
    geo = json.loads((out / "data/incidents.geojson").read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection"
    ids = sorted(f["id"] for f in geo["features"])
    assert ids == ["inc-approx", "inc-pub"]
    for f in geo["features"]:
        lon, lat = f["geometry"]["coordinates"]
        assert f["geometry"]["type"] == "Point"
        assert 44 < lon < 51 and 38 < lat < 42
    rows = list(csv.DictReader(io.StringIO((out / "data/incidents.csv").read_text("utf-8"))))
    assert [r["id"] for r in rows] == ["inc-approx", "inc-pub"]
    data = json.loads((out / "data/incidents.json").read_text(encoding="utf-8"))
    assert {i["id"] for i in data["incidents"]} == {"inc-approx", "inc-pub"}
    import jsonschema

    schema = json.loads((out / "data/incidents.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema)
    bad = {"incidents": [dict(data["incidents"][0], status="rumour")]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    from test_ftm import checked

    lines = (out / "data/entities.ftm.json").read_text(encoding="utf-8").splitlines()
    ents = [checked(json.loads(line)) for line in lines]
    events = sorted(e.id for e in ents if e.schema.name == "Event")
    assert events == ["sahid-inc-approx", "sahid-inc-pub"]  # published incidents only
    names = {e.id: e.get("name") for e in ents if e.schema.name == "Person"}
    assert names == {"sahid-per-officer": ["Rauf Officerov"], "sahid-per-victim": ["Victim A"]}
    feed = (out / "en/feed.xml").read_text(encoding="utf-8")
    assert re.search(r"<updated>\d{4}-\d\d-\d\dT", feed)
    import xml.etree.ElementTree as ET

    ET.fromstring(feed.encode())


def test_rebuild_gives_identical_bytes(built: dict[str, Any]) -> None:
    out: Path = built["out"]
    before = _files(out)
    report = build_site(built["arc"], out, include=("unverified", "corroborated", "verified"))
    assert _files(out) == before
    assert report.pages == built["report"].pages
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".site")]
    assert leftovers == []


def test_refusals(built: dict[str, Any]) -> None:
    arc, tmp = built["arc"], built["tmp"]
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError, match="is not empty and not a sahid site; choose another"):
        build_site(arc, foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "mine"
    with pytest.raises(InputError, match="az, ru, en"):
        build_site(arc, tmp / "x", langs=("az", "de"))
    assert not (tmp / "x").exists()
    empty = tmp / "empty"
    empty.mkdir()
    report = build_site(arc, empty, langs=("en",))
    assert (empty / "en/index.html").exists() and not (empty / "az").exists()
    assert report.incidents == ["hidden-disputed", "inc-pub", "inc-approx"]  # newest first


def test_catalogs_and_render_page() -> None:
    for lang in LANGS:
        text = translations(lang).gettext("verify_explainer")
        assert text != "verify_explainer" and len(text) > 100
    html = render_page("ru", "base.html", {"root": "../", "page": "verify.html"})
    assert '<html lang="ru">' in html and 'href="../en/verify.html"' in html
    assert "Проверка" in html


def test_forked_rendering_gives_the_same_bytes(
    built: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sahid.publish.site as site_module

    monkeypatch.setattr(site_module, "PARALLEL_MIN_INCIDENTS", 0)
    monkeypatch.setattr(site_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    out = built["tmp"] / "forked"
    report = build_site(built["arc"], out, include=("unverified", "corroborated", "verified"))
    assert _files(out) == _files(built["out"])
    assert report.files == built["report"].files


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda rows: rows[1]["title"].update(en="Nothing happened"), "incident inc-pub: title"),
        (lambda rows: rows[1].update(status="verified"), "incident inc-pub: status"),
        (lambda rows: rows[0].update(start="2014"), "incident inc-approx: start"),
        (lambda rows: rows[1].update(charges=[]), "incident inc-pub: charges"),
        (lambda rows: rows[1].update(units=[]), "incident inc-pub: units leave out"),
        (lambda rows: rows.pop(0), "leaves out incident inc-approx"),
        (
            lambda rows: rows.append(dict(rows[0], id="hidden-inc")),
            "incident hidden-inc has no revealed ledger entry",
        ),
    ],
)
def test_verify_site_holds_the_open_data_to_the_signed_log(
    built: dict[str, Any], tmp_path: Path, change: Any, complaint: str
) -> None:
    """A publisher (who holds the log key) cannot make data/incidents.json say otherwise."""
    import shutil

    from sahid.errors import VerificationError
    from sahid.publish.proofs import sign_manifest, verify_site

    site = tmp_path / "site"
    shutil.copytree(built["published"], site)
    rel = site / "data/incidents.json"
    doc = json.loads(rel.read_text(encoding="utf-8"))
    assert [r["id"] for r in doc["incidents"]] == ["inc-approx", "inc-pub"]
    change(doc["incidents"])
    rel.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    arc: Archive = built["arc"]
    sign_manifest(site, arc.log_signer, built["summary"]["size"])  # a valid signature again
    with pytest.raises(VerificationError) as caught:
        verify_site(site)
    assert caught.value.where == "data/incidents.json"
    assert caught.value.message.startswith(f"data/incidents.json: {complaint}"), caught.value
