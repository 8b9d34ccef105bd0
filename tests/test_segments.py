"""The FTS5 index kept in few segments (sahid.records.segments)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
import sqlcipher3.dbapi2 as sqlcipher
from sqlalchemy import Connection, Engine, create_engine

from sahid.archive import Archive
from sahid.records import search, segments
from sahid.records.service import Draft

WORDS = [f"w{i}" for i in range(400)]


def _table(conn: Connection, name: str) -> None:
    conn.exec_driver_sql(f"CREATE VIRTUAL TABLE {name} USING fts5(body, prefix = '3')")


def _commit_docs(
    engine: Engine, name: str, first: int, n: int, rng: random.Random, keep: bool
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {name} (rowid, body) VALUES (?, ?)",
            [(first + k, " ".join(rng.choices(WORDS, k=30))) for k in range(n)],
        )
        if keep:
            segments.compact(conn, name, first + n, n)


def _segment_pages(conn: Connection, name: str) -> Counter[int]:
    """Leaf pages per segment counted from the %_data rows themselves: a leaf's rowid
    is segid << 37 | pgno (dlidx bit and height 0), independent of the structure."""
    rows = conn.exec_driver_sql(f"SELECT id FROM {name}_data WHERE id > 10").scalars()
    return Counter(i >> 37 for i in rows if (i >> 31) & 0x3F == 0)


def _sizes(conn: Connection, name: str) -> list[int]:
    return segments.pages(segments.structure(conn, name))


@pytest.fixture
def engine() -> Engine:
    # the archive's SQLite (SQLCipher's build): older ones do not write out pending
    # words before a merge
    return create_engine("sqlite://", module=sqlcipher)


def test_the_structure_lists_every_segment_with_its_leaf_pages(engine: Engine) -> None:
    with engine.begin() as conn:
        _table(conn, "t")
    rng = random.Random(1)
    for b in range(40):
        _commit_docs(engine, "t", b * 100, 100 if b % 3 else 3, rng, keep=False)
    with engine.connect() as conn:
        levels = segments.structure(conn, "t")
        listed = {i: p for level in levels for i, p in zip(level.ids, level.pages, strict=True)}
        assert len(listed) > 4  # several levels, several segments
        assert listed == dict(_segment_pages(conn, "t"))


def test_many_small_commits_leave_few_segments(engine: Engine) -> None:
    with engine.begin() as conn:
        _table(conn, "kept")
        _table(conn, "left")
    rng_kept, rng_left = random.Random(2), random.Random(2)
    most = {"kept": 0, "left": 0}
    for b in range(600):
        _commit_docs(engine, "kept", b * 2, 2, rng_kept, keep=True)
        _commit_docs(engine, "left", b * 2, 2, rng_left, keep=False)
        with engine.connect() as conn:
            for name in most:
                most[name] = max(most[name], len(_sizes(conn, name)))
    # at most three small segments a level below the big one, and the last commit's
    assert most["kept"] <= 10
    assert most["left"] >= 2 * most["kept"]  # what FTS5 alone leaves
    with engine.connect() as conn:
        for word in ("w7", "w123", "w39*"):
            q = "SELECT rowid FROM {0} WHERE {0} MATCH ? ORDER BY rowid"
            assert (
                conn.exec_driver_sql(q.format("kept"), (word,)).all()
                == conn.exec_driver_sql(q.format("left"), (word,)).all()
            )


def test_a_growing_index_is_merged_back_into_one_big_segment(engine: Engine) -> None:
    """Big batches: once the share outside the largest segment reaches the trigger, a
    merge is under way; it ends before the next one is due."""
    with engine.begin() as conn:
        _table(conn, "t")
    rng = random.Random(3)
    merges = 0
    was_merging = False
    for b in range(60):
        _commit_docs(engine, "t", b * 400, 400, rng, keep=True)
        with engine.connect() as conn:
            levels = segments.structure(conn, "t")
            sizes = segments.pages(levels)
            merging = any(level.merging for level in levels)
            merges += merging and not was_merging
            was_merging = merging
            if not merging:
                assert sum(sizes) - max(sizes) < segments.COMPACT_SHARE * sum(sizes)
    assert merges >= 3


def test_the_archive_keeps_its_index_in_few_segments(make_archive: Callable[..., Archive]) -> None:
    arc = make_archive()
    for n in range(120):
        name = {"en": f"Police unit {n} of district {n % 7}"}
        arc.records.create([Draft("unit", {"name": name, "kind": "police"})])
    with arc.engine.connect() as conn:
        levels = segments.structure(conn, search.FTS_TABLE)
    assert sum(len(level.pages) for level in levels) <= 4
