"""Well-known service names, for systems without /etc/services.

A minimal system has no /etc/services (Debian's netbase is not in a minimal
install, containers often lack it), and ``socket.getservbyname("ssh")`` then
fails: the packaged default, whose sshd jail bans ``port: ssh``, would not
start. ``ports.resolve_service`` asks the system first and falls back on this
table only when the system knows the name under neither tcp nor udp, so an
administrator's own /etc/services always wins.

The table holds the IANA port numbers of the services whose logins the
shipped jails watch, and of the other services a jail commonly bans
(fail2ban-style ``port =`` lines name them), with the aliases Debian's and
Fedora's /etc/services give them. tests/unit/test_service_names.py checks each
against /etc/services where it exists, and that every name the shipped
configuration uses is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_PORTS: Final[dict[str, int]] = {
    # remote login and file transfer
    "ssh": 22,
    "telnet": 23,
    "ftp-data": 20,
    "ftp": 21,
    "ftps": 990,
    "rsync": 873,
    # web
    "http": 80,
    "www": 80,
    "https": 443,
    "http-alt": 8080,
    "webcache": 8080,
    "webmin": 10000,
    # mail
    "smtp": 25,
    "mail": 25,
    "submission": 587,
    "submissions": 465,
    "smtps": 465,
    "ssmtp": 465,
    "pop3": 110,
    "pop-3": 110,
    "pop3s": 995,
    "imap2": 143,
    "imap": 143,
    "imaps": 993,
    "sieve": 4190,
    "poppassd": 106,
    # names, directories, authentication
    "domain": 53,
    "ldap": 389,
    "ldaps": 636,
    "kerberos": 88,
    "radius": 1812,
    # chat, voice, news
    "xmpp-client": 5222,
    "jabber-client": 5222,
    "xmpp-server": 5269,
    "jabber-server": 5269,
    "sip": 5060,
    "sip-tls": 5061,
    "iax": 4569,
    "ircd": 6667,
    "ircs-u": 6697,
    "nntp": 119,
    "nntps": 563,
    # databases and file sharing
    "mysql": 3306,
    "postgresql": 5432,
    "postgres": 5432,
    "ms-sql-s": 1433,
    "microsoft-ds": 445,
    "netbios-ssn": 139,
    "svn": 3690,
    "subversion": 3690,
    "git": 9418,
    # remote desktops, VPN, monitoring
    "ms-wbt-server": 3389,
    "openvpn": 1194,
    "nrpe": 5666,
    "munin": 4949,
    "zabbix-agent": 10050,
}

WELL_KNOWN_PORTS: Final[Mapping[str, int]] = MappingProxyType(_PORTS)


def well_known_port(name: str) -> int | None:
    """The IANA port of a well-known service ``name``, or None.

    Names are matched exactly, as the C library matches /etc/services.
    """
    return _PORTS.get(name)
