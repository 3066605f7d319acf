"""Real nginx enforces journalban's deny include: a banned client gets 403, another 200.

The agent bans from nginx's error log lines (a file jail, no firewall); its
nginx enforcement point rewrites the include file and runs the reload
command, batched: a flood of bans is a few reloads, not one per ban.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support.agent import AgentProcess, StateReader, write_config
from support.netpair import net_pair
from support.nginx import http_status, running_nginx

pytestmark = pytest.mark.real


def failure(addr: str, n: int) -> str:
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    return (
        f'{stamp} [error] 2865#0: *{n} user "xyz" was not found in "/etc/htpasswd", '
        f'client: {addr}, server: web.test, request: "GET / HTTP/1.1", host: "web.test"\n'
    )


def test_banned_client_gets_403_another_200_and_a_flood_is_batched(tmp_path: Path) -> None:
    log, deny, counter = tmp_path / "error.log", tmp_path / "nginx-deny.conf", tmp_path / "reloads"
    log.write_text("")
    deny.write_text("")
    with net_pair() as pair, running_nginx(tmp_path / "nginx", pair, deny) as reload_argv:
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
            enforcement={"nginx": {"file": str(deny), "jails": ["web"], "reload": [str(script)],
                                   "reload_interval": "2s"}},
        )  # fmt: skip
        assert http_status(pair, banned) == "200"
        agent = AgentProcess(cfg, dry_run=False)
        state = StateReader(tmp_path / "state")
        try:
            agent.wait_for_log("enforcement point nginx started")
            with log.open("a") as f:
                f.write(failure(banned, 1))
            state.wait(lambda: ("web", f"{banned}/32") in state.bans())
            deadline = time.monotonic() + 15
            while http_status(pair, banned) != "403" and time.monotonic() < deadline:
                time.sleep(0.2)
            assert http_status(pair, banned) == "403"
            assert http_status(pair, innocent) == "200"
            assert f"deny {banned};" in deny.read_text()
            before = len(counter.read_text().splitlines())
            with log.open("a") as f:  # a flood: 300 addresses banned within a second
                f.writelines(failure(f"198.51.{n // 250}.{n % 250 + 1}", n) for n in range(300))
            state.wait(lambda: len(state.bans()) >= 301)
            time.sleep(5)
            assert deny.read_text().count("deny ") == 301
            reloads = len(counter.read_text().splitlines()) - before
            assert 1 <= reloads <= 4, f"{reloads} reloads for a flood of 300 bans"
            assert http_status(pair, innocent) == "200"
        finally:
            agent.stop()
