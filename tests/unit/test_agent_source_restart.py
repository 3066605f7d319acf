"""A source that fails is restarted from the last committed position, nothing counted twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from journalban.agent import earlysources, runtime, sourcing
from journalban.events import LineBatch
from journalban.firewall.dryrun import DryRunBackend

LINE = "Nov 21 10:00:00 host sshd[1]: Failed password for root from 203.0.113.{} port 22 ssh2"


class ScriptedSource:
    def __init__(self, key: str, lines: list[str], position: str, fail: bool) -> None:
        self.key, self.lines, self.position, self.fail = key, lines, position, fail
        self.closed = False

    async def batches(self) -> AsyncIterator[LineBatch]:
        yield LineBatch(self.key, self.lines, self.position, arrival=1.0)
        if self.fail:
            raise RuntimeError("disk on fire")
        await asyncio.sleep(3600)

    def close(self) -> None:
        self.closed = True


def test_failed_source_resumes_from_the_committed_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": False},
        "jails": {"sshd": {"enabled": False},
                  "files-ssh": {"filter": "sshd", "source": "files", "files": [str(tmp_path / "x.log")], "maxretry": 10}},
    }))  # fmt: skip
    seen_positions: list[Mapping[tuple[str, str], str]] = []

    def build(
        part: Any,
        cfg: Any,
        clock: Any,
        positions: Mapping[tuple[str, str], str],
        sessions: Any = (),
    ) -> list[ScriptedSource]:
        seen_positions.append(dict(positions))
        if len(seen_positions) == 1:
            return [ScriptedSource("k", [LINE.format(1)], "p1", fail=True)]
        return [ScriptedSource("k", [LINE.format(2)], "p2", fail=False)]

    monkeypatch.setattr(sourcing, "build_sources", build)
    monkeypatch.setattr(earlysources, "build_sources", build)  # a file jail's, before READY
    monkeypatch.setattr(sourcing, "SOURCE_RETRY", 0.01)

    async def scenario() -> tuple[int, str]:
        agent = runtime.Agent(config, backend=DryRunBackend())
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        for _ in range(200):
            if len(seen_positions) == 2 and agent.decisions.jails["files-ssh"].total_failed == 2:
                break
            await asyncio.sleep(0.01)
        total = agent.decisions.jails["files-ssh"].total_failed
        state = agent.state
        agent.stop()
        await task
        return total, state

    total, state = asyncio.run(scenario())
    assert total == 2
    assert seen_positions[1] == {("files-ssh", "k"): "p1"}
    assert state == "running"
