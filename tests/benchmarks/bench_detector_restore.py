"""CPU time of restoring a jail's detectors from a large state, in this process.

    .venv/bin/python tests/benchmarks/decide_corpus.py sshd-flood      # leaves run-*/ behind
    .venv/bin/python tests/benchmarks/bench_detector_restore.py \\
        /var/tmp/journalban-bench/decide/sshd-flood-300000/run-N [--repeat 30]

Reads the run's ``detector_state`` rows once, then times ``JailDetection.restore``
(every detector's ``restore``, the rows' checks of jails/rowvalues.py) on them with
the run's configuration, at the clock decide_corpus stood at. Prints the rows, the
keys restored, the rows skipped and the CPU time (min, median) of a restore and of
each detector's. A/B: run it with ``PYTHONPATH`` at another checkout's tree.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decide_corpus import ENDS_AT

from journalban.config.loader import load_config
from journalban.decisions.detecting import JailDetection
from journalban.state.detection import read_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a decide_corpus run directory")
    parser.add_argument("--jail", default="sshd")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    jail = load_config(args.run / "journalban.yaml").jails[args.jail]
    db = sqlite3.connect(next((args.run / "state").glob("*.sqlite")))
    rows = read_rows(db, args.jail)
    db.close()
    now = ENDS_AT + 60.0
    whole: list[float] = []
    each: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        detection = JailDetection(jail.detectors, jail.max_tracked)
        started = time.process_time()
        skipped = detection.restore(rows, now, args.jail)
        whole.append(time.process_time() - started)
        fresh = JailDetection(jail.detectors, jail.max_tracked)
        for detector in fresh.detectors:
            started = time.process_time()
            detector.restore(rows.get(detector.name, ()), now)
            each.setdefault(detector.name, []).append(time.process_time() - started)
    ms = 1000.0
    parts = ", ".join(f"{name} {min(t) * ms:.1f}" for name, t in each.items())
    print(f"rows {sum(map(len, rows.values()))}, keys {detection.tracked}, skipped {skipped}: "
          f"restore min {min(whole) * ms:.1f} ms, median {statistics.median(whole) * ms:.1f} ms "
          f"({parts} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
