"""A real kernel's interrupted dumps: the flag is seen, and no partial result is used.

In a network namespace of the test's own, ``ip`` adds and deletes an address
on one interface as fast as it can while the agent's address dump reads the
600 addresses of another (several datagrams); and ``nft`` adds and deletes a
set element (one commit each) while an nf_tables rule dump reads 3,000 rules.
The kernel marks dumps that saw a change with NLM_F_DUMP_INTR. The
crafted-stream tests of the retry are in tests/unit/test_netlink_dump_intr.py.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from journalban.decisions import hostaddrs, ignore
from journalban.errors import DumpInterrupted
from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.netlink import NFPROTO_INET, NftSocket, decode, text
from support.real import need_tool
from support.threadns import ThreadNamespace, thread_namespace

pytestmark = pytest.mark.real

STABLE = {f"10.9.{i // 250}.{i % 250 + 1}" for i in range(600)}


@pytest.fixture
def churning(tmp_path: Path) -> Iterator[ThreadNamespace]:
    """A namespace whose d0 holds STABLE while d1's address comes and goes."""
    need_tool("ip")
    with thread_namespace() as ns:
        ns.run("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
        ns.run("ip", "link", "set", "d0", "up")
        ns.run("ip", "link", "set", "d1", "up")
        stable = tmp_path / "stable.batch"
        stable.write_text("".join(f"address add {a}/24 dev d0\n" for a in sorted(STABLE)))
        ns.run("ip", "-batch", str(stable))
        churn = tmp_path / "churn.batch"
        churn.write_text(
            "address add 172.31.0.1/24 dev d1\naddress del 172.31.0.1/24 dev d1\n" * 50_000
        )
        proc = ns.call(
            lambda: subprocess.Popen(
                ["ip", "-force", "-batch", str(churn)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        try:
            yield ns
        finally:
            proc.kill()
            proc.wait()


def test_the_kernel_s_interrupted_dumps_are_seen(churning: ThreadNamespace) -> None:
    def dumps_until_interrupted() -> tuple[int, int]:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, hostaddrs.NETLINK_ROUTE) as sock:
            sock.bind((0, 0))
            sock.settimeout(5.0)
            deadline, seq = time.monotonic() + 20, 0
            while time.monotonic() < deadline:
                seq += 1
                found, interrupted = hostaddrs.dump_once(sock, seq)
                if interrupted:
                    return seq, len(found)
        raise AssertionError("no interrupted dump in 20 s of address changes")

    _, found = churning.call(dumps_until_interrupted)
    assert found > 0  # the interrupted dump was still read to its NLMSG_DONE


def test_a_dump_under_changes_is_whole_or_a_named_error(churning: ThreadNamespace) -> None:
    def reads() -> tuple[list[list[str]], int]:
        whole: list[list[str]] = []
        refused = 0
        deadline = time.monotonic() + 20
        while len(whole) < 10 and time.monotonic() < deadline:
            try:
                whole.append([a for a, _ in hostaddrs.interface_addresses()])
            except DumpInterrupted:
                refused += 1
        return whole, refused

    whole, refused = churning.call(reads, timeout=60)
    assert whole, f"every read interrupted ({refused})"
    for found in whole:
        stable = [a for a in found if a.startswith("10.9.")]
        assert len(stable) == len(STABLE)
        assert set(stable) == STABLE


def test_the_agent_s_own_addresses_under_changes_keep_every_stable_one(
    churning: ThreadNamespace,
) -> None:
    # Whole or interrupted every time, what the agent protects holds every address
    # the host kept meanwhile (interrupted reads together: ignore.host_interfaces).
    def reads() -> list[set[str]]:
        return [
            {str(own.network_address) for own, _ in ignore.host_interfaces()} for _ in range(20)
        ]

    for own in churning.call(reads, timeout=60):
        assert own >= STABLE, sorted(STABLE - own)[:5]


RULES = 3000


@pytest.fixture
def committing(tmp_path: Path) -> Iterator[ThreadNamespace]:
    """A namespace whose table ``other`` holds RULES rules while commits go on: bursts of
    20 (an element added, deleted) with a second's pause after each.

    Commits without a pause interrupted every dump in 30 s on a loaded machine (load 8-10 on
    2 cores: the dump of 3,000 rules, 20-40 datagrams, waits for a core between them while
    each short ``nft`` runs): no code reads a whole dump while the ruleset changes faster
    than a dump is read. The bursts interrupt dumps, the pauses leave room for whole ones.
    """
    need_tool("nft")
    with thread_namespace() as ns:
        ruleset = tmp_path / "other.nft"
        rules = "".join(
            f"  ip saddr 10.1.{i // 250}.{i % 250 + 1} counter accept\n" for i in range(RULES)
        )
        ruleset.write_text(
            "table inet other {\n set s { type ipv4_addr; }\n chain c {\n" + rules + " }\n}\n"
        )
        ns.run("nft", "-f", str(ruleset))
        loop = (
            "while :; do for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
            "nft add element inet other s '{ 10.0.0.1 }'; "
            "nft delete element inet other s '{ 10.0.0.1 }'; done; sleep 1; done"
        )
        proc = ns.call(
            lambda: subprocess.Popen(
                ["sh", "-c", loop],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        try:
            yield ns
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the loop's session: sh and its nft
            proc.wait()


def _rules_of_other(bodies: list[bytes]) -> int:
    return sum(text(decode(b).get(c.NFTA_RULE_TABLE, b"")) == "other" for b in bodies)


def test_the_kernel_s_interrupted_nft_dumps_are_seen(committing: ThreadNamespace) -> None:
    def dumps_until_interrupted() -> int:
        sock = NftSocket()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                bodies, interrupted = sock.dump_once(c.NFT_MSG_GETRULE)
                if interrupted:
                    return len(bodies)
        finally:
            sock.close()
        raise AssertionError("no interrupted rule dump in 30 s of commits")

    assert committing.call(dumps_until_interrupted) > 0


def test_an_nft_dump_under_commits_is_whole_or_a_named_error(committing: ThreadNamespace) -> None:
    def reads() -> tuple[list[int], int, int]:
        sock = NftSocket()
        whole: list[int] = []
        refused = interrupted = 0
        dump_once = sock.dump_once

        def counted(
            kind: int, payload: bytes = b"", family: int = NFPROTO_INET
        ) -> tuple[list[bytes], bool]:
            nonlocal interrupted
            bodies, cut = dump_once(kind, payload, family)
            interrupted += cut
            return bodies, cut

        sock.dump_once = counted  # type: ignore[method-assign]  # (dump's attempts)
        try:
            deadline = time.monotonic() + 30
            while (len(whole) < 10 or not interrupted) and time.monotonic() < deadline:
                try:
                    whole.append(_rules_of_other(sock.dump(c.NFT_MSG_GETRULE)))
                except DumpInterrupted:
                    refused += 1
        finally:
            sock.close()
        return whole, refused, interrupted

    whole, refused, interrupted = committing.call(reads, timeout=90)
    assert whole, f"every read interrupted ({refused})"
    assert whole == [RULES] * len(whole)
    assert interrupted  # the commits did cut dumps: those were read again or refused
