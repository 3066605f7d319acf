"""The set-up the bus tests share: a private system bus, a journal directory, the agent serving.

``bus_with_journal`` gives the bus (with polkitd unless told) and a journal
directory whose first sshd lines are already visible, so that an agent started
on it finds a journal to follow; ``serving`` waits until an agent owns
``org.jailban`` on that bus and stops it on the way out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from support.agent import AgentProcess
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
