"""Talking to systemd (Type=notify): READY, STATUS, WATCHDOG, RELOADING, STOPPING."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator

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

    @contextlib.contextmanager
    def pinging(self, most: float = 120.0) -> Iterator[None]:
        """WATCHDOG=1 from a thread while the block runs, for at most ``most`` seconds.

        For a step of known end that holds the event loop after READY, so that the
        watchdog loop cannot ping across it: building the ban table of a large
        state (about 6 s a million bans here) must not outlast a short
        WatchdogSec=. Past ``most`` the pings stop: a step that long is a hang,
        which the watchdog is there to end.
        """
        interval = self.watchdog_interval
        if not self.enabled or interval is None:
            yield
            return
        done = threading.Event()

        def ping() -> None:
            deadline = time.monotonic() + most
            while not done.wait(interval) and time.monotonic() < deadline:
                self.watchdog()

        self.watchdog()
        thread = threading.Thread(target=ping, name="watchdog-ping", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
