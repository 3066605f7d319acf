"""Restoring bans into nf_tables: into a table that already holds some, in chunks, after kill -9.

The backend's reconcile compares the bans with what the kernel holds by
(address, prefix length) keys; these tests check against ``nft`` itself that
the kernel ends up with exactly the bans, with their remaining time, and that a
restore into a table already holding them sends nothing. Every socket and
``nft`` process lives in a namespace of the test's own.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from journalban.events import Ban
from journalban.firewall.base import BanEntry, JailRules
from journalban.firewall.nftables import NftablesBackend
from journalban.firewall.nftables import backend as backend_module
from journalban.state.store import BatchCommit, StateStore
from support.agent import AgentProcess, write_config
from support.real import need_root, need_tool
from support.threadns import ThreadNamespace, thread_namespace

pytestmark = pytest.mark.real

SSH = JailRules("sshd")


@pytest.fixture
def ns() -> Iterator[ThreadNamespace]:
    need_tool("nft")
    with thread_namespace() as namespace:
        yield namespace


def net(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text)


def held(run: Any, set_name: str) -> dict[str, float | None]:
    """The set's elements as nft prints them, with the seconds each has left (None: none)."""
    out = json.loads(run("nft", "-j", "list", "set", "inet", "journalban", set_name).stdout)
    found: dict[str, float | None] = {}
    for item in out["nftables"]:
        for elem in item.get("set", {}).get("elem", []):
            body = elem["elem"] if isinstance(elem, dict) and "elem" in elem else {"val": elem}
            value = body["val"]
            if isinstance(value, dict) and "prefix" in value:
                value = f"{value['prefix']['addr']}/{value['prefix']['len']}"
            found[str(value)] = body.get("expires")
    return found


def _held_before_the_restart(ns: ThreadNamespace, now: float) -> BanEntry:
    """What a first agent left in the kernel; returns its ban the restart keeps as it is."""
    first = NftablesBackend()
    ns.call(lambda: first.setup([SSH]))
    kept = BanEntry("sshd", net("192.0.2.1/32"), now + 600)
    ns.call(
        lambda: first.apply(
            [
                kept,
                BanEntry("sshd", net("192.0.2.2/32"), now + 60),  # to be lengthened
                BanEntry("sshd", net("192.0.2.3/32"), now + 600),  # no longer a ban
                BanEntry("sshd", net("2001:db8::5/128"), None),
                BanEntry("sshd", net("198.51.100.0/24"), now + 900),
            ],
            [],
            now,
        )
    )
    ns.call(first.close)
    return kept


def test_restore_into_a_table_holding_some_bans_changes_only_the_difference(
    ns: ThreadNamespace,
) -> None:
    now = time.time()
    kept = _held_before_the_restart(ns, now)
    # The agent starts again: a new backend, the same kernel table.
    later = time.time()
    wanted = [
        kept,
        BanEntry("sshd", net("192.0.2.2/32"), later + 3000),
        BanEntry("sshd", net("192.0.2.4/32"), later + 1200),  # new
        BanEntry("sshd", net("2001:db8::5/128"), None),
        BanEntry("sshd", net("198.51.100.0/24"), now + 900),
        BanEntry("sshd", net("2001:db8:1::/64"), later + 300),  # new prefix
    ]
    second = NftablesBackend()
    ns.call(lambda: second.setup([SSH]))
    report = ns.call(lambda: second.reconcile(wanted, later))
    ns.call(second.close)
    assert set(report.added) == {wanted[1], wanted[2], wanted[5]}
    (removed,) = report.removed  # with the expiry the kernel held (read back: about)
    assert (removed.jail, removed.network) == ("sshd", net("192.0.2.3/32"))
    assert removed.expires_at == pytest.approx(now + 600, abs=2)
    v4 = held(ns.run, "sshd-v4")
    assert set(v4) == {"192.0.2.1", "192.0.2.2", "192.0.2.4"}
    assert 590 <= (v4["192.0.2.1"] or 0) <= 600
    assert 2990 <= (v4["192.0.2.2"] or 0) <= 3000
    assert 1190 <= (v4["192.0.2.4"] or 0) <= 1200
    assert held(ns.run, "sshd-v6") == {"2001:db8::5": None}
    assert set(held(ns.run, "sshd-net4")) == {"198.51.100.0/24"}
    assert set(held(ns.run, "sshd-net6")) == {"2001:db8:1::/64"}


def test_restore_from_stored_rows_changes_only_the_difference_and_says_which(
    ns: ThreadNamespace,
) -> None:
    """The agent's start: the same restore as above, given the state's rows as they are."""
    now = time.time()
    _held_before_the_restart(ns, now)
    later = time.time()
    stored: list[tuple[str, str, float | None]] = [
        ("sshd", "192.0.2.1/32", now + 600),
        ("sshd", "192.0.2.2/32", later + 3000),
        ("sshd", "192.0.2.4/32", later + 1200),  # new
        ("sshd", "192.0.2.9/32", later - 5),  # ran out: not sent
        ("sshd", "2001:db8::5/128", None),
        ("sshd", "198.51.100.0/24", now + 900),
        ("sshd", "2001:db8:1::/64", later + 300),  # new prefix
        ("gone", "192.0.2.7/32", later + 300),  # a jail without sets
    ]
    second = NftablesBackend()
    ns.call(lambda: second.setup([SSH]))
    report = ns.call(lambda: second.restore_stored(stored, later))
    assert report.whole == frozenset()
    assert report.added == {
        ("sshd", "192.0.2.2/32"),
        ("sshd", "192.0.2.4/32"),
        ("sshd", "2001:db8:1::/64"),
    }
    (removed,) = report.removed
    assert (removed.jail, removed.network) == ("sshd", net("192.0.2.3/32"))
    v4 = held(ns.run, "sshd-v4")
    assert set(v4) == {"192.0.2.1", "192.0.2.2", "192.0.2.4"}
    assert 2990 <= (v4["192.0.2.2"] or 0) <= 3000
    assert held(ns.run, "sshd-v6") == {"2001:db8::5": None}
    assert set(held(ns.run, "sshd-net4")) == {"198.51.100.0/24"}
    assert set(held(ns.run, "sshd-net6")) == {"2001:db8:1::/64"}
    # A start after it finds every ban held: nothing sent, nothing to record.
    third = NftablesBackend()
    ns.call(lambda: third.setup([SSH]))
    again = ns.call(lambda: third.restore_stored(stored, time.time()))
    ns.call(third.close)
    ns.call(second.close)
    assert (again.whole, again.added, again.removed) == (frozenset(), frozenset(), ())


