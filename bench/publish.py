"""Publish benchmark (issue 7): the static site for 10 000 incidents in az/ru/en.

- Builds an archive of ``SAHID_BENCH_PUBLISH_INCIDENTS`` (default 10 000) synthetic
  incidents marked for publication, through the real path (``Records.create`` in batches
  of 2 000): titles in az/ru/en, a date, a gazetteer place, a type, a summary, status
  "verified", one of 50 units; one act per incident and a charge for every third.
- Times ``publish_site`` (the full build: pages in three languages, data files, media,
  ``verify/`` proofs and the signed manifest) into a fresh folder.
- Edits one incident's summary and times a re-publish into the same folder. The
  re-publish is incremental: every page is rendered again (sahid keeps no dependency
  graph), but only files whose bytes changed are written (the edited incident's pages,
  the lists that show its summary, the data files, the new proof bundle, the manifest)
  and the rest are left untouched. The result is checked to be byte-identical to a
  fresh full publish of the same archive state into another folder (untimed).
- Peer in the same run: Hugo (Debian package ``hugo``) renders an equivalent site from the
  same incidents: three languages (``languages`` in ``hugo.toml``), layouts of our own
  (baseof, single, list, home, a stats page), taxonomies ``districts`` and ``units`` (one
  term page per district and unit, like sahid's district and unit pages), the section list
  of every incident by month (sahid's timeline), the home page with the latest 100 and an
  Atom/RSS feed of 50. Only ``hugo --quiet`` is timed (best of two runs), not writing its
  content files. Hugo renders no data files, proofs or signature; sahid's time includes them.

Target: sahid's full publish <= 3x Hugo's render time.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import peak_rss_mb, write_result
from sahid.archive import Archive
from sahid.config import KdfParams
from sahid.places import Gazetteer, Place
from sahid.publish import model
from sahid.publish.build import publish_site
from sahid.publish.proofs import verify_site
from sahid.records.model import INCIDENT_TYPES, OUTCOMES
from sahid.records.service import Draft

INCIDENTS = int(os.environ.get("SAHID_BENCH_PUBLISH_INCIDENTS", 10_000))
UNITS = 50
BATCH = 2_000
PASSPHRASE = b"benchmark passphrase"
KDF = KdfParams(memory_kib=65536, time_cost=3, parallelism=4)
LANGS = ("az", "ru", "en")
HUGO = shutil.which("hugo")
TARGET = 3.0

WORDS = {
    "az": "polis etirazçıları saxladı kənddə axtarış apardı jurnalist döyüldü fəal həbs edildi "
    "sakinlər şikayət etdi məhkəmə cərimə verdi vəkil görüşə buraxılmadı".split(),
    "ru": "полиция задержала протестующих обыск в селе журналиста избили активиста "
    "арестовали жители пожаловались суд назначил штраф адвоката не допустили".split(),
    "en": "police detained protesters village raid journalist beaten activist arrested "
    "residents complained court fined lawyer denied access witnesses said".split(),
}
UNIT_WORDS = {
    "az": ("polis şöbəsi", "DYP", "prokurorluğu", "məhkəməsi", "DTX idarəsi"),
    "ru": ("отдел полиции", "ДПС", "прокуратура", "суд", "управление СГБ"),
    "en": ("police department", "traffic police", "prosecutor's office", "court", "SSS office"),
}
UNIT_KIND = ("police", "police", "prosecutor", "court", "security")
CHARGES = ("hooliganism", "resisting police", "drug possession", "mass disorder", "smuggling")


def _sentence(rng: random.Random, lang: str, n: int) -> str:
    text = " ".join(rng.choice(WORDS[lang]) for _ in range(n))
    return text[0].upper() + text[1:]


def make_data(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The units and incidents (plain dicts), shared by sahid and the Hugo peer."""
    gaz = Gazetteer.load()
    places = [p for p in gaz.places() if p.lat is not None or p.district is not None]
    districts = [p for p in places if p.kind in ("district", "city")]
    units = []
    for i in range(UNITS):
        seat = districts[i % len(districts)]
        k = i % len(UNIT_KIND)
        units.append(
            {
                "id": f"u-{i:03d}",
                "name": {lang: f"{seat.name(lang)} {UNIT_WORDS[lang][k]}" for lang in LANGS},
                "kind": UNIT_KIND[k],
            }
        )
    incidents = []
    for i in range(INCIDENTS):
        place: Place = rng.choice(places)
        district = model.district_of(gaz, {"place": place.id})
        unit = units[rng.randrange(UNITS)]
        y, m, d = rng.randint(2005, 2025), rng.randint(1, 12), rng.randint(1, 28)
        incidents.append(
            {
                "id": f"inc-{i:05d}",
                "title": {lang: _sentence(rng, lang, rng.randint(4, 8)) for lang in LANGS},
                "start": f"{y}-{m:02d}-{d:02d}",
                "place": place,
                "district": district,
                "type": rng.choice(INCIDENT_TYPES),
                "summary": {
                    lang: _sentence(rng, lang, rng.randint(25, 60)) + "." for lang in LANGS
                },
                "unit": unit["id"],
                "act": {"type": rng.choice(WORDS["en"]), "outcome": rng.choice(OUTCOMES)},
                "charge": CHARGES[i % len(CHARGES)] if i % 3 == 0 else None,
            }
        )
    return units, incidents


