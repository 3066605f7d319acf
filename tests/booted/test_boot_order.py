"""Boot ordering: the bans of the state database are in the kernel before the network.

With a ban in the state database, the container is powered off, the kernel's
ruleset emptied (as a reboot empties it), and booted again. Two probes read
the kernel's set at the moments that matter: ssh.service's ExecStartPre=
(just before sshd starts listening) and a oneshot ordered after
network-pre.target; the journal gives the order of the units.
"""

from __future__ import annotations

import json
import re

from support.container import BootedHost

PROBE_COMMAND = "/usr/sbin/nft list set inet journalban sshd-v4"
SSH_PROBE = "/etc/systemd/system/ssh.service.d/booted-ban-probe.conf"
NETWORK_PRE_PROBE = "/etc/systemd/system/booted-network-pre-probe.service"


def _seqnums(host: BootedHost) -> dict[str, int]:
    """The journal's sequence number of each boot milestone, this boot."""
    out = host.journal(
        "-b",
        "-o",
        "json",
        "UNIT=journalban.service",
        "+",
        "UNIT=network-pre.target",
        "+",
        "_SYSTEMD_UNIT=ssh.service",
    )
    found: dict[str, int] = {}
    for line in out.splitlines():
        entry = json.loads(line)
        message = entry.get("MESSAGE", "")
        # systemd 252's JSON has no __SEQNUM: the cursor holds it (i=<hex>).
        cursor = re.search(r"\bi=([0-9a-f]+)", entry["__CURSOR"])
        assert cursor, entry["__CURSOR"]
        seqnum = int(cursor.group(1), 16)
        if not isinstance(message, str):
            continue
        if entry.get("UNIT") == "journalban.service" and entry.get("JOB_RESULT") == "done":
            found.setdefault("journalban started", seqnum)
        elif entry.get("UNIT") == "network-pre.target" and entry.get("JOB_RESULT") == "done":
            found.setdefault("network-pre reached", seqnum)
        elif message.startswith("Server listening on"):
            found.setdefault("sshd listening", seqnum)
    return found


def test_bans_are_restored_before_network_pre_and_before_sshd_listens(host: BootedHost) -> None:
    (address,) = host.fresh_addresses(1)
    host.run("journalban", "ban", "sshd", address, "--permanent")
    host.write(SSH_PROBE, f"[Service]\nExecStartPre=-{PROBE_COMMAND}\n")
    host.write(
        NETWORK_PRE_PROBE,
        "[Unit]\nDefaultDependencies=no\nAfter=network-pre.target\n"
        f"[Service]\nType=oneshot\nExecStart=-{PROBE_COMMAND}\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    host.systemctl("enable", "booted-network-pre-probe.service")
    try:
        host.reboot()
        ssh_probe = host.journal("-b", "-u", "ssh.service", "-o", "cat")
        assert address in ssh_probe, f"not in the kernel before sshd started:\n{ssh_probe}"
        pre_probe = host.journal("-b", "-u", "booted-network-pre-probe.service", "-o", "cat")
        assert address in pre_probe, f"not in the kernel at network-pre.target:\n{pre_probe}"
        order = _seqnums(host)
        assert set(order) == {"journalban started", "network-pre reached", "sshd listening"}
        assert order["journalban started"] < order["network-pre reached"]
        assert order["network-pre reached"] < order["sshd listening"]
        started = host.journal("-b", "-u", "journalban.service", "-o", "cat")
        restored = re.search(r"(\d+) bans? restored", started)
        assert restored, started
        assert int(restored.group(1)) >= 1
    finally:
        host.systemctl("disable", "booted-network-pre-probe.service", check=False)
        host.remove(NETWORK_PRE_PROBE)
        host.remove(SSH_PROBE)
        host.systemctl("daemon-reload")
        host.run("journalban", "unban", address, check=False)
