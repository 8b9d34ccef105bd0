"""The ranked window (issue 5 item 7): prefixes spelled out, BM25 from word counts."""

from __future__ import annotations

import json
import random
import re
import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sahid.archive import Archive
from sahid.errors import InputError
from sahid.records import native
from sahid.records import search as fts
from sahid.records.service import Draft

from conftest import FAST_KDF, PASSPHRASE, downgrade

WORDS = "arrest protest beating raid detention injury rally journalist lawyer witness".split()


def _incidents(arc: Archive, n: int, start: int = 0) -> list[str]:
    drafts = []
    for i in range(start, start + n):
        words = [WORDS[(i * 7 + j) % len(WORDS)] for j in range(i % 5 + 3)]
        drafts.append(
            Draft(
                "incident",
                {
                    "title": {"en": " ".join(words)},
                    "start": f"20{10 + i % 15}-0{1 + i % 9}-1{i % 9}",
                    "type": "killing" if i % 3 else "injury",
                    "summary": {"en": f"{' '.join(reversed(words))} schoolchildren{i % 4}"},
                    "place": ["İmişli", "Quba", "Gəncə"][i % 3],
                },
                f"inc-{i:04d}",
            )
        )
    arc.records.create(drafts)
    return [d.id or "" for d in drafts]


def _bm25_window(
    arc: Archive, expression: str, window: int = fts.WINDOW
) -> list[tuple[int, float]]:
    """FTS5's own bm25() over the same window, as the code before the word counts did."""
    with arc.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            f"SELECT doc, r FROM ({fts.window_sql('?', str(window))}) ORDER BY r, doc DESC",
            (expression,),
        ).all()
    return [(int(d), float(r)) for d, r in rows]


def _ours(arc: Archive, query: str, limit: int = 500) -> list[tuple[str, float]]:
    groups = arc.records.match_groups(query)
    with arc.engine.connect() as conn:
        return [(i, r) for i, _, r in fts.run_query(conn, groups, fts.Filters(), limit)]


def _doc_ids(arc: Archive) -> dict[int, str]:
    with arc.engine.connect() as conn:
        return {int(d): str(i) for d, i in conn.execute(text("SELECT doc, id FROM search_docs"))}


def _counted(arc: Archive) -> dict[str, int]:
    """search_terms recounted from the FTS5 bodies."""
    with arc.engine.connect() as conn:
        counts: dict[str, int] = {}
        for (body,) in conn.exec_driver_sql("SELECT body FROM search_text"):
            for t in set(fts.fts_tokens(body)):
                counts[t] = counts.get(t, 0) + 1
        stored = dict(conn.execute(text("SELECT term, docs FROM search_terms")).all())
    assert stored == counts
    return counts


@pytest.mark.parametrize(
    "query", ["journalist", "arrest lawyer", "schoolchildren2", "raid witness rally", "beatings"]
)
def test_window_scores_are_fts5_bm25_where_counts_are_exact(make_archive, query):
    """Each of these words is the only indexed word with its prefix, so the document
    counts are exact and the scores must be FTS5's bm25(), in the same order."""
    arc = make_archive()
    _incidents(arc, 120)
    ids = _doc_ids(arc)
    theirs = _bm25_window(arc, arc.records.match_expression(query) or "")
    ours = _ours(arc, query)
    assert [i for i, _ in ours] == [ids[d] for d, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b, rel=1e-9)
    if query == "beatings":
        assert ours == []  # "beatings" is no prefix of "beating": nothing matches


def test_window_is_the_newest_matches(make_archive):
    arc = make_archive()
    made = _incidents(arc, 300)
    hits = _ours(arc, "journalist")
    newest = [
        i for i in reversed(made) if "journalist" in arc.records.get(i)["fields"]["title"]["en"]
    ]
    # Ranked among the newest WINDOW matches only: every hit is one of them.
    assert {i for i, _ in hits} == set(newest[: fts.WINDOW])
    everything = {h.id for h in arc.records.search("journalist", limit=1000, ranking="all")}
    assert everything == set(newest)
    with pytest.raises(InputError, match="--ranking: 'best' is not allowed"):
        arc.records.search("journalist", ranking="best")


