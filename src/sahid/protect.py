"""Media protection on archive evidence (DESIGN §6): redacted copies, thumbnails,
near-duplicates and web captures.

Originals are never modified. A redacted copy is made from the original decrypted into
memory (memfd), stored as new evidence, and recorded by a ``redaction.made`` entry in
the same ledger batch as its ``evidence.added`` entry, naming the original's hash, the
copy's hash and the exact operations. Thumbnails show protected faces, so they are
stored like evidence: age-encrypted blobs, listed in a cache table.

Every function here takes a ``progress(message, done, total)`` callback and returns
JSON-safe data, so a job queue (team mode) can run it as it is: see :data:`JOBS`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyrage
from sqlalchemy import delete, insert, select

from sahid.errors import InputError
from sahid.evidence import decrypt_blob, decrypted, memfd, resolve, store_blob
from sahid.schema import derivations, evidence, phashes, thumbnails

if TYPE_CHECKING:
    from sahid.archive import Archive

Progress = Callable[[str, int, int], None]
IMAGE_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "image/tiff", "image/heic", "image/gif"}
)
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def _kind(media_type: str) -> str:
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type.startswith("video/"):
        return "video"
    if media_type.startswith("audio/"):
        return "audio"
    raise InputError(f"cannot work on {media_type}: pictures, videos and sound recordings only")


def _not_empty(row: dict[str, Any], what: str) -> None:
    """A zero-length file sniffs as application/octet-stream: say what it really is."""
    if row["size"] == 0:
        name = f" ({row['name']})" if row.get("name") else ""
        raise InputError(f"{row['evidence_id']}{name} is empty (0 bytes): nothing to {what}")


def _quiet(message: str, done: int, total: int) -> None:
    del message, done, total


def redact(
    archive: Archive,
    evidence_id: str,
    *,
    faces: bool = True,
    regions: Sequence[tuple[int, int, int, int]] = (),
    mute: Sequence[tuple[int, int]] = (),
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Make a redacted, metadata-free copy of an evidence item and store it as evidence.

    The result's ``no_face_found`` is true when faces were searched for and none was
    found: the copy must then be looked at before it is published.
    """
    from sahid.media.redact import redact_image
    from sahid.media.video import mute_audio, redact_video

    report = progress or _quiet
    row = resolve(archive, evidence_id)
    _not_empty(row, "redact")
    kind = _kind(row["media_type"])
    if kind == "image" and mute:
        raise InputError("--mute applies to videos and sound recordings, not pictures")
    if kind == "audio" and regions:
        raise InputError("--region applies to pictures and videos, not sound recordings")
    if kind == "audio" and not mute:
        raise InputError("a sound recording has no faces: give --mute START-END ranges")
    fd, out_path = memfd("sahid-redacted")
    try:
        with decrypted(archive, row) as original:
            report("redacting", 0, 1)
            if kind == "image":
                with open(original, "rb") as src, open(out_path, "wb") as dst:
                    ops = redact_image(
                        src, dst, faces=faces, regions=regions, name=row["evidence_id"]
                    )
                ext = EXTENSIONS.get(row["media_type"], "png")
            elif kind == "video":
                ops = redact_video(
                    original,
                    out_path,
                    faces=faces,
                    regions=regions,
                    mute=mute,
                    progress=lambda d, t: report("frames", d, t),
                    name=row["evidence_id"],
                )
                ext = "mp4"
            else:
                ops = mute_audio(original, out_path, mute, name=row["evidence_id"])
                ext = "m4a"
        report("storing", 0, 1)
        stored = store_blob(
            archive,
            out_path,
            source=f"redacted copy of evidence {row['evidence_id']}",
            note=None,
            file_name=f"redacted-{row['evidence_id']}.{ext}",
        )
    finally:
        os.close(fd)
    assert stored.entry is not None and stored.result.evidence is not None
    operations = [op.as_json() for op in ops]
    result = {
        "original": row["evidence_id"],
        "copy": stored.result.evidence,
        "copy_sha256": stored.result.sha256,
        "media_type": stored.result.media_type,
        "operations": operations,
        "faces": sum(1 for o in operations if o.get("kind") == "face"),
    }
    # The detector misses faces (turned away, tiny, blurred, in shadow): say so plainly, so
    # that nobody publishes the copy believing its faces are covered.
    result["no_face_found"] = bool(faces and kind != "audio" and result["faces"] == 0)
    if stored.result.status == "received" and any(
        d["copy"] == stored.result.evidence for d in derived_from(archive, row["evidence_id"])
    ):
        # The same operations gave the same copy as before: it is already recorded.
        report("done", 1, 1)
        return {**result, "already": True}
    archive.append_batch(
        [
            stored.entry,
            (
                "redaction.made",
                {
                    "original": row["evidence_id"],
                    "original_sha256": row["sha256"],
                    "copy": stored.result.evidence,
                    "copy_sha256": stored.result.sha256,
                    "operations": operations,
                },
            ),
        ]
    )
    report("done", 1, 1)
    return result


