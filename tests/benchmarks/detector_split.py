"""What the detectors cost inside the decisions stage, and what deciding them apart could save.

    .venv/bin/python tests/benchmarks/detector_split.py OUT.pkl [--rounds 4]

``OUT.pkl``: a ``decide_replay.py record``. One recording replay first notes, per
``process_hits`` call, every failure handed to the jail's detectors and every login
(``JailDetection.observe_apart`` and ``succeeded``, in order), and each detector's answers.
Then, each round, these replays (commits off, thread CPU seconds) in turn:

- ``as is``: the engine as it runs;
- ``canned``: every detector answers what it answered in the recording (no detector's
  own work, no key changes, so no rows either; ``JailDetection``'s own steps run): as is
  minus canned is what the detectors cost inside the engine, their rows included;
- ``canned <name>``: that detector alone answers from its record;
- ``detectors first``: before each ``process_hits`` call, its recorded failures and logins
  go to the real detectors in order (``JailDetection.observe``: ``subnet`` with the
  others); the engine then takes their verdicts in turn. The same state, the detectors'
  work done apart from the bans': the most that deciding a batch's failures detector by
  detector, before the bans, could save (it knows which failures count, which the engine
  only learns from the bans it decides).

And outside the engine, the recorded failures handed to fresh detectors: failure by
failure (``JailDetection.observe``), and detector by detector (each detector the whole
run in one loop).
"""

from __future__ import annotations

import argparse
import gc
import pickle
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence, Sized
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decide_replay

from journalban.cli.run import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD
from journalban.config.detectors import DetectorsConfig
from journalban.decisions.detecting import JailDetection
from journalban.decisions.engine import Changes, DecisionEngine
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.denyusers import DenyUsers
from journalban.jails.detector import Failure, VerdictTuple
from journalban.jails.knowngood import KnownGood
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd

DETECTORS: list[type[Any]] = [DenyUsers, SlowWindow, AccountAttack, AttackMode, SubnetCrowd]
# (0, key, user, when): a failure the detectors observed; (1, ...): a login
Call = tuple[int, str, str | None, float]


@contextmanager
def patched(owner: type[Any], name: str, value: object) -> Iterator[None]:
    old = owner.__dict__[name]
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


class Recording:
    """What one replay handed the detectors, and what they answered."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.calls: list[list[Call]] = []  # per process_hits call
        self.by_detector: dict[type[Any], list[Sequence[VerdictTuple]]] = {}
        self.config: tuple[DetectorsConfig, int] | None = None
        observe, login = JailDetection.observe_apart, KnownGood.login
        hits = DecisionEngine.process_hits

        def noted_hits(engine: DecisionEngine, jail: str, batch: Any, found: Any) -> Changes:
            self.calls.append([])
            return hits(engine, jail, batch, found)

        def noted(det: JailDetection, key: str, user: str | None, when: float) -> Any:
            if self.config is None:
                self.config = (det.config, det.slow.keys.cap if det.slow else 100_000)
            self.calls[-1].append((0, key, user, when))
            return observe(det, key, user, when)

        def noted_login(
            good: KnownGood, waiting: Sized, key: str, user: str | None, when: float
        ) -> bool:
            # (``JailDetection.succeeded`` is ``KnownGood.login``, the crowd bound: a jail
            # without known-good pairs notes no login; replayed, its logins did nothing)
            done = login(good, waiting, key, user, when)
            if done:  # (False: called again after the crowd's verdicts)
                self.calls[-1].append((1, key, user, when))
            return done

        def each(kind: type[Any]) -> Callable[[Any, Failure], Sequence[VerdictTuple]]:
            own, found = kind.observe, self.by_detector.setdefault(kind, [])

            def answered(detector: Any, seen: Failure) -> Sequence[VerdictTuple]:
                found.append(own(detector, seen))
                return found[-1]

            return answered

        with (
            patched(DecisionEngine, "process_hits", noted_hits),
            patched(JailDetection, "observe_apart", noted),
            patched(KnownGood, "login", noted_login),
            patched(DenyUsers, "observe", each(DenyUsers)),
            patched(SlowWindow, "observe", each(SlowWindow)),
            patched(AccountAttack, "observe", each(AccountAttack)),
            patched(AttackMode, "observe", each(AttackMode)),
            patched(SubnetCrowd, "observe", each(SubnetCrowd)),
        ):
            decide_replay.replay(data, False, None)


def canned(answers: Sequence[object]) -> Callable[..., Any]:
    take = iter(answers).__next__
    return lambda *_: take()


def detectors_first(data: dict[str, Any], rec: Recording) -> tuple[float, str]:
    """A replay with each call's detectors run before the engine (see the docstring): its
    CPU seconds and the jails' counts of failures and bans."""
    apart, crowd, login = (
        JailDetection.observe_apart,
        JailDetection.crowd_verdicts,
        KnownGood.login,
    )
    hits = DecisionEngine.process_hits
    calls = iter(rec.calls)
    answers: list[Callable[[], Sequence[VerdictTuple]]] = []

    def first(engine: DecisionEngine, jail: str, batch: Any, found: Any) -> Changes:
        detection = engine.jails[jail].detection
        out: list[Sequence[VerdictTuple]] = []
        if detection is not None:
            for is_login, key, user, when in next(calls):
                if is_login:
                    if detection.known_good is not None:  # (the crowd just handed over)
                        login(detection.known_good, (), key, user, when)
                else:
                    verdicts = apart(detection, key, user, when)  # (as ``observe``)
                    held = crowd(detection)
                    out.append([*verdicts, *held[0][1]] if held else verdicts)
        answers[:] = [iter(out).__next__]
        return hits(engine, jail, batch, found)

    with (
        patched(DecisionEngine, "process_hits", first),
        patched(JailDetection, "observe_apart", lambda *_: answers[0]()),
        patched(JailDetection, "crowd_verdicts", lambda *_: []),
        patched(KnownGood, "login", lambda *_: True),
    ):
        return decide_replay.replay(data, False, None)


