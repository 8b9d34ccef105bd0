"""Record commands: ``sahid incident|person|unit|act|detention|charge|case|statement|source
add|ls|show``, ``sahid link``, ``sahid update``, ``sahid person erase``, ``sahid search``.

The ``add`` commands are built from the field specs in :mod:`sahid.records.model`, so a
field added there gets its option, its help and its check everywhere at once.
"""

from __future__ import annotations

import inspect
import json as jsonlib
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from sahid.cli.common import (
    ArchiveOpt,
    JsonOpt,
    MemberOpt,
    PassFileOpt,
    console,
    emit,
    open_archive,
    warn,
)
from sahid.errors import InputError
from sahid.records.model import LANGS, SEALED_FIELDS, TYPES, Field, RecordType
from sahid.records.service import Created

# Options named for how people speak, where that differs from the field name.
OPTION_NAMES: dict[tuple[str, str], list[str]] = {
    ("incident", "start"): ["--date", "--start"],
    ("incident", "units"): ["--unit"],
    ("statement", "language"): ["--lang", "--language"],
    ("statement", "claims"): ["--claim"],
    ("case", "hearings"): ["--hearing"],
    ("case", "persons"): ["--person"],
    ("incident", "related"): ["--related"],
}
# Fields given as the first argument: `sahid unit add "State Traffic Police"`.
POSITIONAL = {"unit": "name", "source": "name"}
# Options the generic builder leaves out because the command adds friendlier ones.
REPLACED = {("person", "roles"), ("act", "perpetrator_unit"), ("act", "perpetrator")}

COMMON = [
    ("archive", ArchiveOpt, None),
    ("passphrase_file", PassFileOpt, None),
    ("member", MemberOpt, None),
    ("json", JsonOpt, False),
]


def _option_help(f: Field) -> str:
    text = f.help or f.name.replace("_", " ").capitalize() + "."
    if f.kind == "enum":
        text += f" One of: {', '.join(f.choices)}."
    if f.kind == "date":
        text += " YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM; ~ = approximate."
    if f.kind in ("refs", "claims", "hearings"):
        text += " Repeat for several."
    if f.kind == "hearings":
        text += " Write 'DATE note'."
    if f.kind == "ml":
        text += " In the language given by --text-lang."
    if f.required:
        text += " Required."
    return text


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


def field_params(rtype: RecordType) -> list[inspect.Parameter]:
    out: list[inspect.Parameter] = []
    for f in rtype.fields:
        if (rtype.name, f.name) in REPLACED or f.name == "pseudonym":
            continue
        names = OPTION_NAMES.get((rtype.name, f.name), ["--" + f.name.replace("_", "-")])
        py: Any = str | None
        default: Any = None
        if f.kind in ("refs", "claims", "hearings"):
            py, default = list[str] | None, None
        elif f.kind == "bool":
            py, default = bool, False
        elif f.kind == "int":
            py = int | None
        help_text = _option_help(f)
        if POSITIONAL.get(rtype.name) == f.name:
            argument = typer.Argument(help=help_text, show_default=False)
            out.insert(0, _param(f.name, Annotated[str, argument], ...))
            continue
        out.append(
            _param(
                f.name,
                Annotated[py, typer.Option(*names, help=help_text, show_default=False)],
                default,
            )
        )
        if f.kind == "place":
            out.append(
                _param(
                    f"{f.name}_district",
                    Annotated[
                        str | None,
                        typer.Option(
                            f"--{f.name}-district",
                            help="District the place lies in (helps resolve villages).",
                        ),
                    ],
                    None,
                )
            )
            out.append(
                _param(
                    f"{f.name}_detail",
                    Annotated[
                        str | None,
                        typer.Option(f"--{f.name}-detail", help="Street or landmark (free text)."),
                    ],
                    None,
                )
            )
    if any(f.kind == "ml" for f in rtype.fields if f.name != "translation"):
        out.append(
            _param(
                "text_lang",
                Annotated[
                    str,
                    typer.Option(
                        "--text-lang", help=f"Language of the texts given: {', '.join(LANGS)}."
                    ),
                ],
                "en",
            )
        )
    return out


