"""Options, passphrase input and output helpers shared by every command."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sahid.archive import Archive
from sahid.errors import InputError

console = Console(soft_wrap=True, highlight=False)

ArchiveOpt = Annotated[
    Path | None,
    typer.Option(
        "--archive",
        envvar="SAHID_ARCHIVE",
        help="Archive folder (default: $SAHID_ARCHIVE, else the current folder).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
PassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        envvar="SAHID_PASSPHRASE_FILE",
        help="Read the passphrase from this file (default: ask on the terminal).",
        show_default=False,
    ),
]
MemberOpt = Annotated[
    str | None,
    typer.Option(
        "--member", envvar="SAHID_MEMBER", help="Member id whose key to use.", show_default=False
    ),
]


def read_passphrase(path: Path | None, *, confirm: bool = False) -> bytes:
    """From a file (one trailing newline dropped) or the terminal; never from argv."""
    if path is not None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"passphrase file {path} does not exist") from None
        except OSError as exc:
            raise InputError(f"passphrase file {path} cannot be read ({exc.strerror})") from None
        if data.endswith(b"\r\n"):
            data = data[:-2]
        elif data.endswith(b"\n"):
            data = data[:-1]
        if not data:
            raise InputError(f"passphrase file {path} is empty; put the passphrase in it")
        return data
    if not sys.stdin.isatty():
        raise InputError(
            "no passphrase: run in a terminal, or pass --passphrase-file FILE "
            "(or set SAHID_PASSPHRASE_FILE)"
        )
    first = getpass.getpass("Passphrase: ").encode()
    if not first:
        raise InputError("the passphrase is empty")
    if confirm and getpass.getpass("Passphrase again: ").encode() != first:
        raise InputError("the two passphrases differ; nothing was created")
    return first


def archive_dir(path: Path | None) -> Path:
    return path if path is not None else Path(os.getcwd())


def open_archive(
    path: Path | None, passfile: Path | None, member: str | None, *, write: bool
) -> Archive:
    root = archive_dir(path)
    from sahid.config import read_config

    read_config(root)  # a folder that is not an archive fails before asking for a passphrase
    return Archive.open(root, read_passphrase(passfile), member=member, write=write)


def warn(message: str) -> None:
    """A one-line warning on stderr (stdout stays clean for --json)."""
    sys.stderr.write(f"warning: {message}\n")


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        console.print(text, markup=False)


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Any]:
    """A Rich progress callback ``(label, done, total)``; silent when not on a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(label: str, done: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    with bar:
        yield update
