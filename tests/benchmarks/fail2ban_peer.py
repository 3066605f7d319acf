"""fail2ban-server (Debian's package) as the benchmark's peer: a private configuration.

Its own configuration directory (a copy of /etc/fail2ban without jail.d), log,
socket, pid file and database in a temporary directory; only the sshd jail,
with an action whose commands are all empty (fail2ban runs nothing for an
empty command), started in the foreground inside ``unshare -n`` so that
nothing it does can reach the machine's own firewall.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

FAIL2BAN_SERVER = "/usr/bin/fail2ban-server"
FAIL2BAN_CLIENT = "/usr/bin/fail2ban-client"
NOOP_ACTION = """[Definition]
actionstart =
actionstop =
actioncheck =
actionban =
actionunban =
"""


class Fail2banPeer:
    """One fail2ban-server process with one jail (sshd unless told) on ``logpath`` or a
    journal directory; ``journalmatch`` replaces the filter's (Debian's says sshd.service,
    our corpora, like Debian 12, ssh.service)."""

    def __init__(
        self,
        workdir: Path,
        *,
        logpath: Path | None = None,
        journal_dir: Path | None = None,
        maxretry: int,
        findtime: str,
        bantime: str,
        jail: str = "sshd",
        # (fields apart by spaces must all hold; "+" would separate alternatives)
        journalmatch: str = "_SYSTEMD_UNIT=ssh.service _UID=0",
    ) -> None:
        self.workdir = workdir
        self.jail = jail
        conf = workdir / "conf"
        shutil.copytree("/etc/fail2ban", conf)
        for dropin in (conf / "jail.d").glob("*"):
            dropin.unlink()
        (conf / "action.d" / "bench-noop.conf").write_text(NOOP_ACTION)
        self.log_path = workdir / "fail2ban.log"
        self.socket = workdir / "fail2ban.sock"
        (conf / "fail2ban.local").write_text(
            "[Definition]\nloglevel = INFO\n"
            f"logtarget = {self.log_path}\nsocket = {self.socket}\n"
            f"pidfile = {workdir / 'fail2ban.pid'}\ndbfile = {workdir / 'fail2ban.sqlite3'}\n"
        )
        if journal_dir is not None:
            source = (
                f"backend = systemd[journalpath={journal_dir}]\njournalmatch = {journalmatch}\n"
            )
        else:
            source = f"backend = pyinotify\nlogpath = {logpath}\n"
        (conf / "jail.local").write_text(
            "[DEFAULT]\nbanaction = bench-noop\nbanaction_allports = bench-noop\n"
            "action = bench-noop\n\n"
            f"[{jail}]\nenabled = true\nmode = normal\nport = ssh\n"
            f"maxretry = {maxretry}\nfindtime = {findtime}\nbantime = {bantime}\n{source}"
        )
        self.conf = conf
        self._out = (workdir / "fail2ban.out").open("wb")
        # unshare execs the server: the child's pid is fail2ban-server's own.
        self.proc = subprocess.Popen(
            ["unshare", "-n", FAIL2BAN_SERVER, "-f", "-x", "-c", str(conf)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def status(self) -> dict[str, int]:
        """The jail's counters from ``fail2ban-client status JAIL`` (empty if not up)."""
        done = subprocess.run(
            [FAIL2BAN_CLIENT, "-s", str(self.socket), "status", self.jail],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        found = re.findall(r"(Currently failed|Total failed|Currently banned|Total banned):\s*(\d+)",
                           done.stdout)  # fmt: skip
        return {name: int(value) for name, value in found}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