EXTRA: dict[str, list[inspect.Parameter]] = {
    "person": [
        _param(
            "incident",
            Annotated[
                list[str], typer.Option("--incident", help="Incident id. Repeat with --role.")
            ],
            ...,
        ),
        _param(
            "role",
            Annotated[
                list[str],
                typer.Option(
                    "--role",
                    help="victim, witness, detainee, protester (sealed) or official (public); "
                    "one per --incident.",
                ),
            ],
            ...,
        ),
        _param(
            "name",
            Annotated[
                str | None,
                typer.Option("--name", help="Name: sealed, unless the person is an official."),
            ],
            None,
        ),
        _param(
            "contacts",
            Annotated[str | None, typer.Option("--contacts", help="Contacts (always sealed).")],
            None,
        ),
        _param(
            "notes",
            Annotated[str | None, typer.Option("--notes", help="Private notes (always sealed).")],
            None,
        ),
    ],
    "act": [
        _param(
            "perpetrator",
            Annotated[
                list[str] | None,
                typer.Option(
                    "--perpetrator",
                    help="Unit id or official's person id who did it (one of each at most).",
                ),
            ],
            None,
        )
    ],
}


def gather(rtype: RecordType, kw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The command's options as record fields (+ sealed fields for persons)."""
    lang = kw.pop("text_lang", "en")
    if lang not in LANGS:
        raise InputError(f"--text-lang: {lang!r} is not one of {', '.join(LANGS)}")
    fields: dict[str, Any] = {}
    for f in rtype.fields:
        if f.name not in kw or (rtype.name, f.name) in REPLACED:
            continue
        value = kw.pop(f.name)
        if f.kind == "place":
            district, detail = kw.pop(f"{f.name}_district"), kw.pop(f"{f.name}_detail")
            if value:
                value = {"name": value, "district": district, "detail": detail}
        if value is None or value == [] or (value is False and f.default is None):
            continue
        if f.kind == "ml":
            if f.name == "translation":
                value = dict(_lang_pair(v) for v in ([value] if isinstance(value, str) else value))
            else:
                value = {lang: value}
        fields[f.name] = value
    sealed = None
    if rtype.name == "person":
        incidents, roles = kw.pop("incident"), kw.pop("role")
        if len(incidents) != len(roles):
            raise InputError("--incident and --role: give one --role per --incident")
        fields["roles"] = [
            {"incident": i, "role": r} for i, r in zip(incidents, roles, strict=True)
        ]
        sealed = {k: kw.pop(k) for k in SEALED_FIELDS if kw.get(k)}
        for k in SEALED_FIELDS:
            kw.pop(k, None)
    if rtype.name == "act":
        for value in kw.pop("perpetrator") or []:
            fields.setdefault("_perpetrators", []).append(value)
    return fields, sealed


def _lang_pair(value: str) -> tuple[str, str]:
    lang, sep, text = value.partition(":")
    if not sep or lang not in LANGS:
        raise InputError(f"--translation: write LANG:TEXT with LANG one of {', '.join(LANGS)}")
    return lang, text


def make_add(rtype: RecordType) -> Callable[..., None]:
    def add(**kw: Any) -> None:
        common = {k: kw.pop(k) for k, _, _ in COMMON}
        rid = kw.pop("id")
        fields, sealed = gather(rtype, kw)
        with open_archive(
            common["archive"], common["passphrase_file"], common["member"], write=True
        ) as arc:
            perps = fields.pop("_perpetrators", [])
            for p in perps:
                found = arc.records.kind_of(p)
                if found == "unit":
                    fields["perpetrator_unit"] = p
                elif found == "person":
                    fields["perpetrator"] = p
                else:
                    raise InputError(f"--perpetrator: no unit or person with id {p!r}")
            created = arc.records.add(rtype.name, fields, rid=rid, sealed=sealed)
        report(created, rtype.name, common["json"])

    params = [
        _param(
            "id",
            Annotated[
                str | None,
                typer.Option("--id", help="Your own id (a-z, 0-9, . _ -); default: generated."),
            ],
            None,
        ),
        *field_params(rtype),
        *EXTRA.get(rtype.name, []),
        *(_param(n, a, d) for n, a, d in COMMON),
    ]
    add.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    add.__doc__ = f"Add a {rtype.name}: {rtype.help}"
    return add


def report(created: Created, what: str, as_json: bool) -> None:
    if not as_json:
        for w in created.warnings:
            warn(w)
    emit(
        as_json,
        {"ids": created.ids, "warnings": created.warnings},
        "\n".join(f"added {what} {i}" for i in created.ids),
    )


def make_ls(rtype: RecordType) -> Callable[..., None]:
    def ls(
        lang: Annotated[str, typer.Option("--lang", help="Language of titles: az, ru, en.")] = "en",
        archive: ArchiveOpt = None,
        passphrase_file: PassFileOpt = None,
        member: MemberOpt = None,
        json: JsonOpt = False,
    ) -> None:
        with open_archive(archive, passphrase_file, member, write=False) as arc:
            rows = arc.records.of_type(rtype.name, lang=lang)
        if json:
            sys.stdout.write(jsonlib.dumps(rows, ensure_ascii=False, indent=2) + "\n")
            return
        for r in rows:
            f = r["fields"]
            when = f.get("start") or f.get("date") or ""
            place = (f.get("place") or {}).get("name", "")
            extra = "  ".join(str(x) for x in (when, place, f.get("status", "")) if x)
            console.print(f"{r['id']:24} {r['title'][:60]:60} {extra}", markup=False)

    ls.__doc__ = f"List {rtype.name} records."
    return ls


def make_show(rtype: RecordType) -> Callable[..., None]:
    def show(
        record_id: Annotated[str, typer.Argument(help="The record's id.")],
        reveal: Annotated[
            bool, typer.Option("--reveal", help="Open a person's sealed fields (name, contacts).")
        ] = False,
        archive: ArchiveOpt = None,
        passphrase_file: PassFileOpt = None,
        member: MemberOpt = None,
        json: JsonOpt = False,
    ) -> None:
        with open_archive(archive, passphrase_file, member, write=False) as arc:
            data = arc.records.get(record_id, reveal=reveal, rtype=rtype.name)
        emit(json, data, render(data))

    show.__doc__ = f"Show one {rtype.name} with everything recorded about it."
    return show


def render(data: dict[str, Any]) -> str:
    lines = [f"{data['type']} {data['id']}: {data['title']}"]
    for key, value in data["fields"].items():
        lines.append(f"  {key:16} {_plain(value)}")
    if "sealed" in data:
        sealed = data["sealed"]
        if isinstance(sealed, dict):
            lines += [f"  sealed.{k:9} {v}" for k, v in sealed.items()]
        else:
            lines.append(
                f"  sealed           ({sealed}; --reveal opens it)"
                if sealed == "sealed"
                else "  sealed           (erased: unrecoverable)"
            )
    for link in data.get("links", []):
        claim = f" claim {link['claim']}" if link.get("claim") else ""
        lines.append(
            f"  evidence {link['evidence']} {link['relation']}{claim}"
            f" ({link['status']}) [{link['id']}]"
        )
    for rel in data.get("related", []):
        lines.append(f"  {rel['type']:10} {rel['id']}  {rel['title']}")
    return "\n".join(lines)


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return "  ".join(f"[{k}] {_plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_plain(v) for v in value)
    return str(value)


def erase(
    person_id: Annotated[str, typer.Argument(help="The person's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Destroy a person's sealed name, contacts and notes for ever (the ledger stays valid)."""
    if not yes:
        if not sys.stdin.isatty():
            raise InputError("erase cannot be undone: confirm with --yes")
        typer.confirm(f"Erase the sealed fields of {person_id} for ever?", abort=True)
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        arc.records.erase(person_id)
    emit(json, {"erased": person_id}, f"erased {person_id}: its sealed fields are unrecoverable")


def link(
    evidence: Annotated[str, typer.Argument(help="Evidence id (see `sahid ls`) or sha256:HEX.")],
    incident: Annotated[
        str | None, typer.Option("--incident", help="Incident it documents.")
    ] = None,
    statement: Annotated[
        str | None, typer.Option("--statement", help="Statement it bears on.")
    ] = None,
    claim: Annotated[
        int | None, typer.Option("--claim", help="The statement's claim number.")
    ] = None,
    supports: Annotated[bool, typer.Option("--supports", help="It supports the claim.")] = False,
    contradicts: Annotated[
        bool, typer.Option("--contradicts", help="It contradicts the claim.")
    ] = False,
    status: Annotated[
        str, typer.Option("--status", help="unverified, corroborated, verified or disputed.")
    ] = "unverified",
    note: Annotated[str | None, typer.Option("--note", help="Why (kept in the archive).")] = None,
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Link evidence to an incident, or to a statement's claim it supports or contradicts."""
    if (incident is None) == (statement is None):
        raise InputError("give exactly one of --incident or --statement")
    if supports and contradicts:
        raise InputError("give --supports or --contradicts, not both")
    if incident is not None and (claim is not None or supports or contradicts):
        raise InputError("--claim, --supports and --contradicts go with --statement")
    if (supports or contradicts) and claim is None:
        raise InputError("--supports/--contradicts need --claim N (the claim's number)")
    relation = "supports" if supports else "contradicts" if contradicts else "documents"
    fields: dict[str, Any] = {
        "evidence": evidence,
        "target": incident or statement,
        "relation": relation,
        "status": status,
    }
    if claim is not None:
        fields["claim"] = claim
    if note:
        fields["note"] = note
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        created = arc.records.add("link", fields)
    report(created, "link", json)


def update(
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    assignments: Annotated[
        list[str],
        typer.Option(
            "--set",
            help="FIELD=VALUE (repeat; empty VALUE clears; lists use ';'; a person's "
            "name, contacts and notes are sealed, an official's name is public).",
        ),
    ],
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Change fields of any record (incident status, link status, ...); one ledger entry."""
    fields: dict[str, Any] = {}
    for a in assignments:
        key, sep, value = a.partition("=")
        if not sep:
            raise InputError(f"--set {a!r}: write FIELD=VALUE")
        key = key.strip()
        if key.count(".") == 1 and key.split(".")[1] in LANGS:
            base, lang = key.split(".")
            fields.setdefault(base, {})[lang] = value
        else:
            fields[key] = value if value != "" else None
    with open_archive(archive, passphrase_file, member, write=True) as arc:
        sealed: dict[str, str | None] = {}
        if arc.records.kind_of(record_id) == "person":  # other records' names are fields
            sealed = {k: fields.pop(k) for k in SEALED_FIELDS if k in fields}
        if any(isinstance(v, dict) for v in fields.values()):
            current = arc.records.get(record_id)["fields"]
            for k, v in fields.items():
                if isinstance(v, dict):
                    fields[k] = {**current.get(k, {}), **v}
        created = arc.records.update(record_id, fields, sealed=sealed or None)
    for w in created.warnings:
        warn(w)
    emit(json, {"updated": record_id}, f"updated {record_id}")


def register(app: typer.Typer) -> None:
    for rtype in TYPES.values():
        if rtype.name == "link":
            continue
        sub = typer.Typer(
            help=f"{rtype.name.capitalize()} records: {rtype.help}", no_args_is_help=True
        )
        sub.command("add")(make_add(rtype))
        sub.command("ls")(make_ls(rtype))
        sub.command("show")(make_show(rtype))
        if rtype.name == "person":
            sub.command("erase")(erase)
        app.add_typer(sub, name=rtype.name)
    app.command("link")(link)
    app.command("update")(update)
    app.command("search")(search)


def search(
    query: Annotated[str, typer.Argument(help="Words, in any of az/ru/en spellings.")] = "",
    place: Annotated[
        str | None, typer.Option("--place", help="Only in this place (and what lies within it).")
    ] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="From this date (YYYY[-MM[-DD]]).")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Up to this date (YYYY[-MM[-DD]]).")
    ] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Incident type (repeat for several).")
    ] = None,
    units: Annotated[
        list[str] | None, typer.Option("--unit", help="Unit id or name; includes its subunits.")
    ] = None,
    charges: Annotated[
        list[str] | None, typer.Option("--charge", help="Charge label or article, e.g. 221.3.")
    ] = None,
    statuses: Annotated[
        list[str] | None, typer.Option("--status", help="Verification status of incidents.")
    ] = None,
    kinds: Annotated[
        list[str] | None,
        typer.Option("--kind", help="Only these record kinds: incident, statement, evidence, ..."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many results.", min=1, max=1000)] = 20,
    ranking: Annotated[
        str,
        typer.Option(
            "--ranking",
            help="window: rank the newest 200 matches (fast); all: rank every match (slower).",
        ),
    ] = "window",
    archive: ArchiveOpt = None,
    passphrase_file: PassFileOpt = None,
    member: MemberOpt = None,
    json: JsonOpt = False,
) -> None:
    """Search incidents, statements, records and evidence notes; ranked, with snippets."""
    with open_archive(archive, passphrase_file, member, write=False) as arc:
        filters = arc.records.filters(
            place=place,
            date_from=date_from,
            date_to=date_to,
            types=types or (),
            units=units or (),
            charges=charges or (),
            statuses=statuses or (),
            kinds=kinds or (),
        )
        hits = arc.records.search(query, filters, limit=limit, ranking=ranking)
    if json:
        sys.stdout.write(
            jsonlib.dumps([h.as_json() for h in hits], ensure_ascii=False, indent=2) + "\n"
        )
        return
    if not hits:
        console.print("no results", markup=False)
    for h in hits:
        console.print(f"{h.type:10} {h.id:24} {h.title[:70]}", markup=False)
        if h.snippet:
            console.print(f"           {h.snippet}", markup=False)
