"""A real rsyslogd writing a test's log file, and a /dev/log for a daemon in a private mount namespace.

A daemon that logs with syslog(3) writes to /dev/log, which this machine (no
systemd, no syslog daemon) does not have. ``running_rsyslog`` starts rsyslogd
on a socket in the test's directory, writing Debian's traditional format;
``dev_log_script`` is the shell prefix that, inside ``unshare -m --propagation
private``, puts a /dev holding the usual devices and that socket as ``log``
over the namespace's /dev. The machine's own /dev is never changed.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.real import need_tool

DEVICES = ("null", "zero", "random", "urandom")

RSYSLOG_CONF = """module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}")
global(workDirectory="{root}")
{selector} action(type="omfile" file="{log}" template="RSYSLOG_TraditionalFileFormat")
"""


@contextmanager
def running_rsyslog(root: Path, selector: str = "*.*") -> Iterator[tuple[Path, Path]]:
    """rsyslogd on ``root/syslog.sock``; yields (socket, the log it writes)."""
    rsyslogd = need_tool("rsyslogd")
    root.mkdir(parents=True, exist_ok=True)
    socket, log = root / "syslog.sock", root / "syslog.log"
    conf = root / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(socket=socket, root=root, log=log, selector=selector))
    out = (root / "rsyslogd.out").open("wb")
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(root / "rsyslogd.pid")],
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rsyslogd did not start: {proc.returncode}")
            time.sleep(0.05)
        yield socket, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        out.close()


def dev_log_script(dev: Path, socket: Path) -> str:
    """Shell commands (for a private mount namespace) giving /dev a ``log`` that is ``socket``."""
    need_tool("mount")
    dev.mkdir(parents=True)
    for name in DEVICES:
        (dev / name).touch()
    (dev / "log").symlink_to(socket)
    binds = " && ".join(f"mount --bind /dev/{d} {dev}/{d}" for d in DEVICES)
    return f"{binds} && mount --rbind {dev} /dev"


def wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes], what: str) -> None:
    """Wait until ``path`` holds ``text``; fail if ``proc`` exits first."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"{what}: {text!r} never appeared in {path}")
