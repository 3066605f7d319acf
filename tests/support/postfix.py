"""Debian's real Postfix, run by a test: its own config and queue, in a namespace of its own.

``postfix start-fg`` runs in the server network namespace and in a private
mount namespace where the test's directories are bind-mounted over
/etc/postfix, /var/spool/postfix and /var/lib/postfix: the machine's own Postfix files are
never read nor written. Debian's master.cf runs smtpd chrooted in the queue
directory, so a policy socket lives at ``<spool>/private/NAME``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

SMTP_CLIENT = """
import smtplib, sys
source, server = sys.argv[1], sys.argv[2]
try:
    s = smtplib.SMTP(server, 25, source_address=(source, 0), timeout=20)
    s.ehlo("client.test")
    s.mail("someone@client.test")
    code, text = s.rcpt("postmaster@mx.test")
    print(code, text.decode())
    s.quit()
except smtplib.SMTPResponseException as exc:
    print(exc.smtp_code, exc.smtp_error.decode())
"""


def main_cf(server: str, restriction: str) -> str:
    return f"""compatibility_level = 3.6
myhostname = mx.test
mydomain = test
mydestination = mx.test, localhost
inet_interfaces = {server}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_client_restrictions = {restriction}
smtpd_recipient_restrictions = reject_unauth_destination
maillog_file = /dev/stdout
smtpd_banner = $myhostname ESMTP
"""


@contextmanager
def running_postfix(
    root: Path,
    pair: NetPair,
    restriction: str,
    main_extra: str = "",
    etc_files: Mapping[str, str] | None = None,
) -> Iterator[Path]:
    """Postfix listening on ``pair.server``:25; yields its queue directory (the chroot).

    ``main_extra``: lines added to main.cf; ``etc_files``: files written under
    its /etc/postfix (e.g. ``sasl/smtpd.conf``).
    """
    postfix = need_tool("postfix")
    need_tool("unshare")
    need_tool("mount")
    etc, spool, data = root / "etc", root / "spool", root / "data"
    for d in (etc, spool, data):
        d.mkdir(parents=True)
    shutil.chown(data, "postfix")
    for name in ("master.cf", "dynamicmaps.cf", "postfix-files", "postfix-script", "post-install"):
        shutil.copy(f"/etc/postfix/{name}", etc / name)
    for name in ("postfix-files.d", "dynamicmaps.cf.d"):
        if Path(f"/etc/postfix/{name}").is_dir():
            shutil.copytree(f"/etc/postfix/{name}", etc / name)
    (etc / "main.cf").write_text(main_cf(pair.server, restriction) + main_extra)
    for name, text in (etc_files or {}).items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_text(text)
    log = (root / "postfix.log").open("wb")
    script = (
        f"mount --bind {etc} /etc/postfix && mount --bind {spool} /var/spool/postfix && "
        f"mount --bind {data} /var/lib/postfix && "
        f"exec {postfix} start-fg"
    )
    proc = subprocess.Popen(
        pair.server_argv(["unshare", "-m", "--propagation", "private", "sh", "-c", script]),
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "daemon started" not in (root / "postfix.log").read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((root / "postfix.log").read_text(errors="replace"))
            time.sleep(0.1)
        yield spool
    finally:
        master = _master_pid(data)
        proc.terminate()  # master stops its children on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # start-fg's master can outlive the command that started it: stop it by its pid.
        if master is not None:
            _stop(master)
        log.close()


def _master_pid(data: Path) -> int | None:
    """The master's pid, from its lock file in the data directory."""
    try:
        pid = int((data / "master.lock").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if "master" in _cmdline(pid) else None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while "master" in _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if "master" in _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def smtp_rcpt(pair: NetPair, source: str) -> str:
    """The reply to RCPT TO from ``source`` (a client-side address): "250 2.1.5 Ok"."""
    return pair.client_python(SMTP_CLIENT, source, pair.server).strip()
