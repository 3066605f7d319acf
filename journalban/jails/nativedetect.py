"""The detectors' per-failure work in C (``journalban.jails._detectors``), or None.

On a flood every counted failure goes through ``JailDetection.observe_apart`` and the
``observe`` of ``slow``, ``account`` and ``attack_mode`` (jails.slow, jails.account,
jails.attackmode): a frame of Python each. ``apart_of`` builds the C ``Apart`` doing that
loop and those three detectors' steps, on the same objects, in the same order (their
state, rows and verdicts are the Python path's); any other detector (``deny_users``, or a
class whose ``observe`` was replaced) is called as it is. The Python methods stay the
reference and are used where the module is not built (a pip install without a compiler)
or with ``JOURNALBAN_NATIVE_DETECT=0``; ``NATIVE`` is looked up at each ``JailDetection``
made, so a test sets it to None to make the Python path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.buckets import BUCKETS, bucket_add_at
from journalban.jails.detector import (
    ACCOUNT,
    ACCOUNT_MAX,
    ATTACK_MODE,
    SLOW,
    Detector,
    Failure,
    Verdict,
    VerdictTuple,
    account_key,
)
from journalban.jails.distinct import note_distinct
from journalban.jails.slow import SlowWindow

ENV = "JOURNALBAN_NATIVE_DETECT"

# ``JailDetection.observe_apart``: (key, user, when) -> verdicts
ObserveApart = Callable[[str, "str | None", float], Sequence[VerdictTuple]]

# The kinds ``Apart`` knows (0: a callable, the detector's ``observe``), each with the
# ``observe`` it does in C: a class whose method is another (a test's, a benchmark's
# canned answers) is called as it is.
_KINDS: dict[type[Any], tuple[int, object]] = {
    SlowWindow: (1, SlowWindow.observe),
    AccountAttack: (2, AccountAttack.observe),
    AttackMode: (3, AttackMode.observe),
}


class Native(Protocol):
    """``journalban.jails._detectors`` (its ``.pyi`` has it too)."""

    def Apart(  # (the C type)
        self,
        good_networks: Callable[[str], bool] | None,
        known_good: object | None,
        crowd: list[Failure] | None,
        observers: tuple[tuple[int, object], ...],
    ) -> ObserveApart: ...


def _load() -> Native | None:
    if os.environ.get(ENV, "1") == "0":
        return None
    try:
        from journalban.jails import _detectors
    except ImportError:
        return None
    _detectors.setup(
        Verdict, bucket_add_at, note_distinct, account_key, ACCOUNT_MAX, BUCKETS,
        SLOW, ACCOUNT, ATTACK_MODE,
    )  # fmt: skip
    return _detectors


NATIVE: Native | None = _load()


def _observer(detector: Detector) -> tuple[int, object]:
    kind = _KINDS.get(type(detector))
    if kind is None or type(detector).observe is not kind[1] or "observe" in vars(detector):
        return (0, detector.observe)
    return (kind[0], detector)


def apart_of(
    detectors: Sequence[Detector],
    good_networks: Callable[[str], bool] | None,
    known_good: object | None,
    crowd: list[Failure] | None,
) -> ObserveApart | None:
    """``observe_apart`` in C over ``detectors`` (in order, ``subnet`` left out by the
    caller), or None without the module."""
    native = NATIVE
    if native is None or len(detectors) > 8:
        return None
    observers = tuple(_observer(d) for d in detectors)
    return native.Apart(good_networks, known_good, crowd, observers)
