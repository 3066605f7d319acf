"""``Ban`` objects built without the dataclass's ``__init__``, for the bans a flood decides.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
(a name lookup on the type per field); deciding a ban builds two of them (the
one committed with its lines, the one the ban table keeps without:
``events.lineless``), about a tenth of the agent's deciding on sshd-flood.
Setting the slots through their member descriptors builds the same object in
half the time. The maker is checked at import against the dataclass (the
fields, their order, that each is a slot, the objects it builds: equal, the
same ``repr``, every attribute the same); where it differs, ``new_ban`` is
``Ban`` itself.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

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


def _ban_maker() -> tuple[BanMaker, PairMaker] | None:
    """``Ban(...)`` (every field given, in order) by the slots' own setters, and the pair
    of it and its ``lineless`` copy in one call; or None."""
    if tuple(f.name for f in dataclasses.fields(Ban)) != FIELDS or hasattr(Ban, "__post_init__"):
        return None
    setters: list[Any] = []
    for name in FIELDS:
        slot = Ban.__dict__.get(name)
        if not isinstance(slot, types.MemberDescriptorType):
            return None
        setters.append(slot.__set__)
    s_jail, s_net, s_at, s_exp, s_count, s_reason, s_fail, s_src, s_lines, s_acct = setters
    new = object.__new__

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
        ban: Ban = new(Ban)
        s_jail(ban, jail)
        s_net(ban, network)
        s_at(ban, banned_at)
        s_exp(ban, expires_at)
        s_count(ban, ban_count)
        s_reason(ban, reason)
        s_fail(ban, failures)
        s_src(ban, source)
        s_lines(ban, lines)
        s_acct(ban, account)
        return ban

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
        ban: Ban = new(Ban)
        bare: Ban = new(Ban)
        s_jail(ban, jail)
        s_jail(bare, jail)
        s_net(ban, network)
        s_net(bare, network)
        s_at(ban, banned_at)
        s_at(bare, banned_at)
        s_exp(ban, expires_at)
        s_exp(bare, expires_at)
        s_count(ban, ban_count)
        s_count(bare, ban_count)
        s_reason(ban, reason)
        s_reason(bare, reason)
        s_fail(ban, failures)
        s_fail(bare, failures)
        s_src(ban, source)
        s_src(bare, source)
        s_lines(ban, lines)
        s_lines(bare, ())
        s_acct(ban, account)
        s_acct(bare, account)
        return ban, bare

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
    except (AttributeError, TypeError):
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
