"""Media protection commands: ``sahid redact``, ``thumbs``, ``similar``, ``capture``."""

from __future__ import annotations

import json as jsonlib
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    console,
    emit,
    open_archive,
    progress_bar,
    warn,
)
from sahid.errors import InputError

_TIME = re.compile(r"(?:(\d+):)?(?:(\d+):)?(\d+)(?:\.(\d{1,3}))?")


def parse_time(text: str, where: str) -> int:
    """``SS``, ``MM:SS`` or ``HH:MM:SS`` (optionally ``.mmm``) as milliseconds."""
    m = _TIME.fullmatch(text.strip())
    if m is None:
        raise InputError(f"{where}: {text!r} is not a time; write MM:SS or HH:MM:SS")
    parts = [int(p) for p in m.groups()[:3] if p is not None]
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds * 1000 + int((m.group(4) or "0").ljust(3, "0"))


def parse_range(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    if not sep:
        raise InputError(f"--mute {text!r}: write START-END, e.g. 00:10-00:25")
    a, b = parse_time(start, "--mute"), parse_time(end, "--mute")
    if b <= a:
        raise InputError(f"--mute {text!r}: the end must come after the start")
    return a, b


def parse_region(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"--region {text!r}: write x,y,w,h in pixels, e.g. 120,40,200,200")
    x, y, w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise InputError(f"--region {text!r}: width and height must be positive")
    return x, y, w, h


def redact(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id of the original.")],
    faces: Annotated[
        bool, typer.Option("--faces/--no-faces", help="Find and blur faces (default: on).")
    ] = True,
    region: Annotated[
        list[str] | None, typer.Option("--region", help="x,y,w,h to blur too (repeat).")
    ] = None,
    mute: Annotated[
        list[str] | None,
        typer.Option("--mute", help="Silence START-END, e.g. 00:10-00:25 (repeat)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Also write the redacted copy to this new file."),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Make a redacted copy (faces blurred, regions hidden, sound muted) as new evidence."""
    from sahid._internal.fsutil import check_new_output
    from sahid.protect import redact as run

    regions = [parse_region(r) for r in region or []]
    ranges = [parse_range(m) for m in mute or []]
    if output is not None:
        check_new_output(output)  # before the copy is made, stored and recorded
    with (
        open_archive(archive, passphrase_file, member, write=True) as arc,
        progress_bar(not json) as bar,
    ):
        done = run(
            arc,
            evidence_id,
            faces=faces,
            regions=regions,
            mute=ranges,
            progress=(lambda m, d, t: bar(m, d, t)) if bar else None,
        )
        if output is not None:
            arc.get(done["copy"], output)
    if done["no_face_found"]:
        warn(
            f"no face was found in {done['original']}: look at the copy {done['copy']} "
            "before publishing it, and cover any face the detector missed with --region"
        )
    emit(
        json,
        done,
        f"redacted copy {done['copy']} of {done['original']}: {done['faces']} face(s), "
        f"{len(done['operations'])} operation(s)" + (f"; written to {output}" if output else ""),
    )


def thumbs(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Also write the thumbnails into this new folder."),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Thumbnails of a picture or keyframes of a video, stored encrypted."""
    from sahid._internal.fsutil import check_new_output, new_output
    from sahid.protect import make_thumbnails, read_thumbnail

    if output is not None:
        check_new_output(output)  # before the thumbnails are made
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        made = make_thumbnails(arc, evidence_id)
        if output is not None:
            output.mkdir()
            for t in made:
                with new_output(output / f"thumb-{t['index']:02d}.jpg") as fh:
                    fh.write(read_thumbnail(arc, t["blob"]))
    rows = [{k: v for k, v in t.items() if k != "blob"} for t in made]
    emit(
        json,
        {"evidence": evidence_id, "thumbnails": rows},
        "\n".join(
            f"thumbnail {t['index']}" + (f" at {t['at_ms'] / 1000:.1f}s" if t["at_ms"] else "")
            for t in rows
        )
        + (f"\nwritten to {output}" if output else ""),
    )


def similar(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id of a picture or video.")],
    max_distance: Annotated[
        int, typer.Option("--max-distance", help="Largest pHash distance in bits (0-64).")
    ] = 10,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Near-duplicate pictures and videos in the archive (re-encoded, resized, cropped)."""
    from sahid.protect import find_similar

    if not 0 <= max_distance <= 64:
        raise InputError("--max-distance must be between 0 and 64")
    with (
        open_archive(archive, passphrase_file, member, write=True) as arc,
        progress_bar(not json) as bar,
    ):
        found = find_similar(arc, evidence_id, max_distance=max_distance, progress=bar)
    for s in found["skipped"]:
        warn(f"not compared: {s['reason']}")
    if json:
        sys.stdout.write(jsonlib.dumps(found, indent=2) + "\n")
        return
    if not found["similar"]:
        console.print(
            "no near-duplicates"
            + (
                f" ({len(found['skipped'])} item(s) could not be compared)"
                if found["skipped"]
                else ""
            ),
            markup=False,
        )
    for f in found["similar"]:
        console.print(f"{f['evidence']}  distance {f['distance']}", markup=False)


def capture(
    url: Annotated[str, typer.Argument(help="http(s) address of the page.")],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Save a web page (WARC/WACZ + full-page screenshot) as one evidence item."""
    from sahid.capture import preflight
    from sahid.protect import capture_url

    preflight(url)  # a bad URL or a missing Chromium: before the passphrase is asked for
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        done = capture_url(arc, url)
    emit(
        json,
        done,
        f"{done['status']} {done['evidence']}  {done['capture']['final_url']}  "
        f"HTTP {done['capture']['status']}  {done['capture']['title']}",
    )


def register(app: typer.Typer) -> None:
    app.command("redact")(redact)
    app.command("thumbs")(thumbs)
    app.command("similar")(similar)
    app.command("capture")(capture)
