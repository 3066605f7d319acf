"""Counts over a long window without a timestamp per failure.

The window is cut into ``BUCKETS`` equal buckets; a key keeps (bucket,
count) pairs for the buckets it failed in, at most ``BUCKETS`` of them, as
one flat list ``[bucket, count, bucket, count, ...]`` (oldest first). The
count within the window is the sum of the pairs whose bucket is among the
last ``BUCKETS``: it covers between ``(BUCKETS-1)/BUCKETS`` of the window and
all of it, never a failure older than the window.
"""

from __future__ import annotations

BUCKETS = 24


def bucket_add(pairs: list[int], when: float, width: float) -> int:
    """Add one failure at ``when`` to ``pairs`` (in place); the count within the window."""
    return bucket_add_at(pairs, int(when // width))


def bucket_add_at(pairs: list[int], current: int) -> int:
    """``bucket_add`` of a failure in bucket ``current`` (``int(when // width)``: a detector
    that kept its last failure's bucket makes no int of a float for most failures)."""
    oldest = current - BUCKETS + 1
    drop = 0
    while drop < len(pairs) and pairs[drop] < oldest:
        drop += 2
    if drop:
        del pairs[:drop]
    if pairs and pairs[-2] == current:
        pairs[-1] += 1
    elif not pairs or pairs[-2] < current:
        pairs += (current, 1)
    else:  # out of order: an older bucket still within the window
        i = 0
        while pairs[i] < current:
            i += 2
        if pairs[i] == current:
            pairs[i + 1] += 1
        else:
            pairs[i:i] = [current, 1]
    return sum(pairs[1::2])


def bucket_count(pairs: list[int], now: float, width: float) -> int:
    """The failures in ``pairs`` within the window ending at ``now``."""
    oldest = int(now // width) - BUCKETS + 1
    return sum(c for b, c in zip(pairs[::2], pairs[1::2], strict=True) if b >= oldest)


def bucket_newest(pairs: list[int], width: float) -> float:
    """The end of the newest bucket (0 for none): a key idle since then may be forgotten."""
    return (pairs[-2] + 1) * width if pairs else 0.0
