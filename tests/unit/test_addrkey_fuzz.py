"""journalban.v6keys in C (journalban._addrkey) against the Python functions:
``ipv6_prefix_key`` and ``network_64`` (a ban's /64, ``addresses.stored_network_text``).

Crafted texts (zone ids, embedded IPv4, brackets, upper case, leading zeros, too many
groups, NUL, non-ASCII, very long, the per-address blocks' edges, all-zero top halves)
and random ones (valid addresses printed in several forms, mutated, and fuzzvalues'
texts of every character class), at every prefix length and some that are no length:
the same result, or the same error.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from typing import Any

import pytest

from journalban import addresses, v6keys
from support import fuzzvalues

try:
    from journalban import _addrkey
except ImportError:  # (not built: every test here is skipped)
    _addrkey = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    v6keys.NATIVE_KEY is None or v6keys.NATIVE_64 is None, reason="_addrkey not built"
)

CRAFTED = [
    "2001:db8::1", "2001:DB8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1%eth0",
    "fe80::1%1", "[2001:db8::1]", "::ffff:1.2.3.4", "::1.2.3.4", "2001:db8::1.2.3.4", "::",
    "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3",
    "12345::1", "0:0:0:0:1::", "0:0:0:1::", "64:ff9b::1", "64:ff9b::ffff:ffff", "64:ff9a::1",
    "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "2001::1", "2001:0:ffff::",
    "2001:1::", "2000:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "2001:db8::1\0", "\0", "", ":", ":::", "2001:db8::g", "2001:db8:: 1", " 2001:db8::1",
    "2001:db8::1 ", "2001:db8::1\n", "\uff12\uff10\uff10\uff11:db8::1", "2001:db8::\udc00", "2001:db8::é",
    "0" * 80, "1:" * 40 + "1", "2001:db8:0:0:0:0:0:0", "0000:0000:0000:0001::",
    "0:0:0:0:0:0:0:1", "::0:1", "1:0:0:0:0:0:0:0", "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1",
]  # fmt: skip
LENGTHS: list[Any] = [0, 1, 7, 8, 9, 32, 48, 56, 63, 64, 65, 96, 120, 127, 128]
ODD_LENGTHS: list[Any] = [-1, 129, 2**70, True, 64.0, "64", None]


def _outcome(fn: Any, text: Any, prefixlen: Any) -> Any:
    try:
        return fn(text, prefixlen)
    except Exception as exc:  # (the error itself is compared)
        return type(exc), str(exc)


def _same(text: Any, prefixlen: Any) -> None:
    ours = _outcome(v6keys.NATIVE_KEY, text, prefixlen)
    theirs = _outcome(v6keys.ipv6_prefix_key_python, text, prefixlen)
    assert ours == theirs, (text, prefixlen)


@pytest.mark.parametrize("text", CRAFTED)
def test_a_crafted_text_keys_as_in_python(text: str) -> None:
    for prefixlen in LENGTHS + ODD_LENGTHS:
        _same(text, prefixlen)


def _forms(rng: random.Random) -> list[str]:
    """A random address (some in the per-address blocks or with a zero top half) in its
    forms: compressed, exploded, upper case, and mutated by a character or two."""
    kind = rng.randrange(5)
    if kind == 0:
        value = rng.getrandbits(64)  # top half zero
    elif kind == 1:
        block = rng.choice(addresses.PER_ADDRESS_V6)
        value = int(block.network_address) + rng.randrange(block.num_addresses)
    else:
        value = rng.getrandbits(128) >> rng.choice([0, 0, 16, 40])
    address = ipaddress.IPv6Address(value)
    forms = [str(address), address.exploded, str(address).upper()]
    mutated = list(rng.choice(forms))
    for _ in range(rng.randrange(1, 3)):
        if mutated:
            mutated[rng.randrange(len(mutated))] = rng.choice("0:f.%gG \0é")
    return [*forms, "".join(mutated)]


@pytest.mark.parametrize("seed", range(4))
def test_random_texts_key_as_in_python(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        for text in _forms(rng):
            _same(text, rng.choice(LENGTHS))
        _same(fuzzvalues.text(rng, 40), rng.choice(LENGTHS))
        if rng.random() < 0.05:
            _same(rng.choice(fuzzvalues.WRONG), 64)
            _same("2001:db8::1", rng.choice(ODD_LENGTHS))


def test_a_nul_or_a_surrogate_is_no_address() -> None:
    for text in ("2001:db8::1\0", "2001:db8::\udc00"):
        assert v6keys.ipv6_prefix_key(text, 64) is None
        assert v6keys.ipv6_prefix_key_python(text, 64) is None
    assert addresses.ipv6_prefix_key is v6keys.NATIVE_KEY


def _network(fn: Any, text: Any) -> Any:
    """What ``fn`` gives for ``text``: None, the error, or the network's every field."""
    try:
        net = fn(text)
    except Exception as exc:  # (the error itself is compared)
        return type(exc), str(exc)
    if net is None:
        return None
    address = net.network_address
    return (type(net), list(vars(net).items()), type(address), address._ip,
            address._scope_id, id(net.netmask), hash(net), str(net), net == net)  # fmt: skip


