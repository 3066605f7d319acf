"""Known-good pairs and accounts under attack, over D-Bus (for managers).

    journalban known-good [list] [--jail JAIL]        the (account, network) pairs that logged in
    journalban known-good forget ACCOUNT|ADDRESS      forget an account's pairs, or a network's
    journalban under-attack [list] [--jail JAIL]      accounts under attack, since and until when
    journalban under-attack end ACCOUNT               end an account's attack state

Account names are often passwords typed in the wrong field: the agent gives
them only to callers allowed ``org.jailban.manage``; ``journalban status``
shows everyone how many accounts are under attack.
"""

from __future__ import annotations

import argparse
from typing import Any

from journalban.cli.busclient import AgentClient
from journalban.cli.client import _add
from journalban.cli.clientview import format_time


def register(sub: Any) -> None:
    p = _add(sub, "known-good", _known_good, "list or forget known-good (account, network) pairs")
    p.add_argument("action", nargs="?", choices=["list", "forget"], default="list")
    p.add_argument("what", nargs="?", metavar="ACCOUNT|ADDRESS", help="for forget")
    p.add_argument("--jail", default="", help="only this jail (default: every jail)")
    p = _add(sub, "under-attack", _under_attack, "list accounts under attack, or end one's attack")
    p.add_argument("action", nargs="?", choices=["list", "end"], default="list")
    p.add_argument("account", nargs="?", metavar="ACCOUNT", help="for end")
    p.add_argument("--jail", default="", help="only this jail (default: every jail)")


def _usage(args: argparse.Namespace, what: str) -> None:
    from journalban.cli.busclient import ClientError

    raise ClientError(f"{args.command} {args.action} needs {what}", exit_code=2)


async def _known_good(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    if args.action == "forget":
        if not args.what:
            _usage(args, "an account, address or network")
        (n,) = await agent.manager("ForgetKnownGood", "ss", [args.jail, args.what])
        return {"forgotten": n}, f"forgot {n} known-good pair{'s' if n != 1 else ''}"
    (pairs,) = await agent.manager("ListKnownGood", "s", [args.jail])
    data = [{"jail": j, "account": a, "network": n, "last_login_usec": t} for j, a, n, t in pairs]
    lines = [f"{j}\t{a!r}\t{n}\t{format_time(t)}" for j, a, n, t in pairs]
    return data, "\n".join(lines) if lines else "no known-good pairs"


async def _under_attack(agent: AgentClient, args: argparse.Namespace) -> tuple[Any, str]:
    if args.action == "end":
        if not args.account:
            _usage(args, "an account")
        (n,) = await agent.manager("EndAccountAttack", "ss", [args.jail, args.account])
        return {"ended": n}, f"ended the attack state in {n} jail{'s' if n != 1 else ''}"
    (accounts,) = await agent.manager("ListAccountsUnderAttack", "s", [args.jail])
    data = [{"jail": j, "account": a, "since_usec": s, "until_usec": u} for j, a, s, u in accounts]
    lines = [
        f"{j}\t{a!r}\tsince {format_time(s)}\tuntil {format_time(u)}" for j, a, s, u in accounts
    ]
    return data, "\n".join(lines) if lines else "no account is under attack"
