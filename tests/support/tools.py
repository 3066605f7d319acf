"""The one list of external tools the real-part tests run, and the Debian package of each.

``support.real.need_tool`` accepts only a tool listed here, and
tests/unit/test_required_tools.py finds every command line in the tests that
starts with a tool, so a test cannot come to need a tool this list lacks. The
fresh-machine check (tests/real/test_fresh_machine.py) runs ``scripts/setup
--test`` in a new Debian 12 root and looks for every tool here: a tool whose
package scripts/setup forgets fails there, even on a machine where someone
installed it by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

_TOOLS: Final[dict[str, str]] = {
    # namespaces, mounts, users
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "nsenter": "util-linux",
    "mount": "mount",
    "useradd": "passwd",
    "umount": "mount",
    # firewalls
    "nft": "nftables",
    "ip": "iproute2",
    "ipset": "ipset",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "tcpdmatch": "tcpd",
    "fail2ban-regex": "fail2ban",
    # systemd, journal files, buses and polkit
    "systemd-analyze": "systemd",
    "systemd-tmpfiles": "systemd",
    "systemd-sysusers": "systemd",
    "busctl": "systemd",
    "/lib/systemd/systemd-journal-remote": "systemd-journal-remote",
    "dbus-daemon": "dbus-daemon",
    "/usr/lib/polkit-1/polkitd": "polkitd",
    "gdbus": "libglib2.0-bin",
    # the booted tier (tests/booted): a Debian root, booted; a real ssh attacker
    "debootstrap": "debootstrap",
    "chroot": "coreutils",
    "cp": "coreutils",
    "systemctl": "systemd",
    "systemd-nspawn": "systemd-container",
    "ssh": "openssh-client",
    "sshpass": "sshpass",
    # SELinux module, packaging recipes, manual pages
    "checkmodule": "checkpolicy",
    "semodule": "policycoreutils",
    "matchpathcon": "selinux-utils",
    # Debian's own interpreter, for setools (python3-setools: not in the venv)
    "/usr/bin/python3": "python3-setools",
    "make": "make",
    "bzip2": "bzip2",
    "rpmspec": "rpm",
    "rpmbuild": "rpm",
    "rpm": "rpm",
    "makepkg": "makepkg",
    "fakeroot": "fakeroot",
    "bsdtar": "libarchive-tools",
    "man": "man-db",
    # the fleet's JetStream servers
    "nats-server": "nats-server",
    "promtool": "prometheus",
    # the daemons the enforcement points serve (tests/real/test_enforce_*)
    "postfix": "postfix",
    "dovecot": "dovecot-core",
    "doveadm": "dovecot-core",
    "/usr/lib/dovecot/imap-login": "dovecot-imapd",
    "nginx": "nginx",
    "apache2": "apache2",
    # OpenSMTPD conflicts with postfix: scripts/setup --test unpacks its package there
    "/var/cache/journalban-tests/opensmtpd/usr/sbin/smtpd": "opensmtpd",
    # slapd would configure and start a directory if installed: unpacked there too
    "/var/cache/journalban-tests/slapd/usr/sbin/slapd": "slapd",
    "rsyslogd": "rsyslog",
    "saslauthd": "sasl2-bin",
    # the web console (tests/real/test_cockpit_page.py): Cockpit and a browser
    "/usr/lib/cockpit/cockpit-ws": "cockpit-ws",
    "cockpit-bridge": "cockpit-bridge",
    "chromium": "chromium",
    # shells and archives the tests drive
    "bash": "bash",
    "sh": "dash",
    "tar": "tar",
    "stdbuf": "coreutils",
    # the fresh-machine check (with debootstrap and chroot above)
    "nice": "coreutils",
    "git": "git",
    # a self-signed certificate for a real TLS handshake (tests/unit/test_lazy_ssl.py)
    "openssl": "openssl",
}
# Where a tool named on PATH may also be given by its absolute path.
_BIN_DIRS: Final = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

# Tool (a name looked up on PATH, or an absolute path) -> the Debian package with it.
REQUIRED_TOOLS: Final[Mapping[str, str]] = MappingProxyType(_TOOLS)

# Python modules the tests import beyond journalban's own dependencies (the
# `test` extra of pyproject.toml, installed by scripts/setup --test).
REQUIRED_MODULES: Final = (
    "journalban",
    "systemd.journal",
    "dbus_fast",
    "pyroute2",
    "yaml",
    "pytest",
    "mypy",
    "ruff",
    "aiosmtpd",
    "build",
    "installer",
    "setuptools",
    "wheel",
    "nats",
    "playwright",
    "prometheus_client",
)


def is_listed(tool: str) -> bool:
    """Whether ``tool`` (a name, or an absolute path) is a required tool.

    ``/bin/sh`` is the listed ``sh``: a path in a standard bin directory counts
    as its name.
    """
    if tool in _TOOLS:
        return True
    directory, _, name = tool.rpartition("/")
    return directory in _BIN_DIRS and name in _TOOLS
