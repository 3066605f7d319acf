"""Reading fail2ban's configuration files and regexes (tiny directories written here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journalban.errors import ConfigError
from journalban.matching.library import FilterLibrary
from journalban.migrate.filterconv import convert_filter, journal_groups
from journalban.migrate.idents import daemon_idents
from journalban.migrate.inifile import IniReader
from journalban.migrate.regexconv import PREFIX_MARK, Refused, convert_regex
from journalban.migrate.values import duration, ignore_entries, jail_name, parse_call, port_spec


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_local_and_dropins_override_in_fail2bans_order(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "jail.conf": "[INCLUDES]\nbefore = paths.conf\n[DEFAULT]\nbantime = 10m\n"
            "[sshd]\nport = ssh\nlogpath = %(sshd_log)s\ntag = %(__name__)s\n",
            "paths.conf": "[DEFAULT]\nsshd_log = /var/log/auth.log\n",
            "paths.local": "[DEFAULT]\nsshd_log = /var/log/secure\n",
            "jail.d/a.conf": "[sshd]\nport = 2222\n",
            "jail.local": "[sshd]\nport = %(known/port)s,2200 ; a comment\n",
            "jail.d/z.local": "[DEFAULT]\nbantime = 1h\n",
        },
    )
    ini = IniReader(root).read("jail")
    assert ini.get("sshd", "logpath") == "/var/log/secure"
    assert ini.get("sshd", "port") == "2222,2200"
    assert ini.get("sshd", "bantime") == "1h"
    assert ini.get("sshd", "tag") == "sshd"


def test_missing_reference_is_a_named_error(tmp_path: Path) -> None:
    root = _write(tmp_path, {"jail.conf": "[x]\nlogpath = %(nowhere)s\n"})
    with pytest.raises(ConfigError, match="nowhere"):
        IniReader(root).read("jail").get("x", "logpath")


def test_no_jail_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no jail\.conf"):
        IniReader(tmp_path).read("jail")


def test_filter_mode_parameter_selects_tagged_regexes(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "filter.d/common.conf": "[DEFAULT]\n__prefix_line = \\s*\\S+ \\S+: \n",
            "filter.d/demo.conf": "[INCLUDES]\nbefore = common.conf\n[DEFAULT]\n_daemon = (?:demod|demo-auth)\n"
            "[Definition]\nmode = normal\nre-normal = ^%(__prefix_line)sbad login from <HOST>$\n"
            "re-aggressive = <re-normal>\n ^%(__prefix_line)sprobe from <HOST>$\n"
            "failregex = <re-<mode>>\n[Init]\njournalmatch = _SYSTEMD_UNIT=demo.service + _COMM=demod\n",
        },
    )
    reader = IniReader(root)
    normal = convert_filter(reader, "demo", {})
    aggressive = convert_filter(reader, "demo", {"mode": "aggressive"})
    # A line journalban could not split still matches through the daemon's name.
    assert [r.converted for r in normal.regexes] == [
        r"^(?:(?:\S+\s+)?(?:(?:demod|demo-auth))(?:\[\d+\])?:?\s+)?bad login from <HOST>(?!\.?\w)$"
    ]
    assert len(aggressive.regexes) == 2
    assert normal.data is not None
    assert normal.data["idents"] == ["demo-auth", "demod"]
    assert normal.data["journal_match"] == [["_SYSTEMD_UNIT=demo.service"], ["_COMM=demod"]]


def test_prefregex_content_is_searched_like_fail2ban(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "filter.d/p.conf": "[Definition]\nprefregex = ^client <HOST>: <F-CONTENT>.+</F-CONTENT>$\n"
            "failregex = ^denied\n",
        },
    )
    conv = convert_filter(IniReader(root), "p", {})
    assert conv.regexes[0].converted == r"^client <HOST>(?!\.?\w): (?=denied)(?:.+)$"


def test_regex_tags_become_journalban_groups() -> None:
    out = convert_regex(f"^{PREFIX_MARK}login <F-USER>.+</F-USER> from <IP4> id <F-ID>\\d+</F-ID>$")
    assert out.startswith("^login (?P<user>.+) from (?=\\d{1,3}\\.\\d)<ADDR>(?!\\.?\\w) id")
    assert "(?P<id>\\d+)" in out


def test_nofail_alternative_excludes_that_branch() -> None:
    out = convert_regex("^Failed (?:<F-NOFAIL>publickey</F-NOFAIL>|\\S+) for x from <HOST>$")
    assert out == r"^Failed (?:(?!publickey)\S+) for x from <HOST>(?!\.?\w)$"


@pytest.mark.parametrize(
    ("regex", "why"),
    [
        ("^<F-NOFAIL>Connection from</F-NOFAIL> <HOST>", "F-NOFAIL"),
        ("^a <HOST><SKIPLINES>b", "SKIPLINES"),
        ("^Accepted <F-MLFGAINED>x</F-MLFGAINED> <HOST>", "MLFGAINED"),
        ("^Disconnecting: too many failures", "names no address"),
        ("^ban <CIDR>", "CIDR"),
        ("^a <HOST> b <ADDR>", "more than once"),
        ("^a <HOST> (", "does not compile"),
    ],
)
def test_refused_regexes_say_why(regex: str, why: str) -> None:
    with pytest.raises(Refused, match=why):
        convert_regex(regex)


def test_unanchored_regex_is_searched_and_blank_after_date_optional() -> None:
    assert convert_regex("remoteip=<HOST>") == r"^.*?remoteip=<HOST>(?!\.?\w)"
    # The address runs to its end: "::ffff:1" is not taken out of "::ffff:1.2.3.4".
    assert convert_regex("REFUSED FROM <HOST>").endswith(r"<HOST>(?!\.?\w)")
    assert (
        convert_regex("^ SMTP attack from <HOST>,")
        == r"^[\]:]?:?\s*SMTP attack from <HOST>(?!\.?\w),"
    )
    assert (
        convert_regex("^(?: \\[\\d+\\])? login from <HOST>")
        == r"^(?: ?\[\d+\])? ?login from <HOST>(?!\.?\w)"
    )
    assert (
        convert_regex("^: Failed Login: ip=<HOST>")
        == r"^[\]:]?:?\s*(?:Failed Login: )?ip=<HOST>(?!\.?\w)"
    )


def test_daemon_regex_as_idents() -> None:
    assert daemon_idents("sshd") == ["sshd"]
    assert daemon_idents("(?:cyrus/)?(?:imap(d|s)?|pop3(d|s)?)") == sorted(
        {f"{p}{d}{s}" for p in ("", "cyrus/") for d in ("imap", "pop3") for s in ("", "d", "s")}
    )
    assert daemon_idents("\\S*") is None
    assert daemon_idents("(?:fail2ban(?:-server|\\.actions)\\s*)") is None


def test_values() -> None:
    assert duration("600") == 600
    assert duration("1h 30m") == 5400
    assert duration("2 days") == 172800
    assert duration("-1") is None
    with pytest.raises(ValueError, match="duration"):
        duration("soon")
    call = parse_call('iptables-multiport[port="53", protocol="tcp"][name=nsd-tcp, protocol="udp"]')
    assert call.name == "iptables-multiport"
    assert call.params == {"port": "53", "protocol": "udp", "name": "nsd-tcp"}
    assert port_spec("0:65535") == "all"
    assert port_spec("ssh, 2200:2210") == "ssh,2200-2210"
    assert jail_name("3proxy", set()) == "j-3proxy"
    assert jail_name("sshd", {"sshd"}) == "sshd-2"
    assert ignore_entries("127.0.0.1/8 ::1 host.example <my-ip>") == (
        ["127.0.0.0/8", "::1/128", "host.example"],
        ["<my-ip>"],
    )
    assert journal_groups("_SYSTEMD_UNIT=a.service + _COMM=a") == [
        ["_SYSTEMD_UNIT=a.service"],
        ["_COMM=a"],
    ]


def test_old_names_are_aliases_that_say_what_they_map_to() -> None:
    library = FilterLibrary(override_dir=None)
    ddos = library.load("sshd-ddos")
    sshd = library.load("sshd")
    assert ddos.modes == ("normal",)
    assert "'sshd' in mode 'ddos'" in ddos.description
    assert [r.pattern for r in ddos.failregex] == [r.pattern for _, r in sshd.regexes_for("ddos")]
    for alias in ("dovecot-pop3imap", "sasl", "apache-scan"):
        assert "Alias of filter" in library.load(alias).description


def test_converted_regexes_that_let_client_text_move_the_address_are_found() -> None:
    from journalban.migrate.checks import injectable

    assert injectable(r"^.*?remoteip=<HOST>(?!\.?\w)")
    assert injectable(r"^login (?P<user>.*) from <HOST> port \d+ .*$")
    assert not injectable(r"^login (?P<user>.*) from <HOST>$")
    assert not injectable(r"^<HOST> - (?P<user>.*)$")


def test_a_backtracking_converted_regex_is_stopped_and_named() -> None:
    from journalban.migrate.checks import slow_regexes

    fast = r"^x from <HOST>$"
    slow = r"^(?:\s*\S+\s*)*<HOST>$"
    assert slow_regexes([fast, slow, fast], limit=1.0) == [1]


def test_an_action_needing_a_shell_is_not_made_a_command(tmp_path: Path) -> None:
    from journalban.migrate.actionconv import command_action
    from journalban.migrate.values import parse_call

    root = _write(
        tmp_path,
        {
            "action.d/plain.conf": "[Definition]\nactionban = /usr/bin/notify-ban <ip> <name>\n"
            "actionunban = /usr/bin/notify-unban <ip>\n",
            "action.d/piped.conf": "[Definition]\nactionban = echo <ip> | mail -s ban root\n",
        },
    )
    reader = IniReader(root)
    assert command_action(parse_call("plain"), reader) == {
        "type": "command",
        "ban": ["/usr/bin/notify-ban", "{address}", "{jail}"],
        "unban": ["/usr/bin/notify-unban", "{address}"],
    }
    with pytest.raises(ValueError, match="needs a shell"):
        command_action(parse_call("piped"), reader)
