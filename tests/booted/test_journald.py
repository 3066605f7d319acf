"""The real journald: the agent's cursor across restarts, kills, journald restarts, rotation
(between streams, in the middle of one, and while the agent is stopped).

Every line sshd logs is counted once: none lost, none read twice, whatever
happens to the agent or to journald between two lines.
"""

from __future__ import annotations

import time

from support.container import BootedHost

UNIT = "journalban.service"


def _total(host: BootedHost) -> int:
    total = host.jail_stats("sshd")["failures_total"]
    assert isinstance(total, int)
    return total


def _emit_and_count(host: BootedHost, count: int, expected_total: int) -> None:
    host.emit_failures(host.fresh_addresses(count))
    host.wait_for(
        f"failures_total {expected_total}",
        lambda: _total(host) == expected_total,
        timeout=60,
    )


def _settled(host: BootedHost, expected_total: int) -> None:
    """Nothing read twice: the count stays where it is."""
    time.sleep(1.5)
    assert _total(host) == expected_total


def test_cursor_resumes_across_systemctl_restart(host: BootedHost) -> None:
    start = _total(host)
    _emit_and_count(host, 40, start + 40)
    host.systemctl("restart", UNIT)
    _emit_and_count(host, 25, start + 65)
    _settled(host, start + 65)


def test_kill_9_loses_neither_lines_nor_pending_counts(host: BootedHost) -> None:
    start = _total(host)
    restarts = int(host.show(UNIT, "NRestarts"))
    (pending,) = host.fresh_addresses(1)
    host.emit_failures([pending, pending])  # maxretry 3: two pending failures
    host.wait_for("the two failures", lambda: _total(host) == start + 2)
    # systemd 252 also reports EIO for the reader children that died with the
    # main process: the kill itself is checked through NRestarts.
    host.systemctl("kill", "-s", "KILL", UNIT, check=False)
    lines_while_dead = host.fresh_addresses(30)
    host.emit_failures(lines_while_dead)
    host.wait_for(
        "Restart=on-failure to start the agent again",
        lambda: (
            int(host.show(UNIT, "NRestarts")) == restarts + 1
            and host.show(UNIT, "ActiveState") == "active"
        ),
    )
    host.wait_for("the lines logged while it was dead", lambda: _total(host) == start + 32)
    host.emit_failures([pending])
    host.wait_for(
        f"{pending} banned by its third failure, two of them from before the kill",
        lambda: pending in host.nft_elements(),
    )
    _settled(host, start + 33)


def test_cursor_survives_a_restart_of_journald(host: BootedHost) -> None:
    start = _total(host)
    _emit_and_count(host, 40, start + 40)
    host.systemctl("restart", "systemd-journald.service")
    _emit_and_count(host, 40, start + 80)
    host.systemctl("restart", "systemd-journald.service")
    _emit_and_count(host, 10, start + 90)
    _settled(host, start + 90)
    assert host.show(UNIT, "ActiveState") == "active"


def test_rotation_and_vacuum_while_reading(host: BootedHost) -> None:
    start = _total(host)
    _emit_and_count(host, 2000, start + 2000)
    host.run("journalctl", "--rotate")
    _emit_and_count(host, 500, start + 2500)
    # The archived file holding the agent's cursor is deleted under it.
    host.run("journalctl", "--vacuum-files=1")
    _emit_and_count(host, 500, start + 3000)
    host.run("journalctl", "--rotate")
    host.run("journalctl", "--vacuum-files=1")
    _emit_and_count(host, 100, start + 3100)
    _settled(host, start + 3100)
    host.systemctl("restart", UNIT)
    _emit_and_count(host, 10, start + 3110)
    _settled(host, start + 3110)


def test_rotation_in_the_middle_of_a_stream(host: BootedHost) -> None:
    """journald rotates (journalctl --rotate) in the middle of a stream of sshd's failures,
    while the agent is behind in it and while it reads it: each failure counted once, across
    the rotations and a restart after.

    The agent is held (SIGSTOP) while the stream's first half is logged with a rotation
    between its two chunks, so its cursor is, without a doubt, in the file journald
    archives mid-stream; released, it reads those 20,000 failures while journald rotates
    twice more and the second half streams into the new files. (Rotating beside a stream
    the agent follows live, the stream could end before the first rotation on a busy
    machine: CI saw it.)"""
    start = _total(host)
    chunks, size = 4, 10_000
    streams = [host.fresh_addresses(size) for _ in range(chunks)]
    host.systemctl("kill", "-s", "STOP", UNIT)
    try:
        host.emit_failures(streams[0])
        host.run("journalctl", "--rotate")
        host.emit_failures(streams[1])
    finally:
        host.systemctl("kill", "-s", "CONT", UNIT)
    for stream in streams[2:]:
        host.run("journalctl", "--rotate")
        host.emit_failures(stream)
    expected = start + chunks * size
    host.wait_for(f"failures_total {expected}", lambda: _total(host) == expected, timeout=120)
    _settled(host, expected)
    host.systemctl("restart", UNIT)
    _emit_and_count(host, 10, expected + 10)
    _settled(host, expected + 10)
    assert host.show(UNIT, "ActiveState") == "active"


def test_rotation_while_the_agent_is_stopped(host: BootedHost) -> None:
    """Failures logged while the agent is stopped, journald rotating between them (the file
    of the agent's cursor archived): read once each when it starts again."""
    start = _total(host)
    _emit_and_count(host, 100, start + 100)
    host.systemctl("stop", UNIT)
    host.emit_failures(host.fresh_addresses(300))
    host.run("journalctl", "--rotate")
    host.emit_failures(host.fresh_addresses(200))
    host.run("journalctl", "--rotate")
    host.emit_failures(host.fresh_addresses(50))
    host.systemctl("start", UNIT)
    host.wait_for(f"failures_total {start + 650}", lambda: _total(host) == start + 650, timeout=60)
    _settled(host, start + 650)
    host.run("journalctl", "--rotate")
    _emit_and_count(host, 20, start + 670)
    _settled(host, start + 670)
