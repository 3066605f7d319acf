"""How long a ban lasts: the jail's bantime, longer for repeat offenders."""

from __future__ import annotations

from journalban.config.schema import BantimeIncrement

HISTORY_HORIZON = 30 * 86400.0  # how far back earlier bans count


def ban_length(
    bantime: float | None, increment: BantimeIncrement, previous_bans: int
) -> float | None:
    """The length of a network's next ban, given how often it was banned before.

    ``previous_bans`` 0 gives ``bantime``; then ``bantime * factor**n`` or
    ``bantime * multipliers[n]`` (the last multiplier repeats), capped at
    ``maxtime``. None means permanent.
    """
    if bantime is None:
        return None
    if not increment.enabled or previous_bans <= 0:
        return bantime
    if increment.multipliers:
        mult = increment.multipliers[min(previous_bans, len(increment.multipliers) - 1)]
    else:
        mult = increment.factor ** min(previous_bans, 64)
    length = bantime * mult
    if increment.maxtime is not None:
        length = min(length, increment.maxtime)
    return length