def test_a_prefix_of_many_words_and_the_prefix_index(make_archive, monkeypatch):
    arc = make_archive()
    arc.records.create(
        [
            Draft(
                "source",
                {"name": f"Source {i}", "note": f"zorbax{chr(97 + i % 26) * (1 + i // 26)}"},
            )
            for i in range(80)
        ]
    )
    full = {h.id for h in arc.records.search("zorbax", limit=100, ranking="all")}
    assert len(full) == 80
    for cap in (100, 10):  # spelled out, or left to FTS5 as a prefix
        monkeypatch.setattr(fts, "EXPAND_MAX", cap)
        assert {h.id for h in arc.records.search("zorbax", limit=100)} == full
    # A three-letter prefix is read from FTS5's prefix index, not spelled out.
    assert {h.id for h in arc.records.search("zor", limit=100)} >= full
    assert arc.records.search("zorbaxab") == []


def test_word_counts_follow_updates_and_replay(make_archive):
    arc = make_archive()
    made = _incidents(arc, 30)
    before = _counted(arc)
    arc.records.update(made[0], {"summary": {"en": "a quite new word: marmaladist"}})
    after = _counted(arc)
    assert after["marmaladist"] == 1 and before.get("marmaladist") is None
    assert [h.id for h in arc.records.search("marmalad")] == [made[0]]
    arc.verify()  # the replay writes the same search_terms


def test_upgrade_from_schema_0005_counts_the_words_and_indexes_the_facets(tmp_path):
    from sahid.store import SCHEMA_HEAD

    arc = Archive.init(tmp_path / "old", PASSPHRASE, kdf=FAST_KDF)
    made = _incidents(arc, 40)
    _case(arc, random.Random(4))
    expected = [h.id for h in arc.records.search("lawyer journalist")]
    counts = _counted(arc)
    with arc.engine.connect() as conn:
        index = fts.fts_rows(conn)
    root = downgrade(arc, "0005")
    assert Archive.upgrade(root, PASSPHRASE) == ("0005", SCHEMA_HEAD)
    with Archive.open(root, PASSPHRASE) as again:
        assert _counted(again) == counts
        with again.engine.connect() as conn:
            assert fts.fts_rows(conn) == index  # the migration's facets are the projection's
        _facet_tokens_match_the_facets_table(again)
        assert [h.id for h in again.records.search("lawyer journalist")] == expected
        assert made[-1] in {h.id for h in again.records.search("Imishli", limit=100)}
        again.verify()


def test_cli_ranking_option(tmp_path, passfile, cli):
    root = tmp_path / "arc"
    arc = Archive.init(root, PASSPHRASE, kdf=FAST_KDF)
    _incidents(arc, 20)
    arc.close()
    env = {"SAHID_ARCHIVE": str(root), "SAHID_PASSPHRASE_FILE": str(passfile)}
    results = {}
    for ranking in ("window", "all"):
        p = cli("search", "lawyer", "--ranking", ranking, "--json", env=env)
        assert p.returncode == 0, p.stderr
        results[ranking] = json.loads(p.stdout)
    # Every match fits the window here, so both rank the same matches with equal scores
    # (ties may come in another order).
    assert results["window"]
    assert {h["id"]: h["rank"] for h in results["window"]} == {
        h["id"]: h["rank"] for h in results["all"]
    }
    bad = cli("search", "lawyer", "--ranking", "best", env=env)
    assert bad.returncode != 0 and "--ranking: 'best' is not allowed" in bad.stderr


# --- facets in the index ----------------------------------------------------------------

PLACES = ["İmişli", "Quba", "Gəncə", "Şəki", "Nardaran"]


