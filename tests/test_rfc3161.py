"""RFC 3161: the fixture table of ../shared/vectors/rfc3161/README.md, run case by case,
the DER request encoder against the upstream requests, and the local openssl TSA.

Vectors: trailofbits/rfc3161-client test fixtures (Apache-2.0), see that README.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given, settings
from hypothesis import strategies as st
from rfc3161_client._rust import parse_timestamp_request

from sahid.anchors.tsp import (
    der_sorted_certificates,
    load_trust,
    refusal,
    timestamp_request,
    verify_timestamp,
)
from sahid.errors import VerificationError
from tsa import Authority

from conftest import SHARED

V = SHARED / "vectors" / "rfc3161"
HELLO = b"hello"


def chain(name: str) -> list[x509.Certificate]:
    return load_trust((V / name / "ts_chain.pem").read_bytes())


def tsr(rel: str) -> bytes:
    return (V / rel).read_bytes()


# -- the README table, valid rows ------------------------------------------------------------

VALID = [
    ("test_tsa/response.tsr", HELLO, "test_tsa", "sha512"),
    ("test_tsa/response-injected-certs.tsr", HELLO, "test_tsa", "sha512"),
    ("sigstage/response-sha256.tsr", HELLO, "sigstage", "sha256"),
    ("sigstage/response-sha384.tsr", HELLO, "sigstage", "sha384"),
    ("sigstage/response-sha512.tsr", HELLO, "sigstage", "sha512"),
    ("sigstage/response-no-embedded-cert.tsr", HELLO, "sigstage", None),
    ("sigstore.mock/response-expired.tsr", None, "sigstore.mock", "sha256"),
    ("identrust/issue-104.tsr", HELLO, "identrust", "sha512"),
]


@pytest.mark.parametrize(("rel", "message", "trust", "algorithm"), VALID)
def test_valid_fixtures_verify(rel, message, trust, algorithm):
    message = (V / "sigstore.mock" / "payload").read_bytes() if message is None else message
    check = verify_timestamp(message, tsr(rel), chain(trust))
    if algorithm:
        assert check.hash_name == algorithm
    assert check.gen_time.tzinfo is not None


def test_test_tsa_response_matches_its_request():
    """The README: Test TSA, 2024-10-08 15:40:32Z, nonce 0x36A44F9F4A391FD3."""
    request = parse_timestamp_request((V / "test_tsa" / "request.der").read_bytes())
    check = verify_timestamp(
        HELLO, tsr("test_tsa/response.tsr"), chain("test_tsa"), nonce=request.nonce
    )
    assert check.nonce == 0x36A44F9F4A391FD3 == request.nonce
    assert check.gen_time.isoformat() == "2024-10-08T15:40:32+00:00"
    assert check.tsa == "CN=Test TSA Timestamping,O=local"


def test_expired_chain_is_judged_at_gen_time():
    payload = (V / "sigstore.mock" / "payload").read_bytes()
    assert hashlib.sha256(payload).hexdigest().startswith("9b72f441")
    check = verify_timestamp(
        payload, tsr("sigstore.mock/response-expired.tsr"), chain("sigstore.mock")
    )
    assert check.gen_time.year == 2023


# -- the README table, invalid rows ---------------------------------------------------------


def test_other_response_does_not_chain_to_the_test_tsa():
    with pytest.raises(VerificationError, match="step 5"):
        verify_timestamp(HELLO, tsr("test_tsa/other_response.tsr"), chain("test_tsa"))


def test_other_request_is_a_different_pair():
    first = parse_timestamp_request((V / "test_tsa" / "request.der").read_bytes())
    other = parse_timestamp_request((V / "test_tsa" / "other_request.der").read_bytes())
    assert other.nonce != first.nonce


def test_injected_certificates_are_rejected_when_the_subject_is_pinned():
    """GHSA-3xxc-pwj6-jgrj: a spoofed certificate in the bag must not pass for the signer."""
    injected = tsr("test_tsa/response-injected-certs.tsr")
    with pytest.raises(VerificationError, match="step 6"):
        verify_timestamp(HELLO, injected, chain("test_tsa"), subject="CN=Spoofed TSA")
    check = verify_timestamp(
        HELLO, injected, chain("test_tsa"), subject="CN=Test TSA Timestamping,O=local"
    )
    assert check.tsa == "CN=Test TSA Timestamping,O=local"


def test_invalid_signature_fails():
    with pytest.raises(VerificationError, match="step 5"):
        verify_timestamp(HELLO, tsr("sigstage/response-invalid-signature.tsr"), chain("sigstage"))


def test_no_embedded_certificate_needs_the_chain():
    rel = "sigstage/response-no-embedded-cert.tsr"
    root_only = [c for c in chain("sigstage") if c.subject == c.issuer]
    with pytest.raises(VerificationError, match="step 5"):
        verify_timestamp(HELLO, tsr(rel), root_only)


@pytest.mark.parametrize(("rel", "trust"), [(r, t) for r, _, t, _ in VALID if _ is not None])
def test_other_message_fails_the_imprint(rel, trust):
    with pytest.raises(VerificationError, match="step 3"):
        verify_timestamp(b"hellp", tsr(rel), chain(trust))


def test_wrong_chain_wrong_nonce_wrong_hash_and_empty_trust():
    good = tsr("test_tsa/response.tsr")
    with pytest.raises(VerificationError, match="step 5"):
        verify_timestamp(HELLO, good, chain("sigstage"))
    with pytest.raises(VerificationError, match="step 4"):
        verify_timestamp(HELLO, good, chain("test_tsa"), nonce=0x36A44F9F4A391FD4)
    with pytest.raises(VerificationError, match="step 2"):
        verify_timestamp(HELLO, good, chain("test_tsa"), hash_name="sha256")
    with pytest.raises(VerificationError, match="no trusted"):
        verify_timestamp(HELLO, good, [])


def test_identrust_root_is_der():
    assert len(load_trust((V / "identrust" / "ts_chain.pem").read_bytes())) == 1


@pytest.mark.parametrize("data", [b"", b"\x30\x00", b"garbage", b"\x30\x82\xff\xff"])
def test_garbage_is_not_a_response(data):
    with pytest.raises(VerificationError, match="step 1"):
        verify_timestamp(HELLO, data, chain("test_tsa"))
    assert refusal(data) is None


def test_a_request_is_not_a_response():
    with pytest.raises(VerificationError, match="step 1"):
        verify_timestamp(HELLO, (V / "test_tsa" / "request.der").read_bytes(), chain("test_tsa"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_fail_closed(data):
    with pytest.raises(VerificationError):
        verify_timestamp(HELLO, data, chain("test_tsa"))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(tsr("test_tsa/response.tsr")) - 1), st.integers(1, 255))
def test_any_flipped_byte_fails_or_changes_nothing_checked(pos, flip):
    """A changed byte anywhere either fails or sits where no check looks (cert bag)."""
    data = bytearray(tsr("test_tsa/response.tsr"))
    data[pos] ^= flip
    try:
        check = verify_timestamp(HELLO, bytes(data), chain("test_tsa"), nonce=0x36A44F9F4A391FD3)
    except VerificationError:
        return
    assert check.gen_time.isoformat() == "2024-10-08T15:40:32+00:00"


def test_regression_damaged_embedded_certificate_fails_closed():
    """Found by the test above: one flipped bit in the embedded TSA certificate made
    cryptography raise DuplicateExtension from inside rfc3161-client."""
    data = bytearray(tsr("test_tsa/response.tsr"))
    data[564] ^= 1
    with pytest.raises(VerificationError, match="step 5"):
        verify_timestamp(HELLO, bytes(data), chain("test_tsa"))


# -- the request encoder ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["test_tsa/request.der", "test_tsa/other_request.der", "sigstage/request.der"]
)
def test_request_encoder_reproduces_upstream_requests(name):
    upstream = (V / name).read_bytes()
    parsed = parse_timestamp_request(upstream)
    digest = hashlib.sha512(HELLO).digest()
    assert parsed.message_imprint.message == digest
    assert timestamp_request(digest, parsed.nonce, hash_name="sha512") == upstream


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.integers(0, 2**160 - 1), st.booleans())
def test_request_parses_back(digest, nonce, cert_req):
    der = timestamp_request(digest, nonce, cert_req=cert_req)
    parsed = parse_timestamp_request(der)
    assert parsed.message_imprint.message == digest
    assert parsed.nonce == nonce and parsed.cert_req is cert_req
    assert parsed.message_imprint.hash_algorithm.dotted_string == "2.16.840.1.101.3.4.2.1"


def test_openssl_reads_the_request(tmp_path):
    q = tmp_path / "q.tsq"
    q.write_bytes(timestamp_request(hashlib.sha256(b"x").digest(), 2**63 + 5))
    text = subprocess.run(
        ["openssl", "ts", "-query", "-in", q, "-text"], capture_output=True, text=True, check=True
    ).stdout
    assert "Hash Algorithm: sha256" in text and "0x8000000000000005" in text
    assert "Certificate required: yes" in text


# -- the local openssl TSA (it stands in for a real one) ---------------------------------------


@pytest.fixture(scope="module")
def authority(tmp_path_factory) -> Authority:
    return Authority.create(tmp_path_factory.mktemp("tsa"))


def test_openssl_reply_verifies_after_sorting_its_certificate_set(authority):
    """openssl embeds the TSA's chain unsorted; the SET is re-sorted before parsing."""
    note = b"sahid/x\n1\nAAAA\n\n"
    nonce = 12345
    reply = authority.reply(timestamp_request(hashlib.sha256(note).digest(), nonce))
    assert der_sorted_certificates(reply) != reply  # two certificates, out of DER order
    assert len(der_sorted_certificates(reply)) == len(reply)
    check = verify_timestamp(note, reply, load_trust(authority.ca.read_bytes()), nonce=nonce)
    assert check.tsa == "CN=Test TSA" and check.hash_name == "sha256"


def test_openssl_rejection_is_a_refusal(authority):
    reply = authority.reply(timestamp_request(hashlib.sha256(b"x").digest(), 1), "reject")
    assert "not supported" in (refusal(reply) or "")
    with pytest.raises(VerificationError, match="did not grant"):
        verify_timestamp(b"x", reply, load_trust(authority.ca.read_bytes()))


def test_trust_files_must_hold_certificates(tmp_path: Path):
    with pytest.raises(VerificationError, match="no readable"):
        load_trust(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(VerificationError, match="no readable"):
        load_trust(b"not a certificate")
