"""A strict check of the age v1 header (C2SP age §"Header"), run before decryption.

rage (behind pyrage) accepts a few malformed headers that the spec and the CCTV vectors
require to be refused — a stanza without its final short body line, for instance. Blobs
are only ever written by us, so anything off-spec is tampering: fail closed.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from sahid.errors import VerificationError

MAX_HEADER = 64 * 1024
_ARG = re.compile(rb"^[\x21-\x7e]+$")
_B64 = re.compile(rb"^[A-Za-z0-9+/]*$")


def check_header(fh: BinaryIO) -> None:
    """Read and check the header from the current position; rewinds to where it began."""
    start = fh.tell()
    data = fh.read(MAX_HEADER)
    fh.seek(start)
    lines = data.split(b"\n")
    if len(lines) < 2 or lines[0] != b"age-encryption.org/v1":
        raise VerificationError("age header: bad version line")
    i, stanzas = 1, 0
    while i < len(lines) - 1:
        line = lines[i]
        if line.startswith(b"--- "):
            mac = line[4:]
            if stanzas == 0 or len(mac) != 43 or not _B64.match(mac):
                raise VerificationError("age header: bad MAC line or no recipient stanza")
            return
        if not line.startswith(b"-> "):
            raise VerificationError(f"age header: line {i + 1} is neither a stanza nor the MAC")
        args = line[3:].split(b" ")
        if not args or not all(_ARG.match(a) for a in args):
            raise VerificationError(f"age header: stanza on line {i + 1} has bad arguments")
        i += 1
        while True:  # body: full 64-column lines, then one shorter (possibly empty) line
            if i >= len(lines) - 1:
                raise VerificationError("age header: truncated stanza body")
            body = lines[i]
            if len(body) > 64 or not _B64.match(body):
                raise VerificationError(f"age header: bad stanza body on line {i + 1}")
            i += 1
            if len(body) < 64:
                break
        stanzas += 1
    raise VerificationError("age header: no MAC line (truncated or too long)")