def _case(arc: Archive, rng: random.Random) -> dict[str, list[str]]:
    """Incidents with statements, persons (some in two incidents), acts, charges and
    evidence links, then edits that change what records inherit from their incidents."""
    r = arc.records
    r.create(
        [
            Draft("unit", {"name": {"en": "Ministry"}, "kind": "ministry"}, "u-top"),
            Draft("unit", {"name": {"en": "Traffic police"}, "parent": "u-top"}, "u-dyp"),
            Draft("unit", {"name": {"en": "Riot police"}}, "u-riot"),
        ]
    )
    made: dict[str, list[str]] = {"incident": [], "other": [], "evidence": []}
    for _ in range(24):
        year = rng.randint(2010, 2025)
        fields = {
            "title": {"en": f"common {rng.choice(WORDS)} {rng.choice(WORDS)}"},
            "start": f"{year}-0{rng.randint(1, 9)}",
            "type": rng.choice(["killing", "injury", "protest_dispersal"]),
        }
        if rng.random() < 0.3:
            fields["end"] = f"{min(year + rng.randint(0, 2), 2025)}-12"
        if rng.random() < 0.8:
            fields["place"] = rng.choice(PLACES)
        made["incident"].append(r.add("incident", fields).ids[0])
    incs = made["incident"]
    for _ in range(40):
        inc = rng.choice(incs)
        kind = rng.choice(["statement", "person", "act", "charge"])
        if kind == "statement":
            f = {
                "incident": inc,
                "date": f"{rng.randint(2010, 2025)}-05-01",
                "language": "en",
                "text": f"common {rng.choice(WORDS)}",
                "source": "Ministry press office",
            }
            if rng.random() < 0.5:
                f["source_unit"] = rng.choice(["u-dyp", "u-riot"])
            made["other"].append(r.add("statement", f).ids[0])
        elif kind == "person":
            roles = [{"incident": x, "role": "witness"} for x in {inc, rng.choice(incs)}]
            made["other"].append(
                r.add("person", {"roles": roles, "position": f"common {rng.choice(WORDS)}"}).ids[0]
            )
        elif kind == "act":
            f = {"incident": inc, "type": f"common {rng.choice(WORDS)}"}
            if rng.random() < 0.7:
                f["perpetrator_unit"] = rng.choice(["u-dyp", "u-riot"])
            made["other"].append(r.add("act", f).ids[0])
        else:
            f = {"incident": inc, "label": rng.choice(["hooliganism", "mass disorder"])}
            f["note"] = f"common {rng.choice(WORDS)}"
            made["other"].append(r.add("charge", f).ids[0])
    for i in range(6):
        path = arc.root.parent / f"clip{i}.bin"
        path.write_bytes(f"clip {i} {rng.random()}".encode())
        (ev,) = arc.add([path], note=f"common video {rng.choice(WORDS)}")
        made["evidence"].append(ev.evidence)
        r.add("link", {"evidence": ev.evidence, "target": rng.choice(incs)})
    # Edits the records of an incident follow: its place, status and dates change.
    for inc in rng.sample(incs, 8):
        r.update(
            inc,
            {
                "place": rng.choice(PLACES),
                "status": rng.choice(["verified", "disputed"]),
                "start": f"{rng.randint(2010, 2025)}-02",
                "end": None,
            },
        )
    return made


FILTERS = [
    {"place": "Quba"},
    {"place": "Imishli"},
    {"types": ["killing"]},
    {"types": ["injury", "protest_dispersal"]},
    {"statuses": ["verified"]},
    {"units": ["u-top"]},
    {"units": ["u-riot"]},
    {"charges": ["hooliganism"]},
    {"kinds": ["statement", "evidence"]},
    {"date_from": "2015", "date_to": "2017-06"},
    {"date_from": "2024-03-01", "date_to": "2024-03-31"},
    {"date_from": "2012"},
    {"date_to": "2011"},
    {"place": "Gəncə", "types": ["killing"], "date_from": "2010", "date_to": "2020"},
    {"units": ["u-dyp"], "statuses": ["unverified"], "kinds": ["statement", "act", "incident"]},
]


def _facet_tokens_match_the_facets_table(arc: Archive) -> None:
    r = arc.records
    for spec in FILTERS:
        f = r.filters(**spec)
        admitted = {h.id for h in r.search("", f, limit=10_000)}  # the facets table alone
        for query in ["common", "journalist", "raid witness", "video"]:
            words = {h.id for h in r.search(query, limit=10_000, ranking="all")}
            for ranking in ("window", "all"):
                found = {h.id for h in r.search(query, f, limit=10_000, ranking=ranking)}
                assert found == words & admitted, (spec, query, ranking)


