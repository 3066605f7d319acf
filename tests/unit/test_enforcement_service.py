"""The enforcement service fed like a firewall: bans in, answers out; a broken point stays off."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from journalban.clock import FakeClock
from journalban.config.enforcement import (
    DovecotPoint,
    EnforcementConfig,
    Listen,
    PostfixPoint,
    WebDenyPoint,
)
from journalban.enforce.service import EnforcementService
from journalban.events import Ban, LineBatch

NOW = 1_000_000.0


class Feed:
    """The agent's side, as the service sees it: the active bans and a listener list."""

    def __init__(self, bans: list[Ban]) -> None:
        self.bans = bans
        self.listeners: list[Any] = []

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        return list(self.bans)

    def subscribe(self, listener: Any) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)


def ban(address: str, jail: str = "postfix", expires: float | None = NOW + 600) -> Ban:
    return Ban(jail, ipaddress.ip_network(address), NOW - 1, expires)


async def ask(port: int, address: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"request=smtpd_access_policy\nclient_address=%s\n\n" % address.encode())
    answer = await reader.readuntil(b"\n\n")
    writer.close()
    return answer


def test_bans_restored_then_fed_are_answered_and_a_broken_point_stays_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = EnforcementConfig({
        "postfix": PostfixPoint(Listen(None, "127.0.0.1", 0), ("postfix",)),
        "dovecot": DovecotPoint(Listen(None, "127.0.0.1", 0), str(tmp_path / "missing"), ("x",)),
        "nginx": WebDenyPoint("nginx", str(tmp_path / "deny.conf"), ("web",)),
    })  # fmt: skip

    async def sink(jail: str, batch: LineBatch) -> None:
        pass

    async def main() -> list[bytes]:
        feed = Feed([ban("192.0.2.1/32"), ban("192.0.2.9/32", "web")])
        service = EnforcementService(config, FakeClock(NOW), sink)
        task = asyncio.create_task(service.run(feed))
        await asyncio.wait_for(service.started.wait(), 5)
        port = service.points["postfix"].server.port  # type: ignore[attr-defined]
        answers = [await ask(port, "192.0.2.1"), await ask(port, "192.0.2.2")]
        for listener in feed.listeners:
            listener.banned(ban("192.0.2.2/32"))
            listener.unbanned(ban("192.0.2.1/32"), "expired")
            listener.banned(ban("192.0.2.10/32", "web"))
        answers += [await ask(port, "192.0.2.1"), await ask(port, "192.0.2.2")]
        await asyncio.sleep(0.5)  # the deny file's batch
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not feed.listeners, "unsubscribed at the end"
        return answers

    with caplog.at_level(logging.INFO, "journalban.enforce"):
        answers = asyncio.run(main())
    assert answers == [b"action=REJECT Access denied\n\n", b"action=DUNNO\n\n",
                       b"action=DUNNO\n\n", b"action=REJECT Access denied\n\n"]  # fmt: skip
    assert "enforcement point dovecot cannot start" in caplog.text
    assert "enforcement point postfix started" in caplog.text
    deny = (tmp_path / "deny.conf").read_text()
    assert "deny 192.0.2.9;" in deny
    assert "deny 192.0.2.10;" in deny
    assert "192.0.2.1;" not in deny, "only the point's jails"
