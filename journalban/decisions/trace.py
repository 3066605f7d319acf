"""Each counted and each ignored failure in the log, when an admin turns it on.

At ``logging.level: debug`` (or ``journalban run --log-level debug``) the
agent logs ``Found 203.0.113.5 in jail sshd (2/3)`` for each failure counted
and ``Ignore 192.0.2.44 in jail sshd: ignoreip`` for each one an ignore rule
dropped, as fail2ban users expect when they tune a jail. The engine asks
``tracing()`` once per batch, so a higher level costs one test per failure.
"""

from __future__ import annotations

import logging

log = logging.getLogger("journalban.decisions")


def tracing() -> bool:
    """Whether failures are to be logged one by one."""
    return log.isEnabledFor(logging.DEBUG)


def found(jail: str, address: str, count: int, maxretry: int) -> None:
    log.debug("Found %s in jail %s (%d/%d)", address, jail, count, maxretry)


def ignored(jail: str, address: str, why: str) -> None:
    log.debug("Ignore %s in jail %s: %s", address, jail, why.removeprefix("in "))
