"""The commands that drive a running agent over D-Bus (org.jailban).

    journalban status [JAIL]                 the agent, or one jail, as a tree
    journalban ban JAIL ADDRESS [--time 1h]  ban by hand (--permanent, --force)
    journalban unban ADDRESS [JAIL]          lift bans (every jail when JAIL is left out)
    journalban unban --all [JAIL]            lift every ban
    journalban unban ADDRESS --fleet         lift it on every host of the fleet
    journalban banned [ADDRESS]              active bans, or those covering ADDRESS
    journalban stats                         per-jail counters
    journalban reload                        reload the configuration

Every command takes --json. They talk to the system bus, or to the bus in
DBUS_SYSTEM_BUS_ADDRESS. Exit status: 0 done, 1 refused or failed, 2 a usage
error, 3 the agent or the bus is not there. Then status, banned and stats say
so and show the state database instead, read-only (still exit 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from dbus_fast import Variant

from journalban.bus import contract
from journalban.cli import clientview as view
from journalban.cli.busclient import EXIT_UNREACHABLE, AgentClient, ClientError
from journalban.cli.reloadsignal import reload_by_signal
from journalban.config.durations import parse_duration

Command = Callable[[AgentClient, argparse.Namespace], Awaitable[tuple[Any, str]]]


def register(sub: Any) -> None:
    """Add the client subcommands: status, ban, unban, banned, stats, reload."""
    p = _add(sub, "status", _status, "show the agent's or a jail's status")
    p.add_argument("jail", nargs="?", metavar="JAIL")
    _state_config(p)
    p = _add(sub, "ban", _ban, "ban an address (or a CIDR prefix) in a jail")
    p.add_argument("jail", metavar="JAIL")
    p.add_argument("address", metavar="ADDRESS")
    p.add_argument("--time", help="ban length: 600, 10m, 1h, 1d... (default: the jail's bantime)")
    p.add_argument("--permanent", action="store_true", help="ban until unbanned by hand")
    p.add_argument("--comment", default="", help="a note stored with the ban")
    p.add_argument("--force", action="store_true", help="ban even an address in ignoreip")
    p = _add(sub, "unban", _unban, "lift bans of an address, or every ban with --all")
    p.add_argument("address", nargs="?", metavar="ADDRESS")
    p.add_argument("jail", nargs="?", metavar="JAIL", help="only this jail (default: every jail)")
    p.add_argument("--all", action="store_true", help="lift every ban (of JAIL, if given)")
    p.add_argument(
        "--fleet", action="store_true", help="lift it on every host of the fleet, not only here"
    )
    p = _add(sub, "banned", _banned, "list active bans, or the bans covering ADDRESS")
    p.add_argument("address", nargs="?", metavar="ADDRESS")
    _state_config(p)
    _state_config(_add(sub, "stats", _stats, "per-jail counters: failures, bans, dropped packets"))
    p = _add(sub, "reload", _reload, "reload the configuration")
    p.add_argument(
        "--pid",
        type=int,
        help="the agent's process ($MAINPID in the unit's ExecReload=): when the agent is "
        "not on the bus, send it SIGHUP instead (its errors then go to the journal only)",
    )


def _state_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        help="configuration naming the state_dir read when the agent is not on the bus "
        "(default /etc/journalban/journalban.yaml)",
    )


def _add(sub: Any, name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=lambda args: run(command, args))
    return parser


def run(command: Command, args: argparse.Namespace) -> int:
    """Run one client command; print its result, or a readable error on stderr."""

    async def call() -> tuple[Any, str]:
        async with AgentClient() as agent:
            return await command(agent, args)

    try:
        data, text = asyncio.run(call())
    except ClientError as exc:
        if exc.exit_code == EXIT_UNREACHABLE and args.command in READS_STATE:
            return _from_state(args, exc)
        if exc.exit_code == EXIT_UNREACHABLE and getattr(args, "pid", None):
            return reload_by_signal(args.pid, str(exc))
        _error(args, exc.name or _kind(exc.exit_code), str(exc))
        return exc.exit_code
    _show(args, data, text)
    return 0


# Commands that can answer from the state database when the agent is not on the bus.
READS_STATE = ("status", "banned", "stats")


def _kind(exit_code: int) -> str:
    return "unreachable" if exit_code == EXIT_UNREACHABLE else "refused"


def _error(args: argparse.Namespace, name: str, message: str, **more: str) -> None:
    """An error on stderr: a line for people, or one JSON object (``error``, ``message``)."""
    if args.json:
        json.dump({"error": name, "message": message, **more}, sys.stderr)
        sys.stderr.write("\n")
    else:
        print(f"journalban {args.command}: {message}", file=sys.stderr)


def _show(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=2, sort_keys=True)
        sys.stdout.write("\n")
    elif text:
        print(text)


def _from_state(args: argparse.Namespace, unreachable: ClientError) -> int:
    """Say plainly that the agent is not on the bus, then show its state database."""
    from journalban.cli import offline
    from journalban.errors import AddressError, NoSuchJail

    try:
        snapshot = offline.open_snapshot(args.config)
        data, text = offline.answer(snapshot, args)
    except offline.OfflineError as exc:
        _error(args, "unreachable", f"{unreachable}; {exc}")
        return EXIT_UNREACHABLE
    except (NoSuchJail, AddressError) as exc:
        _error(args, "unreachable", f"{unreachable}; and from the state database: {exc}")
        return EXIT_UNREACHABLE
    kind = "a dry run's state" if snapshot.dry_run else "the state database"
    pids = offline.running_agents(args.config)
    if pids:
        why = (
            f"journalban runs with this configuration (pid {', '.join(map(str, pids))}) but "
            "not on the bus: started with --no-bus or bus: false, or on another bus"
        )
    else:
        why = f"no answer over D-Bus ({unreachable})"
    note = (
        f"{why}; showing {kind} {snapshot.path} instead, read-only: what the agent last "
        "committed (an agent started with --no-bus or bus: false has no D-Bus API)"
    )
    if snapshot.config_note:
        note += f"; {snapshot.config_note}"
    _error(args, "unreachable", note, state_database=str(snapshot.path))
    _show(args, data, text)
    return EXIT_UNREACHABLE


async def _status(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    if args.jail is None:
        (status,) = await agent.manager("GetStatus")
        unreadable = await _unreadable_lines(agent)
        if unreadable is not None:
            status = {**status, view.UNREADABLE: unreadable}
        text = view.overall_tree(status)
        if status.get("AccountsUnderAttack"):
            # Which accounts: for managers only (never asking for a password to show them).
            try:
                (accounts,) = await agent.manager(
                    "ListAccountsUnderAttack", "s", [""], interactive=False
                )
            except ClientError:
                accounts = None
            if accounts is not None:
                status = {**status, "AccountsUnderAttackList": [[j, a] for j, a, _, _ in accounts]}
                text += "\nAccounts under attack:\n" + "\n".join(
                    f"  {j}: {a!r}" for j, a, _, _ in accounts
                )
        commands = await _recent_commands(agent)
        if commands:
            status = {**status, "RecentCommands": commands}
            text += "\n" + view.recent_commands_text(commands)
        return status, text
    jails = dict(await _jail_paths(agent))
    if args.jail not in jails:
        raise ClientError(f"no such jail: {args.jail}", name="org.jailban.Error.NoSuchJail")
    (status,) = await agent.call(jails[args.jail], "org.jailban.Jail1", "GetStatus")
    return status, view.jail_tree(status)


async def _unreadable_lines(agent: AgentClient) -> int | None:
    """Every jail's ``LinesUnreadable`` summed, read in one call (None: an agent without it)."""
    try:
        (objects,) = await agent.call(
            contract.MANAGER_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
            interactive=False,
        )  # fmt: skip
    except ClientError:
        return None
    counts = [
        interfaces[contract.JAIL_INTERFACE][view.UNREADABLE]
        for interfaces in objects.values()
        if view.UNREADABLE in interfaces.get(contract.JAIL_INTERFACE, {})
    ]
    return sum(counts) if counts else None


