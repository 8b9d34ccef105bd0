"""Durable file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sahid.errors import InputError


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one.

    ``sync_dir=False`` leaves the folder's fsync to a caller writing many files into it.
    """
    with _staged(path, path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp"), mode) as fh:
        fh.write(data)
    if sync_dir:
        fsync_dir(path.parent)


@contextmanager
def _staged(final: Path, temp: Path, mode: int) -> Iterator[BinaryIO]:
    """Write ``temp``, fsync it and rename it to ``final``; any exception removes it."""
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_new_output(out: Path) -> None:
    """Refuse an output path that exists or whose folder does not (what :func:`new_output`
    refuses), so that a command can say so before doing any work."""
    if out.exists() or out.is_symlink():
        raise InputError(f"{out} already exists; choose another path or remove it first")
    if not out.parent.is_dir():
        raise InputError(f"{out.parent} does not exist; create the folder first")


@contextmanager
def new_output(out: Path) -> Iterator[BinaryIO]:
    """A new file at ``out`` that appears only when complete.

    It is written beside ``out`` as a hidden ``.partial`` (0600), fsynced and renamed
    when the block ends normally; any exception removes it. ``out`` is never replaced.
    """
    check_new_output(out)
    partial = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
    with _staged(out, partial, 0o600) as fh:
        yield fh
