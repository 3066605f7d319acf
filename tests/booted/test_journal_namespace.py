"""A jail reading a journald namespace while sshd's jail reads the system journal.

A service run with LogNamespace= logs to its own systemd-journald@NS
instance and journal files; a jail with ``journal: {namespace: NS}`` reads
them, and only them, while the shipped sshd jail keeps reading the system
journal.
"""

from __future__ import annotations

from support.container import BootedHost

NAMESPACE = "booted"
SERVICE = "booted-ns-app"
JAIL_FILE = "/etc/journalban/jail.d/nsapp.yaml"
JAIL = f"""\
jails:
  nsapp:
    enabled: true
    filter: sshd
    journal: {{namespace: {NAMESPACE}}}
    journal_match: [["_SYSTEMD_UNIT={SERVICE}.service", "_UID=0"]]
    port: "2222"
    maxretry: 2
"""
# On a timeout: what the namespace's journald and its journal hold, beside the agent's log.
NAMESPACE_STATE = (
    ("systemctl", "status", "--no-pager", "-l", f"systemd-journald@{NAMESPACE}.service"),
    ("journalctl", "--no-pager", "-q", f"--namespace={NAMESPACE}", "-n", "20", "-o", "short-full"),
    (
        "sh",
        "-c",
        f"ls -la --time-style=full-iso /var/log/journal/*.{NAMESPACE} /run/log/journal/*.{NAMESPACE}",
    ),
    ("journalban", "stats"),
)
PRINT_ARGS = "import sys; print(*sys.argv[1:], sep='\\n', flush=True)"


def _log_in_namespace(host: BootedHost, lines: list[str]) -> None:
    """Lines from a service of the namespace (a transient unit, waited for)."""
    host.run(
        "systemd-run", "-q", "--wait", f"--unit={SERVICE}",
        "-p", f"LogNamespace={NAMESPACE}", "-p", "SyslogIdentifier=sshd",
        "/usr/bin/python3", "-c", PRINT_ARGS, *lines,
    )  # fmt: skip


def _failures(address: str, count: int) -> list[str]:
    return [
        f"Failed password for invalid user n{n} from {address} port {4000 + n} ssh2"
        for n in range(count)
    ]


def _total(host: BootedHost, jail: str) -> int:
    total = host.jail_stats(jail)["failures_total"]
    assert isinstance(total, int)
    return total


def test_a_jail_reads_its_namespace_and_sshd_the_system_journal(host: BootedHost) -> None:
    _log_in_namespace(host, ["the namespace's journal starts"])
    host.write(JAIL_FILE, JAIL)
    host.systemctl("reload", "journalban.service")
    try:
        assert "nsapp" in host.run("journalban", "status").stdout
        in_namespace, in_system = host.fresh_addresses(2)
        sshd_before = _total(host, "sshd")
        _log_in_namespace(host, _failures(in_namespace, 2))
        host.wait_for(
            f"{in_namespace} banned by the namespace's jail",
            lambda: "nsapp" in host.run("journalban", "banned", in_namespace).stdout,
            also=NAMESPACE_STATE,
        )
        assert _total(host, "nsapp") == 2
        assert _total(host, "sshd") == sshd_before, "sshd's jail must not read the namespace"
        # The system journal's sshd lines reach the sshd jail only.
        host.emit_failures([in_system, in_system])
        host.wait_for("sshd's two failures", lambda: _total(host, "sshd") == sshd_before + 2)
        assert _total(host, "nsapp") == 2
        assert in_system not in host.nft_elements()
        # Its position survives a restart: nothing read twice, the next line counted.
        host.systemctl("restart", "journalban.service")
        _log_in_namespace(host, _failures(in_system, 1))
        host.wait_for(
            "the namespace's third failure",
            lambda: _total(host, "nsapp") == 3,
            also=NAMESPACE_STATE,
        )
    finally:
        host.remove(JAIL_FILE)
        host.systemctl("reload", "journalban.service")
