"""An IPv6 address text asks ``HostVerdicts`` (the IPv4 texts' memo) once, not twice.

The engine's loop asks the memo (``hosts[host]``: its miss, ``__missing__``, a frame of
Python) before ``JailRuntime.network_of``, which asked it again for every new IPv6
address (sshd-flood: about 3 M instructions). The verdicts are the same: the network
counted and why it is ignored, for IPv6 texts of every kind and for IPv4 ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.addresses import network_text, parse_address
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.pointverdict import HostVerdicts
from journalban.events import FAILURE, LineBatch
from support.deciding import NOW, sshd_engine

SIXES = ["2001:db8::1", "2001:db8::2", "2001:db8:0:1::5", "2001:DB8::9", "::ffff:192.0.2.9",
         "fe80::1", "2001:db8:ffff::1", "::1"]  # fmt: skip
FOURS = ["203.0.113.9", "192.0.2.77", "10.1.2.3", "127.0.0.1"]
IGNORED = ["2001:db8:ffff::/48", "10.0.0.0/8"]


def _misses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    missing = HostVerdicts.__missing__

    def counted(self: HostVerdicts, host: str) -> tuple[str, str | None] | None:
        asked.append(host)
        return missing(self, host)

    monkeypatch.setattr(HostVerdicts, "__missing__", counted)
    return asked


def _fail(engine: DecisionEngine, hosts: list[str]) -> None:
    """A failure of each address text as the matcher hands it (the text as logged)."""
    lines = [f"fail from {h}" for h in hosts]
    hits = [(line, host, NOW, None, FAILURE) for line, host in zip(lines, hosts, strict=True)]
    engine.process_hits("sshd", LineBatch("journal", lines, "c", prefixed=False), hits)


def test_a_new_ipv6_text_misses_the_ipv4_memo_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = sshd_engine(tmp_path, IgnoreList(IGNORED))
    asked = _misses(monkeypatch)
    _fail(engine, SIXES)
    assert asked == SIXES  # once each (it was twice)
    asked.clear()
    _fail(engine, SIXES)  # seen before: the jail's networks have them, no miss
    assert asked == []


def test_the_verdicts_are_the_same(tmp_path: Path) -> None:
    """As the general path gives them (``IgnoreList.counted_network``), memo or none."""
    engine = sshd_engine(tmp_path, IgnoreList(IGNORED))
    rt = engine.jails["sshd"]
    for host in [*SIXES, *FOURS, "not an address", "1.2.3", "1.2.3.4:22", ":"]:
        for _ in range(2):  # a first sight, then from the memos
            address = parse_address(host)
            if address is None:
                assert rt.network_of(host) is None, host
                continue
            network, why = rt.ignore.counted_network(address, rt.config.ipv6_prefix)
            assert rt.network_of(host) == (network_text(network), why), host
    assert rt.network_of("2001:db8::1") == ("2001:db8::/64", None)
    assert rt.network_of("2001:db8:ffff::1") == ("2001:db8:ffff::/64", "in ignoreip")
