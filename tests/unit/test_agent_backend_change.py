"""A reload that switches firewall.backend says it takes a restart (above all from a dry run)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import yaml

from journalban.agent.runtime import Agent


def _write(path: Path, backend: str) -> None:
    path.write_text(yaml.safe_dump({
        "state_dir": str(path.parent / "state"), "bus": False, "recidive": {"enabled": False},
        "firewall": {"backend": backend}, "jails": {"sshd": {"enabled": False}},
    }))  # fmt: skip


def test_switching_from_dry_run_on_reload_warns_and_stays_dry(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "journalban.yaml"
    _write(config, "dry-run")

    async def scenario() -> Agent:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        _write(config, "nftables")
        with caplog.at_level(logging.WARNING, logger="journalban.agent"):
            await agent.reload()
        agent.stop()
        await task
        return agent

    agent = asyncio.run(scenario())
    assert agent.dry_run
    assert agent.backend.name == "dry-run"
    assert agent.store.path.name == "state.dry-run.sqlite"
    assert any(
        "firewall.backend changed from dry-run to nftables: it takes a restart" in m
        for m in caplog.messages
    )


def test_a_dry_run_does_not_join_the_fleet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": False},
        "firewall": {"backend": "dry-run"}, "jails": {"sshd": {"enabled": False}},
        "fleet": {"servers": ["nats://127.0.0.1:1"], "name": "web"},
    }))  # fmt: skip

    async def scenario() -> Agent:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        await asyncio.sleep(0.1)
        agent.stop()
        await task
        return agent

    with caplog.at_level(logging.WARNING, logger="journalban.agent"):
        agent = asyncio.run(scenario())
    assert agent.fleet is None
    assert agent.fleet_status()["connected"] is False
    assert "a dry run does not join fleet web" in caplog.text
