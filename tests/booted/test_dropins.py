"""The shipped drop-ins for the edge features, each with the real daemon it serves.

As in test_hardening.py, each drop-in is shown twice: under the shipped unit
alone the feature fails (the sandbox holds), with the drop-in installed as
its comments say it works. The daemons are Debian's own: Postfix and nginx
and shorewall in the container (installed disabled in the root file system),
the fleet's nats-server on another host (the attacker's namespace, at
PEER4), Prometheus scrapes through the socket unit the packages ship.
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.container import OTHER_PORT, PEER4, SERVER4, BootedHost
from support.dropins import UNIT, journal_since, now, phases, shipped
from support.postfix import SMTP_CLIENT, main_cf
from support.real import need_tool

# --- the fleet: fleet.conf ------------------------------------------------------

NATS_PORT = 4222
FLEET = "booted"
FLEET_CONFIG = f"""\
fleet:
  servers: [nats://{PEER4}:{NATS_PORT}]
  name: {FLEET}
  host: booted1
"""
# A peer host of the fleet, written from docs/fleet.md's wire format.
PEER_PUBLISH = """
import asyncio, json, sys, time
import nats

async def main():
    nc = await nats.connect(sys.argv[1])
    now = time.time()
    body = {"v": 1, "op": "ban", "at": now, "exp": now + 600, "why": "booted peer"}
    await nc.jetstream().publish(sys.argv[2], json.dumps(body).encode())
    await nc.close()

asyncio.run(main())
"""
PEER_READ = """
import asyncio, sys
import nats

async def main():
    nc = await nats.connect(sys.argv[1])
    msg = await nc.jetstream().get_last_msg(sys.argv[2], sys.argv[3])
    print(msg.data.decode())
    await nc.close()

asyncio.run(main())
"""


def _key(address: str) -> str:
    return address.replace(".", "-") + "_32"


@pytest.fixture
def nats_server(host: BootedHost, tmp_path: Path) -> Iterator[str]:
    """Debian's nats-server with JetStream on another host of the server's network."""
    server = need_tool("nats-server")
    log = (tmp_path / "nats.log").open("wb")
    argv = [server, "-js", "-sd", str(tmp_path / "js"), "-a", PEER4, "-p", str(NATS_PORT)]
    proc = subprocess.Popen(
        ["ip", "netns", "exec", host.attacker_ns, *argv], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        host.wait_for(
            "nats-server",
            lambda: "Server is ready" in (tmp_path / "nats.log").read_text(errors="replace"),
        )
        yield f"nats://{PEER4}:{NATS_PORT}"
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def _fleet(host: BootedHost) -> dict[str, object]:
    status = json.loads(host.run("journalban", "fleet", "--json").stdout)
    assert isinstance(status, dict)
    return status


def _peer(host: BootedHost, script: str, *argv: str) -> str:
    done = host.in_attacker([sys.executable, "-c", script, *argv])
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fleet_dropin_lets_the_agent_reach_its_nats_servers_only(
    host: BootedHost, nats_server: str
) -> None:
    remote, own = host.fresh_addresses(2)
    with phases(host) as phase:
        phase(config=FLEET_CONFIG)
        host.wait_for("the fleet's connection error", lambda: bool(_fleet(host)["LastError"]))
        assert _fleet(host)["Connected"] is False
        assert host.show(UNIT, "ActiveState") == "active"
        # As docs/fleet.md says: the drop-in printed for this host's servers, which
        # is the shipped file with the example addresses replaced by the servers'.
        printed = host.run("journalban", "fleet-dropin").stdout
        edited = re.sub(
            r"(?m)^IPAddressAllow=.*$", f"IPAddressAllow={PEER4}", shipped(host, "fleet.conf")
        )
        assert printed == edited
        phase(config=FLEET_CONFIG, texts={"fleet.conf": printed})
        host.wait_for("the fleet connected", lambda: _fleet(host)["Connected"] is True)
        # A peer's ban is applied here, through this host's own rules.
        _peer(host, PEER_PUBLISH, nats_server, f"journalban.{FLEET}.bans.peer1.sshd.{_key(remote)}")
        host.wait_for(f"the peer's ban of {remote}", lambda: remote in host.nft_elements())
        # This host's own ban is published to the servers.
        host.emit_failures([own] * 3)
        host.wait_for(f"{own} banned", lambda: own in host.nft_elements())
        subject = f"journalban.{FLEET}.bans.booted1.sshd.{_key(own)}"
        body = json.loads(_peer(host, PEER_READ, nats_server, f"JOURNALBAN_{FLEET}", subject))
        assert body["op"] == "ban"
    for address in (remote, own):
        host.run("journalban", "unban", address)


# --- Postfix's policy service: postfix-policy.conf and loopback-policy.conf ----

# Debian runs its Postfix as the instance postfix@- (postfix.service only groups them).
POSTFIX_UNIT = "postfix@-.service"
POLICY_SOCKET = "unix:/var/spool/postfix/private/journalban"
POLICY_INET = "inet:127.0.0.1:10031"


def _policy_config(listen: str) -> str:
    return f"enforcement:\n  postfix:\n    listen: {listen}\n    jails: [sshd]\n"


@pytest.fixture(scope="module")
def postfix(host: BootedHost) -> Iterator[None]:
    """Debian's Postfix in the container, listening on the server's address."""
    # Logging to the journal (through syslog's socket), not to main_cf's stdout.
    config = main_cf(SERVER4, "permit").replace("maillog_file = /dev/stdout\n", "")
    host.write("/etc/postfix/main.cf", config)
    started = host.systemctl("start", POSTFIX_UNIT, check=False)
    assert started.returncode == 0, host.journal("-u", POSTFIX_UNIT, "-n", "30")
    yield
    host.systemctl("stop", POSTFIX_UNIT)


def _restrict(host: BootedHost, service: str) -> None:
    host.run("postconf", "-e", f"smtpd_client_restrictions = check_policy_service {service}")
    host.run("postfix", "reload")


def _rcpt(host: BootedHost, source: str) -> str:
    """Postfix's reply to RCPT TO from ``source`` in the attacker's namespace."""
    done = host.in_attacker([sys.executable, "-c", SMTP_CLIENT, source, SERVER4])
    return done.stdout.strip() or done.stderr.strip()


def _deferred(host: BootedHost, banned: str, other: str) -> None:
    """No policy server: Postfix defers everyone (its default action)."""
    host.wait_for("Postfix to defer", lambda: _rcpt(host, banned).startswith("451"))
    assert _rcpt(host, other).startswith("451")


def _refused(host: BootedHost, banned: str, other: str) -> None:
    host.wait_for(
        f"Postfix to refuse {banned}",
        lambda: re.match(r"554 .*Access denied", _rcpt(host, banned)) is not None,
    )
    assert _rcpt(host, other).startswith("250")


def test_policy_dropins_let_postfix_ask_the_agent(
    host: BootedHost, postfix: None, attacker4: str, bystander4: str
) -> None:
    host.run("journalban", "ban", "sshd", attacker4)
    try:
        with phases(host) as phase:
            _restrict(host, "unix:private/journalban")
            phase(config=_policy_config(POLICY_SOCKET))
            _deferred(host, attacker4, bystander4)
            phase(dropins=("postfix-policy.conf",), config=_policy_config(POLICY_SOCKET))
            _refused(host, attacker4, bystander4)
            # Over loopback TCP instead, which postfix-policy.conf does not open.
            _restrict(host, POLICY_INET)
            phase(dropins=("postfix-policy.conf",), config=_policy_config(POLICY_INET))
            _deferred(host, attacker4, bystander4)
            phase(dropins=("loopback-policy.conf",), config=_policy_config(POLICY_INET))
            _refused(host, attacker4, bystander4)
    finally:
        host.run("journalban", "unban", attacker4)
        host.run("postconf", "-e", "smtpd_client_restrictions = permit")
        host.run("postfix", "reload")


# --- nginx's deny list: web-deny.conf -------------------------------------------

DENY_FILE = "/var/lib/journalban/nginx-deny.conf"
NGINX_CONFIG = f"""\
enforcement:
  nginx:
    file: {DENY_FILE}
    jails: [sshd]
    reload: [/usr/sbin/nginx, -s, reload]
    reload_interval: 1s
"""
HTTP_GET = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[2], 80, timeout=10, source_address=(sys.argv[1], 0))
c.request("GET", "/")
print(c.getresponse().status)
"""


def _http_status(host: BootedHost, source: str) -> str:
    return host.in_attacker([sys.executable, "-c", HTTP_GET, source, SERVER4]).stdout.strip()


@pytest.fixture
def nginx(host: BootedHost) -> Iterator[None]:
    """Debian's nginx in the container, its default site including journalban's deny list."""
    host.run("touch", DENY_FILE)
    host.write("/etc/nginx/conf.d/journalban.conf", f"include {DENY_FILE};\n")
    host.systemctl("start", "nginx.service")
    yield
    host.systemctl("stop", "nginx.service")
    host.remove("/etc/nginx/conf.d/journalban.conf")


@pytest.mark.usefixtures("nginx")
def test_web_deny_dropin_lets_the_agent_reload_nginx(
    host: BootedHost, attacker4: str, bystander4: str
) -> None:
    try:
        with phases(host) as phase:
            phase(config=NGINX_CONFIG)
            since = now(host)
            host.run("journalban", "ban", "sshd", attacker4)
            host.wait_for(
                "the deny file",
                lambda: attacker4 in (host.root / DENY_FILE.lstrip("/")).read_text(),
            )
            host.wait_for(
                "the reload's error",
                lambda: (
                    "nginx" in journal_since(host, since) and "reload" in journal_since(host, since)
                ),
            )
            assert _http_status(host, attacker4) == "200"
            host.run("journalban", "unban", attacker4)
            phase(dropins=("web-deny.conf",), config=NGINX_CONFIG)
            host.run("journalban", "ban", "sshd", attacker4)
            host.wait_for(
                f"nginx to deny {attacker4}", lambda: _http_status(host, attacker4) == "403"
            )
            assert _http_status(host, bystander4) == "200"
    finally:
        host.run("journalban", "unban", attacker4, check=False)


# --- the shorewall backend: shorewall.conf ----------------------------------------

SHOREWALL_FILES = {
    "zones": "fw firewall\nnet {family}\n",
    "interfaces": "?FORMAT 2\nnet srv0 -\n",
    "policy": "$FW all ACCEPT\nnet all ACCEPT\n",
}
# IPv4 and IPv6: the backend bans IPv6 through shorewall6 (the earlier modules
# leave IPv6 bans, which the agent restores when it starts on this backend).
SHOREWALLS = (("shorewall", "ipv4"), ("shorewall6", "ipv6"))
SHOREWALL_CONFIG = "firewall:\n  backend: shorewall\n"


@pytest.fixture
def shorewall(host: BootedHost) -> Iterator[None]:
    """Debian's shorewall and shorewall6 started in the container: all accepted, dynamic blacklists."""
    for program, family in SHOREWALLS:
        for name, text in SHOREWALL_FILES.items():
            host.write(f"/etc/{program}/{name}", text.format(family=family))
        host.run(program, "start", timeout=120)
    yield
    for program, _ in SHOREWALLS:
        host.run(program, "clear", timeout=120)


@pytest.mark.usefixtures("shorewall")
def test_shorewall_dropin_lets_the_backend_run_shorewall(
    host: BootedHost, attacker4: str, attacker6: str
) -> None:
    """The addresses are banned first (nftables: port 22 only), then the backend switched.

    Shorewall drops every port of a blacklisted address, so sshd's other port
    tells whether shorewall holds it. Without the drop-in the agent cannot run
    shorewall to restore the bans (it fails to start, or runs degraded: either
    way the journal says why, and the port stays open). The IPv6 ban is
    restored through shorewall6, which must be there for the agent to start
    on this backend; what shorewall6 then enforces is not checked here.
    """
    prefix6 = str(ipaddress.ip_network(f"{attacker6}/64", strict=False))
    assert host.tcp_connects(attacker4, OTHER_PORT)
    for address in (attacker4, attacker6):
        host.run("journalban", "ban", "sshd", address)
    try:
        with phases(host) as phase:
            since = now(host)
            phase(config=SHOREWALL_CONFIG, check=False)
            host.wait_for(
                "the backend's error",
                lambda: "cannot run /usr/sbin/shorewall drop" in journal_since(host, since),
            )
            assert host.tcp_connects(attacker4, OTHER_PORT)
            phase(dropins=("shorewall.conf",), config=SHOREWALL_CONFIG)
            host.wait_for(
                f"shorewall to drop {attacker4}",
                lambda: not host.tcp_connects(attacker4, OTHER_PORT, timeout=2),
            )
            assert f"-A dynamic -s {attacker4}/32 " in host.run("iptables-save").stdout
            host.run("journalban", "unban", attacker4)
            host.wait_for(f"{attacker4} allowed", lambda: host.tcp_connects(attacker4, OTHER_PORT))
    finally:
        for address in (attacker4, prefix6):
            host.run("journalban", "unban", address, check=False)


# --- the metrics endpoint: metrics.conf --------------------------------------------

METRICS_SOCKET = "journalban-metrics.socket"
TEXTFILE = "/var/lib/prometheus/node-exporter/journalban.prom"
METRICS_CONFIG = f"metrics:\n  textfile: {TEXTFILE}\n  textfile_interval: 1s\n"
SCRAPE = """
import urllib.request
print(urllib.request.urlopen("http://127.0.0.1:9539/metrics", timeout=5).read().decode())
"""


def _scrape(host: BootedHost) -> str:
    return host.run("python3", "-c", SCRAPE, check=False).stdout


def test_metrics_dropin_passes_the_socket_and_opens_the_textfile(host: BootedHost) -> None:
    """The socket unit enabled but not yet started, as at boot (the agent starts early).

    Without the drop-in nothing starts the socket before the agent, so the
    agent gets none; with it (Wants= and After= the socket) the agent gets it.
    """
    host.run("mkdir", "-p", str(Path(TEXTFILE).parent))
    host.systemctl("enable", METRICS_SOCKET)
    try:
        with phases(host) as phase:
            since = now(host)
            phase(config=METRICS_CONFIG)
            host.wait_for(
                "the textfile's error",
                lambda: f"cannot write the metrics to {TEXTFILE}" in journal_since(host, since),
            )
            assert host.show(METRICS_SOCKET, "ActiveState") == "inactive"
            assert "f2b_up" not in _scrape(host)
            assert host.run("test", "-e", TEXTFILE, check=False).returncode
            # The textfile's directory uncommented, as the drop-in's comment says.
            text = shipped(host, "metrics.conf").replace("#ReadWritePaths=", "ReadWritePaths=")
            phase(config=METRICS_CONFIG, texts={"metrics.conf": text})
            host.wait_for("a scrape", lambda: "f2b_up 1.0" in _scrape(host))
            assert 'f2b_jail_banned_current{jail="sshd"}' in _scrape(host)
            host.wait_for(
                "the textfile",
                lambda: host.run("test", "-s", TEXTFILE, check=False).returncode == 0,
            )
    finally:
        host.systemctl("disable", "--now", METRICS_SOCKET)
        host.run("rm", "-rf", "/var/lib/prometheus")
