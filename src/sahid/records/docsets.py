"""The documents of an FTS5 phrase as a set of bits, kept per connection.

A filtered search is one FTS5 query: the filters are tokens of the index (a type, a
place, the years and months of a date range), ANDed with the words. FTS5 intersects
lists by stepping through every entry of each wherever the others' matches fall, so a
sparse word with a dense filter costs the filter's whole list: a range of a year and a
half is the lists of a tenth of a million records' documents, stepped through at about
190 ns an entry. A document set is one bit per document of a phrase's matches; read
once, it tests a word's matches in nanoseconds each.

This is the filter cache of search engines such as Lucene, for a query's filters: the
sets of the facet, year and month tokens a search uses are read on their second search,
kept in memory within a byte budget (the least recently used go first), and dropped
whenever the index changes. A search plans with them in :func:`plan`: its words are
read from FTS5, newest first, and each match is tested against the filters' sets.
Words stay FTS5's: sets of common words were measured too, and a set costs about what
FTS5 takes to step through the list once (200 ns a document), so in a varied mix of
queries the reading of new ones raised p99 more than their use lowered p95. NumPy is
imported with this module, which only the ranked window imports.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from sahid.records import native
from sahid.records.search import FTS_TABLE

INFO_KEY = "sahid.docsets"

# The filters are tested as sets when one holds at least DENSE_RATIO times the documents
# of the query's sparsest clause, and at least DENSE_MIN documents (a list of fewer
# entries costs FTS5 little) ...
DENSE_RATIO = 8
DENSE_MIN = 5_000
# ... and when FTS5 would step through at least STEPS_MIN entries of the dense filters'
# lists to fill the window. It steps through about ten thousand a millisecond, and the
# sets' way has a fixed cost of a few milliseconds at a million records (the words'
# matches, and the window's text, read and counted in Python).
STEPS_MIN = 100_000
# Sets kept per connection: at a million documents a set is 122 KiB, so 64 MiB hold
# about 500 of them (the facets, years and months a session filters by).
BUDGET_BYTES = 64 << 20
USES = 2  # a clause's set is read on its second search (see _Cache.ready)
FIRST_PAGE = 1_600  # matches of the words read at first, then four times more

Bits = npt.NDArray[np.uint8]
Docs = npt.NDArray[np.int64]

# bits set in each byte value, for counting the documents of a combined set
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.int64)


@dataclass
class DocSet:
    """The documents holding a phrase: bit ``doc & 7`` of byte ``doc >> 3``."""

    bits: Bits
    count: int

    def has(self, docs: Docs) -> npt.NDArray[np.bool_]:
        held: npt.NDArray[np.bool_] = (self.bits[docs >> 3] >> (docs & 7).astype(np.uint8)) & 1 != 0
        return held


@dataclass
class _Cache:
    state: tuple[Any, ...]
    size: int  # bytes of every set: the highest document number's byte, plus one
    sets: OrderedDict[str, DocSet] = field(default_factory=OrderedDict)
    used: int = 0
    # how many searches have wanted each phrase's set (kept across index changes)
    wanted: dict[str, int] = field(default_factory=dict)

    def ready(self, clause: Clause) -> bool:
        """Whether the clause's sets are kept or may be read now: a set costs about what
        FTS5 takes to step through its list once, so it is read on the clause's
        :data:`USES`-th search, and a phrase used once never pays for one."""
        phrases = [p for alt in clause.alternatives for p in alt]
        if len(self.wanted) > 100_000:
            self.wanted.clear()
        for p in phrases:
            self.wanted[p] = self.wanted.get(p, 0) + 1
        return all(p in self.sets or self.wanted[p] >= USES for p in phrases)


def _state(conn: Connection) -> tuple[Any, ...]:
    """What identifies the index's content: FTS5's structure record (rewritten, with a
    new write counter, by every change that reaches the index's segments) and the
    connection's count of changed rows (its writes not yet flushed to segments)."""
    row = conn.exec_driver_sql(
        f"SELECT total_changes(), (SELECT block FROM {FTS_TABLE}_data WHERE id = 10),"  # noqa: S608
        f" (SELECT max(rowid) FROM {FTS_TABLE}_docsize)"
    ).one()
    return tuple(row)


def _cache(conn: Connection) -> _Cache:
    state = _state(conn)
    cache: _Cache | None = conn.info.get(INFO_KEY)
    if cache is None or cache.state != state:
        wanted = cache.wanted if cache is not None else {}
        cache = _Cache(state, (int(state[2] or 0) >> 3) + 1, wanted=wanted)
        conn.info[INFO_KEY] = cache
    return cache


def docs_of(conn: Connection, expression: str, before: int | None = None, limit: int = -1) -> Docs:
    """The documents matching an FTS5 expression, newest first (below ``before``, at
    most ``limit``): in one blob from ``sahid_rowids`` if loaded, else a row each."""
    where = f"{FTS_TABLE} MATCH ?" + ("" if before is None else " AND rowid < ?")
    args = (expression,) if before is None else (expression, before)
    sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {where} ORDER BY rowid DESC LIMIT ?"  # noqa: S608
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    if conn.info.get(native.INFO_KEY):
        outer = f"SELECT {native.ROWIDS}(rowid) FROM ({sql})"  # noqa: S608
        (blob,) = dbapi.execute(outer, (*args, limit)).fetchone()
        docs = np.frombuffer(blob, np.int64)
        # SQLite feeds the aggregate in the subquery's order; checked, not assumed
        return docs if np.all(docs[:-1] > docs[1:]) else np.sort(docs)[::-1]
    rows = dbapi.execute(sql, (*args, limit)).fetchall()
    return np.fromiter(itertools.chain.from_iterable(rows), np.int64, len(rows))


def phrase_set(conn: Connection, cache: _Cache, phrase: str) -> DocSet:
    """The set of one FTS5 phrase (a quoted token or phrase, perhaps a prefix), read
    from the index unless kept."""
    found = cache.sets.get(phrase)
    if found is not None:
        cache.sets.move_to_end(phrase)
        return found
    docs = docs_of(conn, phrase)
    flags = np.zeros(cache.size * 8, np.bool_)
    flags[docs] = True
    made = DocSet(np.packbits(flags, bitorder="little"), len(docs))
    cache.sets[phrase] = made
    cache.used += cache.size
    while cache.used > BUDGET_BYTES and len(cache.sets) > 1:
        cache.sets.popitem(last=False)
        cache.used -= cache.size
    return made


def _combined(sets: Sequence[DocSet], op: Any) -> DocSet:
    if len(sets) == 1:
        return sets[0]
    bits = op.reduce([s.bits for s in sets])
    return DocSet(bits, int(_POPCOUNT[bits].sum()))


@dataclass
class Clause:
    """A filter of a query's AND: an OR of alternatives, each an AND of FTS5 phrases;
    ``sure`` flags alternatives that need no further check (the date clause's whole
    years and months)."""

    alternatives: list[tuple[str, ...]]
    sure: tuple[bool, ...] | None = None


def clause_set(conn: Connection, cache: _Cache, clause: Clause, only_sure: bool = False) -> DocSet:
    """The documents of a clause: the OR of its alternatives' ANDs (only the sure ones)."""
    alts = [
        _combined([phrase_set(conn, cache, p) for p in alt], np.bitwise_and)
        for i, alt in enumerate(clause.alternatives)
        if not only_sure or (clause.sure is not None and clause.sure[i])
    ]
    if not alts:
        return DocSet(np.zeros(cache.size, np.uint8), 0)
    return _combined(alts, np.bitwise_or)


@dataclass
class Plan:
    """A query as the FTS5 expression of its words and the set of the documents passing
    its filters; ``dated`` is the date clause's sure set, outside which a match still
    has its spans checked (None: every match, if there is a date filter)."""

    expression: str
    mask: DocSet
    dated: DocSet | None

    def pages(self, conn: Connection) -> Iterator[Docs]:
        """The words' matches in the mask, newest first, a page at a time (FIRST_PAGE
        matches read from FTS5, then four times more each page)."""
        before: int | None = None
        page = FIRST_PAGE
        while True:
            docs = docs_of(conn, self.expression, before, page)
            found = docs[self.mask.has(docs)]
            if len(found):
                yield found
            if len(docs) < page:
                return
            before, page = int(docs[-1]), page * 4


def _reach(counts: Sequence[int], docs: int, window: int) -> float:
    """The share of the index FTS5 reads, newest first, to find ``window`` documents in
    every clause, if the clauses held documents independently of each other."""
    matches = float(docs)
    for c in counts:
        matches *= min(c, docs) / max(docs, 1)
    return 1.0 if matches <= window else window / matches


def plan(
    conn: Connection, words: Sequence[tuple[str, int]], filters: Sequence[Clause], window: int
) -> Plan | None:
    """How to find the newest ``window`` matches of a query with its filters as sets:
    None when no filter is much denser than the query's sparsest clause, or FTS5 would
    fill the window after a few entries of the dense ones (:data:`STEPS_MIN`), or a
    filter's set may not be read yet (:meth:`_Cache.ready`; its exact count is its set's).

    ``words`` are the word groups' FTS5 clauses, with their document counts (upper
    bounds), which stay FTS5's to intersect; ``filters`` the facet, kind and date clauses (the date
    clause last, if any).
    """
    if not filters or not words:
        return None
    cache = _cache(conn)
    if not all([cache.ready(c) for c in filters]):  # every filter is noted as wanted
        return None
    sets = [clause_set(conn, cache, c) for c in filters]
    counts = [s.count for s in sets] + [docs for _, docs in words]
    dense_at = max(DENSE_RATIO * min(counts), DENSE_MIN)
    dense = [s.count for s in sets if s.count >= dense_at]
    if not dense or sum(dense) * _reach(counts, cache.size * 8, window) < STEPS_MIN:
        return None
    dated = None
    if filters[-1].sure is not None:
        dated = clause_set(conn, cache, filters[-1], only_sure=True)
    expression = " AND ".join(fts for fts, _ in words)
    return Plan(expression, _combined(sets, np.bitwise_and), dated)
