"""``slow``: a second, long window per address for low-and-slow attackers.

Counts are bucketed (``jails.buckets``): a key holds at most 24 (bucket,
count) pairs whatever its failures, never a time per failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from journalban.config.detectors import SlowConfig
from journalban.jails.buckets import BUCKETS, bucket_add
from journalban.jails.detector import SLOW, Row, Seen, Verdict
from journalban.jails.rowvalues import bucket_list, json_value
from journalban.jails.tracked import Tracked


class SlowWindow:
    name = "slow"

    def __init__(self, config: SlowConfig, max_tracked: int) -> None:
        self.config = config
        self.width = config.findtime / BUCKETS
        # (rowtext.ints_text is str: given itself, no Python call per row)
        self.keys: Tracked[list[int]] = Tracked(max_tracked, text=str)

    @property
    def tracked(self) -> int:
        return len(self.keys)

    def observe(self, seen: Seen) -> Sequence[Verdict]:
        pairs = self.keys.get(seen.key)
        if pairs is None:  # an address's first failure: its one bucket
            pairs = [int(seen.when // self.width), 1]
            count = 1
        else:
            count = bucket_add(pairs, seen.when, self.width)
        self.keys.touch(seen.key, pairs)
        if count < self.config.maxretry:
            return ()
        self.keys.drop(seen.key)
        return (Verdict(SLOW, seen.key, count, self.config.bantime),)

    def banned(self, key: str) -> None:
        pass  # a ban by another detector does not forgive the long window

    def discard_changes(self) -> None:
        self.keys.discard()

    def changes(self) -> list[Row]:
        return self.keys.changes()

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        since, width, load = now - self.config.findtime, self.width, self.keys.load
        for key, value in rows:
            pairs = bucket_list(json_value(value))  # (jails.rowvalues: else skipped, counted)
            if (pairs[-2] + 1) * width > since:  # bucket_newest, inline: a flood's 60,000 rows
                load(key, pairs)
