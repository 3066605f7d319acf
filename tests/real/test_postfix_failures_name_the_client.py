"""Real Postfix with Cyrus SASL (saslauthd): every failure line names the client.

Why the postfix filter has no session rules (docs/detection.md, "The daemons
whose failures name no address"): Debian's Postfix, with SMTP AUTH through
Cyrus SASL and a real saslauthd, is sent wrong passwords and a relay probe.
The one smtpd line about a failure that names no client is Cyrus SASL's own
"SASL authentication failure: ...", which comes right before smtpd's line
naming the client for the same attempt. The shipped postfix filter counts one
failure per attempt, each for the real client. saslauthd, which checked the
passwords (its lines and PAM's, through a real rsyslogd), never names the
client: why sendmail's saslauthd lines cannot be correlated either.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from support.netpair import net_pair
from support.postfix import running_postfix
from support.real import need_tool
from support.syslog import dev_log_script, running_rsyslog

SASL_MAIN = """smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = /etc/postfix/sasl
smtpd_sasl_security_options = noanonymous
"""
SASL_CONF = (
    "pwcheck_method: saslauthd\nsaslauthd_path: /var/run/saslauthd/mux\nmech_list: PLAIN LOGIN\n"
)

CLIENT = """
import smtplib, sys
source, server, *auths = sys.argv[1:]
s = smtplib.SMTP(server, 25, source_address=(source, 0), timeout=30)
s.ehlo("client.test")
for auth in auths:
    print(s.docmd("AUTH PLAIN " + auth)[0], flush=True)
s.mail("spam@client.test")
print(s.rcpt("victim@elsewhere.example")[0], flush=True)
s.quit()
"""


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


@contextmanager
def _running_saslauthd(tmp_path: Path, mux: Path) -> Iterator[Path]:
    """saslauthd (PAM) on ``mux``, logging (it and PAM in it) through a real rsyslogd;
    yields that log."""
    saslauthd = need_tool("saslauthd")
    need_tool("unshare")
    with running_rsyslog(tmp_path / "syslog") as (socket, log):
        mux.mkdir(parents=True)
        script = f"{dev_log_script(tmp_path / 'dev', socket)} && exec {saslauthd} -a pam -m {mux} -n 1 -d"
        out = (tmp_path / "saslauthd.out").open("wb")
        sasl = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            # saslauthd ends by signalling its whole process group: its own.
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 20
            while not (mux / "mux").exists():
                assert time.monotonic() < deadline, "saslauthd did not start"
                time.sleep(0.05)
            yield log
        finally:
            sasl.terminate()
            sasl.wait(timeout=20)
            out.close()
            time.sleep(0.5)  # rsyslogd writes what it received


def test_every_postfix_failure_line_names_the_client(tmp_path: Path) -> None:
    root = tmp_path / "postfix"
    with net_pair() as pair:
        attacker = pair.clients[0]
        with (
            running_postfix(
                root, pair, "permit", SASL_MAIN, {"sasl/smtpd.conf": SASL_CONF}
            ) as spool,
            _running_saslauthd(tmp_path, spool / "var/run/saslauthd") as sasl_log,
        ):
            replies = pair.client_python(
                CLIENT, attacker, pair.server, _plain("alice", "wrong"), _plain("admin", "123456")
            ).split()
            assert replies == ["535", "535", "454"], replies
            time.sleep(0.5)  # postlogd writes asynchronously
        text = (root / "postfix.log").read_text(errors="replace")
    smtpd = [line for line in text.splitlines() if "postfix/smtpd[" in line]
    failing = [
        line for line in smtpd if re.search(r"fail|reject|denied|error", line, re.IGNORECASE)
    ]
    assert failing, text
    nameless = [line for line in failing if f"[{attacker}]" not in line]
    cyrus = [line for line in nameless if ": warning: SASL authentication failure: " in line]
    assert nameless == cyrus, f"a failure line without the client: {nameless}"
    # Each of Cyrus SASL's lines is followed by smtpd's own line naming the client.
    for line in cyrus:
        after = smtpd[smtpd.index(line) + 1 :]
        assert any(f"[{attacker}]: SASL PLAIN authentication failed" in a for a in after[:3])
    # saslauthd, which checked the passwords, never learnt the client: Cyrus SASL's
    # request holds user, password, service and realm only (PAM's rhost is empty).
    saslauthd_lines = [
        line for line in sasl_log.read_text(errors="replace").splitlines() if "saslauthd[" in line
    ]
    failures = [line for line in saslauthd_lines if "failure" in line]
    assert any("auth failure: [user=alice] [service=smtp]" in line for line in failures), failures
    assert any(re.search(r"pam_unix\(smtp:auth\): authentication failure;.* rhost= ", line)
               for line in failures), failures  # fmt: skip
    assert not any(attacker in line for line in saslauthd_lines)
    # The shipped filter counts each attempt once, for the client: the SASL
    # failures in its auth mode, the relay probe in its normal mode.
    fdef = FilterLibrary(None).load("postfix")
    for mode, attempts in (("auth", 2), ("normal", 1)):
        matcher = LineMatcher(CompiledFilter(fdef, mode), time.time)
        found = [o for o in matcher.match_lines(text.splitlines()) if o.kind == MATCHED]
        assert sorted(str(o.address) for o in found) == [attacker] * attempts, (mode, text)
