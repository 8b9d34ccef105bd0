"""Azerbaijani-aware folding, transliteration and search keys (sahid.text)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sahid.text import fold, loose, search_key, to_latin, tokens, words


def test_fold_dotted_and_dotless_i() -> None:
    assert fold("İ") == "i"
    assert fold("I") == "ı"
    assert fold("İMİŞLİ") == "imişli"
    assert fold("ISMAYILLI") == "ısmayıllı"
    assert fold("ı") == "ı"


def test_fold_avoids_turkish_lower_pitfall() -> None:
    # str.lower() leaves a stray combining dot: "i̇" (i + U+0307).
    assert "İ".lower() == "i\u0307"
    assert fold("İ") == "i"
    assert fold("İ".lower()) == "i"
    assert fold("I\u0307") == "i"  # decomposed capital İ
    assert fold("I\u0307mişli") == fold("İmişli") == "imişli"


def test_fold_azerbaijani_letters() -> None:
    assert fold("ƏĞŞÇÖÜ") == "əğşçöü"
    assert fold("Gəncə") == "gəncə"
    assert fold("Gǝncǝ") == "gəncə"  # turned e typed for schwa
    assert fold("Straße") == "strasse"


def test_fold_normalises_decomposed_input() -> None:
    assert fold("s\u0327") == "ş"
    assert fold("S\u0327EKI") == "şekı"


def test_loose() -> None:
    text = "Əliyev Ağdaş Şəki Çinarlı Göygöl Kürdəmir"
    assert loose(text) == "eliyev agdas seki cinarli goygol kurdemir"
    assert loose("Länkäran") == "lankaran"
    assert loose("İSMAYILLI") == "ismayilli"


def test_to_latin() -> None:
    assert to_latin("Имишли") == "İmişli"
    assert to_latin("Нардаран") == "Nardaran"
    assert to_latin("Губа") == "Guba"
    assert to_latin("Евлах") == "Yevlax"
    assert to_latin("Алиев") == "Aliyev"
    assert to_latin("Джалилабад") == "Calilabad"
    assert to_latin("жёлтый щит цех юг яр") == "jyoltıy şçit tsex yug yar"
    assert to_latin("объезд") == "obyezd"
    # Azerbaijani Cyrillic: г is q.
    assert to_latin("Һаҹыгабул") == "Hacıqabul"
    assert to_latin("Гәнҹә") == "Qəncə"
    assert to_latin("Imishli, İmişli 2024") == "Imishli, İmişli 2024"


@pytest.mark.parametrize(
    "group",
    [
        ["İmişli", "Imishli", "Имишли", "IMISHLI", "imişli", "İMİŞLİ", "Imisli"],
        ["Nardaran", "Нардаран", "NARDARAN"],
        ["İsmayıllı", "Ismayilli", "Исмаиллы", "ISMAYILLI", "Ismailli"],
        ["Quba", "Guba", "Губа"],
        ["Jalilabad", "Джалилабад", "Calilabad"],  # ə vs a is not folded: Cəlilabad differs
        ["Xocalı", "Khojaly", "Ходжалы"],
        ["Şəki", "Sheki", "Шеки"],
        ["Əliyev", "Eliyev", "Элиев"],
        ["Aliyev", "Aliev", "Алиев"],
        ["Yevlax", "Yevlakh", "Евлах"],
    ],
)
def test_spellings_collide(group: list[str]) -> None:
    assert len({search_key(s) for s in group}) == 1, [search_key(s) for s in group]


def test_search_key_examples() -> None:
    assert search_key("İmişli") == "imisli"
    assert search_key("Länkäran") == "lankaran"
    assert search_key("Masally") == "masalli"
    assert search_key("Shhh") == "s"


def test_mixed_script_tokens() -> None:
    toks = tokens("İmişli Имишли Imishli")
    assert len(toks) == 3
    assert len(set(toks)) == 1


def test_words_are_spans_of_original() -> None:
    text = "Polis  İmişli-də, (Имишли) 12.05!"
    spans = words(text)
    assert [text[s:e] for s, e in spans] == ["Polis", "İmişli", "də", "Имишли", "12", "05"]
    assert tokens(text) == ["polis", "imisli", "de", "imisli", "12", "05"]


def test_words_keep_combining_marks() -> None:
    text = "I\u0307mis\u0327li Na\u0301rdaran"
    assert [text[s:e] for s, e in words(text)] == ["I\u0307mis\u0327li", "Na\u0301rdaran"]
    assert tokens(text) == [search_key("İmişli"), "nardaran"]


def test_underscore_separates_words() -> None:
    assert len(words("a_b")) == 2


def _reference_words(text: str) -> list[tuple[int, int]]:
    """Runs of characters that are alphanumeric or combining marks, char by char."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, c in enumerate(text + " "):
        inside = c.isalnum() or unicodedata.category(c).startswith("M")
        if inside and start < 0:
            start = i
        elif not inside and start >= 0:
            out.append((start, i))
            start = -1
    return out


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(),
            st.sampled_from(list(" _-,.\u0300\u0307\u0327\u0483\u064b\u093c\u20dd\ufe20ə1")),
        ),
        max_size=40,
    )
)
def test_words_are_runs_of_letters_digits_and_marks(text: str) -> None:
    assert words(text) == _reference_words(text)


