"""Keeping the FTS5 index in few segments, so a search reads one doclist per word.

FTS5 writes each commit's words as a new segment (a b-tree) and folds segments of a level
four at a time (its "automerge"). An archive of 50 000 records built in batches was left
with two dozen segments, and every word of a query is looked up, and its doclist read,
in each of them: at 1M records, the same archive in one segment instead of fourteen
answered 13 % faster at p95 (bench/README.md). A full 'optimize' after every commit
would rewrite the whole index each time. And automerge does work only after each 64
pages written, so the one-page segments of commits of a few records pile up (to 16,
where FTS5 merges them at once).

So the index is merged into one segment when the segments beside the largest hold a
quarter of its pages (COMPACT_SHARE): that happens each time the index has grown by
about a quarter, so each page is rewritten a handful of times over the archive's life,
as automerge does. The merge is incremental and rides on the commits that follow: each
merges COMPACT_WORK times the pages it adds (FTS5 'merge' -N starts it over all
segments, 'merge' N continues it), inside the same transaction, so a commit never waits
for the whole index to be rewritten and the merge ends before the next one is due.
Between these, a level of four or more segments is folded ('merge' N) the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Connection

COMPACT_SHARE = 0.25
COMPACT_WORK = 8
MIN_WORK = 64  # leaf pages: FTS5's own unit of merge work
FOLD = 4  # segments of one level that 'merge' N folds into one (FTS5's usermerge)

_STRUCTURE_ROWID = 10  # FTS5_STRUCTURE_ROWID: the record that lists the segments
_STRUCTURE_V2 = b"\xff\x00\x00\x01"  # marks the structure format with tombstone counts


@dataclass(frozen=True)
class Level:
    """One level of the index: its segments' ids and sizes in leaf pages, and how many
    of them are inputs to a merge that is under way."""

    merging: int
    ids: tuple[int, ...]
    pages: tuple[int, ...]


def _varint(b: bytes, i: int) -> tuple[int, int]:
    """SQLite's varint: seven bits a byte, high bit set on all but the last; a ninth
    byte holds eight bits."""
    v = 0
    for _ in range(8):
        c = b[i]
        i += 1
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            return v, i
    return (v << 8) | b[i], i + 1


def parse_structure(block: bytes) -> list[Level]:
    """The levels listed by an FTS5 structure record (fts5StructureDecode's layout:
    a cookie, then varints)."""
    v2 = block[4:8] == _STRUCTURE_V2
    i = 8 if v2 else 4
    nlevel, i = _varint(block, i)
    for _ in range(3 if v2 else 2):  # segment count, write counter, (origin counter)
        _, i = _varint(block, i)
    levels = []
    for _ in range(nlevel):
        merging, i = _varint(block, i)
        nseg, i = _varint(block, i)
        ids, pages = [], []
        for _ in range(nseg):
            segid, i = _varint(block, i)
            first, i = _varint(block, i)
            last, i = _varint(block, i)
            for _ in range(5 if v2 else 0):  # origins, tombstone pages and entries, rows
                _, i = _varint(block, i)
            ids.append(segid)
            pages.append(last - first + 1)
        levels.append(Level(merging, tuple(ids), tuple(pages)))
    return levels


def structure(conn: Connection, table: str) -> list[Level]:
    """The segments of an FTS5 table's index as they are on disk (words still pending
    in memory are not in a segment yet)."""
    block = conn.exec_driver_sql(
        f"SELECT block FROM {table}_data WHERE id = ?",  # noqa: S608
        (_STRUCTURE_ROWID,),
    ).scalar()
    return parse_structure(block) if block else []


def pages(levels: list[Level]) -> list[int]:
    """Every segment's size in leaf pages, all levels together."""
    return [p for level in levels for p in level.pages]


def compact(conn: Connection, table: str, docs: int, written: int) -> None:
    """After ``written`` documents were indexed (of ``docs`` in all): go on with the
    merge under way, or start one when the index is spread out enough to need it."""
    if written <= 0:
        return
    # FTS5 writes out the words still in memory before a merge: afterwards the
    # structure holds this commit's segments too (a merge of one page is next to none)
    _merge(conn, table, 1)
    levels = structure(conn, table)
    total = sum(pages(levels))
    work = max(MIN_WORK, math.ceil(COMPACT_WORK * written * total / max(docs, 1)))
    if _merging(levels):
        _merge(conn, table, work)  # go on with the merge under way
        levels = structure(conn, table)
        if _merging(levels):
            return
    sizes = pages(levels)
    if len(sizes) < 2:
        return
    if sum(sizes) - max(sizes) >= COMPACT_SHARE * sum(sizes):
        _merge(conn, table, -work)  # start merging every segment into one
    elif max(len(level.pages) for level in levels) >= FOLD:
        # the small segments of commits of a few records each: they write less than
        # the 64 pages after which automerge does any work
        _merge(conn, table, work)


def _merging(levels: list[Level]) -> bool:
    return any(level.merging for level in levels)


def _merge(conn: Connection, table: str, work: int) -> None:
    """FTS5's 'merge': N pages of work on a merge under way or on a level of FOLD or
    more segments; -N starts a merge of all segments."""
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({table}, rank) VALUES ('merge', ?)",  # noqa: S608
        (work,),
    )
