"""Writing a site folder safely: staged, checked, renamed in, and incremental (DESIGN §7).

Every file of a publication goes through a :class:`Writer`, which keeps the SHA-256 of
the bytes it is given (the signed manifest needs no second read) and stages them in a
folder next to the output, ``.<name>.sahid-<random>``. The live site is not touched
until the whole publication is rendered, proved and signed:

* **A new or empty output folder**: the staging folder *is* the new site and is renamed
  onto it in one step.
* **An earlier sahid site** (its ``sahid-site.json`` marker and a signed manifest): only
  files whose bytes change are staged; unchanged files are compared with the new bytes
  and left untouched. When staging is complete, a journal naming the files to replace
  and to delete is written (synced) into the staging folder — the commit point — and
  then applied: deletions, then renames, the manifest and its signature last. A run
  killed while applying leaves the journal; the next run finishes it (roll forward)
  before doing anything else, and until then ``verify-site`` fails on the mixed files.
  A staging folder without a journal (a run that died before its commit) is deleted.

Only files the previous signed manifest lists (and the manifest and its signature) are
ever replaced or deleted: anything else in the folder (``.git/``, ``CNAME``, a README)
is the user's and is left alone; a new sahid file that would land on such a path is
refused before anything changes. A sahid site without a valid signed manifest (pages
written by :func:`~sahid.publish.site.build_site` alone) owns its files under sahid's
own top-level names (:data:`SAHID_TOPS`).

The staging folder is locked (``flock``) while in use, so a second publisher into the
same folder is refused rather than allowed to delete the first one's work.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sahid._internal.fsutil import write_atomic
from sahid.errors import InputError, SahidError

__all__ = [
    "JOURNAL",
    "MARKER",
    "SAHID_TOPS",
    "SiteOutput",
    "Writer",
    "check_unlisted",
    "dumps_lines",
    "recover",
    "stage_prefix",
]

MARKER = "sahid-site.json"
JOURNAL = ".sahid-journal.json"
MANIFEST = "verify/manifest.json"
MANIFEST_SIG = "verify/manifest.sig"
#: Top-level names sahid writes (language folders, data, media, proofs, root files).
SAHID_TOPS = frozenset(
    {"az", "ru", "en", "data", "media", "verify", "index.html", "site.css", MARKER}
)


_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(", ", ": "))


def _block(value: Any) -> str:
    if isinstance(value, list) and value:
        return "[\n" + ",\n".join(_ENCODER.encode(x) for x in value) + "\n]"
    if isinstance(value, dict) and value:
        items = sorted(value.items())
        return (
            "{\n"
            + ",\n".join(f"{_ENCODER.encode(k)}: {_ENCODER.encode(v)}" for k, v in items)
            + "\n}"
        )
    return _ENCODER.encode(value)


def dumps_lines(value: Any) -> str:
    """JSON for the published files: keys sorted, one item per line, then a newline.

    An object's members are on lines of their own, and so is each item of a list (or
    member of an object) directly inside them: records, features, proofs and manifest
    entries read and diff line by line. Items themselves are compact, which lets the C
    encoder do the work (``indent`` would not).
    """
    if isinstance(value, dict):
        parts = [f"{_ENCODER.encode(k)}: {_block(v)}" for k, v in sorted(value.items())]
        return "{\n" + ",\n".join(parts) + "\n}\n"
    return _block(value) + "\n"


def stage_prefix(out: Path) -> str:
    return f".{out.name}.sahid-"


class Writer:
    """Stages the files of one publication, keeping the SHA-256 of every file.

    With ``live`` (the previous site) and ``previous`` (its manifest: path -> SHA-256),
    a file whose new bytes equal the previous ones on disk is not written at all.
    """

    def __init__(
        self, root: Path, live: Path | None = None, previous: Mapping[str, str] | None = None
    ) -> None:
        self.root = root
        self.live = live
        self.previous = previous or {}
        self.hashes: dict[str, str] = {}
        self.changed: list[str] = []
        self._dirs: set[Path] = set()

    @property
    def written(self) -> list[str]:
        """Every file of the publication (written or kept), in the order given."""
        return list(self.hashes)

    def bytes(self, rel: str, data: bytes) -> None:
        sha = hashlib.sha256(data).hexdigest()
        self.hashes[rel] = sha
        if self.live is not None and self.previous.get(rel) == sha and _same(self.live / rel, data):
            return
        path = self.root / rel
        parent = path.parent
        if parent not in self._dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(parent)
        with open(path, "wb") as fh:
            fh.write(data)
        self.changed.append(rel)

    def text(self, rel: str, text: str) -> None:
        self.bytes(rel, text.encode("utf-8"))

    def merge(self, hashes: Mapping[str, str], changed: Iterable[str]) -> None:
        """Take over what a forked worker's writer staged under the same root."""
        self.hashes.update(hashes)
        self.changed.extend(changed)

    def sha256(self, rel: str) -> str | None:
        return self.hashes.get(rel)


