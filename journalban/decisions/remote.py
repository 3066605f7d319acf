"""Bans decided elsewhere (another fleet host), taken through this host's own rules.

The fleet package (an edge) hands ``RemoteOrder``s to the agent through
``RemotePort``; the agent runs ``decide_remote`` in its decisions task, so a
remote ban is one more decision of the one writer of ban state, committed
with the stream position it came from (``FLEET_POSITION``) in the same
transaction. This host's rules: never an ignored, own or local address (nor a
too wide prefix), never a jail this host lacks unless all-ports bans are
configured, the expiry as sent. Remote bans carry ``source`` "fleet:<origin>"
and are recorded as manual in the history, so that they neither count as this
host's repeat offences nor feed recidive; a remote unban lifts only bans that
came from the fleet.

Each fleet ban held here is tied to the stream sequence of the latest message
that carries it (``RemoteOutcome.held``, kept by the fleet's ledger): once the
stream no longer holds that message (trimmed by ``max_age`` or a limit, or the
stream made anew), ``lift_unheld`` lifts the ban, so that every host, behind
or not, holds what a host joining now would read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from journalban.addresses import IPNetwork
from journalban.decisions.engine import Changes, DecisionEngine
from journalban.errors import AddressIgnored
from journalban.events import Ban
from journalban.state.store import BatchCommit

FLEET_POSITION = "@fleet"  # the positions row (jail column) of the stream sequence
FLEET_SOURCE = "fleet:"


@dataclass(frozen=True, slots=True)
class RemoteOrder:
    """A ban or unban from ``origin``; times on this host's clock."""

    op: str  # "ban" or "unban"
    jail: str | None  # None: every jail (unban)
    network: IPNetwork
    banned_at: float
    expires_at: float | None
    origin: str
    reason: str = ""
    seq: int = 0  # the stream sequence of the message


@dataclass
class RemoteOutcome:
    applied: int = 0
    lifted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    # (jail, network, seq): fleet bans held here and the message that carries each
    held: list[tuple[str, IPNetwork, int]] = field(default_factory=list)

    def refuse(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1


class RemotePort(Protocol):
    """What the fleet asks of the agent (implemented by ``journalban.agent.fleetlink``)."""

    async def apply_remote(
        self, orders: Sequence[RemoteOrder], stream: str, seq: int
    ) -> RemoteOutcome:
        """Decide ``orders``, commit them with ``seq`` as the stream's position, apply them."""
        ...

    async def committed_position(self, stream: str) -> int:
        """The stream position committed, once every change queued before is."""
        ...

    async def lift_unheld(self, stream: str, below: int) -> int:
        """Lift the fleet bans whose message's sequence is below ``below``; how many."""
        ...

    async def forget_held(self, stream: str) -> None:
        """The stream was made anew: no message of the old one carries a ban any longer."""
        ...


def is_remote(ban: Ban) -> bool:
    return ban.source.startswith(FLEET_SOURCE)


def decide_remote(
    engine: DecisionEngine,
    orders: Sequence[RemoteOrder],
    stream: str,
    seq: int,
    *,
    all_ports_jail: str | None = None,
    check_prefix: Callable[[IPNetwork], None] | None = None,
) -> tuple[Changes, RemoteOutcome]:
    """The changes ``orders`` make here, with one commit holding the position ``seq``."""
    now = engine.clock.now()
    changes = Changes()
    outcome = RemoteOutcome()
    commits: dict[str, BatchCommit] = {}
    for order in orders:
        if order.op == "unban":
            _unban(engine, order, changes, outcome, commits)
            continue
        jail = order.jail if order.jail in engine.jails else all_ports_jail
        if jail is None or order.jail is None:
            outcome.refuse("no_jail")
            continue
        rt = engine.jails.get(jail) or next(iter(engine.jails.values()), None)
        if rt is None:
            outcome.refuse("no_jail")
            continue
        if rt.ignore.why_ignored(order.network) is not None:
            outcome.refuse("ignored")
            continue
        if check_prefix is not None and order.network.prefixlen < order.network.max_prefixlen:
            try:
                check_prefix(order.network)
            except AddressIgnored:
                outcome.refuse("ignored")
                continue
        if order.expires_at is not None and order.expires_at <= now:
            outcome.refuse("expired")
            continue
        old = engine.bans.get((jail, order.network))
        if old is not None and not is_remote(old):
            outcome.refuse("banned_here")
            continue
        if old is not None and (
            old.expires_at is None
            or (order.expires_at is not None and old.expires_at >= order.expires_at)
        ):
            outcome.refuse("duplicate")
            outcome.held.append((jail, order.network, order.seq))  # a later message carries it
            continue
        ban = Ban(
            jail, order.network, min(order.banned_at, now), order.expires_at, 1,
            f"fleet {order.origin}: {order.reason}"[:160], 0, FLEET_SOURCE + order.origin,
        )  # fmt: skip
        commit = commits.setdefault(jail, BatchCommit(jail=jail))
        commit.bans.append(ban)
        commit.history.append((ban, True))
        commit.banned_delta += 0 if old else 1
        engine.bans[(jail, order.network)] = ban
        changes.bans.append(ban)
        outcome.applied += 1
        outcome.held.append((jail, order.network, order.seq))
    changes.commits.extend(commits.values())
    changes.commits.append(BatchCommit(jail=FLEET_POSITION, source=stream, position=str(seq)))
    return changes, outcome


def _unban(
    engine: DecisionEngine,
    order: RemoteOrder,
    changes: Changes,
    outcome: RemoteOutcome,
    commits: dict[str, BatchCommit],
) -> None:
    jails = [order.jail] if order.jail is not None else sorted({j for j, _ in engine.bans})
    lifted = 0
    for jail in jails:
        ban = engine.bans.get((jail, order.network))
        if ban is None or not is_remote(ban):
            continue
        engine.bans.pop((jail, order.network), None)
        changes.unbans.append((ban, f"fleet {order.origin}"))
        commits.setdefault(jail, BatchCommit(jail=jail)).unbans.append(ban)
        lifted += 1
    if lifted:
        outcome.lifted += lifted
    else:
        outcome.refuse("not_banned")


def lift_unheld(engine: DecisionEngine, held: Sequence[tuple[str, IPNetwork]]) -> Changes:
    """Lift the fleet bans among ``held`` (jail, network): their message left the stream.

    A ban held here that is no longer a fleet ban (this host banned it itself
    since) stays.
    """
    gone = [ban for key in held if (ban := engine.bans.get(key)) is not None and is_remote(ban)]
    return engine._lift(gone, "fleet: its message left the stream") if gone else Changes()
