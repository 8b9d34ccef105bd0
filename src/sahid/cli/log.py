"""``sahid log …``: checkpoints, the log key, proofs and tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sahid._internal.note import Verifier
from sahid.cli.common import ArchiveOpt, JsonOpt, MemberOpt, PassFileOpt, emit, open_archive
from sahid.keys import b64

app = typer.Typer(
    help="The signed Merkle log: checkpoints, keys, proofs, tiles.", no_args_is_help=True
)
proof_app = typer.Typer(help="Inclusion and consistency proofs (RFC 9162).", no_args_is_help=True)
app.add_typer(proof_app, name="proof")


@app.command("checkpoint")
def checkpoint(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Print the latest checkpoint (C2SP signed note)."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        note = arc.checkpoint()
        cp = arc.ledger.open_checkpoint(note)
    data = {"origin": cp.origin, "size": cp.size, "root": b64(cp.root_hash), "note": note}
    emit(json, data, note.rstrip("\n"))


@app.command("key")
def key(archive: ArchiveOpt = None, json: JsonOpt = False) -> None:
    """Print the log's C2SP note verifier key (name+keyid+base64). No passphrase needed."""
    from sahid.cli.common import archive_dir
    from sahid.config import read_config

    vkey = read_config(archive_dir(archive)).log_key
    v = Verifier.parse(vkey)
    emit(json, {"vkey": vkey, "name": v.name, "key_id": v.key_id.hex()}, vkey)


@proof_app.command("inclusion")
def inclusion(
    index: Annotated[int, typer.Option("--index", help="Leaf index (0-based).")],
    size: Annotated[
        int | None, typer.Option("--size", help="Tree size (default: current).")
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Prove that entry INDEX is in the tree of size SIZE."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        p = arc.inclusion_proof(index, size)
    data = {
        "index": p.index,
        "size": p.size,
        "leaf_hash": b64(p.leaf_hash),
        "proof": [b64(h) for h in p.proof],
    }
    lines = [
        f"index {p.index}",
        f"size {p.size}",
        f"leaf_hash {b64(p.leaf_hash)}",
        f"root {b64(p.root)}",
    ]
    lines += [f"proof {b64(h)}" for h in p.proof]
    emit(json, data, "\n".join(lines))


@proof_app.command("consistency")
def consistency(
    old: Annotated[int, typer.Option("--old", help="Older tree size (>= 1).")],
    new: Annotated[
        int | None, typer.Option("--new", help="Newer tree size (default: current).")
    ] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Prove that the tree of size OLD is a prefix of the tree of size NEW."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        p = arc.consistency_proof(old, new)
    lines = [
        f"old {p.old}",
        f"new {p.new}",
        f"old_root {b64(p.old_root)}",
        f"new_root {b64(p.new_root)}",
    ]
    lines += [f"proof {b64(h)}" for h in p.proof]
    emit(json, p.as_json(), "\n".join(lines))


@app.command("tiles")
def tiles(
    out: Annotated[Path, typer.Argument(help="Folder to write tile/… and checkpoint into.")],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the log as C2SP tlog-tiles (hash tiles + checkpoint)."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        files, cp = arc.write_tiles(out)
    emit(
        json,
        {"out": str(out), "files": files, "size": cp.size, "root": b64(cp.root_hash)},
        f"wrote {files} files for tree size {cp.size} to {out}",
    )
