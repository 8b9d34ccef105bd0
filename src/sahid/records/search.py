"""Multilingual search (DESIGN §5): one FTS5 index of folded text, filters as facets.

Every searchable text is indexed as its :func:`sahid.text.tokens` (Azerbaijani-aware
folding plus Cyrillic→Latin transliteration), and queries are folded the same way, so
"İmişli", "Imishli" and "Имишли" are one word to the index. A query word that names a
gazetteer place also matches the place's other names ("Ganja" finds "Gəncə"). Words
match as prefixes, because Azerbaijani adds suffixes ("İmişlidə", "in Imishli").

Filters (place, dates, incident type, unit, charge, status, record kind) select on the
``facets`` table, directly or through the incident a record belongs to. Snippets are
cut from the original text, not the folded form, with the matched words in [brackets].
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, text

from sahid import text as fold
from sahid.records.dates import from_json
from sahid.schema import search_docs

FTS_TABLE = "search_text"
SNIPPET_WORDS = 14


def create_fts(conn: Connection) -> None:
    """The FTS5 table (SQLite only; team mode on PostgreSQL uses its own full text)."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(
            "CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5("
            "body, tokenize = 'unicode61 remove_diacritics 0', prefix = '3')"
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
) -> None:
    conn.execute(
        insert(search_docs),
        [{"doc": doc, "id": doc_id, "type": doc_type, "date_lo": dates[0], "date_hi": dates[1]}],
    )
    if has_fts(conn):
        conn.exec_driver_sql(
            "INSERT INTO search_text (rowid, body) VALUES (?, ?)", (doc, index_text(texts))
        )


def drop_doc(conn: Connection, doc_id: str) -> int | None:
    """Remove a document (before re-adding it on update); returns its doc number."""
    doc = conn.execute(text("SELECT doc FROM search_docs WHERE id = :id"), {"id": doc_id}).scalar()
    if doc is None:
        return None
    conn.execute(delete(search_docs).where(search_docs.c.id == doc_id))
    if has_fts(conn):
        conn.exec_driver_sql("DELETE FROM search_text WHERE rowid = ?", (doc,))
    return int(doc)


def fts_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """The index content in rowid order, for verify's replay comparison."""
    if not has_fts(conn):
        return []
    return [
        tuple(r) for r in conn.exec_driver_sql("SELECT rowid, body FROM search_text ORDER BY rowid")
    ]


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


def match_expression(keys: Sequence[str], alternatives: dict[int, set[str]] | None = None) -> str:
    """An FTS5 expression: every key as a prefix, ANDed, or its stem; places OR their
    other names."""
    parts = []
    for i, key in enumerate(keys):
        alts = sorted(((alternatives or {}).get(i, set()) | {stem(key)}) - {key})
        terms = [_term(key)] + [_term(a) for a in alts]
        parts.append(terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")")
    return " AND ".join(parts)


def _term(key: str) -> str:
    words = key.split()
    quoted = '"' + " ".join(words).replace('"', "") + '"'
    return quoted + ("*" if len(words[-1]) >= 3 else "")


def _in(prefix: str, values: Iterable[str], params: dict[str, Any]) -> str:
    names = []
    for i, v in enumerate(sorted(values)):
        name = f"{prefix}{i}"
        params[name] = v
        names.append(":" + name)
    return "(" + (", ".join(names) or "NULL") + ")"


BROAD_FACETS = frozenset({"type", "status"})


def filter_sql(filters: Filters, params: dict[str, Any], *, lead: bool = True) -> list[str]:
    """SQL conditions on ``d`` (search_docs) for the filters.

    ``lead=True`` (no words): the facet lists drive the query. ``lead=False`` (a MATCH
    drives it, newest match first): each match is checked with a few index lookups of
    its own facets and its incident's, instead of materialising every record of a
    common type or a big place first.
    """
    conds = []
    for n, (key, values) in enumerate(filters.facets()):
        params[f"k{n}"] = key
        vals = _in(f"v{n}_", values, params)
        # Only generated parameter names go into the SQL text; values are bound.
        # Narrow facets (a place, a unit, a charge) are cheapest as one materialised set;
        # broad ones (an incident type, a status: a large share of all records) as a
        # per-match check. ``+`` keeps SQLite from driving the query from the set.
        if lead or key not in BROAD_FACETS:
            did = "d.id" if lead else "+d.id"
            conds.append(
                f"({did} IN (SELECT id FROM facets WHERE key = :k{n} AND value IN {vals})"  # noqa: S608
                f" OR {did} IN (SELECT f1.id FROM facets f1 JOIN facets f2 ON f2.id = f1.value"
                f" WHERE f1.key = 'incident' AND f2.key = :k{n} AND f2.value IN {vals}))"
            )
        else:
            conds.append(
                "(EXISTS (SELECT 1 FROM facets f WHERE f.id = d.id"  # noqa: S608
                f" AND f.key = :k{n} AND f.value IN {vals})"
                # CROSS JOIN: from this record's own facets (f1) to its incident's (f2),
                # never from every record of the filtered value.
                " OR EXISTS (SELECT 1 FROM facets f1 CROSS JOIN facets f2 ON f2.id = f1.value"
                f" WHERE f1.id = d.id AND f1.key = 'incident' AND f2.key = :k{n}"
                f" AND f2.value IN {vals}))"
            )
    if filters.date_from or filters.date_to:
        params["dfrom"] = filters.date_from or "0000"
        params["dto"] = filters.date_to or "9999"
        if lead:
            conds.append(
                "((d.date_hi >= :dfrom AND d.date_lo <= :dto) OR d.id IN (SELECT f.id"
                " FROM facets f JOIN search_docs p ON p.id = f.value WHERE f.key = 'incident'"
                " AND p.date_hi >= :dfrom AND p.date_lo <= :dto))"
            )
        else:
            conds.append(
                "((d.date_hi >= :dfrom AND d.date_lo <= :dto) OR EXISTS (SELECT 1"
                " FROM facets f CROSS JOIN search_docs p ON p.id = f.value WHERE f.id = d.id"
                " AND f.key = 'incident' AND p.date_hi >= :dfrom AND p.date_lo <= :dto))"
            )
    if filters.kinds is not None:
        conds.append("d.type IN " + _in("t", filters.kinds, params))
    return conds


