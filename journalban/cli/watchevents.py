"""What `journalban watch` prints: the agent's signals as events, one per line.

Pure functions from a signal's member and body (as the bus delivered them)
to an event dictionary, and from an event to a line for people. The keys are
the same for every event; those that do not apply are None (null in JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from journalban.cli.busclient import plain

EVENT_KEYS = ("event", "time", "jail", "address", "reason", "until", "origin", "state")


def iso(seconds: float) -> str:
    """Seconds since the epoch as local ISO 8601 with its UTC offset."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _event(kind: str, now: float, **values: Any) -> dict[str, Any]:
    event: dict[str, Any] = dict.fromkeys(EVENT_KEYS)
    event.update(values, event=kind, time=iso(now))
    return event


def banned_event(body: list[Any], now: float) -> dict[str, Any]:
    """``Banned(s address, s jail, t expires_at_usec, a{sv} details)``."""
    address, jail, expires_usec, details = (plain(v) for v in body)
    return _event(
        "ban",
        now,
        jail=str(jail),
        address=str(address),
        reason=details.get("reason") or None,
        until=iso(int(expires_usec) / 1_000_000) if expires_usec else None,
        origin=details.get("source") or None,
    )


def banned_many_events(body: list[Any], now: float) -> list[dict[str, Any]]:
    """``BannedMany(a(ssta{sv}) bans)``: a ``ban`` event per element, in order, each as
    its ``Banned`` signal's; an element of another shape is skipped."""
    if len(body) != 1 or not isinstance(body[0], list):
        return []
    return [
        banned_event(list(ban), now)
        for ban in body[0]
        if isinstance(ban, (list, tuple)) and len(ban) == 4
    ]


def unbanned_event(body: list[Any], now: float) -> dict[str, Any]:
    """``Unbanned(s address, s jail, s reason)``: reason is expired, manual or flush."""
    address, jail, reason = (plain(v) for v in body)
    return _event("unban", now, jail=str(jail), address=str(address), reason=str(reason) or None)


def reload_event(now: float) -> dict[str, Any]:
    return _event("reload", now)


def state_event(state: str, now: float) -> dict[str, Any]:
    """The agent's ``State`` property changed; "stopped" when it left the bus."""
    return _event("state", now, state=state)


def signal_events(member: str, body: list[Any], now: float) -> list[dict[str, Any]]:
    """The events of a Manager1 signal: a ``BannedMany``'s bans, else ``signal_event``'s."""
    if member == "BannedMany":
        return banned_many_events(body, now)
    event = signal_event(member, body, now)
    return [] if event is None else [event]


def signal_event(member: str, body: list[Any], now: float) -> dict[str, Any] | None:
    """The event for a Manager1 signal of one event, or None for a signal watch does not
    show (``BannedMany``: ``signal_events``)."""
    if member == "Banned" and len(body) == 4:
        return banned_event(body, now)
    if member == "Unbanned" and len(body) == 3:
        return unbanned_event(body, now)
    if member == "Reloaded":
        return reload_event(now)
    return None


def state_from_properties(body: list[Any]) -> str | None:
    """The new State from ``PropertiesChanged(s, a{sv}, as)``, when it is among the changes."""
    if len(body) < 2 or not isinstance(body[1], dict) or "State" not in body[1]:
        return None
    return str(plain(body[1]["State"]))


def event_text(event: dict[str, Any]) -> str:
    """One line for people: time, what happened, and what it concerns."""
    kind = event["event"]
    head = f"{event['time']} {kind}"
    if kind == "ban":
        until = f"until {event['until']}" if event["until"] else "permanently"
        why = ", ".join(str(event[k]) for k in ("reason", "origin") if event[k])
        return f"{head} {event['address']} in {event['jail']} {until}" + (
            f" ({why})" if why else ""
        )
    if kind == "unban":
        return f"{head} {event['address']} in {event['jail']} ({event['reason'] or 'unknown'})"
    if kind == "state":
        return f"{head} {event['state']}"
    return head
