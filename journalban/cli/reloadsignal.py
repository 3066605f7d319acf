"""`journalban reload --pid PID` when the agent is not on the bus: SIGHUP, as before.

The unit's ExecReload= asks the agent over D-Bus, so that `systemctl reload`
fails with the configuration's file:line error while the old configuration
stays in force. An agent not (yet) on the bus, early in boot or run with
``bus: false``, still reloads through the signal; its errors then reach only
the journal.
"""

from __future__ import annotations

import os
import signal
import sys

from journalban.cli.busclient import EXIT_REFUSED


def reload_by_signal(pid: int, why: str) -> int:
    """Send SIGHUP to the agent's ``pid``; the exit status for `journalban reload`."""
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        print(f"journalban reload: {why}; and SIGHUP to {pid} failed: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(
        f"journalban reload: {why}; sent SIGHUP to {pid} instead "
        "(errors of that reload are in the journal)",
        file=sys.stderr,
    )
    return 0
