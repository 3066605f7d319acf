"""Hits' addresses parsed in the reader child, for the deciding's first look at them.

The deciding looks up each failure's address text in memos (``JailRuntime.network_of``)
and, for a text it has not seen lately, parses it and builds the key it counts it by:
an IPv4 text's integer (``inet_pton``), an IPv6 text's prefix and its text
(``addresses.ipv6_prefix_key``, about 1.5 µs). Those steps depend on the text
alone, so the file reader child takes them (it has the time to spare where the
agent is the longer): each frame carries ``AddressKeys.of``'s entries for the
addresses of its hits the child has not sent lately, and the agent fills its memo
from them (``JailRuntime.learn``) with the verdicts of its ignore list, which stay
its own. sshd-flood's 60,578 distinct addresses cost the agent 70 ms of lookups.

An entry is ``(text, value)`` for an IPv4 text ``inet_pton`` takes, ``(text, low,
high, key)`` for an IPv6 text ``ipv6_prefix_key`` keys at the jail's prefix, and
none for anything else: the agent's own general path then parses it as before.
The texts are the sender's; nothing here is taken from them but what the agent's
own parsers would take (the same calls), and the agent checks an IPv6 key's prefix
length against its jail's before it uses one.

The child spends more on an entry than the agent saves by it (sshd-flood: about
11,000 instructions against 7,500; the agent keeps the verdicts and reads the
entries), so it sends them only while the agent is behind (``agent_behind``: the
frame pipe half full), where the agent is the longer of the two and the child would
otherwise wait on the full pipe (sshd-flood, sshd); where the child is the longer
(sshd-near-miss, authlog-mixed, the mail corpora) the pipe stays near empty and the
frames carry none.
"""

from __future__ import annotations

# _socket, not socket: the same functions without socket.py (as journalban.addresses)
import _socket as socket
import fcntl
import sys
from collections.abc import Callable, Iterable
from typing import Final

from journalban.addresses import ipv6_prefix_key
from journalban.events import Hit, HitAddress
from journalban.matching import texthits

# Texts the child remembers having sent (then forgets them all): a flood's distinct
# addresses must not grow the child; the agent's own memo holds up to 65,536.
SENT_MAX: Final = 8192
# ioctl requests (Linux): the bytes a pipe holds, and its size (termios.FIONREAD and
# fcntl.F_GETPIPE_SZ, without importing termios into the child).
_FIONREAD: Final = 0x541B
_GETPIPE_SZ: Final = 1032


def _native_keys() -> Callable[..., list[HitAddress]] | None:
    """``_texthits.keys_of``, where ``texthits`` uses its module (JOURNALBAN_NATIVE_TEXT)."""
    if texthits.NATIVE is None:
        return None
    from journalban.matching._texthits import keys_of

    return keys_of


# Looked up once, at import; tests set ``texthits.NATIVE`` to None for the Python loop.
_KEYS_OF = _native_keys()


def agent_behind(fd: int) -> bool:
    """Whether the frame pipe ``fd`` is at least half full: the agent reads behind."""
    try:
        held = int.from_bytes(fcntl.ioctl(fd, _FIONREAD, b"\0\0\0\0"), sys.byteorder)
        size = fcntl.fcntl(fd, _GETPIPE_SZ)
    except (OSError, ValueError):  # not a pipe (a file, /dev/null: the benchmarks), or none
        return False
    return 2 * held >= size


class AddressKeys:
    """The entries of the addresses a frame's hits name, each sent once (until forgotten)."""

    def __init__(self, ipv6_prefix: int | None) -> None:
        """``ipv6_prefix``: the jail's (``JailConfig.ipv6_prefix``); None sends no IPv6."""
        self._prefix = ipv6_prefix
        self._sent: dict[str, None] = {}

    def of(self, hits: Iterable[Hit]) -> list[HitAddress]:
        """The entries for the addresses of ``hits`` not sent lately, in their order.

        A list of hits is taken in C where ``_texthits`` is used (``texthits.NATIVE``):
        the same entries, the same calls (``_texthits.keys_of``)."""
        sent, prefix = self._sent, self._prefix
        if _KEYS_OF is not None and texthits.NATIVE is not None and type(hits) is list:
            return _KEYS_OF(hits, sent, SENT_MAX, prefix, ipv6_prefix_key)
        out: list[HitAddress] = []
        for hit in hits:
            host = hit[1]
            if host in sent:
                continue
            if len(sent) >= SENT_MAX:
                sent.clear()
            sent[host] = None
            if ":" in host:
                if prefix is not None and (six := ipv6_prefix_key(host, prefix)) is not None:
                    out.append((host, *six))
                continue
            try:
                packed = socket.inet_pton(socket.AF_INET, host)
            except (OSError, ValueError):  # not a dotted quad (a NUL: ValueError)
                continue
            out.append((host, int.from_bytes(packed, "big")))
        return out
