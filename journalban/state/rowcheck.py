"""Which stored ban rows can be read at all: a row damaged in the file is skipped, and counted.

SQLite keeps whatever a hand (or a disk) wrote into a column: a jail or a
network that is a number, a blob, empty text or text that is no network. The
agent never stops on such a row: it restores the others, and says how many it
skipped (``readable_rows``), so "N bans restored" counts only real bans.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from itertools import groupby, repeat
from operator import itemgetter

from journalban.addresses import stored_network
from journalban.errors import AddressError
from journalban.firewall.base import StoredBan, StoredHosts


def readable_jail(jail: object) -> bool:
    """A jail name as text: non-empty, printable, without spaces (a fail2ban import may
    bring names the configuration does not have: those are still read)."""
    return isinstance(jail, str) and jail.isprintable() and bool(jail) and " " not in jail


def readable_network(text: object) -> bool:
    """A network text ``stored_network`` reads (``a.b.c.d/32`` checked the fast way)."""
    if not isinstance(text, str):
        return False
    if text.endswith("/32"):
        try:
            socket.inet_pton(socket.AF_INET, text[:-3])
        except OSError:
            pass  # an IPv6 /32, or not an address: the general way below
        else:
            return True
    try:
        stored_network(text, remember=False)
    except (AddressError, ValueError):
        return False
    return True


def readable_rows(rows: Sequence[StoredBan]) -> tuple[Sequence[StoredBan], int]:
    """``rows`` without those whose jail, network or expiry cannot be read, and how many
    those were (``rows`` itself when none: no copy of 100,000 rows)."""
    jails: dict[object, bool] = {}
    bad: list[int] = []
    pton, af_inet = socket.inet_pton, socket.AF_INET
    for index, (jail, text, expires) in enumerate(rows):
        good = jails.get(jail)
        if good is None:
            good = jails[jail] = readable_jail(jail)
        if good and (expires is None or type(expires) is float or _readable_expiry(expires)):
            try:  # nearly every ban: a single IPv4 address, checked inline
                if text[-3:] == "/32":
                    pton(af_inet, text[:-3])
                    continue
            except (OSError, TypeError):
                pass
            if readable_network(text):
                continue
        bad.append(index)
    if not bad:
        return rows, 0
    skip = set(bad)
    return [row for index, row in enumerate(rows) if index not in skip], len(bad)


def _readable_expiry(expires: object) -> bool:
    return expires is None or (isinstance(expires, int | float) and not isinstance(expires, bool))


# (int.from_bytes, typed for ``map`` with its byte order as a second argument)
_from_bytes: Callable[[bytes, str], int] = int.from_bytes  # type: ignore[assignment]


def host_rows(rows: Sequence[Sequence[object]], expiry: int = 2) -> StoredHosts | None:
    """``rows`` (jail and network text first, the expiry at ``expiry``) as ``StoredHosts``
    when every one is readable and of a single IPv4 address as the state writes it
    (``a.b.c.d/32``) with an expiry (a float): nearly every state's bans. Their texts are
    parsed at once, without a Python step per row (``map``: a start's 100,000); None
    otherwise, and ``readable_rows`` reads them one by one."""
    if not rows:
        return None
    texts: list[str] = list(map(itemgetter(1), rows))
    expiries: list[float] = list(map(itemgetter(expiry), rows))
    if set(map(type, texts)) != {str} or set(map(type, expiries)) != {float}:
        return None
    if not all(map(str.endswith, texts, repeat("/32"))):
        return None
    try:  # inet_pton takes only the canonical dotted quad: the text is str(net)
        packed = list(
            map(
                socket.inet_pton,
                repeat(socket.AF_INET),
                map(str.removesuffix, texts, repeat("/32")),
            )
        )
    except (OSError, ValueError):  # an IPv6 /32, or not an address
        return None
    runs = [(jail, len(list(run))) for jail, run in groupby(map(itemgetter(0), rows))]
    if not all(readable_jail(jail) for jail in {jail for jail, _ in runs}):
        return None
    addresses = list(map(_from_bytes, packed, repeat("big")))
    return StoredHosts(runs, texts, addresses, expiries)
