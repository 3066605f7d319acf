"""An agent started from a directory a local user can write imports only the installed package.

The user leaves ``journalban/__init__.py`` there; were the reader children
started as ``python -m journalban...`` (working directory first on
``sys.path``), they would import it as root, and then read nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

from support.agent import AgentProcess, StateReader, write_config
from support.journal import JournalWriter, sshd_fields

STAMP = "%b %e %H:%M:%S"


def _hostile_directory(tmp_path: Path) -> tuple[Path, Path]:
    """A working directory holding a planted package; and the file it would write."""
    cwd = tmp_path / "tmp-like"
    planted = cwd / "journalban"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'a').write('imported\\n')\n")
    for sub in ("agent", "sources", "matching"):
        (planted / sub).mkdir()
        (planted / sub / "__init__.py").write_text(
            f"open({str(marker)!r}, 'a').write('{sub}\\n')\n"
        )
    return cwd, marker


def test_agent_children_ignore_a_planted_package_in_the_working_directory(
    tmp_path: Path,
) -> None:
    cwd, marker = _hostile_directory(tmp_path)
    jdir = tmp_path / "journal"
    log = tmp_path / "auth.log"
    log.write_text("")
    state = tmp_path / "state"
    cfg = write_config(
        tmp_path / "c.yaml", state, journal_dir=jdir, firewall={"backend": "dry-run"},
        jails={
            "sshd": {"maxretry": 2},
            "ssh-files": {"filter": "sshd", "source": "files", "files": [str(log)],
                          "maxretry": 2},
        },
    )  # fmt: skip
    with JournalWriter(jdir) as writer:
        writer.write([sshd_fields("Server listening on 0.0.0.0 port 22.")])
        writer.wait_visible(1)
        agent = AgentProcess(cfg, cwd=cwd)
        try:
            agent.wait_for_log("running:")
            writer.write([sshd_fields("Failed password for root from 203.0.113.9 port 2 ssh2")] * 2)
            stamp = time.strftime(STAMP, time.localtime())
            with log.open("a") as out:
                for port in (1, 2):
                    out.write(f"{stamp} host sshd[7]: Failed password for root"
                              f" from 203.0.113.10 port {port} ssh2\n")  # fmt: skip
            reader = StateReader(state)
            expected = {("sshd", "203.0.113.9/32"), ("ssh-files", "203.0.113.10/32")}
            reader.wait(lambda: reader.bans() == expected, timeout=30)
        finally:
            agent.stop()
    assert not marker.exists(), marker.read_text()
