"""Ingest benchmark (issue 4): single-pass hash+encrypt vs the tools people would use.

Peers in the same run, on the same file:
- ``sha256sum FILE`` then ``age -r RECIPIENT -o /dev/null FILE`` (two passes, two tools);
- the single-pass floor: the slower of hashlib SHA-256 alone and pyrage encryption alone.
Both sahid and the peers write their ciphertext to the same disk and fsync it (sahid
must: a blob is durable before its ledger entry). Targets: >= 1.5x the peers' combined
throughput, <= 1.3x the floor's time, RSS while ingesting < 150 MB (sampled in a child
process; unlocking the archive with Argon2id costs its own memory before that and is
reported separately).

``SAHID_BENCH_INGEST_GIB`` sets the sizes (default "1,4").
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyrage

from bench.common import write_result

SIZES = [float(x) for x in os.environ.get("SAHID_BENCH_INGEST_GIB", "1,4").split(",")]
CHILD = r"""
import json, os, resource, sys, threading, time
from sahid import Archive

def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

arc = Archive.open(sys.argv[1], b"benchmark passphrase")  # Argon2id: unlocking costs memory
peak, done = [rss_mb()], threading.Event()

def sample():
    while not done.wait(0.02):
        peak.append(rss_mb())

threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
[r] = arc.add([sys.argv[2]])
dt = time.perf_counter() - t
done.set()
arc.close()
print(json.dumps({
    "seconds": dt, "status": r.status, "ingest_rss_mb": max(peak),
    "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def make_file(path: Path, gib: float) -> None:
    chunk = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for i in range(int(gib * 1024)):
            fh.write(chunk[i % 7 :] + chunk[: i % 7])


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def fsynced(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def floor(path: Path, recipient: str, out: Path) -> dict[str, float]:
    """The single-pass floor: hashing alone, and durable encryption alone."""
    t = time.perf_counter()
    h = hashlib.sha256()
    with path.open("rb", buffering=0) as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    sha = time.perf_counter() - t
    t = time.perf_counter()
    with path.open("rb") as src, out.open("wb") as dst:
        pyrage.encrypt_io(src, dst, [pyrage.x25519.Recipient.from_str(recipient)])
        dst.flush()
        os.fsync(dst.fileno())
    enc = time.perf_counter() - t
    out.unlink()
    return {"hashlib_sha256_s": sha, "pyrage_encrypt_fsync_s": enc}


def main() -> Path:
    from sahid import Archive
    from sahid.config import KdfParams

    tmp = Path(
        tempfile.mkdtemp(prefix="sahid-bench-ingest-", dir=os.environ.get("SAHID_BENCH_DIR"))
    )
    os.environ["SAHID_STATE_DIR"] = str(tmp / "state")
    runs: list[dict[str, Any]] = []
    try:
        for gib in SIZES:
            src = tmp / f"input-{gib}.bin"
            make_file(src, gib)
            size = src.stat().st_size
            root = tmp / f"archive-{gib}"
            # The default KDF, as `sahid init` makes it: the child's process peak then shows
            # what unlocking (256 MiB of Argon2id, freed before ingest starts) costs.
            with Archive.init(root, b"benchmark passphrase", kdf=KdfParams()) as arc:
                recipient = str(arc.vault.identity.to_public())
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(root), str(src)],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
            )
            ours = json.loads(out.stdout)
            t_sum = timed(["sha256sum", str(src)])
            enc_out = tmp / "peer.age"
            t = time.perf_counter()
            subprocess.run(["age", "-r", recipient, "-o", str(enc_out), str(src)], check=True)
            fsynced(enc_out)  # the same durability sahid gives its blob
            t_age = time.perf_counter() - t
            enc_out.unlink()
            fl = floor(src, recipient, tmp / "floor.age")
            floor_s = max(fl.values())
            mib = size / (1 << 20)
            run = {
                "gib": gib,
                "bytes": size,
                "sahid_add_s": round(ours["seconds"], 3),
                "sahid_mib_s": round(mib / ours["seconds"], 1),
                "sahid_ingest_rss_mb": round(ours["ingest_rss_mb"], 1),
                "sahid_process_peak_rss_mb": round(ours["process_peak_rss_mb"], 1),
                "sha256sum_s": round(t_sum, 3),
                "age_fsync_s": round(t_age, 3),
                "peers_combined_mib_s": round(mib / (t_sum + t_age), 1),
                "speedup_vs_peers": round((t_sum + t_age) / ours["seconds"], 2),
                **{k: round(v, 3) for k, v in fl.items()},
                "ratio_to_single_pass_floor": round(ours["seconds"] / floor_s, 3),
            }
            runs.append(run)
            print(run)
            shutil.rmtree(root)
            src.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "speedup_vs_peers_min": min(r["speedup_vs_peers"] for r in runs),
        "speedup_target": ">= 1.5",
        "ratio_to_floor_max": max(r["ratio_to_single_pass_floor"] for r in runs),
        "floor_target": "<= 1.3",
        "ingest_rss_mb_max": max(r["sahid_ingest_rss_mb"] for r in runs),
        "rss_target_mb": "< 150",
    }
    summary["ok"] = (
        summary["speedup_vs_peers_min"] >= 1.5
        and summary["ratio_to_floor_max"] <= 1.3
        and summary["ingest_rss_mb_max"] < 150
    )
    return write_result("ingest", {"runs": runs, "summary": summary})


if __name__ == "__main__":
    print(main())
