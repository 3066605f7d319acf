"""``Ban`` objects built without the dataclass's ``__init__``, for the bans a flood decides.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
(a name lookup on the type per field); deciding a ban builds two of them (the
one committed with its lines, the one the ban table keeps without:
``events.lineless``), about a tenth of the agent's deciding on sshd-flood.
Filling the slots of a writable twin (``_BanDraft``: the same slots) by plain
attribute stores and then making it a ``Ban`` by its ``__class__`` builds the
same object at about a quarter of the dataclass's cost (3,400 instructions
against 7,900 for setting each slot through its member descriptor, and twice
that for the dataclass). The maker is checked at import against the dataclass
(the fields, their order, the slots, the objects it builds: equal, the same
``repr``, every attribute the same); where it differs, ``new_ban`` is ``Ban``
itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from journalban import events
from journalban.addresses import IPNetwork, stored_network
from journalban.events import Ban

FIELDS = (
    "jail", "network", "banned_at", "expires_at", "ban_count", "reason", "failures",
    "source", "lines", "account",
)  # fmt: skip

BanMaker = Callable[
    [str, IPNetwork, float, "float | None", int, str, int, str, "tuple[str, ...]", str], Ban
]
PairMaker = Callable[
    [str, IPNetwork, float, "float | None", int, str, int, str, "tuple[str, ...]", str],
    tuple[Ban, Ban],
]


def _alike(ours: Ban, theirs: Ban) -> bool:
    return (
        type(ours) is type(theirs)
        and ours == theirs
        and repr(ours) == repr(theirs)
        and all(getattr(ours, name) == getattr(theirs, name) for name in FIELDS)
    )


class _BanDraft:
    """A ``Ban``'s slots, writable: each is set by a plain attribute store (the
    interpreter's own slot store), then the object is made a ``Ban`` (``__class__``: the
    same slots, so the same layout). A frozen dataclass refuses attribute stores, and
    its slots' setters called one by one cost about 700 instructions each."""

    __slots__ = FIELDS
    jail: str
    network: IPNetwork
    banned_at: float
    expires_at: float | None
    ban_count: int
    reason: str
    failures: int
    source: str
    lines: tuple[str, ...]
    account: str


def _ban_maker() -> tuple[BanMaker, PairMaker] | None:
    """``Ban(...)`` (every field given, in order) filled as a ``_BanDraft``, and the pair
    of it and its ``lineless`` copy in one call; or None."""
    if tuple(f.name for f in dataclasses.fields(Ban)) != FIELDS or hasattr(Ban, "__post_init__"):
        return None
    if getattr(Ban, "__slots__", None) != FIELDS:
        return None
    # (the class called: ``object.__new__(_BanDraft)`` is a builtin's call and its
    # wrapper's checks, about 200 instructions more an object)
    new = _BanDraft

    def make(
        jail: str,
        network: IPNetwork,
        banned_at: float,
        expires_at: float | None,
        ban_count: int,
        reason: str,
        failures: int,
        source: str,
        lines: tuple[str, ...],
        account: str,
    ) -> Ban:
        ban = new()
        ban.jail = jail
        ban.network = network
        ban.banned_at = banned_at
        ban.expires_at = expires_at
        ban.ban_count = ban_count
        ban.reason = reason
        ban.failures = failures
        ban.source = source
        ban.lines = lines
        ban.account = account
        ban.__class__ = Ban  # type: ignore[assignment]
        return ban  # type: ignore[return-value]

    def pair(
        jail: str,
        network: IPNetwork,
        banned_at: float,
        expires_at: float | None,
        ban_count: int,
        reason: str,
        failures: int,
        source: str,
        lines: tuple[str, ...],
        account: str,
    ) -> tuple[Ban, Ban]:
        # (both filled here: a call of ``make`` each cost as much as a third filling)
        ban = new()
        bare = new()
        ban.jail = bare.jail = jail
        ban.network = bare.network = network
        ban.banned_at = bare.banned_at = banned_at
        ban.expires_at = bare.expires_at = expires_at
        ban.ban_count = bare.ban_count = ban_count
        ban.reason = bare.reason = reason
        ban.failures = bare.failures = failures
        ban.source = bare.source = source
        ban.lines = lines
        bare.lines = ()
        ban.account = bare.account = account
        ban.__class__ = bare.__class__ = Ban  # type: ignore[assignment]
        return ban, bare  # type: ignore[return-value]

    samples = (
        ("sshd", stored_network("192.0.2.1/32"), 1.5, 2.5, 1, "failures", 5, "files:x", ("a",), ""),
        ("web", stored_network("2001:db8::/64"), 0.0, None, 3, "account", 0, "", (), "root"),
    )
    try:
        for args in samples:
            ban, bare = pair(*args)
            if not (
                _alike(make(*args), Ban(*args))
                and _alike(ban, Ban(*args))
                and _alike(bare, events.lineless(Ban(*args)))
            ):
                return None
    except (AttributeError, TypeError):  # (TypeError: __class__ refused, another layout)
        return None
    return make, pair


def _dataclass_pair(
    jail: str,
    network: IPNetwork,
    banned_at: float,
    expires_at: float | None,
    ban_count: int,
    reason: str,
    failures: int,
    source: str,
    lines: tuple[str, ...],
    account: str,
) -> tuple[Ban, Ban]:
    ban = Ban(jail, network, banned_at, expires_at, ban_count, reason, failures, source, lines,
              account)  # fmt: skip
    return ban, events.lineless(ban)


_makers = _ban_maker()
new_ban: BanMaker = Ban if _makers is None else _makers[0]
# (a ban decided, and what the ban table keeps of it: ``events.lineless``)
new_ban_pair: PairMaker = _dataclass_pair if _makers is None else _makers[1]


def lineless(ban: Ban) -> Ban:
    """``events.lineless``: ``ban`` without its matched lines, built by ``new_ban``."""
    return new_ban(
        ban.jail, ban.network, ban.banned_at, ban.expires_at, ban.ban_count, ban.reason,
        ban.failures, ban.source, (), ban.account,
    )  # fmt: skip
