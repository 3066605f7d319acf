"""A private system bus with our policy, polkitd on it, and the service as a process.

Follows RECIPES.md: the bus config is derived from Debian's system.conf, our
``dbus/org.jailban.conf`` and polkit's bus policy go into its include dir, and
polkitd runs in a mount namespace where our ``dbus/org.jailban.policy`` is the
only action file. Nothing of the machine's own bus or polkit is touched.
"""

from __future__ import annotations

import os
import pwd
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dbus_fast import Message
from dbus_fast.aio import MessageBus

from support.real import REPO, missing_real, need_root, need_tool

SYSTEM_CONF = Path("/usr/share/dbus-1/system.conf")
POLKIT_BUS_CONF = Path("/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf")
POLKITD = "/usr/lib/polkit-1/polkitd"
SERVICE_USER = "journalban"
PYTHON = str(REPO / ".venv" / "bin" / "python")


def private_bus_config(system_conf: str, tmp: Path) -> str:
    """Debian's system bus configuration, pointed at ``tmp`` (RECIPES step 1)."""
    text = re.sub(r"<!--.*?-->", "", system_conf, flags=re.S)
    for tag in ("user", "pidfile", "servicehelper"):
        text = re.sub(rf"<{tag}>.*?</{tag}>", "", text, flags=re.S)
    text = text.replace("<fork/>", "").replace("<syslog/>", "")
    text = re.sub(
        r"<listen>.*?</listen>", f"<listen>unix:path={tmp}/system_bus_socket</listen>", text
    )
    text = text.replace(
        "<standard_system_servicedirs/>", f"<servicedir>{tmp}/system-services</servicedir>"
    )
    text = re.sub(r"<includedir>[^<]*system\.d</includedir>", "", text)
    text = re.sub(r"<include [^>]*>/etc/dbus-1/system[^<]*</include>", "", text)
    return text.replace("</busconfig>", f"  <includedir>{tmp}/system.d</includedir>\n</busconfig>")