def build_archive(
    root: Path, units: list[dict[str, Any]], incidents: list[dict[str, Any]]
) -> float:
    start = time.perf_counter()
    with Archive.init(root, PASSPHRASE, name="bench-publish", kdf=KDF) as arc:
        arc.records.create(
            [Draft("unit", {"name": u["name"], "kind": u["kind"]}, u["id"]) for u in units]
        )
        for b in range(0, len(incidents), BATCH):
            drafts: list[Draft] = []
            children: list[Draft] = []
            for inc in incidents[b : b + BATCH]:
                p: Place = inc["place"]
                fields = {
                    "title": inc["title"],
                    "start": inc["start"],
                    "place": {"name": p.name("en"), "place": p.id},
                    "type": inc["type"],
                    "summary": inc["summary"],
                    "status": "verified",
                    "units": [inc["unit"]],
                    "publish": True,
                }
                drafts.append(Draft("incident", fields, inc["id"]))
                act = {"incident": inc["id"], "perpetrator_unit": inc["unit"], **inc["act"]}
                children.append(Draft("act", act, f"{inc['id']}-a1"))
                if inc["charge"]:
                    charge = {"incident": inc["id"], "label": inc["charge"], "status": "filed"}
                    children.append(Draft("charge", charge, f"{inc['id']}-c1"))
            arc.records.create(drafts + children)
    return time.perf_counter() - start


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of every file: a file sahid left untouched keeps both."""
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(root))] = (st.st_ino, st.st_mtime_ns)
    return out


def _contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _count_pages(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.suffix in (".html", ".xml"))


# --- Hugo --------------------------------------------------------------------------------

HUGO_CONFIG = """\
baseURL = "http://127.0.0.1/"
title = "şahid"
defaultContentLanguage = "az"
defaultContentLanguageInSubdir = true
disableKinds = ["sitemap", "robotsTXT", "404"]
enableRobotsTXT = false

[services.rss]
limit = 50

[outputs]
home = ["HTML", "RSS"]
section = ["HTML"]
taxonomy = ["HTML"]
term = ["HTML"]
page = ["HTML"]

[taxonomies]
district = "districts"
unit = "units"

[languages.az]
languageName = "Azərbaycanca"
contentDir = "content/az"
weight = 1

[languages.ru]
languageName = "Русский"
contentDir = "content/ru"
weight = 2

