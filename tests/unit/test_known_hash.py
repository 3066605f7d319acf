"""netobjects' networks hashed in C (journalban._addrkey.known_hash) against their Python
``__hash__``: the same hash, or the same error, for every ``_hash`` a network may hold
(none, not an int, -1, ints beyond a machine word), in dicts and sets; a subclass's own
``__hash__`` and one set on the class later are what is called."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import sys
from typing import Any

import pytest

from journalban import netobjects
from journalban.netobjects import _HashedV6, _HostV4, hashed_v6, host_v4_network

pytestmark = pytest.mark.skipif(not netobjects.NATIVE_HASH, reason="_addrkey not built")


def _outcome(net: Any) -> Any:
    try:
        return hash(net), hash((("sshd", net),)), {net: 1}[net], net in {net}
    except Exception as exc:  # (the error itself is compared)
        return type(exc), str(exc)


def _both(net: Any) -> tuple[Any, Any]:
    assert netobjects.use_native_hash(True)
    ours = _outcome(net)
    assert not netobjects.use_native_hash(False)
    try:
        theirs = _outcome(net)
    finally:
        assert netobjects.use_native_hash(True)
    return ours, theirs


@pytest.mark.parametrize("seed", range(3))
def test_a_network_hashes_as_its_python_hash(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        v4 = host_v4_network(rng.getrandbits(32))
        v6 = hashed_v6((rng.getrandbits(64) << 64, 64))
        for net in (v4, v6, hashed_v6(rng.getrandbits(128))):
            ours, theirs = _both(net)
            assert ours == theirs
            assert ours[0] == hash(ipaddress.ip_network(str(net)))


ODD_HASHES: list[Any] = [-1, -2, 0, 2**63 - 1, -(2**63), 2**63, 2**64 + 5, -(2**70), True,
                         1.5, "1", None, 10**40]  # fmt: skip


@pytest.mark.parametrize("value", ODD_HASHES)
def test_an_odd_hash_is_taken_as_python_takes_it(value: Any) -> None:
    for net in (host_v4_network(7), hashed_v6((1 << 64, 64))):
        net._hash = value  # type: ignore[union-attr]
        ours, theirs = _both(net)
        assert ours == theirs, value


def test_a_network_without_its_hash_raises_as_python() -> None:
    for cls in (_HostV4, _HashedV6):
        ours, theirs = _both(object.__new__(cls))
        assert ours == theirs
        assert ours[0] is AttributeError


def test_a_subclass_or_a_new_hash_is_called() -> None:
    class Odd(_HostV4):
        def __hash__(self) -> int:
            return 12345

    odd = object.__new__(Odd)
    odd._hash = 1
    assert hash(odd) == 12345
    net = host_v4_network(9)
    kept = _HostV4.__dict__["__hash__"]
    try:
        _HostV4.__hash__ = lambda self: 777  # type: ignore[method-assign]
        assert hash(net) == 777
    finally:
        _HostV4.__hash__ = kept  # type: ignore[method-assign]
    assert hash(net) == net._hash  # type: ignore[attr-defined]
    assert netobjects.use_native_hash(True)
    assert hash(net) == net._hash  # type: ignore[attr-defined]


def test_the_switch_keeps_the_python_hash() -> None:
    code = (
        "from journalban import netobjects as n, _addrkey as a;"
        "print(n.NATIVE_HASH, a.hash_known(n._HostV4))"
    )
    env = {**os.environ, "JOURNALBAN_NATIVE_HITS": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert out.split() == ["False", "False"]
