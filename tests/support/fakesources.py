"""The in-process agent reading from sources a test builds (unit tests of the agent's
handling of its sources: restarts, positions, reader children that die)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from journalban.agent import earlysources, runtime, sourcing
from journalban.firewall.dryrun import DryRunBackend

JAIL = "files-ssh"
T = TypeVar("T")

# positions stored (jail, source key) -> cursor: the sources the agent reads
Build = Callable[[Mapping[tuple[str, str], str]], list[Any]]


def files_jail_config(tmp_path: Path, **jail: object) -> Path:
    """An agent (no D-Bus API, recidive off, state in ``tmp_path/state``) whose one jail,
    ``files-ssh``, counts sshd's failures from a file source (``tmp_path/x.log``);
    ``jail``: more of its settings."""
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": False},
        "jails": {"sshd": {"enabled": False},
                  JAIL: {"filter": "sshd", "source": "files", "files": [str(tmp_path / "x.log")],
                         **jail}},
    }))  # fmt: skip
    return config


def use_sources(monkeypatch: pytest.MonkeyPatch, build: Build) -> None:
    """The agent's sources are ``build``'s (given the stored positions), at its start, before
    READY (a file jail's) and at each restart, which comes after 0.01 s."""

    def build_sources(
        part: Any,
        cfg: Any,
        clock: Any,
        positions: Mapping[tuple[str, str], str],
        sessions: Any = (),
    ) -> list[Any]:
        return build(positions)

    monkeypatch.setattr(sourcing, "build_sources", build_sources)
    monkeypatch.setattr(earlysources, "build_sources", build_sources)
    monkeypatch.setattr(sourcing, "SOURCE_RETRY", 0.01)


def run_until(
    config: Path,
    done: Callable[[runtime.Agent], bool],
    read: Callable[[runtime.Agent], T],
    *,
    tries: int = 1000,
    settle: float = 0.0,
) -> T:
    """The agent (a dry-run backend) run until ``done`` (looked at every 0.01 s, ``tries``
    times at most), ``settle`` seconds more, then ``read`` from it, then stopped."""

    async def scenario() -> T:
        agent = runtime.Agent(config, backend=DryRunBackend())
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        for _ in range(tries):
            if done(agent):
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(settle)
        got = read(agent)
        agent.stop()
        await task
        return got

    return asyncio.run(scenario())
