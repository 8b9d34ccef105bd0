"""Tamper suite: hundreds of distinct tamperings, each detected and located by verify.

One pristine archive (32 entries, 11 checkpoints) is copied for every mutation. Each
mutation is what an attacker could do to a seized or stolen copy: flip bits in any
stored entry, hash, subtree hash, signature or checkpoint; delete, reorder, duplicate or
truncate entries; roll back to an older checkpoint; replace key files, the vault file,
the configuration, or raw database bytes. Database-level mutations are made as an
insider who holds the database key (the strongest attacker short of a member's
passphrase); file-level mutations need no key at all.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sahid import Archive, SahidError, VerificationError
from sahid.records.search import recount_terms

from conftest import FAST_KDF, PASSPHRASE, fill

ENTRIES = 30  # plus the two genesis entries
BATCH = 3


@dataclass(frozen=True)
class Mutation:
    name: str
    expect: str  # the place the error message must name
    db: Callable[[object], None] | None = None  # SQL on an insider connection
    insider: Callable[[object, Archive], None] | None = None  # rewrite with the archive's keys
    files: Callable[[Path, Path], None] | None = None  # (archive root, spare archive root)


def _flip(data: bytes, pos: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[pos % len(b)] ^= 1 << bit
    return bytes(b)


def _sql(statement: str, *params: object) -> Callable[[object], None]:
    def run(conn: object) -> None:
        conn.exec_driver_sql(statement, params)  # type: ignore[attr-defined]

    return run


def _update_blob(
    column: str, seq: int, change: Callable[[bytes], bytes]
) -> Callable[[object], None]:
    """Change ``sealed`` (entries table) or ``hashes`` (tree table) of one row."""
    table = "entries" if column == "sealed" else "tree"

    def run(conn: object) -> None:
        c: Any = conn
        old = c.exec_driver_sql(f"SELECT {column} FROM {table} WHERE seq = ?", (seq,)).scalar()
        c.exec_driver_sql(
            f"UPDATE {table} SET {column} = ? WHERE seq = ?", (change(bytes(old)), seq)
        )

    return run


def set_leaf(conn: Any, seq: int, leaf: bytes) -> None:
    _update_blob("hashes", seq, lambda old: leaf + old[32:])(conn)


def _update_note(size: int, change: Callable[[str], str]) -> Callable[[object], None]:
    def run(conn: object) -> None:
        old = conn.exec_driver_sql("SELECT note FROM checkpoints WHERE size = ?", (size,)).scalar()  # type: ignore[attr-defined]
        conn.exec_driver_sql("UPDATE checkpoints SET note = ? WHERE size = ?", (change(old), size))  # type: ignore[attr-defined]

    return run


def _swap(
    a: int, b: int, tables: tuple[str, ...] = ("entries", "tree")
) -> Callable[[object], None]:
    def run(conn: object) -> None:
        c = conn  # type: ignore[assignment]
        for t in tables:
            c.exec_driver_sql(f"UPDATE {t} SET seq = -1 WHERE seq = ?", (a,))  # type: ignore[attr-defined]
            c.exec_driver_sql(f"UPDATE {t} SET seq = ? WHERE seq = ?", (a, b))  # type: ignore[attr-defined]
            c.exec_driver_sql(f"UPDATE {t} SET seq = ? WHERE seq = -1", (b,))  # type: ignore[attr-defined]

    return run


def _copy_row(src: int, dst: int) -> Callable[[object], None]:
    def run(conn: object) -> None:
        _sql(
            "UPDATE entries SET sealed = (SELECT sealed FROM entries WHERE seq = ?1) "
            "WHERE seq = ?2",
            src,
            dst,
        )(conn)
        _sql(
            "UPDATE tree SET hashes = (SELECT hashes FROM tree WHERE seq = ?1) WHERE seq = ?2",
            src,
            dst,
        )(conn)

    return run


def _resealed(seq: int, change: Callable[[dict], dict]) -> Callable[[object], None]:
    """An insider with the database key rewrites an entry and fixes its leaf hash."""

    def run(conn: object, arc: Archive) -> None:
        from sahid._internal.canonical import canonical_json, parse_canonical
        from sahid._internal.merkle import leaf_hash

        sealed = conn.exec_driver_sql("SELECT sealed FROM entries WHERE seq = ?", (seq,)).scalar()  # type: ignore[attr-defined]
        doc = change(parse_canonical(arc.ledger.sealer.open(seq, sealed)))
        data = canonical_json(doc)
        conn.exec_driver_sql(  # type: ignore[attr-defined]
            "UPDATE entries SET sealed = ? WHERE seq = ?", (arc.ledger.sealer.seal(seq, data), seq)
        )
        set_leaf(conn, seq, leaf_hash(data))

    return run


def _edit_body(doc: dict) -> dict:
    doc["body"] = {**doc["body"], "forged": "police were not there"}
    return doc


def _resign_with_stranger(doc: dict) -> dict:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    doc["body"] = {**doc["body"], "forged": True}
    doc["sig"] = base64.b64encode(Ed25519PrivateKey.generate().sign(b"x")).decode()
    return doc


def _edit_note_line(line_no: int, edit: Callable[[str], str]) -> Callable[[str], str]:
    def change(note: str) -> str:
        lines = note.split("\n")
        lines[line_no] = edit(lines[line_no])
        return "\n".join(lines)

    return change


def _flip_char(s: str, pos: int) -> str:
    c = s[pos]
    return s[:pos] + ("A" if c != "A" else "B") + s[pos + 1 :]


def _flip_file(rel: str, pos: int) -> Callable[[Path, Path], None]:
    def run(root: Path, _spare: Path) -> None:
        path = next(root.glob(rel))
        path.write_bytes(_flip(path.read_bytes(), pos))

    return run


def _replace_key_file(root: Path, spare: Path) -> None:
    mine = next((root / "keys").glob("*.key"))
    theirs = next((spare / "keys").glob("*.key"))
    doc = json.loads(theirs.read_text())
    doc["member"] = mine.stem  # keep our member's name so the file is picked up
    mine.write_text(json.dumps(doc))


def _replace_key_and_vault(root: Path, spare: Path) -> None:
    for p in (root / "keys").iterdir():
        p.unlink()
    for p in (spare / "keys").iterdir():
        shutil.copy(p, root / "keys" / p.name)


def _replace_vault(root: Path, spare: Path) -> None:
    mine = next((root / "keys").glob("*.vault"))
    mine.write_bytes(next((spare / "keys").glob("*.vault")).read_bytes())


def _config_field(field: str, value_from_spare: bool = True) -> Callable[[Path, Path], None]:
    def run(root: Path, spare: Path) -> None:
        import tomllib

        import tomli_w

        mine = tomllib.loads((root / "sahid.toml").read_text())
        theirs = tomllib.loads((spare / "sahid.toml").read_text())
        mine["archive"][field] = theirs["archive"][field]
        (root / "sahid.toml").write_text(tomli_w.dumps(mine))

    return run


def mutations(size: int, cp_sizes: list[int], node_rows: list[int], db_len: int) -> list[Mutation]:
    m: list[Mutation] = []
    for seq in range(size):
        e = f"entry {seq}"
        m.append(
            Mutation(
                f"sealed-nonce-bit-{seq}", e, db=_update_blob("sealed", seq, lambda b: _flip(b, 3))
            )
        )
        m.append(
            Mutation(
                f"sealed-body-bit-{seq}",
                e,
                db=_update_blob("sealed", seq, lambda b: _flip(b, 40, 5)),
            )
        )
        m.append(
            Mutation(
                f"sealed-tag-bit-{seq}",
                e,
                db=_update_blob("sealed", seq, lambda b: _flip(b, -1, 7)),
            )
        )
        m.append(
            Mutation(f"sealed-truncated-{seq}", e, db=_update_blob("sealed", seq, lambda b: b[:-5]))
        )
        m.append(
            Mutation(
                f"leaf-hash-bit-{seq}",
                e,
                db=_update_blob("hashes", seq, lambda b: _flip(b, 17, 2)),
            )
        )
        m.append(Mutation(f"delete-{seq}", e, db=_sql("DELETE FROM entries WHERE seq = ?", seq)))
        m.append(Mutation(f"delete-tree-{seq}", e, db=_sql("DELETE FROM tree WHERE seq = ?", seq)))
        m.append(
            Mutation(
                f"delete-both-{seq}",
                e if seq < size - 1 else f"checkpoint {size}",
                db=lambda conn, seq=seq: (
                    _sql("DELETE FROM entries WHERE seq = ?", seq)(conn),
                    _sql("DELETE FROM tree WHERE seq = ?", seq)(conn),
                ),
            )
        )
        if seq < size - 1:
            m.append(Mutation(f"swap-{seq}-{seq + 1}", e, db=_swap(seq, seq + 1)))
            m.append(Mutation(f"swap-tree-{seq}-{seq + 1}", e, db=_swap(seq, seq + 1, ("tree",))))
            m.append(
                Mutation(
                    f"duplicate-{seq}-onto-{seq + 1}",
                    f"entry {seq + 1}",
                    db=_copy_row(seq, seq + 1),
                )
            )
        m.append(Mutation(f"resealed-forged-body-{seq}", e, insider=_resealed(seq, _edit_body)))
        m.append(
            Mutation(
                f"resealed-stranger-sig-{seq}", e, insider=_resealed(seq, _resign_with_stranger)
            )
        )
        if seq in node_rows:
            m.append(
                Mutation(
                    f"subtree-hash-bit-{seq}",
                    e,
                    db=_update_blob("hashes", seq, lambda b: _flip(b, 32 + 5, 1)),
                )
            )
            m.append(
                Mutation(
                    f"subtree-hash-dropped-{seq}",
                    e,
                    db=_update_blob("hashes", seq, lambda b: b[:-32]),
                )
            )
        else:
            m.append(
                Mutation(
                    f"subtree-hash-added-{seq}",
                    e,
                    db=_update_blob("hashes", seq, lambda b: b + bytes(32)),
                )
            )
    m.append(
        Mutation(
            "duplicate-last-appended",
            f"entry {size}",
            db=lambda conn: (
                _sql(
                    "INSERT INTO entries SELECT ?, sealed FROM entries WHERE seq = ?",
                    size,
                    size - 1,
                )(conn),
                _sql("INSERT INTO tree SELECT ?, hashes FROM tree WHERE seq = ?", size, size - 1)(
                    conn
                ),
            ),
        )
    )
    for cp in cp_sizes:
        c = f"checkpoint {cp}"
        m.append(
            Mutation(
                f"cp-origin-{cp}", c, db=_update_note(cp, _edit_note_line(0, lambda s: s + "x"))
            )
        )
        m.append(
            Mutation(
                f"cp-size-{cp}",
                c,
                db=_update_note(cp, _edit_note_line(1, lambda s: str(int(s) + 1))),
            )
        )
        m.append(
            Mutation(
                f"cp-root-{cp}",
                c,
                db=_update_note(cp, _edit_note_line(2, lambda s: _flip_char(s, 5))),
            )
        )
        m.append(
            Mutation(
                f"cp-sig-{cp}",
                c,
                db=_update_note(cp, _edit_note_line(4, lambda s: _flip_char(s, len(s) - 6))),
            )
        )
        m.append(
            Mutation(
                f"cp-sig-removed-{cp}",
                c,
                db=_update_note(cp, lambda n: n.split("\n\n")[0] + "\n\n"),
            )
        )
    for cut in cp_sizes[:-1]:
        m.append(
            Mutation(
                f"truncate-entries-to-{cut}",
                f"checkpoint {cp_sizes[cp_sizes.index(cut) + 1]}",
                db=lambda conn, cut=cut: (
                    _sql("DELETE FROM entries WHERE seq >= ?", cut)(conn),
                    _sql("DELETE FROM tree WHERE seq >= ?", cut)(conn),
                ),
            )
        )
        m.append(
            Mutation(
                f"rollback-to-checkpoint-{cut}",
                "rolled back",
                db=lambda conn, cut=cut: (
                    _sql("DELETE FROM entries WHERE seq >= ?", cut)(conn),
                    _sql("DELETE FROM tree WHERE seq >= ?", cut)(conn),
                    _sql("DELETE FROM checkpoints WHERE size > ?", cut)(conn),
                    _sql("DELETE FROM members WHERE added_seq >= ?", cut)(conn),
                    _sql("DELETE FROM archive_facts WHERE seq >= ?", cut)(conn),
                    _sql("DELETE FROM records WHERE created_seq >= ?", cut)(conn),
                    _sql("DELETE FROM facets WHERE origin NOT IN (SELECT id FROM records)")(conn),
                    _sql("DELETE FROM search_docs WHERE doc >= ?", cut)(conn),
                    _sql("DELETE FROM search_text WHERE rowid >= ?", cut)(conn),
                    # the word counts of what is left, as the older backup held them
                    recount_terms(conn),
                ),
            )
        )
    m.append(
        Mutation(
            "projection-member-name",
            "table members",
            db=_sql("UPDATE members SET name = 'someone else'"),
        )
    )
    m.append(
        Mutation(
            "projection-record-edited",
            "table records",
            db=_sql("UPDATE records SET data = replace(data, 'İmişli', 'Bakı')"),
        )
    )
    m.append(
        Mutation(
            "projection-facet-planted",
            "table facets",
            db=_sql("INSERT INTO facets VALUES ('src-2', 'src-2', 'place', 'd-imishli')"),
        )
    )
    m.append(
        Mutation(
            "search-index-edited",
            "table search_text",
            db=_sql("UPDATE search_text SET body = 'police not there' WHERE rowid = 5"),
        )
    )
    m.append(
        Mutation(
            "projection-member-extra",
            "table members",
            db=_sql("INSERT INTO members VALUES ('ffff', 'x', x'00', 'age1x', 'admin', 5)"),
        )
    )
    m.append(
        Mutation(
            "projection-fact-changed",
            "table archive_facts",
            db=_sql("UPDATE archive_facts SET value = 'x' WHERE key = 'origin'"),
        )
    )
    m.append(Mutation("key-file-replaced", ".key", files=_replace_key_file))
    m.append(Mutation("key-and-vault-replaced", "keys/", files=_replace_key_and_vault))
    m.append(Mutation("vault-file-replaced", ".vault", files=_replace_vault))
    for pos in (10, 60, 200, 400, -30):
        m.append(Mutation(f"key-file-byte-{pos}", ".key", files=_flip_file("keys/*.key", pos)))
    for pos in (0, 100, 250, -1):
        m.append(
            Mutation(f"vault-file-byte-{pos}", ".vault", files=_flip_file("keys/*.vault", pos))
        )
    m.append(Mutation("config-log-key", "sahid.toml", files=_config_field("log_key")))
    m.append(Mutation("config-archive-id", ".vault", files=_config_field("id")))
    for pos in range(0, db_len, max(1, db_len // 12)):
        m.append(
            Mutation(f"db-file-byte-{pos}", "sahid.db", files=_flip_file("sahid.db", pos + 100))
        )
    return m


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Mutation], Path]:
    base = tmp_path_factory.mktemp("pristine")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHID_STATE_DIR", str(base / "state"))
        with Archive.init(base / "archive", PASSPHRASE, kdf=FAST_KDF) as arc:
            fill(arc, ENTRIES, BATCH)
            with arc.engine.connect() as conn:
                node_rows = [
                    r[0]
                    for r in conn.exec_driver_sql("SELECT seq FROM tree WHERE length(hashes) > 32")
                ]
            cp_sizes = [arc.ledger.open_checkpoint(n).size for n in arc.checkpoints()]
            size = arc.size
        Archive.init(base / "spare", PASSPHRASE, kdf=FAST_KDF).close()
    db_len = (base / "archive" / "sahid.db").stat().st_size
    return (
        base / "archive",
        base / "spare",
        mutations(size, cp_sizes, node_rows, db_len),
        base / "state",
    )


def test_there_are_enough_distinct_tamperings(pristine):
    _, _, muts, _ = pristine
    assert len(muts) >= 200
    assert len({m.name for m in muts}) == len(muts)


def test_pristine_archive_verifies(pristine, tmp_path, monkeypatch):
    root, _, _, state = pristine
    shutil.copytree(root, tmp_path / "copy")
    shutil.copytree(state, tmp_path / "state")
    monkeypatch.setenv("SAHID_STATE_DIR", str(tmp_path / "state"))
    with Archive.open(tmp_path / "copy", PASSPHRASE) as arc:
        assert arc.verify().size == ENTRIES + 2


@pytest.mark.parametrize("chunk", range(8))
def test_every_tampering_is_detected_and_located(pristine, tmp_path, monkeypatch, chunk):
    """Each mutation: apply to a fresh copy, then open + verify must fail naming the place."""
    root, spare, muts, pristine_state = pristine
    missed: list[str] = []
    for i, mut in enumerate(muts):
        if i % 8 != chunk:
            continue
        # Each copy remembers the pristine newest checkpoint, as the user's machine does.
        state = tmp_path / f"state-{i}"
        shutil.copytree(pristine_state, state)
        monkeypatch.setenv("SAHID_STATE_DIR", str(state))
        copy = tmp_path / f"copy-{i}"
        shutil.copytree(root, copy)
        if mut.files is not None:
            mut.files(copy, spare)
        try:
            with Archive.open(copy, PASSPHRASE) as arc:
                if mut.db is not None or mut.insider is not None:
                    with arc.engine.begin() as conn:
                        if mut.db is not None:
                            mut.db(conn)
                        if mut.insider is not None:
                            mut.insider(conn, arc)
                arc.verify()
        except SahidError as exc:
            if mut.expect not in exc.message:
                missed.append(f"{mut.name}: located wrongly: {exc.message}")
        else:
            missed.append(f"{mut.name}: NOT DETECTED")
        shutil.rmtree(copy)
    assert not missed, "\n".join(missed)


def test_first_bad_signature_is_named_in_a_big_archive(make_archive):
    """Big archives verify signatures in worker processes; the first bad one is named."""
    arc = make_archive(entries=6000, batch=6000)
    assert arc.verify().size == 6002
    with arc.engine.begin() as conn:
        _resealed(4600, _edit_body)(conn, arc)
        _resealed(5200, _resign_with_stranger)(conn, arc)
    with pytest.raises(VerificationError, match="entry 4600: signature invalid"):
        arc.verify()
    with arc.engine.begin() as conn:
        set_leaf(conn, 5000, bytes(32))
    with pytest.raises(VerificationError, match="entry 4600: signature invalid"):
        arc.verify()
