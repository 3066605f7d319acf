"""``attack_mode``: the jail's failure rate over all addresses.

Above ``failures`` within ``findtime`` the jail is under attack for
``hold``: any failing network is banned at its first failure (known-good
pairs excepted). The rate is kept in buckets (``jails.buckets``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from journalban.config.detectors import AttackModeConfig
from journalban.jails.buckets import BUCKETS, bucket_add_at
from journalban.jails.detector import ATTACK_MODE, Failure, Row, VerdictTuple
from journalban.jails.rowvalues import bucket_list, finite_time, json_value


class AttackMode:
    name = "attack_mode"

    def __init__(self, config: AttackModeConfig) -> None:
        self.config = config
        self.width = config.findtime / BUCKETS
        self.pairs: list[int] = []
        self._count = 0  # what bucket_add_at last counted in ``pairs``; 0: count again
        # The bucket whose failures only add one to ``_count`` (the newest of ``pairs``,
        # counted, none of them aged out at it), None: count again. Set by a count, dropped
        # wherever ``pairs`` is replaced.
        self._fresh: int | None = None
        self.until = 0.0
        self._dirty = False

    @property
    def tracked(self) -> int:
        return 1

    def active(self, now: float) -> bool:
        return now < self.until

    def end(self) -> None:
        self.until = 0.0
        self.pairs = []
        self._count = 0
        self._fresh = None
        self._dirty = True

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        key, _, when, known_good = seen  # (one unpacking: a call per failure of the jail)
        self._dirty = True
        # The failure's bucket as the float ``//`` gives it: compared with ``_fresh`` as it
        # is (exactly), made an int only to be added (nan: int() raises).
        if (current := when // self.width) == self._fresh:
            # The newest bucket again, none aged out: the window's count is one more
            # (bucket_add_at sums every bucket, for each failure of the jail).
            self.pairs[-1] += 1
            count = self._count = self._count + 1
        else:
            pairs, fresh, count = self.pairs, int(current), self._count
            if count and fresh > pairs[-2]:
                # A newer bucket (most of the others: a bucket is findtime/24): the window
                # moves on, the buckets it leaves behind taken off the count (``_count`` is
                # the sum of ``pairs``' counts when not 0), no sum of every bucket.
                oldest = fresh - BUCKETS + 1
                while pairs and pairs[0] < oldest:
                    count -= pairs[1]
                    del pairs[:2]
                pairs += (fresh, 1)
                count = self._count = count + 1
            else:
                count = self._count = bucket_add_at(pairs, fresh)
            # (its oldest bucket is then at most BUCKETS-1 older: a failure of that bucket
            # again only adds one, unless it was older than the newest)
            self._fresh = fresh if pairs[-2] == fresh else None
        until = self.until
        if when >= until and count >= self.config.failures:
            until = self.until = when + self.config.hold
            self.pairs = []
            self._count = 0
            self._fresh = None
        if when < until and not known_good:
            # (a plain tuple, no call: one per failure while the jail is under attack)
            return ((ATTACK_MODE, key, 1, self.config.bantime, None, ()),)
        return ()

    def banned(self, key: str) -> None:
        pass

    def discard_changes(self) -> None:
        self._dirty = False

    def changes(self) -> list[Row]:
        if not self._dirty:
            return []
        self._dirty = False
        return [("", json.dumps([self.until, self.pairs]))]

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        for _, value in rows:
            until, pairs = json_value(value)
            # (jails.rowvalues: a NaN end never starts attack mode again, an infinite one
            # never ends it; such a row is skipped and counted, the state left as it was)
            # An end further than ``hold`` from now (a far-off one, or a hold configured
            # shorter since) ends a hold from now.
            end = min(finite_time(until), now + self.config.hold)
            self.until, self.pairs = end, bucket_list(pairs, empty=True)
            self._count = 0
            self._fresh = None