def ensure_service_user() -> pwd.struct_passwd:
    """The ``journalban`` system user, created when missing (tests run as root)."""
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            check=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def as_user(user: str | None, argv: Sequence[str], *, net_admin: bool = False) -> list[str]:
    """``argv`` run as ``user`` through setpriv (None: as ourselves, root)."""
    if user is None:
        return list(argv)
    entry = pwd.getpwnam(user)
    caps = ["--inh-caps=+net_admin", "--ambient-caps=+net_admin"] if net_admin else []
    ids = [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups"]
    return ["setpriv", *ids, *caps, *argv]


class PrivateBus:
    """A dbus-daemon (and optionally polkitd) in a temporary directory; a context manager."""

    def __init__(self, *, polkit: bool = True) -> None:
        need_root()
        self.dbus_daemon = need_tool("dbus-daemon")
        self.with_polkit = polkit
        if polkit:
            need_tool(POLKITD)
            need_tool("unshare")
        need_tool("setpriv")
        self.tmp = Path(tempfile.mkdtemp(prefix="jb-bus-"))
        self.address = ""
        self._processes: list[subprocess.Popen[bytes]] = []
        self._log: BinaryIO | None = None
        self.log_path = self.tmp / "bus.log"

    def __enter__(self) -> PrivateBus:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        ensure_service_user()  # the bus resolves user="journalban" when it loads the policy
        os.chmod(self.tmp, 0o755)  # noqa: S103 - the service runs as journalban and reads it
        (self.tmp / "system.d").mkdir()
        (self.tmp / "system-services").mkdir()
        shutil.copy(REPO / "dbus" / "org.jailban.conf", self.tmp / "system.d")
        shutil.copy(POLKIT_BUS_CONF, self.tmp / "system.d")
        config = self.tmp / "bus.conf"
        config.write_text(private_bus_config(SYSTEM_CONF.read_text(), self.tmp))
        self._log = self.log_path.open("wb")
        self.start_daemon()
        if self.with_polkit:
            self._start_polkitd(self._log)

    def start_daemon(self) -> None:
        """Start dbus-daemon on the socket (again, after ``stop_daemon``)."""
        assert self._log is not None
        daemon = subprocess.Popen(
            [
                self.dbus_daemon,
                f"--config-file={self.tmp / 'bus.conf'}",
                "--nofork",
                "--print-address=1",
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self._daemon = daemon
        self._processes.append(daemon)
        assert daemon.stdout is not None
        self.address = daemon.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError(f"dbus-daemon did not start: {self.log()}")

    def stop_daemon(self) -> None:
        """Stop dbus-daemon as if the system bus went away (the socket stays configured)."""
        self._daemon.terminate()
        self._daemon.wait(5)
        if self._daemon.stdout is not None:
            self._daemon.stdout.close()
        self._processes.remove(self._daemon)

    @property
    def daemon_pid(self) -> int:
        """The dbus-daemon's process id (a benchmark's timeline names it)."""
        return self._daemon.pid

    @property
    def socket_address(self) -> str:
        """The address without the server's guid, which changes when the daemon restarts."""
        return self.address.split(",guid=")[0]

    @property
    def polkit_rules(self) -> Path:
        """polkitd's /etc/polkit-1/rules.d (empty at start; polkitd follows its changes)."""
        return self.tmp / "rules.d"

    def _start_polkitd(self, log: BinaryIO) -> None:
        actions = self.tmp / "actions"
        actions.mkdir()
        shutil.copy(REPO / "dbus" / "org.jailban.policy", actions)
        rules = self.polkit_rules
        rules.mkdir()
        shutil.chown(rules, user="polkitd")
        rules.chmod(0o700)
        script = (
            f'mount --bind "{actions}" /usr/share/polkit-1/actions && '
            f'mount --bind "{rules}" /etc/polkit-1/rules.d && '
            f'exec env DBUS_SYSTEM_BUS_ADDRESS="{self.address}" {POLKITD} --no-debug'
        )
        polkitd = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        self._processes.append(polkitd)
        if not self.wait_for_name("org.freedesktop.PolicyKit1", timeout=15):
            missing_real(f"polkitd did not appear on the private bus: {self.log()}")

    def has_name(self, name: str) -> bool:
        out = subprocess.run(
            ["busctl", f"--address={self.address}", "--no-pager", "--no-legend", "list"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        return any(line.split()[:1] == [name] for line in out.splitlines())

    def wait_for_name(self, name: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.has_name(name):
                return True
            time.sleep(0.1)
        return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def env(self) -> dict[str, str]:
        """The environment of a client on this bus."""
        return {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def close(self) -> None:
        for proc in reversed(self._processes):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._processes.clear()
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ServiceProcess:
    """``support.bus_service`` (the real service over FakeControl) as ``user``."""

    def __init__(
        self, bus: PrivateBus, user: str | None = None, *, busy: bool = False, bans: int = 0
    ) -> None:
        argv = [PYTHON, "-m", "support.bus_service", "--address", bus.socket_address]
        if busy:
            argv.append("--busy")
        if bans:
            argv += ["--bans", str(bans)]
        env = {**bus.env(), "PYTHONPATH": str(REPO / "tests"), "PYTHONDONTWRITEBYTECODE": "1"}
        self.stderr_path = bus.tmp / f"service-{user or 'root'}.log"
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                as_user(user, argv, net_admin=True),
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=REPO,
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if line != "READY":
            self.stop()
            raise RuntimeError(f"service did not start: {self.stderr_path.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def run_client(
    bus: PrivateBus, argv: Sequence[str], *, user: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """A client command (busctl, gdbus, journalban) on the private bus, as ``user``."""
    return subprocess.run(
        as_user(user, argv),
        capture_output=True,
        text=True,
        env=bus.env(),
        timeout=timeout,
        check=False,
    )


class SignalMonitor:
    """``gdbus monitor`` on org.jailban, as a client outside the service sees signals."""

    def __init__(self, bus: PrivateBus, user: str | None = None) -> None:
        # gdbus writes through stdio: unbuffer its lines, or signals arrive late.
        argv = [
            "stdbuf",
            "-oL",
            "gdbus",
            "monitor",
            "--address",
            bus.address,
            "--dest",
            "org.jailban",
        ]
        self.proc = subprocess.Popen(as_user(user, argv), stdout=subprocess.PIPE, env=bus.env())
        self.lines: list[str] = []
        self._partial = b""
        # gdbus says who owns the name once its match rule is in place, but it
        # drops signals until its own GetNameOwner lookup has been answered
        # (GLib filters on the owner it knows); give that lookup time.
        self.wait_for("is owned by")
        time.sleep(0.3)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        """The first line (seen so far or arriving) containing ``text``."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if text in line:
                    return line
            seen = len(self.lines)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no signal with {text!r}; saw {self.lines}")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.1))
            if ready:
                # Raw reads: a buffered reader would hide lines from select().
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"gdbus monitor ended; saw {self.lines}")
                *complete, self._partial = (self._partial + chunk).split(b"\n")
                self.lines.extend(line.decode(errors="replace") for line in complete)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def add_match(client: MessageBus, rule: str) -> None:
    """Ask the bus daemon to route to ``client`` the messages ``rule`` matches (signals
    are sent to those who asked)."""
    await client.call(
        Message(destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus", member="AddMatch", signature="s",
                body=[rule])
    )  # fmt: skip
