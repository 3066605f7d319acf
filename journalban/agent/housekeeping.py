"""Background chores of the agent: resolving ignoreip host names, pruning old state."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable

from journalban.decisions.engine import DecisionEngine
from journalban.decisions.policy import HISTORY_HORIZON

log = logging.getLogger("journalban.agent")
RESOLVE_TIMEOUT = 5.0
# Ban rows that ended this long ago by the clock may go (prune_state).
ENDED_GRACE = 60.0


async def resolve_names(names: Iterable[str]) -> dict[str, list[str]]:
    """The addresses each name resolves to now; names that fail are left out.

    A failed lookup never drops a name's last known addresses: the caller
    merges this into what the state remembers.
    """
    loop = asyncio.get_running_loop()
    found: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            log.warning(
                "cannot resolve ignoreip host name %s (keeping its last known addresses): %s",
                name,
                exc,
            )
            continue
        addresses = sorted({str(info[4][0]).split("%")[0] for info in infos})
        if addresses:
            found[name] = addresses
    return found


def refresh_ignore_lists(
    decisions: DecisionEngine, names: dict[str, list[str]], now: float
) -> None:
    """Remember resolved names in the state and give every jail the new addresses."""
    for name, addresses in names.items():
        decisions.store.remember_hostname(name, addresses, now)
    known = decisions.store.known_hostnames()
    for rt in decisions.jails.values():
        rt.ignore.update_hostnames(known)


def prune_state(decisions: DecisionEngine, now: float) -> None:
    """Drop failures that can no longer count, history nothing reads any more, and the
    rows of bans that ended long enough ago by the clock and by the lines read.

    A ban the expiry chore lifts loses its row then; one that ended while the agent was
    down keeps it (its span may still hold the backlog read next: ``load_bans``) until
    the lines read pass its end. ``ENDED_GRACE`` leaves a ban that just ended to the
    chore, which lifts it within a second.
    """
    keep, ended = {}, {}
    for name, rt in decisions.jails.items():
        if rt.latest_line:
            keep[name] = rt.latest_line - rt.config.findtime
            ended[name] = min(now - ENDED_GRACE, rt.latest_line)
    horizon = max(HISTORY_HORIZON, decisions.recidive.findtime)
    decisions.store.prune(now, keep, now - horizon, ended)


def ignore_names(decisions: DecisionEngine) -> set[str]:
    return {name for rt in decisions.jails.values() for name in rt.ignore.names}
