"""Run every benchmark (or the ones named): ``python -m bench.run [ledger ...]``."""

from __future__ import annotations

import importlib
import json
import sys

BENCHMARKS = ["ledger", "ingest", "clean", "search", "media", "publish"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        result_path = module.main()
        print(f"{name}: {result_path}")
        print(json.dumps(json.loads(result_path.read_text()).get("summary", {}), indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
