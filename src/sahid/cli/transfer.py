"""``sahid import``, ``sahid export``, ``sahid demo`` and ``sahid upgrade``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    archive_dir,
    emit,
    open_archive,
    read_passphrase,
    warn,
)
from sahid.errors import InputError


def import_(
    files: Annotated[
        list[Path], typer.Argument(help="JSON or CSV files (CSV named like incidents.csv).")
    ],
    rtype: Annotated[
        str | None, typer.Option("--type", help="Record type of CSV files with other names.")
    ] = None,
    allow_duplicates: Annotated[
        bool,
        typer.Option(
            "--allow-duplicates",
            help="Import rows even if the same rows were imported before (new records).",
        ),
    ] = False,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Import records from JSON or CSV: all rows in one transaction, or none.

    Rows imported before are refused (same fields, with or without ids), unless
    --allow-duplicates is given.
    """
    from sahid.records.transfer import import_files

    with open_archive(archive, passphrase_file, member, write=True) as arc:
        ids, warnings = import_files(arc, files, rtype, allow_duplicates=allow_duplicates)
    if not json:
        for w in warnings:
            warn(w)
    emit(
        json,
        {"imported": len(ids), "ids": ids, "warnings": warnings},
        f"imported {len(ids)} records",
    )


def export(
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="File (.json, or .csv with --type) or new folder for CSV."
        ),
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="json, csv, geojson (incidents as points) or ftm (FollowTheMoney entities).",
        ),
    ] = "json",
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only these record types (repeat).")
    ] = None,
    include_sealed: Annotated[
        bool,
        typer.Option(
            "--include-sealed",
            help="Also write persons' sealed names, contacts and notes IN PLAIN TEXT.",
        ),
    ] = False,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Export records as JSON or CSV (the import format; see docs/records.md)."""
    from sahid._internal.fsutil import new_output
    from sahid.records.model import TYPES
    from sahid.records.transfer import (
        ORDER,
        PLURAL,
        export_records,
        to_csv,
        to_geojson,
        to_json,
    )

    if fmt not in ("json", "csv", "geojson", "ftm"):
        raise InputError(f"--format: {fmt!r} is not json, csv, geojson or ftm")
    if fmt == "ftm":
        if include_sealed:
            raise InputError("--format ftm never holds sealed fields: drop --include-sealed")
        if types:
            raise InputError("--format ftm exports every record type: drop --type")
        from sahid.records.ftm import archive_records, entities, to_lines

        with open_archive(archive, passphrase_file, member, write=False) as arc:
            found = list(entities(archive_records(arc)))
        with new_output(output) as fh:
            fh.write(to_lines(found).encode())
        emit(
            json,
            {"entities": len(found), "files": [str(output)]},
            f"exported {len(found)} FollowTheMoney entities to {output}",
        )
        return
    if include_sealed:
        warn(
            "the export will hold victims' and witnesses' names IN PLAIN TEXT; "
            "keep it encrypted, never send it unencrypted"
        )
    wanted = tuple(types or ORDER)
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        data = export_records(arc, wanted, include_sealed=include_sealed)
    noted = sum(1 for items in data.values() for item in items if item.get("note"))
    if noted and fmt != "geojson":  # GeoJSON never carries notes
        warn(
            f"{noted} record(s) carry private notes, written IN PLAIN TEXT; "
            "keep the export encrypted, or remove the notes before sharing it"
        )
    written: list[str] = []
    if fmt == "json":
        with new_output(output) as fh:
            fh.write(to_json(data).encode())
        written.append(str(output))
    elif fmt == "geojson":
        if wanted != ("incident",):
            raise InputError("--format geojson exports incidents: add --type incident")
        with new_output(output) as fh:
            fh.write(to_geojson(data["incident"]).encode())
        written.append(str(output))
    elif output.suffix.lower() == ".csv":
        if len(wanted) != 1:
            raise InputError("-o FILE.csv holds one record type: add --type, or give a folder")
        with new_output(output) as fh:
            fh.write(
                to_csv(TYPES[wanted[0]], data[wanted[0]], include_sealed=include_sealed).encode()
            )
        written.append(str(output))
    else:
        if output.exists():
            raise InputError(f"{output} exists; give a new folder")
        output.mkdir(parents=False)
        for t, items in data.items():
            path = output / f"{PLURAL[t]}.csv"
            with new_output(path) as fh:
                fh.write(to_csv(TYPES[t], items, include_sealed=include_sealed).encode())
            written.append(str(path))
    count = sum(len(v) for v in data.values())
    emit(
        json,
        {"records": count, "files": written},
        f"exported {count} records to {', '.join(written)}",
    )


def demo(
    directory: Annotated[Path, typer.Argument(help="New or empty folder for the demo archive.")],
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="cases.json to build from (default: the bundled sample)."),
    ] = None,
    passphrase_file: PassFileOpt = None,
    json: JsonOpt = False,
) -> None:
    """Build a demo archive from the sample cases, with synthetic (labelled) evidence."""
    from sahid.demo import build_demo

    passphrase = read_passphrase(passphrase_file, confirm=True)
    summary = build_demo(directory, passphrase, sample=sample)
    emit(
        json,
        summary,
        f"demo archive {summary['archive']}: "
        + ", ".join(f"{n} {k}" for k, n in summary["counts"].items())
        + f"; {summary['entries']} ledger entries",
    )


def upgrade(
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Bring an archive made by an older sahid to this version's database schema."""
    from sahid.archive import Archive

    root = archive_dir(archive)
    before, after = Archive.upgrade(root, read_passphrase(passphrase_file), member=member)
    emit(
        json,
        {"from": before, "to": after},
        f"schema {before} → {after}" if before != after else f"already at schema {after}",
    )


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
    app.command("demo")(demo)
    app.command("upgrade")(upgrade)
