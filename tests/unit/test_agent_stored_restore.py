"""The start's restore from the state's rows (a ``StoredRestorer`` backend, as nftables is).

The firewall is given the running bans as stored before READY, and the ban
table is built from the same rows after it: the agent must end up with the
same bans, write the same restore records and say the same as with a backend
given ``Ban`` objects.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from journalban.addresses import network_text, parse_network, stored_network
from journalban.agent.runtime import Agent
from journalban.errors import AddressError
from journalban.events import Ban
from journalban.firewall.base import BanEntry, StoredBan, StoredReport, StoredRestorer
from journalban.firewall.dryrun import DryRunBackend
from journalban.state.store import BatchCommit, StateStore
from support.fakesources import files_jail_config


class Plain(DryRunBackend):
    name = "plain"  # not a dry run: the agent keeps its state in state.sqlite


class Stored(Plain):
    """Restores from stored bans by way of ``reconcile`` (what nftables does without objects)."""

    name = "stored"

    def __init__(self) -> None:
        super().__init__()
        self.given: list[StoredBan] = []

    def restore_stored(self, wanted: Sequence[StoredBan], now: float) -> StoredReport:
        self.given = list(wanted)
        entries = []
        for jail, text, expires in wanted:
            try:
                entries.append(BanEntry(jail, stored_network(text), expires))
            except AddressError:
                continue
        report = self.reconcile(entries, now)
        added = frozenset((e.jail, network_text(e.network)) for e in report.added)
        return StoredReport(added=added, removed=report.removed)


def _setup(tmp_path: Path) -> Path:
    config = files_jail_config(tmp_path)
    now = time.time()
    store = StateStore(tmp_path / "state" / "state.sqlite")
    store.commit([BatchCommit(jail="files-ssh", bans=[
        Ban("files-ssh", parse_network("203.0.113.5"), now, now + 600, 1, "failures", 3, "f"),
        Ban("files-ssh", parse_network("2001:db8::7"), now, None, 2, "failures", 5, "f"),
        Ban("files-ssh", parse_network("198.51.100.0/24"), now, now + 900, 1, "subnet", 9, "f"),
        Ban("files-ssh", parse_network("203.0.113.6"), now - 700, now - 100, 1, "failures"),
        Ban("elsewhere", parse_network("192.0.2.9"), now, now + 600, 1, "failures", 3, "f"),
    ])])  # fmt: skip
    store.db.execute(
        "INSERT INTO bans VALUES"
        " ('files-ssh', 'not-a-network/32', ?, ?, 1, 'failures', 1, 'f', '[]', NULL)",
        (now, now + 600),
    )
    store.close()
    return config


def _start(config: Path, backend: DryRunBackend, caplog: pytest.LogCaptureFixture) -> Agent:
    async def scenario() -> Agent:
        agent = Agent(config, backend=backend)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        await asyncio.sleep(0.05)  # the restore records are written after READY
        agent.stop()
        await task
        return agent

    caplog.clear()
    with caplog.at_level(logging.INFO):
        return asyncio.run(scenario())


def _records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The restore records, sorted, without the time left (it runs on between starts)."""
    return sorted(m.split(" for ")[0] for m in caplog.messages if m.startswith("Restore ban of"))


def test_a_start_from_stored_rows_ends_as_a_start_from_ban_objects(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _setup(tmp_path)
    assert isinstance(Stored(), StoredRestorer)
    assert not isinstance(Plain(), StoredRestorer)
    plain_backend = Plain()
    plain = _start(config, plain_backend, caplog)
    plain_log = _records(caplog)
    stored_backend = Stored()
    stored = _start(config, stored_backend, caplog)
    stored_log = _records(caplog)

    assert dict(stored.decisions.bans) == dict(plain.decisions.bans)
    assert stored.decisions.bans.by_text == plain.decisions.bans.by_text
    assert sorted(b.address for b in stored.decisions.bans.values()) == [
        "192.0.2.9", "198.51.100.0/24", "2001:db8::7", "203.0.113.5",
    ]  # fmt: skip
    # Each backend was given every running ban (the expired one and the bad row not:
    # the bad row is skipped before the backend and counted apart).
    assert sorted(text for _, text, _ in stored_backend.given) == [
        "192.0.2.9/32", "198.51.100.0/24", "2001:db8::7/128", "203.0.113.5/32",
    ]  # fmt: skip
    held = {(e.jail, e.network, e.expires_at) for e in stored_backend.list(time.time())}
    assert len(held) == 4
    assert held == {(e.jail, e.network, e.expires_at) for e in plain_backend.list(time.time())}
    assert len(stored_log) == 4
    assert stored_log == plain_log
    # The bans restored: the bad row is not one, and is counted apart.
    assert any("4 bans restored" in m for m in caplog.messages), caplog.messages
    assert any("unreadable stored bans: 1 stored ban(s)" in m for m in caplog.messages)


def test_a_second_start_into_a_firewall_holding_the_bans_records_what_the_first_did(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _setup(tmp_path)
    records = []
    for backend in (Plain(), Stored()):
        _start(config, backend, caplog)
        again = _start(config, backend, caplog)  # the same firewall: it holds the bans
        assert len(again.decisions.bans) == 4
        records.append(_records(caplog))
    # The dry-run firewall forgets jails it was not set up for ("elsewhere"), at each start.
    assert records[0] == records[1] == ["Restore ban of 192.0.2.9 in jail elsewhere"]