def outside(rec: Recording) -> tuple[float, float, dict[str, float]]:
    """The recorded failures given to fresh detectors: failure by failure, then detector
    by detector (CPU seconds, and each detector's)."""
    assert rec.config is not None
    config, cap = rec.config
    failures = [(k, u, w) for call in rec.calls for login, k, u, w in call if not login]
    detection = JailDetection(config, cap)
    started = time.thread_time()
    for key, user, when in failures:
        detection.observe(key, user, when)
    together = time.thread_time() - started
    detection = JailDetection(config, cap)
    seen = [(k, u, w, False) for k, u, w in failures]  # (no logins: nothing is known-good)
    each: dict[str, float] = {}
    for detector in detection.detectors:
        started, look = time.thread_time(), detector.observe
        for one in seen:
            look(one)
        each[detector.name] = time.thread_time() - started
    return together, sum(each.values()), each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickled", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with args.pickled.open("rb") as f:
        data = pickle.load(f)  # noqa: S301 (a file decide_replay.py wrote)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, GC_MIDDLE_THRESHOLD), oldest)
    rec = Recording(data)
    failures = sum(1 for call in rec.calls for login, *_ in call if not login)
    print(f"{failures} failures observed, {len(rec.calls)} calls")
    runs: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        spent, counts = decide_replay.replay(data, False, None)
        runs.setdefault("as is", []).append(spent)
        with ExitStack() as every:
            for kind, answers in rec.by_detector.items():
                every.enter_context(patched(kind, "observe", canned(answers)))
            runs.setdefault("canned", []).append(decide_replay.replay(data, False, None)[0])
        for kind, answers in rec.by_detector.items():
            if not answers:  # (not turned on)
                continue
            with patched(kind, "observe", canned(answers)):
                spent = decide_replay.replay(data, False, None)[0]
            runs.setdefault(f"canned {kind.name}", []).append(spent)
        spent, first = detectors_first(data, rec)
        if first != counts:
            raise SystemExit(f"detectors first decided otherwise: {first} against {counts}")
        runs.setdefault("detectors first", []).append(spent)
        together, apart, each = outside(rec)
        runs.setdefault("outside: failure by failure", []).append(together)
        runs.setdefault("outside: detector by detector", []).append(apart)
        for name, spent in each.items():
            runs.setdefault(f"outside: {name} alone", []).append(spent)
    base = statistics.median(runs["as is"])
    for name, figures in runs.items():
        median = statistics.median(figures)
        change = "" if name.startswith("outside") else f" ({median - base:+.3f} s against as is)"
        print(f"{name}: median {median:.3f} s{change}; {', '.join(f'{s:.3f}' for s in figures)}")


if __name__ == "__main__":
    main()
