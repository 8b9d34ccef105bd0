"""Re-publishing into an earlier site: only changed files written, user files kept, and
no half-written or mixed site after a failure or a killed run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sahid import Archive
from sahid.errors import InputError, VerificationError
from sahid.publish.build import publish_site
from sahid.publish.output import JOURNAL
from sahid.publish.proofs import verify_site

from conftest import FAST_KDF, PASSPHRASE

LANGS = ["az", "ru", "en"]
INCLUDE = ["verified"]


def _incident(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"en": f"Dispersal {n}", "az": f"Dağıdılma {n}", "ru": f"Разгон {n}"},
        "summary": {"en": f"Police dispersed a rally ({n}).", "az": "Polis.", "ru": "Полиция."},
        "start": f"20{10 + n % 15}-0{1 + n % 9}-1{n % 10}",
        "type": "protest_dispersal",
        "status": "verified",
        "publish": True,
        **extra,
    }


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _dirs(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def _stamps(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file():
            st = p.stat()
            out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_mtime_ns)
    return out


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture
def arc(tmp_path: Path) -> Iterator[Archive]:
    with Archive.init(tmp_path / "arc", PASSPHRASE, kdf=FAST_KDF) as a:
        a.records.add("unit", {"name": {"en": "Police department 1"}, "kind": "police"}, rid="u-1")
        for n in range(12):
            a.records.add("incident", _incident(n, units=["u-1"]), rid=f"inc-{n:02d}")
        yield a


def _publish(arc: Archive, out: Path, langs: list[str] = LANGS) -> dict[str, Any]:
    return publish_site(arc, out, langs=langs, include=INCLUDE)


def _fresh(arc: Archive, tmp_path: Path, langs: list[str] = LANGS) -> Path:
    fresh = tmp_path / "fresh"
    _publish(arc, fresh, langs)
    return fresh


def test_republish_writes_only_what_changed_and_equals_a_fresh_publish(
    arc: Archive, tmp_path: Path
):
    site = tmp_path / "site"
    first = _publish(arc, site)
    assert first["incremental"] is False and first["written"] == first["files"]
    # Nothing changed: nothing is written, not even the manifest.
    before = _stamps(site)
    same = _publish(arc, site)
    assert same["incremental"] is True and (same["written"], same["removed"]) == (0, 0)
    assert _stamps(site) == before

    arc.records.update("inc-05", {"summary": {"en": "Edited summary (en)."}})
    again = _publish(arc, site)
    after = _stamps(site)
    touched = sorted(rel for rel in after if before.get(rel) != after[rel])
    gone = sorted(set(before) - set(after))
    # The log grew by one entry: its partial tile was replaced by a wider one.
    assert again["incremental"] is True and again["removed"] == len(gone) == 1
    assert gone[0].startswith("verify/tile/0/000.p/")
    assert len(touched) == again["written"] < again["files"] // 2
    assert "en/incidents/inc-05.html" in touched and "verify/manifest.sig" in touched
    assert "en/incidents/inc-04.html" not in touched and "az/map.html" not in touched
    assert "Edited summary (en)." in (site / "en/incidents/inc-05.html").read_text()

    fresh = _fresh(arc, tmp_path)
    assert _files(site) == _files(fresh)
    assert _dirs(site) == _dirs(fresh)
    assert verify_site(site).size == arc.size
    assert _leftovers(site) == []


def test_republish_removes_files_that_no_longer_belong(arc: Archive, tmp_path: Path):
    site = tmp_path / "site"
    _publish(arc, site)
    assert (site / "ru/incidents/inc-03.html").is_file()
    arc.records.update("inc-03", {"publish": False})
    report = _publish(arc, site, ["en", "az"])
    assert report["removed"] > 0
    assert not (site / "en/incidents/inc-03.html").exists()
    assert not (site / "ru").exists()  # a language dropped: its folder goes entirely
    fresh = _fresh(arc, tmp_path, ["en", "az"])
    assert _files(site) == _files(fresh) and _dirs(site) == _dirs(fresh)
    assert verify_site(site).unlisted == []


def test_files_sahid_did_not_write_are_left_alone(arc: Archive, tmp_path: Path):
    site = tmp_path / "site"
    _publish(arc, site)
    (site / "CNAME").write_text("sahid.example.org\n")
    (site / ".git" / "refs").mkdir(parents=True)
    (site / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (site / "README.md").write_text("Our site\n")
    mine = {
        rel: data
        for rel, data in _files(site).items()
        if rel.split("/")[0] in ("CNAME", ".git", "README.md")
    }
    arc.records.update("inc-01", {"publish": False})
    arc.records.update("inc-02", {"title": {"en": "Renamed"}})
    _publish(arc, site)
    assert {rel: _files(site)[rel] for rel in mine} == mine
    assert (site / ".git" / "refs").is_dir()
    report = verify_site(site)
    assert report.unlisted == [".git/", "CNAME", "README.md"]
    sahid_files = {r: d for r, d in _files(site).items() if r not in mine}
    assert sahid_files == _files(_fresh(arc, tmp_path))


def test_a_user_file_where_sahid_needs_to_write_is_refused_and_nothing_changes(
    arc: Archive, tmp_path: Path
):
    site = tmp_path / "site"
    _publish(arc, site)
    # The user put a page where the next incident's page will go (not in the manifest).
    (site / "en/incidents/inc-99.html").write_text("<p>mine</p>\n")
    before = _files(site)
    arc.records.add("incident", _incident(99), rid="inc-99")
    with pytest.raises(InputError, match=r"inc-99\.html is not one of sahid's files"):
        _publish(arc, site)
    assert _files(site) == before
    assert _leftovers(site) == []


def test_a_folder_that_is_not_a_sahid_site_is_refused(arc: Archive, tmp_path: Path):
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    with pytest.raises(InputError, match="is not empty and not a sahid site"):
        _publish(arc, other)
    assert [p.name for p in other.iterdir()] == [".git"]
    assert _leftovers(other) == []


# -- failures and killed runs --------------------------------------------------------------

CHILD = """
import os, resource, signal, sys
from pathlib import Path
from sahid import Archive
from sahid.publish.build import publish_site