def test_the_window_pages_through_matches_of_the_right_years(make_archive):
    """Rows of the right years that miss the exact date bounds are skipped a page at a
    time: every window is the newest matches that pass, however small."""
    arc = make_archive()
    _case(arc, random.Random(5))
    r = arc.records
    for spec in FILTERS:
        f = r.filters(**spec)
        admitted = {h.id for h in r.search("", f, limit=10_000)}
        groups = r.match_groups("common")
        clauses = fts.facet_match(f, fts.date_clause(f))
        assert clauses is not None
        expression = " AND ".join([fts.render(groups), *clauses])
        ids = _doc_ids(arc)
        words = {h.id for h in r.search("common", limit=10_000, ranking="all")}
        with arc.engine.connect() as conn:
            full = [row[0] for row in fts._window_rows(conn, expression, f, 10_000)]
            assert full == sorted(full, reverse=True)
            assert {ids[d] for d in full} == admitted & words, spec
            for window in (1, 2, 3, 5, 8, 13):
                rows = fts._window_rows(conn, expression, f, window)
                assert [row[0] for row in rows] == full[:window], (spec, window)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_filtered_search_is_the_facets_table_filter(make_archive, seed):
    """A filtered search reads the facets as tokens of the FTS5 index; it must find exactly
    the word matches that the facets table (a search without words) admits, after edits
    to incidents that their statements, persons and linked evidence inherit."""
    arc = make_archive()
    _case(arc, random.Random(seed))
    _facet_tokens_match_the_facets_table(arc)
    arc.verify()  # the replay writes the same facets column


def test_a_later_act_gives_the_incident_and_its_records_its_unit(make_archive):
    arc = make_archive()
    r = arc.records
    r.create([Draft("unit", {"name": {"en": "Riot police"}}, "u-riot")])
    fields = {"title": {"en": "dispersal"}, "start": "2019", "type": "injury"}
    inc = r.add("incident", fields).ids[0]
    st = r.add(
        "statement",
        {
            "incident": inc,
            "date": "2019",
            "source": "Ministry",
            "language": "en",
            "text": "nothing happened here",
        },
    ).ids[0]
    riot = r.filters(units=["u-riot"])
    assert r.search("happened", riot) == []
    r.add("act", {"incident": inc, "perpetrator_unit": "u-riot", "type": "beating"})
    assert [h.id for h in r.search("happened", riot)] == [st]
    assert [h.id for h in r.search("dispersal", riot)] == [inc]


@pytest.mark.parametrize("word", ["place", "type", "unit", "kind", "ywide", "y2019", "placex"])
def test_no_query_word_matches_a_facet_token(make_archive, word):
    arc = make_archive()
    arc.records.add(
        "incident", {"title": {"en": "a title"}, "start": "2019", "type": "injury", "place": "Quba"}
    )
    assert arc.records.search(word) == []


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_a_facet_token_is_one_fts5_token_for_any_value(value):
    token = fts.facet_token("unit", value)
    with sqlite3.connect(":memory:") as db:
        db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(facets, tokenize = 'unicode61 remove_diacritics 0')"
        )
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
        db.execute("INSERT INTO t (facets) VALUES (?)", (token,))
        assert [r[0] for r in db.execute("SELECT term FROM v")] == [token]
        query = ('"' + token + '"',)
        assert db.execute("SELECT count(*) FROM t WHERE t MATCH ?", query).fetchone()[0] == 1


_WORD = st.sampled_from(["ab", "abc", "b", "ba", "abab"])


@given(
    st.lists(_WORD, max_size=12),
    st.lists(_WORD, max_size=3),
    st.one_of(st.frozensets(_WORD, min_size=1), st.sampled_from(["a", "ab", "b"])),
)
@settings(max_examples=300, deadline=None)
def test_phrase_instances_are_counted_at_every_position(toks, head, last):
    """Each position where the phrase starts counts once, overlapping ones too, as in
    FTS5's position lists."""
    exact = isinstance(last, frozenset)
    sp = fts._Spelled(["x"], 1, head, last if exact else None, None if exact else last)
    n = len(head)
    expected = sum(
        1
        for j in range(len(toks) - n)
        if toks[j : j + n] == head
        and (toks[j + n] in last if exact else toks[j + n].startswith(last))
    )
    assert sp.count(" " + " ".join(toks) + " ") == expected


# --- sahid_tf: FTS5's own counts for the window ---------------------------------------


