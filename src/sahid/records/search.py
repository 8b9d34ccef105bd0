"""Multilingual search (DESIGN §5): one FTS5 index of folded text, filters as facets.

Every searchable text is indexed as its :func:`sahid.text.tokens` (Azerbaijani-aware
folding plus Cyrillic→Latin transliteration), and queries are folded the same way, so
"İmişli", "Imishli" and "Имишли" are one word to the index. A query word that names a
gazetteer place also matches the place's other names ("Ganja" finds "Gəncə"). Words
match as prefixes, because Azerbaijani adds suffixes ("İmişlidə", "in Imishli").

Filters (place, dates, incident type, unit, charge, status, record kind) are facets of
a record or of the incident it belongs to. The FTS5 table holds them as tokens in a
second column, ``facets`` (:func:`facet_token`), so a filtered search is one FTS5 query
that reads only documents passing the filters; the ``facets`` table is their source and
serves searches without words. Snippets are cut from the original text, not the folded
form, with the matched words in [brackets].
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select, text

from sahid import text as fold
from sahid.records import native, segments
from sahid.records.dates import from_json
from sahid.schema import search_docs, search_terms

FTS_TABLE = "search_text"
SNIPPET_WORDS = 14


# FTS5 keeps a doclist for every prefix of these lengths (in characters): a prefix query
# of such a length reads one doclist, newest first, like a word. Short prefixes stand
# for the most words (Azerbaijani suffixes, and transliteration variants); a longer one
# is spelled out as the words it stands for (schema 0008 added the length 4: a
# four-letter prefix of 20-60 words made FTS5 skip through that many doclists).
PREFIX_LENGTHS = (3, 4)
PREFIX_INDEX = max(PREFIX_LENGTHS)

# bm25() with the facets column weighed 0: scores come from the words alone.
BM25 = f"bm25({FTS_TABLE}, 1.0, 0.0)"


def create_fts(conn: Connection, name: str = FTS_TABLE) -> None:
    """The FTS5 table (SQLite only; team mode on PostgreSQL uses its own full text)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING fts5("
            "body, facets, spans UNINDEXED,"
            " tokenize = 'unicode61 remove_diacritics 0',"
            f" prefix = '{' '.join(map(str, PREFIX_LENGTHS))}')"
        )


