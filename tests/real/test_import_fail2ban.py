"""`journalban import-fail2ban` on real configurations: Debian's installed /etc/fail2ban,
and the seeds' SME Server and qmail-guide setups typed in as fail2ban files."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from journalban.cli.main import main
from journalban.state.store import StateStore
from support.real import missing_real, need_tool

FAIL2BAN = Path("/etc/fail2ban")


def _debian_copy(tmp_path: Path, jail_local: str) -> Path:
    if not (FAIL2BAN / "jail.conf").is_file():
        missing_real("Debian's fail2ban package is not installed (/etc/fail2ban)")
    src = tmp_path / "fail2ban"
    shutil.copytree(FAIL2BAN, src)
    (src / "jail.local").write_text(jail_local)
    return src


def _import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    code = main(["import-fail2ban", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


DEBIAN_LOCAL = """\
[DEFAULT]
bantime = 1h
bantime.increment = true
bantime.factor = 2
ignoreip = 127.0.0.1/8 ::1 198.51.100.0/24
banaction = nftables-multiport
[sshd]
enabled = true
mode = aggressive
backend = systemd
[postfix]
enabled = true
mode = more
[dovecot]
enabled = true
[nginx-http-auth]
enabled = true
[recidive]
enabled = true
[asterisk]
enabled = true
[monit]
enabled = true
"""


def test_debian_configuration_imports_and_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _debian_copy(tmp_path, DEBIAN_LOCAL)
    out = tmp_path / "journalban"
    code, report = _import(capsys, str(src), "--out", str(out))
    jails = {j["name"]: j for j in report["jails"]}
    assert jails["sshd"]["status"] == "shipped"
    assert jails["sshd"]["mode"] == "aggressive"
    assert jails["sshd"]["settings"]["source"] == "journal"
    assert jails["sshd"]["settings"]["bantime_increment"] == {"enabled": True, "factor": 2.0}
    assert jails["postfix"]["mode"] == "more"
    assert (jails["asterisk"]["status"], jails["asterisk"]["filter"]) == ("shipped", "asterisk")
    assert jails["monit"]["status"] == "converted"
    assert jails["monit"]["filter"] == "f2b-monit"
    assert jails["recidive"]["status"] == "built-in"
    assert report["backend"] == "nftables"
    assert report["check"]["errors"] == []
    assert code in (0, 3)
    assert (out / "filters.d" / "f2b-monit.yaml").is_file()
    # Checked against fail2ban's own filter on the test log Debian ships with fail2ban.
    monit = next(f for f in report["filters"] if f["name"] == "f2b-monit")
    assert monit["agreement_with_fail2ban"].startswith("agrees with fail2ban-regex on ")
    assert not (out / "filters.d" / "f2b-sshd.yaml").exists()
    # check-config reads jail.d/ and filters.d/ beside the given main file.
    assert main(["check-config", str(out / "journalban.yaml")]) == 0
    text = capsys.readouterr().out
    assert "50-imported.yaml" in text


def test_fail2bans_postfix_sasl_jail_keeps_its_name_with_postfix_in_auth_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Debian's jail.conf: [postfix-sasl] filter = postfix[mode=auth]. journalban has no
    # filter of that name (check-config says so with a hint when a hand-written jail
    # names it); the importer writes the jail under fail2ban's name with the filter spelt out.
    src = _debian_copy(tmp_path, "[postfix-sasl]\nenabled = true\nbackend = systemd\n")
    out = tmp_path / "journalban"
    code, report = _import(capsys, str(src), "--out", str(out))
    jail = next(j for j in report["jails"] if j["name"] == "postfix-sasl")
    assert (jail["status"], jail["filter"], jail["mode"]) == ("shipped", "postfix", "auth")
    assert report["check"]["errors"] == []
    assert code == 0
    written = (out / "jail.d" / "50-imported.yaml").read_text()
    assert "  postfix-sasl:\n" in written
    assert "    filter: postfix\n" in written
    assert "    mode: auth\n" in written
    assert main(["check-config", str(out / "journalban.yaml")]) == 0
    assert "postfix-sasl" in capsys.readouterr().out
    # The same jail typed by hand without a filter still gets check-config's hint.
    hand = tmp_path / "hand.yaml"
    hand.write_text("jails:\n  postfix-sasl:\n    enabled: true\n")
    assert main(["check-config", str(hand)]) == 1
    assert "filter: postfix with mode: auth here" in capsys.readouterr().err


def test_dry_run_writes_nothing_and_files_are_not_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _debian_copy(tmp_path, "[sshd]\nenabled = true\n")
    out = tmp_path / "journalban"
    code, report = _import(capsys, str(src), "--out", str(out), "--dry-run")
    assert code == 0
    assert report["files"]
    assert not out.exists()
    assert _import(capsys, str(src), "--out", str(out))[0] == 0
    (out / "journalban.yaml").write_text("logging:\n  level: debug\n")
    assert main(["import-fail2ban", str(src), "--out", str(out)]) == 2
    assert "already exist" in capsys.readouterr().err
    assert _import(capsys, str(src), "--out", str(out), "--force")[0] == 0
    assert (out / "journalban.yaml").read_text() == "logging:\n  level: debug\n"


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-fail2ban", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    (tmp_path / "f2b").mkdir()
    assert main(["import-fail2ban", str(tmp_path / "f2b"), "--out", str(tmp_path / "o")]) == 2
    assert "jail.conf" in capsys.readouterr().err


# The SME Server contrib's jail template (seeds/000), as fail2ban files: its
# filter.d holds only what the contrib adds, the old names come from journalban.
SME_JAILS = """\
[DEFAULT]
ignoreip = 127.0.0.0/8 192.168.10.0/24
bantime = 1800
findtime = 900
maxretry = 3
usedns = yes
backend = auto
[ssh]
enabled = true
filter = sshd
logpath = /var/log/sshd/current
action = smeserver-iptables[port="22",protocol=tcp,bantime=1800]
         smeserver-sendmail[name="SSH",dest=root]
