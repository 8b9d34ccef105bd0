"""Azerbaijani-aware folding and transliteration, so İmişli, Imishli and Имишли match.

Python's ``str.lower()`` is wrong for Azerbaijani (``"İ".lower()`` is ``"i̇"``, ``"I"``
lower-cases to ``"i"`` instead of ``"ı"``), so nothing here calls it on user text: casing
goes through :func:`fold`, and search goes through :func:`search_key`, which is applied
identically to indexed text and to queries.

``search_key`` rules, in order (the output is a fixed point: ``search_key`` is idempotent):

1. :func:`to_latin`: Cyrillic (Russian and Azerbaijani Cyrillic) to Azerbaijani Latin.
2. :func:`loose`: :func:`fold`, then ə→e, ı→i, ş→s, ç→c, ğ→g, ö→o, ü→u, and every other
   combining diacritic is dropped (ä→a, é→e).
3. Romanisation digraphs, left to right, longest first; a run of trailing ``h`` is eaten
   with the digraph: dzh, dj, zh, ch, j → c; kh → x; sh → s; gh, q → g. So "Jalilabad",
   "Cəlilabad" and "Джалилабад" collide, as do "Quba", "Guba" and "Губа". Collisions made
   on purpose: Azerbaijani j/c and q/g are not told apart, nor s+h from sh.
4. y: a ``y`` not followed by a vowel becomes ``i`` ("Masally"→"masalli"), then a ``y``
   between two vowels is dropped ("Ismayilli" and "Исмаиллы"→"ismailli", "Aliyev" and
   "Алиев"→"aliev"). Collision made on purpose: "Maya" and "Maa" meet.

Word boundaries survive every step: each rule maps letters to letters inside a word, so
word *i* of ``search_key(text)`` is word *i* of ``text`` unless that word folds to nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["fold", "loose", "search_key", "to_latin", "tokens", "words"]

# -- fold -----------------------------------------------------------------------------------

# "ǝ"/"Ǝ" (turned e) are common look-alike typos for "ə"/"Ə".
_AZ_CASE = str.maketrans({"İ": "i", "I": "ı", "Ə": "ə", "ǝ": "ə", "Ǝ": "ə"})
_DOTTED_I = re.compile("[iI]\u0307")


def fold(text: str) -> str:
    """Case-fold with Azerbaijani rules (İ→i, I→ı), since ``str.lower()`` gets them wrong."""
    text = unicodedata.normalize("NFC", text)
    if "\u0307" in text:
        # "I" + combining dot above composes to "İ" under NFC, but "i" + dot does not: it is
        # what ``"İ".lower()`` leaves behind, so it is read as a plain "i".
        text = _DOTTED_I.sub("i", text)
    return text.translate(_AZ_CASE).casefold()


# -- loose ----------------------------------------------------------------------------------

_LOOSE = str.maketrans("əışçğöü", "eiscgou")


def loose(text: str) -> str:
    """:func:`fold`, then drop Azerbaijani and other diacritics (ə→e, ş→s, ä→a, ...)."""
    text = fold(text).translate(_LOOSE)
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


# -- to_latin -------------------------------------------------------------------------------

# Lower-case Cyrillic to Azerbaijani Latin. Upper-case forms are derived below.
_CYR: dict[str, str] = {
    "а": "a", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "ґ": "g", "д": "d", "е": "e",
    "ё": "yo", "ж": "j", "з": "z", "и": "i", "й": "y", "ј": "y", "к": "k", "ҝ": "g",
    "қ": "q", "л": "l", "м": "m", "н": "n", "ң": "n", "о": "o", "ө": "ö", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ү": "ü", "ў": "u", "ф": "f", "х": "x",
    "һ": "h", "ц": "ts", "ч": "ç", "ҹ": "c", "ш": "ş", "щ": "şç", "ъ": "", "ы": "ı",
    "ь": "", "э": "e", "ю": "yu", "я": "ya", "ә": "ə", "і": "i", "ї": "yi", "є": "ye",
}  # fmt: skip
# Azerbaijani Cyrillic (1958-1991): г is q, е is always e.
_AZ_CYR = {**_CYR, "г": "q"}
_AZ_ONLY = frozenset("әғҝҹјһөүӘҒҜҸЈҺӨҮ")


def _table(lower: dict[str, str]) -> dict[int, str]:
    table: dict[int, str] = {}
    for cyr, lat in lower.items():
        table[ord(cyr)] = lat
        upper = cyr.upper()
        if len(upper) == 1 and upper != cyr:
            head = {"i": "İ", "ı": "I"}.get(lat[:1], lat[:1].upper())
            table[ord(upper)] = head + lat[1:]
    return table


_OLD_CYR = {"ѣ": "e", "ѳ": "f", "ѵ": "i", "ӏ": "", "ҡ": "q", "ҙ": "z", "ҫ": "s", "ҳ": "h"}
_CYRILLIC_RANGES = ((0x0400, 0x0530), (0x1C80, 0x1C90), (0xA640, 0xA6A0))


def _complete(table: dict[int, str]) -> dict[int, str]:
    """Map every other Cyrillic letter too: by its base letter (ӣ→i), else to nothing."""
    old = _table(_OLD_CYR)
    for lo, hi in _CYRILLIC_RANGES:
        for cp in range(lo, hi):
            c = chr(cp)
            if cp in table or not c.isalpha():
                continue
            base = ord(unicodedata.normalize("NFD", c)[0])
            table[cp] = table.get(base, old.get(cp, old.get(base, "")))
    return table


_RU_TABLE = _complete(_table(_CYR))
_AZ_TABLE = _complete(_table(_AZ_CYR))
_CYRILLIC_RUN = re.compile("[\u0400-\u052f\u1c80-\u1c8f\ua640-\ua69f]+")
_DZH = re.compile("[дД][жЖ]")
# Russian е reads "ye" at the start of a word and after a vowel, ъ or ь (Евлах, Алиев).
_YE = re.compile("(?:(?<![\u0400-\u052f])|(?<=[аеёиоуыэюяАЕЁИОУЫЭЮЯъьЪЬ]))[еЕ]")


def _latin_run(match: re.Match[str]) -> str:
    run = match.group()
    if not _AZ_ONLY.isdisjoint(run):
        return run.translate(_AZ_TABLE)
    run = _DZH.sub(lambda m: "C" if m.group()[0] == "Д" else "c", run)
    run = _YE.sub(lambda m: "Ye" if m.group() == "Е" else "ye", run)
    return run.translate(_RU_TABLE)


def to_latin(text: str) -> str:
    """Transliterate Cyrillic to Azerbaijani Latin (Имишли→İmişli, Нардаран→Nardaran).

    A run of Cyrillic letters containing an Azerbaijani-only letter (ә ғ ҝ ҹ ј һ ө ү) is
    read as Azerbaijani Cyrillic (г→q), any other run as Russian (г→g, дж→c, е→ye at the
    start of a word or after a vowel). Other Cyrillic letters go by their base letter
    (ӣ→i) or are dropped. Latin and other scripts pass through unchanged.
    """
    if text.isascii():
        return text
    return _CYRILLIC_RUN.sub(_latin_run, text)


# -- search_key -----------------------------------------------------------------------------

_DIGRAPHS = re.compile("dzh+|djh*|zh+|ch+|jh*|kh+|sh+|gh+|qh*")
_DIGRAPH_OUT = {"dz": "c", "dj": "c", "zh": "c", "ch": "c", "j": "c", "jh": "c",
                "kh": "x", "sh": "s", "gh": "g", "q": "g", "qh": "g"}  # fmt: skip
_Y_FINAL = re.compile("y(?![aeiou])")
_Y_BETWEEN = re.compile("(?<=[aeiou])y(?=[aeiou])")


def _digraph(match: re.Match[str]) -> str:
    return _DIGRAPH_OUT[match.group()[:2]]


def search_key(text: str) -> str:
    """The one matching form of ``text``, used both to index and to query (see module doc)."""
    text = loose(to_latin(text))
    if "h" in text or "j" in text or "q" in text:
        text = _DIGRAPHS.sub(_digraph, text)
    if "y" in text:
        text = _Y_BETWEEN.sub("", _Y_FINAL.sub("i", text))
    return text


# -- words and tokens -----------------------------------------------------------------------


def _mark_class() -> str:
    """A regex class of all combining marks (categories Mn, Mc, Me)."""
    ranges: list[str] = []
    start: int | None = None
    for cp in [*range(0x20000), *range(0xE0000, 0xE1000), 0xE1000]:
        is_mark = unicodedata.category(chr(cp)).startswith("M") if cp != 0xE1000 else False
        if is_mark and start is None:
            start = cp
        elif not is_mark and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{cp - 1:08x}")
            start = None
    return "".join(ranges)


# [^\W_] is exactly the characters for which str.isalnum() is true. Marks are tried
# only on characters from U+0300 on (where the first of them is): a space or a comma
# then fails at once instead of being compared with the long class of marks, which made
# reading words twice as slow.
_WORD = re.compile(f"(?:[^\\W_]+|(?=[^\\x00-\\u02ff])[{_mark_class()}]+)+")


def words(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text``: runs of letters, digits and combining marks."""
    return [m.span() for m in _WORD.finditer(text)]


def iter_words(text: str) -> Iterator[tuple[int, int]]:
    """:func:`words`, one at a time (for readers that stop early)."""
    return (m.span() for m in _WORD.finditer(text))


def tokens(text: str) -> list[str]:
    """The :func:`search_key` of each word of ``text``, aligned with :func:`words`."""
    return [search_key(text[s:e]) for s, e in words(text)]
