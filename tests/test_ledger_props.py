"""Properties of ledger entries: round trips, the signature splice, tamper evidence."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sahid import VerificationError
from sahid._internal.canonical import MAX_INT, canonical_json
from sahid.keys import MemberKeys
from sahid.ledger import ENTRY_DOMAIN, KINDS, Sealer, make_entry, parse_entry

MEMBER = MemberKeys.generate()
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=12,
)
bodies = st.dictionaries(text, values, max_size=5)
# Strings that look like the spliced signature field must not confuse the splice.
tricky = st.sampled_from(['","sig":"', ',"sig":"AAAA","ts":"x","v":1}', '"ts"', "\u2028", "İmişli"])


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, MAX_INT),
    st.sampled_from(sorted(KINDS)),
    bodies,
    tricky,
    st.binary(min_size=16, max_size=16),
)
def test_entry_round_trip_and_signature(seq, kind, body, trick, nonce):
    body = {**body, "trick": trick}
    e = make_entry(seq, "2025-01-18T12:30:00.000000Z", MEMBER, kind, body, nonce)
    back = parse_entry(e.data, "entry")
    assert back == e
    unsigned = {k: v for k, v in __import__("json").loads(e.data).items() if k != "sig"}
    assert back.signed_message() == ENTRY_DOMAIN + canonical_json(unsigned)
    assert back.verify_signature(MEMBER.sign_public)
    assert base64.b64decode(e.sig) and len(base64.b64decode(e.sig)) == 64


@settings(max_examples=150, deadline=None)
@given(bodies, st.integers(0, 10_000), st.integers(0, 7))
def test_any_byte_flip_is_caught(body, pos, bit):
    e = make_entry(7, "2025-01-18T12:30:00.000000Z", MEMBER, "record.updated", body, bytes(16))
    data = bytearray(e.data)
    data[pos % len(data)] ^= 1 << bit
    try:
        changed = parse_entry(bytes(data), "entry 7")
    except VerificationError:
        return
    # Parsed: then the signature (over the parsed meaning) must fail.
    assert not changed.verify_signature(MEMBER.sign_public)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2**40))
def test_sealed_entries_are_bound_to_their_position(data, seq):
    sealer = Sealer(bytes(32), "archive-a")
    sealed = sealer.seal(seq, data)
    assert sealer.open(seq, sealed) == data
    for other in (Sealer(bytes(32), "archive-b"),):
        try:
            other.open(seq, sealed)
        except VerificationError:
            pass
        else:
            raise AssertionError("opened under another archive id")
    try:
        sealer.open(seq + 1, sealed)
    except VerificationError:
        return
    raise AssertionError("opened at another position")


def test_a_non_canonical_signature_spelling_is_refused():
    """Found by Hypothesis: base64's spare bits before '=' could change without changing
    the signature bytes, so the entry bytes changed while the signature still verified."""
    e = make_entry(7, "2025-01-18T12:30:00.000000Z", MEMBER, "record.updated", {}, bytes(16))
    assert e.sig.endswith("==")
    last = e.sig[-3]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twin = alphabet[alphabet.index(last) ^ 1]  # differs only in a spare bit
    assert base64.b64decode(e.sig[:-3] + twin + "==") == base64.b64decode(e.sig)
    data = e.data.replace(e.sig.encode(), (e.sig[:-3] + twin + "==").encode())
    with pytest.raises(VerificationError, match="sig is not canonical base64"):
        parse_entry(data, "entry 7")
