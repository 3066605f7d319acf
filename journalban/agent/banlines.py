"""The log line of each of a run of bans, the part they share formatted once.

A ban's line (``logs.event_message``: ``Ban 203.0.113.5 in jail sshd for 2d
(account: 'root')``) is its address and a rest that depends only on the jail,
the length decided, the source (a fleet's ban names its host), the reason and
the account. An attack bans thousands of addresses with the same rest (one
jail, one bantime, one account under attack); formatting it (the duration's
units, the account's repr) was most of a line's cost. The rest is remembered
here, cut from the line ``event_message`` itself gives, so the text is its own.
"""

from __future__ import annotations

from collections.abc import Iterable

from journalban import announcec
from journalban.addresses import format_network, format_networks
from journalban.events import Ban

# Rests remembered (cleared whole when full): a run's bans share a few.
REST_MEMO = 1024
_rests: dict[tuple[str, float | None, str, str, str], str] = {}


def ban_message(ban: Ban) -> str:
    """``logs.event_message("ban", ban, now)``, the same text."""
    expires_at = ban.expires_at
    # (event_message's length: the length decided, never negative)
    length = None if expires_at is None else max(0.0, expires_at - ban.banned_at)
    key = (ban.jail, length, ban.source, ban.reason, ban.account)
    rest = _rests.get(key)
    address = format_network(ban.network)
    if rest is None:
        from journalban.agent.logs import event_message  # (logs imports this module)

        whole = event_message("ban", ban, 0.0)
        head = f"Ban {address}"
        if not whole.startswith(head):  # never: event_message begins so
            return whole
        rest = whole[len(head) :]
        if len(_rests) >= REST_MEMO:
            _rests.clear()
        _rests[key] = rest
    return "Ban " + address + rest


def ban_messages(bans: Iterable[Ban]) -> list[str]:
    """``ban_message`` of each of ``bans``: a rest remembered taken without a call of
    Python per ban (a flood's runs of thousands); in C where it is built (``announcec``:
    the same lines, a ban it does not take as the common case by ``ban_message``)."""
    native = announcec.NATIVE
    if native is not None:
        return native.ban_lines(
            bans if isinstance(bans, list) else list(bans), _rests, ban_message, format_network
        )
    rests = _rests
    run = bans if isinstance(bans, list | tuple) else list(bans)
    out: list[str] = []
    add = out.append
    # (the addresses formatted in one loop: no call of Python a ban)
    for ban, address in zip(run, format_networks([ban.network for ban in run]), strict=True):
        length = ban.expires_at
        if length is not None:  # (ban_message's length, its max() inline)
            length -= ban.banned_at
            if not length > 0.0:
                length = 0.0
        rest = rests.get((ban.jail, length, ban.source, ban.reason, ban.account))
        add(ban_message(ban) if rest is None else "Ban " + address + rest)
    return out
