"""firewall.entrymaker: a ``BanEntry`` filled as its writable twin is the dataclass's own.

``new_entry`` builds the firewall's entry of each ban the agent decides or restores;
it must be indistinguishable from ``BanEntry(...)``: equal, the same hash and ``repr``,
frozen, copied and pickled alike, found in the same sets and dicts."""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import pickle
import random

import pytest

from journalban.firewall import entrymaker
from journalban.firewall.base import BanEntry
from journalban.firewall.entrymaker import new_entry


def _networks(rng: random.Random) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(rng.getrandbits(32)),
        ipaddress.ip_network((rng.getrandbits(32), rng.randrange(33)), strict=False),
        ipaddress.ip_network((rng.getrandbits(64) << 64, 64)),
        ipaddress.ip_network(rng.getrandbits(128)),
    ]


def test_the_maker_is_in_use_on_this_python() -> None:
    assert new_entry is not BanEntry  # (the check at import passed: the fast maker)


def test_entries_made_are_the_dataclasss_own() -> None:
    rng = random.Random(3)
    made, theirs = [], []
    for i in range(500):
        for network in _networks(rng):
            expires = rng.choice([None, 0.0, 1_700_000_000.5, rng.uniform(0, 4e9)])
            jail = rng.choice(["sshd", "recidive", "web", f"j{i}"])
            ours, real = new_entry(jail, network, expires), BanEntry(jail, network, expires)
            assert type(ours) is BanEntry
            assert ours == real
            assert hash(ours) == hash(real)
            assert repr(ours) == repr(real)
            assert dataclasses.astuple(ours) == dataclasses.astuple(real)
            assert copy.copy(ours) == real
            assert pickle.loads(pickle.dumps(ours)) == real  # noqa: S301 (its own bytes)
            made.append(ours)
            theirs.append(real)
    assert set(made) == set(theirs)
    assert {e: i for i, e in enumerate(made)} == {e: i for i, e in enumerate(theirs)}


@pytest.mark.parametrize("name", ["jail", "network", "expires_at", "other"])
def test_an_entry_made_refuses_a_store_as_the_dataclasss_own(name: str) -> None:
    network = ipaddress.ip_network("192.0.2.1")
    refused = []
    for entry in (new_entry("sshd", network, 5.0), BanEntry("sshd", network, 5.0)):
        with pytest.raises((AttributeError, TypeError)) as caught:
            setattr(entry, name, "web")
        refused.append(type(caught.value))
        assert entry == BanEntry("sshd", network, 5.0)
    assert refused[0] is refused[1]  # (a field: FrozenInstanceError)


def test_another_layout_falls_back_to_the_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entrymaker, "FIELDS", ("jail", "network"))
    assert entrymaker._entry_maker() is None
