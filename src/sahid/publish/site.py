"""``build_site``: the public, redacted, static site in az/ru/en (DESIGN §7).

The site needs no JavaScript. Templates are Jinja2 (compiled once per language) and the
words are gettext catalogs (Babel), compiled from the packaged ``.po`` files when first
used. Everything is loaded from the archive in a few queries up front, then pages are
rendered from memory, so large archives stay fast. Pages carry no timestamps (the Atom
``updated`` is the newest entry's time), so rebuilding unchanged data gives identical
bytes. Files go through a :class:`~sahid.publish.output.Writer`: staged next to ``out``
and renamed in when complete, and on a re-publish only the files whose bytes changed.
"""

from __future__ import annotations

import csv
import functools
import io
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from sahid.errors import InputError
from sahid.evidence import decrypt_blob, resolve
from sahid.places import Gazetteer, Place
from sahid.publish import model
from sahid.publish.output import MARKER, SiteOutput, Writer, dumps_lines
from sahid.publish.svgmap import render_map
from sahid.records import ftm
from sahid.records.dates import from_json
from sahid.records.model import ROLES

if TYPE_CHECKING:
    from sahid.archive import Archive
    from sahid.ledger import Entry

__all__ = ["LANGS", "SiteReport", "build_site", "render_page", "translations"]

LANGS = ("az", "ru", "en")
LANG_NAMES = {"az": "Azərbaycanca", "ru": "Русский", "en": "English"}
INDEX_LATEST = 100
FEED_ENTRIES = 50
#: JSON Schema of data/incidents.json, copied onto every site beside it.
SCHEMA = files("sahid.publish").joinpath("data/incidents.schema.json")


@dataclass
class SiteReport:
    """What ``build_site`` wrote and revealed."""

    out: Path
    langs: list[str]
    pages: list[str]  # every page written, relative to ``out`` (sorted)
    files: list[str]  # every file written, relative to ``out`` (sorted)
    incidents: list[str]  # published incident ids (newest first)
    revealed: list[int]  # seqs of entries that made or changed published records and copies
    derivations: list[dict[str, Any]]  # one per published redacted copy
    media: list[str] = field(default_factory=list)  # files under out/media
    #: The revealed entries already read while building (seq -> entry), for the proofs.
    entries: dict[int, Entry] = field(default_factory=dict, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "langs": self.langs,
            "pages": len(self.pages),
            "files": len(self.files),
            "incidents": self.incidents,
            "revealed": self.revealed,
            "derivations": self.derivations,
            "media": self.media,
        }


# --- languages --------------------------------------------------------------------------


def check_langs(langs: Sequence[str]) -> tuple[str, ...]:
    if not langs:
        raise InputError(f"give at least one language: {', '.join(LANGS)}")
    for lang in langs:
        if lang not in LANGS:
            raise InputError(f"unknown language {lang!r}; sahid publishes in: {', '.join(LANGS)}")
    return tuple(dict.fromkeys(langs))


@functools.cache
def translations(lang: str) -> Translations:
    """The packaged catalog of ``lang``, compiled from its ``.po`` file (once per process)."""
    check_langs([lang])
    po = files("sahid.publish") / "locale" / lang / "LC_MESSAGES" / "sahid.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang, domain="sahid")
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain="sahid")


ENUM_WORDS = {
    "ill_treatment": "ill-treatment",
    "arbitrary_detention": "arbitrary detention",
    "enforced_disappearance": "enforced disappearance",
    "home_raid": "home raid",
    "protest_dispersal": "protest dispersal",
    "property_damage": "property damage",
    "still_held": "still held",
}


