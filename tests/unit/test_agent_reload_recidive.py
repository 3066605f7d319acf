"""A reload that turns recidive off lifts recidive's bans, as for any jail removed."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import yaml

from journalban.agent.runtime import Agent
from journalban.errors import NoSuchJail


def _write(path: Path, recidive: bool) -> None:
    path.write_text(yaml.safe_dump({
        "state_dir": str(path.parent / "state"), "bus": False, "recidive": {"enabled": recidive},
        "firewall": {"backend": "dry-run"},
        "jails": {"sshd": {"source": "files", "files": [str(path.parent / "auth.log")]}},
    }))  # fmt: skip


def _recidive_bans(agent: Agent) -> list[str]:
    return [str(b.network) for b in agent.list_bans() if b.jail == "recidive"]


def test_turning_recidive_off_lifts_its_bans_and_keeping_it_keeps_them(tmp_path: Path) -> None:
    config = tmp_path / "journalban.yaml"
    (tmp_path / "auth.log").write_text("")
    _write(config, recidive=True)
    network = ipaddress.ip_network("192.0.2.7/32")

    async def scenario() -> tuple[list[str], list[str]]:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        await agent.ban("recidive", network, 3600.0)
        await agent.reload()  # recidive still on: its ban stays
        kept = _recidive_bans(agent)
        _write(config, recidive=False)
        await agent.reload()
        after = _recidive_bans(agent)
        agent.stop()
        await task
        return kept, after

    kept, after = asyncio.run(scenario())
    assert kept == ["192.0.2.7/32"]
    assert after == []


def test_a_manual_ban_into_recidive_needs_it_on_and_a_jail_running(tmp_path: Path) -> None:
    """A named refusal (NoSuchJail), not the agent's decisions task failing."""
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": True},
        "firewall": {"backend": "dry-run"}, "jails": {"sshd": {"enabled": False}},
    }))  # fmt: skip

    async def scenario() -> str:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        try:
            await agent.ban("recidive", ipaddress.ip_network("192.0.2.8/32"), 60.0)
        except NoSuchJail as exc:
            refused = str(exc)
        else:
            refused = ""
        # The agent still answers.
        await agent.reload()
        agent.stop()
        await task
        return refused

    assert "recidive" in asyncio.run(scenario())