async def _recent_commands(agent: AgentClient) -> list[dict[str, Any]]:
    """Who did what lately (for managers; others, never asked for a password, see nothing)."""
    try:
        (records,) = await agent.manager("ListRecentCommands", interactive=False)
    except ClientError:
        return []
    return [
        {"time_usec": at, "command": kind, "uid": None if uid == 0xFFFFFFFF else uid,
         "bus_name": name, "what": what}
        for at, kind, uid, name, what in records[-view.RECENT_SHOWN :]
    ]  # fmt: skip


async def _jail_paths(agent: AgentClient) -> list[tuple[str, str]]:
    (jails,) = await agent.manager("ListJails")
    return [(name, path) for name, path in jails]


async def _ban(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    duration_usec = 0
    if args.time is not None:
        try:
            seconds = parse_duration(args.time)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        duration_usec = round((seconds or 0) * 1_000_000)
        if duration_usec == 0:
            raise ClientError("--time must be longer than 0 (use --permanent for no expiry)")
    options: dict[str, Variant] = {}
    if args.permanent:
        options["permanent"] = Variant("b", True)
    if args.comment:
        options["comment"] = Variant("s", args.comment)
    if args.force:
        options["force"] = Variant("b", True)
    await agent.manager("Ban", "ssta{sv}", [args.jail, args.address, duration_usec, options])
    (found,) = await agent.manager("QueryBan", "s", [args.address])
    bans = [view.ban_record(b) for b in found if b[1] == args.jail]
    until = view.format_time(bans[0]["expires_at_usec"]) if bans else "?"
    return bans, f"banned {args.address} in {args.jail} until {until}"


async def _unban(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    if args.fleet:
        if args.all or args.address is None:
            raise ClientError("--fleet lifts the bans of one ADDRESS (not --all)")
        (lifted,) = await agent.manager("UnbanFleet", "ss", [args.address, args.jail or ""])
        return {"lifted": lifted, "fleet": True}, (
            f"lifted {lifted} ban(s) of {args.address} here; the unban is sent to the fleet"
        )
    if args.all:
        # With --all the one positional names the jail: `unban --all sshd`.
        jail = args.jail or args.address or ""
        (lifted,) = await agent.manager("UnbanAll", "s", [jail])
        where = f" in {jail}" if jail else ""
        return {"lifted": lifted}, f"lifted {lifted} ban(s){where}"
    if args.address is None:
        raise ClientError("give an ADDRESS, or --all")
    (lifted,) = await agent.manager("Unban", "ss", [args.address, args.jail or ""])
    return {"lifted": lifted}, f"lifted {lifted} ban(s) of {args.address}"


async def _banned(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    if args.address is None:
        (found,) = await agent.manager("ListBans", "s", [""])
    else:
        (found,) = await agent.manager("QueryBan", "s", [args.address])
    bans = [view.ban_record(b) for b in found]
    if not bans:
        return bans, "no bans" if args.address is None else f"{args.address} is not banned"
    return bans, view.bans_table(bans)


async def _stats(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    records = [
        view.stats_record(await agent.jail_properties(name))
        for name, _path in await _jail_paths(agent)
    ]
    return records, view.stats_table(records)


async def _reload(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    # Under systemd (--pid) the unit is running: activating it again would only wait.
    await agent.manager("Reload", autostart=args.pid is None)
    return {"reloaded": True}, "reloaded"
