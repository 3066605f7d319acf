"""A state file whose ban rows were damaged by hand: the agent restores the others, counts
only those in "N bans restored", names how many it skipped, and runs on. So with detector
rows of the right shape and the wrong types: skipped, named, and the agent decides on.

Two ways of restoring: nftables straight from the state's rows (in a network
namespace of the test's own), and a backend given ``Ban`` objects
(hosts-deny: a file in the state directory). The rows are damaged with
SQLite itself, as a hand or a broken disk would: a network that is no address,
a number or a blob where text belongs, a jail that is a blob or empty.
"""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore
from support.agent import AgentProcess, StateReader, write_config
from support.nftset import set_elements
from support.real import need_root, need_tool

pytestmark = pytest.mark.real

GOOD_V4 = 20
DAMAGES = [
    "UPDATE bans SET network = 'not-an-address' WHERE network = '11.0.0.100/32'",
    "UPDATE bans SET network = '11.0.0.300/32' WHERE network = '11.0.0.101/32'",
    "UPDATE bans SET network = 12345 WHERE network = '11.0.0.102/32'",
    "UPDATE bans SET network = X'0B000067' WHERE network = '11.0.0.103/32'",
    "UPDATE bans SET jail = X'FF00' WHERE network = '11.0.0.104/32'",
    "UPDATE bans SET jail = '' WHERE network = '11.0.0.105/32'",
]
GOOD = GOOD_V4 + 2  # and an IPv6 /64 and an IPv4 /24


def damaged_state(state: Path) -> None:
    """GOOD readable running bans and len(DAMAGES) rows damaged afterwards by hand."""
    now = time.time()
    bans = [
        Ban("sshd", ipaddress.IPv4Network(f"11.0.0.{i}/32"), now, now + 3600, 1, "failures")
        for i in [*range(1, GOOD_V4 + 1), *range(100, 100 + len(DAMAGES))]
    ]
    bans += [
        Ban("sshd", ipaddress.ip_network("2001:db8:7::/64"), now, None, 1, "failures"),
        Ban("sshd", ipaddress.ip_network("203.0.113.0/24"), now, now + 7200, 1, "subnet"),
    ]
    store = StateStore(state / "state.sqlite")
    store.commit([BatchCommit(jail="sshd", bans=bans)])
    store.close()
    db = sqlite3.connect(state / "state.sqlite")
    with db:
        for statement in DAMAGES:
            assert db.execute(statement).rowcount == 1, statement
    db.close()


def row_count(state: Path) -> int:
    db = sqlite3.connect(state / "state.sqlite")
    try:
        count: int = db.execute("SELECT count(*) FROM bans").fetchone()[0]
        return count
    finally:
        db.close()


def check_start(agent: AgentProcess) -> None:
    """The counts of the start, and the agent alive with its restore records written."""
    agent.wait_for_log("running:", timeout=60)
    assert f"{GOOD} bans restored" in agent.log
    assert (
        f"unreadable stored bans: {len(DAMAGES)} stored ban(s) could not be read and were "
        "skipped" in agent.log
    )
    deadline = time.monotonic() + 20
    while agent.log.count("Restore ban of") < GOOD and time.monotonic() < deadline:
        assert agent.proc.poll() is None, agent.log
        time.sleep(0.05)
    assert agent.log.count("Restore ban of") == GOOD, agent.log
    assert agent.proc.poll() is None, agent.log
    assert "Traceback" not in agent.log