[ssh-ddos]
enabled = true
filter = sshd-ddos
logpath = /var/log/sshd/current
action = smeserver-iptables[port="22",protocol=tcp,bantime=1800]
[qpsmtpd]
enabled = true
filter = qpsmtpd
logpath = /var/log/*qpsmtpd/current
maxretry = 9
action = smeserver-iptables[port="25,465",protocol=tcp,bantime=1800]
[http-scan]
enabled = true
filter = apache-scan
logpath = /var/log/httpd/error_log
action = smeserver-iptables[port="80,443",protocol=tcp,bantime=1800]
[pam-generic]
enabled = true
filter = pam-generic
logpath = /var/log/secure
maxretry = 6
action = smeserver-iptables[bantime=1800]
[recidive]
enabled = true
filter = recidive
logpath = /var/log/fail2ban/daemon.log
bantime = 604800
findtime = 86400
maxretry = 5
backend = polling
"""
SME_ACTION = "[Definition]\nactionban = /sbin/e-smith/signal-event fail2ban-ban <ip>\n"


def test_sme_server_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "fail2ban"
    (src / "action.d").mkdir(parents=True)
    (src / "filter.d").mkdir()
    (src / "jail.conf").write_text(SME_JAILS)
    (src / "action.d" / "smeserver-iptables.conf").write_text(SME_ACTION)
    out = tmp_path / "journalban"
    code, report = _import(capsys, str(src), "--out", str(out))
    jails = {j["name"]: j for j in report["jails"]}
    assert (jails["ssh-ddos"]["filter"], jails["ssh-ddos"]["mode"]) == ("sshd", "ddos")
    assert (jails["http-scan"]["filter"], jails["http-scan"]["mode"]) == (
        "apache-botsearch",
        "normal",
    )
    assert jails["qpsmtpd"]["settings"]["files"] == ["/var/log/*qpsmtpd/current"]
    assert jails["ssh"]["settings"]["ignoreip"] == ["127.0.0.0/8", "192.168.10.0/24"]
    assert any("signal-event fail2ban-ban" in w for w in jails["ssh"]["warnings"])
    assert report["check"]["errors"] == []
    assert code == 0
    assert "actions" not in jails["ssh"]["settings"]  # not without --command-actions
    # Opted in: the contrib's action file becomes a command action, shown in the report.
    code, report = _import(capsys, str(src), "--out", str(out), "--force", "--command-actions")
    jails = {j["name"]: j for j in report["jails"]}
    assert jails["ssh"]["settings"]["actions"] == [
        {"type": "firewall"},
        {"type": "command", "ban": ["/sbin/e-smith/signal-event", "fail2ban-ban", "{address}"]},
    ]
    assert any("a command action runs" in w for w in jails["ssh"]["warnings"])
    assert report["check"]["errors"] == []


# The qmail guide's jail.local and its own filters (seeds/003), typed in.
QMAIL_JAILS = """\
[DEFAULT]
ignoreip = 127.0.0.1/8 10.0.0.1/8
[qmail-smtp]
enabled  = true
filter   = qmail-smtp
action   = nftables[type=multiport, name=SMTP, port="25,465,587"]
           sendmail-whois-lines[name=SMTP, logpath="%(logpath)s", dest=postmaster@example.org]
logpath  = /var/log/qmail/smtpd/current
maxretry = 5
bantime  = 1d
findtime = 1h
[vpopmail]
enabled  = true
filter   = vpopmail
action   = nftables[type=multiport, name=VPOPMAIL, port="25,465,587"]
logpath  = /var/log/maillog
bantime  = 86400
findtime = 3600
[qmailadmin]
enabled  = true
filter   = qmailadmin
logpath  = /var/log/qma-auth.log
maxretry = 4
"""
QMAIL_FILTERS = {
    "qmail-smtp.conf": "[Definition]\nfailregex = qlogenvelope: result=rejected .* remoteip=<HOST>\n"
    " GREETDELAY from <HOST>: client sent data before greeting\nignoreregex =\n",
    "vpopmail.conf": "[Definition]\nfailregex = vchkpw-submission: .* user not found .*:<HOST>$\n"
    " vchkpw-submission: password fail .*:<HOST>$\nignoreregex =\n",
    "qmailadmin.conf": "[INCLUDES]\nbefore = common.conf\n[Definition]\n"
    "failregex = ip:<HOST> auth:failed\nignoreregex =\n",
    "common.conf": "[DEFAULT]\n_daemon = \\S*\n__prefix_line = \\s*\n",
}


def test_qmail_guide_jails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "fail2ban"
    (src / "filter.d").mkdir(parents=True)
    (src / "jail.local").write_text(QMAIL_JAILS)
    for name, text in QMAIL_FILTERS.items():
        (src / "filter.d" / name).write_text(text)
    out = tmp_path / "journalban"
    code, report = _import(capsys, str(src), "--out", str(out))
    jails = {j["name"]: j for j in report["jails"]}
    # The admin's own qmail-smtp filter, not journalban's filter of that name.
    assert jails["qmail-smtp"]["filter"] == "f2b-qmail-smtp"
    assert any("instead of journalban's qmail-smtp" in w for w in jails["qmail-smtp"]["warnings"])
    mail = jails["qmail-smtp"]["settings"]["actions"][1]
    assert mail["to"] == ["postmaster@example.org"]
    assert (mail["whois"], mail["lines"], mail["sendmail"]) == (True, True, True)
    assert jails["vpopmail"]["settings"]["bantime"] == 86400
    assert report["check"]["errors"] == []
    # The guide's "qlogenvelope: result=rejected .* remoteip=<HOST>" lets the HELO and
    # sender (client text, before remoteip=) carry an address: written disabled, exit 3.
    assert jails["qmail-smtp"]["status"] == "converted, disabled"
    assert jails["qmail-smtp"]["settings"]["enabled"] is False
    assert any("client text choose the address" in w for w in jails["qmail-smtp"]["warnings"])
    assert jails["vpopmail"]["status"] == "converted"
    assert code == 3
    # The converted filter finds what the admin's filter was for, read back from disk.
    code = main(
        ["regex", "@4000000059f5195c211f2234 qlogenvelope: result=rejected code=553 remoteip=95.140.112.191 remoteport=1",
         str(out / "filters.d" / "f2b-qmail-smtp.yaml"), "--json"]
    )  # fmt: skip
    assert code == 0
    assert "95.140.112.191" in capsys.readouterr().out


def test_bans_and_history_from_fail2bans_own_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fail2ban's own interpreter, as its tools start it.
    python = Path(need_tool("fail2ban-regex")).read_text().splitlines()[0][2:].strip()
    src = _debian_copy(tmp_path, "[sshd]\nenabled = true\nbackend = systemd\n")
    db = tmp_path / "fail2ban.sqlite3"
    (src / "fail2ban.local").write_text(f"[Definition]\ndbfile = {db}\n")
    now = int(time.time())
    # fail2ban's own database code writes the file, as a running fail2ban would.
    script = f"""
from fail2ban.server.database import Fail2BanDb
from fail2ban.server.ticket import FailTicket
class Actions:
    def getBanTime(self): return 600
class Jail:
    name = "sshd"
    def __init__(self): self.database, self.actions = None, Actions()
db = Fail2BanDb({str(db)!r})
jail = Jail()
db.addJail(jail)
for ip, t, length, count in (("203.0.113.7", {now - 7200}, 600, 1), ("203.0.113.7", {now - 60}, 3600, 2),
                             ("2001:db8::9", {now - 30}, -1, 1), ("198.51.100.4", {now - 90000}, 600, 1)):
    ticket = FailTicket(ip, t)
    ticket.setBanTime(length)
    ticket.setBanCount(count)
    db.addBan(jail, ticket)
"""
    proc = subprocess.run([python, "-I", "-c", script], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        missing_real(f"fail2ban's database module: {proc.stderr[-300:]}")
    out = tmp_path / "journalban"
    state = tmp_path / "state" / "state.sqlite"
    code, report = _import(capsys, str(src), "--out", str(out), "--bans", "--state", str(state))
    assert code == 0
    assert report["bans"]["history"] == 4
    assert report["bans"]["active"] == 2
    store = StateStore(state)
    try:
        active = {
            (b.jail, b.address, b.expires_at is None, b.ban_count) for b in store.active_bans()
        }
        # The ban of two hours ago expired; its address's later ban is active, counted as 2nd.
        assert active == {("sshd", "203.0.113.7", False, 2), ("sshd", "2001:db8::9", True, 1)}
        assert len(store.ban_history(next(iter(store.active_bans())).network, 0.0)) >= 1
    finally:
        store.close()
