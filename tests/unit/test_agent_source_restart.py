"""A source that fails is restarted from the last committed position, nothing counted twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest

from journalban.events import LineBatch
from support.fakesources import JAIL, files_jail_config, run_until, use_sources

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
    config = files_jail_config(tmp_path, maxretry=10)
    seen_positions: list[Mapping[tuple[str, str], str]] = []

    def build(positions: Mapping[tuple[str, str], str]) -> list[ScriptedSource]:
        seen_positions.append(dict(positions))
        if len(seen_positions) == 1:
            return [ScriptedSource("k", [LINE.format(1)], "p1", fail=True)]
        return [ScriptedSource("k", [LINE.format(2)], "p2", fail=False)]

    use_sources(monkeypatch, build)
    total, state = run_until(
        config,
        lambda agent: len(seen_positions) == 2 and agent.decisions.jails[JAIL].total_failed == 2,
        lambda agent: (agent.decisions.jails[JAIL].total_failed, agent.state),
        tries=200,
    )
    assert total == 2
    assert seen_positions[1] == {(JAIL, "k"): "p1"}
    assert state == "running"