def test_nftables_restores_the_readable_rows_and_counts_only_them(tmp_path: Path) -> None:
    need_root()
    for tool in ("nft", "unshare", "nsenter"):
        need_tool(tool)
    state, journal = tmp_path / "state", tmp_path / "j"
    state.mkdir()
    journal.mkdir()
    damaged_state(state)
    cfg = write_config(tmp_path / "c.yaml", state, journal_dir=journal, recidive={"enabled": False})
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        time.sleep(0.2)
        agent = AgentProcess(cfg, dry_run=False, wrapper=["nsenter", "-t", str(holder.pid), "-n"])
        try:
            check_start(agent)
            elements = set_elements(holder.pid, "sshd-v4")
        finally:
            assert agent.stop() == 0
        assert elements == {f"11.0.0.{i}" for i in range(1, GOOD_V4 + 1)}
    finally:
        holder.kill()
        holder.wait()
    assert row_count(state) == GOOD + len(DAMAGES)  # the damaged rows are kept, not lost


def test_a_backend_given_bans_counts_only_the_readable_rows(tmp_path: Path) -> None:
    state, journal = tmp_path / "state", tmp_path / "j"
    state.mkdir()
    journal.mkdir()
    damaged_state(state)
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=journal, recidive={"enabled": False},
        firewall={"backend": "hosts-deny"},
    )  # fmt: skip
    agent = AgentProcess(cfg, dry_run=False)
    try:
        check_start(agent)
    finally:
        assert agent.stop() == 0
    denied = (state / "hosts.deny").read_text()
    assert all(f"11.0.0.{i}\n" in denied for i in range(1, GOOD_V4 + 1))
    assert not any(f"11.0.0.{i}" in denied for i in range(100, 100 + len(DAMAGES)))
    assert row_count(state) == GOOD + len(DAMAGES)


# A detector row of the right shape holding the wrong types (jails/rowvalues.py): before
# they were checked, attack mode's ["x", 5] raised TypeError at the jail's first failure.
DAMAGED_DETECTOR_ROWS = [
    ("attack_mode", "", '["x", 5]'),
    ("slow", "203.0.113.70/32", '["x", 1]'),
]
SLOW_MAXRETRY = 6  # above the jail's maxretry (3)


def _file_jail(tmp_path: Path, state: Path, log: Path, **own: object) -> Path:
    """A real agent's config (hosts-deny, no recidive) whose one jail, ``ssh-files``, reads
    sshd's ``log`` with ``own`` settings."""
    jail = {"filter": "sshd", "source": "files", "files": [str(log)], **own}
    return write_config(
        tmp_path / "c.yaml", state, recidive={"enabled": False},
        firewall={"backend": "hosts-deny"},
        jails={"sshd": {"enabled": False}, "ssh-files": jail},
    )  # fmt: skip


def _sshd_line(message: str, n: int) -> str:
    stamp = time.strftime("%b %e %H:%M:%S", time.localtime())
    return f"{stamp} host sshd[{1000 + n}]: {message}\n"


