"""Debian's real OpenLDAP slapd, run by a test, logging through a real rsyslogd.

Installing slapd would configure and start a directory on the machine, so
scripts/setup --test unpacks its Debian package (and libltdl7, which it needs)
into ``SLAPD_ROOT``. The test's slapd runs in the server network namespace and
in a private mount namespace whose /dev holds the test's rsyslogd socket as
``log``; it serves an empty mdb database in the test's directory with one
administrator, logs at the ``stats`` level (connections, binds, results) to
LOCAL4, and rsyslogd writes those lines in Debian's traditional format.
Nothing of the machine's own LDAP or syslog set-up is read or written.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

SLAPD_ROOT = Path("/var/cache/journalban-tests/slapd")
SLAPD = str(SLAPD_ROOT / "usr/sbin/slapd")
ADMIN, PASSWORD = "cn=admin,dc=test", "secret"
DEVICES = ("null", "zero", "random", "urandom")

RSYSLOG_CONF = """module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}")
global(workDirectory="{root}")
local4.* action(type="omfile" file="{log}" template="RSYSLOG_TraditionalFileFormat")
"""

SLAPD_CONF = """include {slapd}/etc/ldap/schema/core.schema
modulepath {slapd}/usr/lib/ldap
moduleload back_mdb
pidfile {root}/slapd.pid
loglevel stats
database mdb
maxsize 10485760
suffix "dc=test"
rootdn "{admin}"
rootpw {password}
directory {root}/db
"""

# One client in the client namespace: for each argument "open" (a new connection),
# "pause" (a quarter second) or a password (a simple bind as the administrator on the
# last connection), the LDAP result code on a line. A BindRequest is written by hand
# (BER, RFC 4511).
LDAP_CLIENT = """
import socket, sys, time
source, server, admin, *steps = sys.argv[1:]
def connect():
    for attempt in range(100):  # slapd logs "starting" before it listens
        try:
            return socket.create_connection((server, 389), source_address=(source, 0), timeout=20)
        except OSError:
            time.sleep(0.1)
    raise SystemExit("slapd never listened")
def ber(tag, body):
    n = len(body)
    return bytes([tag]) + (bytes([n]) if n < 128 else bytes([0x81, n])) + body
conns, msgid = [], 0
for step in steps:
    if step == "open":
        conns.append(connect())
        continue
    if step == "pause":
        time.sleep(0.25)
        continue
    msgid += 1
    op = ber(0x60, ber(0x02, b"\\x03") + ber(0x04, admin.encode()) + ber(0x80, step.encode()))
    conns[-1].sendall(ber(0x30, ber(0x02, bytes([msgid])) + op))
    reply = conns[-1].recv(4096)
    at = reply.index(b"\\x0a\\x01")  # the BindResponse's resultCode (ENUMERATED)
    print(reply[at + 2], flush=True)
for c in conns:
    c.close()
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
def running_slapd(root: Path, pair: NetPair) -> Iterator[Path]:
    """slapd listening on ``pair.server``:389; yields the log rsyslogd writes."""
    slapd = need_tool(SLAPD)
    rsyslogd = need_tool("rsyslogd")
    need_tool("unshare")
    need_tool("mount")
    root.mkdir(parents=True)
    (root / "db").mkdir()
    dev = root / "dev"
    dev.mkdir()
    for name in DEVICES:
        (dev / name).touch()
    socket, log = root / "syslog.sock", root / "slapd.log"
    (dev / "log").symlink_to(socket)
    (root / "rsyslog.conf").write_text(RSYSLOG_CONF.format(socket=socket, root=root, log=log))
    conf = root / "slapd.conf"
    conf.write_text(SLAPD_CONF.format(slapd=SLAPD_ROOT, root=root, admin=ADMIN, password=PASSWORD))
    binds = " && ".join(f"mount --bind /dev/{d} {dev}/{d}" for d in DEVICES)
    libs = SLAPD_ROOT / "usr/lib/x86_64-linux-gnu"
    script = (
        f"{binds} && mount --rbind {dev} /dev && "
        f"LD_LIBRARY_PATH={libs} exec {slapd} -d 0 -h ldap://{pair.server}:389/ -f {conf}"
    )
    syslog_out = (root / "rsyslogd.out").open("wb")
    syslog = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(root / "rsyslog.conf"), "-i", str(root / "rsyslogd.pid")],
        stdout=syslog_out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = None
    out = (root / "slapd.out").open("wb")
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
        _wait_for(log, "slapd starting", server, "slapd")
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
