"""Cockpit's web server with the repository's page, on 127.0.0.1, talking to a private bus.

``cockpit-ws --local-session`` serves a session without a login, its bridge
running as the user cockpit-ws runs as. The bridge starts with a clean
environment and talks to ``/run/dbus/system_bus_socket``, so cockpit-ws runs
in a mount namespace of its own where that path is a link to the test's
private bus, and where ``/usr/share/cockpit`` also holds the repository's
``cockpit/journalban`` (an overlay: the machine's own files are untouched).
That namespace has a /tmp of its own too: each bridge starts an ssh-agent and a
session bus, which make /tmp/ssh-* and /tmp/dbus-* and never remove them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from support.bus import PrivateBus, as_user
from support.procs import child_pids
from support.real import REPO, need_root, need_tool

COCKPIT_WS = "/usr/lib/cockpit/cockpit-ws"
PAGE = REPO / "cockpit" / "journalban"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class CockpitWs:
    """cockpit-ws as ``user`` (None: root) serving the journalban page; a context manager."""

    def __init__(self, bus: PrivateBus, user: str | None = None) -> None:
        need_root()
        for tool in (COCKPIT_WS, "cockpit-bridge", "unshare", "mount"):
            need_tool(tool)
        self.bus = bus
        self.user = user
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="jb-cockpit-", dir=bus.tmp))
        self.log_path = self.tmp / "cockpit-ws.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cockpit/@localhost/journalban/index.html"

    def __enter__(self) -> CockpitWs:
        pages = self.tmp / "pages"
        pages.mkdir()
        shutil.copytree(PAGE, pages / "journalban")  # a copy: any user of the test may read it
        socket_path = self.bus.socket_address.removeprefix("unix:path=")
        ws = as_user(self.user, [COCKPIT_WS, "--no-tls", "--address", "127.0.0.1",
                                 "--port", str(self.port), "--local-session=cockpit-bridge"])  # fmt: skip
        # The bus socket is bound, not linked, and the pages are overlaid,
        # before /tmp (where both live) is hidden under the namespace's own.
        script = " && ".join(
            [
                "mount -t tmpfs tmpfs /run/dbus",
                "touch /run/dbus/system_bus_socket",
                f'mount --bind "{socket_path}" /run/dbus/system_bus_socket',
                f'mount -t overlay overlay -o "lowerdir={pages}:/usr/share/cockpit" /usr/share/cockpit',
                "mount -t tmpfs -o mode=1777 tmpfs /tmp",
                "exec " + " ".join(f"'{a}'" for a in ws),
            ]
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                # A pid namespace of its own: the session bus each bridge
                # starts (dbus-daemon --session) dies with cockpit-ws instead
                # of outliving the test.
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "--pid",
                    "--fork",
                    "--kill-child",
                    "--mount-proc",
                    "sh",
                    "-c",
                    script,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_serving()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_serving(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"cockpit-ws exited: {self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2):  # noqa: S310 - our loopback URL
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"cockpit-ws did not serve {self.url}: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # cockpit-ws is the first process of its pid namespace: killing it
            # ends the namespace. unshare's --kill-child does not reach it once
            # it runs as another user (the kernel clears the parent-death
            # signal on a change of credentials), and unshare forwards no
            # SIGTERM: each run left a cockpit-ws behind.
            for pid in child_pids(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not reached in {timeout}s: {what}")


def text(page: Any, selector: str) -> str:
    """A Playwright page's text at ``selector``, or "" while it is not there yet."""
    try:
        value: str = page.inner_text(selector, timeout=2000)
    except Exception:  # not there yet (Playwright's own TimeoutError)
        return ""
    return value
