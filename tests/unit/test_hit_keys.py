"""Hits' addresses parsed in the file reader child (sources/hitkeys.py) and taken into the
deciding's memo (``JailRuntime.learn``): the same networks and verdicts as the deciding's
own parsing gives, for any text a line may carry; the same decisions with them."""

from __future__ import annotations

import dataclasses
import fcntl
import ipaddress
import os
import random
from pathlib import Path

from journalban.agent.slicing import hit_slices
from journalban.clock import FakeClock
from journalban.config.schema import JailConfig, RecidiveConfig
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.ignore import IgnoreList
from journalban.decisions.pointverdict import HOST_MEMO, V4_CANONICAL, HostVerdicts
from journalban.decisions.runtime import JailRuntime
from journalban.events import Hit, HitAddress, LineBatch
from journalban.jails.counter import FailureCounter
from journalban.sources import hitkeys
from journalban.sources.hitkeys import AddressKeys
from journalban.state.store import StateStore

NOW = 1_800_000_000.0

# Texts a crafted line may put where the address goes, and ordinary ones.
TEXTS = [
    "198.51.100.7", "203.0.113.9", "10.1.2.3", "127.0.0.1", "0.1.2.3", "224.0.0.1",
    "255.255.255.255", "192.168.1.255", "192.168.1.10", "01.2.3.4", "1.2.3.04", "1.2.3",
    "1.2.3.4.", " 1.2.3.4", "1.2.3.4\x00", "1.2.3.4\n", "0x1.2.3.4", "1.2.3.256",
    "\u0661.2.3.4", "1.2.3.4/32", "2001:db8:5::1", "2001:DB8:5::2", "2001:db8:5:0:0:0:0:3",
    "2001:db8:0:1::5", "2001:db8:0:1::6", "[2001:db8::1]", "fe80::1", "fe80::1%eth0",
    "::1", "::", "::ffff:198.51.100.7", "::ffff:c633:6407", "64:ff9b::1.2.3.4", "100::1",
    "ff02::1", "2001:db8::/64", "2001:db8::1/128", "office.example.org", "", "x" * 60,
]  # fmt: skip


def _ignore() -> IgnoreList:
    own = ipaddress.ip_network("192.168.1.10/32")
    return IgnoreList(
        ["203.0.113.0/24", "2001:db8:0:1::5", "office.example.org"],
        interfaces=[(own, ipaddress.ip_network("192.168.1.0/24"))],
        hostnames={"office.example.org": ["198.51.100.0/30"]},
    )


def _runtime(ipv6_prefix: int = 64) -> JailRuntime:
    cfg = JailConfig(name="sshd", ipv6_prefix=ipv6_prefix)
    rt = JailRuntime(cfg, FailureCounter(cfg.maxretry, cfg.findtime, cfg.max_tracked), _ignore())
    rt.check_networks()
    return rt


def _learned(rt: JailRuntime) -> dict[str, tuple[str, str | None] | None]:
    """What the runtime remembers of each text: the IPv4 memo, then the networks."""
    return {**rt.networks, **rt.ignore.hosts}


def _hit(host: str) -> Hit:
    return ("Failed password for root from " + host, host, NOW, "root", 0)


def test_the_learned_networks_are_those_the_deciding_finds() -> None:
    rng = random.Random(19)
    texts = [*TEXTS, *(str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(300)),
             *(str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(300))]  # fmt: skip
    for prefix in (64, 48, 128):
        entries = AddressKeys(prefix).of([_hit(t) for t in texts])
        learned, own = _runtime(prefix), _runtime(prefix)
        learned.learn(entries)
        taken = _learned(learned)
        for text in texts:
            if text in taken:
                assert taken[text] == own.network_of(text), (prefix, text)
        assert "198.51.100.7" in taken or not V4_CANONICAL
        assert "2001:db8:5::1" in taken
        assert "2001:DB8:5::2" in taken
        # refused by the parsers, or in a prefix holding an ignored address: the deciding's own
        for text in ("01.2.3.4", "1.2.3.4\x00", "[2001:db8::1]", "fe80::1%eth0", "::1",
                     "::ffff:198.51.100.7", "office.example.org", ""):  # fmt: skip
            assert text not in taken, text
        assert ("2001:db8:0:1::6" in taken) is (prefix == 128)
        host = "2001:db8:5::1" if prefix == 128 else "2001:db8:5::"
        assert taken["2001:db8:5::1"] == (f"{host}/{prefix}", None)
        assert "198.51.100.7" not in learned.networks  # (the IPv4 memo's, bounded)


