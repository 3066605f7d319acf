"""A syslog file being written: a seeded clock, lines and which of them are failures.

The benchmark corpora (corpora.py) are built from events that each write a few
lines through ``SyslogLog.line``, as a daemon writes them to syslog: the
traditional format ``Mmm dd HH:MM:SS host ident: message`` that rsyslog writes
to Debian's auth.log and mail.log. Each line is marked when the shipped filter
of its corpus should count it as a failure in its default mode, so that a
benchmark can check the counts it sees.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

START = time.mktime((2025, 11, 21, 0, 0, 0, 0, 0, -1))
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Global IPv6 prefixes of hosting networks, as scanners come from them.
V6_PREFIXES = (
    0x2A01_04F8, 0x2A03_B0C0, 0x2604_A880, 0x2001_41D0, 0x2400_6180, 0x2A02_C207,
    0x2402_4E00, 0x2001_0DB8, 0x2A05_D014, 0x240E_0390,
)  # fmt: skip


class SyslogLog:
    """Lines of one host's syslog file, with a clock that moves forward a little per line."""

    def __init__(self, rng: random.Random, host: str = "web1", mean_gap: float = 2.5) -> None:
        self.rng = rng
        self.host = host
        self.now = START
        self.mean_gap = mean_gap
        self.lines: list[str] = []
        self.flags: list[bool] = []  # per line: a failure the corpus's filter counts
        self.failures = 0

    def stamp(self) -> str:
        self.now += self.rng.expovariate(1 / self.mean_gap)
        t = time.localtime(self.now)
        return (
            f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        )

    def line(self, ident: str, message: str, *, failure: bool = False) -> None:
        self.lines.append(f"{self.stamp()} {self.host} {ident}: {message}")
        self.flags.append(failure)
        self.failures += failure

    def pid(self, name: str) -> str:
        return f"{name}[{self.rng.randint(1000, 65000)}]"

    def port(self) -> int:
        return self.rng.randint(1024, 65535)


Log = TypeVar("Log", bound=SyslogLog)


def run_events(
    log: Log, events: Sequence[tuple[Callable[[Log], None], float]], lines: int
) -> Iterator[tuple[str, bool]]:
    """``lines`` (line, failure) pairs from events drawn by weight (the last may be cut)."""
    chosen = [e for e, _ in events]
    weights = [w for _, w in events]
    made = 0
    while made < lines:
        for event in log.rng.choices(chosen, weights, k=1000):
            event(log)
        take = min(len(log.lines), lines - made)
        yield from zip(log.lines[:take], log.flags[:take], strict=True)
        made += take
        log.lines.clear()
        log.flags.clear()


def public_ipv4(rng: random.Random) -> str:
    """A random unicast address outside private, loopback and reserved blocks."""
    while True:
        first = rng.randint(1, 223)
        if first not in (10, 100, 127, 169, 172, 192):
            return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def public_ipv6(rng: random.Random) -> str:
    """A random address in a hosting network's prefix, written as sshd writes it (compressed)."""
    prefix = rng.choice(V6_PREFIXES)
    host = rng.getrandbits(64) if rng.random() < 0.5 else rng.randint(1, 0xFFFF)
    value = (prefix << 96) | (rng.getrandbits(32) << 64) | host
    return ipaddress.IPv6Address(value).compressed


def distinct_addresses(rng: random.Random, count: int, v6_share: float) -> list[str]:
    """``count`` different addresses, about ``v6_share`` of them IPv6, in a random order."""
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen[public_ipv6(rng) if rng.random() < v6_share else public_ipv4(rng)] = None
    return list(seen)
