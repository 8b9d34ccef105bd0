"""This machine's memory of the newest checkpoint it has seen (DESIGN §3, "Rollback").

Deleting the newest entries and checkpoints together needs no key, so an archive
cannot prove on its own that it was not rolled back. Each machine therefore keeps the
newest signed checkpoint it saw for every archive, outside the archive folder, and
``verify`` reports an archive that is older than, or inconsistent with, it.

Location: ``$SAHID_STATE_DIR``, else ``$XDG_STATE_HOME/sahid``, else
``~/.local/state/sahid``; one file ``seen/<archive-id>.checkpoint`` per archive.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sahid._internal.fsutil import write_atomic

_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def state_dir() -> Path:
    env = os.environ.get("SAHID_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "sahid"


def _path(archive_id: str) -> Path:
    if not _SAFE_ID.match(archive_id):
        raise ValueError("archive id is not a safe file name")
    return state_dir() / "seen" / f"{archive_id}.checkpoint"


def recall(archive_id: str) -> str | None:
    try:
        return _path(archive_id).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def remember(archive_id: str, note: str) -> None:
    """Store ``note`` as the newest seen checkpoint (caller checks it is newer)."""
    path = _path(archive_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, note.encode("utf-8"))