def has_fts(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


# Words repeat (a few thousand make up most text), so their keys are cached: the same
# result as ``fold.tokens``, without re-folding "polis" for every record and snippet.
_search_key = functools.lru_cache(maxsize=1 << 17)(fold.search_key)


def tokens(text: str) -> list[str]:
    """:func:`sahid.text.tokens`, with each word's key cached."""
    return [_search_key(text[s:e]) for s, e in fold.words(text)]


def index_text(texts: Iterable[str]) -> str:
    """The folded form stored in the index: keys of every word, space-separated."""
    return " ".join(k for t in texts for k in tokens(t) if k)


def add_doc(
    conn: Connection,
    doc: int,
    doc_id: str,
    doc_type: str,
    texts: Iterable[str],
    dates: tuple[str | None, str | None] = (None, None),
) -> str:
    """Index a document (search_docs and FTS5); returns the indexed body.

    Migration 0002 calls this before ``search_terms`` exists (0006 counts the words of
    every body then); the projections call :func:`index_doc`, which counts them too.
    """
    conn.execute(
        insert(search_docs),
        [{"doc": doc, "id": doc_id, "type": doc_type, "date_lo": dates[0], "date_hi": dates[1]}],
    )
    body = index_text(texts)
    if has_fts(conn):
        conn.exec_driver_sql(
            "INSERT INTO search_text (rowid, body, facets, spans) VALUES (?, ?, ?, ?)",
            (doc, body, *doc_facets(conn, doc_id, doc_type, dates)),
        )
    return body


def index_doc(
    conn: Connection,
    doc: int,
    doc_id: str,
    doc_type: str,
    texts: Iterable[str],
    dates: tuple[str | None, str | None] = (None, None),
) -> None:
    """:func:`add_doc`, and one more document for each of its words in ``search_terms``."""
    body = add_doc(conn, doc, doc_id, doc_type, texts, dates)
    if has_fts(conn):
        count_terms(conn, body, +1)


# FTS5's unicode61 tokenizer splits on everything but letters, digits (and private-use
# characters, which folded keys do not hold) and folds case; the stored body is folded
# keys, so its tokens are these runs.
_FTS_TOKEN = re.compile(r"[^\W_]+")


def fts_tokens(body: str) -> list[str]:
    """The tokens FTS5 makes of an indexed body (or of a quoted query phrase)."""
    return _FTS_TOKEN.findall(body.lower())


def count_terms(conn: Connection, body: str, delta: int) -> None:
    """Add (delta=+1) or remove (-1) one document holding each distinct token of body."""
    terms = sorted(set(fts_tokens(body)))
    if not terms:
        return
    rows = [(t,) for t in terms]
    if delta > 0:
        conn.exec_driver_sql(
            "INSERT INTO search_terms (term, docs) VALUES (?, 1)"
            " ON CONFLICT (term) DO UPDATE SET docs = docs + 1",
            rows,
        )
    else:
        conn.exec_driver_sql("UPDATE search_terms SET docs = docs - 1 WHERE term = ?", rows)
        conn.exec_driver_sql("DELETE FROM search_terms WHERE term = ? AND docs <= 0", rows)


def recount_terms(conn: Connection) -> None:
    """Rebuild ``search_terms`` from every indexed body (migration 0006)."""
    if not has_fts(conn):
        return
    counts: dict[str, int] = {}
    for (body,) in conn.exec_driver_sql("SELECT body FROM search_text"):
        for t in set(fts_tokens(body or "")):
            counts[t] = counts.get(t, 0) + 1
    conn.execute(delete(search_terms))
    if counts:
        conn.exec_driver_sql(
            "INSERT INTO search_terms (term, docs) VALUES (?, ?)", sorted(counts.items())
        )


def drop_doc(conn: Connection, doc_id: str) -> int | None:
    """Remove a document (before re-adding it on update); returns its doc number."""
    doc = conn.execute(text("SELECT doc FROM search_docs WHERE id = :id"), {"id": doc_id}).scalar()
    if doc is None:
        return None
    conn.execute(delete(search_docs).where(search_docs.c.id == doc_id))
    if has_fts(conn):
        body = conn.exec_driver_sql("SELECT body FROM search_text WHERE rowid = ?", (doc,)).scalar()
        conn.exec_driver_sql("DELETE FROM search_text WHERE rowid = ?", (doc,))
        count_terms(conn, str(body or ""), -1)
    return int(doc)


def fts_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """The index content in rowid order, for verify's replay comparison."""
    if not has_fts(conn):
        return []
    return [
        tuple(r)
        for r in conn.exec_driver_sql(
            "SELECT rowid, body, facets, spans FROM search_text ORDER BY rowid"
        )
    ]


# --- facets as tokens ----------------------------------------------------------------
#
# A document's facets column holds a token for each facet of its record and of the
# incidents it belongs to (the same union the ``facets`` table gives a search without
# words), one for its record type, and one for each year and each month its dates, or
# its incidents' dates, touch (see :func:`date_clause`). Tokens start with a private-use
# character: FTS5 keeps it inside a token, and folded query words never hold one, so no
# word of a query matches a facet token.

FACET_MARK = "\ue000"
FACET_KEYS = ("place", "type", "unit", "charge", "status")
YEARS_MAX = 60  # a wider date range is one token (WIDE_TOKEN), not one per year
WIDE_TOKEN = FACET_MARK + "ywide"
MONTHS_MAX = 24  # a longer span has no month tokens, but LONG_TOKEN
LONG_TOKEN = FACET_MARK + "mlong"


def facet_token(key: str, value: str) -> str:
    """The token of one facet: its key and its value in hex (any text, one token)."""
    return FACET_MARK + key + "x" + value.encode().hex()


def kind_token(doc_type: str) -> str:
    return facet_token("kind", doc_type)


def year_tokens(lo: str | None, hi: str | None) -> list[str]:
    """The years a date range touches (bounds are ``YYYY-...`` strings, as stored)."""
    if not lo or not hi:
        return []
    first, last = int(lo[:4]), int(hi[:4])
    if last - first >= YEARS_MAX:
        return [WIDE_TOKEN]
    return [year_token(y) for y in range(first, last + 1)]


def span_tokens(lo: str, hi: str) -> list[str]:
    """The facet tokens of a document's span: its years and its months."""
    return year_tokens(lo, hi) + month_tokens(lo, hi)


def year_token(year: int) -> str:
    return f"{FACET_MARK}y{year:04d}"


def month_token(year: int, month: int) -> str:
    return f"{FACET_MARK}m{year:04d}{month:02d}"


def month_tokens(lo: str, hi: str) -> list[str]:
    """The months a stored span touches, or LONG_TOKEN for a span of more than
    MONTHS_MAX months (its years stand for it)."""
    first = int(lo[:4]) * 12 + int(lo[5:7]) - 1
    last = int(hi[:4]) * 12 + int(hi[5:7]) - 1
    if last - first >= MONTHS_MAX:
        return [LONG_TOKEN]
    return [month_token(m // 12, m % 12 + 1) for m in range(first, last + 1)]


def doc_facets(
    conn: Connection, doc_id: str, doc_type: str, dates: tuple[str | None, str | None]
) -> tuple[str, str]:
    """The facets and spans columns of a document, from the ``facets`` and
    ``search_docs`` tables. Spans are its own dates and its incidents', ``lo/hi`` each:
    the year and month tokens find the right periods, the spans decide the exact bounds."""
    own = conn.exec_driver_sql("SELECT key, value FROM facets WHERE id = ?", (doc_id,)).all()
    tokens = {kind_token(doc_type)}
    tokens.update(facet_token(k, v) for k, v in own if k in FACET_KEYS)
    own_lo, own_hi = dates
    spans: set[tuple[str, str]] = {(own_lo, own_hi)} if own_lo and own_hi else set()
    incidents = sorted({str(v) for k, v in own if k == "incident"})
    if incidents:
        marks = ", ".join("?" * len(incidents))
        inherited = conn.exec_driver_sql(
            f"SELECT key, value FROM facets WHERE id IN ({marks})",  # noqa: S608
            tuple(incidents),
        )
        tokens.update(facet_token(k, v) for k, v in inherited if k in FACET_KEYS)
        spans.update(
            (lo, hi)
            for lo, hi in conn.exec_driver_sql(
                f"SELECT date_lo, date_hi FROM search_docs WHERE id IN ({marks})",  # noqa: S608
                tuple(incidents),
            )
            if lo and hi
        )
    for lo, hi in spans:
        tokens.update(span_tokens(lo, hi))
    return " ".join(sorted(tokens)), " ".join(f"{lo}/{hi}" for lo, hi in sorted(spans))


def in_dates(spans: str, date_from: str, date_to: str) -> bool:
    """Whether any span of a spans column overlaps [date_from, date_to] (the rule of
    :func:`date_sql`: ``hi >= from`` and ``lo <= to``)."""
    for span in spans.split():
        lo, _, hi = span.partition("/")
        if hi >= date_from and lo <= date_to:
            return True
    return False


_PENDING = "sahid.facets_pending"  # the connection's info key for refreshes not yet done
_IN_CHUNK = 500


@dataclass
class _Pending:
    """Facet refreshes noted during a batch: for each record, when (a counter) its facet
    rows or dates last changed, and when it was last indexed afresh."""

    clock: int = 0
    changed: dict[str, int] = field(default_factory=dict)
    fresh: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def deferred_facets(conn: Connection) -> Iterator[None]:
    """Do the facet refreshes noted inside once, at the end (or at :func:`flush_facets`).

    An incident's records inherit its facets, so each act or charge added to it used to
    rewrite every record of the incident at once: an import of an incident with a few
    hundred detentions, charges and acts did work that grew with the square of its size.
    Done once per batch, each affected document is recomputed once. The result is the
    same for any batching (refreshes recompute from the ``facets`` table), which is what
    ``verify``'s entry-by-entry replay checks. Nested uses join the outer one.
    """
    if _PENDING in conn.info:
        yield
        return
    conn.info[_PENDING] = _Pending()
    try:
        yield
        flush_facets(conn)
    finally:
        conn.info.pop(_PENDING, None)


def refresh_facets(conn: Connection, changed: Iterable[str], indexed: str | None = None) -> None:
    """Note that the facets column of every document whose facets may have changed needs
    rewriting: the records in ``changed`` (their facet rows or dates changed) and every
    record that belongs to one of them as its incident. ``indexed`` was just indexed
    afresh (its own facets are current). Done at once outside :func:`deferred_facets`."""
    if not has_fts(conn):
        return
    pending = conn.info.get(_PENDING)
    if pending is None:
        with deferred_facets(conn):
            refresh_facets(conn, changed, indexed)
        return
    pending.clock += 1
    for record in changed:
        pending.changed[record] = pending.clock
    if indexed is not None:
        pending.changed[indexed] = pending.fresh[indexed] = pending.clock


def flush_facets(conn: Connection) -> None:
    """Rewrite the facets columns noted since the last flush. A document is skipped when
    it was indexed after the last change of each record it is refreshed for: its facets
    were computed from their current state."""
    pending = conn.info.get(_PENDING)
    if pending is None or not pending.changed:
        return
    changed, fresh = pending.changed, pending.fresh
    pending.changed, pending.fresh = {}, {}
    pairs = [(c, c) for c in changed]  # (document, the changed record it depends on)
    ids = sorted(changed)
    for at in range(0, len(ids), _IN_CHUNK):
        chunk = tuple(ids[at : at + _IN_CHUNK])
        marks = ", ".join("?" * len(chunk))
        pairs.extend(
            (str(m), str(c))
            for m, c in conn.exec_driver_sql(
                f"SELECT id, value FROM facets WHERE key = 'incident' AND value IN ({marks})",  # noqa: S608
                chunk,
            )
        )
    todo = {doc_id for doc_id, c in pairs if fresh.get(doc_id, -1) < changed[c]}
    for doc_id in sorted(todo):
        row = conn.exec_driver_sql(
            "SELECT d.doc, d.type, d.date_lo, d.date_hi, t.facets, t.spans FROM search_docs d"  # noqa: S608
            f" JOIN {FTS_TABLE} t ON t.rowid = d.doc WHERE d.id = ?",
            (doc_id,),
        ).first()
        if row is None:
            continue  # a record search does not index (a link)
        doc, doc_type, lo, hi, *old = row
        new = doc_facets(conn, doc_id, doc_type, (lo, hi))
        if new != tuple(old):
            conn.exec_driver_sql(
                f"UPDATE {FTS_TABLE} SET facets = ?, spans = ? WHERE rowid = ?",  # noqa: S608
                (*new, doc),
            )


def rebuild_fts(conn: Connection) -> None:
    """Copy the index into a new FTS5 table with the facets and spans columns
    (migration 0007)."""
    _copy_in_batches(
        conn,
        "SELECT d.doc, d.id, d.type, d.date_lo, d.date_hi, t.body FROM search_docs d"  # noqa: S608
        f" JOIN {FTS_TABLE} t ON t.rowid = d.doc WHERE d.doc > ? ORDER BY d.doc LIMIT 5000",
        lambda doc, i, t, lo, hi, body: (doc, body, *doc_facets(conn, i, t, (lo, hi))),
    )


def copy_fts(conn: Connection) -> None:
    """Copy the index, as it is, into a new FTS5 table of the current definition
    (migration 0008: the prefix index of four characters)."""
    create_fts(conn, "search_text_new")
    conn.exec_driver_sql(
        "INSERT INTO search_text_new (rowid, body, facets, spans)"  # noqa: S608
        f" SELECT rowid, body, facets, spans FROM {FTS_TABLE}"
    )
    _replace_fts(conn)


def rewrite_facets(conn: Connection, change: Callable[[set[str], str], set[str]]) -> None:
    """Copy the index into a new FTS5 table with each row's facet tokens changed by
    ``change(tokens, spans)`` (migration 0009: month tokens, from the spans column)."""
    _copy_in_batches(
        conn,
        f"SELECT rowid, body, facets, spans FROM {FTS_TABLE}"  # noqa: S608
        " WHERE rowid > ? ORDER BY rowid LIMIT 5000",
        lambda doc, body, f, s: (
            doc,
            body,
            " ".join(sorted(change(set(str(f or "").split()), str(s or "")))),
            s,
        ),
    )


def _copy_in_batches(conn: Connection, select: str, make: Callable[..., tuple[Any, ...]]) -> None:
    """Fill a new FTS5 table, 5 000 rows at a time, and put it in the index's place:
    ``select`` (its ? the last rowid copied) gives rows, the rowid first, and ``make``
    turns each into the new table's (rowid, body, facets, spans)."""
    create_fts(conn, "search_text_new")
    last = -1
    while True:
        rows = conn.exec_driver_sql(select, (last,)).all()
        if not rows:
            break
        conn.exec_driver_sql(
            "INSERT INTO search_text_new (rowid, body, facets, spans) VALUES (?, ?, ?, ?)",
            [make(*row) for row in rows],
        )
        last = rows[-1][0]
    _replace_fts(conn)


def _replace_fts(conn: Connection) -> None:
    # One segment instead of the many a bulk load leaves: each query reads one doclist
    # per word instead of one per segment.
    conn.exec_driver_sql("INSERT INTO search_text_new (search_text_new) VALUES ('optimize')")
    conn.exec_driver_sql(f"DROP TABLE {FTS_TABLE}")
    conn.exec_driver_sql(f"ALTER TABLE search_text_new RENAME TO {FTS_TABLE}")


def compact_index(conn: Connection, written: int) -> None:
    """Keep the index in few segments after a commit that wrote ``written`` entries
    (:mod:`sahid.records.segments`)."""
    if has_fts(conn):
        docs = conn.execute(select(func.max(search_docs.c.doc))).scalar() or 0
        segments.compact(conn, FTS_TABLE, docs, written)


def date_range(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    if not start:
        return None, None
    lo = from_json(start).bounds()[0]
    hi = from_json(end or start).bounds()[1]
    return lo, max(lo, hi)


# --- queries -------------------------------------------------------------------------


@dataclass
class Filters:
    """Search filters; each set is already expanded (place → places within, unit → subunits)."""

    places: frozenset[str] | None = None
    date_from: str | None = None  # YYYY-MM-DDTHH:MM
    date_to: str | None = None
    types: frozenset[str] | None = None  # incident types
    units: frozenset[str] | None = None
    charges: frozenset[str] | None = None
    statuses: frozenset[str] | None = None
    kinds: frozenset[str] | None = None  # record types (incident, statement, evidence, ...)

    def date_bounds(self) -> tuple[str, str] | None:
        """(from, to) of the date filter, an open end as far as any date goes; None
        without one."""
        if not self.date_from and not self.date_to:
            return None
        return self.date_from or "0000", self.date_to or "9999"

    def facets(self) -> list[tuple[str, frozenset[str]]]:
        pairs = [
            ("place", self.places),
            ("type", self.types),
            ("unit", self.units),
            ("charge", self.charges),
            ("status", self.statuses),
        ]
        return [(k, v) for k, v in pairs if v is not None]


@dataclass
class Hit:
    id: str
    type: str
    rank: float
    title: str = ""
    snippet: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "snippet": self.snippet,
            "rank": round(self.rank, 4),
        }


def query_keys(query: str) -> list[str]:
    return [k for k in fold.tokens(query) if k]


# Case and plural endings as they look after folding (ə→e, ı→i, ...), longest first.
SUFFIXES = (
    "lerin",
    "larin",
    "dan",
    "den",
    "tan",
    "ten",
    "nin",
    "nun",
    "lar",
    "ler",
    "da",
    "de",
    "ta",
    "te",
    "in",
    "un",
    "ya",
    "ye",
)


def stem(key: str) -> str:
    """The word without one common Azerbaijani ending ("imislide" → "imisli"), if long."""
    for suffix in SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= 4:
            return key[: -len(suffix)]
    return key


@dataclass(frozen=True)
class Phrase:
    """One FTS5 phrase of a query: its tokens, the last one a prefix if ``prefix``."""

    text: str  # as quoted in the expression
    prefix: bool

    @property
    def tokens(self) -> list[str]:
        return fts_tokens(self.text)

    def fts(self) -> str:
        return '"' + self.text + '"' + ("*" if self.prefix else "")


# A query: an AND of groups, each an OR of phrases (a word, its stem, a place's names).
Groups = list[list[Phrase]]


def match_groups(keys: Sequence[str], alternatives: dict[int, set[str]] | None = None) -> Groups:
    """Every key as a prefix, ANDed, or its stem; places OR their other names. A phrase
    that another of its group covers is left out (:func:`covers`)."""
    groups = []
    for i, key in enumerate(keys):
        alts = sorted(((alternatives or {}).get(i, set()) | {stem(key)}) - {key})
        groups.append(_uncovered([_phrase(key)] + [_phrase(a) for a in alts]))
    return groups


def covers(a: Phrase, b: Phrase) -> bool:
    """Whether every document holding phrase ``b`` holds phrase ``a``: ``a``'s tokens
    are in ``b``'s, in a row ("lenkeran"* covers "lenkeran raonu"*, "lenkoran"* covers
    "lenkoranskii"*).

    A place's names in three spellings, with their "district" and "city" forms, and a
    word's stem: FTS5 reads each such phrase's doclists (a phrase's every word's, with
    positions), and a covered one adds no match to its group. At a million records the
    nine names of Lankaran took 20 ms to read against 8 ms for the three they reduce to.
    Leaving them out also stops a document's one mention of a place from being scored
    as several phrases.
    """
    at, bt = a.tokens, b.tokens
    if not at or len(at) > len(bt):
        return False
    for start in range(len(bt) - len(at) + 1):
        end = start + len(at) - 1  # b's token under a's last
        if bt[start:end] != at[:-1]:
            continue
        if a.prefix and bt[end].startswith(at[-1]):
            return True  # (b's token there is whole, or a prefix of words that start so)
        if not a.prefix and bt[end] == at[-1] and not (b.prefix and end == len(bt) - 1):
            return True
    return False


def _uncovered(group: list[Phrase]) -> list[Phrase]:
    """The phrases no other covers; of phrases that cover each other, the first."""
    return [
        b
        for j, b in enumerate(group)
        if not any(
            i != j and covers(a, b) and (i < j or not covers(b, a)) for i, a in enumerate(group)
        )
    ]


def render(groups: Groups) -> str:
    """The FTS5 expression of a query."""
    parts = []
    for group in groups:
        terms = [p.fts() for p in group]
        parts.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    return " AND ".join(parts)


def match_expression(keys: Sequence[str], alternatives: dict[int, set[str]] | None = None) -> str:
    """An FTS5 expression: every key as a prefix, ANDed, or its stem; places OR their
    other names."""
    return render(match_groups(keys, alternatives))


def _phrase(key: str) -> Phrase:
    words = key.split()
    return Phrase(" ".join(words).replace('"', ""), len(words[-1]) >= 3)


def _in(prefix: str, values: Iterable[str], params: dict[str, Any]) -> str:
    names = []
    for i, v in enumerate(sorted(values)):
        name = f"{prefix}{i}"
        params[name] = v
        names.append(":" + name)
    return "(" + (", ".join(names) or "NULL") + ")"


def filter_sql(filters: Filters, params: dict[str, Any]) -> list[str]:
    """SQL conditions on ``d`` (search_docs) for a search without words: the facet lists
    drive the query."""
    conds = []
    for n, (key, values) in enumerate(filters.facets()):
        params[f"k{n}"] = key
        vals = _in(f"v{n}_", values, params)
        # Only generated parameter names go into the SQL text; values are bound.
        conds.append(
            f"(d.id IN (SELECT id FROM facets WHERE key = :k{n} AND value IN {vals})"  # noqa: S608
            " OR d.id IN (SELECT f1.id FROM facets f1 JOIN facets f2 ON f2.id = f1.value"
            f" WHERE f1.key = 'incident' AND f2.key = :k{n} AND f2.value IN {vals}))"
        )
    bounds = filters.date_bounds()
    if bounds is not None:
        params["dfrom"], params["dto"] = bounds
        conds.append(
            "((d.date_hi >= :dfrom AND d.date_lo <= :dto) OR d.id IN (SELECT f.id"
            " FROM facets f JOIN search_docs p ON p.id = f.value WHERE f.key = 'incident'"
            " AND p.date_hi >= :dfrom AND p.date_lo <= :dto))"
        )
    if filters.kinds is not None:
        conds.append("d.type IN " + _in("t", filters.kinds, params))
    return conds


def date_sql(filters: Filters, params: dict[str, Any]) -> list[str]:
    """The exact date bounds as an SQL condition on ``d``, checked on each match of a
    MATCH that already holds the facets, kinds and years (:func:`facet_match`)."""
    bounds = filters.date_bounds()
    if bounds is None:
        return []
    params["dfrom"], params["dto"] = bounds
    # CROSS JOIN: from this record's own facets to its incident's dates, never from
    # every record of the incident.
    return [
        "((d.date_hi >= :dfrom AND d.date_lo <= :dto) OR EXISTS (SELECT 1"
        " FROM facets f CROSS JOIN search_docs p ON p.id = f.value WHERE f.id = d.id"
        " AND f.key = 'incident' AND p.date_hi >= :dfrom AND p.date_lo <= :dto))"
    ]


def _any(tokens: Iterable[str]) -> str | None:
    phrases = ['"' + t + '"' for t in sorted(tokens)]
    if not phrases:
        return None
    return phrases[0] if len(phrases) == 1 else "(" + " OR ".join(phrases) + ")"


def facet_sets(filters: Filters) -> list[list[str]]:
    """The tokens of each facet and kind filter: a document passes a filter if it holds
    any of its tokens, and the filters if it passes each."""
    sets = [[facet_token(k, v) for v in values] for k, values in filters.facets()]
    if filters.kinds is not None:
        sets.append([kind_token(t) for t in filters.kinds])
    return sets


def facet_match(filters: Filters, dated: DateClause | None) -> list[str] | None:
    """FTS5 clauses, to AND with the words, that hold exactly the documents passing the
    facet and kind filters, and, last, ``dated``: the filters' :func:`date_clause`, the
    documents whose years or months touch the date filter's (the exact bounds are
    :func:`date_sql`'s or :func:`in_dates`'); None if a filter admits nothing."""
    clauses = []
    for tokens in facet_sets(filters):
        clause = _any(tokens)
        if clause is None:
            return None
        clauses.append(clause)
    if dated is not None:
        clauses.append(dated.text)
    return clauses


@dataclass(frozen=True)
class DateClause:
    """The FTS5 clause of a date filter: the documents whose years or months touch the
    range. ``sure`` has a flag for each of its phrases, in order: a document holding a
    flagged phrase (a year or a month wholly inside the range) passes the exact bounds
    without its spans being read; the others are checked on their spans."""

    text: str
    sure: tuple[bool, ...]
    # Its alternatives, in order: the tokens each ANDs, and whether it is sure.
    terms: tuple[tuple[tuple[str, ...], bool], ...] = ()


def date_clause(filters: Filters) -> DateClause | None:
    """The date filter's clause, None without a closed range or for a range of more
    than YEARS_MAX years (the spans alone decide).

    Each year of the range is one token if the range holds all of it; an edge year is
    its months that touch the range, and the documents with a long span (LONG_TOKEN,
    no month tokens) that touch that year. A document passing the exact bounds has a
    span overlapping the range, and that span touches one of those years or months.
    """
    lo, hi = filters.date_from, filters.date_to
    if not lo or not hi or year_tokens(lo, hi) == [WIDE_TOKEN]:
        return None
    terms: list[tuple[tuple[str, ...], bool]] = []
    for y in range(int(lo[:4]), int(hi[:4]) + 1):
        if lo <= f"{y:04d}-01-01T00:00" and f"{y:04d}-12-31T23:59" <= hi:
            terms.append(((year_token(y),), True))
            continue
        for m in range(1, 13):
            first, last = from_json(f"{y:04d}-{m:02d}").bounds()
            if last >= lo and first <= hi:
                terms.append(((month_token(y, m),), lo <= first and last <= hi))
        terms.append(((LONG_TOKEN, year_token(y)), False))
    terms.append(((WIDE_TOKEN,), False))
    ands = [" AND ".join(f'"{t}"' for t in ts) for ts, _ in terms]
    parts = [a if len(ts) == 1 else f"({a})" for a, (ts, _) in zip(ands, terms, strict=True)]
    # sahid_tf counts each phrase: an AND of two is two phrases, neither sure alone.
    sure = [flag and len(ts) == 1 for ts, flag in terms for _ in ts]
    return DateClause("(" + " OR ".join(parts) + ")", tuple(sure), tuple(terms))


# Ranking window: BM25 orders the newest WINDOW matches (FTS5 returns matches newest
# first and stops there), not every match. Scoring all matches of a common word in a
# million records takes hundreds of milliseconds on encrypted pages; the newest few
# hundred are what a documenter looks at first, and narrower words or filters reach
# older records. ``ranking="all"`` scores every match (slower; used by the benchmark).
WINDOW = 200


def window_sql(expression_param: str = ":q", window: str = ":window") -> str:
    """The ranked-window core: the newest matches with their BM25 score."""
    return (
        f"SELECT rowid AS doc, {BM25} AS r FROM {FTS_TABLE}"  # noqa: S608
        f" WHERE {FTS_TABLE} MATCH {expression_param} ORDER BY rowid DESC LIMIT {window}"
    )


def run_query(
    conn: Connection,
    groups: Groups | None,
    filters: Filters,
    limit: int,
    offset: int = 0,
    *,
    ranking: str = "window",
) -> list[tuple[str, str, float]]:
    """(id, type, rank) of the best matches; without words, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    window = max(WINDOW, 5 * (limit + offset))
    if groups and ranking == "window" and has_fts(conn):
        return ranked_window(conn, groups, filters, params, window, limit, offset)
    expression = render(groups) if groups else None
    if expression:
        clauses = facet_match(filters, date_clause(filters))
        if clauses is None:
            return []
        params["q"] = " AND ".join([expression, *clauses])
        conds = date_sql(filters, params)
    else:
        conds = filter_sql(filters, params)
    if expression and not conds:
        # Rank inside the FTS5 index and join only the page of results: joining every
        # match to search_docs before sorting costs a lookup per match.
        sql = (
            f"SELECT d.id, d.type, m.r FROM (SELECT rowid AS doc, {BM25} AS r"  # noqa: S608
            f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q ORDER BY r"
            " LIMIT :limit OFFSET :offset) m JOIN search_docs d ON d.doc = m.doc ORDER BY m.r"
        )
    elif expression:
        where = " AND ".join([f"{FTS_TABLE} MATCH :q", *conds])
        sql = (
            f"SELECT d.id, d.type, {BM25} AS r FROM {FTS_TABLE}"  # noqa: S608
            f" CROSS JOIN search_docs d ON d.doc = {FTS_TABLE}.rowid WHERE {where}"
            " ORDER BY r LIMIT :limit OFFSET :offset"
        )
    else:
        where = " AND ".join(conds) or "1"
        sql = (
            f"SELECT d.id, d.type, 0.0 FROM search_docs d WHERE {where}"  # noqa: S608
            " ORDER BY d.date_lo DESC, d.doc DESC LIMIT :limit OFFSET :offset"
        )
    return [(str(a), str(b), float(c)) for a, b, c in conn.execute(text(sql), params)]


# --- the ranked window ---------------------------------------------------------------
#
# FTS5 reads a word's matches newest first from the end of its list and stops after the
# window, but two things make it read every match of a common word: a prefix ("polis*")
# is merged from all the words it stands for before the first row comes out, and bm25()
# counts every document holding each phrase before scoring the first row. So the window
# query asks FTS5 for the newest matches only, with each prefix spelled out as the words
# it stands for (from ``search_terms``), and scores them here with FTS5's own BM25
# formula (k1 = 1.2, b = 0.75, the same document lengths and averages), taking document
# counts from ``search_terms``: exact for a word, and for a prefix or a phrase of several
# words the sum (or the smallest) of its words' counts.

K1 = 1.2
B = 0.75
EXPAND_MAX = 64  # a prefix standing for more words stays an FTS5 prefix query


def _totals(conn: Connection) -> tuple[int, int]:
    """(documents, tokens) of the FTS5 index: its averages record (rows, then tokens of
    each column), as bm25() reads it; bm25() weighs documents by all their tokens."""
    block = conn.exec_driver_sql(f"SELECT block FROM {FTS_TABLE}_data WHERE id = 1").scalar()  # noqa: S608
    data = bytes(block or b"")
    rows, i = _varint(data, 0) if data else (0, 0)
    tokens = 0
    while i < len(data):
        n, i = _varint(data, i)
        tokens += n
    return rows, tokens


def _varint(data: bytes, i: int) -> tuple[int, int]:
    """An SQLite varint at ``data[i]``: (value, index after it)."""
    value = 0
    for _ in range(8):
        byte = data[i]
        i += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, i
    return (value << 8) | data[i], i + 1


def _after(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix``."""
    last = ord(prefix[-1])
    return prefix[:-1] + chr(last + 1) if last < 0x10FFFF else None


class _Lexicon:
    """Document counts of the words a query names, and of the words its prefixes stand
    for, read in one statement (prefixes of the prefix index's length are summed)."""

    def __init__(self, conn: Connection, groups: Groups) -> None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        for group in groups:
            for phrase in group:
                toks = phrase.tokens
                if toks:
                    exact.update(toks[:-1] if phrase.prefix else toks)
                    if phrase.prefix:
                        prefixes.add(toks[-1])
        conds: list[str] = []
        args: list[str] = []
        if exact:
            conds.append("term IN (" + ", ".join("?" * len(exact)) + ")")
            args.extend(sorted(exact))
        self.summed: dict[str, int] = {}
        for prefix in sorted(prefixes):
            hi = _after(prefix)
            if len(prefix) <= PREFIX_INDEX or hi is None:
                self.summed[prefix] = _prefix_docs(conn, prefix, hi)
            else:
                conds.append("(term >= ? AND term < ?)")
                args.extend((prefix, hi))
        self.docs: dict[str, int] = {}
        if conds:
            sql = "SELECT term, docs FROM search_terms WHERE " + " OR ".join(conds)  # noqa: S608
            self.docs = {str(t): int(n) for t, n in conn.exec_driver_sql(sql, tuple(args))}
        self.terms = sorted(self.docs)

    def words(self, prefix: str) -> list[str]:
        """The words of the index starting with ``prefix`` (a prefix read here)."""
        i = bisect.bisect_left(self.terms, prefix)
        out = []
        while i < len(self.terms) and self.terms[i].startswith(prefix):
            out.append(self.terms[i])
            i += 1
        return out


def _prefix_docs(conn: Connection, prefix: str, hi: str | None) -> int:
    sql = "SELECT sum(docs) FROM search_terms WHERE term >= ?"
    args: tuple[str, ...] = (prefix,)
    if hi is not None:
        sql, args = sql + " AND term < ?", (prefix, hi)
    return int(conn.exec_driver_sql(sql, args).scalar() or 0)


@dataclass
class _Spelled:
    """A query phrase as FTS5 is asked for it, and how it is counted in a document."""

    fts: list[str]  # the FTS5 phrases it stands for (none: no document holds it)
    docs: int  # documents holding it (a prefix or several words: an upper bound)
    head: list[str]  # tokens before the last (a phrase of several words)
    lasts: frozenset[str] | None  # the last token is one of these ...
    prefix: str | None = None  # ... or starts with this

    def count(self, spaced: str) -> int:
        """Instances in a document's tokens, given as `` t1 t2 ... tn `` (FTS5 counts
        each position it matches at: the lookahead counts overlapping instances too)."""
        return len(self.pattern.findall(spaced))

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:
        lead = "".join(" " + re.escape(t) for t in self.head)
        if self.lasts is not None:
            last = "(?:" + "|".join(map(re.escape, sorted(self.lasts))) + ") "
        else:
            last = re.escape(self.prefix or "")
        return re.compile(f"(?={lead} {last})")


def _spell(phrase: Phrase, lex: _Lexicon) -> _Spelled:
    toks = phrase.tokens
    if not toks:
        return _Spelled([], 0, [], frozenset())
    head = toks[:-1]
    counts = [lex.docs.get(t, 0) for t in (toks[:-1] if phrase.prefix else toks)]
    if counts and min(counts) == 0:
        return _Spelled([], 0, head, frozenset())
    if not phrase.prefix:
        return _Spelled([phrase.fts()], min(counts), head, frozenset({toks[-1]}))
    last = toks[-1]
    if last in lex.summed:
        docs = min([*counts, lex.summed[last]])
        return _Spelled([phrase.fts()], docs, head, None, last)
    words = lex.words(last)
    docs = min([*counts, sum(lex.docs[w] for w in words)])
    if len(words) > EXPAND_MAX:
        return _Spelled([phrase.fts()], docs, head, None, last)
    lead = " ".join(head) + " " if head else ""
    return _Spelled(['"' + lead + w + '"' for w in words], docs, head, frozenset(words))


def _body_tokens(body: str) -> list[str]:
    """:func:`fts_tokens`; a stored body is folded keys separated by spaces, so most
    often its tokens are its words (``isalnum`` is exactly the token characters)."""
    folded = body.lower()
    return folded.split() if folded.replace(" ", "").isalnum() else _FTS_TOKEN.findall(folded)


def _window_rows(
    conn: Connection,
    expression: str,
    filters: Filters,
    window: int,
    columns: str = "body, facets",
    sure: Sequence[bool] = (),
) -> list[tuple[Any, ...]]:
    """(rowid, *columns) of the newest ``window`` matches that pass the filters. The
    expression holds the facet, year and month tokens; the exact date bounds are checked
    here, newest first, a page of rows at a time, until the window is full (a join to
    the dates table would cost a lookup per match).

    The bounds are checked on the spans each row carries, stored with its text (a page
    read each). With ``sure`` (``columns`` is ``sahid_tf``'s blob, the date clause is
    last in the expression) a row holding one of the phrases it flags passes unread,
    and the others' spans are read in one statement per page."""
    bounds = filters.date_bounds()
    read_spans = bounds is not None and not sure
    select = f"rowid, {columns}" + (", spans" if read_spans else "")
    sql = (
        f"SELECT {select} FROM {FTS_TABLE}"  # noqa: S608
        f" WHERE {FTS_TABLE} MATCH ? AND rowid < ? ORDER BY rowid DESC LIMIT ?"
    )
    out: list[tuple[Any, ...]] = []
    before = 1 << 62
    while len(out) < window:
        want = window - len(out)
        page = want if bounds is None else want + want // 2  # most of the right years pass
        rows = conn.exec_driver_sql(sql, (expression, before, page)).all()
        if bounds is None:
            out.extend(tuple(row) for row in rows)
        elif read_spans:
            out.extend(tuple(row[:-1]) for row in rows if in_dates(row[-1] or "", *bounds))
        else:
            out.extend(_in_dates_by_blob(conn, rows, sure, bounds))
        if len(rows) < page:
            break
        before = int(rows[-1][0])
    return out[:window]


def _columns(conn: Connection, docs: Sequence[int], columns: str) -> dict[int, tuple[Any, ...]]:
    """(rowid, *columns) of each document, by rowid, in one statement."""
    if not docs:
        return {}
    marks = ", ".join("?" * len(docs))
    sql = f"SELECT rowid, {columns} FROM {FTS_TABLE} WHERE rowid IN ({marks})"  # noqa: S608
    return {int(row[0]): tuple(row) for row in conn.exec_driver_sql(sql, tuple(docs))}


def _spans(conn: Connection, docs: Sequence[int]) -> dict[int, str]:
    """The spans column of each document."""
    return {doc: str(row[1] or "") for doc, row in _columns(conn, docs, "spans").items()}


def _in_dates_by_blob(
    conn: Connection, rows: Sequence[Any], sure: Sequence[bool], bounds: tuple[str, str]
) -> list[tuple[Any, ...]]:
    """The rows (rowid, sahid_tf blob) that pass the date bounds, in their order: those
    holding a sure phrase of the date clause (the blob's last counts), and of the others
    those whose spans overlap the bounds."""
    flagged = [i - len(sure) for i, flag in enumerate(sure) if flag]
    unsure: list[int] = []
    for row in rows:
        counts = memoryview(row[1]).cast("I")  # native uint32
        if not any(counts[i] for i in flagged):
            unsure.append(int(row[0]))
    spans = _spans(conn, unsure)
    return [
        tuple(row)
        for row in rows
        if int(row[0]) not in spans or in_dates(spans[int(row[0])], *bounds)
    ]


def _window_by_sets(
    conn: Connection,
    words: Sequence[tuple[str, int]],
    filters: Filters,
    dated: DateClause | None,
    window: int,
) -> list[tuple[Any, ...]] | None:
    """(rowid, body, facets) of the newest ``window`` matches that pass the filters,
    found with the filters as document sets (:mod:`sahid.records.docsets`); None when
    they would not pay. The same rows as :func:`_window_rows` gives. ``words`` are the
    word groups' FTS5 clauses, with (at most) how many documents hold each."""
    tokens = facet_sets(filters)
    if not tokens and dated is None:
        return None  # no filter to test as a set
    from sahid.records import docsets

    facets = [docsets.Clause([(f'"{t}"',) for t in ts]) for ts in tokens]
    if dated is not None:
        alternatives = [tuple(f'"{t}"' for t in ts) for ts, _ in dated.terms]
        sure = tuple(flag for _, flag in dated.terms)
        facets.append(docsets.Clause(alternatives, sure))
    p = docsets.plan(conn, words, facets, window)
    if p is None:
        return None
    bounds = filters.date_bounds()
    out: list[int] = []
    for docs in p.pages(conn):
        need = window - len(out)
        if bounds is None:
            out.extend(docs[:need].tolist())
        else:
            out.extend(_dated(conn, docs, p.dated, bounds, need))
        if len(out) >= window:
            break
    rows = _columns(conn, out, "body, facets")
    return [rows[d] for d in out]


def _dated(
    conn: Connection,
    docs: Docs,
    sure: DocSet | None,
    bounds: tuple[str, str],
    need: int,
) -> list[int]:
    """The first ``need`` of ``docs`` that pass the exact date bounds: those in the date
    clause's ``sure`` set (None: none is sure) pass, the others' spans are read, a
    chunk a statement."""
    out: list[int] = []
    at = 0
    while at < len(docs) and len(out) < need:
        chunk = docs[at : at + max(64, (need - len(out)) * 3 // 2)]
        at += len(chunk)
        ids = chunk.tolist()
        passed = sure.has(chunk).tolist() if sure is not None else [False] * len(ids)
        spans = _spans(conn, [d for d, ok in zip(ids, passed, strict=True) if not ok])
        out.extend(
            d
            for d, ok in zip(ids, passed, strict=True)
            if ok or in_dates(spans.get(d, ""), *bounds)
        )
    return out[:need]


if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from sahid.records.docsets import Docs, DocSet

    Floats = npt.NDArray[np.float64]

# NumPy is imported where the window is scored, not with this module: it is a tenth of a
# second of every CLI command's start-up, and most commands never search.


def _counted_in_python(
    rows: list[tuple[Any, ...]], spelled: list[_Spelled]
) -> tuple[Floats, Floats]:
    """(tokens of each row, instances of each spelled phrase in each row), from the rows'
    text: the fallback when ``sahid_tf`` is not loaded (see :mod:`sahid.records.native`)."""
    import numpy as np

    # One pass over a document's tokens counts every one-word phrase spelled out.
    by_token: dict[str, list[int]] = {}
    others = []
    for i, sp in enumerate(spelled):
        if sp.fts and not sp.head and sp.lasts is not None:
            for w in sp.lasts:
                by_token.setdefault(w, []).append(i)
        elif sp.fts:
            others.append(i)
    lengths = np.zeros(len(rows), np.float64)
    tf = np.zeros((len(rows), len(spelled)), np.float64)
    for r, (_, body, facets) in enumerate(rows):
        toks = _body_tokens(body or "")
        lengths[r] = len(toks) + len((facets or "").split())
        counts = [0] * len(spelled)
        for hit in filter(None, map(by_token.get, toks)):
            for i in hit:
                counts[i] += 1
        if others:
            spaced = " " + " ".join(toks) + " "
            for i in others:
                counts[i] = spelled[i].count(spaced)
        tf[r] = counts
    return lengths, tf


def _counted_by_fts5(rows: list[tuple[Any, ...]], spelled: list[_Spelled]) -> tuple[Floats, Floats]:
    """The same as :func:`_counted_in_python`, from ``sahid_tf`` blobs: the row's tokens,
    then the instances of each FTS5 phrase of the expression, in its order (the spelled
    phrases' FTS5 phrases first, one after another, then the filters' tokens)."""
    import numpy as np

    sizes = [len(sp.fts) for sp in spelled]
    used = [i for i, n in enumerate(sizes) if n]
    width = len(rows[0][1]) // 4
    counts = np.frombuffer(b"".join(row[1] for row in rows), np.uint32).reshape(-1, width)
    tf = np.zeros((len(rows), len(spelled)), np.float64)
    if used:  # each spelled phrase's FTS5 phrases are next to each other: sum each run
        starts = np.cumsum([0] + [sizes[i] for i in used])[:-1]
        tf[:, used] = np.add.reduceat(counts[:, 1 : 1 + sum(sizes)], starts, axis=1)
    return counts[:, 0].astype(np.float64), tf


def ranked_window(
    conn: Connection,
    groups: Groups,
    filters: Filters,
    params: dict[str, Any],
    window: int,
    limit: int,
    offset: int,
) -> list[tuple[str, str, float]]:
    """BM25 over the newest ``window`` matches (that pass the filters), best first."""
    import numpy as np

    lex = _Lexicon(conn, groups)
    parts: list[str] = []
    spelled: list[_Spelled] = []
    words: list[tuple[str, int]] = []  # each group's FTS5 clause, and its documents at most
    for group in groups:
        alts: list[str] = []
        docs = 0
        for phrase in group:
            sp = _spell(phrase, lex)
            alts.extend(sp.fts)
            docs += sp.docs if sp.fts else 0
            spelled.append(sp)
        if not alts:
            return []  # a word no document holds: nothing matches every word
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
        words.append((parts[-1], docs))
    dated = date_clause(filters)
    clauses = facet_match(filters, dated)
    if clauses is None:
        return []
    counted: Callable[[list[tuple[Any, ...]], list[_Spelled]], tuple[Floats, Floats]]
    by_sets = _window_by_sets(conn, words, filters, dated, window)
    if by_sets is not None:
        rows, counted = by_sets, _counted_in_python
    else:
        expression = " AND ".join(parts + clauses)
        sure: Sequence[bool] = ()
        if conn.info.get(native.INFO_KEY):
            columns, counted = f"{native.FUNCTION}({FTS_TABLE})", _counted_by_fts5
            sure = dated.sure if dated is not None else ()
        else:
            columns, counted = "body, facets", _counted_in_python
        rows = _window_rows(conn, expression, filters, window, columns, sure)
    if not rows:
        return []
    lengths, tf = counted(rows, spelled)
    n_docs, n_tokens = _totals(conn)
    n_docs = max(n_docs, 1)
    avgdl = n_tokens / n_docs or 1.0
    idfs = []
    for sp in spelled:
        idf = math.log((n_docs - sp.docs + 0.5) / (sp.docs + 0.5))
        idfs.append(idf if idf > 0 else 1e-6)
    # FTS5's BM25 (fts5_bm25): the sum over phrases of idf * tf * (k1 + 1) / (tf + norm).
    norm = (K1 * (1 - B + B * lengths / avgdl))[:, None]
    scores = (np.asarray(idfs) * (tf * (K1 + 1)) / (tf + norm)).sum(axis=1)
    # Ties keep FTS5's order, newest first (a stable sort).
    order = np.argsort(-scores, kind="stable")[offset : offset + limit]
    page = [(-float(scores[i]), int(rows[i][0])) for i in order]
    if not page:
        return []
    marks = ", ".join("?" * len(page))
    found = {
        int(d): (str(i), str(t))
        for d, i, t in conn.exec_driver_sql(
            f"SELECT doc, id, type FROM search_docs WHERE doc IN ({marks})",  # noqa: S608
            tuple(d for _, d in page),
        )
    }
    return [(*found[d], r) for r, d in page if d in found]


def snippet_keys(keys: Sequence[str], groups: Groups | None) -> list[str]:
    """The words a snippet brackets: the query's, and the first word of each phrase its
    groups look for, so a place found by another of its names ("Ленкоранский" for
    "Lankaran") is bracketed too."""
    out = dict.fromkeys(keys)
    for group in groups or []:
        for phrase in group:
            if phrase.tokens:
                out.setdefault(phrase.tokens[0])
    return list(out)


@functools.lru_cache(maxsize=256)
def _snippet_wanted(keys: tuple[str, ...]) -> tuple[str, ...]:
    """The key starts a snippet brackets: each key (its words run together) and its
    stem; the same for every hit of a search, so worked out once."""
    return tuple(sorted({w for k in keys if k for w in (k.replace(" ", ""), stem(k))}))


def snippet(texts: Sequence[str], keys: Sequence[str], width: int = SNIPPET_WORDS) -> str:
    """A window of the original text around the first matched word, matches in []."""
    wanted = _snippet_wanted(tuple(keys))
    for t in texts:
        # Words are read up to the end of the window around the first match only.
        spans: list[tuple[int, int]] = []
        hits: list[bool] = []
        first = stop = -1
        for s, e in fold.iter_words(t):
            if len(spans) == stop:
                break
            spans.append((s, e))
            hits.append(_search_key(t[s:e]).startswith(wanted))
            if first < 0 and hits[-1]:
                first = max(0, len(spans) - 1 - width // 3)
                stop = first + width
        if first < 0:
            continue
        last = min(len(spans), stop)
        out = []
        pos = spans[first][0]
        for i in range(first, last):
            s, e = spans[i]
            out.append(t[pos:s])
            out.append(f"[{t[s:e]}]" if hits[i] else t[s:e])
            pos = e
        end = spans[last - 1][1]
        return ("…" if first else "") + "".join(out) + ("…" if end < len(t.rstrip()) else "")
    if texts:
        spans = fold.words(texts[0])
        cut = spans[min(len(spans), SNIPPET_WORDS) - 1][1] if spans else len(texts[0])
        return texts[0][:cut] + ("…" if cut < len(texts[0]) else "")
    return ""


def load_json(value: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(value)
    return data
