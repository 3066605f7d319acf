"""How the client commands show what the agent said: trees, tables, JSON-ready records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

USEC = 1_000_000


def ban_record(struct: Sequence[Any]) -> dict[str, Any]:
    """A ``(ssttus)`` ban as a JSON-ready record."""
    address, jail, banned_at, expires_at, count, reason = struct
    return {
        "address": address,
        "jail": jail,
        "banned_at_usec": banned_at,
        "expires_at_usec": expires_at,
        "ban_count": count,
        "reason": reason,
    }


def format_time(usec: int) -> str:
    """A D-Bus time as local time; 0 means never (a permanent ban)."""
    if not usec:
        return "permanent"
    return datetime.fromtimestamp(usec / USEC).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns, two spaces apart."""
    cells = [[str(h) for h in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def bans_table(bans: Sequence[dict[str, Any]]) -> str:
    rows = [
        (
            b["address"],
            b["jail"],
            format_time(b["banned_at_usec"]),
            format_time(b["expires_at_usec"]),
            b["ban_count"],
            b["reason"],
        )
        for b in bans
    ]
    return table(("ADDRESS", "JAIL", "BANNED", "EXPIRES", "COUNT", "REASON"), rows)


def overall_tree(status: dict[str, Any]) -> str:
    """``journalban status``: the agent and its jails, as fail2ban-client shows them."""
    jails = status.get("Jails", [])
    backend = status.get("Backend", "")
    if backend == "dry-run":
        backend += " (a dry run: nothing is banned in the firewall, no action runs)"
    lines = [
        "Status",
        f"|- Version:\t{status.get('Version', '')}",
        f"|- State:\t{status.get('State', '')}",
        f"|- Backend:\t{backend}",
        f"|- Currently banned:\t{status.get('BannedCount', 0)}",
        f"|- Accounts under attack:\t{status.get('AccountsUnderAttack', 0)}",
    ]
    if UNREADABLE in status:  # (not from the state database: the agent counts them as it reads)
        lines.append(f"|- Unreadable lines:\t{status[UNREADABLE]}")
    lines += [
        f"|- Number of jails:\t{len(jails)}",
        f"`- Jail list:\t{', '.join(_recidive_named(jails))}",
    ]
    return "\n".join(lines)


# Lines (or journal entries) of the sources that could not be decoded or parsed, since the
# agent started: a Jail1 property; ``journalban status`` shows every jail's summed.
UNREADABLE = "LinesUnreadable"


def _recidive_named(jails: Sequence[str]) -> list[str]:
    return [j + " (fed by the other jails' bans)" if j == "recidive" else j for j in jails]


def split_sources(sources: Sequence[str]) -> tuple[list[str], list[str]]:
    """Journal match groups and file globs (files are absolute paths)."""
    files = [s for s in sources if s.startswith("/")]
    return [s for s in sources if not s.startswith("/")], files


def jail_tree(status: dict[str, Any]) -> str:
    """``journalban status JAIL``: failures, sources, bans and the banned list."""
    matches, files = split_sources(status.get("Sources", []))
    lines = [
        f"Status for the jail: {status.get('Name', '')}",
        "|- Filter",
        f"|  |- Currently failed:\t{status.get('CurrentlyFailed', 0)}",
        f"|  |- Total failed:\t{status.get('TotalFailed', 0)}",
    ]
    if UNREADABLE in status:
        lines.append(f"|  |- Unreadable lines:\t{status[UNREADABLE]}")
    if list(status.get("Sources", [])) == [RECIDIVE_SOURCE]:
        lines.append(f"|  `- Fed by:\t{RECIDIVE_SOURCE} (the other jails' ban decisions)")
    elif matches and files:
        lines.append(f"|  |- Journal matches:\t{' + '.join(matches)}")
        lines.append(f"|  `- File list:\t{' '.join(files)}")
    elif files:
        lines.append(f"|  `- File list:\t{' '.join(files)}")
    else:
        lines.append(f"|  `- Journal matches:\t{' + '.join(matches)}")
    lines += [
        "`- Actions",
        f"   |- Currently banned:\t{status.get('CurrentlyBanned', 0)}",
        f"   |- Total banned:\t{status.get('TotalBanned', 0)}",
        f"   `- Banned IP list:\t{' '.join(status.get('BannedAddresses', []))}",
    ]
    return "\n".join(lines)


# What recidive reads: the agent's own ban decisions (JailInfo.sources of it).
RECIDIVE_SOURCE = "journalban's own bans"


def source_kind(sources: Sequence[str]) -> str:
    if list(sources) == [RECIDIVE_SOURCE]:
        return "bans"  # recidive: fed by the decisions, not by a log
    matches, files = split_sources(sources)
    if matches and files:
        return "journal+file"
    return "file" if files else "journal"


def stats_record(props: dict[str, Any]) -> dict[str, Any]:
    """One jail's row of ``journalban stats``, JSON-ready."""
    return {
        "jail": props.get("Name", ""),
        "source": source_kind(props.get("Sources", [])),
        "failures_current": props.get("CurrentlyFailed", 0),
        "failures_total": props.get("TotalFailed", 0),
        "bans_current": props.get("CurrentlyBanned", 0),
        "bans_total": props.get("TotalBanned", 0),
        "packets_dropped": props.get("DroppedPackets", 0),
        "bytes_dropped": props.get("DroppedBytes", 0),
    }


def stats_table(records: Sequence[dict[str, Any]]) -> str:
    rows = [
        (
            r["jail"],
            r["source"],
            f"{r['failures_current']}/{r['failures_total']}",
            f"{r['bans_current']}/{r['bans_total']}",
            r["packets_dropped"],
        )
        for r in records
    ]
    return table(("JAIL", "SOURCE", "FAILURES", "BANS", "DROPPED"), rows)


RECENT_SHOWN = 5  # commands `journalban status` lists


def recent_commands_text(commands: Sequence[dict[str, Any]]) -> str:
    """``Recent commands:`` and one line each: when, what, on what, by whom."""
    lines = ["Recent commands:"]
    for c in commands:
        who = f"uid {c['uid']}" if c["uid"] is not None else "unknown uid"
        what = f" {c['what']}" if c["what"] else ""
        lines.append(
            f"  {format_time(c['time_usec'])}  {c['command']}{what}  by {who} ({c['bus_name']})"
        )
    return "\n".join(lines)