def test_restore_from_stored_rows_into_an_empty_table_names_the_jails_whole(
    ns: ThreadNamespace,
) -> None:
    now = time.time()
    backend = NftablesBackend()
    ns.call(lambda: backend.setup([SSH, JailRules("web")]))
    stored: list[tuple[str, str, float | None]] = [
        ("sshd", f"10.9.0.{i}/32", now + 600) for i in range(1, 200)
    ]
    stored.append(("sshd", "2001:db8::9/128", None))
    report = ns.call(lambda: backend.restore_stored(stored, now))
    ns.call(backend.close)
    assert report.whole == {"sshd"}  # "web" has no bans
    assert (report.added, report.removed) == (frozenset(), ())
    assert len(held(ns.run, "sshd-v4")) == 199
    assert held(ns.run, "sshd-v6") == {"2001:db8::9": None}


class _SlowClock:
    """Real wall time; a monotonic clock that jumps 100 s at every reading,
    as if each chunk of a restore took that long to send."""

    def __init__(self) -> None:
        self._mono = 0.0

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        self._mono += 100.0
        return self._mono


def test_each_chunk_of_a_restore_counts_its_timeouts_from_when_it_is_sent(
    ns: ThreadNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "SEND_CHUNK", 100)
    now = time.time()
    base = int(ipaddress.IPv4Address("10.7.0.0"))
    wanted = [BanEntry("sshd", ipaddress.IPv4Network(base + i), now + 3600) for i in range(500)]
    backend = NftablesBackend(clock=_SlowClock())
    ns.call(lambda: backend.setup([SSH]))
    ns.call(lambda: backend.reconcile(wanted, now))
    ns.call(backend.close)
    left = held(ns.run, "sshd-v4")
    assert len(left) == 500
    # Five chunks: the first sent 100 s after `now` (by the clock), the last 500 s after.
    first, last = left["10.7.0.0"] or 0, left["10.7.1.243"] or 0
    assert 3490 <= first <= 3500
    assert 3090 <= last <= 3100


def _store_bans(state: Path, count: int, now: float) -> list[Ban]:
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    bans = [
        Ban("sshd", ipaddress.IPv4Network(base + i), now, now + 3600 + i % 600, 1, "failures")
        for i in range(count)
    ]
    bans += [
        Ban("sshd", net("2001:db8:7::/64"), now, None, 1, "failures"),
        Ban("sshd", net("203.0.113.0/24"), now, now + 7200, 1, "subnet"),
    ]
    store = StateStore(state / "state.sqlite")
    store.commit([BatchCommit(jail="sshd", bans=bans)])
    store.close()
    return bans


def test_a_restore_killed_midway_is_completed_at_the_next_start_and_not_resent_after(
    tmp_path: Path,
) -> None:
    """kill -9 while the kernel holds part of 30,000 bans; the next start holds them all;
    a start after that finds them held and sends (and logs) none again."""
    need_root()
    for tool in ("nft", "unshare", "nsenter"):
        need_tool(tool)
    state = tmp_path / "state"
    state.mkdir()
    (tmp_path / "j").mkdir()
    _store_bans(state, 30_000, time.time())
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=tmp_path / "j", recidive={"enabled": False}
    )
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        time.sleep(0.2)

        def nft_run(*argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                ["nsenter", "-t", str(holder.pid), "-n", *argv],
                capture_output=True,
                text=True,
                check=True,
                timeout=30,
            )

        def count() -> int:
            try:
                return len(held(nft_run, "sshd-v4"))
            except subprocess.CalledProcessError:
                return 0

        wrapper = ["nsenter", "-t", str(holder.pid), "-n"]
        agent = AgentProcess(cfg, dry_run=False, wrapper=wrapper)
        deadline = time.monotonic() + 30
        while count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        agent.kill9()
        assert count() > 0

        agent = AgentProcess(cfg, dry_run=False, wrapper=wrapper)
        try:
            agent.wait_for_log("running:", timeout=60)
        finally:
            agent.kill9()
        assert "30002 bans restored" in agent.log
        assert count() == 30_000
        assert set(held(nft_run, "sshd-v6")) == set()
        assert set(held(nft_run, "sshd-net6")) == {"2001:db8:7::/64"}
        assert set(held(nft_run, "sshd-net4")) == {"203.0.113.0/24"}

        agent = AgentProcess(cfg, dry_run=False, wrapper=wrapper)
        try:
            agent.wait_for_log("running:", timeout=60)
            time.sleep(0.5)  # restore records are written after READY
        finally:
            agent.stop()
        assert "Restore ban of" not in agent.log
        assert "not an active ban" not in agent.log
        assert count() == 30_000
    finally:
        holder.kill()
        holder.wait()
