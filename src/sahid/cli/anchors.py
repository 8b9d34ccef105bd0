"""Anchor commands: ``sahid log anchor|anchors|witness|witness-request|add-cosignature``
and ``sahid witness key|trust|ls|cosign`` (thin shells over :mod:`sahid.anchors`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sahid.cli.common import ArchiveOpt, JsonOpt, MemberOpt, PassFileOpt, emit, open_archive
from sahid.errors import InputError, NotFound

SizeOpt = Annotated[
    int | None,
    typer.Option(
        "--size", help="Checkpoint (tree size) to use (default: the newest).", show_default=False
    ),
]

witness_app = typer.Typer(
    help="Act as a witness of partners' logs: trust their log keys, cosign checkpoints.",
    no_args_is_help=True,
)
log_witness_app = typer.Typer(
    help="The witnesses this log takes cosignatures from.", no_args_is_help=True
)


def _read_input(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read ({exc.strerror})") from None


def _write_output(out: Path, data: bytes) -> None:
    from sahid._internal.fsutil import new_output

    with new_output(out) as fh:
        fh.write(data)


# -- sahid log ...: the log owner's side ------------------------------------------------------


def anchor(
    tsa: Annotated[
        str | None,
        typer.Option(
            "--tsa",
            help="TSA URL (default: each [[anchors.tsa]] in sahid.toml).",
            show_default=False,
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca", help="PEM or DER file of the TSA certificates to trust.", show_default=False
        ),
    ] = None,
    size: SizeOpt = None,
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            help="Require this signer subject (RFC 4514, e.g. 'CN=My TSA').",
            show_default=False,
        ),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Timestamp a checkpoint at an RFC 3161 TSA (a network call), verify it, record it."""
    from sahid.anchors.service import read_trust_file

    with open_archive(archive, passphrase_file, member, write=True) as arc:
        if tsa is not None:
            configured = {t.url: t.ca for t in arc.config.tsa}
            ca_path = ca or (arc.root / configured[tsa] if tsa in configured else None)
            targets = [(tsa, ca_path)]
        else:
            targets = [(t.url, ca or arc.root / t.ca) for t in arc.config.tsa]
        if not targets:
            raise InputError(
                "no TSA: pass --tsa URL --ca FILE, or add [[anchors.tsa]] to sahid.toml"
            )
        done = []
        for url, path in targets:
            if path is None:
                raise InputError(f"no trusted certificates for TSA {url}: pass --ca FILE")
            done.append(
                arc.anchors.timestamp(url, read_trust_file(path), size=size, subject=subject)
            )
    text = "\n".join(
        f"anchored checkpoint {d['size']} at {d['tsa']}: genTime {d['gen_time']}, "
        f"signed by {d['signer']} (entry {d['seq']})"
        for d in done
    )
    emit(json, done[0] if len(done) == 1 else {"anchors": done}, text)