def _native(arc: Archive, on: bool) -> None:
    """Take the sahid_tf path (on) or the Python counting path for this archive's
    connection (StaticPool: the one connection every search uses)."""
    with arc.engine.connect() as conn:
        conn.info[native.INFO_KEY] = on


def test_sahid_tf_is_built_and_loaded(make_archive):
    assert native.library() is not None, "sahid.records._fts5tf was not built (make install)"
    arc = make_archive()
    with arc.engine.connect() as conn:
        assert conn.info[native.INFO_KEY] is True
        row = conn.exec_driver_sql(
            "SELECT count(*) FROM search_text WHERE search_text MATCH 'x' AND sahid_tf(search_text)"
        ).scalar()
        assert row == 0


QUERIES = [
    "common",
    "comm",
    "journalist raid",
    "raid witness rally",
    "Imishli",
    "Гянджа common",
    "Nardaran video",
    "vid",
    "injur lawyer",
    "schoolchildren",
]


@pytest.mark.parametrize("seed", [1, 2])
def test_fts5_counts_rank_as_the_python_counts(make_archive, seed):
    """The window ranked from sahid_tf's counts is the window ranked by counting the rows'
    own text in Python: the same matches, order and scores, with and without filters."""
    arc = make_archive()
    _case(arc, random.Random(seed))
    _incidents(arc, 60, start=100)
    filters = [fts.Filters()] + [arc.records.filters(**spec) for spec in FILTERS]
    ranked = 0
    for query in QUERIES:
        groups = arc.records.match_groups(query)
        for f in filters:
            found = {}
            for on in (True, False):
                _native(arc, on)
                with arc.engine.connect() as conn:
                    found[on] = fts.run_query(conn, groups, f, 50)
            assert [(i, t) for i, t, _ in found[True]] == [(i, t) for i, t, _ in found[False]]
            for (_, _, a), (_, _, b) in zip(found[True], found[False], strict=True):
                assert a == pytest.approx(b, rel=1e-12), (query, f)
            ranked += len(found[True]) > 1
    assert ranked > len(QUERIES) * len(filters) // 3  # most of them rank several matches


_TOKEN = st.sampled_from(["a", "ab", "abc", "b", "ba", "c"])


@given(
    st.lists(st.lists(_TOKEN, max_size=10), min_size=1, max_size=6),
    st.lists(
        st.tuples(st.lists(_TOKEN, min_size=1, max_size=3), st.booleans()),
        min_size=1,
        max_size=4,
    ),
)
@settings(max_examples=150, deadline=None)
def test_sahid_tf_counts_each_phrase_like_the_python_count(bodies, phrases):
    """For any rows and any OR of phrases (the last token a prefix or not), sahid_tf gives
    each row's token count and each phrase's instances in the body, as the Python path
    counts them (overlapping instances included); the facets column adds to the length
    only."""
    import sqlcipher3.dbapi2 as dbapi

    conn = dbapi.connect(":memory:")
    assert native.load(conn)
    conn.execute(
        "CREATE VIRTUAL TABLE search_text USING fts5(body, facets, spans UNINDEXED,"
        f" tokenize = 'unicode61 remove_diacritics 0', prefix = '{fts.PREFIX_INDEX}')"
    )
    for body in bodies:
        conn.execute("INSERT INTO search_text VALUES (?, ?, '')", (" ".join(body), "f1 f2"))
    quoted = ['"' + " ".join(toks) + '"' + ("*" if prefix else "") for toks, prefix in phrases]
    expected = {}
    for rowid, body in enumerate(bodies, start=1):
        counts = []
        for toks, prefix in phrases:
            head, last = toks[:-1], toks[-1]
            sp = fts._Spelled(["x"], 1, head, None if prefix else frozenset({last}), last)
            counts.append(sp.count(" " + " ".join(body) + " "))
        if any(counts):
            expected[rowid] = [len(body) + 2, *counts]
    got = {
        rowid: list(np.frombuffer(blob, np.uint32))
        for rowid, blob in conn.execute(
            "SELECT rowid, sahid_tf(search_text) FROM search_text WHERE search_text MATCH ?",
            (" OR ".join(quoted),),
        )
    }
    assert got == expected


