"""The nftables executor against the kernel, inside a network namespace the test makes.

Every netlink socket and every ``nft`` process lives in a worker thread's own
namespace (support.threadns); the machine's ruleset is never touched.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from journalban.firewall.base import BanEntry, JailRules, PortRange
from journalban.firewall.nftables import NftablesBackend
from support.real import need_tool
from support.threadns import ThreadNamespace, thread_namespace

pytestmark = pytest.mark.real

SSH = JailRules("sshd", (PortRange(22, 22), PortRange(2222, 2223)), ("tcp",))
WEB = JailRules("web", (PortRange(80, 80), PortRange(443, 443)), ("tcp", "udp"))


@pytest.fixture
def ns() -> Iterator[ThreadNamespace]:
    need_tool("nft")
    with thread_namespace() as namespace:
        yield namespace


@pytest.fixture
def backend(ns: ThreadNamespace) -> Iterator[NftablesBackend]:
    be = NftablesBackend()
    ns.call(lambda: be.setup([SSH, WEB]))
    yield be
    ns.call(be.close)


def ruleset(ns: ThreadNamespace) -> list[dict[str, Any]]:
    out = json.loads(ns.run("nft", "-j", "list", "ruleset").stdout)["nftables"]
    return [item for item in out if "metainfo" not in item]


def objects(ns: ThreadNamespace, kind: str) -> dict[str, dict[str, Any]]:
    return {o[kind]["name"]: o[kind] for o in ruleset(ns) if kind in o}


def elements(ns: ThreadNamespace, set_name: str) -> list[Any]:
    return list(objects(ns, "set")[set_name].get("elem", []))


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def test_setup_builds_the_table_nft_lists(ns: ThreadNamespace, backend: NftablesBackend) -> None:
    chains = objects(ns, "chain")
    assert chains["input"]["hook"] == "input"
    assert chains["input"]["prio"] == -10
    assert set(chains) == {"input", "jail-sshd", "jail-web"}
    sets = objects(ns, "set")
    assert sets["sshd-v4"]["type"] == "ipv4_addr"
    assert sets["sshd-v6"]["type"] == "ipv6_addr"
    assert sets["sshd-v4"]["flags"] == ["timeout"]
    assert sorted(sets["sshd-net6"]["flags"]) == ["interval", "timeout"]
    assert sets["sshd-ports"]["elem"] == [22, {"range": [2222, 2223]}]
    assert set(objects(ns, "counter")) == {"sshd", "web"}
    rules = [r["rule"] for r in ruleset(ns) if "rule" in r]
    assert sum(r["chain"] == "input" for r in rules) == 3  # sshd tcp, web tcp, web udp
    assert sum(r["chain"] == "jail-web" for r in rules) == 4


def test_bans_appear_in_nft_with_their_remaining_time(
    ns: ThreadNamespace, backend: NftablesBackend
) -> None:
    now = time.time()
    bans = [
        BanEntry("sshd", net("192.0.2.7/32"), now + 600),
        BanEntry("sshd", net("2001:db8::7/128"), None),
        BanEntry("sshd", net("198.51.100.0/24"), now + 60),
    ]
    ns.call(lambda: backend.apply(bans, [], now))
    (v4,) = elements(ns, "sshd-v4")
    assert v4["elem"]["val"] == "192.0.2.7"
    assert 590 <= v4["elem"]["expires"] <= 600
    assert elements(ns, "sshd-v6") == ["2001:db8::7"]
    (prefix,) = elements(ns, "sshd-net4")
    assert prefix["elem"]["val"] == {"prefix": {"addr": "198.51.100.0", "len": 24}}
    listed = ns.call(lambda: backend.list(now))
    assert {e.network for e in listed} == {b.network for b in bans}


def test_unban_removes_the_element(ns: ThreadNamespace, backend: NftablesBackend) -> None:
    now = time.time()
    entry = BanEntry("web", net("203.0.113.9/32"), now + 60)
    ns.call(lambda: backend.apply([entry], [], now))
    ns.call(lambda: backend.apply([], [entry], now))
    assert elements(ns, "web-v4") == []


def test_address_inside_a_banned_prefix_gets_no_element(
    ns: ThreadNamespace, backend: NftablesBackend
) -> None:
    now = time.time()
    adds = [
        BanEntry("sshd", net("10.20.0.0/16"), now + 600),
        BanEntry("sshd", net("10.20.3.4/32"), now + 60),
        BanEntry("sshd", net("10.20.9.0/24"), None),
    ]
    ns.call(lambda: backend.apply(adds, [], now))
    assert elements(ns, "sshd-v4") == []
    prefixes = elements(ns, "sshd-net4")
    assert {"prefix": {"addr": "10.20.9.0", "len": 24}} in prefixes  # the permanent one, cut out
    assert len(prefixes) == 9  # 10.20.0.0/16 cut around 10.20.9.0/24 into 8 pieces, plus it


def test_flush_ruleset_is_noticed_and_setup_restores_the_bans(
    ns: ThreadNamespace, backend: NftablesBackend
) -> None:
    now = time.time()
    wanted = [BanEntry("sshd", net("192.0.2.50/32"), now + 600)]
    ns.call(lambda: backend.apply(wanted, [], now))
    assert ns.call(backend.intact)
    ns.run("nft", "flush", "ruleset")
    assert not ns.call(backend.intact)
    ns.call(lambda: backend.setup([SSH, WEB]))
    report = ns.call(lambda: backend.reconcile(wanted, time.time()))
    assert report.added == tuple(wanted)
    assert ns.call(backend.intact)
    assert [e["elem"]["val"] for e in elements(ns, "sshd-v4")] == ["192.0.2.50"]


def test_flushed_base_chain_is_noticed(ns: ThreadNamespace, backend: NftablesBackend) -> None:
    ns.run("nft", "flush", "chain", "inet", "journalban", "input")
    assert not ns.call(backend.intact)


def test_reload_without_a_jail_keeps_the_other_jails_bans(
    ns: ThreadNamespace, backend: NftablesBackend
) -> None:
    now = time.time()
    ns.call(lambda: backend.apply([BanEntry("sshd", net("192.0.2.60/32"), now + 600)], [], now))
    ns.call(lambda: backend.setup([SSH]))
    assert "web-v4" not in objects(ns, "set")
    assert set(objects(ns, "chain")) == {"input", "jail-sshd"}
    assert [e["elem"]["val"] for e in elements(ns, "sshd-v4")] == ["192.0.2.60"]


def test_changed_hook_and_priority_apply_on_setup(ns: ThreadNamespace) -> None:
    be = NftablesBackend(hook="forward", priority=5)
    try:
        ns.call(lambda: be.setup([SSH]))
    finally:
        ns.call(be.close)
    chains = objects(ns, "chain")
    assert chains["forward"]["hook"] == "forward"
    assert chains["forward"]["prio"] == 5
    assert "input" not in chains


def test_removing_a_ban_the_kernel_already_expired_is_not_an_error(
    ns: ThreadNamespace, backend: NftablesBackend
) -> None:
    now = time.time()
    entry = BanEntry("sshd", net("192.0.2.70/32"), now + 0.5)
    ns.call(lambda: backend.apply([entry], [], now))
    time.sleep(1.0)
    # ``now`` as the caller saw it before the expiry: the backend still thinks it is there.
    ns.call(lambda: backend.apply([], [entry], now))
    assert elements(ns, "sshd-v4") == []


def test_teardown_removes_the_table(ns: ThreadNamespace, backend: NftablesBackend) -> None:
    ns.call(backend.teardown)
    assert ruleset(ns) == []
    ns.call(backend.teardown)  # already gone: not an error
