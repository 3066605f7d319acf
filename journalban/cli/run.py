"""`journalban run`: the long-running agent."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from journalban.errors import ConfigError, JournalbanError

log = logging.getLogger("journalban")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the agent (what journalban.service starts)")
    p.add_argument(
        "--config",
        type=Path,
        help="main configuration file (default /etc/journalban/journalban.yaml)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="log ban decisions instead of changing the firewall"
    )
    p.add_argument("--no-bus", action="store_true", help="do not offer the D-Bus API")
    p.add_argument("--log-level", choices=["debug", "info", "notice", "warning", "error"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from journalban.agent.logs import setup_logging

    setup_logging(args.log_level or "info")
    try:
        return asyncio.run(_main(args))
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 78  # EX_CONFIG: systemd does not restart on a broken configuration
    except JournalbanError as exc:
        log.error("%s", exc)
        return 1


async def _main(args: argparse.Namespace) -> int:
    from journalban.agent.logs import setup_logging
    from journalban.agent.runtime import Agent
    from journalban.firewall.dryrun import DryRunBackend

    backend = DryRunBackend() if args.dry_run else None
    agent = Agent(args.config, backend=backend, bus=False if args.no_bus else None)
    if not args.log_level:
        setup_logging(agent.config.log_level)
    await agent.run()
    return 0
