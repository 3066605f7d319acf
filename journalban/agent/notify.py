"""Talking to systemd (Type=notify): READY, STATUS, WATCHDOG, RELOADING, STOPPING."""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("journalban.agent")


class Notifier:
    """sd_notify through systemd-python; silent when not run by systemd."""

    def __init__(self) -> None:
        self.enabled = bool(os.environ.get("NOTIFY_SOCKET"))
        usec = os.environ.get("WATCHDOG_USEC", "")
        pid = os.environ.get("WATCHDOG_PID", "")
        ok_pid = not pid or pid == str(os.getpid())
        self.watchdog_interval = int(usec) / 2e6 if usec.isdigit() and ok_pid else None

    def _send(self, text: str) -> None:
        if not self.enabled:
            return
        try:
            from systemd import daemon

            daemon.notify(text)
        except (ImportError, OSError) as exc:  # pragma: no cover - logged, not fatal
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self._send(f"STATUS={status}")

    def reloading(self) -> None:
        usec = int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading configuration")

    def stopping(self) -> None:
        self._send("STOPPING=1\nSTATUS=stopping")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")
