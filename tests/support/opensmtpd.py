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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool
from support.syslog import dev_log_script, running_rsyslog, wait_for_text

OPENSMTPD_ROOT = Path("/var/cache/journalban-tests/opensmtpd")
SMTPD = str(OPENSMTPD_ROOT / "usr/sbin/smtpd")
# Unused uids: they exist only in the passwd copy smtpd sees.
USERS = "opensmtpd:x:64901:64901::/var/lib/opensmtpd/empty:/usr/sbin/nologin\nopensmtpq:x:64902:64902::/var/lib/opensmtpd/empty:/usr/sbin/nologin\n"
GROUPS = "opensmtpd:x:64901:\nopensmtpq:x:64902:\n"

# Port 25 without AUTH, the way most MX hosts listen: local recipients only.
SMTPD_CONF = """listen on {server} port 25 hostname mx.test
action "local" mbox
match from any for domain "mx.test" action "local"
"""


@contextmanager
def running_opensmtpd(root: Path, pair: NetPair) -> Iterator[Path]:
    """OpenSMTPD listening on ``pair.server``:25; yields the mail.log rsyslogd writes."""
    smtpd = need_tool(SMTPD)
    need_tool("unshare")
    root.mkdir(parents=True)
    for name, extra in (("passwd", USERS), ("group", GROUPS)):
        (root / name).write_text(Path(f"/etc/{name}").read_text() + extra)
    conf = root / "smtpd.conf"
    conf.write_text(SMTPD_CONF.format(server=pair.server))
    with running_rsyslog(root, selector="mail.*") as (socket, log):
        script = (
            f"{dev_log_script(root / 'dev', socket)} && "
            f"mount --bind {root}/passwd /etc/passwd && mount --bind {root}/group /etc/group && "
            "mount -t tmpfs tmpfs /var/spool && mount -t tmpfs tmpfs /var/lib && "
            "mount -t tmpfs tmpfs /run && mkdir -p /var/lib/opensmtpd/empty && "
            f"{smtpd} -n -f {conf} && exec {smtpd} -F -f {conf}"
        )
        out = (root / "smtpd.out").open("wb")
        server = subprocess.Popen(
            pair.server_argv(["unshare", "-m", "--propagation", "private", "sh", "-c", script]),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for_text(log, "OpenSMTPD", server, "smtpd")
            yield log
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=20)
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
