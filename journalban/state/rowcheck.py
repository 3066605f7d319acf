"""Which stored ban rows can be read at all: a row damaged in the file is skipped, and counted.

SQLite keeps whatever a hand (or a disk) wrote into a column: a jail or a
network that is a number, a blob, empty text or text that is no network. The
agent never stops on such a row: it restores the others, and says how many it
skipped (``readable_rows``), so "N bans restored" counts only real bans.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from journalban.addresses import stored_network
from journalban.errors import AddressError
from journalban.firewall.base import StoredBan


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