def anchors_ls(
    size: Annotated[
        int | None,
        typer.Option("--size", help="Only anchors of this checkpoint.", show_default=False),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """List the recorded RFC 3161 timestamps and witness cosignatures of checkpoints."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        found = arc.anchors.recorded(size)
    lines = [
        f"{a['size']:>8}  {a['kind']:<11}  {a['time']}  {a['source']}  (entry {a['seq']})"
        for a in found
    ]
    emit(json, {"anchors": found}, "\n".join(lines) or "no anchors recorded")


def witness_add(
    vkey: Annotated[str, typer.Argument(help="The witness's key (name+keyid+base64, type 0x04).")],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Take cosignatures from this witness (recorded as a witness.added entry)."""
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        data = arc.anchors.add_witness(vkey)
    verb = "added" if data["added"] else "already known:"
    emit(json, data, f"{verb} witness {data['name']}")


def witness_ls(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """List the witnesses this log takes cosignatures from."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        found = arc.anchors.witnesses()
    lines = [f"{w['witness']}  cosigned up to {w['cosigned_size'] or 0}" for w in found]
    emit(json, {"witnesses": found}, "\n".join(lines) or "no witnesses known")


def witness_request(
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the request here (new file; default: stdout).",
            show_default=False,
        ),
    ] = None,
    witness: Annotated[
        str | None,
        typer.Option(
            "--witness", help="Witness (name or vkey) the request is for.", show_default=False
        ),
    ] = None,
    old: Annotated[
        int | None,
        typer.Option(
            "--old",
            help="Size the witness last cosigned (default: as recorded here, else 0).",
            show_default=False,
        ),
    ] = None,
    size: SizeOpt = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write a C2SP add-checkpoint request: checkpoint + consistency proof for a witness."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        request, data = arc.anchors.witness_request(witness=witness, old=old, size=size)
    body = request.render()
    if out is not None:
        _write_output(out, body)
        data["out"] = str(out)
        emit(
            json,
            data,
            f"wrote the request for checkpoint {data['size']} (from size {data['old']}) to {out}",
        )
    elif json:
        emit(json, {**data, "request": body.decode()}, "")
    else:
        sys.stdout.write(body.decode())


def add_cosignature(
    file: Annotated[
        Path,
        typer.Argument(
            help="The witness's cosignature line(s), or a cosigned checkpoint ('-': stdin)."
        ),
    ],
    witness_key: Annotated[
        list[str] | None,
        typer.Option(
            "--witness-key",
            help="A witness key to accept besides the known ones (repeat).",
            show_default=False,
        ),
    ] = None,
    size: SizeOpt = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Verify a witness's cosignature of a checkpoint and record it (checkpoint.cosigned)."""
    data = _read_input(file)
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        result = arc.anchors.add_cosignatures(data, witness_keys=witness_key or [], size=size)
    lines = [
        f"recorded the cosignature of checkpoint {a['size']} by "
        f"{a['witness'].split('+')[0]} (entry {a['seq']})"
        for a in result["added"]
    ]
    lines += [
        f"already recorded: checkpoint {s['size']} by {s['witness'].split('+')[0]}"
        for s in result["skipped"]
    ]
    lines += [f"ignored a line by unknown key {k}" for k in result["ignored"]]
    emit(json, result, "\n".join(lines))


# -- sahid witness ...: the partner's side ----------------------------------------------------


@witness_app.command("key")
def witness_key_cmd(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Print this archive's witness key (give it to the logs you witness)."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        key = arc.witness.key()
    emit(json, {"vkey": key.vkey, "name": key.name, "key_id": key.key_id.hex()}, key.vkey)


@witness_app.command("trust")
def witness_trust(
    vkey: Annotated[
        str, typer.Argument(help="The partner log's note key (`sahid log key` there).")
    ],
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin", help="The log's origin line (default: the key's name).", show_default=False
        ),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Witness the log with this key (recorded as a witness.trusted entry)."""
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        data = arc.witness.trust(vkey, origin)
    verb = "now witnessing" if data["added"] else "already witnessing"
    emit(json, data, f"{verb} {data['origin']}")


@witness_app.command("ls")
def witness_logs(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """List the logs this archive witnesses and the newest size it cosigned of each."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        found = arc.witness.logs()
    lines = [f"{x['origin']}  cosigned up to {x['size'] or 0}  key {x['log_key']}" for x in found]
    emit(json, {"logs": found}, "\n".join(lines) or "witnessing no log")


@witness_app.command("cosign")
def witness_cosign(
    request: Annotated[
        Path, typer.Argument(help="The request from `sahid log witness-request` ('-': stdin).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the cosignature line here (new file; default: stdout).",
            show_default=False,
        ),
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check a partner's checkpoint (signature, consistency) and cosign it, or refuse."""
    data = _read_input(request)
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        result: dict[str, Any] = arc.witness.cosign(data)
    line = result["cosignature"] + "\n"
    if out is not None:
        _write_output(out, line.encode())
        result["out"] = str(out)
        emit(json, result, f"cosigned {result['origin']} size {result['size']}; wrote {out}")
    elif json:
        emit(json, result, "")
    else:
        sys.stdout.write(line)


def register(log_app: typer.Typer, app: typer.Typer) -> None:
    log_app.command("anchor")(anchor)
    log_app.command("anchors")(anchors_ls)
    log_app.command("witness-request")(witness_request)
    log_app.command("add-cosignature")(add_cosignature)
    log_witness_app.command("add")(witness_add)
    log_witness_app.command("ls")(witness_ls)
    log_app.add_typer(log_witness_app, name="witness")
    app.add_typer(witness_app, name="witness")
