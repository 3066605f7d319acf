"""The detectors' instructions per counted failure, in the engine and outside it (cachegrind).

    .venv/bin/python tests/benchmarks/detector_cg.py OUT.pkl [MODE ...]

``OUT.pkl``: a ``decide_replay.py record``. ``detector_split.py``'s recording replay notes
what the detectors were handed and answered (kept beside ``OUT.pkl`` as ``OUT.pkl.det``);
then each MODE's instructions of one replay (commits off) are counted as
``decide_replay.py cg`` counts them: cachegrind (``--cache-sim=no``, ``PYTHONHASHSEED=0``)
over a process replaying twice minus one replaying once. Modes:

- ``as-is``: the engine as it runs; ``canned``: every detector's ``observe`` answering its
  recorded verdicts (no detector's own work and no rows; a canned answer costs about 600
  instructions); ``canned:NAME``: that detector alone canned; ``no-rows``: the detectors'
  rows not made (``JailDetection.rows`` discarding them);
- outside the engine, the recorded failures handed to fresh detectors: ``outside:NAME``
  (one detector, in one loop), ``outside:apart`` (``observe_apart``, then
  ``crowd_verdicts``), ``outside:empty`` (the same loop calling an empty function: subtract
  it from the other outside figures).

Without MODE: as-is, canned, each canned:NAME, no-rows.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decide_replay
from detector_split import DETECTORS, Recording, canned, patched

from journalban.cli.run import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD
from journalban.decisions.detecting import JailDetection
from journalban.state.detection import DetectorRow

BY_NAME: dict[str, type[Any]] = {kind.name: kind for kind in DETECTORS}


def noted(pickled: Path) -> dict[str, Any]:
    """What the detectors were handed and answered, recorded once (kept beside ``pickled``)."""
    kept = Path(f"{pickled}.det")
    if not kept.exists():
        with pickled.open("rb") as f:
            data = pickle.load(f)  # noqa: S301 (a file decide_replay.py wrote)
        rec = Recording(data)
        found = {
            "calls": rec.calls,
            "answers": {kind.name: answers for kind, answers in rec.by_detector.items()},
            "config": rec.config,
        }
        with kept.open("wb") as f:
            pickle.dump(found, f)
    with kept.open("rb") as f:
        out: dict[str, Any] = pickle.load(f)  # noqa: S301 (written just above)
    return out


def _no_rows(detection: JailDetection) -> list[DetectorRow]:
    for detector in detection.detectors:
        detector.discard_changes()
    if detection.known_good is not None:
        detection.known_good.discard_changes()
    return []


def run(pickled: Path, mode: str, times: int) -> None:
    """``times`` replays (or loops outside the engine) in ``mode``."""
    with pickled.open("rb") as f:
        data = pickle.load(f)  # noqa: S301 (a file decide_replay.py wrote)
    rec = noted(pickled)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, GC_MIDDLE_THRESHOLD), oldest)
    kind, _, name = mode.partition(":")
    for _ in range(times):
        if kind == "outside":
            config, cap = rec["config"]
            failures = [(k, u, w, False) for c in rec["calls"] for login, k, u, w in c if not login]
            detection = JailDetection(config, cap)
            if name == "apart":
                apart = detection.observe_apart
                for key, user, when, _ in failures:
                    apart(key, user, when)
                detection.crowd_verdicts()
                continue
            look = {d.name: d.observe for d in detection.detectors}.get(name, lambda _: ())
            for one in failures:
                look(one)
            continue
        with ExitStack() as every:
            if kind == "canned":
                for each in [name] if name else list(rec["answers"]):
                    every.enter_context(
                        patched(BY_NAME[each], "observe", canned(rec["answers"][each]))
                    )
            elif kind == "no-rows":
                every.enter_context(patched(JailDetection, "rows", _no_rows))
            elif kind != "as-is":
                raise SystemExit(f"no mode {mode!r}")
            decide_replay.replay(data, False, None)


def count(pickled: Path, mode: str) -> int:
    return decide_replay.instructions_of_one(
        lambda times: [__file__, str(pickled), "--run", mode, "--times", str(times)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickled", type=Path)
    parser.add_argument("modes", nargs="*")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # (the counted process)
    parser.add_argument("--times", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(args.pickled, args.run, args.times)
        return
    rec = noted(args.pickled)
    failures = sum(1 for call in rec["calls"] for login, *_ in call if not login)
    modes = args.modes or [
        "as-is", "canned", *(f"canned:{n}" for n, a in rec["answers"].items() if a), "no-rows"
    ]  # fmt: skip
    for mode in modes:
        spent = count(args.pickled, mode)
        print(
            f"{mode}: {spent:,} instructions, {spent / failures:,.0f} a counted failure ({failures:,})",
            flush=True,
        )


if __name__ == "__main__":
    main()
