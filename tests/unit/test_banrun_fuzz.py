"""Differential fuzz of journalban.decisions._banrun against its pure-Python references
(issue 19's audit): a key's network (``network_text``, a crafted log line's address text)
against addresses.stored_network_text, and a Ban made slot by slot (``new_ban``,
``new_ban_pair``) against the dataclass's own, on texts of every class of character
(near-miss IPv4 texts: leading zeros, 256, signs, spaces, other digits, NUL; IPv6; junk)
and values of every type. Seeded; run under AddressSanitizer too."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from journalban import v6keys
from journalban.addresses import stored_network_text
from journalban.decisions import nativeban, pointverdict
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.pointverdict import HostVerdicts
from journalban.events import Ban, lineless
from support import fuzzvalues as fz

pytestmark = pytest.mark.skipif(nativeban.NATIVE is None, reason="_banrun not built")


def _native() -> Any:
    from journalban.decisions import _banrun  # (set up by nativeban's import)

    return _banrun


def _v4_text(rng: random.Random) -> str:
    """An IPv4 /32's text, often a near miss of the canonical form."""
    octets = [str(rng.randrange(256)) for _ in range(4)]
    kind = rng.randrange(14)
    if kind == 0:
        octets[rng.randrange(4)] = rng.choice(["256", "999", "1000", "-1", "+1", ""])
    elif kind == 1:
        octets[rng.randrange(4)] = "0" + octets[0]
    elif kind == 2:
        octets[rng.randrange(4)] = rng.choice(
            ["\u0661", "\uff11", " 1", "1 ", "0x1", "1\0", "\u00b9"]
        )
    elif kind == 3:
        octets.append(str(rng.randrange(256)))
    elif kind == 4:
        octets.pop()
    text = ".".join(octets) + rng.choice(["/32"] * 6 + ["/31", "/032", "/32 ", "", "/3", "/32/32"])
    if kind == 5:
        text = fz.text(rng, 20) + text
    elif kind == 6:
        text = text + fz.text(rng, 4)
    elif kind == 7:
        text = rng.choice(["::ffff:", "::", "2001:db8::"]) + text
    return text


def _v6_text(rng: random.Random) -> str:
    """An IPv6 /64's key, often a near miss of the agent's form ("<inet_ntop>::/64")."""
    value = rng.getrandbits(64) << 64 >> rng.choice([0, 0, 0, 16, 48, 64])
    text = str(ipaddress.IPv6Address(value)) + "/64"
    kind = rng.randrange(12)
    if kind == 0:
        text = text.upper()
    elif kind == 1:
        text = ipaddress.IPv6Address(value).exploded + "/64"
    elif kind == 2:
        chars = list(text)
        chars[rng.randrange(len(chars))] = rng.choice("0:f.%gG \0é\u0661")
        text = "".join(chars)
    elif kind == 3:
        text = rng.choice(["", "1.2.3.4", ":1.2.3.4", "\udc00"]) + text
    elif kind == 4:
        text = text.removesuffix("/64") + rng.choice(["/48", "/640", "/64 ", ":/64", "/6\u0664"])
    elif kind == 5:
        text = fz.text(rng, 12) + "::/64"
    return text


def _key(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.6:
        return _v4_text(rng)
    if kind < 0.75:
        return _v6_text(rng)
    if kind < 0.85:
        return rng.choice(["2001:db8::/64", "2001:db8::1/128", "::/64", "10.0.0.0/8", "1.2.3.0/24"])
    if kind < 0.97:
        return fz.text(rng, 20)
    return rng.choice([None, 5, b"1.2.3.4/32", ["1.2.3.4/32"]])


@pytest.mark.parametrize("native_64", [True, False])
def test_a_keys_network_is_stored_network_texts(native_64: bool) -> None:
    """The same network or the same error, with v6keys' /64 in C and in Python (the C
    module reads v6keys.network_64 at each call, as stored_network_text does)."""
    native = _native()
    rng = random.Random(2201)
    built = 0
    v6keys.use(native_64)
    try:
        for _ in range(6000):
            key = _key(rng)
            ours = fz.outcome(native.network_text, key)
            theirs = fz.outcome(stored_network_text, key)
            if isinstance(ours, type) or isinstance(theirs, type):
                assert ours is theirs, key
                continue
            assert ours[1] == theirs[1], key
            assert type(ours[1]) is type(theirs[1])
            assert nativeban._same_network(ours[0], theirs[0]), key
            built += 1
    finally:
        v6keys.use(True)
    assert built > 1800


def test_a_ban_made_slot_by_slot_is_the_dataclasss() -> None:
    native = _native()
    rng = random.Random(2202)
    for _ in range(1500):
        fields = [fz.name(rng), fz.network(rng), fz.time(rng), fz.time(rng), fz.number(rng),
                  fz.name(rng), fz.number(rng), fz.name(rng), fz.lines(rng), fz.name(rng)]  # fmt: skip
        ours = native.new_ban(*fields)
        theirs = Ban(*fields)
        assert type(ours) is Ban
        assert repr(ours) == repr(theirs)
        assert all(getattr(ours, f) is getattr(theirs, f) for f in Ban.__dataclass_fields__)
        ban, bare = native.new_ban_pair(*fields)
        assert repr((ban, bare)) == repr((theirs, lineless(theirs)))
        assert bare.lines == ()
    with pytest.raises(TypeError):
        native.new_ban(*fields[:9])
    with pytest.raises(TypeError):
        native.new_ban_pair(*fields, None)


def test_a_hosts_miss_is_the_python_methods() -> None:
    """HostVerdicts.__missing__ in C (``host_missing``) against the Python method: the same
    (key, reason) or None for crafted host texts."""
    if pointverdict.NATIVE_MISSING is None:
        pytest.skip("the C __missing__ is not in use")
    rng = random.Random(2203)
    ignore = IgnoreList(["10.0.0.0/8", "203.0.113.0/24", "198.51.100.7", "2001:db8::/32"])
    hosts = [_v4_text(rng).removesuffix("/32") for _ in range(3000)]
    hosts += [fz.text(rng, 16) for _ in range(500)] + ["::1", "1.2.3.4\0", "\ud800", ""]

    def each(native: bool) -> list[Any]:
        pointverdict.use_native(native)
        fresh = HostVerdicts(ignore.points)
        return [fz.outcome(fresh.__getitem__, host) for host in hosts]

    try:
        ours = each(True)
        theirs = each(False)
    finally:
        pointverdict.use_native(True)
    assert ours == theirs
    assert sum(one is not None for one in ours) > 500
    assert fz.outcome(HostVerdicts(ignore.points).__getitem__, 5) is TypeError
