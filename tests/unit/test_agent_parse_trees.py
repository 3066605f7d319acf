"""The filters' parse trees are not kept once the agent runs (issue 19: 0.3 MB on sshd)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from journalban.agent.runtime import Agent
from journalban.matching import literals, starts
from journalban.matching.literals import _required_sets_for, parsed_pattern


def _forget_analyses() -> None:
    """Every analysis cache of the matching modules emptied: a filter another test built
    in this process (``_required_for`` above ``_required_sets_for``, the starts' caches)
    would otherwise answer the reload without a parse, and prove nothing here."""
    for module in (literals, starts):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def _write(config: Path, *filters: str) -> None:
    log = str(config.parent / "auth.log")
    jails = {f: {"enabled": True, "source": "files", "files": [log]} for f in filters}
    config.write_text(yaml.safe_dump({
        "state_dir": str(config.parent / "state"), "bus": False,
        "firewall": {"backend": "dry-run"}, "jails": jails,
    }))  # fmt: skip


def test_the_agent_keeps_no_parse_tree_once_running_nor_after_a_reload(tmp_path: Path) -> None:
    config = tmp_path / "journalban.yaml"
    (tmp_path / "auth.log").write_text("")
    _write(config, "sshd")
    _forget_analyses()

    async def scenario() -> tuple[int, int, int]:
        agent = Agent(config)
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        for _ in range(200):  # the sources start in the loop's next turns
            if parsed_pattern.cache_info().currsize == 0:
                break
            await asyncio.sleep(0.01)
        running = parsed_pattern.cache_info().currsize
        analysed = _required_sets_for.cache_info().currsize
        _write(config, "sshd", "dovecot")
        await agent.reload()
        reloaded = parsed_pattern.cache_info().currsize
        more = _required_sets_for.cache_info().currsize
        agent.stop()
        await task
        return running, reloaded, more - analysed

    running, reloaded, analysed = asyncio.run(scenario())
    assert analysed > 0  # the reload analysed (and parsed) dovecot's regexes
    assert running == 0
    assert reloaded == 0
