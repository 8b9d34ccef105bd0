"""The encrypted blob store (DESIGN §1, §2): one age file per distinct evidence content.

Blobs live at ``blobs/ab/cd/<name>`` where ``name`` is HMAC-SHA256(index key,
SHA-256(plaintext)) in hex: a listing of the folder reveals nothing about which known
file is present. New blobs are written to ``blobs/tmp/`` (already encrypted), fsynced,
then renamed into place; a crash leaves at most an encrypted temp file or an
unreferenced blob, which ``verify`` reports and ``gc`` removes.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sahid._internal.fsutil import fsync_dir

_NAME = re.compile(r"^[0-9a-f]{64}$")


def blob_relpath(name: str) -> str:
    """``ab/cd/abcd…``: two fan-out levels keep folders small."""
    if not _NAME.match(name):
        raise ValueError(f"not a blob name: {name!r}")
    return f"{name[:2]}/{name[2:4]}/{name}"


class FileBlobStore:
    """Blobs as files in the archive folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"

    def path(self, name: str) -> Path:
        return self.root / blob_relpath(name)

    def label(self, path: Path) -> str:
        """How a blob or temp file is named to users: relative to the archive folder."""
        return f"{self.root.name}/{path.relative_to(self.root)}"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def new_temp(self) -> tuple[Path, BinaryIO]:
        self.tmp.mkdir(mode=0o700, exist_ok=True)
        path = self.tmp / f".{secrets.token_hex(8)}.tmp"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return path, os.fdopen(fd, "wb")

    def commit(self, temp: Path, name: str) -> None:
        """Move a finished (fsynced) temp blob into place, durably."""
        final = self.path(name)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(temp, final)
        fsync_dir(final.parent)
        fsync_dir(self.tmp)

    def open(self, name: str) -> BinaryIO:
        return self.path(name).open("rb")

    def names(self) -> Iterator[str]:
        for path in self.root.glob("[0-9a-f][0-9a-f]/[0-9a-f][0-9a-f]/*"):
            if _NAME.match(path.name) and path.is_file():
                yield path.name

    def temps(self) -> list[Path]:
        return sorted(self.tmp.glob("*.tmp")) if self.tmp.is_dir() else []

    def delete(self, name: str) -> None:
        self.path(name).unlink(missing_ok=True)