def derived_from(archive: Archive, evidence_id: str) -> list[dict[str, Any]]:
    """The redacted copies of an item, and the item it was copied from (if any)."""
    import json

    row = resolve(archive, evidence_id)
    eid = row["evidence_id"]
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(derivations).where(
                (derivations.c.original_id == eid) | (derivations.c.copy_id == eid)
            )
        ).all()
    return [
        {
            "original": r.original_id,
            "copy": r.copy_id,
            "kind": r.kind,
            "operations": json.loads(r.operations),
            "seq": r.seq,
        }
        for r in rows
    ]


# --- thumbnails ------------------------------------------------------------------------


def _thumb_name(archive: Archive, sha256: str, idx: int) -> str:
    import hashlib
    import hmac

    key = archive.vault.subkey("blob-index")
    return hmac.new(key, f"thumbnail\n{sha256}\n{idx}".encode(), hashlib.sha256).hexdigest()


def make_thumbnails(
    archive: Archive, evidence_id: str, *, count: int = 5, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Thumbnails (pictures) or keyframes (videos), stored encrypted; made once."""
    from sahid.media.thumbs import image_thumbnail, video_keyframes

    report = progress or _quiet
    row = resolve(archive, evidence_id)
    _not_empty(row, "make thumbnails of")
    kind = _kind(row["media_type"])
    if kind == "audio":
        raise InputError("a sound recording has no pictures to make thumbnails of")
    existing = list_thumbnails(archive, row["evidence_id"])
    if existing:
        return existing
    with decrypted(archive, row) as original:
        report("decoding", 0, 1)
        if kind == "image":
            frames: list[tuple[int | None, bytes]] = [
                (None, image_thumbnail(original.read_bytes(), name=row["evidence_id"]))
            ]
        else:
            frames = [
                (ms, jpeg) for ms, jpeg in video_keyframes(original, count, name=row["evidence_id"])
            ]
    store = archive.blobs
    rows = []
    for idx, (ms, jpeg) in enumerate(frames):
        name = _thumb_name(archive, row["sha256"], idx)
        temp, out = store.new_temp()
        try:
            with out:
                pyrage.encrypt_io(io.BytesIO(jpeg), out, [archive.vault.identity.to_public()])
                out.flush()
                os.fsync(out.fileno())
            store.commit(temp, name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        rows.append({"evidence_id": row["evidence_id"], "idx": idx, "blob": name, "at_ms": ms})
        report("thumbnails", idx + 1, len(frames))
    with archive.engine.begin() as conn:
        conn.execute(delete(thumbnails).where(thumbnails.c.evidence_id == row["evidence_id"]))
        conn.execute(insert(thumbnails), rows)
    return list_thumbnails(archive, row["evidence_id"])


def list_thumbnails(archive: Archive, evidence_id: str) -> list[dict[str, Any]]:
    with archive.engine.connect() as conn:
        rows = conn.execute(
            select(thumbnails)
            .where(thumbnails.c.evidence_id == evidence_id)
            .order_by(thumbnails.c.idx)
        ).all()
    return [{"index": r.idx, "at_ms": r.at_ms, "blob": r.blob} for r in rows]


def read_thumbnail(archive: Archive, blob: str) -> bytes:
    buf = io.BytesIO()
    decrypt_blob(archive, blob, buf)
    return buf.getvalue()


# --- near-duplicates -------------------------------------------------------------------


def _cache_prefix() -> str:
    from sahid.media.phash import HASHES_VERSION

    return f"v{HASHES_VERSION} "


def _compute_hashes(archive: Archive, row: dict[str, Any]) -> list[int]:
    """Perceptual hashes of one item; InputError (naming the item) if it cannot be hashed."""
    from sahid.media.phash import WORK_SIDE, image_hashes, video_hashes
    from sahid.media.redact import _open_image

    eid = row["evidence_id"]
    kind = _kind(row["media_type"])
    if kind == "audio":
        raise InputError(f"{eid} is a sound recording: similar compares pictures and videos")
    with decrypted(archive, row) as original:
        if kind == "image":
            # the same guarded decoder as redaction: pixel limit, truncation, orientation
            image, _ = _open_image(original.read_bytes(), eid, draft=WORK_SIDE)
            return image_hashes(image)
        return video_hashes(original, name=eid)


def _hashes(archive: Archive, row: dict[str, Any]) -> list[int]:
    """The item's hashes, from the ``phashes`` cache or computed and cached.

    The cache holds ``v<version> <hex> <hex> ...``, or ``v<version> ! <reason>`` for an item
    that could not be hashed (raised again as InputError); rows of another version (older
    hashing) are computed anew.
    """
    eid = row["evidence_id"]
    prefix = _cache_prefix()
    with archive.engine.connect() as conn:
        cached = conn.execute(select(phashes.c.hashes).where(phashes.c.evidence_id == eid)).scalar()
    if cached is not None and str(cached).startswith(prefix):
        rest = str(cached)[len(prefix) :]
        if rest.startswith("! "):
            raise InputError(rest[2:])
        return [int(h, 16) for h in rest.split()]
    problem: InputError | None = None
    values: list[int] = []
    try:
        values = _compute_hashes(archive, row)
        text = prefix + " ".join(f"{v:016x}" for v in values)
    except InputError as exc:
        problem = exc
        text = prefix + "! " + " ".join(exc.message.split())
    with archive.engine.begin() as conn:
        conn.execute(delete(phashes).where(phashes.c.evidence_id == eid))
        conn.execute(insert(phashes), [{"evidence_id": eid, "hashes": text}])
    if problem is not None:
        raise problem
    return values


def find_similar(
    archive: Archive, evidence_id: str, *, max_distance: int = 10, progress: Progress | None = None
) -> dict[str, Any]:
    """Pictures and videos whose perceptual hashes are within ``max_distance`` bits.

    Returns ``{"evidence", "max_distance", "similar": [{"evidence", "distance"}],
    "skipped": [{"evidence", "reason"}]}``: other items that cannot be decoded (damaged,
    truncated, over the pixel limit) are skipped and listed, never fatal. The queried item
    itself must be a picture or video that can be hashed, else InputError.
    """
    from sahid.media.phash import similar

    report = progress or _quiet
    row = resolve(archive, evidence_id)
    eid = row["evidence_id"]
    _not_empty(row, "compare")
    _kind(row["media_type"])
    mine = _hashes(archive, row)
    with archive.engine.connect() as conn:
        others = [
            dict(r._mapping)
            for r in conn.execute(select(evidence).order_by(evidence.c.added_seq))
            if r.evidence_id != eid
            and (r.media_type in IMAGE_TYPES or r.media_type.startswith("video/"))
        ]
    candidates: dict[str, list[int]] = {}
    skipped: list[dict[str, str]] = []
    for i, other in enumerate(others):
        try:
            candidates[other["evidence_id"]] = _hashes(archive, other)
        except InputError as exc:
            skipped.append({"evidence": other["evidence_id"], "reason": exc.message})
        report("hashing", i + 1, len(others))
    return {
        "evidence": eid,
        "max_distance": max_distance,
        "similar": [
            {"evidence": e, "distance": d} for e, d in similar(mine, candidates, max_distance)
        ],
        "skipped": skipped,
    }


# --- web capture -----------------------------------------------------------------------


def capture_url(archive: Archive, url: str, *, progress: Progress | None = None) -> dict[str, Any]:
    """Capture a web page (WACZ with the screenshot inside) as one evidence item.

    The ``evidence.added`` entry's ``capture`` object records the URL, final URL, time,
    HTTP status and title, and the SHA-256 of the screenshot (``screenshot``) and of every
    member of the WACZ (``wacz_members``), so that each can be checked on its own.
    """
    from sahid.capture import capture, capture_bundle, capture_digests

    report = progress or _quiet
    result = capture(url, progress=lambda m: report(m, 0, 0))
    fd, path = memfd("sahid-capture")
    try:
        with open(path, "wb") as fh:
            fh.write(capture_bundle(result))
        stored = store_blob(
            archive,
            path,
            source=url,
            note=f"web capture of {result.final_url} at {result.captured_at} "
            f"(HTTP {result.status}, {result.resources} resources)",
            file_name=f"capture-{result.captured_at.replace(':', '')}.wacz",
        )
    finally:
        os.close(fd)
    assert stored.entry is not None
    kind, body = stored.entry
    body["metadata"] = {**body.get("metadata", {}), "capture": True}
    body["capture"] = {
        "url": result.url,
        "final_url": result.final_url,
        "captured_at": result.captured_at,
        "status": result.status,
        "title": result.title,
        **capture_digests(result),
    }
    archive.append(kind, body)
    return {**stored.result.as_json(), "capture": body["capture"]}


def _job_redact(archive: Archive, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    return redact(
        archive,
        params["evidence"],
        faces=bool(params.get("faces", True)),
        regions=[(r[0], r[1], r[2], r[3]) for r in params.get("regions", [])],
        mute=[(m[0], m[1]) for m in params.get("mute", [])],
        progress=progress,
    )


JOBS: dict[str, Callable[[Archive, dict[str, Any], Progress], Any]] = {
    "redact": _job_redact,
    "thumbs": lambda a, p, pr: make_thumbnails(a, p["evidence"], progress=pr),
    "similar": lambda a, p, pr: find_similar(a, p["evidence"], progress=pr),
    "capture": lambda a, p, pr: capture_url(a, p["url"], progress=pr),
}


def run_job(
    archive: Archive, name: str, params: dict[str, Any], progress: Progress | None = None
) -> Any:
    """Run a heavy job by name (what team mode's queue will call)."""
    job = JOBS.get(name)
    if job is None:
        raise InputError(f"unknown job {name!r}; jobs: {', '.join(sorted(JOBS))}")
    return job(archive, params, progress or _quiet)