class Words:
    """Language-dependent formatting used by the templates."""

    def __init__(
        self, lang: str, gaz: Gazetteer, units: Mapping[str, Mapping[str, Any]] | None = None
    ) -> None:
        self.lang = lang
        self.gaz = gaz
        self.units = units or {}
        self._links: dict[tuple[str, str], Markup] = {}
        self.t = translations(lang)
        self._dates: dict[str, str] = {}
        self._months: dict[str, str] = {}

    def _(self, msgid: str) -> str:
        return str(self.t.gettext(msgid))

    def enum(self, value: str | None) -> str:
        if not value:
            return ""
        return self._(ENUM_WORDS.get(value, value.replace("_", " ")))

    def ml(self, value: Any) -> str:
        """A multilingual field in this language, else English, Azerbaijani, Russian."""
        if isinstance(value, Mapping):
            for key in (self.lang, "en", "az", "ru"):
                if value.get(key):
                    return str(value[key])
            return ""
        return "" if value is None else str(value)

    def when(self, value: str | None) -> str:
        """A date with its precision: "January 2018", "~2013", "18 January 2025, 12:30"."""
        if not value:
            return ""
        cached = self._dates.get(value)
        if cached is not None:
            return cached
        fd = from_json(value)
        t = fd.text
        d = date(
            int(t[:4]), int(t[5:7] or 1) if len(t) >= 7 else 1, int(t[8:10]) if len(t) >= 10 else 1
        )
        if fd.precision == "year":
            text = t[:4]
        elif fd.precision == "month":
            text = str(format_skeleton("yMMMM", d, locale=self.lang, fuzzy=True))
        else:
            text = str(format_date(d, "long", locale=self.lang))
            if fd.precision == "minute":
                text += ", " + t[11:16]
        if fd.approximate:
            text = "~" + text
        self._dates[value] = text
        return text

    def month(self, ym: str) -> str:
        """ "2018-01" → "January 2018"; "2018" → "2018"."""
        if len(ym) < 7:
            return ym
        if ym not in self._months:
            d = date(int(ym[:4]), int(ym[5:7]), 1)
            self._months[ym] = str(format_skeleton("yMMMM", d, locale=self.lang, fuzzy=True))
        return self._months[ym]

    def place(self, place: Mapping[str, Any] | None) -> str:
        """A record's place in this language (gazetteer name), with its detail."""
        if not place:
            return ""
        name = str(place.get("name", ""))
        pid = place.get("place")
        if pid:
            try:
                p = self.gaz.get(str(pid))
            except InputError:
                p = None
            if p is not None:
                name = p.name(self.lang)
                if p.district and not place.get("within"):
                    try:
                        district = self.gaz.get(p.district).name(self.lang)
                    except InputError:
                        district = name
                    if district != name:
                        name += ", " + district
                if place.get("within"):
                    name = str(place.get("name", "")) + " (" + name + ")"
        if place.get("detail"):
            name += " — " + str(place["detail"])
        return name

    def unit_link(self, uid: str | None, root: str) -> Markup:
        """A link to a published unit's page, in this language ("" if it has none)."""
        if not uid or uid not in self.units:
            return Markup("")
        key = (uid, root)
        link = self._links.get(key)
        if link is None:
            name = self.ml(self.units[uid].get("name"))
            link = Markup('<a href="{}{}/units/{}.html">{}</a>').format(root, self.lang, uid, name)
            self._links[key] = link
        return link

    def place_name(self, p: Place) -> str:
        return p.name(self.lang)

    def person(self, view: Mapping[str, Any] | None) -> str:
        if view is None:
            return ""
        if view["official"]:
            return ", ".join(x for x in (view["name"], view["position"]) if x)
        role = view["role"]
        word = self._(role.capitalize()) if role in ROLES else role.capitalize()
        text = f"{word} {view['letter']}".strip()
        if view["age_group"] not in ("", "unknown"):
            text += f" ({self.enum(view['age_group'])})"
        return text


