"""peer_text_ok (inet_pton) says exactly what parse_address and never_peer (ipaddress) say."""

from __future__ import annotations

import random

import pytest

from journalban.addresses import never_peer, parse_address
from journalban.matching.peertext import peer_text_ok


def reference(text: str) -> bool:
    address = parse_address(text)
    return address is not None and never_peer(address) is None


def near_addresses(rng: random.Random) -> str:
    """Texts close to addresses: the forms ipaddress and inet_pton could disagree on."""
    kind = rng.random()
    if kind < 0.3:
        octets = [rng.choice(("0", "00", "01", "1", "9", "10", "99", "100", "199", "255", "256",
                              "300", "0255", "1000", str(rng.randint(0, 260))))
                  for _ in range(rng.choice((3, 4, 4, 4, 5)))]  # fmt: skip
        return ".".join(octets)
    groups = [rng.choice(("", "", "0", "1", "ffff", "FFFF", "0000", "00000", "12345", "abcd",
                          "fe80", "ff02", "100", "2001", "db8", "1.2.3.4", "0.0.0.0",
                          "01.2.3.4", "1.2.3", "255.255.255.255"))
              for _ in range(rng.randint(1, 10))]  # fmt: skip
    text = ":".join(groups)
    if rng.random() < 0.3:
        text = "::" + text
    if rng.random() < 0.2:
        text += "::"
    return text


def test_generated_texts_agree() -> None:
    rng = random.Random(20261204)
    seen = set()
    for _ in range(60_000):
        text = near_addresses(rng)
        if rng.random() < 0.05:
            text = f"[{text}]"
        seen.add(reference(text))
        assert peer_text_ok(text) == reference(text), text
    assert seen == {True, False}


@pytest.mark.parametrize(
    "text",
    [
        "203.0.113.5", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.255", "240.0.0.1",
        "255.255.255.255", "255.255.255.254", "192.030.0.6", "1.2.3.4.", "::", "::1",
        "100::1", "100::1:0:0:0:1", "100:0:0:1::", "ff02::1", "fe80::1", "::ffff:224.0.0.1",
        "::ffff:203.0.113.9", "::ffff:0.0.0.0", "::ffff:cb00:7109", "[2001:db8::1]",
        "[203.0.113.5]", "[[1.2.3.4]]", "fe80::1%eth0", "2001:db8::1/64", "", " 1.2.3.4",
        "1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6::1.2.3.4",
        "1:2:3:4:5::1.2.3.4", "x" * 50, "1" * 46, "attacker.example.com",
    ],
)  # fmt: skip
def test_special_and_edge_texts_agree(text: str) -> None:
    assert peer_text_ok(text) == reference(text)
