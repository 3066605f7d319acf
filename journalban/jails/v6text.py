"""An IPv6 /64 network's group-aligned prefix, cut from its text.

``subnet`` counts networks per /48 (``prefix6``); the agent's IPv6 keys are
/64 networks printed canonically (RFC 5952, as ``inet_ntop`` and
``ipaddress`` print them). Parsing each key back to an integer, masking it
and printing the prefix (``addresses.ipv6_prefix_key``) took about 2 µs a
key, the largest cost of ``subnet`` on an IPv6 flood (its /64s are mostly
distinct, so a memo does not help). The text gives it directly: a /64's low
64 bits are zero, so its text is its first groups up to the last non-zero one
(none of them compressed: the zero run at the end, at least four groups, is
the longest) followed by ``::``. A prefix of 16, 32, 48 or 64 bits is the
first 1-4 of those groups, its own zero groups at the end dropped into the
``::``; its zero run at the end is then at least four groups long, longer than
any run before it (at most three), so this is the canonical text.
tests/unit/test_subnet_v6_text.py checks it against ``ipaddress`` on random
and zero-heavy networks.
"""

from __future__ import annotations


def prefix_of_v6_64(key: str, groups: int) -> str | None:
    """The text before ``::`` of the first ``groups`` (1-4) groups of the /64 network
    ``key`` (canonical text, ending ``::/64``); None when ``key`` is not of that shape."""
    text = key[:-5]
    head = text.split(":")
    # (the agent's keys are canonical; anything else is left to the general path)
    if len(head) > 4 or not all(head) or len(text) > 19 or not _LOWER_HEX.issuperset(text):
        return None
    kept = head[:groups]
    while kept and kept[-1] == "0":
        kept.pop()
    return ":".join(kept)


_LOWER_HEX = frozenset("0123456789abcdef:")
