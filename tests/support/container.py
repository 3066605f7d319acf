"""A Debian 12 host booted with systemd in a container, and an attacker beside it.

The container runs on a copy-on-write copy (overlayfs) of the cached root
file system with this checkout installed as the packages install it. Two
network namespaces made here, joined by a veth pair: the server's (the
container's network, where journalban's nftables table lives) and the
attacker's. Nothing touches the machine's own network namespace or firewall.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from support.install import build_wheel
from support.rootinstall import install_packaged

SERVER4 = "192.0.2.1"
SERVER6 = "2001:db8:1::1"
# The attacker's namespace holds several addresses: each test attacks from its own.
ATTACKERS4 = tuple(f"192.0.2.{n}" for n in range(10, 30))
# Another host on the server's network, never an attacker (the fleet's NATS server).
PEER4 = "192.0.2.42"
# IPv6 is banned per /64: each attacker address in a /64 of its own.
ATTACKERS6 = tuple(f"2001:db8:2:{n:x}::1" for n in range(1, 20))
# The packaged sshd listens on 22 (the sshd jail's port) and on this one, which
# a ban of the jail's port leaves open.
OTHER_PORT = 2222
INSIDE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "TERM": "dumb"}
BOOT_TIMEOUT = 120.0


EMITTER = """\
import fcntl, os, sys, time
from systemd import journal

SPOOL = "/var/lib/booted-tier"
if os.fork():
    sys.exit(0)
os.setsid()
os.makedirs(SPOOL, exist_ok=True)
lock = open(os.path.join(SPOOL, ".lock"), "w")
try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)  # one emitter already runs (ssh.service restarted)
# One long-lived stream from this process of ssh.service, as sshd's own: journald
# reads _SYSTEMD_UNIT and _UID from a process that is still there (a short-lived
# writer such as systemd-cat may be gone before it looks, and its lines lose them).
out = journal.stream("sshd")
while True:
    for name in sorted(os.listdir(SPOOL)):
        if name.endswith(".lines"):
            path = os.path.join(SPOOL, name)
            with open(path) as f:
                data = f.read()
            try:
                out.write(data)
                out.flush()
            except OSError:
                out = journal.stream("sshd")
                out.write(data)
                out.flush()
            os.rename(path, path[: -len(".lines")] + ".done")
    time.sleep(0.05)
