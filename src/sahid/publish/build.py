"""``sahid publish``: the site, its verification page in every language, and the proofs.

:func:`sahid.publish.site.build_site` writes the pages (protected by default);
:func:`sahid.publish.proofs.write_proofs` adds ``verify/`` and signs a manifest of every
file with the log key, so ``sahid verify-site`` detects any changed byte.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sahid.publish.proofs import may_reveal, write_proofs
from sahid.publish.site import build_site, render_page

if TYPE_CHECKING:
    from sahid.archive import Archive


def publish_site(
    archive: Archive, out: Path, *, langs: list[str], include: list[str]
) -> dict[str, Any]:
    report = build_site(archive, out, langs=langs, include=include)
    entries = []
    for seq in sorted(set(report.revealed)):
        entry = archive.entry(seq)
        entries.append({"seq": seq, "kind": entry.kind, "withheld": may_reveal(entry) is not None})
    sizes = [int(note.split("\n")[1]) for note in archive.checkpoints()]
    context = {
        "root": "../",
        "page": "verify.html",
        "langs_built": report.langs,
        "log_key": archive.log_key(),
        "checkpoints": sorted(set(sizes), reverse=True),
        "entries": entries,
        "derivations": report.derivations,
    }
    for lang in report.langs:
        (out / lang / "verify.html").write_text(
            render_page(lang, "verify.html", context), encoding="utf-8"
        )
    proofs = write_proofs(archive, out, revealed=report.revealed, derivations=report.derivations)
    return {
        "site": str(out),
        "incidents": len(report.incidents),
        "pages": len(report.pages) + len(report.langs),
        "media": len(report.media),
        "revealed": proofs.get("revealed", []),
        "withheld": proofs.get("withheld", []),
        "size": proofs.get("size"),
    }
