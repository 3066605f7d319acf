"""``BanEntry`` objects built without the dataclass's ``__init__``, for a run of bans.

The agent hands the firewall one ``BanEntry`` per ban it decides (a flood's tens of
thousands) and per ban it restores at start. A frozen dataclass's ``__init__`` sets each
field through ``object.__setattr__``: about 8,800 instructions an entry, against 6,500
for filling the slots of a writable twin (``_EntryDraft``: the same slots) by plain
attribute stores and then making it a ``BanEntry`` by its ``__class__``, as
decisions.banmaker builds a ``Ban``. The maker is checked at import against the
dataclass (the fields, their order, the slots, the objects it builds: equal, the same
hash and ``repr``); where it differs, ``new_entry`` is ``BanEntry`` itself.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable

from journalban.addresses import IPNetwork
from journalban.firewall.base import BanEntry

FIELDS = ("jail", "network", "expires_at")

EntryMaker = Callable[[str, IPNetwork, "float | None"], BanEntry]


class _EntryDraft:
    """A ``BanEntry``'s slots, writable (a frozen dataclass refuses attribute stores)."""

    __slots__ = FIELDS
    jail: str
    network: IPNetwork
    expires_at: float | None


def _entry_maker() -> EntryMaker | None:
    """``BanEntry(jail, network, expires_at)`` filled as an ``_EntryDraft``; or None."""
    if tuple(f.name for f in dataclasses.fields(BanEntry)) != FIELDS:
        return None
    if getattr(BanEntry, "__slots__", None) != FIELDS or hasattr(BanEntry, "__post_init__"):
        return None
    new = object.__new__

    def make(jail: str, network: IPNetwork, expires_at: float | None) -> BanEntry:
        entry = new(_EntryDraft)
        entry.jail = jail
        entry.network = network
        entry.expires_at = expires_at
        entry.__class__ = BanEntry  # type: ignore[assignment]
        return entry  # type: ignore[return-value]

    samples = (
        ("sshd", ipaddress.ip_network("192.0.2.1/32"), 1.5),
        ("web", ipaddress.ip_network("2001:db8::/64"), None),
    )
    try:
        for args in samples:
            ours, theirs = make(*args), BanEntry(*args)
            if not (
                type(ours) is BanEntry
                and ours == theirs
                and hash(ours) == hash(theirs)
                and repr(ours) == repr(theirs)
                and all(getattr(ours, name) == getattr(theirs, name) for name in FIELDS)
            ):
                return None
    except (AttributeError, TypeError):  # (TypeError: __class__ refused, another layout)
        return None
    return make


# ``BanEntry(jail, network, expires_at)``, fast (one per ban decided or restored).
new_entry: EntryMaker = _entry_maker() or BanEntry
