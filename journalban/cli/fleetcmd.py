"""`journalban fleet`: the fleet's status, from the agent's ``Fleet`` property."""

from __future__ import annotations

import argparse
from typing import Any

from journalban.bus import contract
from journalban.cli.busclient import AgentClient, ClientError
from journalban.cli.client import _add

_SKIPPED = {
    "own": "own messages",
    "members": "member announcements",
    "malformed": "malformed",
    "oversized": "oversized",
    "rate_limited": "over an origin's rate",
    "member": "covering a member's address",
    "quorum_pending": "waiting for quorum",
    "ignored": "ignored here",
    "no_jail": "for a jail this host lacks",
    "expired": "expired",
    "duplicate": "already applied",
    "banned_here": "banned here already",
    "not_banned": "unbans of nothing",
}


def register(sub: Any) -> None:
    _add(sub, "fleet", _fleet, "the fleet: servers, published and applied bans, lag, outbox")


async def _fleet(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    (status,) = await agent.call(
        contract.MANAGER_PATH,
        "org.freedesktop.DBus.Properties",
        "Get",
        "ss",
        [contract.MANAGER_INTERFACE, "Fleet"],
    )
    if not status:
        raise ClientError("no fleet is configured on this host (the fleet: section)")
    return status, fleet_text(status)


def fleet_text(status: dict[str, Any]) -> str:
    """The status as lines for people."""
    state = (
        f"connected to {status.get('Server') or '?'}"
        if status.get("Connected")
        else "not connected"
    )
    lines = [
        f"Fleet {status.get('Name', '?')}, this host {status.get('Host', '?')}: {state}",
        f"  published {status.get('Published', 0)}, outbox {status.get('Outbox', 0)}",
        f"  applied {status.get('Applied', 0)}, lifted {status.get('Lifted', 0)},"
        f" stream position {status.get('Position', 0)}, lag {status.get('Lag', 0)}",
    ]
    if status.get("Withdrawn") or status.get("Purged"):
        lines.append(
            f"  withdrawn {status.get('Withdrawn', 0)} (their message left the stream),"
            f" purged {status.get('Purged', 0)} expired from the stream"
        )
    offset = float(status.get("ClockOffset", 0.0))
    clock = "agrees with" if status.get("ClockOk", True) else "DISAGREES with (corrected)"
    lines.append(f"  clock {clock} the servers' (offset {offset:+.3f} s)")
    skipped = status.get("Skipped") or {}
    if skipped:
        lines.append("  skipped: " + ", ".join(
            f"{n} {_SKIPPED.get(k, k)}" for k, n in sorted(skipped.items()) if k != "received"
        ))  # fmt: skip
    if status.get("LastError"):
        lines.append(f"  last error: {status['LastError']}")
    return "\n".join(lines)
