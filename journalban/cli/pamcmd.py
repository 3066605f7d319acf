"""`journalban pam-check`, as the parser and the manual know it.

`journalban.cli.main` runs `journalban.pamcheck` before building any parser
(pam_exec starts it once per login); this entry is for `--help` and for
journalban(8)'s synopsis, and takes the same options.
"""

from __future__ import annotations

import argparse

from journalban.pamcheck import SOCKET, TIMEOUT


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "pam-check",
        help="may this login go on? (run by pam_exec.so; see docs/enforcement.md)",
        description="Asks the agent's PAM check about the login in PAM_* (pam_exec's "
        "environment): exit 0 to go on, 1 refused. A login without PAM_RHOST always goes on.",
    )
    p.add_argument("--socket", default=SOCKET, help=f"the agent's socket (default {SOCKET})")
    p.add_argument(
        "--fail",
        choices=["open", "closed"],
        default="open",
        help="when the agent cannot answer and wrote no fail mode beside its socket",
    )
    p.add_argument("--timeout", default=str(TIMEOUT), help="seconds to wait for the answer")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from journalban.pamcheck import main

    return main(["--socket", args.socket, "--fail", args.fail, "--timeout", args.timeout])
