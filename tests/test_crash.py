"""Crash safety: SIGKILL a process that is appending, at random moments, many times.

After every kill the archive must open, ``verify`` must pass, and every entry whose
append had returned (recorded by the child in a journal after the call returned) must
be present with the body it was given.
"""

from __future__ import annotations

import random
from pathlib import Path

from sahid import Archive

from conftest import FAST_KDF, PASSPHRASE, kill_midway

RUNS = 50
#: Kills per archive; a fresh archive every GROUP runs keeps each verify small.
GROUP = 10

CHILD = r"""
import os, random, sys
from sahid import Archive
root, journal, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
arc = Archive.open(root, os.environb[b"SAHID_TEST_PASSPHRASE"])
fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, b"ready\n")
n = 0
while True:
    k = rng.choice([1, 1, 1, 2, 7, 40])
    made = arc.append_batch(
        [
            ("record.created", {"type": "source", "id": f"s-{seed}-{n + j}", "fields": {}})
            for j in range(k)
        ]
    )
    n += k
    # Only after append_batch returned: the journal claims these entries exist.
    lines = [f"{e.seq} {seed} {e.body['id'].rsplit('-', 1)[1]}\n" for e in made]
    os.write(fd, "".join(lines).encode())
"""


def test_sigkill_during_appends_never_loses_a_returned_entry(tmp_path):
    rng = random.Random(20250118)
    total_promised = 0
    promised: dict[int, tuple[int, int]] = {}
    for run in range(RUNS):
        if run % GROUP == 0:
            root = tmp_path / f"archive-{run // GROUP}"
            Archive.init(root, PASSPHRASE, kdf=FAST_KDF).close()
            total_promised += len(promised)
            promised = {}
        journal = tmp_path / f"journal-{run}"
        lines = kill_midway(
            CHILD, [str(root), str(journal), str(run)], journal, rng.uniform(0.0, 0.25)
        )
        for line in lines:
            parts = line.split()
            if len(parts) == 3:  # a torn last line is a claim never completed
                promised[int(parts[0])] = (int(parts[1]), int(parts[2]))

        with Archive.open(root, PASSPHRASE) as arc:
            report = arc.verify()
            size = report.size
            assert all(seq < size for seq in promised), f"run {run}: lost entries"
            sample = rng.sample(sorted(promised), min(20, len(promised)))
            for seq in sample:
                e = arc.entry(seq)
                assert e.body["id"] == "s-{}-{}".format(*promised[seq]), (
                    f"run {run}: entry {seq} differs"
                )
        # No stray temp files inside the archive.
        assert not [p for p in Path(root).rglob("*.tmp")]
    assert total_promised + len(promised) > RUNS  # the children really appended