def _same_network(text: Any) -> None:
    if not (isinstance(text, str) and text.endswith("::/64") and "." not in text):
        return  # (stored_network_text asks for no other)
    ours, theirs = _network(v6keys.NATIVE_64, text), _network(v6keys.network_64_python, text)
    assert ours == theirs, text


NETWORK_TEXTS = [
    "2001:db8::/64", "2001:db8:1:2::/64", "ffff:ffff:ffff:ffff::/64", "1::/64", "::/64",
    "2001:DB8::/64", "2001:0db8::/64", "2001:db8:0:0::/64", "2001:db8::1::/64", "::1::/64",
    "2001:db8::/64\0", "2001:db8\0::/64", "2001:db8:é::/64", "2001:db8:\udc00::/64",
    "::/64", ":/64", "/64", "", "2001:db8::1.2.3.4::/64", "1:2:3:4:5:6:7::/64",
    "1:2:3:4::/64", "0:1::/64", "1:0:0:0::/64", "a" * 70 + "::/64", "2001:db8::/640",
]  # fmt: skip


@pytest.mark.parametrize("text", NETWORK_TEXTS)
def test_a_crafted_key_gives_the_python_network(text: str) -> None:
    _same_network(text)
    found = repr(_outcome(lambda t, _: addresses.stored_network_text(t), text, 0))
    assert v6keys.use(False) is False
    try:
        assert repr(_outcome(lambda t, _: addresses.stored_network_text(t), text, 0)) == found
    finally:
        assert v6keys.use(True)


@pytest.mark.parametrize("seed", range(3))
def test_random_keys_give_the_python_network(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        value = rng.getrandbits(64) << 64 >> rng.choice([0, 0, 8, 32, 60])
        text = str(ipaddress.IPv6Address(value)) + "/64"
        _same_network(text)
        mutated = list(text)
        mutated[rng.randrange(len(mutated))] = rng.choice("0:f.%gG \0é")
        _same_network("".join(mutated))
        _same_network(fuzzvalues.text(rng, 30) + "::/64")


def _groups(rng: random.Random) -> bytes:
    """16 bytes of eight groups each zero, one, 0xffff or random of 4 to 16 bits: runs of
    zero groups of every length and place, and the forms glibc prints with a dotted tail."""
    words = [rng.choice([0, 0, 0, 1, 0xFFFF, rng.getrandbits(rng.choice([4, 8, 12, 16]))])
             for _ in range(8)]  # fmt: skip
    packed = b"".join(w.to_bytes(2, "big") for w in words)
    head = rng.randrange(4)
    if head == 1:
        packed = bytes(10) + packed[10:]
    elif head == 2:
        packed = bytes(12) + packed[12:]
    elif head == 3:
        packed = bytes(10) + b"\xff\xff" + packed[12:]
    return packed


@pytest.mark.parametrize("seed", range(3))
def test_an_address_prints_as_inet_ntop_prints_it(seed: int) -> None:
    rng = random.Random(seed)
    for packed in [bytes(16), b"\xff" * 16, bytes(15) + b"\x01", b"\x00\x01" + bytes(14)]:
        assert _addrkey.ntop(packed) == socket.inet_ntop(socket.AF_INET6, packed)
    for _ in range(20000):
        packed = _groups(rng) if rng.random() < 0.9 else rng.getrandbits(128).to_bytes(16, "big")
        assert _addrkey.ntop(packed) == socket.inet_ntop(socket.AF_INET6, packed), packed.hex()
    for wrong in (b"", bytes(15), bytes(17), "::", None):
        with pytest.raises(ValueError, match="16 bytes"):
            _addrkey.ntop(wrong)  # type: ignore[arg-type]
