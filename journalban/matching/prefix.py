"""Splitting a log line into its date, syslog prefix and message.

The filter's regexes see only the message, so one filter serves the
journal's MESSAGE and a log file alike.
"""

from __future__ import annotations

import re

# host and ident after the date: "host ident[pid]: " or "ident[pid]: " (no host).
SYSLOG_PREFIX = re.compile(
    # A host never starts with "(": lighttpd's "(mod_auth.c.791) digest: ..." is a message.
    r"(?:(?:(?P<host>[^\s\[\]:(][^\s\[\]:]*) (?P<ident>[A-Za-z_][\w./@()-]*)(?:\[(?P<pid>\d+)\])?"
    r"|(?P<ident2>[A-Za-z_][\w./@()-]*)\[(?P<pid2>\d+)\]): "
    # "[sshd]: msg"; but a log level ("[error] 2865#0: ..." in nginx, "[Warning]" in
    # MySQL) or Apache's "[error] [client ...]" is the server's own field, not an ident.
    r"|\[(?!(?i:emerg|alert|crit|critical|error|err|warn|warning|notice|note|info|debug)\])"
    r"(?P<ident3>[A-Za-z_][\w./@-]*)\]:? (?!\[))"
    # Solaris adds a message id after the prefix.
    r"(?:\[ID \d+ [\w.]+\] )?"
    # Kernel-style uptime stamps some relays put in front of the message.
    r"(?:kernel: ?\[ *\d+\.\d+\]:? )?"
)
RFC5424 = re.compile(
    r"<\d{1,3}>1 (\S+) (?P<host>\S+) (?P<ident>\S+) (?P<pid>\S+) \S+ "
    r'(?:-|(?:\[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\])+) ?'
)
PRI = re.compile(r"<\d{1,3}>")
AFTER_DATE = re.compile(r"[\]:]?:?\s*")


def split_syslog(rest: str) -> tuple[str | None, str]:
    """The ident and message of ``rest`` (the line after its date), or (None, rest)."""
    m = SYSLOG_PREFIX.match(rest)
    if m is None:
        return None, rest
    return m.group("ident") or m.group("ident2") or m.group("ident3"), rest[m.end() :]
