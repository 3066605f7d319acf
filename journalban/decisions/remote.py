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


@dataclass
class RemoteOutcome:
    applied: int = 0
    lifted: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def refuse(self, why: str) -> None:
        self.refused[why] = self.refused.get(why, 0) + 1


class RemotePort(Protocol):
    """What the fleet asks of the agent (implemented by ``journalban.agent.fleetlink``)."""

    async def apply_remote(
        self, orders: Sequence[RemoteOrder], stream: str, seq: int
    ) -> RemoteOutcome:
        """Decide ``orders``, commit them with ``seq`` as the stream's position, apply them."""
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