def test_a_key_at_another_prefix_is_left_to_the_deciding() -> None:
    rt = _runtime(64)
    rt.learn(AddressKeys(48).of([_hit("2001:db8:5::1"), _hit("198.51.100.9")]))
    assert "2001:db8:5::1" not in rt.networks
    assert rt.network_of("2001:db8:5::1") == ("2001:db8:5::/64", None)
    assert ("198.51.100.9" in rt.ignore.hosts) is V4_CANONICAL


def test_an_address_is_sent_once_until_forgotten(monkeypatch: object) -> None:
    keys = AddressKeys(64)
    first = keys.of([_hit("198.51.100.1"), _hit("198.51.100.1"), _hit("2001:db8::1")])
    assert [e[0] for e in first] == ["198.51.100.1", "2001:db8::1"]
    assert first[0] == ("198.51.100.1", 0xC6336401)
    assert keys.of([_hit("198.51.100.1"), _hit("198.51.100.2")]) == [("198.51.100.2", 0xC6336402)]
    assert AddressKeys(None).of([_hit("2001:db8::1")]) == []
    small = AddressKeys(64)
    small._sent = {f"k{i}": None for i in range(hitkeys.SENT_MAX)}
    assert small.of([_hit("198.51.100.1")]) == [("198.51.100.1", 0xC6336401)]
    assert len(small._sent) == 1  # forgotten whole at the cap: the child does not grow


