"""Real nginx and Apache enforce journalban's deny includes: a banned client gets 403, another 200.

The agent bans from nginx's error log lines (a file jail, no firewall); its
nginx (or apache) enforcement point rewrites the include file and runs the
reload command, batched: a flood of bans is a few reloads, not one per ban.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from journalban.enforce.webdeny import WebDenyBackend, render_apache, render_nginx
from support.agent import AgentProcess, StateReader, write_config
from support.apache import running_apache
from support.netpair import NetPair, net_pair
from support.nginx import http_status, running_nginx

pytestmark = pytest.mark.real


def failure(addr: str, n: int) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    return (
        f'{stamp} [error] 2865#0: *{n} user "xyz" was not found in "/etc/htpasswd", '
        f'client: {addr}, server: web.test, request: "GET / HTTP/1.1", host: "web.test"\n'
    )


SERVERS = {"nginx": running_nginx, "apache": running_apache}


def wait_forbidden(
    pair: NetPair, client: str, deny: Path, counter: Path, agent: AgentProcess
) -> None:
    """Polls until the server answers ``client`` 403; else fails with what the deny file,
    the reload count and the agent's log said (a CI run once saw 200 here, under load)."""
    deadline = time.monotonic() + 15
    while (status := http_status(pair, client)) != "403" and time.monotonic() < deadline:
        time.sleep(0.2)
    reloads = len(counter.read_text().splitlines()) if counter.exists() else 0
    assert status == "403", (
        f"{client}: {status} after 15 s; {reloads} reloads; deny file:\n{deny.read_text()}\n"
        f"agent log (end):\n{agent.log[-3000:]}"
    )


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_banned_client_gets_403_another_200_and_a_flood_is_batched(
    tmp_path: Path, kind: str
) -> None:
    log, deny, counter = tmp_path / "error.log", tmp_path / "deny.conf", tmp_path / "reloads"
    log.write_text("")
    # What the agent writes with no ban: the server must start on it.
    deny.write_text(render_nginx([]) if kind == "nginx" else render_apache([]))
    with net_pair() as pair, SERVERS[kind](tmp_path / kind, pair, deny) as reload_argv:
        banned, innocent = pair.clients
        script = tmp_path / "reload.sh"
        script.write_text(f"#!/bin/sh\necho x >> {counter}\nexec {' '.join(reload_argv)}\n")
        script.chmod(0o755)
        cfg = write_config(
            tmp_path / "journalban.yaml", tmp_path / "state",
            firewall={"backend": "hosts-deny"},
            jails={
                "sshd": {"enabled": False},
                "web": {"enabled": True, "filter": "nginx-http-auth", "source": "files",
                        "files": [str(log)], "maxretry": 1, "ignoreip": [],
                        "ignore_local_networks": False},
            },
            enforcement={kind: {"file": str(deny), "jails": ["web"], "reload": [str(script)],
                                   "reload_interval": "2s"}},
        )  # fmt: skip
        assert http_status(pair, banned) == "200"
        agent = AgentProcess(cfg, dry_run=False)
        state = StateReader(tmp_path / "state")
        try:
            agent.wait_for_log(f"enforcement point {kind} started")
            with log.open("a") as f:
                f.write(failure(banned, 1))
            state.wait(lambda: ("web", f"{banned}/32") in state.bans())
            wait_forbidden(pair, banned, deny, counter, agent)
            assert http_status(pair, innocent) == "200"
            assert banned in deny.read_text()
            # IPv6: the jail bans the client's /64 (ipv6_prefix), the other /64 is served.
            banned6, innocent6 = pair.clients6
            assert http_status(pair, banned6) == "200"
            with log.open("a") as f:
                f.write(failure(banned6, 2))
            state.wait(lambda: ("web", "fd00:77:1::/64") in state.bans())
            wait_forbidden(pair, banned6, deny, counter, agent)
            assert http_status(pair, innocent6) == "200"
            before = len(counter.read_text().splitlines())
            with log.open("a") as f:  # a flood: 300 addresses banned within a second
                f.writelines(failure(f"198.51.{n // 250}.{n % 250 + 1}", n) for n in range(300))
            state.wait(lambda: len(state.bans()) >= 302)
            time.sleep(5)
            assert len(WebDenyBackend(kind, deny).list(time.time())) == 302
            reloads = len(counter.read_text().splitlines()) - before
            assert 1 <= reloads <= 4, f"{reloads} reloads for a flood of 300 bans"
            assert http_status(pair, innocent) == "200"
        finally:
            agent.stop()
