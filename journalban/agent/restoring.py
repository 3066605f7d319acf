"""Restoring the state's bans into the firewall, and the record of each restore.

At start the kernel must hold every active ban before the agent says READY:
that is what systemd orders the network behind. The one record per restored
ban (``Restore ban of ...``; 100,000 of them after a large attack) is not: it
is written after READY, a chunk at a time between the agent's other work, as
writing it first held READY back by longer than the restore itself took.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from journalban.agent.logs import EventLog
from journalban.events import Ban
from journalban.firewall.base import BanEntry, FirewallBackend, ReconcileReport

log = logging.getLogger("journalban.agent")
# Restore records written between two yields to the event loop: 250 take
# about 10 ms, so D-Bus callers are answered while 100,000 records are
# written (2,000 a turn held every call for 80 ms and more, and GetBans's
# first sort, done in slices too, took seconds to get its turns).
LOG_CHUNK = 250


@dataclass(frozen=True, slots=True)
class Restored:
    """What one restore did: the bans asked for and the backend's report."""

    bans: Sequence[Ban]
    report: ReconcileReport
    now: float


@contextlib.contextmanager
def collector_paused(*, freeze: bool = False) -> Iterator[None]:
    """No garbage collection inside: a restore builds several objects per ban, all of
    which live on, and the collector walked them again and again (a fifth of the
    time loading 100,000 bans took). Objects freed meanwhile are freed as always.

    ``freeze`` (at start): what is alive at the end is frozen (``gc.freeze``): the
    bans, the agent's tables and all it loaded at start live as long as the agent,
    and a collection of the half million objects allocated meanwhile took 0.1 s
    right at the end; no later collection walks them either. A frozen object that
    becomes garbage is still freed by its reference count (the bans form no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def keep_out_of_collections() -> None:
    """Put every object alive now out of the collector's sight (``gc.freeze``).

    Called once the bans are loaded and restored: they live on, and a full
    collection walks every tracked object; at 100,000 bans (a million
    objects and more) one held the event loop, and every D-Bus caller, for
    one to three seconds under load, once per run as the table grew by a
    quarter. Frozen objects are still freed when nothing refers to them;
    only cycles among them wait for the process to end.
    """
    gc.freeze()


async def restore(
    backend: FirewallBackend, bans: Sequence[Ban], now: float, *, at_start: bool = False
) -> Restored:
    """Make the firewall hold exactly ``bans`` (in a thread: netlink blocks)."""
    with collector_paused(freeze=at_start):
        wanted = [BanEntry(b.jail, b.network, b.expires_at) for b in bans]
        report = await asyncio.to_thread(backend.reconcile, wanted, now)
    return Restored(bans, report, now)


async def log_restored(events: EventLog, restored: Restored) -> None:
    """One record per ban the firewall was given, then one per element it dropped."""
    added = {(e.jail, e.network) for e in restored.report.added}
    logged = [b for b in restored.bans if (b.jail, b.network) in added]
    for start in range(0, len(logged), LOG_CHUNK):
        events.events("restore", logged[start : start + LOG_CHUNK], restored.now)
        await asyncio.sleep(0)
    for entry in restored.report.removed:
        log.info(
            "Removed %s from jail %s in the firewall: not an active ban", entry.network, entry.jail
        )