# Ranking window: BM25 orders the newest WINDOW matches (FTS5 returns matches newest
# first and stops there), not every match. Scoring all matches of a common word in a
# million records takes hundreds of milliseconds on encrypted pages; the newest few
# hundred are what a documenter looks at first, and narrower words or filters reach
# older records. ``ranking="all"`` scores every match (slower; used by the benchmark).
WINDOW = 200


def window_sql(expression_param: str = ":q", window: str = ":window") -> str:
    """The ranked-window core: the newest matches with their BM25 score."""
    return (
        f"SELECT rowid AS doc, bm25({FTS_TABLE}) AS r FROM {FTS_TABLE}"  # noqa: S608
        f" WHERE {FTS_TABLE} MATCH {expression_param} ORDER BY rowid DESC LIMIT {window}"
    )


def run_query(
    conn: Connection,
    expression: str | None,
    filters: Filters,
    limit: int,
    offset: int = 0,
    *,
    ranking: str = "window",
) -> list[tuple[str, str, float]]:
    """(id, type, rank) of the best matches; without an expression, newest first."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params["window"] = max(WINDOW, 5 * (limit + offset))
    conds = filter_sql(filters, params, lead=not expression)
    if expression and ranking == "window":
        params["q"] = expression
        if conds:
            # Filters are checked on matches as FTS5 yields them, newest first, until the
            # window is full of matches that pass.
            where = " AND ".join(conds)
            inner = (
                f"SELECT d.doc AS doc, d.id AS id, d.type AS type, bm25({FTS_TABLE}) AS r"  # noqa: S608
                # CROSS JOIN: SQLite keeps FTS5 as the outer loop (newest match first);
                # otherwise it may walk search_docs and run the MATCH once per row.
                f" FROM {FTS_TABLE} CROSS JOIN search_docs d ON d.doc = {FTS_TABLE}.rowid"
                f" WHERE {FTS_TABLE} MATCH :q AND {where}"
                f" ORDER BY {FTS_TABLE}.rowid DESC LIMIT :window"
            )
            sql = f"SELECT id, type, r FROM ({inner}) ORDER BY r LIMIT :limit OFFSET :offset"  # noqa: S608
        else:
            sql = (
                f"SELECT d.id, d.type, m.r FROM ({window_sql()}) m"  # noqa: S608
                " JOIN search_docs d ON d.doc = m.doc ORDER BY m.r LIMIT :limit OFFSET :offset"
            )
    elif expression and not conds:
        # Rank inside the FTS5 index and join only the page of results: joining every
        # match to search_docs before sorting costs a lookup per match.
        params["q"] = expression
        sql = (
            f"SELECT d.id, d.type, m.r FROM (SELECT rowid AS doc, bm25({FTS_TABLE}) AS r"  # noqa: S608
            f" FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q ORDER BY r"
            " LIMIT :limit OFFSET :offset) m JOIN search_docs d ON d.doc = m.doc ORDER BY m.r"
        )
    elif expression:
        params["q"] = expression
        where = " AND ".join([f"{FTS_TABLE} MATCH :q", *conds])
        sql = (
            f"SELECT d.id, d.type, bm25({FTS_TABLE}) AS r FROM {FTS_TABLE}"  # noqa: S608
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


def snippet(texts: Sequence[str], keys: Sequence[str], width: int = SNIPPET_WORDS) -> str:
    """A window of the original text around the first matched word, matches in []."""
    wanted = tuple({w for k in keys if k for w in (k.replace(" ", ""), stem(k))})
    for t in texts:
        spans = fold.words(t)
        toks = [_search_key(t[s:e]) for s, e in spans]
        hits = [i for i, k in enumerate(toks) if k.startswith(wanted)]
        if not hits:
            continue
        first = max(0, hits[0] - width // 3)
        last = min(len(spans), first + width)
        out = []
        pos = spans[first][0]
        for i in range(first, last):
            s, e = spans[i]
            out.append(t[pos:s])
            out.append(f"[{t[s:e]}]" if i in hits else t[s:e])
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
