"""Restoring the state's bans into the firewall, and the record of each restore.

At start the kernel must hold every active ban before the agent says READY:
that is what systemd orders the network behind. The one record per restored
ban (``Restore ban of ...``; 100,000 of them after a large attack) is not: it
is written after READY, a chunk at a time between the agent's other work, as
writing it first held READY back by longer than the restore itself took.

A backend that restores straight from the state's rows (``StoredRestorer``:
nftables) is given (jail, network, expiry) of each running ban before READY;
the ``Ban`` objects and the ban table, a third of a start's time, are built
from the same rows (one read: ``state.banrows.running_rows``): while the
kernel takes them when READY waits for the D-Bus API, which answers from the
table (agent.readiness), right after READY otherwise (only the agent's own
work uses them then, every task of which starts after them).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from journalban.agent.logs import EventLog
from journalban.decisions.runtime import BanTable
from journalban.events import Ban
from journalban.firewall.base import (
    BanEntry,
    FirewallBackend,
    ReconcileReport,
    StoredBan,
    StoredHosts,
    StoredReport,
    StoredRestorer,
)
from journalban.firewall.entrymaker import new_entry
from journalban.state.banrows import BanRow, stored_of
from journalban.state.rowcheck import host_rows, readable_rows

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


@dataclass(frozen=True, slots=True)
class StoredRestored:
    """What a restore from the state's rows did: the bans given elements, those dropped."""

    logged: Sequence[Ban]
    removed: Sequence[BanEntry]
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
        wanted = [new_entry(b.jail, b.network, b.expires_at) for b in bans]
        report = await asyncio.to_thread(backend.reconcile, wanted, now)
    return Restored(bans, report, now)


def stored_restorer(backend: FirewallBackend) -> StoredRestorer | None:
    """The backend, when it restores from the state's rows."""
    return backend if isinstance(backend, StoredRestorer) else None


async def restore_rows(
    restorer: StoredRestorer, rows: Sequence[StoredBan], uses: Callable[[str], bool], now: float
) -> StoredReport:
    """Give the firewall the bans of ``rows`` whose jail ``uses`` it (in a thread)."""
    with collector_paused():
        wanted: Sequence[StoredBan]
        if isinstance(rows, StoredHosts):  # (parsed already: kept so, for the firewall)
            wanted = rows.only(uses)
        else:
            used = {jail: uses(jail) for jail in {row[0] for row in rows}}
            wanted = rows if all(used.values()) else [row for row in rows if used[row[0]]]
        return await asyncio.to_thread(restorer.restore_stored, wanted, now)


def usable_rows(rows: Sequence[BanRow]) -> tuple[StoredHosts | None, Sequence[StoredBan], int]:
    """The running rows as the firewall is given them, and how many could not be read.

    Nearly always every row is of one IPv4 address: their texts are parsed once, for the
    firewall and the ban table (``StoredHosts``, also returned first); otherwise each row
    is read as it is (``readable_rows``: None first)."""
    hosts = host_rows(rows, expiry=3)
    if hosts is not None:
        return hosts, hosts, 0
    usable, skipped = readable_rows(stored_of(rows))
    return None, usable, skipped


async def set_up(setup: Awaitable[None], table: asyncio.Future[None] | None) -> None:
    """``setup`` (the firewall's) awaited; should it fail, the ban table's thread started
    beside it (``table``) is waited for before the error is raised: nothing left running."""
    try:
        await setup
    except BaseException:
        if table is not None:
            await asyncio.gather(table, return_exceptions=True)
        raise


def stored_restored(table: BanTable, report: StoredReport, now: float) -> StoredRestored:
    """The bans of the ban table the report says were added."""
    whole, added = report.whole, report.added
    if added:
        logged = [b for key, b in table.by_text.items() if key[0] in whole or key in added]
    elif not whole:  # (a restart into a kernel holding every ban: none)
        logged = []
    elif whole.issuperset(table.per_jail):  # (a restore into an empty table: every ban)
        logged = list(table.values())
    else:  # (no index by text of 100,000 bans, 25 ms)
        logged = [b for (jail, _), b in table.items() if jail in whole]
    return StoredRestored(logged, report.removed, now)


async def log_restored(events: EventLog, restored: Restored | StoredRestored) -> None:
    """One record per ban the firewall was given, then one per element it dropped."""
    removed: Sequence[BanEntry]
    if isinstance(restored, Restored):
        added = {(e.jail, e.network) for e in restored.report.added}
        logged = [b for b in restored.bans if (b.jail, b.network) in added]
        removed = restored.report.removed
    else:
        logged, removed = list(restored.logged), restored.removed
    for start in range(0, len(logged), LOG_CHUNK):
        events.events("restore", logged[start : start + LOG_CHUNK], restored.now)
        await asyncio.sleep(0)
    for entry in removed:
        log.info(
            "Removed %s from jail %s in the firewall: not an active ban", entry.network, entry.jail
        )


async def built_unless_stopped(build: Callable[[], object], stop: asyncio.Event) -> bool:
    """Run ``build`` (the ban table, after READY) in a thread of its own; True once it is
    done, False if ``stop`` (SIGTERM) came first.

    A stop must not wait for a table of 200,000 bans (seconds on a loaded host): the
    firewall and the state hold every ban already, so the half-built table is left to
    its daemon thread, which the process's exit ends. An error of ``build`` is raised."""
    loop = asyncio.get_running_loop()
    built: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if built.done():
            return
        if error is None:
            built.set_result(None)
        else:
            built.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            build()
        except BaseException as exc:  # raised in the event loop, where it is awaited
            error = exc
        with contextlib.suppress(RuntimeError):  # (the loop closed: the agent stopped)
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name="ban-table", daemon=True).start()
    stopping: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((built, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if built.done():
        built.result()
        return True
    return False


def log_unreadable(skipped: int) -> None:
    """The named warning for stored bans whose jail or network could not be read."""
    if skipped:
        log.warning(
            "unreadable stored bans: %d stored ban(s) could not be read and were skipped "
            "(a damaged jail or network in the state file); the others are restored",
            skipped,
        )
