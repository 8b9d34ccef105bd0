"""Ed25519 work on the other cores, for big append batches and big verifies.

Signing is the floor cost of an entry and verification the floor cost of ``verify``;
``cryptography`` holds the GIL while it signs, so threads alone do not help. For large
batches a few worker processes (``python -m sahid._internal.workers``, talking pickle
over their stdin/stdout) sign or verify chunks while this process does the rest of the
work (encoding, sealing, hashing, SQL). Small batches never start them.

The workers are plain subprocesses rather than ``multiprocessing`` children, so the
caller's ``__main__`` is never re-imported. The signing key travels to a worker over a
pipe inside this user's own process tree and lives there only while a chunk is signed.
A worker whose parent dies reads EOF and exits.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sahid.errors import SahidError

#: Work smaller than this is done in-process: starting workers costs ~0.1 s.
PARALLEL_THRESHOLD = 4096
CHUNK = 1024


def sign_chunk(seed: bytes, msgs: Sequence[bytes]) -> list[bytes]:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return [key.sign(m) for m in msgs]


def verify_chunk(items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bool]:
    """``(public key, signature, message)`` → valid?"""
    keys: dict[bytes, Ed25519PublicKey] = {}
    out = []
    for pub, sig, msg in items:
        key = keys.get(pub)
        if key is None:
            try:
                key = keys[pub] = Ed25519PublicKey.from_public_bytes(pub)
            except ValueError:
                out.append(False)
                continue
        try:
            key.verify(sig, msg)
            out.append(True)
        except InvalidSignature:
            out.append(False)
    return out


_OPS: dict[str, Any] = {"sign": sign_chunk, "verify": verify_chunk}


class _Worker:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sahid._internal.workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    def call(self, op: str, args: tuple[Any, ...]) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            pickle.dump((op, args), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
            return pickle.load(self.proc.stdout)  # noqa: S301 - our own child process
        except (EOFError, OSError, pickle.UnpicklingError):
            raise SahidError("a signature worker process failed; try again") from None

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class CryptoPool:
    """Worker processes started on first use; ``close()`` stops them."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else min(4, os.cpu_count() or 1)
        self._free: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._threads: ThreadPoolExecutor | None = None

    @property
    def useful(self) -> bool:
        return self.workers > 1

    def _run(self, op: str, args: tuple[Any, ...]) -> Any:
        worker = self._free.get()
        try:
            return worker.call(op, args)
        finally:
            self._free.put(worker)

    def _submit(self, op: str, args: tuple[Any, ...]) -> Future[Any]:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(self.workers, thread_name_prefix="sahid-crypto")
            for _ in range(self.workers):
                w = _Worker()
                self._all.append(w)
                self._free.put(w)
        return self._threads.submit(self._run, op, args)

    def sign_chunk(self, seed: bytes, msgs: Sequence[bytes]) -> Future[list[bytes]]:
        return self._submit("sign", (seed, list(msgs)))

    def verify(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> Future[list[bool]]:
        return self._submit("verify", (list(items),))

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            self._threads = None
        for w in self._all:
            w.close()
        self._all.clear()
        self._free = queue.Queue()


def serve(inp: BinaryIO, out: BinaryIO) -> None:
    """Worker loop: unpickle ``(op, args)``, pickle the result, until EOF."""
    while True:
        try:
            op, args = pickle.load(inp)  # noqa: S301 - only our parent writes here
        except EOFError:
            return
        pickle.dump(_OPS[op](*args), out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