def test_a_detector_row_of_the_wrong_types_is_skipped_and_the_agent_decides_on(
    tmp_path: Path,
) -> None:
    """A real agent (nftables in a namespace of the test's own) on a state file holding a
    good slow row and detector rows of the wrong types: it starts, names the skipped rows,
    and the failures read afterwards ban as they should (slow from the restored row, the
    per-address count, attack mode and the damaged row's address counting afresh)."""
    need_root()
    for tool in ("nft", "unshare", "nsenter"):
        need_tool(tool)
    state, log = tmp_path / "state", tmp_path / "auth.log"
    state.mkdir()
    log.write_text("")
    store = StateStore(state / "state.sqlite")
    bucket = int(time.time() // 3600)  # slow's findtime 1d: a bucket is an hour
    store.db.executemany(
        "INSERT INTO detector_state VALUES ('ssh-files', ?, ?, ?)",
        [("slow", "203.0.113.50/32", json.dumps([bucket, SLOW_MAXRETRY - 1])),
         *DAMAGED_DETECTOR_ROWS],
    )  # fmt: skip
    store.close()
    cfg = write_config(
        tmp_path / "c.yaml", state, recidive={"enabled": False},
        jails={"sshd": {"enabled": False},
               "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)],
                             "maxretry": 3, "findtime": "1h", "bantime": "1h",
                             "slow": {"maxretry": SLOW_MAXRETRY, "findtime": "1d"},
                             "attack_mode": {"failures": 1000, "findtime": "10m", "hold": "30m"}}},
    )  # fmt: skip
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        time.sleep(0.2)
        agent = AgentProcess(cfg, dry_run=False, wrapper=["nsenter", "-t", str(holder.pid), "-n"])
        try:
            agent.wait_for_log("running:", timeout=60)
            for name in ("attack_mode", "slow"):
                assert (
                    f"unreadable detector rows: 1 stored row(s) of jail ssh-files detector {name} "
                    "could not be read and were skipped" in agent.log
                ), agent.log
            lines = [_sshd_line("Failed password for root from 203.0.113.50 port 1 ssh2", 0)]
            lines += [
                _sshd_line(f"Failed password for root from 203.0.113.60 port {n} ssh2", n)
                for n in range(1, 4)
            ]  # the per-address count: maxretry 3
            lines += [
                _sshd_line(f"Failed password for root from 203.0.113.70 port {n} ssh2", n)
                for n in range(4, 6)
            ]  # the damaged slow row's address: 2 failures of 6 (slow) and of 3: no ban
            with log.open("a") as f:
                f.writelines(lines)
            reader = StateReader(state, dry_run=False)
            wanted = {("ssh-files", "203.0.113.50/32"), ("ssh-files", "203.0.113.60/32")}
            reader.wait(lambda: wanted <= reader.bans() and reader.total_failed("ssh-files") >= 6)
            time.sleep(0.5)  # (anything more it would ban is decided in the same batch)
            assert reader.bans() == wanted, agent.log
            assert agent.proc.poll() is None, agent.log
            assert "Traceback" not in agent.log
            elements = set_elements(holder.pid, "ssh-files-v4")
        finally:
            assert agent.stop() == 0
    finally:
        holder.kill()
        holder.wait()
    assert elements == {"203.0.113.50", "203.0.113.60"}
    db = sqlite3.connect(state / "state.sqlite")
    try:
        reasons = dict(db.execute("SELECT network, reason FROM bans").fetchall())
    finally:
        db.close()
    assert reasons == {"203.0.113.50/32": "slow", "203.0.113.60/32": "failures"}


def test_a_damaged_session_row_is_skipped_and_the_reader_reads_on(tmp_path: Path) -> None:
    """The session rows (the address each sshd process learned, kept with the detector rows)
    are read by the agent and handed to its file reader child: one the child could not read
    stopped it at every restart, and the jail never banned again. The agent skips and counts
    it; the good row's session still counts its failures for its address."""
    state, log = tmp_path / "state", tmp_path / "auth.log"
    state.mkdir()
    log.write_text("")
    store = StateStore(state / "state.sqlite")
    store.db.executemany(
        "INSERT INTO detector_state VALUES ('ssh-files', 'sessions', ?, ?)",
        [("sshd[4242]", json.dumps(["203.0.113.80", time.time() - 5])),
         ("sshd[5]", "not json"), ("sshd[6]", json.dumps(["not-an-address", time.time()])),
         ("sshd[7]", json.dumps(["203.0.113.81", "now"]))],
    )  # fmt: skip
    store.close()
    cfg = _file_jail(tmp_path, state, log, maxretry=3)
    agent = AgentProcess(cfg, dry_run=False)
    try:
        agent.wait_for_log("running:", timeout=60)
        # (read as the jail's source starts: that may log after the start line)
        agent.wait_for_log(
            "unreadable detector rows: 3 stored row(s) of jail ssh-files sessions could not be "
            "read and were skipped"
        )
        with log.open("a") as f:  # sshd[4242]'s session learned its address before the restart
            f.writelines(
                _sshd_line("Disconnecting: Too many authentication failures [preauth]", 3242)
                for _ in range(3)
            )
        reader = StateReader(state, dry_run=False)
        reader.wait(lambda: ("ssh-files", "203.0.113.80/32") in reader.bans())
        assert agent.proc.poll() is None, agent.log
        assert "Traceback" not in agent.log
        assert "failed; restarting it" not in agent.log
    finally:
        assert agent.stop() == 0
    assert "203.0.113.80\n" in (state / "hosts.deny").read_text()


