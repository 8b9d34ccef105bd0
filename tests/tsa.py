"""A local RFC 3161 timestamp authority for tests: it stands in for a real TSA.

A test CA and a TSA certificate (critical extendedKeyUsage timeStamping) are made with
``openssl`` in a temporary folder; a small HTTP server on 127.0.0.1 answers each
``application/timestamp-query`` POST by running ``openssl ts -reply`` on it, exactly as
a real TSA would answer over the network. ``mode`` makes it misbehave on purpose:

* ``ok`` — a correct reply;
* ``wrong-nonce`` — a genuine reply to a *different* query (same digest, another
  nonce), as a replayed or mixed-up response would be;
* ``wrong-imprint`` — a genuine reply for other data;
* ``reject`` — the TSA refuses (status rejection: it only accepts SHA-512 queries);
* ``garbage`` — bytes that are not DER, with the right content type;
* ``html`` — an HTML page (a captive portal, a wrong URL);
* ``http-500`` — a server error.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.crt
certs = {dir}/ca.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = {digests}
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str | Path) -> bytes:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False)
    if done.returncode:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.decode()[-500:]}")
    return done.stdout


def make_ca(folder: Path, name: str = "Test") -> Path:
    """A self-signed P-256 CA (``ca.crt``/``ca.key``) in ``folder``; returns ca.crt."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", folder / "ca.key", "-out", folder / "ca.crt", "-days", "30",
        "-subj", f"/CN={name} Root CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign",
    )  # fmt: skip
    return folder / "ca.crt"


@dataclass
class Authority:
    """The files of a test TSA: its CA, certificate, key and openssl configurations."""

    folder: Path
    ca: Path
    cert: Path

    @classmethod
    def create(cls, folder: Path) -> Authority:
        ca = make_ca(folder)
        (folder / "ext.cnf").write_text(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=critical,timeStamping\n"
        )
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", folder / "tsa.key", "-out", folder / "tsa.csr", "-subj", "/CN=Test TSA",
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", folder / "tsa.csr", "-CA", ca, "-CAkey", folder / "ca.key",
            "-CAcreateserial", "-out", folder / "tsa.crt", "-days", "30",
            "-extfile", folder / "ext.cnf",
        )  # fmt: skip
        (folder / "serial").write_text("01\n")
        for label, digests in (("tsa", "sha256, sha384, sha512"), ("reject", "sha512")):
            (folder / f"{label}.cnf").write_text(_TSA_CONFIG.format(dir=folder, digests=digests))
        return cls(folder, ca, folder / "tsa.crt")

    def reply(self, query: bytes, config: str = "tsa") -> bytes:
        """``openssl ts -reply`` to a DER query (one at a time: openssl keeps a serial)."""
        with _LOCK:
            q = self.folder / "query.tsq"
            r = self.folder / "reply.tsr"
            q.write_bytes(query)
            _openssl(
                "ts", "-reply", "-config", self.folder / f"{config}.cnf",
                "-queryfile", q, "-out", r,
            )  # fmt: skip
            return r.read_bytes()

    def query(self, data: bytes | None = None, digest: bytes | None = None) -> bytes:
        """A fresh openssl query (random nonce) for ``data`` or a SHA-256 ``digest``."""
        digest = digest if digest is not None else hashlib.sha256(data or b"").digest()
        return _openssl("ts", "-query", "-digest", digest.hex(), "-sha256", "-cert")


_LOCK = threading.Lock()


class Server:
    """The HTTP front of an :class:`Authority` on 127.0.0.1 (a random free port)."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.mode = "ok"
        self.requests: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.requests.append(body)
                status, kind, data = server.answer(body, self.headers.get("Content-Type", ""))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/tsr"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body: bytes, content_type: str) -> tuple[int, str, bytes]:
        reply = "application/timestamp-reply"
        if content_type != "application/timestamp-query":
            return 415, "text/plain", b"want application/timestamp-query"
        if self.mode == "http-500":
            return 500, "text/plain", b"internal error"
        if self.mode == "html":
            return 200, "text/html", b"<html>please log in</html>"
        if self.mode == "garbage":
            return 200, reply, b"\x30\x03not der"
        if self.mode == "reject":
            return 200, reply, self.authority.reply(body, "reject")
        if self.mode == "wrong-nonce":
            from rfc3161_client._rust import parse_timestamp_request

            digest = parse_timestamp_request(body).message_imprint.message
            return 200, reply, self.authority.reply(self.authority.query(digest=digest))
        if self.mode == "wrong-imprint":
            return 200, reply, self.authority.reply(self.authority.query(b"something else"))
        return 200, reply, self.authority.reply(body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
