"""Evidence commands: add, ls, show, get, gc, key export-vault."""

from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    console,
    emit,
    open_archive,
)

OutOpt = Annotated[Path, typer.Option("-o", "--output", help="File to write (must not exist).")]


def add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (folders recurse).")],
    source: Annotated[str | None, typer.Option("--source", help="Where it came from.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note kept with it.")] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Encrypt evidence into the vault and record it in the ledger."""
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        show = not json and sys.stderr.isatty()
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=True,
            disable=not show,
        )
        with bar:
            total = bar.add_task("total", total=_total_size(paths) if show else None)

            def on_file(path: Path, size: int) -> Any:
                task = bar.add_task(path.name[:40], total=size)

                def advance(n: int) -> None:
                    bar.advance(task, n)
                    bar.advance(total, n)

                return advance

            results = arc.add(paths, source=source, note=note, on_file=on_file)
    failed = [r for r in results if r.status == "failed"]
    if json:
        sys.stdout.write(
            jsonlib.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2) + "\n"
        )
    else:
        for r in results:
            if r.status in ("added", "received"):
                extra = "" if r.status == "added" else " (already in the vault: custody recorded)"
                console.print(
                    f"{r.status:8} {r.evidence}  {r.media_type}  {r.size} bytes  {r.path}{extra}",
                    markup=False,
                )
                for p in r.problems:
                    console.print(f"         warning: metadata: {p}", markup=False)
            else:
                sys.stderr.write(
                    f"{'error' if r.status == 'failed' else 'warning'}: {r.path}: {r.message}\n"
                )
    if failed:
        raise typer.Exit(1)


def _total_size(paths: list[Path]) -> int:
    """Bytes under ``paths`` for the total bar (a quick stat-only walk)."""
    from sahid.evidence import walk

    total = 0
    for path, warning in walk(paths):
        if warning is None:
            try:
                total += path.stat().st_size
            except OSError:
                pass
    return total


def ls(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """List evidence: id, type, size, sha256, when added, source."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        rows = arc.evidence_list()
    if json:
        sys.stdout.write(jsonlib.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table("id", "type", "size", "sha256", "added", "source")
    for r in rows:
        table.add_row(
            r["evidence_id"],
            r["media_type"],
            str(r["size"]),
            r["sha256"][:16] + "…",
            r["added_ts"][:19],
            r["source"] or "",
        )
    console.print(table)


def show(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id (or a unique prefix).")],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Facts, full extracted metadata and custody history of one evidence item."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        row = arc.evidence(evidence_id)
    if json:
        sys.stdout.write(jsonlib.dumps(row, ensure_ascii=False, indent=2) + "\n")
        return
    lines = [f"evidence   {row['evidence_id']}"]
    for key in ("sha256", "size", "media_type", "name", "name_b64", "source", "note", "added_ts"):
        if row.get(key) is not None:
            lines.append(f"{key:10} {row[key]}")
    lines.append(
        "metadata   "
        + jsonlib.dumps(row["metadata"], ensure_ascii=False, indent=2).replace(
            "\n", "\n           "
        )
    )
    for p in row["metadata_problems"]:
        lines.append(f"problem    {p}")
    lines.append("custody")
    for e in row["custody"]:
        lines.append(
            f"  entry {e['seq']}  {e['ts'][:19]}  {e['event']:8}  by {e['by']}"
            f"  source={e['source'] or '-'}  note={e['note'] or '-'}"
        )
    emit(False, {}, "\n".join(lines))


def get(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id (or a unique prefix).")],
    output: OutOpt,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Decrypt the original; its SHA-256 is checked before the file appears."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        info = arc.get(evidence_id, output)
    emit(json, info, f"wrote {info['out']} ({info['size']} bytes, sha256 {info['sha256']})")


def clean(
    evidence_id: Annotated[str, typer.Argument(help="Evidence id (or a unique prefix).")],
    output: OutOpt,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a copy with all identifying metadata removed (no re-encoding where possible)."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        info = arc.clean(evidence_id, output)
    emit(
        json,
        info,
        f"wrote {info['out']} ({info['method']}); "
        f"removed: {', '.join(info['removed']) or 'nothing'}",
    )


def gc(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Remove blobs and temp files that no ledger entry references (crash leftovers)."""
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        removed = arc.gc()
    emit(
        json,
        {"removed": removed},
        "\n".join(f"removed {r}" for r in removed) or "nothing to remove",
    )


key_app = typer.Typer(help="Keys of the archive.", no_args_is_help=True)


@key_app.command("export-vault")
def export_vault(
    output: OutOpt,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the vault's age identity to a file: it decrypts EVERY blob. Handle with care."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        path = arc.export_vault_identity(output)
    sys.stderr.write(
        "WARNING: this file decrypts every piece of evidence in the archive. Keep it offline,\n"
        "never send it over chat or e-mail, and delete it (shred) when you are done.\n"
    )
    emit(json, {"out": str(path)}, f"wrote {path}")


def register(app: typer.Typer) -> None:
    for fn in (add, ls, show, get, clean, gc):
        app.command(fn.__name__)(fn)
    app.add_typer(key_app, name="key")
