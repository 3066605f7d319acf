"""The one shape of every detector beyond the per-address count.

As CrowdSec's bucket types share one interface, each detector here (deny
users, the slow window, subnets, accounts under attack, attack mode) is a
``Detector``: it observes one failure at a time and answers with the bans it
calls for (``Verdict``); it reports its state changes as rows for the state
database (committed with the batch position) and is rebuilt from those rows
after a restart. Detectors never ban themselves: the decisions stage does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

# Ban reasons: the fixed classes any local user may read (never an account name).
FAILURES = "failures"
SLOW = "slow"
SUBNET = "subnet"
ACCOUNT = "account"
ATTACK_MODE = "attack_mode"
DENY_USER = "deny_user"
REASONS = (FAILURES, SLOW, SUBNET, ACCOUNT, ATTACK_MODE, DENY_USER)

# An account name is attacker text: longer ones are cut before they are kept.
ACCOUNT_MAX = 128


def account_key(user: str) -> str:
    """An account name as detectors keep it: cut to ``ACCOUNT_MAX`` characters, without
    NUL (a D-Bus string cannot hold one, and known-good keys use it as separator)."""
    return user[:ACCOUNT_MAX].replace("\x00", "\ufffd")


class Seen(NamedTuple):
    """One failure as detectors see it: the fields of a ``Failure``, named."""

    key: str  # the network counted as (an address, or an IPv6 prefix), as text
    user: str | None  # the account named, if the filter captured one
    when: float
    known_good: bool = False  # (user, key) logged in before: never banned for the crowd's sake


# What ``Detector.observe`` is handed: (key, user, when, known_good), ``Seen``'s fields. The
# engine hands a plain tuple (one per failure): built without a call, and unpacked by each
# detector in place (a tuple subclass, as ``Seen``, is unpacked through an iterator).
Failure = tuple[str, str | None, float, bool]


class Verdict(NamedTuple):
    """A ban a detector calls for (a tuple: a frozen dataclass's ``__init__`` cost four
    times a tuple's); detectors hand its fields as a ``VerdictTuple``."""

    reason: str  # one of REASONS
    network: str  # the network (text) to ban; for ``subnet`` the widest prefix allowed
    # the failures (or distinct addresses) behind it (a field: it hides tuple.count)
    count: int  # type: ignore[assignment]
    bantime: float | None  # config.detectors.JAIL_BANTIME: the jail's
    account: str | None = None
    members: tuple[str, ...] = ()  # subnet: the attacking networks inside ``network``


# What ``Detector.observe`` returns: tuples of ``Verdict``'s fields, (reason, network, count,
# bantime, account, members). The verdicts made per failure (an attacked account's, attack
# mode's: a flood's every failure) are plain tuples, built without a call and unpacked in
# place by the decisions stage: a tuple subclass, as ``Verdict``, is built by a call and
# unpacked through an iterator. The others are ``Verdict``s (``Verdict(*found)`` names any).
VerdictTuple = tuple[str, str, int, float | None, str | None, tuple[str, ...]]

# A state change: (key, value text), value None when the key is gone.
Row = tuple[str, str | None]


class Detector(Protocol):
    """A counter of one kind for one jail."""

    @property
    def name(self) -> str:
        """The configuration key and the state table's detector name."""
        ...

    @property
    def tracked(self) -> int:
        """How many keys (addresses, prefixes, accounts) it holds: bounded."""
        ...

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        """Count one failure; the bans it calls for (often none)."""
        ...

    def banned(self, key: str) -> None:
        """``key`` was just banned: forget what counted towards it."""
        ...

    def changes(self) -> list[Row]:
        """The state rows changed since the last call (then forgotten)."""
        ...

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        """Rebuild from the stored rows (what ``changes`` returned, committed)."""
        ...

    def discard_changes(self) -> None:
        """Forget what changed without encoding it (a replay keeps no state)."""
        ...
