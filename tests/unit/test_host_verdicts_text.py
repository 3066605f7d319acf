"""An IPv4 text's key and reason from ``HostVerdicts``, without printing the address again
(decisions.hostkeys): the same as ``ipv4_host_key`` and ``PointVerdicts.why`` give."""

from __future__ import annotations

import random
import socket

from journalban.addresses import ipv4_host_key
from journalban.decisions.hostkeys import LOOSE_TEXTS, v4_text_is_canonical
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.pointverdict import HostVerdicts


def _reference(ignore: IgnoreList, host: str) -> tuple[str, str | None] | None:
    """What HostVerdicts gave before: the key printed by inet_ntop, the reason bisected."""
    if ":" in host:
        return None
    fast = ipv4_host_key(host)
    if fast is None:
        return None
    return fast[1], ignore.points.why(4, fast[0])


def _texts(rng: random.Random) -> list[str]:
    edges = ["0.0.0.0", "255.255.255.255", "10.0.0.1", "10.255.255.255", "127.0.0.1",
             "192.0.2.1", "224.0.0.1", "169.254.1.1", "203.0.113.255", "1.2.3.4\x00",
             "2001:db8::1", "::ffff:1.2.3.4", "[1.2.3.4]", "host.example", "", "1.2.3.4%eth0"]  # fmt: skip
    texts = edges + list(LOOSE_TEXTS)
    for _ in range(20_000):
        value = rng.getrandbits(32)
        texts.append(socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big")))
        octets = [str(rng.randrange(256)) for _ in range(4)]
        if rng.random() < 0.2:  # loose spellings: leading zeros, a fifth part, a space
            octets[rng.randrange(4)] = rng.choice(
                ["0", "00", "01", "256", " 1", "1 "]
            ) + rng.choice(["", "7"])
        texts.append(".".join(octets))
    return texts


def test_this_c_library_takes_only_canonical_dotted_quads() -> None:
    # Debian's glibc does; elsewhere HostVerdicts prints the text as before.
    assert v4_text_is_canonical()


def test_the_same_keys_and_reasons_as_the_printed_text_gives() -> None:
    rng = random.Random(19)
    ignore = IgnoreList(["10.0.0.0/8", "203.0.113.0/24", "198.51.100.7"])
    fresh = HostVerdicts(ignore.points)
    for host in _texts(rng):
        want = _reference(ignore, host)
        assert fresh[host] == want, host
        if want is not None:
            assert (
                want[0]
                == socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, host)) + "/32"
            )


def test_a_nul_in_a_text_is_no_address_and_raises_nothing() -> None:
    hosts = IgnoreList([]).hosts
    assert ipv4_host_key("1.2.3.4\x00") is None
    assert hosts["1.2.3.4\x00"] is None
    assert "1.2.3.4\x00" not in hosts
