"""IPv6 prefixes built without ipaddress's constructor (netobjects._v6_prefix_maker)
are the networks the constructor builds."""

from __future__ import annotations

import ipaddress
import pickle
import random

import pytest

from journalban import addresses, netobjects
from journalban.errors import AddressError


def test_the_maker_is_in_use_here() -> None:
    assert netobjects.v6_prefix is not None


def test_random_prefixes_equal_the_constructors() -> None:
    rng = random.Random(19)
    for _ in range(3000):
        plen = rng.choice([rng.randrange(0, 127), 64, 48, 56])
        value = rng.getrandbits(128) >> (128 - plen) << (128 - plen) if plen else 0
        theirs = ipaddress.IPv6Network((value, plen))
        ours = addresses.stored_network(str(theirs))
        assert type(ours).__name__ == "_HashedV6"
        assert ours == theirs
        assert theirs == ours
        assert hash(ours) == hash(theirs)
        assert str(ours) == str(theirs)
        assert repr(ours) == repr(theirs)
        table: dict[object, int] = {theirs: 1}
        assert table[ours] == 1
        assert ours.num_addresses == theirs.num_addresses
        assert ours.broadcast_address == theirs.broadcast_address
        assert ours.network_address in theirs
        assert ours.supernet() == theirs.supernet()
        assert pickle.loads(pickle.dumps(ours)) == theirs  # noqa: S301 (our own bytes)


@pytest.mark.parametrize("text", ["2001:db8::1/64", "2001:db8::/129", "2001:db8::/-1"])
def test_host_bits_or_bad_lengths_are_refused_as_before(text: str) -> None:
    with pytest.raises(AddressError):
        addresses.stored_network(text)
