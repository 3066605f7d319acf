"""Debian's real Dovecot (imap), run by a test, asking journalban's auth policy server.

``dovecot -F`` runs in the server network namespace and a private mount
namespace where the test's directories are bind-mounted over /etc/dovecot
and /var/lib/dovecot (its base_dir inside): the machine's own Dovecot files are never
read nor written. Users come from a checkpassword program of the test's own,
which answers as a broken backend (Dovecot's internal failure) while the file
``backend-down`` exists in its configuration directory.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

IMAP_LOGIN = """
import socket, sys
source, server, user, password = sys.argv[1:5]
s = socket.create_connection((server, 143), timeout=20, source_address=(source, 0))
f = s.makefile("rb")
f.readline()
s.sendall(f"a LOGIN {user} {password}\\r\\n".encode())
while True:
    line = f.readline().decode(errors="replace").strip()
    if line.startswith("a ") or not line:
        print(line)
        break
s.close()
"""


# A checkpassword passdb (fd 3: user NUL password NUL) that fails as a backend
# error (exit 111, "temporary failure") while /etc/dovecot/backend-down exists.
CHECKPASSWORD = """#!/usr/bin/python3
import os, sys
user, password = os.read(3, 1024).split(b"\\0")[:2]
if os.path.exists("/etc/dovecot/backend-down"):
    sys.exit(111)
users = dict(line.split(":", 1) for line in open("/etc/dovecot/plain").read().split())
if users.get(user.decode()) != password.decode():
    sys.exit(1)
os.environ["USER"] = user.decode()
os.execv(sys.argv[1], sys.argv[1:])
"""


def dovecot_conf(server: str, policy_port: int, secret: str) -> str:
    return f"""protocols = imap
listen = {server}
base_dir = /var/lib/dovecot/run
state_dir = /var/lib/dovecot
log_path = /var/lib/dovecot/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_debug = yes
auth_verbose = yes
first_valid_uid = 1
mail_location = maildir:/var/lib/dovecot/mail/%u
passdb {{
  driver = checkpassword
  args = /etc/dovecot/checkpassword
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/var/lib/dovecot/mail/%u
}}
auth_policy_server_url = http://127.0.0.1:{policy_port}/
auth_policy_server_api_header = X-API-Key:{secret}
auth_policy_hash_nonce = test-nonce
auth_policy_report_after_auth = yes
"""


@contextmanager
def running_dovecot(
    root: Path, pair: NetPair, policy_port: int, secret: str, users: dict[str, str]
) -> Iterator[Path]:
    """Dovecot's imap on ``pair.server``:143; yields its log file."""
    dovecot = need_tool("dovecot")
    need_tool("/usr/lib/dovecot/imap-login")
    etc, lib = root / "etc", root / "lib"
    for d in (etc, lib, lib / "mail"):
        d.mkdir(parents=True)
    (lib / "mail").chmod(0o777)
    (etc / "dovecot.conf").write_text(dovecot_conf(pair.server, policy_port, secret))
    (etc / "plain").write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    (etc / "checkpassword").write_text(CHECKPASSWORD)
    (etc / "checkpassword").chmod(0o755)
    log = lib / "dovecot.log"
    script = (
        f"mount --bind {etc} /etc/dovecot && "
        f"mount --bind {lib} /var/lib/dovecot && exec {dovecot} -F -c /etc/dovecot/dovecot.conf"
    )
    out = (root / "dovecot.out").open("wb")
    proc = subprocess.Popen(
        pair.server_argv(["unshare", "-m", "--propagation", "private", "sh", "-c", script]),
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not (log.exists() and "starting up" in log.read_text(errors="replace")):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise AssertionError(text + (root / "dovecot.out").read_text(errors="replace"))
            time.sleep(0.1)
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def imap_login(pair: NetPair, source: str, user: str, password: str) -> str:
    """The tagged reply to LOGIN from ``source``: "a OK ..." or "a NO ..."."""
    return pair.client_python(IMAP_LOGIN, source, pair.server, user, password).strip()
