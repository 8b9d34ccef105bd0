"""Crash safety of ingest: SIGKILL a process adding files, at random moments, 50 times.

Afterwards every file whose ``add`` had returned (journalled by the child after the call
returned) is retrievable with its SHA-256, ``verify`` passes, and any orphan blob or temp
file left by a kill is reported and removed by ``gc``.
"""

from __future__ import annotations

import random

from sahid import Archive

from conftest import FAST_KDF, PASSPHRASE, kill_midway

RUNS = 50
GROUP = 10

CHILD = r"""
import hashlib, os, random, sys
from pathlib import Path
from sahid import Archive
root, journal, src, seed = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
arc = Archive.open(root, os.environb[b"SAHID_TEST_PASSPHRASE"])
fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, b"ready\n")
n = 0
while True:
    data = rng.randbytes(rng.choice([0, 10, 5000, 200_000, 2_000_000]))
    path = src / f"f-{seed}-{n}.bin"
    path.write_bytes(data)
    n += 1
    [r] = arc.add([path])
    # Only after add returned: the journal claims this content is in the vault.
    os.write(fd, f"{r.status} {r.evidence} {hashlib.sha256(data).hexdigest()}\n".encode())
"""


def test_sigkill_during_ingest(tmp_path):
    rng = random.Random(18012025)
    promised: dict[str, str] = {}
    orphans_seen = 0
    for run in range(RUNS):
        if run % GROUP == 0:
            root = tmp_path / f"archive-{run // GROUP}"
            Archive.init(root, PASSPHRASE, kdf=FAST_KDF).close()
            promised = {}
        src = tmp_path / f"src-{run}"
        src.mkdir()
        journal = tmp_path / f"journal-{run}"
        args = [str(root), str(journal), str(src), str(run)]
        for line in kill_midway(CHILD, args, journal, rng.uniform(0.0, 0.3)):
            parts = line.split()
            if len(parts) == 3 and parts[0] in ("added", "received"):
                promised[parts[2]] = parts[1]

        with Archive.open(root, PASSPHRASE) as arc:
            report = arc.verify()
            orphans_seen += len(report.orphans)
            stored = {row["sha256"]: row["evidence_id"] for row in arc.evidence_list()}
            for sha, evidence in promised.items():
                assert stored.get(sha) == evidence, f"run {run}: lost {evidence}"
            for sha, evidence in rng.sample(sorted(promised.items()), min(3, len(promised))):
                out = tmp_path / f"check-{run}-{evidence}"
                arc.get(evidence, out)
                import hashlib

                assert hashlib.sha256(out.read_bytes()).hexdigest() == sha
                out.unlink()
            assert sorted(arc.gc()) == report.orphans
            assert arc.verify(quick=True).orphans == []
    assert promised  # the children really added files
    print(f"orphans left by kills and collected: {orphans_seen}")