def test_no_mark_before_u0300() -> None:
    # the word pattern tries marks only from U+0300 on
    assert not any(unicodedata.category(chr(c)).startswith("M") for c in range(0x300))
    assert unicodedata.category("\u0300") == "Mn"


def test_key_keeps_word_boundaries() -> None:
    text = "Polis İmişli rayonunda, Нардаран kəndində: 3 nəfər!"
    key = search_key(text)
    assert [key[s:e] for s, e in words(key)] == tokens(text)


def test_empty() -> None:
    assert fold("") == loose("") == to_latin("") == search_key("") == ""
    assert words("") == [] and tokens("  ,. ") == []
    assert tokens("ь") == [""]  # a word may fold to nothing, but it is not dropped


_AZ_TEXT = st.text(
    alphabet=st.sampled_from(
        list("abcçdeəfgğhxıijkqlmnoöprsştuüvyzABCÇDEƏFGĞHXIİJKQLMNOÖPRSŞTUÜVYZ")
        + list("абвгдеёжзийклмнопрстуфхцчшщъыьэюяәғҝҹјһөүАБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯӘҸ")
        + list(" -,.!?'0123456789\u0307\u0301\u0327")
    )
)


@given(st.text())
def test_fold_never_raises(text: str) -> None:
    fold(text)
    loose(text)
    to_latin(text)


@given(st.one_of(st.text(), _AZ_TEXT))
def test_tokens_align_with_words(text: str) -> None:
    assert len(tokens(text)) == len(words(text))


@given(st.one_of(st.text(), _AZ_TEXT))
def test_search_key_idempotent(text: str) -> None:
    key = search_key(text)
    assert search_key(key) == key


@given(_AZ_TEXT)
def test_search_key_no_upper_no_cyrillic(text: str) -> None:
    key = search_key(text)
    assert not any(c.isupper() for c in key)
    assert not any(unicodedata.name(c, "").startswith("CYRILLIC") for c in key)


@given(st.text())
def test_search_key_casefold_stable(text: str) -> None:
    # Any script: the key is already case-folded (Cherokee folds to its upper case, so
    # "no upper case" is checked on Azerbaijani/Russian text above).
    key = search_key(text)
    assert key.casefold() == key
    assert not any(c.isalpha() and unicodedata.name(c, "").startswith("CYRILLIC") for c in key)


@given(_AZ_TEXT)
def test_key_words_match_tokens(text: str) -> None:
    key = search_key(text)
    assert [key[s:e] for s, e in words(key)] == [t for t in tokens(text) if t]