[languages.en]
languageName = "English"
contentDir = "content/en"
weight = 3
"""

I18N = {
    "az": {
        "incidents": "İnsidentlər",
        "stats": "Statistika",
        "when": "Nə vaxt",
        "where": "Harada",
        "type": "Növ",
        "status": "Status",
        "units": "Məsul bölmələr",
        "district": "Rayon",
        "summary": "Qısa məzmun",
        "acts": "Nə edildi",
        "charges": "İttihamlar",
        "latest": "Son insidentlər",
        "notice": "Bu saytda yalnız dərc üçün seçilmiş insidentlər göstərilir.",
    },
    "ru": {
        "incidents": "Инциденты",
        "stats": "Статистика",
        "when": "Когда",
        "where": "Где",
        "type": "Тип",
        "status": "Статус",
        "units": "Ответственные подразделения",
        "district": "Район",
        "summary": "Краткое описание",
        "acts": "Что было сделано",
        "charges": "Обвинения",
        "latest": "Последние инциденты",
        "notice": "На этом сайте показаны только инциденты, отобранные для публикации.",
    },
    "en": {
        "incidents": "Incidents",
        "stats": "Statistics",
        "when": "When",
        "where": "Where",
        "type": "Type",
        "status": "Status",
        "units": "Units named responsible",
        "district": "District",
        "summary": "Summary",
        "acts": "What was done",
        "charges": "Charges",
        "latest": "Latest incidents",
        "notice": "This site shows only the incidents selected for publication.",
    },
}

LAYOUTS = {
    "_default/baseof.html": """\
