"""The state's ban rows, and bans built from them.

At start the running bans are read once (``running_rows``): the firewall is
given them as stored (jail, network text, expiry: ``stored_of``), and the
``Ban`` objects and their networks, a third of a 100,000-ban start, are built
from the same rows (``bans_of``), while the kernel takes them when READY waits
for the ban table (agent.readiness), after READY otherwise.
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import repeat

from journalban.addresses import IPNetwork, network_text, stored_network
from journalban.errors import AddressError
from journalban.events import Ban
from journalban.firewall.base import StoredBan, StoredHosts
from journalban.netobjects import host_v4_network
from journalban.state.rowcheck import readable_jail

# Builds a ``Ban`` of every field, in order (``Ban`` itself, or decisions.banmaker's).
BanMaker = Callable[
    [str, IPNetwork, float, "float | None", int, str, int, str, "tuple[str, ...]", str], Ban
]
# (jail, network, banned_at, expires_at, ban_count, reason, failures, source)
BanRow = tuple[str, str, float, "float | None", int, str, int, str]
SELECT_BANS = (
    "SELECT jail, network, banned_at, expires_at, ban_count, reason, failures, source FROM bans"
)
# The bans not ``expired`` at the time given.
SELECT_RUNNING = SELECT_BANS + " WHERE expires_at IS NULL OR expires_at > ?"
SELECT_RUNNING_STORED = (
    "SELECT jail, network, expires_at FROM bans WHERE expires_at IS NULL OR expires_at > ?"
)


def running_stored(db: sqlite3.Connection, now: float) -> list[StoredBan]:
    """(jail, network text, expiry) of the bans still running at ``now`` (not ``expired``)."""
    rows: list[StoredBan] = db.execute(SELECT_RUNNING_STORED, (now,)).fetchall()
    return rows


def running_rows(db: sqlite3.Connection, now: float) -> list[BanRow]:
    """The rows of the bans still running at ``now``, every column ``bans_of`` reads: at
    start the firewall (``stored_of``) and the ban table are given them, from one read."""
    rows: list[BanRow] = db.execute(SELECT_RUNNING, (now,)).fetchall()
    return rows


def _columns(rows: Sequence[BanRow]) -> Callable[[int], Iterator[object]]:
    """Each row's value at an index, in order (``map``: no Python step per row)."""
    return lambda index: map(operator.itemgetter(index), rows)


def stored_of(rows: Sequence[BanRow]) -> list[StoredBan]:
    """(jail, network text, expiry) of each row, as ``running_stored`` reads them."""
    return list(map(operator.itemgetter(0, 1, 3), rows))


@contextlib.contextmanager
def one_read(db: sqlite3.Connection) -> Iterator[None]:
    """Every read inside sees the same state (one read transaction; WAL lets writers on)."""
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def bans_of(
    rows: Iterable[BanRow],
    texts: list[str] | None = None,
    make: BanMaker = Ban,
    hosts: StoredHosts | None = None,
) -> list[Ban]:
    """A ``Ban`` per row whose jail and network can be read (others are skipped), without
    matched lines.

    ``texts``, when given, receives each returned ban's network as text, in order.
    ``make``: builds each (every field given, in order): ``Ban`` or a faster maker of the
    same objects (decisions.banmaker: the dataclass's ``__init__`` was half of this).
    ``hosts``: ``rows`` parsed already (``state.rowcheck.host_rows``: every one readable,
    of one IPv4 address), built in C-driven ``map`` calls, no text parsed again.
    """
    if hosts is not None:
        rows = rows if isinstance(rows, Sequence) else list(rows)
        column = _columns(rows)
        nets = map(host_v4_network, hosts.addresses)
        if texts is not None:
            texts += hosts.texts
        return list(
            map(make, hosts.jails(), nets, column(2), column(3), column(4), column(5),
                column(6), column(7), repeat(()), repeat(""))
        )  # fmt: skip
    out: list[Ban] = []
    pton, from_bytes, af_inet, host = (
        socket.inet_pton,
        int.from_bytes,
        socket.AF_INET,
        host_v4_network,
    )
    jails: dict[object, bool] = {}  # a jail damaged in the file: its rows are skipped
    for jail, network, banned_at, expires_at, count, reason, failures, source in rows:
        good = jails.get(jail)
        if good is None:
            good = jails[jail] = readable_jail(jail)
        if not good:
            continue
        net: IPNetwork | None = None
        try:  # inet_pton takes only the canonical dotted quad: the text is str(net)
            if network[-3:] == "/32":
                net = host(from_bytes(pton(af_inet, network[:-3]), "big"))
                text = network
        except (OSError, TypeError):
            pass  # an IPv6 /32, or not an address: the general way below
        if net is None:
            try:
                net = stored_network(network, remember=texts is None)
            except (AddressError, TypeError, AttributeError):
                continue  # not a network (rowcheck.readable_rows counts these rows)
            text = network_text(net) if texts is not None else network
        out.append(make(jail, net, banned_at, expires_at, count, reason, failures, source, (), ""))
        if texts is not None:
            texts.append(text)
    return out


# The newest line time each jail's stored rows show: its newest counted failure or
# automatic ban (a ban's ``banned_at`` is its line's time; a manual one's is the clock's).
SELECT_SEEN = (
    "SELECT jail, max(newest) FROM failure_log GROUP BY jail UNION ALL "
    "SELECT jail, max(banned_at) FROM bans WHERE source != 'manual' AND reason IN "
    "(SELECT value FROM json_each(?)) GROUP BY jail"
)
SELECT_ENDED = "SELECT jail, network, banned_at, expires_at FROM bans WHERE expires_at <= ?"


def ended_unread(
    db: sqlite3.Connection, now: float, reasons: Iterable[str]
) -> list[tuple[str, str, float, float]]:
    """(jail, network text, banned_at, expires_at) of the bans ended at ``now`` whose end is
    after the newest line time the state stored for their jail (``SELECT_SEEN``: its
    failures, its bans for one of ``reasons``, the automatic ones).

    The state keeps no time of the position it reads on from; that newest time is at most
    the position's (the lines read next are not older), so every ban whose end the lines
    read next may not have passed is here (and a few whose end they had passed: they only
    hold a line older than the position, until the lines read pass their end). Damaged
    rows are skipped."""
    ended = db.execute(SELECT_ENDED, (now,)).fetchall()
    if not ended:  # (most starts: no second read of every ban)
        return []
    seen: dict[str, float] = {}
    for jail, at in db.execute(SELECT_SEEN, (json.dumps(list(reasons)),)):
        if isinstance(at, (int, float)) and at > seen.get(jail, -math.inf):
            seen[jail] = at
    out: list[tuple[str, str, float, float]] = []
    for jail, network, banned_at, expires_at in ended:
        if not (isinstance(jail, str) and isinstance(network, str)):
            continue
        if not (isinstance(banned_at, (int, float)) and isinstance(expires_at, (int, float))):
            continue
        if expires_at > seen.get(jail, -math.inf):
            out.append((jail, network, float(banned_at), float(expires_at)))
    return out
