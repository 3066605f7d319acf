"""The nftables backend used from two threads at once, as the agent does.

The agent applies bans in one worker thread while its integrity check reads
the table in another; both use the backend's one netlink socket.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from support.real import need_root, need_tool

pytestmark = pytest.mark.real

SCRIPT = textwrap.dedent(
    """
    import ipaddress, threading, time
    from journalban.firewall.base import BanEntry, JailRules, PortRange
    from journalban.firewall.nftables import NftablesBackend

    backend = NftablesBackend()
    backend.setup([JailRules("sshd", (PortRange(22, 22),), ("tcp",))])
    stop = threading.Event()
    checks = []

    def check() -> None:
        while not stop.is_set():
            checks.append(backend.intact())

    thread = threading.Thread(target=check)
    thread.start()
    base = int(ipaddress.IPv4Address("11.64.0.1"))
    now = time.time()
    started = time.monotonic()
    for k in range(20):
        batch = [BanEntry("sshd", ipaddress.IPv4Network(base + k * 2000 + i), now + 3600)
                 for i in range(2000)]
        backend.apply(batch, [], now)
    elapsed = time.monotonic() - started
    stop.set()
    thread.join()
    print(elapsed, len(checks), all(checks))
    """
)


def test_bans_and_integrity_checks_from_two_threads_do_not_wait_on_each_other() -> None:
    need_root()
    need_tool("unshare")
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    elapsed, checks, intact = done.stdout.split()
    # 40,000 elements take well under a second alone; a batch whose acks the
    # other thread read would wait for the socket's 30 s timeout, or fail.
    assert float(elapsed) < 20
    assert int(checks) > 0
    assert intact == "True"
