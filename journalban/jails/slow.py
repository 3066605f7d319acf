"""``slow``: a second, long window per address for low-and-slow attackers.

Counts are bucketed (``jails.buckets``): a key holds at most 24 (bucket,
count) pairs whatever its failures, never a time per failure. A key that failed
once (most of them, never banned by this window) holds its bucket alone, an int
shared with the other keys of that bucket, not a list: about 100 bytes less a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from journalban.config.detectors import SlowConfig
from journalban.jails import nativecrowd
from journalban.jails.buckets import BUCKETS, bucket_add_at
from journalban.jails.detector import SLOW, Failure, Row, Verdict, VerdictTuple
from journalban.jails.rowvalues import bucket_list, json_value
from journalban.jails.tracked import Tracked

_INF = float("inf")

# A key's buckets: a first failure's bucket alone (its count 1), a list from the second.
Buckets = list[int] | int


def buckets_text(value: Buckets) -> str:
    """The state row's text, the same whichever form is kept (``rowtext.ints_text``)."""
    return str(value) if type(value) is list else f"[{value}, 1]"


class SlowWindow:
    name = "slow"

    def __init__(self, config: SlowConfig, max_tracked: int) -> None:
        self.config = config
        self.width = config.findtime / BUCKETS
        self.keys: Tracked[Buckets] = Tracked(max_tracked, text=buckets_text)
        self._bucket = 0  # the last failure's bucket: the same int for the keys it is first of

    @property
    def tracked(self) -> int:
        return len(self.keys)

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        key, _, when, _ = seen
        # The failure's bucket: the last failure's int when the same (nearly every failure:
        # a float compared, no int() call), else made (nan: int() raises, as bucket_add).
        if (bucket := when // self.width) == self._bucket:
            bucket = self._bucket
        else:
            bucket = self._bucket = int(bucket)
        keys = self.keys
        pairs = keys.take(key, None)  # (put back at once: as get, then touch)
        if pairs is None:  # an address's first failure: its one bucket, the int alone
            count = 1
            if len(held := keys.kept) < keys.cap:  # (``add`` written out while there is room)
                held[key] = keys.dirty[key] = bucket
            else:
                keys.add(key, bucket)
        else:
            # (``bucket_add_at`` written out where a key fails again in its one bucket, most
            # of its later failures: nothing ages out, the bucket's count is the key's)
            if isinstance(pairs, list):
                if len(pairs) == 2 and pairs[0] == bucket:
                    pairs[1] = count = pairs[1] + 1
                else:
                    count = bucket_add_at(pairs, bucket)
            elif pairs == bucket:  # its second failure, in its first's bucket
                pairs, count = [bucket, 2], 2
            else:  # its second failure, in another bucket
                pairs = [pairs, 1]
                count = bucket_add_at(pairs, bucket)
            keys.kept[key] = keys.dirty[key] = pairs  # (``put_back`` written out: no frame)
        if count < self.config.maxretry:
            return ()
        keys.drop(key)
        return (Verdict(SLOW, key, count, self.config.bantime),)

    def banned(self, key: str) -> None:
        pass  # a ban by another detector does not forgive the long window

    def discard_changes(self) -> None:
        self.keys.discard()

    def changes(self) -> list[Row]:
        if (native := nativecrowd.NATIVE) is not None:  # (the same rows, made in C)
            return native.bucket_rows(self.keys, buckets_text)
        # (``buckets_text`` written out: a row per failing address per commit, a call less)
        return [
            (key, None if value is None else str(value) if type(value) is list else f"[{value}, 1]")
            for key, value in self.keys.changed().items()
        ]

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        """Keep the keys with a bucket within ``findtime`` of the newest stored bucket's end
        (at most ``now``): the lines read on from the committed position are as old as
        those (a backlog), and ``bucket_add_at`` ages buckets by the lines' times."""
        width, findtime = self.width, self.config.findtime
        newest, since = -_INF, -_INF  # (so far: a row left behind then is left for good)
        keys: list[str] = []
        found: list[list[int]] = []
        for key, value in rows:
            pairs = bucket_list(json_value(value))  # (jails.rowvalues: else skipped, counted)
            end = (pairs[-2] + 1) * width  # bucket_newest, inline: a flood's 60,000 rows
            if end > newest:
                newest = end
                since = (end if end < now else now) - findtime
            if end > since:
                keys.append(key)
                found.append(pairs)
        load = self.keys.load
        for key, pairs in zip(keys, found, strict=True):
            if (pairs[-2] + 1) * width > since:
                load(key, pairs)
