"""``sahid publish``: the site, its verification page in every language, and the proofs.

:func:`publish_site` renders the pages (:func:`sahid.publish.site.render_site`, protected
by default), the verification page, ``verify/`` (:func:`sahid.publish.proofs.make_proofs`)
and a manifest of every file signed with the log key, so ``sahid verify-site`` detects
any changed byte. Everything is staged next to the output folder and made live only when
complete (:class:`sahid.publish.output.SiteOutput`); re-publishing into an earlier sahid
site writes only the files whose bytes changed and removes only files sahid wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sahid.publish import model
from sahid.publish.output import SiteOutput
from sahid.publish.proofs import Proofs, bundle_path, make_proofs, manifest_files
from sahid.publish.site import SiteReport, check_langs, render_page, render_site

if TYPE_CHECKING:
    from sahid.archive import Archive


def publish_site(
    archive: Archive, out: Path, *, langs: list[str], include: list[str]
) -> dict[str, Any]:
    """Publish the site of ``archive`` into ``out`` (new, empty, or an earlier sahid site)."""
    check_langs(langs)
    model.check_include(include)
    out = Path(out)
    with SiteOutput(out) as output:
        w = output.writer
        made: list[Proofs] = []

        def proofs_and_verify_pages(report: SiteReport) -> None:
            """While the pages render: the proofs, then the verification page."""
            snapshot = archive.tree_snapshot()
            size = snapshot[1].size
            seqs = sorted(set(report.revealed))
            entries = {s: report.entries[s] for s in seqs if s in report.entries and s < size}
            entries.update(archive.entries([s for s in seqs if 0 <= s < size and s not in entries]))
            proofs = make_proofs(
                archive,
                revealed=report.revealed,
                derivations=report.derivations,
                file_sha256=w.sha256,
                snapshot=snapshot,
                entries=entries,
            )
            for rel, data in sorted(proofs.files.items()):
                w.bytes(rel, data)
            withheld = set(proofs.summary["withheld"])
            listed = [
                {
                    "seq": seq,
                    "kind": e.kind,
                    "withheld": seq in withheld,
                    "bundle": bundle_path(seq),
                }
                for seq, e in sorted(proofs.entries.items())
            ]
            sizes = [int(note.split("\n")[1]) for note in archive.checkpoints()]
            context = {
                "root": "../",
                "page": "verify.html",
                "langs_built": report.langs,
                "log_key": archive.log_key(),
                "checkpoints": sorted(set(sizes), reverse=True),
                "entries": listed,
                "derivations": report.derivations,
            }
            for lang in report.langs:
                w.text(f"{lang}/verify.html", render_page(lang, "verify.html", context))
            made.append(proofs)

        report = render_site(
            archive, w, langs=langs, include=include, meanwhile=proofs_and_verify_pages
        )
        (proofs,) = made
        size = proofs.summary["size"]
        for rel, data in manifest_files(archive.log_signer, size, w.hashes).items():
            w.bytes(rel, data)
        changed = len(w.changed)
        output.commit()
    return {
        "site": str(out),
        "incidents": len(report.incidents),
        "pages": len(report.pages),
        "media": len(report.media),
        "revealed": proofs.summary["revealed"],
        "withheld": proofs.summary["withheld"],
        "size": size,
        "files": len(w.hashes),
        "written": changed,
        "removed": len(output.removed),
        "incremental": not output.fresh,
    }
