"""Distinct networks seen for one key (an account, a prefix) within a window.

The account and subnet detectors both count how many distinct networks failed
for their key within ``findtime``; this is that count, kept as each network's
latest failure time.
"""

from __future__ import annotations


def note_distinct(
    networks: dict[str, float], key: str, when: float, findtime: float, needed: int
) -> bool:
    """Record ``key`` failing at ``when``; True once ``needed`` distinct keys are in the window.

    Older networks are forgotten only when they would make the count, so a
    key below the threshold costs no scan.
    """
    last = networks.get(key)
    networks[key] = when if last is None or when > last else last
    if len(networks) >= needed:
        since = when - findtime
        for old in [k for k, t in networks.items() if t <= since]:
            del networks[old]
    return len(networks) >= needed
