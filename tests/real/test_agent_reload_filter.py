"""An edited filter file is taken on reload, though the jail's reader child matches for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from journalban.agent.runtime import Agent
from journalban.firewall.dryrun import DryRunBackend
from journalban.matching.library import FilterLibrary
from support.journal import JournalWriter, sshd_fields

FILTER = """\
description: a local filter, edited while the agent runs
journal_match:
  - [_SYSTEMD_UNIT=ssh.service]
prefilter: ["{word} "]
failregex:
  - regex: '^{word} from <ADDR>$'
samples:
  - line: "Jan 10 00:00:00 host sshd[1]: {word} from 203.0.113.1"
    host: 203.0.113.1
"""


def test_an_edited_filter_applies_after_reload(tmp_path: Path) -> None:
    filters = tmp_path / "filters.d"
    filters.mkdir()
    (filters / "local-login.yaml").write_text(FILTER.format(word="Refused"))
    journal_dir = tmp_path / "journal"
    config = tmp_path / "journalban.yaml"
    config.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "bus": False, "recidive": {"enabled": False},
        "journal": {"directory": str(journal_dir)},
        "jails": {"sshd": {"enabled": False},
                  "local": {"filter": "local-login", "source": "journal", "maxretry": 1}},
    }))  # fmt: skip

    async def banned(agent: Agent, address: str) -> bool:
        for _ in range(250):
            if any(str(b.network) == f"{address}/32" for b in agent.decisions.list_bans()):
                return True
            await asyncio.sleep(0.02)
        return False

    async def scenario(writer: JournalWriter) -> tuple[bool, bool, bool]:
        agent = Agent(config, library=FilterLibrary(filters), backend=DryRunBackend())
        task = asyncio.create_task(agent.run())
        await agent.ready.wait()
        writer.write([sshd_fields("Refused from 198.51.100.1")])
        before = await banned(agent, "198.51.100.1")
        (filters / "local-login.yaml").write_text(FILTER.format(word="Denied"))
        await agent.reload()
        writer.write(
            [sshd_fields("Refused from 198.51.100.2"), sshd_fields("Denied from 198.51.100.3")]
        )
        after = await banned(agent, "198.51.100.3")
        old_form = await banned(agent, "198.51.100.2")
        agent.stop()
        await task
        return before, after, old_form

    with JournalWriter(journal_dir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        before, after, old_form = asyncio.run(scenario(writer))
    assert (before, after, old_form) == (True, True, False)
