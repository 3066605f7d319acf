"""``stored_network_text`` (a decided ban's network and its text) gives what
``stored_network`` and ``network_text`` give, for every text, the agent's keys or not."""

from __future__ import annotations

import copy
import gc
import ipaddress
import pickle
import random
import weakref

import pytest

from journalban import addresses
from journalban.addresses import format_network, network_text, stored_network, stored_network_text
from journalban.errors import AddressError

LOOSE = [
    "1.2.3.4/32", "01.2.3.4/32", "1.2.3.04/32", "0x1.2.3.4/32", "1.2.3/32", "1.2.3.4 /32",
    " 1.2.3.4/32", "1.2.3.4/032", "1.2.3.4/5/32", "256.1.1.1/32", "1.2.3.4/31", "1.2.3.0/24",
    "1.2.3.\u0664/32", "1.2.3.4\x00/32", "/32", "::ffff:1.2.3.4/32", "2001:db8::/32",
    "2001:db8::1/128", "2001:db8:0:1::/64", "2001:DB8:0:1::/64", "::/0", "0.0.0.0/32",
    "255.255.255.255/32", "1.2.3.4",
    # IPv6 /64s (decisions.firstban's): loose, with host bits, embedded IPv4, junk
    "::/64", "2001:0db8::/64", "2001:db8:0:0::/64", "2001:db8::1:0:0:0/64", "2001:db8:0:0:1::/64",
    "::ffff:1.2.3.4::/64", "::1.2.3.4::/64", "2001:db8::%1::/64", "2001:db8::\x00::/64",
    "2001:db8:::/64", ":::/64", "2001:db8::/064", "2001:db8:: /64", "2001:db8::ff::/64",
    "ffff:ffff:ffff:ffff::/64", "64:ff9b::/64", "2001::/64",
]  # fmt: skip


def _texts() -> list[str]:
    rng = random.Random(32)
    found = list(LOOSE)
    for _ in range(2000):
        found.append(".".join(str(rng.randrange(256)) for _ in range(4)) + "/32")
        found.append(str(ipaddress.IPv6Network((rng.getrandbits(64) << 64, 64))))
        found.append(str(ipaddress.IPv6Network((rng.getrandbits(16) << 112, 64))))  # "x::/64"
    return found


def test_the_network_and_text_stored_network_gives() -> None:
    for text in _texts():
        try:
            expected = stored_network(text)
        except AddressError:
            with pytest.raises(AddressError):
                stored_network_text(text)
            continue
        net, shown = stored_network_text(text)
        assert net == expected, text
        assert type(net) is type(expected), text
        assert shown == network_text(expected) == str(expected), text
        assert addresses.remembered_text(net) == shown  # kept for the ban's later rows


def test_the_text_kept_on_a_network_is_seen_by_nothing_but_its_text() -> None:
    """A network carries its text (``addresses.TEXT``) for as long as it lives: no memo
    holds networks. Equality, hashing, ``str``, ``repr``, copies and pickles are those of
    the network ipaddress makes, and a network equal to it but not it makes its own."""
    for text in ("192.0.2.7/32", "2001:db8:1::/64", "10.0.0.0/8", "2001:db8::1/128"):
        net, shown = stored_network_text(text)
        plain = ipaddress.ip_network(text)
        assert addresses.remembered_text(net) == shown == text
        assert addresses.remembered_text(plain) is None
        assert net == plain
        assert plain == net
        assert hash(net) == hash(plain)
        assert (str(net), repr(net)) == (str(plain), repr(plain))
        twins = (copy.copy(net), copy.deepcopy(net), pickle.loads(pickle.dumps(net)))  # noqa: S301
        for twin in twins:
            assert type(twin) is type(plain)
            assert twin == plain
            assert addresses.remembered_text(twin) is None
            assert network_text(twin) == text
            assert addresses.remembered_text(twin) == text
        assert format_network(plain) == format_network(net)
        refs = weakref.ref(net)
        del net
        gc.collect()
        assert refs() is None  # (no memo keeps it)
