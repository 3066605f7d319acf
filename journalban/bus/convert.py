"""Conversions between the agent's values and D-Bus values, and errors into D-Bus errors.

D-Bus times are microseconds since the epoch (``t``), durations microseconds;
the agent counts in float seconds. A ban travels as the struct ``(ssttus)``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dbus_fast import DBusError, Variant

from journalban import errors
from journalban.addresses import IPNetwork, parse_network
from journalban.agent.api import AgentControl, JailInfo, JailStatus
from journalban.bus import contract
from journalban.events import Ban

_log = logging.getLogger(__name__)

USEC = 1_000_000
_UINT32_MAX = 2**32 - 1
_UINT64_MAX = 2**64 - 1

BanStruct = list[Any]  # [address, jail, banned_at_usec, expires_at_usec, ban_count, reason]

# Known detail keys keep one D-Bus type whatever their value.
_DETAIL_SIGNATURES = {
    "failures": "u",
    "source": "s",
    "lines": "as",
    "ban_count": "u",
    "comment": "s",
    "reason": "s",
    "account": "s",
    "caller_uid": "u",
    "caller_name": "s",
}


def usec(seconds: float | None) -> int:
    """Seconds as D-Bus microseconds; None (never) and negatives as 0."""
    if seconds is None or seconds <= 0:
        return 0
    return min(round(seconds * USEC), _UINT64_MAX)


def u32(value: int) -> int:
    """A counter clamped into ``u``."""
    return max(0, min(value, _UINT32_MAX))


def ban_struct(ban: Ban) -> BanStruct:
    """A ban as ``(ssttus)``: address, jail, banned_at, expires_at (0 permanent), count, reason."""
    return [
        ban.address,
        ban.jail,
        usec(ban.banned_at),
        usec(ban.expires_at),
        u32(ban.ban_count),
        ban.reason,
    ]


def banned_details(ban: Ban) -> dict[str, Variant]:
    """The ``details`` of a Banned signal: counts and source, never the matched lines.

    Every local user receives signals, and matched lines hold user names (often
    passwords typed as user names).
    """
    return {
        "failures": Variant("u", u32(ban.failures)),
        "source": Variant("s", ban.source),
        "ban_count": Variant("u", u32(ban.ban_count)),
        "banned_at_usec": Variant("t", usec(ban.banned_at)),
        "reason": Variant("s", ban.reason),  # a fixed class, never the account
    }


def variant_dict(values: Mapping[str, object]) -> dict[str, Variant]:
    """Plain values as ``a{sv}``; values of unknown types are shown as strings."""
    out: dict[str, Variant] = {}
    for key, value in values.items():
        signature = _DETAIL_SIGNATURES.get(key)
        if signature == "as" and isinstance(value, list | tuple):
            out[key] = Variant("as", [str(v) for v in value])
        elif signature == "u" and isinstance(value, int):
            out[key] = Variant("u", u32(value))
        elif isinstance(value, bool):
            out[key] = Variant("b", value)
        elif isinstance(value, int):
            out[key] = Variant("x", value)
        elif isinstance(value, float):
            out[key] = Variant("d", value)
        elif isinstance(value, list | tuple):
            out[key] = Variant("as", [str(v) for v in value])
        else:
            out[key] = Variant("s", str(value))
    return out


def manager_status(control: AgentControl) -> dict[str, Variant]:
    """Manager1.GetStatus: at least Version, State, Backend, Jails, BannedCount, StartedAtUSec."""
    jails = control.jails()
    return {
        "Version": Variant("s", control.version),
        "State": Variant("s", control.state),
        "Backend": Variant("s", control.backend_name),
        "Jails": Variant("as", [jail.name for jail in jails]),
        "BannedCount": Variant("u", u32(control.banned_count())),
        "BannedPrefixCount": Variant("u", u32(control.banned_prefix_count())),
        "StartedAtUSec": Variant("t", usec(control.started_at)),
        # How many, never which (account names are for managers: ListAccountsUnderAttack).
        "AccountsUnderAttack": Variant("u", u32(_accounts_under_attack(control, jails))),
    }


def _accounts_under_attack(control: AgentControl, jails: list[JailInfo]) -> int:
    # The offline view of the state database (cli.offline) has no detectors to ask.
    view = getattr(control, "detection_view", None)
    if view is None:
        return 0
    return sum(len(view.accounts_under_attack(j.name)) for j in jails)


def jail_properties(info: JailInfo, status: JailStatus) -> dict[str, Any]:
    """The Jail1 properties as plain values, keyed by property name."""
    return {
        "Name": info.name,
        "Enabled": info.enabled,
        "Filter": info.filter,
        "Sources": list(info.sources),
        "Ports": list(info.ports),
        "MaxRetry": u32(info.maxretry),
        "FindTimeUSec": usec(info.findtime),
        "BanTimeUSec": usec(info.bantime),
        "CurrentlyFailed": u32(status.currently_failed),
        "TotalFailed": max(0, status.total_failed),
        "CurrentlyBanned": u32(status.currently_banned),
        "TotalBanned": max(0, status.total_banned),
        "DroppedPackets": max(0, status.dropped_packets),
        "DroppedBytes": max(0, status.dropped_bytes),
        "LinesUnreadable": max(0, status.lines_unreadable),
    }


JAIL_PROPERTY_SIGNATURES = {
    "Name": "s",
    "Enabled": "b",
    "Filter": "s",
    "Sources": "as",
    "Ports": "as",
    "MaxRetry": "u",
    "FindTimeUSec": "t",
    "BanTimeUSec": "t",
    "CurrentlyFailed": "u",
    "TotalFailed": "t",
    "CurrentlyBanned": "u",
    "TotalBanned": "t",
    "DroppedPackets": "t",
    "DroppedBytes": "t",
    "LinesUnreadable": "t",
}


def jail_status_dict(info: JailInfo, status: JailStatus, bans: list[Ban]) -> dict[str, Variant]:
    """Jail1.GetStatus: every property, plus ``BannedAddresses`` and ``Protocols``."""
    values = jail_properties(info, status)
    out = {name: Variant(JAIL_PROPERTY_SIGNATURES[name], v) for name, v in values.items()}
    out["BannedAddresses"] = Variant("as", [ban.address for ban in bans])
    out["Protocols"] = Variant("as", list(info.protocols))
    return out


def network_arg(text: str) -> IPNetwork:
    """An address argument; raises ``DBusError(InvalidAddress)``."""
    try:
        return parse_network(text)
    except errors.AddressError as exc:
        raise DBusError(contract.INVALID_ADDRESS, str(exc)) from None


def jail_arg(text: str) -> str | None:
    """A jail argument where "" means every jail."""
    return text or None


def to_dbus_error(exc: BaseException) -> DBusError:
    """The D-Bus error a caller gets for an exception raised by the agent."""
    if isinstance(exc, DBusError):
        return exc
    if isinstance(exc, errors.NoSuchJail):
        return DBusError(contract.NO_SUCH_JAIL, str(exc))
    if isinstance(exc, errors.AddressNotPeer):
        return DBusError(contract.NOT_A_PEER, str(exc))
    if isinstance(exc, errors.AddressIgnored):
        return DBusError(contract.ADDRESS_IGNORED, str(exc))
    if isinstance(exc, errors.AddressError):
        return DBusError(contract.INVALID_ADDRESS, str(exc))
    if isinstance(exc, errors.NotBanned):
        return DBusError(contract.NOT_BANNED, str(exc) or "not banned")
    if isinstance(exc, errors.BackendError):
        return DBusError(contract.BACKEND_FAILED, str(exc))
    if isinstance(exc, errors.ConfigError):
        return DBusError(contract.CONFIG_INVALID, str(exc))
    if isinstance(exc, errors.LineTestTimeout):
        return DBusError(contract.TIMED_OUT, str(exc))
    if isinstance(exc, errors.RateLimited):
        return DBusError(contract.RATE_LIMITED, str(exc))
    if isinstance(exc, errors.JournalbanError):
        return DBusError(contract.FAILED, str(exc))
    # Never send a traceback or internals to a caller; the log has them.
    _log.error("D-Bus call failed unexpectedly", exc_info=exc)
    return DBusError(contract.FAILED, f"internal error: {type(exc).__name__}")
