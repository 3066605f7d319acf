"""Random values for the differential fuzz tests of the C accelerators (issue 19's audit):
texts with every class of character a crafted log line or a configuration can bring (NUL,
controls, DEL, quotes, backslashes, non-ASCII, characters past U+FFFF, lone surrogates,
very long), networks of both families with and without their remembered text, odd
numbers and times, and values of the wrong type. Seeded: each test's cases are the same
on every run."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

from journalban.addresses import stored_network_text
from journalban.events import Ban

# one of each class: printable ASCII, the quote and the backslash, NUL, controls (the
# short escapes' and others), DEL, Latin-1, BMP (a line separator, a BOM, a
# noncharacter, right-to-left), astral, lone surrogates of both halves, the wire's and the
# detector log's marks
CHARS = [
    "a", "Z", "0", " ", "-", ".", "/", ":", "%", "{", "'", '"', "\\", "\0", "\x01", "\b",
    "\t", "\n", "\f", "\r", "\x1b", "\x1d", "\x1e", "\x1f", "\x7f", "\x80", "\x85", "\xa0",
    "é", "ß", "ÿ", "Ā", "日", "\u2028", "\u202e", "\ufeff", "\uffff", "😀", "\U0010ffff",
    "\ud800", "\udbff", "\udc00", "\udfff",
]  # fmt: skip


def text(rng: random.Random, longest: int = 24) -> str:
    """A str of characters of every class; now and then a very long one."""
    if rng.random() < 0.02:
        return rng.choice(CHARS) * rng.choice([4096, 70_000])
    kind = rng.random()
    if kind < 0.3:  # (one class only: each of the kinds of a str)
        pool = rng.sample(CHARS, 2)
    elif kind < 0.5:
        pool = CHARS[:12]
    else:
        pool = CHARS
    return "".join(rng.choice(pool) for _ in range(rng.randrange(longest + 1)))


WRONG: list[Any] = [None, 0, -1, 2**64, 1.5, float("nan"), b"sshd", ("t",), ["l"], True]


def name(rng: random.Random) -> Any:
    """A jail's, source's, reason's or account's value: mostly text, some of another type."""
    if rng.random() < 0.08:
        return rng.choice(WRONG)
    if rng.random() < 0.4:
        return rng.choice(["sshd", "", "pam-générique", "fleet:host-é"])
    return text(rng)


def network(rng: random.Random) -> Any:
    """A network as the deciding makes them, as ipaddress makes them, with an odd
    remembered text, or a value that is no network."""
    kind = rng.randrange(12)
    if kind == 0:
        return stored_network_text(f"{ipaddress.IPv4Address(rng.getrandbits(32))}/32")[0]
    if kind == 1:
        return stored_network_text(f"{ipaddress.IPv6Address(rng.getrandbits(128))}/128")[0]
    if kind == 2:
        return ipaddress.ip_network(rng.getrandbits(32))
    if kind == 3:
        return ipaddress.ip_network(rng.getrandbits(128))
    if kind == 4:
        return ipaddress.ip_network((rng.getrandbits(32), rng.randrange(33)), strict=False)
    if kind == 5:
        return ipaddress.ip_network((rng.getrandbits(128), rng.randrange(129)), strict=False)
    if kind == 6:  # ::ffff:a.b.c.d and the like: a dot and a colon
        return ipaddress.ip_network(f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}")
    if kind in (7, 8):  # a remembered text no ipaddress would give
        net = ipaddress.ip_network(rng.getrandbits(32))
        net._text = rng.choice(  # type: ignore[union-attr]
            ["", "/32", "/128", "é/32", "日/128", "a:b/32", "\0/32", "1.2.3.4\0", "\ud800/32",
             "x" * 5000 + "/32", text(rng) + "/32", text(rng) + "/128", text(rng), 5, None,
             b"1.2.3.4/32"]
        )  # fmt: skip
        return net
    if kind == 9:
        return ipaddress.ip_network(rng.getrandbits(32), strict=False).supernet()
    if kind == 10:
        return rng.choice([None, "192.0.2.1", 7, object()])
    return stored_network_text(f"10.{rng.randrange(256)}.{rng.randrange(256)}.1/32")[0]


TIMES: list[Any] = [
    None, 0.0, -0.0, -3.5, 1e-7, 0.5e-6, 1.5e-6, 2.5e-6, 1_700_000_000.25, 1.8446744073709e13,
    1.8446744073709552e13, 1e20, 1e308, float("nan"), float("inf"), -float("inf"), 0, 5,
    2**63, -(2**63), True, "1.0",
]  # fmt: skip
NUMBERS: list[Any] = [
    0, 1, 5, 2**31, 2**32 - 1, 2**32, 2**63, 2**64, -1, -(2**63), True, False, 1.0,
    float("nan"), None, "3",
]  # fmt: skip


def time(rng: random.Random) -> Any:
    return rng.choice(TIMES) if rng.random() < 0.5 else rng.uniform(0, 4e9)


def number(rng: random.Random) -> Any:
    return rng.choice(NUMBERS) if rng.random() < 0.4 else rng.randrange(100)


def lines(rng: random.Random) -> Any:
    if rng.random() < 0.04:
        return rng.choice([None, 5, ("ok", 5), ["a", None], "abc", (b"x",)])
    return tuple(text(rng, 60) for _ in range(rng.randrange(4)))


def ban(rng: random.Random, usual: float = 0.5) -> Ban:
    """A Ban; with ``usual``'s odds a common one (text names, float times), else any."""
    if rng.random() < usual:
        banned_at = rng.choice([1_700_000_000.0, rng.uniform(1, 2e9)])
        return Ban(
            rng.choice(["sshd", "postfix", "日本"]), network(rng), banned_at,
            rng.choice([None, banned_at + 600.0, banned_at]), rng.randrange(1, 9),
            rng.choice(["", "maxretry"]), rng.randrange(1, 99), rng.choice(["", "fleet:h"]),
            tuple(text(rng, 60) for _ in range(rng.randrange(3))), rng.choice(["", "root"]),
        )  # fmt: skip
    return Ban(
        name(rng), network(rng), time(rng), time(rng), number(rng), name(rng), number(rng),
        name(rng), lines(rng), name(rng),
    )  # fmt: skip


class Bare:
    """A ban-like object missing some of a Ban's attributes (a wrong type)."""

    def __init__(self, rng: random.Random) -> None:
        whole = ban(rng)
        for field in ("jail", "network", "banned_at", "expires_at", "ban_count", "reason",
                      "failures", "source", "lines", "account"):  # fmt: skip
            if rng.random() < 0.85:
                setattr(self, field, getattr(whole, field))


def anything(rng: random.Random) -> Any:
    """A ban, now and then a ban-like object missing attributes."""
    return Bare(rng) if rng.random() < 0.05 else ban(rng)


def outcome(call: Any, *args: Any) -> Any:
    """What ``call(*args)`` gives, or the type of what it raises."""
    try:
        return call(*args)
    except Exception as exc:
        return type(exc)
