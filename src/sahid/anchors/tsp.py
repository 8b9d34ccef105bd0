"""RFC 3161 timestamps: requests, the one network call, and response verification.

* :func:`timestamp_request` encodes a ``TimeStampReq`` (RFC 3161 §2.4.1) in DER:
  version 1, the message imprint (SHA-256, -384 or -512 with NULL parameters), the
  caller's nonce and ``certReq`` TRUE, nothing else. The nonce comes from the caller
  (randomness is injected), so a request is a pure function of its inputs.
* :func:`http_post` sends it (RFC 3161 §3.4, ``application/timestamp-query``). It is the
  only code in sahid that talks to a TSA, and only ``sahid log anchor`` calls it.
* :func:`verify_timestamp` checks a ``TimeStampResp`` against a message and trusted
  certificates, with nothing but its arguments. Steps, each failure naming its step:

  1. the response parses as DER and its status is *granted*;
  2. the imprint's hash is SHA-256, -384 or -512 (or the one required);
  3. the imprint equals the hash of the message;
  4. the nonce equals the request's (when one is given);
  5. the CMS signature verifies and the signing certificate chains to a trusted
     certificate, judged at the token's genTime (:mod:`rfc3161_client`);
  6. the signing certificate has the critical ``id-kp-timeStamping`` key purpose (and
     the pinned subject, when one is given).

Verification fails closed: an empty trust set raises, and every problem is a
:class:`~sahid.errors.VerificationError`; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import rfc3161_client
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sahid.errors import InputError, NetworkError, VerificationError

__all__ = [
    "HASHES",
    "MAX_RESPONSE",
    "TimestampCheck",
    "Transport",
    "certificate_pem",
    "der_sorted_certificates",
    "fingerprint",
    "http_post",
    "load_trust",
    "refusal",
    "timestamp_request",
    "verify_timestamp",
]

#: Hash name -> (DER of the algorithm's OID content, digest size).
HASHES: dict[str, tuple[str, int]] = {
    "sha256": ("2.16.840.1.101.3.4.2.1", 32),
    "sha384": ("2.16.840.1.101.3.4.2.2", 48),
    "sha512": ("2.16.840.1.101.3.4.2.3", 64),
}
_NAMES = {oid: name for name, (oid, _) in HASHES.items()}
#: A timestamp response is a few kilobytes; anything this large is not one.
MAX_RESPONSE = 1 << 20
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"

Transport = Callable[[str, bytes], bytes]


# -- DER, just enough for a TimeStampReq ---------------------------------------------------


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _integer(value: int) -> bytes:
    if value < 0:
        raise InputError("a DER INTEGER here must not be negative")
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # room for a 0 sign bit
    return _tlv(0x02, body)


def _oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def timestamp_request(
    digest: bytes, nonce: int, *, hash_name: str = "sha256", cert_req: bool = True
) -> bytes:
    """DER ``TimeStampReq`` for ``digest`` (already hashed with ``hash_name``)."""
    if hash_name not in HASHES:
        raise InputError(f"hash {hash_name!r} is not one of {', '.join(HASHES)}")
    oid, size = HASHES[hash_name]
    if not isinstance(digest, bytes) or len(digest) != size:
        raise InputError(f"a {hash_name} digest is {size} bytes")
    if type(nonce) is not int or not 0 <= nonce < 2**160:
        raise InputError("the nonce must be a non-negative integer below 2**160")
    algorithm = _tlv(0x30, _oid(oid) + b"\x05\x00")
    imprint = _tlv(0x30, algorithm + _tlv(0x04, digest))
    body = _integer(1) + imprint + _integer(nonce)
    if cert_req:
        body += b"\x01\x01\xff"
    return _tlv(0x30, body)


# -- the network call ------------------------------------------------------------------------


def check_tsa_url(url: str) -> str:
    """An ``http``/``https`` URL with a host and no user name or password (it is recorded
    in the ledger and published); InputError otherwise (no file: or ftp:)."""
    try:
        parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
        credentials = parts is not None and (parts.username or parts.password)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"TSA URL {str(url)[:80]!r} is not an http:// or https:// URL")
    if credentials:
        raise InputError("the TSA URL must not hold a user name or password")
    return url


def http_post(url: str, body: bytes, *, timeout: float = 30.0) -> bytes:
    """POST a timestamp query and return the reply body; NetworkError if that fails."""
    check_tsa_url(url)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above: http or https only)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE, "User-Agent": "sahid"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
            data: bytes = reply.read(MAX_RESPONSE + 1)
            kind = reply.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection's socket
        raise NetworkError(f"TSA {url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise NetworkError(f"cannot reach TSA {url}: {reason}") from None
    if len(data) > MAX_RESPONSE:
        raise NetworkError(f"TSA {url} sent more than {MAX_RESPONSE} bytes: not a timestamp")
    if kind != REPLY_TYPE:
        raise NetworkError(f"TSA {url} answered {kind}, not {REPLY_TYPE}: is it a TSA?")
    return data


# -- trust ------------------------------------------------------------------------------------


def load_trust(data: bytes, where: str = "trust file") -> list[x509.Certificate]:
    """Certificates from a PEM bundle or one DER certificate; every one of them is trusted."""
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except (ValueError, TypeError):
        raise VerificationError(
            f"{where} holds no readable X.509 certificate (want PEM or DER)", where=where
        ) from None
    if not certs:
        raise VerificationError(f"{where} holds no certificate", where=where)
    return certs


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, hex: what a reader compares with a TSA's."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def certificate_pem(certs: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


# -- verification ------------------------------------------------------------------------------


def _tlv_at(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER element at ``pos``; ValueError if bad."""
    if pos + 2 > end:
        raise ValueError("short")
    tag, first = buf[pos], buf[pos + 1]
    if tag & 0x1F == 0x1F:
        raise ValueError("multi-byte tag")
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if not 1 <= n <= 4 or start + n > end:
            raise ValueError("length")
        length = int.from_bytes(buf[start : start + n], "big")
        start += n
    if start + length > end:
        raise ValueError("overrun")
    return tag, start, start + length


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = _tlv_at(buf, pos, end)
        out.append((tag, pos, cs, ce))
        pos = ce
    return out


