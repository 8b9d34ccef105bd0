"""Publishing commands: ``sahid publish``, ``verify-site``, ``package``, ``verify-package``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sahid.cli.common import ArchiveOpt, JsonOpt, MemberOpt, PassFileOpt, emit, open_archive


def verify_site(
    site: Annotated[Path, typer.Argument(help="A published sahid site (folder).")],
    json: JsonOpt = False,
) -> None:
    """Check a published site offline: signed manifest, checkpoints, tiles, entries, proofs."""
    from sahid.publish.proofs import verify_site as run

    report = run(site)
    data = report.as_json() if hasattr(report, "as_json") else dict(report.__dict__)
    emit(json, data, f"ok: {site} verifies ({', '.join(f'{k} {v}' for k, v in data.items())})")


def package(
    incident: Annotated[str, typer.Argument(help="Incident id.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The zip file to write (new).")],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """An evidence package for a lawyer or court: originals, custody, proofs, PDF summary."""
    from sahid.package import build_package

    with open_archive(archive, passphrase_file, member, write=False) as arc:
        summary = build_package(arc, incident, output)
    emit(json, summary, f"wrote {output}")


def verify_package(
    path: Annotated[Path, typer.Argument(help="An evidence package (zip).")],
    json: JsonOpt = False,
) -> None:
    """Check an evidence package offline; needs nothing but the package."""
    from sahid.package import verify_package as run

    summary = run(path)
    emit(
        json, summary, f"ok: {path} verifies ({', '.join(f'{k} {v}' for k, v in summary.items())})"
    )


def register(app: typer.Typer) -> None:
    app.command("verify-site")(verify_site)
    app.command("package")(package)
    app.command("verify-package")(verify_package)