def _facets_by_id(arc: Archive) -> dict[str, tuple[str, str]]:
    with arc.engine.connect() as conn:
        return {
            str(i): (str(f), str(s))
            for i, f, s in conn.exec_driver_sql(
                "SELECT d.id, t.facets, t.spans FROM search_docs d"
                " JOIN search_text t ON t.rowid = d.doc"
            )
        }


def test_facets_are_the_same_for_one_batch_or_one_entry_at_a_time(make_archive):
    """Refreshes are done once per batch: an incident's records that came before an act,
    charge or unit in the same batch still inherit them, exactly as if each record had
    been added on its own."""
    rng = random.Random(8)
    units = [Draft("unit", {"name": {"en": f"Unit {u}"}}, f"u-{u}") for u in range(4)]
    drafts = list(units)
    for n in range(2):
        inc = f"inc-{n}"
        drafts.append(
            Draft(
                "incident",
                {"title": {"en": "dispersal"}, "start": f"201{n}-05", "type": "killing"},
                inc,
            )
        )
        for i in range(12):
            pid = f"p-{n}-{i}"
            roles = [{"incident": inc, "role": "detainee"}]
            if i % 5 == 0 and n:
                roles.append({"incident": "inc-0", "role": "witness"})
            drafts.append(Draft("person", {"roles": roles}, pid))
            kind = rng.choice(["act", "charge", "detention", "statement"])
            if kind == "act":
                unit = {"perpetrator_unit": f"u-{rng.randrange(4)}"}
                drafts.append(
                    Draft("act", {"incident": inc, "type": "beating", **unit}, f"a-{pid}")
                )
            elif kind == "charge":
                label = rng.choice(["hooliganism", "mass disorder"])
                drafts.append(Draft("charge", {"incident": inc, "label": label}, f"c-{pid}"))
            elif kind == "detention":
                start = f"201{n}-0{rng.randint(5, 9)}"
                fields = {"incident": inc, "person": pid, "start": start}
                drafts.append(Draft("detention", fields, f"d-{pid}"))
            else:
                fields = {"incident": inc, "date": "2016-01-02", "language": "en", "text": "t"}
                drafts.append(Draft("statement", {**fields, "source": "Ministry"}, f"s-{pid}"))
    together, apart = make_archive(name="together"), make_archive(name="apart")
    together.records.create(drafts)
    for d in drafts:
        apart.records.create([d])
    for arc in (together, apart):
        arc.records.update("inc-0", {"place": "Quba", "status": "verified", "end": "2013-02"})
        arc.records.update("p-1-0", {"roles": [{"incident": "inc-1", "role": "victim"}]})
    assert _facets_by_id(together) == _facets_by_id(apart)
    # and the inherited facets are there (a person of inc-0 has its new place and units)
    f, _ = _facets_by_id(together)["p-0-1"]
    assert fts.facet_token("status", "verified") in f.split()
    assert any(t.startswith(fts.FACET_MARK + "unitx") for t in f.split())
    together.verify()
    apart.verify()


def test_upgrade_from_schema_0007_adds_the_four_letter_prefix_index(tmp_path):
    from sahid.store import SCHEMA_HEAD

    arc = Archive.init(tmp_path / "old", PASSPHRASE, kdf=FAST_KDF)
    _incidents(arc, 40)
    _case(arc, random.Random(6))
    queries = ["lawyer journalist", "jour", "comm", "Imishli raid"]
    expected = {q: arc.records.search(q, limit=50) for q in queries}
    with arc.engine.connect() as conn:
        index = fts.fts_rows(conn)
    root = downgrade(arc, "0007")
    assert Archive.upgrade(root, PASSPHRASE) == ("0007", SCHEMA_HEAD)
    with Archive.open(root, PASSPHRASE) as again:
        with again.engine.connect() as conn:
            assert fts.fts_rows(conn) == index
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'search_text'"
            ).scalar()
            assert "prefix = '3 4'" in str(sql)
        for q in queries:
            assert again.records.search(q, limit=50) == expected[q], q
        again.verify()


# --- date tokens: years and months -----------------------------------------------------

