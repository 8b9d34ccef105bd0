"""Ledger benchmark (issue 3): durable appends, proof latency, verify throughput.

Peers measured in the same run, on the same entries:
- raw Ed25519 signing of each entry's signed message (the floor cost of an entry);
- raw Ed25519 verification of the same signatures (the floor cost of ``verify``).

Targets: batched durable appends >= 0.7x raw signing; inclusion proof < 100 us at 1M
entries; verify time <= 1.2x raw verification.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bench.common import peak_rss_mb, percentile, timed, write_result
from sahid import Archive
from sahid.config import KdfParams
from sahid.ledger import Entry

PROOF_SIZE = int(os.environ.get("SAHID_BENCH_PROOF_SIZE", 1_000_000))
PASSPHRASE = b"benchmark passphrase"


def body(i: int) -> dict[str, Any]:
    return {
        "record": f"incident-{i:08d}",
        "field": "summary",
        "value": f"Police car hit schoolchildren at the roadside, İmişli ({i})",
    }


def append_phase(arc: Archive, batch: int, total: int, start: int) -> tuple[float, list[Entry]]:
    made: list[Entry] = []
    items = [("record.updated", body(start + i)) for i in range(total)]
    t0 = time.perf_counter()
    for off in range(0, total, batch):
        made += arc.append_batch(items[off : off + batch])
    return time.perf_counter() - t0, made


def raw_sign_rate(made: list[Entry]) -> float:
    key = Ed25519PrivateKey.generate()
    msgs = [e.signed_message() for e in made]
    dt, _ = timed(lambda: [key.sign(m) for m in msgs])
    return len(msgs) / dt


def main() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="sahid-bench-"))
    os.environ["SAHID_STATE_DIR"] = str(tmp / "state")
    floor = KdfParams(KdfParams.FLOOR_MEMORY_KIB, 3, 4)
    out: dict[str, Any] = {"appends": [], "verify": {}, "proofs": {}}
    try:
        arc = Archive.init(tmp / "archive", PASSPHRASE, kdf=floor)
        all_made: list[Entry] = []
        for batch, total in ((1, 300), (100, 20_000), (10_000, 100_000)):
            dt, made = append_phase(arc, batch, total, arc.size)
            rate = total / dt
            raw = raw_sign_rate(made)
            out["appends"].append(
                {
                    "batch": batch,
                    "entries": total,
                    "seconds": round(dt, 3),
                    "entries_per_s": round(rate),
                    "raw_sign_per_s": round(raw),
                    "ratio_to_raw_signing": round(rate / raw, 3),
                }
            )
            all_made += made
            print(out["appends"][-1])

        # verify vs raw verification of the same signatures
        size = arc.size
        dt_verify, _ = timed(arc.verify)
        pub = Ed25519PublicKey.from_public_bytes(arc.member.sign_public)
        pairs = [(base64.b64decode(e.sig), e.signed_message()) for e in all_made]
        dt_raw, _ = timed(lambda: [pub.verify(s, m) for s, m in pairs])
        dt_raw *= size / len(pairs)  # + the two genesis entries, same cost each
        out["verify"] = {
            "entries": size,
            "seconds": round(dt_verify, 3),
            "raw_verify_seconds": round(dt_raw, 3),
            "ratio_to_raw_verify": round(dt_verify / dt_raw, 3),
        }
        print(out["verify"])

        # grow to PROOF_SIZE and measure inclusion / consistency proof latency
        t0 = time.perf_counter()
        while arc.size < PROOF_SIZE:
            n = min(10_000, PROOF_SIZE - arc.size)
            arc.append_batch([("record.updated", body(arc.size + i)) for i in range(n)])
        grow = time.perf_counter() - t0
        rng = random.Random(7)
        size = arc.size
        for _ in range(1000):  # warm the page cache and the node cache, as a server would be
            arc.inclusion_proof(rng.randrange(size))
        lat_inc, lat_con = [], []
        for _ in range(3000):
            i = rng.randrange(size)
            t = time.perf_counter()
            arc.inclusion_proof(i)
            lat_inc.append(time.perf_counter() - t)
        for _ in range(3000):
            old = rng.randrange(1, size)
            t = time.perf_counter()
            arc.consistency_proof(old)
            lat_con.append(time.perf_counter() - t)
        us = 1e6
        out["proofs"] = {
            "tree_size": size,
            "build_seconds": round(grow, 1),
            "inclusion_us_p50": round(percentile(lat_inc, 0.5) * us, 1),
            "inclusion_us_p99": round(percentile(lat_inc, 0.99) * us, 1),
            "consistency_us_p50": round(percentile(lat_con, 0.5) * us, 1),
            "consistency_us_p99": round(percentile(lat_con, 0.99) * us, 1),
        }
        print(out["proofs"])
        arc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = max(a["ratio_to_raw_signing"] for a in out["appends"] if a["batch"] > 1)
    out["summary"] = {
        "append_ratio_batched": best,
        "append_target": ">= 0.7",
        "append_ok": best >= 0.7,
        "inclusion_proof_us_p50": out["proofs"]["inclusion_us_p50"],
        "proof_target_us": "< 100",
        "proof_ok": out["proofs"]["inclusion_us_p50"] < 100,
        "verify_ratio": out["verify"]["ratio_to_raw_verify"],
        "verify_target": "<= 1.2",
        "verify_ok": out["verify"]["ratio_to_raw_verify"] <= 1.2,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return write_result("ledger", out)


if __name__ == "__main__":
    print(main())