<!DOCTYPE html>
<html lang="{{ .Language.Lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ .Title }} · şahid</title>
<link rel="stylesheet" href="{{ "site.css" | relURL }}">
{{ range .AllTranslations }}<link rel="alternate" hreflang="{{ .Lang }}" href="{{ .RelPermalink }}">
{{ end }}</head>
<body>
<header>
<nav class="langs">{{ range .AllTranslations }}{{ if eq .Lang $.Lang }}<strong>{{ .Language.LanguageName }}</strong>{{ else }}<a href="{{ .RelPermalink }}" hreflang="{{ .Lang }}">{{ .Language.LanguageName }}</a>{{ end }}
{{ end }}</nav>
<nav class="main"><a href="{{ "" | relLangURL }}">şahid</a>
<a href="{{ "incidents/" | relLangURL }}">{{ i18n "incidents" }}</a>
<a href="{{ "stats/" | relLangURL }}">{{ i18n "stats" }}</a></nav>
</header>
<main>
{{ block "main" . }}{{ end }}
</main>
<footer><p>{{ i18n "notice" }}</p></footer>
</body>
</html>
""",  # noqa: E501
    "_default/single.html": """\
{{ define "main" }}
<h1>{{ .Title }}</h1>
<dl>
<dt>{{ i18n "when" }}</dt><dd>{{ time.Format ":date_long" .Date }}</dd>
<dt>{{ i18n "where" }}</dt><dd>{{ .Params.place }}{{ range .GetTerms "districts" }}, <a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a>{{ end }}</dd>
<dt>{{ i18n "type" }}</dt><dd>{{ .Params.kind }}</dd>
<dt>{{ i18n "status" }}</dt><dd>{{ .Params.status }}</dd>
<dt>{{ i18n "units" }}</dt><dd>{{ range .GetTerms "units" }}<a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a> {{ end }}</dd>
</dl>
<h2>{{ i18n "summary" }}</h2>
<p>{{ .Params.summary }}</p>
<h2>{{ i18n "acts" }}</h2>
<table>{{ range .Params.acts }}<tr><td>{{ .type }}</td><td>{{ .outcome }}</td></tr>{{ end }}</table>
{{ with .Params.charges }}<h2>{{ i18n "charges" }}</h2><ul>{{ range . }}<li>{{ . }}</li>{{ end }}</ul>{{ end }}
{{ end }}
""",  # noqa: E501
    "_default/list.html": """\
{{ define "main" }}
<h1>{{ .Title }}</h1>
{{ range .Pages.GroupByDate "2006-01" }}
<h2>{{ .Key }}</h2>
<ul>
{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> · {{ .Params.place }} · {{ time.Format ":date_long" .Date }}</li>
{{ end }}</ul>
{{ end }}
{{ end }}
""",  # noqa: E501
    "index.html": """\
{{ define "main" }}
<h1>{{ i18n "latest" }}</h1>
<ul>
{{ range first 100 (where site.RegularPages "Section" "incidents") }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a> · {{ .Params.place }} · {{ time.Format ":date_long" .Date }}</li>
{{ end }}</ul>
{{ end }}
""",  # noqa: E501
    "_default/stats.html": """\
{{ define "main" }}
<h1>{{ i18n "stats" }}</h1>
<table>{{ range site.Taxonomies.districts.ByCount }}<tr><td><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a></td><td>{{ .Count }}</td></tr>{{ end }}</table>
<table>{{ range site.Taxonomies.units.ByCount }}<tr><td><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a></td><td>{{ .Count }}</td></tr>{{ end }}</table>
{{ end }}
""",  # noqa: E501
}


def write_hugo_site(
    root: Path, units: list[dict[str, Any]], incidents: list[dict[str, Any]]
) -> None:
    """The Hugo project: config, layouts, i18n, and one content file per page and language."""
    (root / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    for rel, text in LAYOUTS.items():
        path = root / "layouts" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "i18n").mkdir()
    for lang, words in I18N.items():
        (root / "i18n" / f"{lang}.toml").write_text(
            "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in words.items()),
            encoding="utf-8",
        )
    (root / "static").mkdir()
    (root / "static" / "site.css").write_text("body { font-family: sans-serif; }\n")
    districts = {inc["district"].id: inc["district"] for inc in incidents if inc["district"]}
    for lang in LANGS:
        content = root / "content" / lang
        for folder in ("incidents", "districts", "units"):
            (content / folder).mkdir(parents=True)

        def page(rel: str, front: dict[str, Any], content: Path = content) -> None:
            text = json.dumps(front, ensure_ascii=False) + "\n"
            (content / rel).parent.mkdir(parents=True, exist_ok=True)
            (content / rel).write_text(text, encoding="utf-8")

        page("incidents/_index.md", {"title": I18N[lang]["incidents"]})
        page("stats.md", {"title": I18N[lang]["stats"], "layout": "stats"})
        for u in units:
            page(f"units/{u['id']}/_index.md", {"title": u["name"][lang]})
        for did, d in districts.items():
            page(f"districts/{did}/_index.md", {"title": d.name(lang)})
        for inc in incidents:
            front: dict[str, Any] = {
                "title": inc["title"][lang],
                "date": inc["start"],
                "place": inc["place"].name(lang),
                "kind": inc["type"],
                "status": "verified",
                "summary": inc["summary"][lang],
                "units": [inc["unit"]],
                "acts": [inc["act"]],
            }
            if inc["district"] is not None:
                front["districts"] = [inc["district"].id]
            if inc["charge"]:
                front["charges"] = [inc["charge"]]
            page(f"incidents/{inc['id']}.md", front)


def _cpu_s() -> float:
    """User + system CPU seconds of this process and its reaped children (workers, Hugo)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run_hugo(root: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one ``hugo`` run."""
    assert HUGO is not None
    shutil.rmtree(out, ignore_errors=True)
    cpu = _cpu_s()
    start = time.perf_counter()
    subprocess.run(
        [
            HUGO,
            "--quiet",
            "--source",
            str(root),
            "--destination",
            str(out),
            "--cacheDir",
            str(root.parent / "hugo-cache"),
        ],
        check=True,
    )
    return time.perf_counter() - start, _cpu_s() - cpu


def hugo_version() -> str:
    assert HUGO is not None
    return subprocess.run(
        [HUGO, "version"], capture_output=True, text=True, check=True
    ).stdout.strip()


# --- main --------------------------------------------------------------------------------


def main() -> Path:
    tmp = Path(
        tempfile.mkdtemp(prefix="sahid-bench-publish-", dir=os.environ.get("SAHID_BENCH_DIR"))
    )
    os.environ["SAHID_STATE_DIR"] = str(tmp / "state")
    rng = random.Random(7)
    try:
        units, incidents = make_data(rng)
        build_s = build_archive(tmp / "archive", units, incidents)
        site = tmp / "site"
        with Archive.open(tmp / "archive", PASSPHRASE) as arc:
            cpu = _cpu_s()
            start = time.perf_counter()
            report = publish_site(arc, site, langs=list(LANGS), include=["verified"])
            ours_s = time.perf_counter() - start
            ours_cpu_s = _cpu_s() - cpu
            pages = _count_pages(site)
            edited = incidents[len(incidents) // 2]["id"]
            arc.records.update(
                edited,
                {
                    "summary": {
                        lang: f"Edited summary ({lang}) for the benchmark." for lang in LANGS
                    }
                },
            )
            before = _stamps(site)
            cpu = _cpu_s()
            start = time.perf_counter()
            again = publish_site(arc, site, langs=list(LANGS), include=["verified"])
            republish_s = time.perf_counter() - start
            republish_cpu_s = _cpu_s() - cpu
            after = _stamps(site)
            fresh = tmp / "fresh"
            publish_site(arc, fresh, langs=list(LANGS), include=["verified"])
        edited_page = (site / "en" / "incidents" / f"{edited}.html").read_text(encoding="utf-8")
        assert "Edited summary (en)" in edited_page, "the re-publish did not show the edit"
        assert _contents(site) == _contents(fresh), "the re-publish differs from a fresh one"
        touched = sum(1 for rel, st in after.items() if before.get(rel) != st)
        verify_start = time.perf_counter()
        verify_site(site)
        verify_s = time.perf_counter() - verify_start

        hugo: dict[str, Any] | None
        hugo_reason = None
        if HUGO is None:
            hugo = None
            hugo_reason = "hugo is not installed (apt-get install hugo)"
        else:
            hsrc = tmp / "hugo-src"
            hsrc.mkdir()
            start = time.perf_counter()
            write_hugo_site(hsrc, units, incidents)
            content_s = time.perf_counter() - start
            timed = [run_hugo(hsrc, tmp / "hugo-out") for _ in range(2)]
            runs = [t for t, _ in timed]
            hugo = {
                "version": hugo_version(),
                "runs_s": [round(r, 3) for r in runs],
                "best_s": round(min(runs), 3),
                "cpu_s_of_best": round(min(timed)[1], 3),
                "pages": _count_pages(tmp / "hugo-out"),
                "content_files": sum(1 for _ in (hsrc / "content").rglob("*.md")),
                "content_generation_s_untimed": round(content_s, 3),
            }
        ratio = round(ours_s / hugo["best_s"], 2) if hugo else None
        cpu_ratio = round(ours_cpu_s / hugo["cpu_s_of_best"], 2) if hugo else None
        result = {
            "incidents": len(incidents),
            "units": len(units),
            "langs": list(LANGS),
            "archive_build_s": round(build_s, 2),
            "ours": {
                "publish_s": round(ours_s, 3),
                "publish_cpu_s": round(ours_cpu_s, 3),
                "republish_cpu_s": round(republish_cpu_s, 3),
                "republish_after_one_edit_s": round(republish_s, 3),
                "republish_is_full_rebuild": False,
                "republish_files": again["files"],
                "republish_written": again["written"],
                "republish_removed": again["removed"],
                "republish_files_touched_on_disk": touched,
                "republish_identical_to_fresh_publish": True,
                "files": report["files"],
                "verify_site_s": round(verify_s, 3),
                "pages": pages,
                "report_pages": report["pages"],
                "media": report["media"],
                "site_mb": round(
                    sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6, 1
                ),
            },
            "hugo": hugo,
            "hugo_reason": hugo_reason,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "summary": {
                "incidents": len(incidents),
                "pages": pages,
                "hugo_pages": hugo["pages"] if hugo else None,
                "ours_s": round(ours_s, 2),
                "hugo_s": hugo["best_s"] if hugo else None,
                "ratio": ratio,
                "target": f"<= {TARGET}x hugo",
                "ok": ratio is not None and ratio <= TARGET,
                "cpu_ratio": cpu_ratio,
                "cpu_note": "user+system CPU seconds, ours (with workers) / Hugo's: less "
                "sensitive to other load on the machine than wall time",
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                "republish_s": round(republish_s, 2),
                "republish_note": (
                    f"incremental: all pages rendered again, {again['written']} of "
                    f"{again['files']} files written, the rest untouched; byte-identical to "
                    "a fresh publish"
                ),
            },
        }
        return write_result("publish", result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    print(main())
