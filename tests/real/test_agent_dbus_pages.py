"""The real agent on a private bus with polkitd: FindBans over the whole table, GetBans and
Generation across a restart, and who made a manual ban, still known after a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.agent import AgentProcess, StateReader
from support.bus import run_client
from support.busagent import BusAgent, agent_on_bus, module_dir
from support.journal import sshd_fields
from support.real import REPO

pytestmark = pytest.mark.real
JOURNALBAN = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
MANAGER = ["org.jailban", "/org/jailban", "org.jailban.Manager1"]


Setup = BusAgent


def restart(s: Setup) -> None:
    """The agent stopped and started again on its config and bus, serving."""
    s.agent.stop()
    s.agent = AgentProcess(s.config, bus_address=s.bus.address)
    s.agent.wait_serving(s.bus)


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    with (
        module_dir("jb-agent-pages-") as tmp,
        agent_on_bus(tmp, jails={"sshd": {"maxretry": 2}}) as s,
    ):
        yield s


def busctl(s: Setup, *args: str, user: str | None = None) -> Any:
    done = run_client(
        s.bus, ["busctl", f"--address={s.bus.address}", "--json=short", *args], user=user
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["data"] if done.stdout.strip() else None


def ban(s: Setup, address: str, minutes: int) -> None:
    busctl(s, "call", *MANAGER, "Ban", "ssta{sv}", "sshd", address, str(minutes * 60_000_000), "0")


def find(s: Setup, offset: int, limit: int, **query: str | bool) -> tuple[int, int, list[str]]:
    args: list[str] = [str(len(query))]
    for key, value in query.items():
        args += (
            [key, "b", "true" if value else "false"]
            if isinstance(value, bool)
            else [key, "s", value]
        )
    total, generation, bans = busctl(
        s, "call", *MANAGER, "FindBans", "a{sv}uu", *args, str(offset), str(limit), user="nobody"
    )
    return total, generation, [b[0] for b in bans]


def test_find_bans_filters_and_sorts_the_whole_table(setup: Setup) -> None:
    # Made in this order, so GetBans's first page (newest first) starts with .5, then .4 ...
    for n, minutes in [(1, 50), (2, 10), (3, 40), (4, 20), (5, 30)]:
        ban(setup, f"198.51.100.{n}", minutes)
    ban(setup, "192.0.2.77", 60)
    total, _, newest = busctl(setup, "call", *MANAGER, "GetBans", "suu", "", "0", "2")
    assert [b[0] for b in newest] == ["192.0.2.77", "198.51.100.5"]
    # The text selects from every ban, the sort orders all of them before the page is cut.
    assert find(setup, 0, 100, text="198.51.100")[0] == 5
    assert find(setup, 0, 2, text="198.51.100", sort="expires_at")[2] == [
        "198.51.100.1",  # 50 minutes: the latest expiry first
        "198.51.100.3",
    ]
    ascending = find(setup, 0, 100, text="198.51.100", sort="expires_at", descending=False)
    assert ascending[2] == [f"198.51.100.{n}" for n in (2, 4, 5, 3, 1)]
    assert find(setup, 3, 100, text="198.51.100", sort="address")[2] == [
        "198.51.100.4",
        "198.51.100.5",
    ]
    assert find(setup, 0, 100, text="MANUAL", jail="sshd")[0] == total  # the reason, any case
    # A query it does not know is refused by name.
    done = run_client(
        setup.bus,
        ["busctl", f"--address={setup.bus.address}", "call", *MANAGER, "FindBans", "a{sv}uu",
         "1", "sort", "s", "password", "0", "10"],
    )  # fmt: skip
    assert done.returncode != 0
    assert "cannot sort by 'password'" in done.stderr


def test_manual_ban_caller_and_pages_survive_a_restart(setup: Setup) -> None:
    banned = run_client(setup.bus, [*JOURNALBAN, "ban", "sshd", "198.51.100.61", "--time", "1h"])
    assert banned.returncode == 0, banned.stderr
    setup.agent.wait_for_log("Ban 198.51.100.61 in jail sshd for 1h by uid 0 (:1.")
    line = "Failed password for root from 203.0.113.91 port 22 ssh2"
    setup.writer.write([sshd_fields(line)] * 2)
    setup.agent.wait_for_log("Ban 203.0.113.91 in jail sshd for")
    before = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "198.51.100.61", "sshd")[0]
    generation = busctl(setup, "get-property", *MANAGER, "Generation")
    total = busctl(setup, "call", *MANAGER, "GetBans", "suu", "", "0", "1")[0]

    restart(setup)

    after = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "198.51.100.61", "sshd")[0]
    assert after["caller_uid"] == {"type": "u", "data": 0}
    assert after["caller_name"] == before["caller_name"]
    assert after["caller_name"]["data"].startswith(":1.")
    own = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "203.0.113.91", "sshd")[0]
    assert "caller_uid" not in own  # the agent's own ban names no caller, before or after
    # A client holding pages from before sees the generation move, and the same table.
    assert busctl(setup, "get-property", *MANAGER, "Generation") != generation
    assert busctl(setup, "call", *MANAGER, "GetBans", "suu", "", "0", "1")[0] == total
    # Lifted by hand, then banned again by the agent: the old caller is not kept for it.
    unbanned = run_client(setup.bus, [*JOURNALBAN, "unban", "198.51.100.61"])
    assert unbanned.returncode == 0, unbanned.stderr
    setup.agent.wait_for_log("Unban 198.51.100.61 in jail sshd (manual)")
    again = "Failed password for root from 198.51.100.61 port 22 ssh2"
    setup.writer.write([sshd_fields(again)] * 2)
    setup.agent.wait_for_log("Ban 198.51.100.61 in jail sshd for 10m")
    restart(setup)
    details = busctl(setup, "call", *MANAGER, "GetBanDetails", "ss", "198.51.100.61", "sshd")[0]
    assert "caller_uid" not in details


def recent(s: Setup) -> list[list[Any]]:
    records: list[list[Any]] = busctl(s, "call", *MANAGER, "ListRecentCommands")[0]
    return records


def test_recent_commands_survive_a_restart_and_a_kill(setup: Setup) -> None:
    ban(setup, "198.51.100.71", 30)
    unbanned = run_client(setup.bus, [*JOURNALBAN, "unban", "198.51.100.71"])
    assert unbanned.returncode == 0, unbanned.stderr
    reloaded = run_client(setup.bus, [*JOURNALBAN, "reload"])
    assert reloaded.returncode == 0, reloaded.stderr
    before = recent(setup)
    assert [r[1] for r in before[-3:]] == ["ban", "unban", "reload"]
    assert before[-3][4] == "198.51.100.71 in sshd"
    assert all(r[2] == 0 and r[3].startswith(":1.") for r in before[-3:])

    restart(setup)
    assert recent(setup) == before  # oldest first, the same times, callers and targets
    status = run_client(setup.bus, [*JOURNALBAN, "status"])
    assert status.returncode == 0, status.stderr
    shown = status.stdout.split("Recent commands:")[1]
    assert "unban 198.51.100.71  by uid 0 (:1." in shown
    assert "reload" in shown

    # A command just answered is kept even when the agent is killed right after.
    ban(setup, "198.51.100.72", 30)
    setup.agent.wait_for_log("Ban 198.51.100.72 in jail sshd for 30m by uid 0 (:1.")
    # Written in a small transaction of its own, in a worker thread, just after the reply.
    state = StateReader(setup.config.parent / "state")
    state.wait(
        lambda: ("198.51.100.72 in sshd",) in state._query("SELECT what FROM recent_commands")
    )
    setup.agent.kill9()
    restart(setup)
    after = recent(setup)
    assert after[:-1] == before[-(len(after) - 1) :]
    assert after[-1][1:2] + after[-1][4:] == ["ban", "198.51.100.72 in sshd"]
    # Only the last 20 are kept, in the state as in memory.
    for n in range(25):
        ban(setup, f"198.51.100.{100 + n}", 30)
    newest = recent(setup)
    assert len(newest) == 20
    restart(setup)
    assert recent(setup) == newest