def der_sorted_certificates(tsr: bytes) -> bytes:
    """``tsr`` with the token's certificate SET OF in DER order (X.690 §11.6).

    OpenSSL's ``ts -reply`` writes the TSA's chain unsorted, which strict DER parsers
    (rfc3161-client) refuse. The certificates are not covered by the signature and a
    SET has no order, so sorting them changes nothing a verifier relies on; the bytes
    kept and published stay as the TSA sent them. Anything unexpected returns ``tsr``
    unchanged for the parser to judge.
    """
    try:
        _, cs, ce = _tlv_at(tsr, 0, len(tsr))
        top = _children(tsr, cs, ce)  # status, timeStampToken
        _, _, ts, te = top[1]
        _, _, ws, we = _children(tsr, ts, te)[1]  # ContentInfo: contentType, [0] content
        _, _, ss, se = _children(tsr, ws, we)[0]  # SignedData
        for tag, _, cs2, ce2 in _children(tsr, ss, se):
            if tag == 0xA0:  # certificates [0] IMPLICIT SET OF
                items = [tsr[p:e] for _, p, _, e in _children(tsr, cs2, ce2)]
                return tsr[:cs2] + b"".join(sorted(items)) + tsr[ce2:]
    except (ValueError, IndexError):
        pass
    return tsr


@dataclass(frozen=True)
class TimestampCheck:
    """What a verified timestamp says."""

    gen_time: datetime
    hash_name: str
    nonce: int | None
    serial: int
    policy: str
    tsa: str  # subject of the signing certificate (RFC 4514)

    def as_json(self) -> dict[str, object]:
        return {
            "gen_time": format_time(self.gen_time),
            "hash": self.hash_name,
            "nonce": None if self.nonce is None else str(self.nonce),
            "serial": str(self.serial),
            "policy": self.policy,
            "tsa": self.tsa,
        }


def format_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def refusal(tsr: bytes) -> str | None:
    """Why the TSA refused, if ``tsr`` parses and its status is not *granted*; else None."""
    try:
        resp = rfc3161_client.decode_timestamp_response(der_sorted_certificates(bytes(tsr)))
    except ValueError:
        return None
    if resp.status == rfc3161_client.PKIStatus.GRANTED:
        return None
    detail = "; ".join(resp.status_string) if resp.status_string else "no reason given"
    return f"status {resp.status}: {detail}"


def _fail(step: int, what: str) -> VerificationError:
    return VerificationError(f"RFC 3161 step {step}: {what}")