arc_path, out, mode, arg = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
with Archive.open(arc_path, os.environ["SAHID_TEST_PASSPHRASE"].encode()) as arc:
    if mode == "fsize":
        # No file larger than ``arg`` bytes can be written: the write fails (EFBIG).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (arg, arg))
    else:
        # Die (as if killed) just before the arg-th file rename of this process.
        main, count = os.getpid(), [0]

        def hook(frame, event, fn):
            if event == "c_call" and fn in (os.replace, os.rename) and os.getpid() == main:
                count[0] += 1
                if count[0] == arg:
                    os._exit(9)

        sys.setprofile(hook)
    publish_site(arc, out, langs=["az", "ru", "en"], include=["verified"])
"""


def _child(arc: Archive, out: Path, mode: str, arg: int) -> subprocess.CompletedProcess[str]:
    path = arc.root
    arc.close()  # the child takes the archive's lock
    env = {**os.environ, "SAHID_TEST_PASSPHRASE": PASSPHRASE.decode()}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(out), mode, str(arg)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _edited_archive(tmp_path: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """A published site, then an edit not yet published; returns (archive, site, files)."""
    root, site = tmp_path / "arc2", tmp_path / "site"
    with Archive.init(root, PASSPHRASE, kdf=FAST_KDF) as a:
        for n in range(12):
            a.records.add("incident", _incident(n), rid=f"inc-{n:02d}")
        _publish(a, site)
        a.records.update("inc-07", {"summary": {"en": "Edited."}})
        a.records.update("inc-02", {"publish": False})
    return root, site, _files(site)


def test_a_file_that_cannot_be_written_leaves_the_old_site_whole(tmp_path: Path):
    root, site, before = _edited_archive(tmp_path)
    # Incident pages can be written, bigger files (data, map, proofs) cannot.
    limit = max(len(d) for rel, d in before.items() if "/incidents/" in rel) + 1
    assert len(before["verify/entries/0.json"]) > limit
    with Archive.open(root, PASSPHRASE) as a:
        done = _child(a, site, "fsize", limit)
    assert done.returncode != 0 and "File too large" in done.stderr, done.stderr[-2000:]
    assert _files(site) == before  # not one byte of the live site changed
    verify_site(site)
    assert _leftovers(site) == []  # the staging folder went with the exception


@pytest.mark.parametrize("at", [1, 2, 3, 6])
def test_a_run_killed_while_publishing_is_finished_or_undone_by_the_next(tmp_path: Path, at: int):
    root, site, before = _edited_archive(tmp_path)
    with Archive.open(root, PASSPHRASE) as a:
        done = _child(a, site, "kill", at)
    assert done.returncode == 9, done.stderr[-2000:]
    (stage,) = _leftovers(site)
    committed = (site.parent / stage / JOURNAL).exists()
    # Rename 1 puts the journal in place (the commit point); then deletions are applied
    # and each later rename moves one new file in.
    assert committed == (at > 1)
    if at == 1:
        assert _files(site) == before  # nothing applied yet: the old site, whole
        verify_site(site)
    else:
        with pytest.raises(VerificationError):  # old and new files mixed: never "verified"
            verify_site(site)
    with Archive.open(root, PASSPHRASE) as a:
        report = _publish(a, site)
        assert report["incremental"] is True
        fresh = _fresh(a, tmp_path)
    assert _files(site) == _files(fresh) and _dirs(site) == _dirs(fresh)
    verify_site(site)
    assert _leftovers(site) == []


def test_forked_rendering_publishes_and_republishes_the_same_bytes(
    arc: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Workers render the pages while this process makes the proofs: same site."""
    serial = tmp_path / "serial"
    _publish(arc, serial)
    import sahid.publish.site as site_module

    monkeypatch.setattr(site_module, "PARALLEL_MIN_INCIDENTS", 0)
    monkeypatch.setattr(site_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    forked = tmp_path / "forked"
    _publish(arc, forked)
    assert _files(forked) == _files(serial)
    arc.records.update("inc-04", {"title": {"en": "Renamed in a worker"}})
    report = _publish(arc, forked)
    assert report["incremental"] is True and 0 < report["written"] < report["files"] // 2
    monkeypatch.undo()
    assert _files(forked) == _files(_fresh(arc, tmp_path))
    verify_site(forked)


def test_a_first_publish_killed_before_its_rename_leaves_nothing_behind(tmp_path: Path):
    root, site = tmp_path / "arc3", tmp_path / "new-site"
    with Archive.init(root, PASSPHRASE, kdf=FAST_KDF) as a:
        a.records.add("incident", _incident(1), rid="inc-01")
        done = _child(a, site, "kill", 1)
    assert done.returncode == 9, done.stderr[-2000:]
    assert not site.exists() and len(_leftovers(site)) == 1  # the whole site, staged
    with Archive.open(root, PASSPHRASE) as a:
        assert _publish(a, site)["incremental"] is False
    verify_site(site)
    assert _leftovers(site) == []


def test_a_journal_naming_paths_outside_the_site_is_refused(arc: Archive, tmp_path: Path):
    site = tmp_path / "site"
    _publish(arc, site)
    victim = tmp_path / "victim.txt"
    victim.write_text("not sahid's\n")
    evil = tmp_path / ".site.sahid-evil"
    evil.mkdir()
    (evil / JOURNAL).write_text('{"write": [], "delete": ["../victim.txt"]}')
    with pytest.raises(InputError, match="names a path outside"):
        _publish(arc, site)
    assert victim.read_text() == "not sahid's\n"
    verify_site(site)
