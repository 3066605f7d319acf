"""The agent under a flood of distinct addresses: its peak memory (docs/benchmarks.md).

    .venv/bin/python tests/benchmarks/bench_address_flood.py [--ipv4 1000000] [--ipv6 1000000]

One file jail with the default cap (``max_tracked`` 100,000 networks) and the
default detectors reads one failure line from each of ``--ipv4`` distinct IPv4
addresses, then one from each of ``--ipv6`` distinct IPv6 /64s (nothing is
banned: each fails once). Prints the agent's idle RSS, peak RSS (VmHWM), RSS
after the flood, its reader child's peak and the time taken, as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.*

from support.flood import run_flood


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ipv4", type=int, default=1_000_000)
    parser.add_argument("--ipv6", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jb-flood-") as work:
        print(json.dumps(run_flood(Path(work), args.ipv4, args.ipv6, timeout=3600), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
