"""The agent speaks sd_notify (Type=notify) on the socket systemd would give it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from support.agent import JOURNALBAN, write_config


def _messages(sock: socket.socket, until: str, timeout: float = 20.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if any(until in m for m in got):
            return got
    raise AssertionError(f"{until!r} never sent; got {got}")


def test_ready_status_watchdog_and_reloading(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.2)
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(
        tmp_path / "c.yaml", tmp_path / "state", journal_dir=jdir, firewall={"backend": "dry-run"}
    )
    env = {**os.environ, "NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [JOURNALBAN, "run", "--config", str(cfg), "--no-bus"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        ready = _messages(sock, "READY=1")
        # systemctl status shows it: a dry run says so
        assert any(
            "STATUS=1 jail, 0 bans (dry run: nothing banned in the firewall)" in m for m in ready
        )
        assert any("WATCHDOG=1" in m for m in _messages(sock, "WATCHDOG=1"))
        proc.send_signal(signal.SIGHUP)
        after = _messages(sock, "RELOADING=1")
        assert any("MONOTONIC_USEC=" in m for m in after)
        assert any("READY=1" in m for m in _messages(sock, "READY=1"))
        proc.send_signal(signal.SIGTERM)
        assert any("STOPPING=1" in m for m in _messages(sock, "STOPPING=1"))
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()