_MINUTE = st.builds(
    lambda y, m, d, h, mi: f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}",
    st.integers(2008, 2016),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.integers(0, 59),
)
# A period as a user writes it (a year, a month, a day) or any minute: its bounds.
_PERIOD = st.one_of(
    st.integers(2008, 2016).map(str),
    st.builds(lambda y, m: f"{y}-{m:02d}", st.integers(2008, 2016), st.integers(1, 12)),
    _MINUTE.map(lambda t: t[:10]),
    _MINUTE,
)


def _bounds(start: str, end: str) -> tuple[str, str]:
    lo, hi = fts.date_range(start, end)
    assert lo is not None and hi is not None
    return lo, hi


@given(
    st.lists(st.lists(st.tuples(_PERIOD, _PERIOD), min_size=1, max_size=3), max_size=12),
    st.tuples(_PERIOD, _PERIOD),
)
@settings(max_examples=300, deadline=None)
def test_the_date_clause_finds_every_document_in_range_and_sure_phrases_only_those(docs, query):
    """FTS5 over the year and month tokens of documents' spans: the date clause matches
    every document with a span overlapping the range (the exact rule, in_dates), and each
    phrase it marks sure matches only such documents."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(facets, tokenize = 'unicode61 remove_diacritics 0')"
    )
    spans = {}
    for rowid, periods in enumerate(docs, start=1):
        bounds = [_bounds(*sorted(p)) for p in periods]
        spans[rowid] = " ".join(f"{lo}/{hi}" for lo, hi in bounds)
        tokens = {t for lo, hi in bounds for t in fts.span_tokens(lo, hi)}
        conn.execute("INSERT INTO t (rowid, facets) VALUES (?, ?)", (rowid, " ".join(tokens)))
    lo, hi = _bounds(*sorted(query))
    clause = fts.date_clause(fts.Filters(date_from=lo, date_to=hi))
    assert clause is not None
    exact = {r for r, s in spans.items() if fts.in_dates(s, lo, hi)}

    def match(expression: str) -> set[int]:
        return {r for (r,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))}

    assert exact <= match(clause.text)
    phrases = re.findall(r'"[^"]+"', clause.text)
    assert len(phrases) == len(clause.sure)
    for phrase, sure in zip(phrases, clause.sure, strict=True):
        if sure:
            assert match(phrase) <= exact, phrase


def _statements_read(arc: Archive, query: str, filters: fts.Filters) -> tuple[set[str], list[str]]:
    """The ids a search finds, and the statements SQLite ran for it."""
    ran: list[str] = []
    with arc.engine.connect() as conn:
        conn.connection.driver_connection.set_trace_callback(ran.append)
    try:
        found = {h.id for h in arc.records.search(query, filters, limit=1000)}
    finally:
        with arc.engine.connect() as conn:
            conn.connection.driver_connection.set_trace_callback(None)
    return found, ran


def test_whole_years_and_months_pass_without_reading_spans(make_archive):
    """With sahid_tf, a match holding a year or month wholly inside the range passes
    without its spans being read; only matches of an edge month, or of a long span, are
    read, in one statement per page."""
    arc = make_archive()
    r = arc.records
    starts = ["2014-05-03", "2015-01-20", "2015-07", "2016-02-10", "2016-03-31", "2017"]
    ids = {}
    for start in starts:
        ids[start] = r.add(
            "incident", {"title": {"en": "raid"}, "start": start, "type": "killing"}
        ).ids[0]
    long = r.add(
        "incident",
        {"title": {"en": "raid"}, "start": "2013-01", "end": "2016-12", "type": "killing"},
    ).ids[0]

    def spans_read(ran: list[str]) -> int:
        return sum("SELECT rowid, spans" in s for s in ran)

    found, ran = _statements_read(arc, "raid", r.filters(date_from="2015", date_to="2016-02"))
    assert found == {ids["2015-01-20"], ids["2015-07"], ids["2016-02-10"], long}
    assert spans_read(ran) == 0  # 2015 is whole (the long span touches it), 2016-02 too
    found, ran = _statements_read(arc, "raid", r.filters(date_from="2016-01", date_to="2016-02"))
    assert found == {ids["2016-02-10"], long}
    assert spans_read(ran) == 1  # the long span has no month tokens
    found, ran = _statements_read(
        arc, "raid", r.filters(date_from="2016-03-15", date_to="2016-03-31")
    )
    assert found == {ids["2016-03-31"], long}
    assert spans_read(ran) == 1
    arc.records.update(long, {"end": "2013-06"})
    found, ran = _statements_read(arc, "raid", r.filters(date_from="2015", date_to="2016-02"))
    assert found == {ids["2015-01-20"], ids["2015-07"], ids["2016-02-10"]}
    assert spans_read(ran) == 0  # every match is of a whole year or month of the range


def test_upgrade_from_schema_0008_adds_the_month_tokens(tmp_path):
    from sahid.store import SCHEMA_HEAD

    arc = Archive.init(tmp_path / "old", PASSPHRASE, kdf=FAST_KDF)
    _case(arc, random.Random(7))
    spec = {"date_from": "2015-03", "date_to": "2016-02"}
    expected = {h.id for h in arc.records.search("common", arc.records.filters(**spec), limit=99)}
    with arc.engine.connect() as conn:
        index = fts.fts_rows(conn)
    months = [row for row in index if fts.FACET_MARK + "m" in row[2]]
    assert len(months) > len(index) // 2  # most documents have dates
    stripped: list[tuple[object, ...]] = []
    root = downgrade(arc, "0008", lambda conn: stripped.extend(fts.fts_rows(conn)))
    assert [row[:2] + row[3:] for row in stripped] == [row[:2] + row[3:] for row in index]
    assert not any(fts.FACET_MARK + "m" in row[2] for row in stripped)
    assert Archive.upgrade(root, PASSPHRASE) == ("0008", SCHEMA_HEAD)
    with Archive.open(root, PASSPHRASE) as again:
        with again.engine.connect() as conn:
            assert fts.fts_rows(conn) == index
        found = again.records.search("common", again.records.filters(**spec), limit=99)
        assert {h.id for h in found} == expected
        again.verify()


@given(
    st.lists(st.lists(_TOKEN, max_size=8), min_size=1, max_size=8),
    st.lists(st.tuples(st.lists(_TOKEN, min_size=1, max_size=3), st.booleans()), max_size=6),
)
@settings(max_examples=200, deadline=None)
def test_a_group_without_its_covered_phrases_matches_the_same_documents(bodies, phrases):
    """FTS5 over random bodies: a phrase that covers another matches every document the
    other matches, and a group of alternatives, with the covered ones left out, matches
    exactly the documents the whole group matches."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5(body,"
        f" tokenize = 'unicode61 remove_diacritics 0', prefix = '{fts.PREFIX_INDEX}')"
    )
    for body in bodies:
        conn.execute("INSERT INTO t (body) VALUES (?)", (" ".join(body),))
    group = [fts.Phrase(" ".join(toks), prefix) for toks, prefix in phrases]

    def match(ps: list[fts.Phrase]) -> set[int]:
        if not ps:
            return set()
        expression = " OR ".join(p.fts() for p in ps)
        return {r for (r,) in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,))}

    for a in group:
        for b in group:
            if fts.covers(a, b):
                assert match([b]) <= match([a]), (a, b)
    kept = fts._uncovered(group)
    assert match(kept) == match(group)
    assert (not group) == (not kept)


def test_a_places_covered_names_are_left_out_of_its_group():
    groups = fts.match_groups(
        ["lankaran"],
        {0: {"lankaran district", "lenkeran", "lenkeran rayonu", "lenkoran", "lenkoranskii"}},
    )
    assert fts.render(groups) == '("lankaran"* OR "lenkeran"* OR "lenkoran"*)'
    # a word's stem covers it: "imislide" is found as "imisli"*
    assert fts.render(fts.match_groups(["imislide"])) == '"imisli"*'


def test_a_snippet_brackets_the_other_name_a_place_was_found_by(make_archive):
    arc = make_archive()
    fields = {
        "source": "Ministry press office",
        "date": "2020-05-01",
        "language": "ru",
        "text": "Задержания в Ленкоранском районе после протеста",
    }
    st_id = arc.records.add("statement", fields).ids[0]
    (hit,) = arc.records.search("Lankaran")
    assert hit.id == st_id
    assert "[Ленкоранском]" in hit.snippet
    assert fts.snippet_keys(["lankaran"], None) == ["lankaran"]
