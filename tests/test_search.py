"""The ranked window (issue 5 item 7): prefixes spelled out, BM25 from word counts."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from sahid.archive import Archive
from sahid.errors import InputError
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


def test_upgrade_from_schema_0005_counts_the_words(tmp_path):

    from sahid.store import SCHEMA_HEAD

    arc = Archive.init(tmp_path / "old", PASSPHRASE, kdf=FAST_KDF)
    made = _incidents(arc, 40)
    expected = [h.id for h in arc.records.search("lawyer journalist")]
    counts = _counted(arc)
    root = downgrade(arc, "0005")
    assert Archive.upgrade(root, PASSPHRASE) == ("0005", SCHEMA_HEAD)
    with Archive.open(root, PASSPHRASE) as again:
        assert _counted(again) == counts
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
