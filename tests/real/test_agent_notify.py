"""The agent speaks sd_notify (Type=notify) on the socket systemd would give it."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore
from support.agent import JOURNALBAN, write_config
from support.real import need_root, need_tool


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


@contextlib.contextmanager
def _agent(
    tmp_path: Path,
    state: Path,
    watchdog_usec: int | None,
    timeout: float,
    *,
    unshare: bool = False,
    **config: object,
) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket]]:
    """The agent run on ``state`` (``--no-bus``, an empty journal directory, its stderr in
    agent.log; under ``unshare -n`` for a real firewall), told a notify socket of ours (as
    systemd's, WATCHDOG_USEC set unless None): it and the socket; killed if still running
    at the end."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(timeout)
    env = {**os.environ, "NOTIFY_SOCKET": str(path)}
    if watchdog_usec is not None:
        env["WATCHDOG_USEC"] = str(watchdog_usec)
    jdir = tmp_path / "journal"
    jdir.mkdir()
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=jdir, **config)
    command = [JOURNALBAN, "run", "--config", str(cfg), "--no-bus"]
    with (tmp_path / "agent.log").open("wb") as log:
        proc = subprocess.Popen(["unshare", "-n", *command] if unshare else command,
                                env=env, stderr=log)  # fmt: skip
    try:
        yield proc, sock
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sock.close()


def test_ready_status_watchdog_and_reloading(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with _agent(tmp_path, state, 400_000, 0.2, firewall={"backend": "dry-run"}) as (proc, sock):
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


def _large_state(tmp_path: Path, bans: int) -> Path:
    """A state directory holding ``bans`` running bans of jail sshd, an hour long each."""
    now = time.time()
    state = tmp_path / "state"
    state.mkdir()
    base = int(ipaddress.IPv4Address("11.0.0.0"))
    store = StateStore(state / "state.sqlite")
    store.commit([BatchCommit(jail="sshd", bans=[
        Ban("sshd", ipaddress.IPv4Network(base + i), now, now + 3600, 1, "failures")
        for i in range(bans)
    ])])  # fmt: skip
    store.close()
    return state


def _waits(pid: int) -> dict[int, int]:
    """Each thread of ``pid``: how long it waited runnable for a core so far, in ns
    (/proc/PID/task/TID/schedstat's second field)."""
    found: dict[int, int] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            found[int(task.name)] = int((task / "schedstat").read_text().split()[1])
    return found


def test_the_watchdog_is_pinged_while_a_large_ban_table_is_built(tmp_path: Path) -> None:
    """200,000 stored bans: the ban table is built after READY (nftables restores from the
    rows first), longer than WatchdogSec=; the pings go on meanwhile, none missed."""
    need_root()
    need_tool("unshare")
    state = _large_state(tmp_path, 200_000)
    watchdog_usec = 300_000  # pings every 0.15 s; the table takes about 1 s here
    with _agent(tmp_path, state, watchdog_usec, 0.02, unshare=True) as (proc, sock):
        _messages(sock, "READY=1", timeout=60)
        ready = time.monotonic()
        # (WATCHDOG_PID is unset: the pid under unshare is the agent's own)
        stamps = [(ready, _waits(proc.pid))]
        while time.monotonic() < ready + 4:
            try:
                message = sock.recv(4096).decode()
            except TimeoutError:
                continue
            if "WATCHDOG=1" in message:
                stamps.append((time.monotonic(), _waits(proc.pid)))
        assert len(stamps) > 10, stamps
        # A gap less the time the agent's threads sat runnable without a core (the
        # kernel's run-queue wait): a busy machine's starving, not the agent's pinger
        # blocked by the table's build, which leaves its threads asleep or running.
        gaps = [
            (b - a) - max((w.get(tid, 0) - v.get(tid, 0) for tid in w), default=0) / 1e9
            for (a, v), (b, w) in itertools.pairwise(stamps)
        ]
        assert max(gaps) < watchdog_usec / 1e6, f"a gap of {max(gaps):.2f} s without a ping"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, (tmp_path / "agent.log").read_text()


def test_a_stop_at_ready_does_not_wait_for_the_ban_table(tmp_path: Path) -> None:
    """SIGTERM the moment READY=1 arrives, 500,000 stored bans, no D-Bus API: the ban table
    is built after READY (seconds on a loaded host) in a thread of its own, so the stop is
    taken at once (the kernel and the state hold every ban already); the agent exits 0, no
    ban is lost, and the next start has them all. Before, the stop waited for the table."""
    need_root()
    need_tool("unshare")
    bans = 500_000
    state = _large_state(tmp_path, bans)
    with _agent(tmp_path, state, None, 0.02, unshare=True) as (proc, sock):
        _messages(sock, "READY=1", timeout=60)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _messages(sock, "STOPPING=1", timeout=30)
        stopping = time.monotonic() - sent
        assert proc.wait(timeout=30) == 0, (tmp_path / "agent.log").read_text()
    # (a table of 500,000 bans takes over a second here: a stop that waited for it came
    # 1.2 s after SIGTERM at 300,000 on 2 cores; one that does not, in 0.04-0.06 s)
    assert stopping < 0.5, f"STOPPING came {stopping:.2f} s after SIGTERM"
    store = StateStore(state / "state.sqlite")
    try:
        assert len(store.active_bans(running_at=time.time())) == bans
    finally:
        store.close()
