"""Filter regex tags, expanded to named groups.

``<HOST>``  the peer: IPv4, IPv6 (bare or in brackets) or a host name; only a
           valid IP literal becomes a failure, a name is reported as missed.
``<ADDR>``  like <HOST> but an IP literal only.
``<USER>``  a user name: greedy, so that with an anchored tail the real peer is
           always the last address on the line, whatever the user typed.
``<PORT>``  a port number.
``<F-NAME>...</F-NAME>`` a named capture ``name`` (lower case).
"""

from __future__ import annotations

import re
import sys

from journalban.errors import FilterError
from journalban.matching import possessive

_IPV6 = r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"

TAGS = {
    "<HOST>": rf"\[?(?P<host>{_IPV4}|{_IPV6}|{_NAME})\]?",
    "<ADDR>": rf"\[?(?P<host>{_IPV4}|{_IPV6})\]?",
    "<USER>": r"(?P<user>.*)",
    "<PORT>": r"(?P<port>\d{1,5})",
}
_FTAG = re.compile(r"<F-([A-Z][A-Z0-9_]*)>(.*?)</F-\1>")


def expand(pattern: str) -> str:
    """The regex with every tag replaced by its group."""
    out = _FTAG.sub(lambda m: f"(?P<{m.group(1).lower()}>{m.group(2)})", pattern)
    for tag, group in TAGS.items():
        out = out.replace(tag, group)
    return out


def compile_failregex(
    pattern: str, file: str | None = None, line: int | None = None
) -> re.Pattern[str]:
    """Compile a failregex; it must name the peer with <HOST> or <ADDR>.

    Raises:
        FilterError: the regex does not compile or has no host tag.
    """
    if "<HOST>" not in pattern and "<ADDR>" not in pattern:
        raise FilterError(f"failregex has no <HOST> or <ADDR>: {pattern!r}", file, line)
    return compile_plain(expand(pattern), file, line)


def compile_plain(
    pattern: str, file: str | None = None, line: int | None = None
) -> re.Pattern[str]:
    """Compile a regex (tags expanded).

    Raises:
        FilterError: the regex does not compile, or holds a possessive repeat on a Python
            that matches one wrongly (before 3.11.5, see ``matching.possessive``).
    """
    expanded = expand(pattern)
    try:
        compiled = re.compile(expanded)
    except re.error as exc:
        raise FilterError(f"bad regex {pattern!r}: {exc}", file, line) from None
    if possessive.matched_wrongly(expanded):
        version = ".".join(map(str, sys.version_info[:3]))
        raise FilterError(
            f"possessive repeat in {pattern!r}: Python {version} matches it wrongly"
            " (CPython gh-106052, fixed in 3.11.5); write the atomic group of the greedy"
            " repeat instead, (?>X*) for X*+, (?>X+) for X++",
            file,
            line,
        )
    return compiled
