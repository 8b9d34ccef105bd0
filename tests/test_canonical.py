"""RFC 8785 canonical JSON: equal to the reference implementation (the `rfc8785`
package) on the subset sahid allows, strict about everything else."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from sahid import InputError, VerificationError
from sahid._internal.canonical import MAX_INT, canonical_json, parse_canonical

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | text
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_matches_reference_jcs(value):
    assert canonical_json(value) == rfc8785.dumps(value)


@given(values)
def test_parse_round_trip(value):
    assert parse_canonical(canonical_json(value)) == value


def test_utf16_key_order():
    # U+1F600 sorts before U+FFFD in UTF-16 (surrogates D83D…) but after it by code point.
    value = {"\ufffd": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("😀".encode()) < canonical_json(value).index(
        "\ufffd".encode()
    )


def test_azerbaijani_and_control_characters():
    value = {"yer": "İmişli Şəki ğ ç ö ü ı", "ctl": '\x00\x1f\t\n"\\', "ru": "Имишли"}
    assert canonical_json(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"a": 1.5}, "$.a"),
        ({"a": [1, 2, 2**53]}, "$.a[2]"),
        ({"a": {"b": "\ud800"}}, "$.a.b"),
        ({1: "x"}, "$"),
        ({"a": {1, 2}}, "$.a"),
        ({"a": b"bytes"}, "$.a"),
    ],
)
def test_refusals_name_the_path(value, path):
    with pytest.raises(InputError) as err:
        canonical_json(value)
    assert err.value.message.startswith(path + ":") or err.value.message.startswith(path)


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1, "a":2}',
        b'{"b":1,"a":2}',
        b'{"a":1.0}',
        b'{"a":1,"a":2}',
        b'{"a":"\\u0041"}',
        b'{"a":1} ',
        b"\xff",
        b'{"a":NaN}',
        b"[" * 5000 + b"]" * 5000,
    ],
)
def test_non_canonical_input_is_rejected(data):
    with pytest.raises(VerificationError):
        parse_canonical(data)
