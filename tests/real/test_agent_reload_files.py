"""Reloading on SIGHUP, and jails that read log files."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import yaml

from support.agent import AgentProcess, StateReader, running, write_config
from support.journal import JournalWriter, sshd_fields


def _syslog(addr: str, n: int) -> str:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: Failed password for root from {addr} port {n} ssh2\n"


def test_broken_config_on_reload_keeps_the_old_one_running(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    jdir.mkdir()
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "journalban.yaml", state, journal_dir=jdir,
                       firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 2}})  # fmt: skip
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on :: port 22.")])
        writer.wait_visible(1)
        agent = AgentProcess(cfg)
        try:
            agent.wait_for_log("running:")
            dropin = tmp_path / "jail.d"
            dropin.mkdir()
            (dropin / "50-broken.yaml").write_text("jails:\n  sshd:\n    maxretry: lots\n")
            os.kill(agent.proc.pid, signal.SIGHUP)
            agent.wait_for_log("reload failed")
            assert f"{dropin / '50-broken.yaml'}:3:" in agent.log
            # Still running on the old configuration (maxretry 2).
            line = "Failed password for root from 203.0.113.30 port 1 ssh2"
            writer.write([sshd_fields(line)] * 2)
            agent.wait_for_log("Ban 203.0.113.30 in jail sshd")
            # A good change is taken.
            (dropin / "50-broken.yaml").write_text("jails:\n  sshd:\n    maxretry: 1\n")
            os.kill(agent.proc.pid, signal.SIGHUP)
            agent.wait_for_log("configuration reloaded")
            writer.write([sshd_fields("Failed password for root from 203.0.113.31 port 1 ssh2")])
            agent.wait_for_log("Ban 203.0.113.31 in jail sshd")
        finally:
            assert agent.stop() == 0


def test_file_jail_follows_rotation(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("")
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "journalban.yaml",
        state,
        firewall={"backend": "dry-run"},
        jails={
            "sshd": {"enabled": False},
            "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)], "maxretry": 3},
        },
    )
    with running(cfg) as agent:
        with log.open("a") as f:
            f.write(_syslog("203.0.113.40", 1))
            f.write(
                "Nov 21 10:00:00 host sudo[1]: Failed password for root from 192.0.2.1 port 1 ssh2\n"
            )
            f.write(_syslog("203.0.113.40", 2))
        reader = StateReader(state)
        reader.wait(lambda: reader.total_failed("ssh-files") == 2)
        # logrotate's create: rename, then a new empty file.
        log.rename(tmp_path / "auth.log.1")
        log.write_text(_syslog("203.0.113.40", 3))
        agent.wait_for_log("Ban 203.0.113.40 in jail ssh-files")
    assert "192.0.2.1" not in agent.log
    assert yaml.safe_load(cfg.read_text())["jails"]["ssh-files"]["maxretry"] == 3
