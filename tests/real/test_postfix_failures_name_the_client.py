"""Real Postfix with Cyrus SASL (saslauthd): every failure line names the client.

Why the postfix filter has no session rules (docs/detection.md, "The daemons
whose failures name no address"): Debian's Postfix, with SMTP AUTH through
Cyrus SASL and a real saslauthd, is sent wrong passwords and a relay probe.
The one smtpd line about a failure that names no client is Cyrus SASL's own
"SASL authentication failure: ...", which comes right before smtpd's line
naming the client for the same attempt. The shipped postfix filter counts one
failure per attempt, each for the real client; saslauthd's own lines (PAM's
empty rhost) are not in Postfix's log at all.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from pathlib import Path

from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from support.netpair import net_pair
from support.postfix import running_postfix
from support.real import need_tool

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


def test_every_postfix_failure_line_names_the_client(tmp_path: Path) -> None:
    saslauthd = need_tool("saslauthd")
    root = tmp_path / "postfix"
    with net_pair() as pair:
        attacker = pair.clients[0]
        with running_postfix(
            root, pair, "permit", SASL_MAIN, {"sasl/smtpd.conf": SASL_CONF}
        ) as spool:
            mux = spool / "var/run/saslauthd"
            mux.mkdir(parents=True)
            out = (tmp_path / "saslauthd.out").open("wb")
            sasl = subprocess.Popen(
                [saslauthd, "-a", "pam", "-m", str(mux), "-n", "1", "-d"],
                # saslauthd ends by signalling its whole process group: its own.
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 20
                while not (mux / "mux").exists():
                    assert time.monotonic() < deadline, "saslauthd did not start"
                    time.sleep(0.05)
                replies = pair.client_python(
                    CLIENT, attacker, pair.server,
                    _plain("alice", "wrong"), _plain("admin", "123456"),
                ).split()  # fmt: skip
            finally:
                sasl.terminate()
                sasl.wait(timeout=20)
                out.close()
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
    # The shipped filter counts each attempt once, for the client: the SASL
    # failures in its auth mode, the relay probe in its normal mode.
    fdef = FilterLibrary(None).load("postfix")
    for mode, attempts in (("auth", 2), ("normal", 1)):
        matcher = LineMatcher(CompiledFilter(fdef, mode), time.time)
        found = [o for o in matcher.match_lines(text.splitlines()) if o.kind == MATCHED]
        assert sorted(str(o.address) for o in found) == [attacker] * attempts, (mode, text)
