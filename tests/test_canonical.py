"""RFC 8785 canonical JSON: equal to the reference implementation (the ``rfc8785``
package) and to the RFC's own examples on the subset sahid allows, strict about
everything else."""

from __future__ import annotations

import enum
import json
import timeit
from collections import OrderedDict
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from sahid import InputError, VerificationError
from sahid._internal import canonical
from sahid._internal.canonical import (
    MAX_INT,
    canonical_json,
    check,
    encode_checked,
    parse_canonical,
)

# Every code point but lone surrogates: controls, U+2028, U+FFFF, astral planes.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
# Keys that make UTF-16 and code-point order disagree (U+E000..U+FFFF vs > U+FFFF).
tricky_keys = st.text(
    st.sampled_from(
        "a B \x00 \x7f é \u2028 \ue000 \ufb33 \uffff \U00010000 \U0001f600 \U0010ffff".split(" ")
    ),
    max_size=3,
)
ints = st.integers(-MAX_INT, MAX_INT) | st.sampled_from([0, -1, MAX_INT, -MAX_INT])
scalars = st.none() | st.booleans() | ints | text
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(text | tricky_keys, inner, max_size=5)
    ),
    max_leaves=25,
)


@given(values)
def test_matches_reference_jcs(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@given(values)
def test_parse_round_trip(value):
    assert parse_canonical(canonical_json(value)) == value


def test_rfc8785_sorting_example():
    """RFC 8785 §3.2.3: keys sort by UTF-16 code units, so U+1F600 comes before U+FB33."""
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
        '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
        '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_json(value) == expected.encode()
    # Python's own order (by code point) differs: this is what the slow path is for.
    assert json.dumps(value, sort_keys=True, ensure_ascii=False) != json.dumps(
        json.loads(expected), ensure_ascii=False
    )


def test_rfc8785_string_example():
    """RFC 8785 §3.2.2.2: the escaping rules for strings."""
    source = '{"string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/"}'
    expected = '{"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonical_json(json.loads(source)) == expected.encode()


def test_rfc8785_literals_and_integers():
    value = {"t": True, "f": False, "n": None, "i": [0, -1, MAX_INT, -MAX_INT], "e": [{}, []]}
    assert canonical_json(value) == (
        b'{"e":[{},[]],"f":false,"i":[0,-1,9007199254740991,-9007199254740991],"n":null,"t":true}'
    )
    assert canonical_json(("a", ("b",))) == b'["a",["b"]]'  # tuples are arrays


def test_slow_path_only_when_a_key_is_astral(monkeypatch):
    calls = []
    real = canonical._utf16_order
    monkeypatch.setattr(canonical, "_utf16_order", lambda v: calls.append(v) or real(v))
    canonical_json({"a": "😀 in a value", "b": ["Şəki", "\uffff"], "\uffff": 1})
    assert calls == []
    value = {"x": {"\uffff": 1, "😀": 2}}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert calls[0] == value


@pytest.mark.parametrize(
    ("value", "path", "why"),
    [
        ({"items": [1, 2, 3, 1.5]}, "body.items[3]", "fraction"),
        ({"a": float("nan")}, "body.a", "fraction"),
        ({"a": [1, 2**53]}, "body.a[1]", "2**53"),
        ({"a": -(2**53)}, "body.a", "2**53"),
        ({"a": 10**5000}, "body.a", "2**53"),  # too long even to print
        ({"a": {"b": "x\ud800y"}}, "body.a.b", "lone surrogate"),
        ({"\udfff": 1}, 'body["\\udfff"]', "lone surrogate"),
        ({"a": {1: "x"}}, "body.a", "key int"),
        ({None: 1}, "body", "key NoneType"),
        ({("k",): 1}, "body", "key tuple"),
        ({"my key": {1, 2}}, 'body["my key"]', "set"),
        ({"a": b"bytes"}, "body.a", "bytes"),
        ({"a": enum.IntEnum("E", "X").X}, "body.a", "E"),
        ({"a": OrderedDict()}, "body.a", "OrderedDict"),
        ({"line\nbreak": 1.0}, 'body["line\\nbreak"]', "fraction"),
    ],
)
def test_refusals_name_the_path(value, path, why):
    with pytest.raises(InputError) as err:
        canonical_json(value, "body")
    message = err.value.message
    assert message.startswith(path + ": "), message
    assert why in message
    assert "\n" not in message
    message.encode("utf-8")  # printable: no lone surrogate copied into the message
    if why != "lone surrogate":  # check() walks types; text is checked when encoding
        with pytest.raises(InputError):
            check(value, "body")


def test_default_path_is_dollar():
    with pytest.raises(InputError, match=r"^\$\.a: "):
        canonical_json({"a": 0.5})
    with pytest.raises(InputError, match=r"^\$: "):
        canonical_json(1.0)


def test_encode_checked_still_catches_lone_surrogates_and_bad_types():
    with pytest.raises(InputError, match=r"^env\.body\[0\]: .*lone surrogate"):
        encode_checked({"body": ["\ud83d"]}, "env")
    with pytest.raises(InputError, match=r"^env\.x: .*set"):
        encode_checked({"x": {1}}, "env")


def test_cycles_and_depth_are_input_errors():
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(InputError, match="nested too deeply"):
        canonical_json({"a": loop})
    deep: list[Any] = []
    for _ in range(50_000):
        deep = [deep]
    with pytest.raises(InputError, match="nested too deeply"):
        canonical_json(deep)
    with pytest.raises(VerificationError, match="nested too deeply"):
        parse_canonical(b"[" * 50_000 + b"]" * 50_000)


# -- parse_canonical refuses every other spelling of the same value ------------------------


def _escape_all(s: str) -> str:
    return '"' + "".join(f"\\u{u:04x}" for u in _utf16(s)) + '"'


def _utf16(s: str) -> list[int]:
    raw = s.encode("utf-16-be")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _dump(value: Any, *, reverse: bool = False, escape: bool = False) -> str:
    """Another valid JSON spelling of ``value``: keys reversed and/or strings escaped."""
    how = {"reverse": reverse, "escape": escape}
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"), reverse=reverse)
        items = (f"{_dump(k, escape=escape)}:{_dump(value[k], **how)}" for k in keys)
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(v, **how) for v in value) + "]"
    if isinstance(value, str) and escape:
        return _escape_all(value)
    return json.dumps(value, ensure_ascii=False)


