"""Debian's real OpenSMTPD, run by a test, logging through a real rsyslogd to a mail.log.

OpenSMTPD conflicts with postfix, so scripts/setup --test unpacks its Debian
package into ``OPENSMTPD_ROOT`` instead of installing it. ``smtpd -F`` (the
foreground, logging to syslog) runs in the server network namespace and in a
private mount namespace where the test's files stand in for the machine's:
a copy of /etc/passwd and /etc/group with its two users (opensmtpd,
opensmtpq), tmpfs over /var/spool, /var/lib and /run (the queue, the chroot,
the control socket), and a /dev whose ``log`` is the test's rsyslogd socket.
rsyslogd writes mail.log in Debian's traditional format, as on a real host.
Nothing of the machine's own mail or syslog set-up is read or written.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

OPENSMTPD_ROOT = Path("/var/cache/journalban-tests/opensmtpd")
SMTPD = str(OPENSMTPD_ROOT / "usr/sbin/smtpd")
# Unused uids: they exist only in the passwd copy smtpd sees.
USERS = "opensmtpd:x:64901:64901::/var/lib/opensmtpd/empty:/usr/sbin/nologin\nopensmtpq:x:64902:64902::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n"
GROUPS = "opensmtpd:x:64901:\nopensmtpq:x:64902:\n"
DEVICES = ("null", "zero", "random", "urandom")

RSYSLOG_CONF = """module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}")
global(workDirectory="{root}")
mail.* action(type="omfile" file="{log}" template="RSYSLOG_TraditionalFileFormat")
"""

# Port 25 without AUTH, the way most MX hosts listen: local recipients only.
SMTPD_CONF = """listen on {server} port 25 hostname mx.test
action "local" mbox
match from any for domain "mx.test" action "local"
"""


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        time.sleep(0.05)
    raise AssertionError(f"{what}: {text!r} never appeared in {path}")


@contextmanager
def running_opensmtpd(root: Path, pair: NetPair) -> Iterator[Path]:
    """OpenSMTPD listening on ``pair.server``:25; yields the mail.log rsyslogd writes."""
    smtpd = need_tool(SMTPD)
    rsyslogd = need_tool("rsyslogd")
    need_tool("unshare")
    need_tool("mount")
    root.mkdir(parents=True)
    dev = root / "dev"
    dev.mkdir()
    for name in DEVICES:
        (dev / name).touch()
    socket, log = root / "syslog.sock", root / "mail.log"
    (dev / "log").symlink_to(socket)
    for name, extra in (("passwd", USERS), ("group", GROUPS)):
        (root / name).write_text(Path(f"/etc/{name}").read_text() + extra)
    (root / "rsyslog.conf").write_text(RSYSLOG_CONF.format(socket=socket, root=root, log=log))
    conf = root / "smtpd.conf"
    conf.write_text(SMTPD_CONF.format(server=pair.server))
    binds = " && ".join(f"mount --bind /dev/{d} {dev}/{d}" for d in DEVICES)
    script = (
        f"{binds} && mount --rbind {dev} /dev && "
        f"mount --bind {root}/passwd /etc/passwd && mount --bind {root}/group /etc/group && "
        "mount -t tmpfs tmpfs /var/spool && mount -t tmpfs tmpfs /var/lib && "
        "mount -t tmpfs tmpfs /run && mkdir -p /var/lib/opensmtpd/empty && "
        f"{smtpd} -n -f {conf} && exec {smtpd} -F -f {conf}"
    )
    syslog_out = (root / "rsyslogd.out").open("wb")
    syslog = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(root / "rsyslog.conf"), "-i", str(root / "rsyslogd.pid")],
        stdout=syslog_out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = None
    out = (root / "smtpd.out").open("wb")
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            if syslog.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rsyslogd did not start: {syslog.returncode}")
            time.sleep(0.05)
        server = subprocess.Popen(
            pair.server_argv(["unshare", "-m", "--propagation", "private", "sh", "-c", script]),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for(log, "OpenSMTPD", server, "smtpd")
        yield log
    finally:
        for proc in (server, syslog):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=20)
        syslog_out.close()
        out.close()


# A client session run in the client namespace: each command's reply code on a
# line; before the commands listed after "--hold" it prints "held" and waits
# for a line on stdin (the test restarts the agent meanwhile).
SMTP_SESSION = """
import smtplib, sys, time
source, server, *commands = sys.argv[1:]
for attempt in range(100):
    try:
        s = smtplib.SMTP(server, 25, source_address=(source, 0), timeout=20)
        break
    except OSError:
        time.sleep(0.1)
s.ehlo("client.test")
for command in commands:
    if command == "--hold":
        print("held", flush=True)
        sys.stdin.readline()
        continue
    code, _ = s.docmd(command)
    print(code, flush=True)
s.quit()
"""
