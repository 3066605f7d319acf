"""The set-up the bus tests share: a private system bus, a journal directory, the agent serving.

``bus_with_journal`` gives the bus (with polkitd unless told) and a journal
directory whose first sshd lines are already visible, so that an agent started
on it finds a journal to follow; ``serving`` waits until an agent owns
``org.jailban`` on that bus and stops it on the way out. ``agent_on_bus`` is the
two for a module's tests, in a directory of their own (``module_dir``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus
from support.journal import JournalWriter, sshd_fields

LISTENING = "Server listening on :: port 22."


@contextlib.contextmanager
def bus_with_journal(
    journal_dir: Path,
    *,
    polkit: bool = True,
    first: Sequence[str] = (LISTENING,),
    readable: bool = False,
) -> Iterator[tuple[PrivateBus, JournalWriter]]:
    """A private system bus, and ``journal_dir`` holding sshd's ``first`` lines, visible.

    ``readable``: the journal file readable by all, as membership of the
    systemd-journal group would allow (for an agent run as another user).
    """
    with PrivateBus(polkit=polkit) as bus, JournalWriter(journal_dir) as writer:
        writer.write([sshd_fields(line) for line in first])
        writer.wait_visible(len(first))
        if readable:
            os.chmod(writer.path, 0o644)
        yield bus, writer


@contextlib.contextmanager
def serving(agent: AgentProcess, bus: PrivateBus) -> Iterator[AgentProcess]:
    """``agent`` once it runs and owns ``org.jailban`` on ``bus``; stopped on the way out."""
    try:
        agent.wait_serving(bus)
        yield agent
    finally:
        agent.stop()


@dataclass
class BusAgent:
    """An agent serving its D-Bus API on a private bus, the writer of the journal it
    follows and its configuration; ``agent``: the one serving (a test may replace it)."""

    bus: PrivateBus
    agent: AgentProcess
    writer: JournalWriter
    config: Path


@contextlib.contextmanager
def module_dir(prefix: str, *, shared: bool = False) -> Iterator[Path]:
    """A directory of a module's tests (``prefix``: its name's start) with an empty
    ``journal`` directory, removed at the end; ``shared``: readable by all (not under
    pytest's 0700 base directory: an agent run as another user reads its config there)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if shared:
            os.chmod(tmp, 0o755)  # noqa: S103
        (tmp / "journal").mkdir()
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def agent_on_bus(tmp: Path, **config: object) -> Iterator[BusAgent]:
    """The agent of a dry run on ``tmp`` (``module_dir``'s: its config and state there, its
    journal ``tmp/journal``) and ``config``, serving on a private bus; the one serving at
    the end (``BusAgent.agent``) stopped."""
    cfg = write_config(tmp / "journalban.yaml", tmp / "state", journal_dir=tmp / "journal",
                       bus=True, firewall={"backend": "dry-run"}, **config)  # fmt: skip
    with bus_with_journal(tmp / "journal") as (bus, writer):
        s = BusAgent(bus, AgentProcess(cfg, bus_address=bus.address), writer, cfg)
        try:
            s.agent.wait_serving(bus)
            yield s
        finally:
            s.agent.stop()
