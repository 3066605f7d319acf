"""A jail's detectors beyond the per-address count, and its known-good pairs.

The decisions stage hands each failure (and each accepted login) of a jail
to its ``JailDetection``; the detectors answer with verdicts, which the
stage turns into bans (``decisions.banning``). The rows the detectors
changed go into the batch's commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from itertools import repeat
from operator import add

from journalban.config.detectors import DetectorsConfig
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.denyusers import DenyUsers
from journalban.jails.detector import Detector, Failure, VerdictTuple
from journalban.jails.knowngood import KnownGood
from journalban.jails.nativedetect import apart_of
from journalban.jails.slow import SlowWindow
from journalban.jails.subnet import SubnetCrowd
from journalban.state.detection import DetectorRow, restore_rows
from journalban.state.detectorlog import add_rows


class JailDetection:
    """The detectors a jail's configuration turns on, in a fixed order.

    The engine hands ``subnet`` a step's failures apart (``observe_apart``, then
    ``crowd_verdicts`` after its loop, decisions.crowd): its verdicts ban prefixes, never
    a network a failure is counted by, so no failure's counting waits on them, and the
    detector does its map's work for the step in one loop instead of between the other
    detectors' and the bans'. ``observe`` answers for every detector at once.
    """

    def __init__(self, config: DetectorsConfig, max_tracked: int) -> None:
        self.config = config
        self.deny = DenyUsers(config.deny_users) if config.deny_users else None
        self.slow = SlowWindow(config.slow, max_tracked) if config.slow else None
        self.account = AccountAttack(config.account, max_tracked) if config.account else None
        self.attack = AttackMode(config.attack_mode) if config.attack_mode else None
        self.subnet = SubnetCrowd(config.subnet, max_tracked) if config.subnet else None
        self.known_good = KnownGood(config.known_good) if config.uses_known_good else None
        found = (self.deny, self.slow, self.account, self.attack, self.subnet)
        self.detectors: list[Detector] = [d for d in found if d is not None]
        # (bound once, not per failure; ``subnet`` apart: ``observe_apart``)
        self._observers = [d.observe for d in self.detectors if d is not self.subnet]
        self._crowd: list[Failure] = []  # the step's failures for ``subnet``, in order
        self._crowd_failed = None if self.subnet is None else self._crowd.append
        # Whether any account logged in from a network (the known-good pairs' dict's own
        # ``__contains__``), None without them: a failure's and a verdict's first question.
        self.good_networks = self.known_good.network_known if self.known_good else None
        # An accepted login of ``user`` from ``key`` (key, user, when): a known-good pair.
        # False, and nothing done, for a pair not held while the crowd holds failures: their
        # verdicts first (``crowd_verdicts``; a new pair may change the known-good networks
        # they are narrowed around), then this again. ``KnownGood.login`` with the crowd
        # bound (no frame of Python here: a login each); without known-good pairs, True.
        self.succeeded: Callable[[str, str | None, float], bool] = (
            _taken if self.known_good is None else partial(self.known_good.login, self._crowd)
        )
        self.persist = True  # False: nothing is kept (a replay), rows() reports none
        # True: the engine leaves the rows to decisions.rowbatch (once per commit).
        self.deferred = False
        # ``observe_apart`` in C where jails._detectors is built (jails.nativedetect: the
        # same steps on the same objects), unless the method was replaced (a test's, a
        # benchmark's recording); else the Python method.
        if type(self).observe_apart is _PYTHON_APART:
            native = apart_of(
                [d for d in self.detectors if d is not self.subnet],
                self.good_networks,
                self.known_good,
                None if self.subnet is None else self._crowd,
            )
            if native is not None:
                vars(self)["observe_apart"] = native  # (the method, per instance)

    def observe(self, key: str, user: str | None, when: float) -> Sequence[VerdictTuple]:
        """The verdicts of every detector on one failure, in the detectors' order."""
        verdicts = self.observe_apart(key, user, when)
        crowd = self.crowd_verdicts()  # (of this one failure: none held before it)
        return [*verdicts, *crowd[0][1]] if crowd else verdicts

    def observe_apart(self, key: str, user: str | None, when: float) -> Sequence[VerdictTuple]:
        """The verdicts of every detector but ``subnet`` on one failure (most often none; a
        detector's own verdicts when it is the only one calling for a ban: no list made);
        ``subnet``'s failure held for ``crowd_verdicts``."""
        known = (
            user is not None
            and (network_known := self.good_networks) is not None
            and network_known(key)  # one lookup for most failures
            and self.known_good is not None
            and self.known_good.holds(user, key, when)
        )
        seen = (key, user, when, known)  # (jails.detector.Failure: a plain tuple)
        if (crowd_failed := self._crowd_failed) is not None and not known:
            crowd_failed(seen)  # (a known-good pair's failure: the crowd would skip it)
        verdicts: Sequence[VerdictTuple] = ()
        for observe in self._observers:
            found = observe(seen)
            if found:
                verdicts = [*verdicts, *found] if verdicts else found
        return verdicts

    def crowd_verdicts(self) -> list[tuple[float, Sequence[VerdictTuple]]]:
        """Hand ``subnet`` the failures held since the last call, in order (then forgotten);
        the verdicts it called for, each with its failure's time.

        The caller applies them before a login adds a pair (``succeeded``): a prefix ban is
        narrowed around the known-good networks as they were at its failure.
        """
        held, crowd = self._crowd, self.subnet
        if not held or crowd is None:
            return []
        found = crowd.observe_all(held)  # (one call for the step: no frame a failure)
        held.clear()
        return found

    def spares(self, account: str | None, network: str, when: float) -> bool:
        """Whether a crowd verdict on ``network`` must not ban it (a known-good pair)."""
        good = self.known_good
        if good is None or account is None:
            return False
        # (no pair holds a network no account logged in from: one lookup for most verdicts)
        return good.network_known(network) and good.holds(account, network, when)

    def rows(self) -> list[DetectorRow]:
        if not self.persist:
            for detector in self.detectors:
                detector.discard_changes()
            if self.known_good is not None:
                self.known_good.discard_changes()
            return []
        out: list[DetectorRow] = []
        # (detector, key, value): each (key, value) row after its detector's name, joined in
        # C (a row per changed key: a flood's every failure adds one or two)
        for detector in self.detectors:
            out += map(add, repeat((detector.name,)), detector.changes())
        if self.known_good is not None:
            out += map(add, repeat((self.known_good.name,)), self.known_good.changes())
        return out

    def add_rows(self, rows: list[DetectorRow], changed: dict[str, dict[str, str | None]]) -> None:
        """``rows()`` added to a batch's rows (``BatchCommit.detector_rows`` then
        ``detector_changes``): each detector's a dict made in C (``detectorlog.add_rows``),
        none a tuple of three."""
        if not self.persist:
            self.rows()  # (nothing kept)
            return
        for detector in self.detectors:
            add_rows(rows, changed, detector.name, detector.changes())
        if self.known_good is not None:
            add_rows(rows, changed, self.known_good.name, self.known_good.changes())

    def restore(
        self, rows: Mapping[str, Sequence[tuple[str, str]]], now: float, jail: str = ""
    ) -> int:
        """Rebuild every detector from its stored rows; how many could not be read (skipped)."""
        skipped = sum(
            restore_rows(d.restore, rows.get(d.name, ()), now, f"jail {jail} detector {d.name}")
            for d in self.detectors
        )
        good = self.known_good
        if good is not None:
            where = f"jail {jail} {good.name}"
            skipped += restore_rows(good.restore, rows.get(good.name, ()), now, where)
        return skipped

    @property
    def tracked(self) -> int:
        known = self.known_good.tracked if self.known_good is not None else 0
        return sum(d.tracked for d in self.detectors) + known


_PYTHON_APART = JailDetection.observe_apart


def _taken(key: str, user: str | None, when: float) -> bool:
    """``JailDetection.succeeded`` of a jail without known-good pairs: nothing to keep."""
    return True
