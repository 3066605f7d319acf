"""Every filter an admin moving from fail2ban looks for is shipped and usable by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from journalban.addresses import parse_address
from journalban.cli.main import main
from journalban.matching.library import FilterLibrary

REQUIRED = [
    "sshd",
    "pam-generic",
    "selinux-ssh",
    "dovecot",
    "postfix",
    "qmail-smtp",
    "vpopmail",
    "qmailadmin",
    "qpsmtpd",
    "exim",
    "courier-auth",
    "cyrus-imap",
    "uwimap-auth",
    "sogo-auth",
    "roundcube-auth",
    "apache-auth",
    "apache-noscript",
    "apache-overflows",
    "apache-badbots",
    "apache-botsearch",
    "php-url-fopen",
    "lighttpd-fastcgi",
    "lighttpd-auth",
    "nginx-http-auth",
    "nginx-botsearch",
    "lemonldap",
    "proftpd",
    "vsftpd",
    "pure-ftpd",
    "named-refused",
    "ejabberd-auth",
    "mysqld-auth",
]
LIBRARY = FilterLibrary(override_dir=None)


def test_every_filter_of_the_library_issue_is_shipped() -> None:
    assert sorted(set(REQUIRED) - set(LIBRARY.names())) == []


@pytest.mark.parametrize("name", REQUIRED)
def test_journalban_regex_finds_a_sample_by_filter_name(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fdef = LIBRARY.load(name)
    sample = next(s for s in fdef.samples if s.host is not None and fdef.default_mode in s.modes)
    log = tmp_path / "one.log"
    log.write_text(sample.line + "\n")
    assert main(["regex", str(log), name, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["lines"] == 1
    assert result["matched"] == 1, sample.line
    assert result["matches"][0]["host"] == str(parse_address(sample.host))
