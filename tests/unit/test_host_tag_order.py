"""``<HOST>`` and ``<ADDR>`` try the IPv4 form before the IPv6 one (fchild15): an IPv4
address no longer pays a failed IPv6 attempt first (about 400 instructions a hit in the
file reader child). The two forms can never both match at one position (an IPv4 one
has a ``.`` within its first four characters, before which the IPv6 form needs a
``:``), so the order changes no match: the matches and their groups are those of the
old order, checked here on crafted and random texts, alone and inside regexes that
backtrack into the group."""

from __future__ import annotations

import random
import re

from journalban.matching.regexopt import compile_tuned
from journalban.matching.tags import _IPV4, _IPV6, _NAME, expand

_OLD = {
    "<HOST>": rf"\[?(?P<host>{_IPV6}|{_IPV4}|{_NAME})\]?",
    "<ADDR>": rf"\[?(?P<host>{_IPV6}|{_IPV4})\]?",
}

# Regexes around the tag, some of which make the engine backtrack into it.
_AROUND = [
    r"^from <TAG> port \d+$",
    r"from <TAG>(?::\d+)?$",
    r"from <TAG>\S*$",
    r"from <TAG>(?!\.?\w)",
    r"(?:rip=|rhost=)<TAG>(?:, .*)?$",
    r"<TAG>",
    r"^<TAG>\.\d",
]

_CRAFTED = [
    "1.2.3.4", "192.168.100.200", "1.2.3", "1.2.3.4.5", "999.999.999.999", "1.2.3.4:22",
    "::1", "::", "fe80::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
    "2001:db8::1.2.3.4", "12:34", "1234:5678:9abc::", "[2001:db8::1]", "[1.2.3.4]",
    "host.example.org", "a.b", "1.2.3.4.example.org", "12.34.example", "abcd:ef::1.2.3",
    "1.2.3.4]", "[1.2.3.4", "0.0.0.0.0.0", "1::2::3", "dead:beef", "1.2.3.4 port 22",
    "10.0.0.1 port x", "ab.cd:ef", "1a.2.3.4", "a1.2.3.4",
]  # fmt: skip


def _pairs() -> list[tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]]:
    out = []
    for tag, old in _OLD.items():
        for around in _AROUND:
            before = around.replace("<TAG>", old)
            after = expand(around.replace("<TAG>", tag))
            assert before != after  # (the order did change)
            out.append((re.compile(before), re.compile(after), compile_tuned(after)))
    return out


def _same(old: re.Pattern[str], new: re.Pattern[str], text: str) -> None:
    for find in ("match", "search"):
        a, b = getattr(old, find)(text), getattr(new, find)(text)
        assert (a is None) == (b is None), (old.pattern, text)
        if a is not None and b is not None:
            assert a.span() == b.span(), (old.pattern, text)
            assert a.groupdict() == b.groupdict(), (old.pattern, text)


def test_the_new_order_matches_what_the_old_one_did_on_crafted_texts() -> None:
    matched = 0
    for old, new, tuned in _pairs():
        for host in _CRAFTED:
            for text in (host, f"from {host} port 22", f"from {host}", f"rip={host}, lip=x"):
                _same(old, new, text)
                _same(old, tuned, text)
                matched += old.search(text) is not None
    assert matched > 200  # (most texts do match: the comparison is not of misses alone)


def test_the_new_order_matches_what_the_old_one_did_on_random_texts() -> None:
    rng = random.Random(19)
    alphabet = "0123456789abcdefx:.[] "
    pairs = _pairs()
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        for old, new, tuned in pairs:
            _same(old, new, f"from {text}")
            _same(old, tuned, f"from {text}")


def test_an_ipv4_hit_is_found_by_the_ipv4_branch_first() -> None:
    host = expand("<HOST>")
    assert host.index(_IPV4) < host.index(_IPV6) < host.index(_NAME)
    m = re.fullmatch(host, "[10.1.2.3]")
    assert m is not None
    assert m["host"] == "10.1.2.3"
