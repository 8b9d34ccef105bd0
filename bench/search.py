"""Search benchmark (issue 5, item 7): search latency at 1M records, CSV import rate.

- Builds an archive of ``SAHID_BENCH_SEARCH_RECORDS`` (default 1 000 000) synthetic
  records -- incidents, statements and sources with notes, in az/ru/en -- through the real
  path (``Records.create``: checks, ledger signing, projections, FTS), and reports the rate.
- Times 1 000 mixed queries through ``Records.search`` (folding, gazetteer expansion,
  filters, FTS5, ranked window, snippets), after 1 000 other queries of the same mix
  (those, the first after opening the archive, are reported as ``cold_first_queries``:
  the pages they touch are decrypted afresh). The database file is read once before
  (untimed), so that it starts in the OS page cache. Peer in the same run, on the same SQLCipher
  connection: the same ranked window as bare FTS5 SQL, BM25 (``bm25()``) over the newest
  200 matches of the same match expression (prefixes as FTS5 prefixes), top 20, each
  right after ours; and, for context, in a pass of its own, ``ORDER BY rank`` over every
  match.
- Imports a 100 000-row incidents CSV into a fresh archive (one transaction).

``SAHID_BENCH_SEARCH_ARCHIVE=DIR`` keeps the built archive in DIR and, when DIR already
holds one (of the same size), upgrades it to this schema and reuses it instead of
building again: for trying query changes without a 30-minute build each time. The
build figures are then those of the run that built it (kept in DIR/build.json).

Targets: search p95 < 20 ms and p95 <= 2x the raw FTS5 query.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import host_speed, peak_rss_mb, percentile, write_result
from sahid.archive import Archive
from sahid.config import KdfParams
from sahid.places import Gazetteer
from sahid.records import search as fts
from sahid.records.model import INCIDENT_TYPES
from sahid.records.search import Filters
from sahid.records.service import Draft
from sahid.records.transfer import import_files

KEEP = os.environ.get("SAHID_BENCH_SEARCH_ARCHIVE")
RECORDS = int(os.environ.get("SAHID_BENCH_SEARCH_RECORDS", 1_000_000))
QUERIES = int(os.environ.get("SAHID_BENCH_SEARCH_QUERIES", 1000))
CSV_ROWS = int(os.environ.get("SAHID_BENCH_SEARCH_CSV_ROWS", 100_000))
BATCH = 10_000
PASSPHRASE = b"benchmark passphrase"
KDF = KdfParams(memory_kib=65536, time_cost=3, parallelism=4)
LANGS = ("az", "ru", "en")

# --- vocabulary ----------------------------------------------------------------------

UNITS = {
    "az": ["polis", "DYP", "prokurorluq", "DTX", "məhkəmə", "şöbə", "idarə", "polis əməkdaşı"],
    "ru": ["полиция", "ДПС", "прокуратура", "СГБ", "суд", "отдел", "управление", "полицейский"],
    "en": ["police", "traffic police", "prosecutor", "SSS", "court", "department", "officer"],
}
EVENTS = {
    "az": "həbs etiraz işgəncə qətl döyülmə axtarış saxlanılma yaralanma aksiya jurnalist "
    "fəal vəkil şahid ölüm zorakılıq dağıdılma".split(),
    "ru": "задержание протест пытки убийство избиение обыск арест ранение акция журналист "
    "активист адвокат свидетель смерть насилие разгон".split(),
    "en": "arrest protest torture killing beating raid detention injury rally journalist "
    "activist lawyer witness death violence dispersal".split(),
}
SYLLABLES = {
    "az": "ba qa lı mə şə ra nı də xa yo gü çi ol ər ün ay sa tə kö zi".split(),
    "ru": "ба ка ли ме ша ра ни де ха йо гу чи ол ер ун ай са те ко зи".split(),
    "en": "ba ka li me sha ra ni de kha yo gu chi ol er un ay sa te ko zi".split(),
}
FILLER_WORDS = 3000
SOURCES = (
    "Turan,APA,Meydan TV,Azadlıq,RFE/RL,Report.az,Toplum TV,Interfax,ДИН,"
    "Daxili İşlər Nazirliyi,witness group,Abzas Media"
).split(",")


class Vocab:
    def __init__(self, rng: random.Random) -> None:
        places = Gazetteer.load().places()
        self.places = [(p.name_az, p.name_ru, p.name_en) for p in places]
        self.filler: dict[str, list[str]] = {}
        for lang in LANGS:
            seen: dict[str, None] = {}
            syl = SYLLABLES[lang]
            while len(seen) < FILLER_WORDS:
                seen["".join(rng.choice(syl) for _ in range(rng.randint(2, 4)))] = None
            self.filler[lang] = list(seen)
        # Zipf-ish: weight 1/rank^1.1, so a few filler words are very common.
        self.cum = list(itertools.accumulate(1 / (r + 1) ** 1.1 for r in range(FILLER_WORDS)))

    def place(self, rng: random.Random, lang: str) -> str:
        return self.places[rng.randrange(len(self.places))][LANGS.index(lang)]

    def words(self, rng: random.Random, lang: str, n: int) -> str:
        out = rng.choices(self.filler[lang], cum_weights=self.cum, k=n)
        for _ in range(max(1, n // 6)):
            out[rng.randrange(n)] = rng.choice(EVENTS[lang])
        out[rng.randrange(n)] = rng.choice(UNITS[lang])
        if rng.random() < 0.7:
            out[rng.randrange(n)] = self.place(rng, lang)
        return " ".join(out)


def date(rng: random.Random) -> str:
    return f"{rng.randint(2010, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def incident_fields(rng: random.Random, v: Vocab) -> dict[str, Any]:
    langs = rng.sample(LANGS, rng.randint(1, 3))
    fields: dict[str, Any] = {
        "title": {lang: v.words(rng, lang, rng.randint(5, 10)) for lang in langs},
        "start": date(rng),
        "type": rng.choice(INCIDENT_TYPES),
        "summary": {langs[0]: v.words(rng, langs[0], rng.randint(20, 60))},
    }
    if rng.random() < 0.8:
        fields["place"] = v.place(rng, rng.choice(LANGS))
    return fields


_INCIDENTS: list[str] = []  # ids of incidents already in the archive


def drafts(rng: random.Random, v: Vocab, start: int, n: int) -> list[Draft]:
    out = []
    for i in range(start, start + n):
        r = rng.random()
        if r < 0.4 or i < 100:
            out.append(Draft("incident", incident_fields(rng, v), f"inc-{i:07d}"))
        elif r < 0.7:
            lang = rng.choice(LANGS)
            fields = {
                "source": rng.choice(SOURCES),
                "date": date(rng),
                "language": lang,
                "text": v.words(rng, lang, rng.randint(20, 60)),
                "incident": _INCIDENTS[rng.randrange(len(_INCIDENTS))],  # an earlier batch's
            }
            out.append(Draft("statement", fields, f"st-{i:07d}"))
        else:
            lang = rng.choice(LANGS)
            fields = {
                "name": f"{rng.choice(SOURCES)} {v.words(rng, lang, 2)}",
                "note": v.words(rng, lang, rng.randint(20, 60)),
            }
            out.append(Draft("source", fields, f"src-{i:07d}"))
    return out


def build(arc: Archive, v: Vocab, total: int) -> dict[str, Any]:
    rng = random.Random(5)
    _INCIDENTS.clear()
    t0 = time.perf_counter()
    done = 0
    while done < total:
        n = min(BATCH, total - done)
        if done == 0:
            # seed incidents so statements of the first batch have earlier incidents
            first = [Draft("incident", incident_fields(rng, v), f"inc-{i:07d}") for i in range(100)]
            arc.records.create(first)
            _INCIDENTS.extend(d.id or "" for d in first)
            done = 100
            continue
        batch = drafts(rng, v, done, n)
        arc.records.create(batch)
        _INCIDENTS.extend(d.id or "" for d in batch if d.type == "incident")
        done += n
        if done % 100_000 < BATCH:
            dt = time.perf_counter() - t0
            print(f"built {done} records in {dt:.0f} s ({done / dt:.0f}/s)", flush=True)
    dt = time.perf_counter() - t0
    return {"records": total, "seconds": round(dt, 1), "records_per_s": round(total / dt)}


# --- queries -------------------------------------------------------------------------

Query = tuple[str, Filters, str]


def queries(rng: random.Random, v: Vocab, arc: Archive, n: int) -> list[Query]:
    """(query, filters, what) -- what names the mix, for the per-kind breakdown."""
    out = []
    places = v.places
    for _ in range(n):
        lang = rng.choice(LANGS)
        kind = rng.choices(
            ["place", "place+word", "common", "rare", "unit+event", "words3"],
            weights=[20, 25, 15, 15, 15, 10],
        )[0]
        p = places[rng.randrange(len(places))]
        if kind == "place":
            q = p[LANGS.index(lang)]
        elif kind == "place+word":
            q = f"{p[rng.randrange(3)]} {rng.choice(EVENTS[lang])}"
        elif kind == "common":
            q = rng.choice(v.filler[lang][:20])
        elif kind == "rare":
            q = rng.choice(v.filler[lang][-1000:])
        elif kind == "unit+event":
            q = f"{rng.choice(UNITS[lang])} {rng.choice(EVENTS[lang])}"
        else:
            q = " ".join(
                [rng.choice(EVENTS[lang]), rng.choice(v.filler[lang][:200]), p[LANGS.index(lang)]]
            )
        f = Filters()
        r = rng.random()
        if r < 0.1:
            f = arc.records.filters(place=places[rng.randrange(len(places))][2])
            kind += "|place"
        elif r < 0.2:
            y = rng.randint(2010, 2024)
            f = arc.records.filters(date_from=f"{y}-01-01", date_to=f"{y + 1}-06-30")
            kind += "|dates"
        elif r < 0.3:
            f = arc.records.filters(types=[rng.choice(INCIDENT_TYPES)])
            kind += "|type"
        out.append((q, f, kind))
    return out


def raw_query(arc: Archive, sql: str, expression: str) -> float:
    with arc.engine.connect() as conn, conn.begin():
        t = time.perf_counter()
        conn.exec_driver_sql(sql, (expression,)).fetchall()
        return time.perf_counter() - t


def latency(arc: Archive, qs: list[Query], warm: list[Query]) -> dict[str, Any]:
    # The engine holds one SQLCipher connection (StaticPool): each raw query takes it in
    # its own read transaction, begun before the clock starts, as search's own does.
    # The same ranked window sahid uses (BM25 over the newest matches), as bare FTS5 SQL;
    # and, for context, BM25 over every match (what ranking="all" does).
    raw_sql = f"SELECT doc FROM ({fts.window_sql('?', str(fts.WINDOW))}) ORDER BY r LIMIT 20"
    full_sql = (
        f"SELECT rowid FROM search_text WHERE search_text MATCH ? ORDER BY {fts.BM25} LIMIT 20"
    )
    exprs = [arc.records.match_expression(q) for q, _, _ in qs]
    # The first queries after opening: every page they touch is read and decrypted
    # afresh (the database file itself is in the OS cache). Other queries than the
    # measured ones, with their raw peer: they warm the page cache as a server that has
    # been answering searches is warm, and their own latency is reported as "cold".
    cold = []
    for q, f, _ in warm:
        e = arc.records.match_expression(q)
        t = time.perf_counter()
        arc.records.search(q, f, limit=20)
        cold.append(time.perf_counter() - t)
        if e:
            raw_query(arc, raw_sql, e)
    ours, raw, full, hits = [], [], [], []
    by_kind: dict[str, list[float]] = {}
    for (q, f, kind), e in zip(qs, exprs, strict=True):
        t = time.perf_counter()
        found = arc.records.search(q, f, limit=20)
        dt = time.perf_counter() - t
        ours.append(dt)
        hits.append(len(found))
        by_kind.setdefault(kind.split("|")[0], []).append(dt)
        if f != Filters():
            by_kind.setdefault("filtered", []).append(dt)
        raw.append(raw_query(arc, raw_sql, e) if e else 0.0)
    # The context peer reads every match of a common word: run in a pass of its own, it
    # no longer evicts from the page cache what the next query of the main pass reads.
    for e in exprs:
        full.append(raw_query(arc, full_sql, e) if e else 0.0)
    ms = 1e3

    def pct(xs: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(percentile(xs, 0.5) * ms, 2),
            "p95_ms": round(percentile(xs, 0.95) * ms, 2),
            "p99_ms": round(percentile(xs, 0.99) * ms, 2),
        }

    # where the time goes: a second pass over the same queries, part by part
    parts: dict[str, list[float]] = {"expression": [], "query": [], "hits_snippets": []}
    for q, f, _ in qs:
        t0 = time.perf_counter()
        keys = fts.query_keys(q)
        groups = arc.records.match_groups(q, keys)
        t1 = time.perf_counter()
        with arc.engine.connect() as conn:
            rows = fts.run_query(conn, groups, f, 20)
            t2 = time.perf_counter()
            arc.records._hits(conn, rows, fts.snippet_keys(keys, groups))
        t3 = time.perf_counter()
        for name, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            parts[name].append(dt)
    o, r = pct(ours), pct(raw)
    return {
        "queries": len(qs),
        "ours": o,
        "raw_fts5": r,
        "cold_first_queries": {"queries": len(warm), **pct(cold)},
        "raw_fts5_rank_every_match": pct(full),
        "ratio_p95": round(o["p95_ms"] / r["p95_ms"], 2),
        "ratio_p99": round(o["p99_ms"] / r["p99_ms"], 2),
        "mean_hits": round(sum(hits) / len(hits), 1),
        "empty_results": sum(1 for h in hits if h == 0),
        "parts": {k: pct(xs) for k, xs in parts.items()},
        "by_kind": {k: {"n": len(xs), **pct(xs)} for k, xs in sorted(by_kind.items())},
        "examples": [
            {"query": q, "expression": e, "kind": k}
            for (q, _, k), e in zip(qs[:8], exprs[:8], strict=True)
        ],
    }


# --- CSV import ----------------------------------------------------------------------


def csv_import(tmp: Path, v: Vocab, rows: int) -> dict[str, Any]:
    rng = random.Random(11)
    path = tmp / "incidents.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title_en", "title_az", "start", "type", "place", "summary_en"])
        for i in range(rows):
            w.writerow(
                [
                    f"csv-{i:07d}",
                    v.words(rng, "en", rng.randint(5, 10)),
                    v.words(rng, "az", rng.randint(5, 10)),
                    date(rng),
                    rng.choice(INCIDENT_TYPES),
                    v.place(rng, rng.choice(LANGS)),
                    v.words(rng, "en", rng.randint(20, 60)),
                ]
            )
    arc = Archive.init(tmp / "import-archive", PASSPHRASE, kdf=KDF)
    try:
        t = time.perf_counter()
        ids, warnings = import_files(arc, [path])
        dt = time.perf_counter() - t
    finally:
        arc.close()
    return {
        "rows": rows,
        "csv_mb": round(path.stat().st_size / 2**20, 1),
        "seconds": round(dt, 1),
        "rows_per_s": round(len(ids) / dt),
        "warnings": len(warnings),
    }


def db_size_mb(root: Path) -> float:
    return round(sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20, 1)


def read_through(path: Path) -> None:
    """Read a file once, untimed, so that the OS caches it as it would for a server that
    has been running: on this VM the guest drops page cache within minutes even with
    memory free, so otherwise whether a page comes from memory or disk depends on when
    the run happens (measured: 0.85 of 4.1 GB cached before, all of it after)."""
    with path.open("rb") as fh:
        while fh.read(1 << 20):
            pass


def built_archive(tmp: Path, v: Vocab) -> tuple[Archive, Path, dict[str, Any]]:
    """The benchmark archive: built now, or (SAHID_BENCH_SEARCH_ARCHIVE) kept from before."""
    if KEEP is None:
        root = tmp / "archive"
        arc = Archive.init(root, PASSPHRASE, kdf=KDF)
        return arc, root, build(arc, v, RECORDS)
    root = Path(KEEP)
    stats = root / "build.json"
    if stats.exists():
        figures: dict[str, Any] = json.loads(stats.read_text())
        if figures["records"] == RECORDS:
            Archive.upgrade(root, PASSPHRASE)
            print(f"reusing the archive in {root} ({figures})", flush=True)
            return Archive.open(root, PASSPHRASE), root, figures
        shutil.rmtree(root)
    arc = Archive.init(root, PASSPHRASE, kdf=KDF)
    figures = build(arc, v, RECORDS)
    stats.write_text(json.dumps(figures))
    return arc, root, figures


def main() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="sahid-bench-search-", dir="/tmp"))
    os.environ["SAHID_STATE_DIR"] = str(tmp / "state")
    out: dict[str, Any] = {"records_requested": RECORDS}
    try:
        v = Vocab(random.Random(3))
        arc, root, out["build"] = built_archive(tmp, v)
        try:
            print(out["build"], flush=True)
            out["db_size_mb"] = db_size_mb(root)
            read_through(root / "sahid.db")
            out["loop_10m_s_before_queries"] = host_speed()
            qs = queries(random.Random(17), v, arc, QUERIES)
            warm = queries(random.Random(19), v, arc, QUERIES)
            out["search"] = latency(arc, qs, warm)
            print({k: out["search"][k] for k in ("ours", "raw_fts5", "ratio_p95")}, flush=True)
        finally:
            arc.close()
        out["import"] = csv_import(tmp, v, CSV_ROWS)
        print(out["import"], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    s = out["search"]
    out["summary"] = {
        "records": out["build"]["records"],
        "build_records_per_s": out["build"]["records_per_s"],
        "search_p95_ms": s["ours"]["p95_ms"],
        "search_p99_ms": s["ours"]["p99_ms"],
        "search_cold_p95_ms": s["cold_first_queries"]["p95_ms"],
        "raw_fts5_p95_ms": s["raw_fts5"]["p95_ms"],
        "raw_fts5_p99_ms": s["raw_fts5"]["p99_ms"],
        "ratio_p95": s["ratio_p95"],
        "ratio_p99": s["ratio_p99"],
        "p95_target_ms": "< 20",
        "ok_p95": s["ours"]["p95_ms"] < 20,
        "ratio_target": "<= 2",
        "ok_ratio": s["ratio_p95"] <= 2,
        "csv_import_rows_per_s": out["import"]["rows_per_s"],
        "db_size_mb": out["db_size_mb"],
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "loop_10m_s_before_queries": out["loop_10m_s_before_queries"],
    }
    return write_result("search", out)


if __name__ == "__main__":
    print(main())