def _same(path: Path, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size != len(data):
                return False
            return fh.read() == data
    except OSError:
        return False


def _is_site(out: Path) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("generator") == "sahid"


def _signed_manifest(out: Path) -> dict[str, str] | None:
    """The file list of ``out``'s manifest if its signature verifies with ``verify/key``."""
    from sahid._internal.note import Verifier, open_note

    try:
        verifier = Verifier.parse((out / "verify/key").read_text(encoding="utf-8").strip())
        text = open_note((out / MANIFEST_SIG).read_bytes(), [verifier]).text
        data = (out / MANIFEST).read_bytes()
        lines = text.split("\n")
        if len(lines) != 3 or lines[1] != hashlib.sha256(data).hexdigest():
            return None
        doc = json.loads(data)
    except (OSError, ValueError, SahidError):
        return None
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, dict):
        return None
    out_files: dict[str, str] = {}
    for rel, sha in files.items():
        if not isinstance(sha, str) or not _safe_rel(rel):
            return None
        out_files[rel] = sha
    # The manifest and its signature are not listed in themselves: compare them too.
    out_files[MANIFEST] = hashlib.sha256(data).hexdigest()
    out_files[MANIFEST_SIG] = hashlib.sha256((out / MANIFEST_SIG).read_bytes()).hexdigest()
    return out_files


def _owned_files(out: Path) -> set[str]:
    """Files under sahid's own top-level names (a site without a valid manifest)."""
    found: set[str] = set()
    for top in SAHID_TOPS:
        path = out / top
        if path.is_symlink():
            continue
        if path.is_file():
            found.add(top)
        elif path.is_dir():
            for folder, _, names in os.walk(path):
                base = Path(folder)
                found.update((base / n).relative_to(out).as_posix() for n in names)
    return found


