"""Publishing commands: ``sahid publish``, ``verify-site``, ``package``, ``verify-package``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    emit,
    open_archive,
    warn,
)
from sahid.errors import InputError

TsaCaOpt = Annotated[
    Path | None,
    typer.Option(
        "--tsa-ca",
        help="Trust only these TSA certificates (PEM/DER) for the RFC 3161 anchors.",
        show_default=False,
    ),
]
WitnessOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--witness",
        help="Trust only this witness key (vkey) for cosignatures (repeat).",
        show_default=False,
    ),
]


def _trust(tsa_ca: Path | None) -> list[object] | None:
    from sahid.anchors.service import read_trust_file

    return None if tsa_ca is None else list(read_trust_file(tsa_ca))


def _anchor_words(anchors: dict[str, object]) -> str:
    return f"anchors: {anchors['timestamps']} RFC 3161 timestamp(s), " + (
        f"{anchors['cosignatures']} witness cosignature(s)"
    )


def publish(
    output: Annotated[
        Path, typer.Argument(help="Site folder (new, empty, or an earlier sahid site).")
    ],
    lang: Annotated[
        str, typer.Option("--lang", help="Languages, comma-separated: az,ru,en.")
    ] = "az,ru,en",
    include: Annotated[
        str,
        typer.Option(
            "--include",
            help="Verification statuses to publish, comma-separated "
            "(unverified, corroborated, verified, disputed).",
        ),
    ] = "verified,corroborated",
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Publish incidents marked for publication as a verifiable static site."""
    from sahid.publish.build import publish_site

    langs = [x.strip() for x in lang.split(",") if x.strip()]
    statuses = [x.strip() for x in include.split(",") if x.strip()]
    if not langs:
        raise InputError("--lang: give at least one of az, ru, en")
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        summary = publish_site(arc, output, langs=langs, include=statuses)
    how = (
        f" ({summary['written']} of {summary['files']} files written, "
        f"{summary['removed']} removed; the rest were unchanged)"
        if summary["incremental"]
        else ""
    )
    emit(
        json,
        summary,
        f"published {summary['incidents']} incident(s), {summary['pages']} pages, "
        f"{summary['media']} redacted media file(s) to {output}{how}",
    )


KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        help="The log key you trust (its text, or a file holding it); it must match.",
    ),
]


def _trusted_key(key: str | None) -> str | None:
    """``--key`` as text: a verifier key itself, or the path of a file holding one."""
    if key is None or not Path(key).is_file():
        return key  # a wrong key is refused by the verifier, which names the file it checked
    try:
        return Path(key).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--key: cannot read {key} ({exc})") from None


def verify_site(
    site: Annotated[Path, typer.Argument(help="A published sahid site (folder).")],
    key: KeyOpt = None,
    tsa_ca: TsaCaOpt = None,
    witness: WitnessOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check a published site offline: signed manifest, checkpoints, tiles, entries, proofs."""
    from sahid.publish.proofs import verify_site as run

    report = run(site, key=_trusted_key(key), tsa_trust=_trust(tsa_ca), witnesses=witness)
    data = report.as_json()
    if data["unlisted"]:
        warn(
            f"{site}: not covered by the signed manifest, so not checked (not sahid's "
            f"files): {', '.join(data['unlisted'])}"
        )
    emit(
        json,
        data,
        f"ok: {site} verifies: {data['files']} files, {data['checkpoints']} checkpoints, "
        f"{len(data['revealed'])} revealed and {len(data['withheld'])} withheld entries, "
        f"{data['derivations']} redacted copies, {data['incidents']} incidents in "
        f"data/incidents.json matching their entries; tree size {data['size']}, "
        f"root {data['root']}\n"
        f"log key {data['key']} (compare it with the one the publishers gave you)\n"
        + _anchor_words(data["anchors"]),
    )


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
    key: KeyOpt = None,
    tsa_ca: TsaCaOpt = None,
    witness: WitnessOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check an evidence package offline; needs nothing but the package."""
    from sahid.package import verify_package as run

    summary = run(path, key=_trusted_key(key), tsa_trust=_trust(tsa_ca), witnesses=witness)
    facts = ", ".join(f"{k} {v}" for k, v in summary.items() if k != "anchors")
    emit(json, summary, f"ok: {path} verifies ({facts})\n" + _anchor_words(summary["anchors"]))


def register(app: typer.Typer) -> None:
    app.command("publish")(publish)
    app.command("verify-site")(verify_site)
    app.command("package")(package)
    app.command("verify-package")(verify_package)
