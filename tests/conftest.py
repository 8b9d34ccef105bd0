"""Shared fixtures: fast-but-valid archives and an isolated per-test state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sahid import Archive
from sahid.config import KdfParams

PASSPHRASE = b"correct horse battery staple"
#: The KDF floor: the cheapest parameters an archive may use, so tests stay quick.
FAST_KDF = KdfParams(memory_kib=KdfParams.FLOOR_MEMORY_KIB, time_cost=3, parallelism=4)
SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():
    SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep each test's rollback memory out of the user's real state directory."""
    monkeypatch.setenv("SAHID_STATE_DIR", str(tmp_path_factory.mktemp("state")))
    monkeypatch.delenv("SAHID_ARCHIVE", raising=False)
    monkeypatch.delenv("SAHID_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("SAHID_MEMBER", raising=False)


@pytest.fixture
def passfile(tmp_path: Path) -> Path:
    p = tmp_path / "passphrase.txt"
    p.write_bytes(PASSPHRASE + b"\n")
    return p


def fill(archive: Archive, count: int, batch: int = 50) -> None:
    """Append ``count`` record entries in batches (one checkpoint per batch)."""
    done = 0
    while done < count:
        n = min(batch, count - done)
        base = archive.size
        archive.append_batch(
            [
                (
                    "record.created",
                    {
                        "type": "source",
                        "id": f"src-{base + i}",
                        "fields": {"name": f"entry {base + i} İmişli"},
                    },
                )
                for i in range(n)
            ]
        )
        done += n


@pytest.fixture
def make_archive(tmp_path: Path) -> Callable[..., Archive]:
    """Factory: ``make_archive(entries=10, batch=3)`` returns an open archive."""
    made: list[Archive] = []

    def factory(entries: int = 0, batch: int = 50, name: str = "archive") -> Archive:
        arc = Archive.init(tmp_path / name, PASSPHRASE, kdf=FAST_KDF)
        made.append(arc)
        fill(arc, entries, batch)
        return arc

    yield factory  # type: ignore[misc]
    for arc in made:
        arc.close()


def run_cli(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``sahid`` entry point in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sahid.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=None if input is None else input.decode(),
        timeout=120,
    )


@pytest.fixture
def cli() -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    yield run_cli


def kill_midway(code: str, args: list[str], journal: Path, delay: float) -> list[str]:
    """Run ``python -c code *args``; once it writes "ready" to ``journal``, wait ``delay``
    seconds and SIGKILL it. Returns the journal lines the child wrote after "ready"."""
    import signal
    import time

    env = {**os.environ, "SAHID_TEST_PASSPHRASE": PASSPHRASE.decode()}
    child = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.read_bytes().startswith(b"ready\n")):
        assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait()
    if child.stderr:
        child.stderr.close()
    return journal.read_text().splitlines()[1:]


def downgrade(arc: Archive, revision: str, inspect: Callable[[Any], None] | None = None) -> Path:
    """Take ``arc`` back to schema ``revision`` with the real migrations, close it, and
    return its folder: an archive as an older sahid left it, for upgrade tests.
    ``inspect(connection)`` is called after the downgrade, in its transaction."""
    from alembic import command
    from alembic.config import Config

    import sahid

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(sahid.__path__[0]) / "_migrations"))
    with arc.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        if inspect is not None:
            inspect(conn)
    root: Path = arc.root
    arc.close()
    return root