def _lock(path: Path) -> int | None:
    """An exclusive lock on the folder ``path``; None if another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _prune(out: Path, rel: str) -> None:
    """Remove the folders of ``rel`` that are now empty, up to (not including) ``out``."""
    parent = (out / rel).parent
    while parent != out:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _safe_rel(rel: object) -> bool:
    return (
        isinstance(rel, str)
        and bool(rel)
        and not rel.startswith("/")
        and "\\" not in rel
        and "\x00" not in rel
        and all(part not in ("", ".", "..") for part in rel.split("/"))
    )


def _apply(stage: Path, out: Path, journal: Mapping[str, Any]) -> None:
    """Carry out a committed journal; safe to repeat after a crash part-way."""
    if not all(_safe_rel(rel) for rel in [*journal["delete"], *journal["write"]]):
        raise InputError(f"{stage / JOURNAL} names a path outside {out}; remove {stage}")
    for rel in journal["delete"]:
        (out / rel).unlink(missing_ok=True)
        _prune(out, rel)
    made: set[Path] = set()
    for rel in journal["write"]:
        src = stage / rel
        if not src.exists():
            continue  # renamed in by the run that crashed
        dst = out / rel
        if dst.parent not in made:
            dst.parent.mkdir(parents=True, exist_ok=True)
            made.add(dst.parent)
        os.replace(src, dst)


def recover(out: Path) -> int:
    """Finish or clear what killed runs left next to ``out``; return how many folders."""
    parent = out.parent
    if not parent.is_dir():
        return 0
    prefix = stage_prefix(out)
    cleared = 0
    for path in sorted(parent.iterdir()):
        name = path.name
        if path.is_symlink() or not path.is_dir():
            continue
        if name.startswith(f".{out.name}.old-"):  # the whole-folder swap of older versions
            shutil.rmtree(path, ignore_errors=True)
            cleared += 1
            continue
        if not name.startswith(prefix):
            continue
        fd = _lock(path)
        if fd is None:
            raise InputError(f"another sahid publish is writing {out} ({path}); wait for it")
        try:
            journal_path = path / JOURNAL
            if journal_path.is_file() and out.is_dir():
                try:
                    journal = json.loads(journal_path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    journal = None
                if (
                    isinstance(journal, dict)
                    and isinstance(journal.get("write"), list)
                    and isinstance(journal.get("delete"), list)
                ):
                    _apply(path, out, journal)
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        cleared += 1
    return cleared


class SiteOutput:
    """One publication into ``out``: a staging :class:`Writer`, then :meth:`commit`.

    Use as a context manager: leaving it by an exception removes the staging folder
    (nothing of the live site has changed); :meth:`commit` makes the new site live.
    """

    def __init__(self, out: Path) -> None:
        self.out = out = Path(out)
        if out.exists() and not out.is_dir():
            raise InputError(f"{out} is not empty and not a sahid site; choose another folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        self.recovered = recover(out)
        self.fresh = not out.exists() or not any(out.iterdir())
        self.owned: set[str] = set()
        previous: dict[str, str] | None = None
        if not self.fresh:
            if not _is_site(out):
                raise InputError(f"{out} is not empty and not a sahid site; choose another folder")
            previous = _signed_manifest(out)
            self.owned = set(previous) if previous is not None else _owned_files(out)
            self.owned.update((MANIFEST, MANIFEST_SIG))
        self.stage = Path(tempfile.mkdtemp(prefix=stage_prefix(out), dir=out.parent))
        fd = _lock(self.stage)
        if fd is None:  # pragma: no cover - a folder we have just made
            raise InputError(f"cannot lock {self.stage}")
        self._fd: int | None = fd
        self.writer = Writer(self.stage, None if self.fresh else out, previous)
        self.removed: list[str] = []

    def __enter__(self) -> SiteOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the staging folder (unless a committed journal must survive) and unlock."""
        if self._fd is None:
            return
        if not (self.stage / JOURNAL).exists():
            shutil.rmtree(self.stage, ignore_errors=True)
        os.close(self._fd)
        self._fd = None

    def _conflicts(self, new: Iterable[str]) -> None:
        """Refuse to put a sahid file where the user has one sahid did not write."""
        out = self.out
        for rel in sorted(new):
            if rel in self.owned:
                continue
            path = out / rel
            if os.path.lexists(path):
                raise InputError(
                    f"{path} is not one of sahid's files (not in the previous signed manifest); "
                    "move it away, sahid will not replace it"
                )
            for parent in path.parents:
                if parent == out:
                    break
                if os.path.lexists(parent) and (parent.is_symlink() or not parent.is_dir()):
                    raise InputError(
                        f"{parent} is in the way of sahid's {rel}; move it away, "
                        "sahid will not replace it"
                    )

    def commit(self) -> None:
        """Make the staged publication the live site (see the module docstring)."""
        w = self.writer
        out, stage = self.out, self.stage
        if self.fresh:
            os.chmod(stage, 0o755)  # noqa: S103 (a public site; mkdtemp made it 0o700)
            os.rename(stage, out)  # onto a missing or empty folder: one step
            fd, self._fd = self._fd, None
            if fd is not None:
                os.close(fd)
            return
        new = set(w.hashes)
        self._conflicts(new)
        self.removed = sorted(self.owned - new)
        last = [r for r in (MANIFEST, MANIFEST_SIG) if r in w.changed]
        writes = sorted(set(w.changed) - set(last)) + last
        if writes or self.removed:
            journal = {"write": writes, "delete": self.removed}
            write_atomic(stage / JOURNAL, json.dumps(journal).encode())
            try:
                _apply(stage, out, journal)
            except OSError as exc:
                raise SahidError(
                    f"publishing into {out} stopped part-way ({exc}); run the same "
                    "`sahid publish` again to finish it (the site does not verify until then)"
                ) from None
            (stage / JOURNAL).unlink()
        self.close()


def check_unlisted(site: Path, listed: Iterable[str]) -> tuple[set[str], list[str]]:
    """Split the top-level names of ``site``: those the manifest covers, and the rest.

    Returns the covered top-level names and the sorted unlisted ones (folders end in
    ``/``): files that are not sahid's, reported by ``verify-site`` but not checked.
    """
    tops = {rel.split("/", 1)[0] for rel in listed} | {"verify"}
    unlisted = []
    for entry in sorted(os.listdir(site)):
        if entry in tops:
            continue
        path = site / entry
        unlisted.append(entry + "/" if path.is_dir() and not path.is_symlink() else entry)
    return tops, unlisted