@functools.cache
def _env(lang: str) -> Environment:
    """The template environment of ``lang`` (templates compiled once, never reloaded)."""
    env = Environment(
        loader=PackageLoader("sahid.publish", "templates"),
        autoescape=select_autoescape(["html", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    t = translations(lang)

    @functools.cache
    def gettext(msgid: str) -> str:
        return str(t.gettext(msgid))

    env.globals.update(lang=lang, langs=LANGS, lang_names=LANG_NAMES, _=gettext)
    return env


def render_page(lang: str, template_name: str, context: Mapping[str, Any]) -> str:
    """Render a packaged template in ``lang``: the reusable page renderer.

    ``context`` should give ``root`` (relative path from the page to the site root, e.g.
    ``"../"`` for ``{lang}/index.html``) and ``page`` (the page's path inside its language
    folder, for the language switch); ``w`` (formatting helpers) is added if missing.
    """
    check_langs([lang])
    ctx: dict[str, Any] = {"root": "../", "page": "index.html", "langs_built": LANGS}
    ctx.update(context)
    if "w" not in ctx:
        ctx["w"] = Words(lang, Gazetteer.load())
    return _env(lang).get_template(template_name).render(ctx)


# --- output folder ----------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return dumps_lines(value)


# --- the build --------------------------------------------------------------------------


@dataclass
class Site:
    """The published data, language-independent, ready for the templates."""

    data: model.Loaded
    sel: model.Selection
    gaz: Gazetteer
    persons: dict[str, dict[str, Any]]
    incidents: list[dict[str, Any]]
    by_id: dict[str, dict[str, Any]]
    units: dict[str, dict[str, Any]]
    unit_incidents: dict[str, list[str]]
    district_incidents: dict[str, list[str]]
    counts: dict[str, list[tuple[str, int]]]
    times: dict[str, str]  # incident -> ts of the entry that last changed it


def _rec(data: model.Loaded, rid: str) -> dict[str, Any]:
    return data.records[rid][1]


def _prepare(
    archive: Archive, include: Sequence[str], parsed: dict[int, Entry] | None = None
) -> tuple[Site, list[int]]:
    data = model.load(archive)
    sel = model.select_published(data, include)
    gaz = Gazetteer.load()
    persons = {p: model.person_view(_rec(data, p)) for p in sorted(sel.persons)}
    published = set(sel.incidents)
    revealed, times = model.revealed_entries(archive, data, sel.record_ids, parsed)
    incidents: list[dict[str, Any]] = []
    unit_incidents: dict[str, set[str]] = {}
    responsible: Counter[str] = Counter()
    district_incidents: dict[str, list[str]] = {}
    by_type: Counter[str] = Counter()
    by_charge: Counter[str] = Counter()
    for inc in sel.incidents:
        d = _rec(data, inc)
        kids: dict[str, list[dict[str, Any]]] = {t: [] for t in model.CHILD_TYPES}
        for c in sel.children[inc]:
            rtype = data.records[c][0]
            kids[rtype].append({"id": c, **_rec(data, c)})
        statements = []
        for st in kids["statement"]:
            lks = [{"id": k, **_rec(data, k)} for k in sel.links.get(st["id"], [])]
            for lk in lks:
                lk["media"] = sel.media[str(lk["evidence"])]
            claims = [
                {**c, "links": [lk for lk in lks if lk.get("claim") == c["n"]]}
                for c in st.get("claims", [])
            ]
            statements.append(
                {**st, "claims": claims, "links": [lk for lk in lks if lk.get("claim") is None]}
            )
        media = []
        seen: set[str] = set()
        for k in sel.links.get(inc, []):
            m = sel.media[str(_rec(data, k)["evidence"])]
            if m.evidence_id not in seen:
                seen.add(m.evidence_id)
                media.append({"media": m, "status": _rec(data, k).get("status", "unverified")})
        involved: set[str] = set(d.get("units", []))
        resp: set[str] = set(d.get("units", []))
        for a in kids["act"]:
            if a.get("perpetrator_unit"):
                involved.add(a["perpetrator_unit"])
                resp.add(a["perpetrator_unit"])
        for det in kids["detention"]:
            if det.get("unit"):
                involved.add(det["unit"])
                resp.add(det["unit"])
        for cs in kids["case"]:
            if cs.get("court"):
                involved.add(cs["court"])
        for st in kids["statement"]:
            if st.get("source_unit"):
                involved.add(st["source_unit"])
        for u in involved & sel.units:
            unit_incidents.setdefault(u, set()).add(inc)
        for u in resp & sel.units:
            responsible[u] += 1
        district = model.district_of(gaz, d.get("place"))
        if district is not None:
            district_incidents.setdefault(district.id, []).append(inc)
        by_type[d["type"]] += 1
        for ch in kids["charge"]:
            key = " ".join(
                x
                for x in (ch.get("label", ""), f"({ch['article']})" if ch.get("article") else "")
                if x
            )
            by_charge[key] += 1
        point = _point(gaz, d.get("place"))
        incidents.append(
            {
                "id": inc,
                "d": d,
                "district": district,
                "point": point,
                "acts": kids["act"],
                "detentions": kids["detention"],
                "charges": kids["charge"],
                "cases": kids["case"],
                "statements": statements,
                "media": media,
                "units": sorted(set(d.get("units", [])) & sel.units),
                "related": [r for r in d.get("related", []) if r in published],
                "year": model.sort_key(d["start"])[:4],
                "month": model.sort_key(d["start"])[:7]
                if len(model.sort_key(d["start"])) >= 7
                else "",
            }
        )
    units = {u: {"id": u, **_rec(data, u)} for u in sorted(sel.units)}
    incident_times = {
        i: times.get(data.records[i][4], times.get(data.records[i][3], "")) for i in sel.incidents
    }
    order = {inc: n for n, inc in enumerate(sel.incidents)}
    counts = {
        "district": sorted(
            ((k, len(v)) for k, v in district_incidents.items()), key=lambda kv: (-kv[1], kv[0])
        ),
        "unit": sorted(responsible.items(), key=lambda kv: (-kv[1], kv[0])),
        "type": sorted(by_type.items(), key=lambda kv: (-kv[1], kv[0])),
        "charge": sorted(by_charge.items(), key=lambda kv: (-kv[1], kv[0])),
    }
    site = Site(
        data,
        sel,
        gaz,
        persons,
        incidents,
        {i["id"]: i for i in incidents},
        units,
        {u: sorted(v, key=order.__getitem__) for u, v in sorted(unit_incidents.items())},
        dict(sorted(district_incidents.items())),
        counts,
        incident_times,
    )
    return site, revealed


def _point(gaz: Gazetteer, place: Mapping[str, Any] | None) -> tuple[str, str, str] | None:
    """(place id, lat, lon) of a record's place, or its district's, if known."""
    if not place or not place.get("place"):
        return None
    try:
        p = gaz.get(str(place["place"]))
    except InputError:
        return None
    if (p.lat is None or p.lon is None) and p.district:
        try:
            p = gaz.get(p.district)
        except InputError:
            return None
    if p.lat is None or p.lon is None:
        return None
    return p.id, p.lat, p.lon


def build_site(
    archive: Archive,
    out: Path,
    *,
    langs: Sequence[str] = LANGS,
    include: Sequence[str] = ("unverified", "corroborated", "verified", "disputed"),
) -> SiteReport:
    """Write the public site (pages and data, no ``verify/``) for ``archive`` into ``out``.

    The site is staged next to ``out`` and renamed in when complete
    (:class:`~sahid.publish.output.SiteOutput`); ``sahid publish`` uses
    :func:`sahid.publish.build.publish_site`, which adds the proofs and the signature.
    """
    langs = check_langs(langs)
    model.check_include(include)
    with SiteOutput(Path(out)) as output:
        report = render_site(archive, output.writer, langs=langs, include=include)
        output.commit()
    report.out = Path(out)
    return report


def render_site(
    archive: Archive,
    w: Writer,
    *,
    langs: Sequence[str] = LANGS,
    include: Sequence[str] = ("unverified", "corroborated", "verified", "disputed"),
    meanwhile: Callable[[SiteReport], None] | None = None,
) -> SiteReport:
    """Render every page, data file and redacted copy of the site through ``w``.

    ``meanwhile``, if given, is called while the language folders are rendered (by
    forked workers on a large site) with a report whose ``revealed``, ``derivations``
    and ``entries`` are final but whose file lists are not: ``sahid publish`` computes
    the proofs then, on the core the workers leave free.
    """
    langs = check_langs(langs)
    model.check_include(include)
    parsed: dict[int, Entry] = {}
    site, revealed = _prepare(archive, include, parsed)
    derivs = _write_media(archive, site, w)
    # The redaction entries prove how each published copy was made: reveal them too.
    shown = set(revealed)
    for d in derivs:
        shown.update(x for x in (d["seq"], d["copy_added_seq"]) if isinstance(x, int))
    report = SiteReport(
        out=w.live or w.root,
        langs=list(langs),
        pages=[],
        files=[],
        incidents=list(site.sel.incidents),
        revealed=sorted(shown),
        derivations=derivs,
        entries=parsed,
    )

    def rest() -> None:
        _write_data(site, w)
        root = render_page(langs[0], "root.html", {"root": "", "page": "", "langs_built": langs})
        w.text("index.html", root)
        css = (files("sahid.publish") / "static" / "site.css").read_bytes()
        w.bytes("site.css", css)
        from sahid import __version__

        marker = {"generator": "sahid", "version": __version__, "langs": list(langs)}
        w.text(MARKER, _dumps(marker))
        if meanwhile is not None:
            meanwhile(report)

    _write_langs(site, langs, w, rest)
    written = sorted(w.written)
    report.pages = [p for p in written if p.endswith((".html", ".xml"))]
    report.files = written
    report.media = [p for p in written if p.startswith("media/")]
    return report


def _write_media(archive: Archive, site: Site, w: Writer) -> list[dict[str, Any]]:
    """Decrypt each redacted copy into ``media/``; check pictures carry no EXIF."""
    from PIL import Image

    derivs = []
    for eid in sorted(site.sel.media):
        m = site.sel.media[eid]
        if m.copy_id is None or m.file is None:
            continue
        row = resolve(archive, m.copy_id)
        buf = io.BytesIO()
        writer = decrypt_blob(archive, row["blob"], buf)
        if writer.sha.hexdigest() != row["sha256"]:
            raise InputError(f"redacted copy {m.copy_id} no longer matches its SHA-256")
        raw = buf.getvalue()
        if m.kind == "image":
            with Image.open(io.BytesIO(raw)) as img:
                if len(img.getexif()) or img.info.get("exif") or img.info.get("xmp"):
                    raise InputError(
                        f"redacted copy {m.copy_id} of evidence {eid} still carries metadata; "
                        f"make a new one with `sahid redact {eid}`"
                    )
        if w.sha256(f"media/{m.file}") is None:
            w.bytes(f"media/{m.file}", raw)
        derivs.append(
            {
                "original_sha256": m.original_sha256,
                "copy_sha256": m.copy_sha256,
                "operations": m.operations,
                "seq": m.seq,
                "copy_added_seq": m.copy_added_seq,
                "file": f"media/{m.file}",
            }
        )
    return sorted(derivs, key=lambda d: (d["copy_sha256"] or "", d["original_sha256"] or ""))


def _incident_json(site: Site, inc: dict[str, Any]) -> dict[str, Any]:
    d = inc["d"]
    place = d.get("place") or {}
    out: dict[str, Any] = {
        "id": inc["id"],
        "title": d.get("title", {}),
        "summary": d.get("summary", {}),
        "start": d["start"],
        "end": d.get("end"),
        "type": d["type"],
        "status": d.get("status", "unverified"),
        "place": {k: place[k] for k in ("name", "detail", "place") if k in place},
        "district": inc["district"].id if inc["district"] is not None else None,
        "units": inc["units"],
        "lat": inc["point"][1] if inc["point"] else None,
        "lon": inc["point"][2] if inc["point"] else None,
        "related": inc["related"],
        "acts": len(inc["acts"]),
        "detentions": len(inc["detentions"]),
        "charges": sorted(c.get("label") or c.get("article") or "" for c in inc["charges"]),
    }
    return out


def _write_data(site: Site, w: Writer) -> None:
    rows = [_incident_json(site, i) for i in site.incidents]
    rows.sort(key=lambda r: r["id"])
    w.text("data/incidents.json", _dumps({"incidents": rows}))
    buf = io.StringIO()
    cols = [
        "id",
        "start",
        "end",
        "type",
        "status",
        "title_az",
        "title_ru",
        "title_en",
        "place",
        "place_id",
        "district",
        "lat",
        "lon",
        "units",
        "charges",
    ]
    cw = csv.writer(buf, lineterminator="\n")
    cw.writerow(cols)
    for r in rows:
        cw.writerow(
            [
                r["id"],
                r["start"],
                r["end"] or "",
                r["type"],
                r["status"],
                r["title"].get("az", ""),
                r["title"].get("ru", ""),
                r["title"].get("en", ""),
                r["place"].get("name", ""),
                r["place"].get("place", ""),
                r["district"] or "",
                r["lat"] or "",
                r["lon"] or "",
                ";".join(r["units"]),
                ";".join(r["charges"]),
            ]
        )
    w.text("data/incidents.csv", buf.getvalue())
    features = []
    for r in rows:
        if r["lat"] is None:
            continue
        props = {k: r[k] for k in ("id", "start", "end", "type", "status", "title", "district")}
        props["place"] = r["place"].get("name", "")
        features.append(
            {
                "type": "Feature",
                "id": r["id"],
                "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
                "properties": props,
            }
        )
    w.text("data/incidents.geojson", _dumps({"type": "FeatureCollection", "features": features}))
    w.bytes("data/incidents.schema.json", SCHEMA.read_bytes())
    w.text("data/entities.ftm.json", ftm.to_lines(ftm.entities(_ftm_records(site))))


def _ftm_records(site: Site) -> list[ftm.Record]:
    """The published records (creation order) without notes or sealed fields, for FtM."""
    out: list[ftm.Record] = []
    ids = sorted(site.sel.record_ids, key=lambda rid: (site.data.records[rid][3], rid))
    for rid in ids:
        rtype, d, _, _, _ = site.data.records[rid]
        out.append((rid, rtype, ftm.public_data(d)))
    return out


_FORKED: tuple[Site, Sequence[str], Writer] | None = None
PARALLEL_MIN_INCIDENTS = 300


def _shard_job(job: tuple[str, int, int]) -> tuple[dict[str, str], list[str]]:
    """Render one shard of one language in a forked worker (the site is inherited)."""
    assert _FORKED is not None
    site, langs, parent = _FORKED
    w = Writer(parent.root, parent.live, parent.previous)
    _write_lang(site, job[0], langs, w, job[1], job[2])
    return w.hashes, w.changed


def _write_langs(
    site: Site, langs: Sequence[str], w: Writer, meanwhile: Callable[[], None]
) -> None:
    """All language folders; large sites are rendered by forked workers, one per CPU,
    while this process runs ``meanwhile`` (which must not write the workers' files)."""
    global _FORKED
    import multiprocessing

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if cpus < 2 or len(site.incidents) < PARALLEL_MIN_INCIDENTS:
        for lang in langs:
            _write_lang(site, lang, langs, w)
        meanwhile()
        return
    for lang in langs:  # compile the templates once, before forking
        _env(lang).get_template("incident.html")
    jobs = [(lang, shard, cpus) for lang in langs for shard in range(cpus)]
    _FORKED = (site, langs, w)
    try:
        with multiprocessing.get_context("fork").Pool(cpus) as pool:
            results = pool.imap_unordered(_shard_job, jobs)
            meanwhile()
            for hashes, changed in results:
                w.merge(hashes, changed)
    finally:
        _FORKED = None


def _write_lang(
    site: Site, lang: str, langs: Sequence[str], w: Writer, shard: int = 0, shards: int = 1
) -> None:
    """The pages of one language; with ``shards``, only this shard's share of them."""
    words = Words(lang, site.gaz, site.units)
    base: dict[str, Any] = {
        "w": words,
        "s": site,
        "langs_built": langs,
        "persons": site.persons,
        "units": site.units,
        "by_id": site.by_id,
    }
    env = _env(lang)
    cache: dict[str, Callable[[dict[str, Any]], str]] = {}

    def page(rel: str, template: str, **ctx: Any) -> None:
        depth = rel.count("/")
        tpl = cache.get(template)
        if tpl is None:
            tpl = cache[template] = env.get_template(template).render
        w.text(f"{lang}/{rel}", tpl({**base, "root": "../" * (depth + 1), "page": rel, **ctx}))

    for inc in site.incidents[shard::shards]:
        related = [site.by_id[r] for r in inc["related"]]
        page(f"incidents/{inc['id']}.html", "incident.html", inc=inc, related=related)
    if shard != 0:
        return
    page("index.html", "index.html", items=site.incidents[:INDEX_LATEST], total=len(site.incidents))
    years: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for inc in site.incidents:
        years.setdefault(inc["year"], {}).setdefault(inc["month"], []).append(inc)
    page("timeline.html", "timeline.html", years=years)
    page("stats.html", "stats.html", counts=site.counts)
    for uid, u in site.units.items():
        page(
            f"units/{uid}.html",
            "unit.html",
            unit=u,
            items=[site.by_id[i] for i in site.unit_incidents.get(uid, [])],
        )
    for pid, incs in site.district_incidents.items():
        page(
            f"districts/{pid}.html",
            "district.html",
            district=site.gaz.get(pid),
            items=[site.by_id[i] for i in incs],
        )
    svg = render_map(
        {k: len(v) for k, v in site.district_incidents.items()},
        [(i["point"], i["id"]) for i in site.incidents if i["point"] is not None],
        names=lambda pid: words.place_name(site.gaz.get(pid)),
        count_label=words._("Incidents"),
    )
    page("map.html", "map.html", svg=svg)
    entries = site.incidents[:FEED_ENTRIES]
    updated = max((site.times[i["id"]] for i in site.incidents), default="1970-01-01T00:00:00Z")
    page(
        "feed.xml",
        "feed.xml",
        entries=entries,
        updated=updated,
        times=site.times,
    )
