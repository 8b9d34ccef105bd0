"""Document sets (issue 5 item 7): dense clauses tested as sets, the same results."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sahid.archive import Archive
from sahid.records import docsets, native
from sahid.records import search as fts
from test_search import FILTERS, QUERIES, _case, _incidents


def _sets(monkeypatch: pytest.MonkeyPatch, ratio: int, least: int) -> None:
    """Read as sets the clauses of at least ``least`` documents and ``ratio`` times the
    sparsest (0, 0: every clause; never with 1 << 62)."""
    monkeypatch.setattr(docsets, "DENSE_RATIO", ratio)
    monkeypatch.setattr(docsets, "DENSE_MIN", least)
    monkeypatch.setattr(docsets, "STEPS_MIN", least)
    monkeypatch.setattr(docsets, "USES", 1)


OFF = (1 << 62, 1 << 62)


def _run(arc: Archive, query: str, f: fts.Filters, limit: int = 50) -> list[tuple[str, str, float]]:
    groups = arc.records.match_groups(query)
    with arc.engine.connect() as conn:
        return fts.run_query(conn, groups, f, limit)


def _same(a: list[tuple[str, str, float]], b: list[tuple[str, str, float]], what: object) -> None:
    assert [(i, t) for i, t, _ in a] == [(i, t) for i, t, _ in b], what
    for (_, _, x), (_, _, y) in zip(a, b, strict=True):
        assert x == pytest.approx(y, rel=1e-12), what


def _queries_and_filters(arc: Archive) -> list[tuple[str, fts.Filters]]:
    filters = [fts.Filters()] + [arc.records.filters(**spec) for spec in FILTERS]
    return [(q, f) for q in QUERIES for f in filters]


@pytest.mark.parametrize("seed", [1, 2])
def test_sets_find_the_window_fts5_finds(make_archive, monkeypatch, seed):
    """Each search gives the matches, order and scores of FTS5's own intersection (with
    sahid_tf, and with the Python counts), after the edits that change what records
    inherit, with the filters read as sets and the words' matches read from FTS5 a page
    at a time (first pages are tiny) and tested against them."""
    arc = make_archive()
    _case(arc, random.Random(seed))
    _incidents(arc, 60, start=100)
    monkeypatch.setattr(docsets, "FIRST_PAGE", 2)
    plans: list[docsets.Plan | None] = []
    planned = docsets.plan
    monkeypatch.setattr(docsets, "plan", lambda *a: plans.append(planned(*a)) or plans[-1])
    cases = _queries_and_filters(arc)
    ranked = 0
    for on in (True, False):
        with arc.engine.connect() as conn:
            conn.info[native.INFO_KEY] = on
        for query, f in cases:
            _sets(monkeypatch, *OFF)
            theirs = _run(arc, query, f)
            for ratio, least in ((0, 0), (1, 10)):
                with arc.engine.connect() as conn:
                    conn.info.pop(docsets.INFO_KEY, None)
                _sets(monkeypatch, ratio, least)
                for limit in (50, 3):
                    ours = _run(arc, query, f, limit)
                    _same(ours, theirs[:limit], (query, f, on, ratio, limit))
            ranked += len(theirs) > 1
    assert ranked > 2 * len(cases) // 3  # most of them rank several matches
    assert sum(p is not None for p in plans) > len(cases) // 2


def _expected(arc: Archive, query: str, f: fts.Filters) -> set[str]:
    """The word matches the facets table admits (a search without words)."""
    r = arc.records
    admitted = {h.id for h in r.search("", f, limit=10_000)}
    return {h.id for h in r.search(query, limit=10_000, ranking="all")} & admitted


def test_a_set_is_only_used_for_the_index_it_was_read_from(make_archive, monkeypatch):
    """Kept sets are dropped when the index changes: after records are added, and after
    an edit changes what an incident's records inherit."""
    arc = make_archive()
    made = _case(arc, random.Random(4))
    _sets(monkeypatch, 0, 0)
    r = arc.records
    killing = r.filters(types=["killing"])

    def found(query: str) -> set[str]:
        return {i for i, _, _ in _run(arc, query, killing, 10_000)}

    assert found("journalist") == _expected(arc, "journalist", killing)
    with arc.engine.connect() as conn:
        assert conn.info[docsets.INFO_KEY].sets  # the filter's set is kept
    added = set(_incidents(arc, 30, start=500))
    now = found("journalist")
    assert now == _expected(arc, "journalist", killing)
    assert now & added  # new killings with the word, not in the set read before
    common = found("common")
    incident = next(i for i in sorted(common) if i in made["incident"])
    r.update(incident, {"type": "injury"})
    after = found("common")
    assert incident not in after
    assert after == _expected(arc, "common", killing)


def test_the_budget_keeps_the_most_recently_used_sets(make_archive, monkeypatch):
    arc = make_archive()
    _case(arc, random.Random(6))
    _sets(monkeypatch, 0, 0)
    monkeypatch.setattr(docsets, "BUDGET_BYTES", 1)
    for spec in FILTERS:
        f = arc.records.filters(**spec)
        assert {i for i, _, _ in _run(arc, "common", f, 10_000)} == _expected(arc, "common", f)
    with arc.engine.connect() as conn:
        cache = conn.info[docsets.INFO_KEY]
    assert len(cache.sets) == 1
    assert cache.used == cache.size


@given(st.sets(st.integers(0, 700), max_size=80))
@settings(max_examples=100, deadline=None)
def test_a_set_holds_exactly_its_documents(docs):
    size = 701 // 8 + 1
    flags = np.zeros(size * 8, np.bool_)
    flags[sorted(docs)] = True
    s = docsets.DocSet(np.packbits(flags, bitorder="little"), len(docs))
    assert s.has(np.arange(size * 8, dtype=np.int64)).tolist() == flags.tolist()
    both = docsets._combined([s, s], np.bitwise_and)
    assert both.count == len(docs)


def test_reach_is_the_share_read_to_fill_the_window():
    """With 1 000 documents, clauses of 500 and 500 hold about 250 together: 50 of them
    are in the newest fifth; a window larger than every match reads everything."""
    assert docsets._reach([500, 500], 1000, 50) == pytest.approx(0.2)
    assert docsets._reach([10, 100], 1000, 200) == 1.0
    assert docsets._reach([2000], 1000, 100) == pytest.approx(0.1)


def test_a_set_is_read_on_its_second_search(make_archive, monkeypatch):
    """A clause used once never pays for a set: the first search of a filter is FTS5's
    alone, the second reads the filter's set, and later ones keep it."""
    arc = make_archive()
    _case(arc, random.Random(7))
    _sets(monkeypatch, 0, 0)
    monkeypatch.setattr(docsets, "USES", 2)
    plans: list[docsets.Plan | None] = []
    planned = docsets.plan
    monkeypatch.setattr(docsets, "plan", lambda *a: plans.append(planned(*a)) or plans[-1])
    f = arc.records.filters(types=["killing"])
    for _ in range(3):
        assert {i for i, _, _ in _run(arc, "common", f, 10_000)} == _expected(arc, "common", f)
    assert [p is not None for p in plans] == [False, True, True]