def verify_timestamp(
    message: bytes,
    tsr: bytes,
    trust: Sequence[x509.Certificate],
    *,
    nonce: int | None = None,
    hash_name: str | None = None,
    subject: str | None = None,
) -> TimestampCheck:
    """Verify DER ``TimeStampResp`` ``tsr`` over ``message`` (steps in the module doc).

    ``trust``: the certificates trusted to anchor the TSA's chain (any of them may be the
    anchor); ``nonce``: the request's; ``hash_name``: the imprint hash required;
    ``subject``: the signing certificate's subject, RFC 4514 (e.g. ``CN=Test TSA``).
    """
    if not trust:
        raise VerificationError("no trusted TSA certificates given: refusing to verify")
    try:
        resp = rfc3161_client.decode_timestamp_response(der_sorted_certificates(bytes(tsr)))
    except ValueError:
        raise _fail(1, "not a DER TimeStampResp") from None
    if resp.status != rfc3161_client.PKIStatus.GRANTED:
        detail = "; ".join(resp.status_string) if resp.status_string else "no reason given"
        raise _fail(1, f"the TSA did not grant the timestamp (status {resp.status}: {detail})")
    try:
        info = resp.tst_info
        imprint = info.message_imprint
        algorithm = _NAMES.get(imprint.hash_algorithm.dotted_string)
        token_nonce = info.nonce
        gen_time, serial, policy = info.gen_time, info.serial_number, info.policy.dotted_string
    except Exception:  # fail closed on whatever the parser raises
        raise _fail(1, "the TimeStampResp holds no readable token") from None
    if algorithm is None or (hash_name is not None and algorithm != hash_name):
        got = algorithm or imprint.hash_algorithm.dotted_string
        raise _fail(2, f"the imprint hash is {got}, not {hash_name or 'SHA-256/384/512'}")
    if imprint.message != hashlib.new(algorithm, message).digest():
        raise _fail(3, "the message imprint is not the hash of the timestamped data")
    if nonce is not None and token_nonce != nonce:
        raise _fail(4, "the nonce differs from the request's (a replayed or foreign response)")
    builder = rfc3161_client.VerifierBuilder()
    for cert in {c.public_bytes(Encoding.DER): c for c in trust}.values():
        builder = builder.add_root_certificate(cert)
    try:
        leaf = _signer(resp, trust)
        embedded = bool(resp.signed_data.certificates)
    except Exception:  # fail closed on whatever the parsers raise
        raise _fail(5, "the token's signer or certificates cannot be read") from None
    if not embedded:
        if leaf is None:
            raise _fail(5, "the token holds no certificate and none of the trusted ones signed it")
        builder = builder.tsa_certificate(leaf)
    if subject is not None:
        builder = builder.common_name(subject)
    try:
        builder.build().verify(resp, imprint.message)
    except rfc3161_client.VerificationError as exc:
        text = str(exc)
        if text.startswith("Error while verifying certificates"):
            detail = text.rpartition('data: "')[2].partition('"')[0] or "signature failure"
            raise _fail(
                5, f"the signature or its chain to the trusted certificates fails ({detail})"
            ) from None
        raise _fail(6, f"the signing certificate is not acceptable ({text[:160]})") from None
    except Exception as exc:
        # e.g. cryptography's DuplicateExtension from a damaged embedded certificate
        raise _fail(5, f"the token cannot be checked ({type(exc).__name__})") from None
    if leaf is None:
        raise _fail(6, "no certificate in the token matches its signer")
    try:
        signer = leaf.subject.rfc4514_string()
    except Exception:  # as above
        raise _fail(6, "the signing certificate's subject cannot be read") from None
    return TimestampCheck(
        gen_time=gen_time,
        hash_name=algorithm,
        nonce=token_nonce,
        serial=serial,
        policy=policy,
        tsa=signer,
    )


def _signer(
    resp: rfc3161_client.TimeStampResponse, trust: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    """The certificate (embedded, else trusted) named by the token's one SignerInfo."""
    infos = list(resp.signed_data.signer_infos)
    if len(infos) != 1:
        return None
    info = infos[0]
    embedded = []
    for der in resp.signed_data.certificates:
        try:
            embedded.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    for cert in [*embedded, *trust]:
        if cert.issuer == info.issuer and cert.serial_number == info.serial_number:
            return cert
    return None
