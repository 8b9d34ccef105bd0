"""Entry point: ``sahid``. One ``except SahidError`` turns every failure into one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sahid.archive import Archive
from sahid.cli import anchors as anchors_cli
from sahid.cli import evidence as evidence_cli
from sahid.cli import log
from sahid.cli import media as media_cli
from sahid.cli import publish as publish_cli
from sahid.cli import records as records_cli
from sahid.cli import transfer as transfer_cli
from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    emit,
    open_archive,
    progress_bar,
    read_passphrase,
)
from sahid.config import KdfParams
from sahid.errors import SahidError
from sahid.keys import b64

app = typer.Typer(
    name="sahid",
    help="sahid (şahid, 'witness'): keep, prove and publish evidence of police violence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(log.app, name="log")
anchors_cli.register(log.app, app)
evidence_cli.register(app)
records_cli.register(app)
media_cli.register(app)
publish_cli.register(app)
transfer_cli.register(app)


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="New or empty folder for the archive.")],
    passphrase_file: PassFileOpt = None,
    name: Annotated[
        str, typer.Option("--name", help="Your member name (kept encrypted).")
    ] = "founder",
    kdf_memory: Annotated[
        int, typer.Option("--kdf-memory", help="Argon2id memory in KiB (floor 65536).")
    ] = KdfParams.memory_kib,
    kdf_time: Annotated[
        int, typer.Option("--kdf-time", help="Argon2id passes (floor 3).")
    ] = KdfParams.time_cost,
    kdf_parallelism: Annotated[
        int, typer.Option("--kdf-parallelism", help="Argon2id lanes.")
    ] = KdfParams.parallelism,
    json: JsonOpt = False,
) -> None:
    """Create an archive: keys, encrypted database, first signed entries."""
    passphrase = read_passphrase(passphrase_file, confirm=True)
    kdf = KdfParams(kdf_memory, kdf_time, kdf_parallelism)
    with Archive.init(directory, passphrase, name=name, kdf=kdf) as arc:
        data = {
            "archive": str(arc.root),
            "id": arc.config.archive_id,
            "origin": arc.config.origin,
            "member": arc.member.member_id,
            "log_key": arc.config.log_key,
            "size": arc.size,
        }
    emit(
        json,
        data,
        f"created archive {data['archive']}\n  id      {data['id']}\n  member  {data['member']}\n"
        f"  log key {data['log_key']}\n"
        "Keep your passphrase safe: without it nothing can be opened.",
    )


@app.command("verify")
def verify(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Check that blobs exist, without decrypting them.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Recompute every signature, hash, checkpoint, table and blob; exit 2 on tampering."""
    with (
        open_archive(archive, passphrase_file, member, write=False) as arc,
        progress_bar(not json) as bar,
    ):
        report = arc.verify(bar, quick=quick)
    emit(
        json,
        report.as_json(),
        f"ok: {report.size} entries, {report.checkpoints} checkpoints, root {b64(report.root)}\n"
        + "\n".join(f"  step {i}: {s} ✓" for i, s in enumerate(report.steps, 1))
        + "".join(f"\nnote: orphan {o} (run `sahid gc`)" for o in report.orphans)
        + (
            f"\nanchors: {report.anchors['rfc3161']} timestamp(s), "
            f"{report.anchors['cosignatures']} cosignature(s) verified; "
            f"{report.anchors['witnessed']} cosigned as a witness"
            if any(report.anchors.values())
            else ""
        ),
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    want_json = "--json" in args
    try:
        code = app(args=args, standalone_mode=False, prog_name="sahid")
        if isinstance(code, int) and code:
            sys.exit(code)  # a command's own typer.Exit(code): it already told the user
    except SahidError as exc:
        _fail(want_json, exc.diagnostics(), exc.message, exc.exit_code)
    except typer.Abort:
        _fail(want_json, {"error": "aborted", "message": "aborted", "exit_code": 1}, "aborted", 1)
    except typer.TyperException as exc:  # usage errors from the (vendored) click parser
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # type: ignore[attr-defined]
            sys.exit(0)
        fmt = getattr(exc, "format_message", None)
        msg = " ".join((fmt() if fmt else str(exc)).split())
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        _fail(want_json, {"error": "usage", "message": msg, "exit_code": 1}, msg + hint, 1)
    except KeyboardInterrupt:
        _fail(
            want_json,
            {"error": "interrupted", "message": "interrupted", "exit_code": 130},
            "interrupted",
            130,
        )
    sys.exit(0)


def _fail(want_json: bool, data: dict[str, object], message: str, code: int) -> None:
    if want_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
