"""The contract of an action: something done when a ban starts or ends.

Actions besides the firewall backend (mail, a command, shorewall...) run in
worker threads with a timeout; a failing action is counted, never blocks the
agent and never loses the ban.
"""

from __future__ import annotations

from typing import Protocol

from journalban.events import Ban


class Action(Protocol):
    name: str

    def start(self) -> None:
        """Prepare (create files, check tools). Raises: JournalbanError."""
        ...

    def ban(self, ban: Ban) -> None: ...

    def unban(self, ban: Ban, reason: str) -> None: ...

    def flush(self) -> None:
        """Send what is buffered (mail digests); called on stop and by timers."""
        ...

    def stop(self) -> None: ...