def test_the_memos_stay_within_their_caps() -> None:
    rt = _runtime()
    rt.counter.max_tracked = 100
    v4 = [_hit(f"198.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(HOST_MEMO + 300)]
    rt.learn(AddressKeys(64).of(v4))
    assert len(rt.ignore.hosts) <= HOST_MEMO
    assert not rt.networks
    rt.learn(AddressKeys(64).of([_hit(f"2001:db8:{i:x}::1") for i in range(250)]))
    assert 0 < len(rt.networks) <= 100


def _engine(path: Path) -> DecisionEngine:
    engine = DecisionEngine(StateStore(path), FakeClock(NOW), RecidiveConfig())
    engine.configure({"sshd": JailConfig(name="sshd", maxretry=3)}, {"sshd": _ignore()})
    return engine


def _state(engine: DecisionEngine) -> tuple[object, ...]:
    rt = engine.jails["sshd"]
    bans = sorted((j, str(n), b.banned_at, b.expires_at) for (j, n), b in engine.bans.items())
    return bans, rt.total_failed, rt.total_banned, rt.ignored_failures, rt.counter.currently_failed


def test_the_same_decisions_with_the_childs_addresses(tmp_path: Path) -> None:
    rng = random.Random(7)
    hits: list[Hit] = []
    for i in range(3000):
        host = rng.choice(TEXTS) if i % 7 == 0 else (
            f"198.51.100.{rng.randrange(40)}" if i % 3 else f"2001:db8:{rng.randrange(30)}::{i}"
        )  # fmt: skip
        hits.append((f"Failed password for root from {host}", host, NOW - 3000 + i, "root", 0))
    batch = LineBatch("files:/var/log/auth.log", [], "pos-1", read=6000)
    plain, keyed = _engine(tmp_path / "a.sqlite"), _engine(tmp_path / "b.sqlite")
    child = AddressKeys(64)
    for start in range(0, len(hits), 500):
        part = hits[start : start + 500]
        plain.store.commit(plain.process_hits("sshd", batch, part).commits)
        with_keys = dataclasses.replace(batch, hits=part, addresses=child.of(part))
        for piece in hit_slices(with_keys, part, size=64):
            keyed.store.commit(keyed.process_hits("sshd", piece, piece.hits or ()).commits)
    assert _state(keyed) == _state(plain)
    assert keyed.jails["sshd"].ignored_failures > 0
    assert len(keyed.bans) > 10
    for engine in (plain, keyed):
        engine.store.close()


def test_only_the_first_slice_carries_the_addresses() -> None:
    hits = [_hit(f"198.51.100.{i % 250}") for i in range(600)]
    batch = LineBatch("k", [], "p", read=600, addresses=AddressKeys(64).of(hits))
    parts = list(hit_slices(batch, hits, size=250))
    assert [len(p.addresses) for p in parts] == [250, 0, 0]


def test_the_child_parses_only_while_the_agent_reads_behind() -> None:
    read_end, write_end = os.pipe()
    try:
        size = fcntl.fcntl(write_end, 1032)  # F_GETPIPE_SZ
        os.set_blocking(write_end, False)
        assert not hitkeys.agent_behind(write_end)
        os.write(write_end, b"x" * (size // 2 - 1))
        assert not hitkeys.agent_behind(write_end)
        os.write(write_end, b"x")
        assert hitkeys.agent_behind(write_end)
        os.read(read_end, size)
        assert not hitkeys.agent_behind(write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    with open(os.devnull, "wb") as null:
        assert not hitkeys.agent_behind(null.fileno())
    assert not hitkeys.agent_behind(-1)


def _learned_one_by_one(
    hosts: HostVerdicts, entries: list[HitAddress]
) -> dict[str, tuple[str, str | None] | None]:
    """The memo ``HostVerdicts.learn`` leaves, as the loop of an entry at a time did."""
    memo = dict(hosts)
    for entry in entries:
        if len(entry) == 2:
            if len(memo) >= HOST_MEMO:
                memo.clear()
            memo[entry[0]] = (entry[0] + "/32", hosts._points.why(4, entry[1]))
    return memo


def test_learn_leaves_the_memos_as_an_entry_at_a_time_and_hands_on_the_ipv6_ones() -> None:
    """``HostVerdicts.learn`` (its memo unchecked while it has room for every entry)
    leaves the memo as an entry at a time did, and returns the IPv6 entries in order,
    which ``JailRuntime.learn`` alone visits; the verdicts are the deciding's own."""
    rng = random.Random(23)
    for size, held in ((5, 0), (300, 0), (300, HOST_MEMO - 200), (900, 100), (2500, 0)):
        rt = _runtime()
        texts = [*TEXTS, "203.0.113.1", "192.168.1.10", "198.51.100.2", "0.0.0.1"]
        texts += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(size)]
        texts += [f"2001:db8:{rng.getrandbits(16):x}::1" for _ in range(size // 4)]
        rng.shuffle(texts)
        for i in range(held):  # a memo holding texts before
            assert rt.ignore.hosts[f"10.9.{i // 256}.{i % 256}"] is not None
        entries = AddressKeys(64).of([_hit(t) for t in texts])
        expected = _learned_one_by_one(rt.ignore.hosts, entries) if V4_CANONICAL else None
        before = dict(rt.ignore.hosts)
        assert rt.ignore.hosts.learn(entries) == [e for e in entries if len(e) == 4]
        assert dict(rt.ignore.hosts) == (expected if expected is not None else before)
        if V4_CANONICAL and held + size > HOST_MEMO:
            assert len(rt.ignore.hosts) < held + size  # (cleared on the way, as one by one)
        rt.ignore.hosts.clear()
        rt.ignore.hosts.update(before)
        rt.learn(entries)
        assert dict(rt.ignore.hosts) == (expected if expected is not None else before)
        own = _runtime()
        sixes = [e[0] for e in entries if len(e) == 4 and e[3].endswith("/64")]
        assert sixes
        for text in sixes:
            assert (text in rt.networks) is (own.network_of(text) == rt.networks.get(text))
        for text in texts:
            for memo in (rt.ignore.hosts, rt.networks):
                if text in memo:
                    assert memo[text] == own.network_of(text), text