@given(values)
def test_other_spellings_are_rejected(value):
    good = canonical_json(value)
    variants = {
        json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).encode(),
        json.dumps(value, separators=(", ", ": "), sort_keys=True, ensure_ascii=False).encode(),
        (" " + good.decode() + "\n").encode(),
        json.dumps(value, sort_keys=True, separators=(",", ":")).encode(),  # \\u escapes
        _dump(value, reverse=True).encode(),
        _dump(value, escape=True).encode(),
        b"\xef\xbb\xbf" + good,  # UTF-8 byte order mark
    }
    for variant in variants - {good}:
        assert json.loads(variant.decode("utf-8-sig")) == value  # same meaning...
        with pytest.raises(VerificationError):  # ...but not the one canonical spelling
            parse_canonical(variant)


@given(values, st.data())
def test_mutated_bytes_are_rejected_or_canonical(value, data):
    raw = bytearray(canonical_json(value))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]))
    try:
        parsed = parse_canonical(bytes(raw))
    except VerificationError:
        return
    assert canonical_json(parsed) == bytes(raw)  # another value's canonical form


@given(st.binary(max_size=64))
def test_arbitrary_bytes_only_raise_verification_error(data):
    try:
        parsed = parse_canonical(data)
    except VerificationError as exc:
        assert "\n" not in exc.message
        return
    assert canonical_json(parsed) == data


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1, "a":2}',
        b'{"b":1,"a":2}',
        b'{"a":1,"a":2}',
        b'{"a":1,"a":1}',
        b'{"a":1.0}',
        b'{"a":1e2}',
        b'{"a":1E2}',
        b"-0",
        b"01",
        b"9007199254740992",
        b"-9007199254740992",
        b"1" * 5000,
        b'{"a":NaN}',
        b"Infinity",
        b'{"a":"\\u0041"}',
        b'"\\u00e9"',
        b'"\\/"',
        b'"\\ud800"',
        b'"\\ud83d\\ude00"',
        b'"\x7f\\u007f"',
        b'{"a":1} ',
        b"[1,]",
        b"",
        b"\xff",
        b'"\xed\xa0\x80"',  # CESU-8 surrogate: not UTF-8
        b"\xef\xbb\xbf{}",
    ],
)
def test_non_canonical_input_is_rejected(data):
    with pytest.raises(VerificationError):
        parse_canonical(data)


def test_speed_of_a_small_record():
    """The append hot path: a ~10-key record must stay in the low microseconds."""
    record = {
        "kind": "media.added",
        "seq": 12345,
        "ts": "2026-11-25T08:08:30Z",
        "by": "m1abc",
        "sha256": "ab" * 32,
        "size": 1048576,
        "name": "IMG_2024.jpg",
        "tags": ["protest", "Bakı"],
        "ok": True,
        "note": None,
    }
    per_call = min(timeit.repeat(lambda: canonical_json(record), number=2000, repeat=5)) / 2000
    assert per_call < 50e-6  # ~3-4 µs on a laptop; generous for loaded CI machines
