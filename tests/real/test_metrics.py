"""The metrics of the real agent: scraped over the socket systemd would hand it, checked by promtool."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.agent import AgentProcess, write_config
from support.bus import PrivateBus, run_client
from support.busagent import bus_with_journal
from support.journal import JournalWriter, sshd_fields
from support.real import REPO, need_tool

pytestmark = pytest.mark.real

# As systemd passes a socket unit's socket: fd 3, named, with LISTEN_PID the agent's own.
SOCKET_ACTIVATION = [
    "bash", "-c",
    'exec 3<&"$JB_FD" && export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=metrics && exec "$@"',
    "bash",
]  # fmt: skip


@dataclass
class Setup:
    agent: AgentProcess
    writer: JournalWriter
    url: str
    textfile: Path
    bus: PrivateBus


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    promtool = need_tool("promtool")
    assert promtool
    tmp = Path(tempfile.mkdtemp(prefix="jb-metrics-"))
    jdir = tmp / "journal"
    jdir.mkdir()
    textfile = tmp / "textfile" / "journalban.prom"
    textfile.parent.mkdir()
    cfg = write_config(
        tmp / "journalban.yaml", tmp / "state", journal_dir=jdir,
        firewall={"backend": "dry-run"}, jails={"sshd": {"maxretry": 2}}, bus=True,
        metrics={"textfile": str(textfile), "textfile_interval": "1s"},
    )  # fmt: skip
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    os.environ["JB_FD"] = str(listener.fileno())
    try:
        with bus_with_journal(jdir) as (bus, writer):
            agent = AgentProcess(
                cfg, wrapper=SOCKET_ACTIVATION, pass_fds=[listener.fileno()],
                bus_address=bus.address,
            )  # fmt: skip
            listener.close()  # the agent holds it now, as systemd would
            try:
                agent.wait_serving(bus)
                yield Setup(agent, writer, f"http://127.0.0.1:{port}/metrics", textfile, bus)
            finally:
                agent.stop()
    finally:
        os.environ.pop("JB_FD", None)
        listener.close()
        shutil.rmtree(tmp, ignore_errors=True)


def scrape(url: str, accept: str = "") -> tuple[str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.headers["Content-Type"], response.read().decode()


def value(text: str, series: str) -> float:
    """The value of one sample line (``name{labels}``) in the text exposition."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not in:\n{text}")


def promtool_check(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )


def test_a_ban_from_journal_failures_is_counted_and_the_scrape_passes_promtool(
    setup: Setup,
) -> None:
    line = "Failed password for invalid user alice from 203.0.113.80 port 22 ssh2"
    setup.writer.write([sshd_fields(line)] * 2)
    setup.agent.wait_for_log("Ban 203.0.113.80 in jail sshd")
    content_type, text = scrape(setup.url)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert value(text, 'f2b_jail_banned_total{jail="sshd"}') == 1
    assert value(text, 'f2b_jail_banned_current{jail="sshd"}') == 1
    assert value(text, 'f2b_jail_failed_total{jail="sshd"}') == 2
    assert value(text, 'f2b_jail_config_fail_max{jail="sshd"}') == 2
    assert value(text, 'journalban_ban_decisions_total{jail="sshd",reason="failures"}') == 1
    assert value(text, 'journalban_lines_read_total{jail="sshd",source="journal"}') >= 3
    assert value(text, 'journalban_detection_to_ban_seconds_count{jail="sshd"}') == 1
    assert value(text, "journalban_firewall_apply_seconds_count") >= 1
    assert value(text, 'journalban_state{state="running"}') == 1
    # Labels are jails, sources and reason classes: never an address or a user name.
    assert "203.0.113.80" not in text
    assert "alice" not in text
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_openmetrics_when_asked(setup: Setup) -> None:
    content_type, text = scrape(setup.url, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert text.endswith("# EOF\n")
    assert re.search(r'^f2b_jail_banned_total\{jail="sshd"\} \d', text, re.M)


def test_only_metrics_are_served(setup: Setup) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        scrape(setup.url.replace("/metrics", "/other"))
    assert missing.value.code == 404
    missing.value.close()
    with socket.create_connection(("127.0.0.1", int(setup.url.split(":")[2].split("/")[0]))) as s:
        s.sendall(b"garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.0 400")
    # The agent is still serving after bad requests.
    assert value(scrape(setup.url)[1], "journalban_jails") >= 1


def test_node_exporter_textfile_is_written_and_passes_promtool(setup: Setup) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if setup.textfile.exists() and "f2b_jail_banned_total" in setup.textfile.read_text():
            break
        time.sleep(0.2)
    text = setup.textfile.read_text()
    assert value(text, "journalban_jails") >= 1
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dbus_calls_are_counted_by_method_and_outcome(setup: Setup) -> None:
    journalban = [str(REPO / ".venv" / "bin" / "python"), "-m", "journalban"]
    assert run_client(setup.bus, [*journalban, "status"], user="nobody").returncode == 0
    refused = run_client(setup.bus, [*journalban, "ban", "sshd", "203.0.113.81"], user="nobody")
    assert refused.returncode == 1
    text = scrape(setup.url)[1]
    assert value(text, 'journalban_dbus_calls_total{method="GetStatus",outcome="ok"}') >= 1
    assert value(text, 'journalban_dbus_calls_total{method="Ban",outcome="denied"}') == 1
    assert value(text, 'journalban_dbus_call_seconds_total{method="GetStatus"}') > 0
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