def test_a_damaged_failure_log_row_does_not_stop_the_agent(tmp_path: Path) -> None:
    """A failure_log row (the failures a batch counted) that is not JSON stopped the agent
    at start (exit 1). Now it is skipped and counted; the readable row's failures are
    restored, and the next failure of their address bans it."""
    state, log = tmp_path / "state", tmp_path / "auth.log"
    state.mkdir()
    log.write_text("")
    now = time.time()
    store = StateStore(state / "state.sqlite")
    store.db.executemany(
        "INSERT INTO failure_log (jail, newest, cleared, failures) VALUES ('ssh-files', ?, ?, ?)",
        [(now - 60, "[]", json.dumps([["203.0.113.90/32", now - 60], ["203.0.113.90/32", now - 50]])),
         (now - 40, "[]", "not json"),
         (now - 30, "[]", json.dumps([["203.0.113.91/32", "a minute ago"]]))],
    )  # fmt: skip
    store.db.commit()
    store.close()
    cfg = _file_jail(tmp_path, state, log, maxretry=3, findtime="1h")
    agent = AgentProcess(cfg, dry_run=False)
    try:
        agent.wait_for_log("running:", timeout=60)
        assert (
            "unreadable failure rows: 2 stored list(s) of jail ssh-files's failure log could "
            "not be read and were skipped" in agent.log
        ), agent.log
        with log.open("a") as f:
            f.write(_sshd_line("Failed password for root from 203.0.113.90 port 1 ssh2", 1))
        reader = StateReader(state, dry_run=False)
        reader.wait(lambda: ("ssh-files", "203.0.113.90/32") in reader.bans())
        assert agent.proc.poll() is None, agent.log
        assert "Traceback" not in agent.log
    finally:
        assert agent.stop() == 0
    assert "203.0.113.90\n" in (state / "hosts.deny").read_text()


def test_damaged_counters_and_hostnames_do_not_stop_the_agent(tmp_path: Path) -> None:
    """A jail's counters that are text made its next batch raise TypeError (the agent stopped
    deciding); a host name's addresses that are not JSON stopped the start (exit 1). Both are
    skipped and counted; the agent bans, and counts on from zero."""
    state, log = tmp_path / "state", tmp_path / "auth.log"
    state.mkdir()
    log.write_text("")
    store = StateStore(state / "state.sqlite")
    store.db.execute("INSERT INTO counters VALUES ('ssh-files', 'abc', 0)")
    store.db.execute("INSERT INTO hostnames VALUES ('example.org', 'not json', 1.0)")
    store.db.commit()
    store.close()
    cfg = _file_jail(tmp_path, state, log, maxretry=2)
    agent = AgentProcess(cfg, dry_run=False)
    try:
        agent.wait_for_log("running:", timeout=60)
        for table in ("counters", "hostnames"):
            agent.wait_for_log(
                f"unreadable state rows: 1 stored row(s) of table {table} could not be read "
                "and were skipped"
            )
        with log.open("a") as f:
            f.writelines(
                _sshd_line(f"Failed password for root from 203.0.113.95 port {n} ssh2", n)
                for n in range(2)
            )
        reader = StateReader(state, dry_run=False)
        reader.wait(lambda: ("ssh-files", "203.0.113.95/32") in reader.bans())
        reader.wait(lambda: reader.total_failed("ssh-files") == 2)
        assert agent.proc.poll() is None, agent.log
        assert "Traceback" not in agent.log
    finally:
        assert agent.stop() == 0