"""


class BootError(RuntimeError):
    """The container did not come up (its console log is attached)."""


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)


class BootedHost:
    """One booted container for a test session, with helpers to act on it."""

    def __init__(self, workdir: Path, lower: Path) -> None:
        self.workdir = workdir
        self.lower = lower
        self.root = workdir / "merged"
        tag = f"{os.getpid()}"
        self.server_ns = f"jb-srv-{tag}"
        self.attacker_ns = f"jb-att-{tag}"
        self.console = workdir / "console.log"
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.pid1 = 0
        self.boots = 0
        self._emitted = 0
        self._next_address = 0

    # --- set-up -------------------------------------------------------------

    def prepare(self) -> None:
        """Overlay the cached root, install the checkout, make the network."""
        for name in ("upper", "work", "merged", "wheel"):
            (self.workdir / name).mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={self.lower},upperdir={self.workdir / 'upper'},"
                f"workdir={self.workdir / 'work'}",
                str(self.root),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        # One machine id for the session: the journal stays in one directory across reboots.
        (self.root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        install_packaged(self.root, build_wheel(self.workdir / "wheel"))
        (self.root / "etc/ssh/sshd_config.d/booted-tier.conf").write_text(
            f"Port 22\nPort {OTHER_PORT}\n"
        )
        # The tests write backlogs of up to 1.6M lines: no rate limit may drop
        # them, and no size limit derived from the host's free disk may vacuum
        # them before the agent has read them.
        self.write(
            "/etc/systemd/journald.conf.d/booted-tier.conf",
            "[Journal]\nRateLimitBurst=0\nSystemMaxUse=6G\nSystemKeepFree=1G\n",
        )
        self.write("/usr/local/lib/booted-tier/emit.py", EMITTER)
        self.write(
            "/etc/systemd/system/ssh.service.d/booted-tier-emitter.conf",
            "[Service]\nExecStartPost=/usr/bin/python3 /usr/local/lib/booted-tier/emit.py\n",
        )
        self._make_network()

    def _make_network(self) -> None:
        _remove_stale_namespaces()
        _ip("netns", "add", self.server_ns)
        _ip("netns", "add", self.attacker_ns)
        _ip(
            "link",
            "add",
            "srv0",
            "netns",
            self.server_ns,
            "type",
            "veth",
            "peer",
            "name",
            "att0",
            "netns",
            self.attacker_ns,
        )
        for ns, dev, own4, own6, peer6 in (
            (self.server_ns, "srv0", [SERVER4], [SERVER6], "2001:db8:2::/48"),
            (self.attacker_ns, "att0", [*ATTACKERS4, PEER4], list(ATTACKERS6), "2001:db8:1::/64"),
        ):
            for addr in own4:
                _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            for addr in own6:
                _ip("-n", ns, "addr", "add", f"{addr}/64", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", dev, "up")
            # Other /64s than the server's, so a banned prefix never holds the server's address.
            _ip("-n", ns, "-6", "route", "add", peer6, "dev", dev)

    # --- boot and shutdown ---------------------------------------------------

    def boot(self) -> None:
        """Start the container and wait until systemd says it is up."""
        log = self.console.open("ab")
        self._nspawn = subprocess.Popen(
            [
                "systemd-nspawn",
                "-q",
                "-D",
                str(self.root),
                "--register=no",
                "--keep-unit",
                "--link-journal=no",
                "--capability=CAP_NET_ADMIN",
                f"--network-namespace-path=/run/netns/{self.server_ns}",
                "-b",
                "--console=pipe",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.boots += 1
        deadline = time.monotonic() + BOOT_TIMEOUT
        self.pid1 = 0
        while time.monotonic() < deadline:
            if self._nspawn.poll() is not None:
                raise BootError(f"systemd-nspawn exited:\n{self.console_tail()}")
            self.pid1 = self.pid1 or _container_init(self._nspawn.pid)
            if self.pid1:
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.3)
        raise BootError(
            f"the container did not boot in {BOOT_TIMEOUT:.0f}s:\n{self.console_tail()}"
        )

    def shutdown(self, timeout: float = 60.0) -> None:
        """A clean power-off (SIGTERM to nspawn asks the container's systemd for it)."""
        proc = self._nspawn
        if proc is None:
            return
        self._nspawn = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.pid1 = 0

    def reboot(self) -> None:
        """Power off and boot again; the kernel's ruleset is emptied as a real reboot would."""
        self.shutdown()
        subprocess.run(
            ["ip", "netns", "exec", self.server_ns, "nft", "flush", "ruleset"],
            check=True,
            capture_output=True,
        )
        self.boot()

    def close(self) -> None:
        self.shutdown()
        subprocess.run(["umount", str(self.root)], check=False, capture_output=True)
        for ns in (self.server_ns, self.attacker_ns):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
        if not os.path.ismount(self.root):  # never delete through a mount still in use
            shutil.rmtree(self.workdir, ignore_errors=True)

    def console_tail(self, lines: int = 60) -> str:
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- acting inside -------------------------------------------------------

    def run(
        self,
        *argv: str,
        user: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """A command in all the container's namespaces, as root or as ``user``."""
        if not self.pid1:
            raise BootError("the container is not running")
        prefix = ["nsenter", "-t", str(self.pid1), "-a", "env", "-i"]
        prefix += [f"{k}={v}" for k, v in INSIDE_ENV.items()]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"]
        result = subprocess.run(
            [*prefix, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def systemctl(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *argv, check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", "-P", prop, unit).stdout.strip()

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        """Write a file into the running container's file system."""
        dest = self.root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
        dest.chmod(mode)

    def remove(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / path.lstrip("/")).unlink()

    def journal(self, *argv: str) -> str:
        return self.run("journalctl", "--no-pager", "-q", *argv).stdout

    def wait_for(
        self,
        what: str,
        predicate: object,
        timeout: float = 30.0,
        also: tuple[tuple[str, ...], ...] = (),
    ) -> None:
        """Poll ``predicate()`` until it is true, or fail naming ``what``, with the agent's
        log and the output of the commands ``also`` names."""
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.25)
        raise AssertionError(
            f"timed out after {timeout:.0f}s waiting for {what}\n{self.agent_diagnosis(also)}"
        )

    def agent_diagnosis(self, also: tuple[tuple[str, ...], ...] = ()) -> str:
        """What the agent's unit logged and how it stands, for a test's failure message."""
        parts = []
        for argv in (
            ("systemctl", "status", "--no-pager", "-l", "journalban.service"),
            ("journalctl", "--no-pager", "-q", "-n", "80", "-u", "journalban.service"),
            *also,
        ):
            try:
                done = self.run(*argv, check=False)
                parts.append(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
            except Exception as error:  # a diagnosis must not hide the failure it explains
                parts.append(f"$ {' '.join(argv)}: {error!r}")
        return "\n".join(parts)

    def jail_stats(self, jail: str) -> dict[str, object]:
        """The jail's counters, as `journalban stats --json` gives them."""
        rows = json.loads(self.run("journalban", "stats", "--json").stdout)
        (row,) = [r for r in rows if r["jail"] == jail]
        assert isinstance(row, dict)
        return row

    def nft_elements(self) -> str:
        """The server namespace's ruleset, as the kernel holds it."""
        return subprocess.run(
            ["ip", "netns", "exec", self.server_ns, "nft", "list", "ruleset"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def emit_sshd(self, lines: Sequence[str], timeout: float = 60.0) -> None:
        """Log ``lines`` as sshd of ssh.service does (uid 0, identifier sshd), into journald.

        A helper process in ssh.service (started by ExecStartPost=; Debian's
        unit keeps it with KillMode=process) streams each spool file to
        journald: a hundred thousand lines in a second or two, which real
        logins at two seconds each could not give.
        """
        self._emitted += 1
        spool = self.root / "var/lib/booted-tier"
        spool.mkdir(parents=True, exist_ok=True)
        name = spool / f"{self._emitted:06d}"
        name.with_suffix(".tmp").write_text("".join(f"{line}\n" for line in lines))
        name.with_suffix(".tmp").rename(name.with_suffix(".lines"))
        self.wait_for(
            "the emitter to log the lines",
            lambda: name.with_suffix(".done").exists(),
            timeout,
        )

    def fresh_addresses(self, count: int) -> list[str]:
        """Addresses no test has logged yet (100.64.0.0/10: neither private nor own)."""
        first = self._next_address
        self._next_address += count
        base = int(ipaddress.IPv4Address("100.64.0.1"))
        return [str(ipaddress.IPv4Address(base + n)) for n in range(first, first + count)]

    def next_address_block(self) -> None:
        """Take the next fresh addresses from a new /16, which no earlier ban covers.

        A detector turned back on (``subnet``, ``attack_mode``) reads the pending
        failures of the addresses used so far and may ban whole prefixes of them.
        """
        self._next_address = (self._next_address // 65536 + 1) * 65536

    def emit_failures(self, addresses: Sequence[str]) -> None:
        """One sshd password failure per address, logged as sshd logs it."""
        self.emit_sshd(
            [
                f"Failed password for invalid user u{n} from {address} port {1024 + n % 60000} ssh2"
                for n, address in enumerate(addresses)
            ],
            timeout=60 + len(addresses) / 10_000,
        )

    # --- the attacker --------------------------------------------------------

    def in_attacker(
        self, argv: Sequence[str], timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """A command in the attacker's namespace; a hung one counts as exit 124."""
        try:
            return subprocess.run(
                ["ip", "netns", "exec", self.attacker_ns, *argv],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            return subprocess.CompletedProcess(exc.cmd, 124, "", "timed out")

    def ssh_attempt(self, source: str, user: str, password: str = "wrong") -> int:  # noqa: S107
        """One real ssh login with a wrong password from ``source``; ssh's exit code."""
        server = SERVER6 if ":" in source else SERVER4
        result = self.in_attacker(
            [
                "sshpass",
                "-p",
                password,
                "ssh",
                "-F",
                "/dev/null",
                "-b",
                source,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=5",
                # A ban landing mid-login drops the established connection's packets too.
                "-o",
                "ServerAliveInterval=2",
                "-o",
                "ServerAliveCountMax=2",
                f"{user}@{server}",
                "true",
            ],
            timeout=20,
        )
        return result.returncode

    def tcp_connects(self, source: str, port: int, timeout: float = 3.0) -> bool:
        """Whether a TCP connection from ``source`` to the server's ``port`` is accepted."""
        server = SERVER6 if ":" in source else SERVER4
        family = "AF_INET6" if ":" in source else "AF_INET"
        script = (
            "import socket,sys\n"
            f"s=socket.socket(socket.{family});s.settimeout({timeout})\n"
            f"s.bind(({source!r},0))\n"
            f"try:\n s.connect(({server!r},{port}));print('open')\n"
            "except OSError as e:\n print('closed',e)\n"
        )
        out = self.in_attacker([sys.executable, "-c", script], timeout=timeout + 10).stdout
        return out.startswith("open")


def _remove_stale_namespaces() -> None:
    """The namespaces of earlier sessions killed before their clean-up."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listed.stdout.splitlines():
        match = re.match(r"(jb-(?:srv|att)-(\d+))\b", line)
        if match and not Path(f"/proc/{match.group(2)}").exists():
            subprocess.run(["ip", "netns", "del", match.group(1)], check=False)


def _container_init(nspawn_pid: int) -> int:
    """The container's PID 1: the descendant of nspawn that is PID 1 in its namespace."""
    todo = [nspawn_pid]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and pid != nspawn_pid and line.split()[-1] == "1":
                return pid
        todo += [int(c) for c in children]
    return 0


@contextlib.contextmanager
def booted_host(workdir: Path, lower: Path) -> Iterator[BootedHost]:
    host = BootedHost(workdir, lower)
    try:
        host.prepare()
        host.boot()
        yield host
    finally:
        host.close()
