"""Fleet chores that need no running agent.

    journalban fleet-dropin [--config PATH]     the systemd drop-in for this host's servers
    journalban fleet-purge --user U --password-file F [--config PATH]
                                                delete the stream's expired bans (admin)

``fleet-dropin`` prints ``units/dropins/fleet.conf`` with ``IPAddressAllow=``
holding the addresses of the servers in ``fleet.servers`` (names resolved
now). ``fleet-purge`` is for the fleet's administrator (hosts may not delete
messages): run it from a timer with the admin user; it deletes the ban
messages whose expiry passed (unbans and member announcements stay, as a
joining host needs them).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from journalban.config.fleet import FleetConfig
from journalban.errors import ConfigError

DROPIN_HEAD = """\
# journalban drop-in: the fleet, ban sharing with the other hosts over NATS
# JetStream (the fleet: section of journalban.yaml).
# Install: /etc/systemd/system/journalban.service.d/fleet.conf, then put the
# addresses of YOUR fleet's NATS servers in IPAddressAllow= (the ones below are
# documentation examples; give addresses, as the filter is applied to packets,
# or prefixes). `journalban fleet-dropin` prints this file with the addresses of
# the configured servers. A server named by host name is resolved through
# systemd-resolved (AF_UNIX); without resolved, add your DNS servers as well.
# Opens: AF_INET and AF_INET6 sockets, to the listed addresses only
# (IPAddressDeny=any stays in force for every other address).
# Exposure (systemd-analyze security --offline=true): see docs/hardening.md.
# SELinux (Fedora, with the journalban module): setsebool -P journalban_fleet on
[Service]
RestrictAddressFamilies=AF_INET AF_INET6
"""
EXAMPLE_SERVERS = ("192.0.2.10", "192.0.2.11", "192.0.2.12")


def dropin_text(addresses: Sequence[str]) -> str:
    """The drop-in allowing ``addresses`` (the shipped file holds the examples)."""
    return DROPIN_HEAD + f"IPAddressAllow={' '.join(addresses)}\n"


def server_addresses(servers: Sequence[str]) -> list[str]:
    """The IP addresses of the servers' URLs, names resolved. Raises: OSError."""
    found: list[str] = []
    for url in servers:
        parts = urlsplit(url)
        host = parts.hostname or ""
        for *_, sockaddr in socket.getaddrinfo(host, parts.port or 4222, type=socket.SOCK_STREAM):
            address = str(sockaddr[0])
            if address not in found:
                found.append(address)
    return found


def register(sub: Any) -> None:
    p = sub.add_parser(
        "fleet-dropin",
        help="print the systemd drop-in that lets the agent reach the fleet's servers",
    )
    p.add_argument("--config", type=Path, help="configuration (default /etc/journalban)")
    p.set_defaults(func=_dropin)
    p = sub.add_parser(
        "fleet-purge", help="delete the expired bans from the fleet's stream (administrator)"
    )
    p.add_argument("--config", type=Path, help="configuration (default /etc/journalban)")
    p.add_argument("--user", help="the administrator's NATS user")
    p.add_argument("--password-file", type=Path, help="a file holding its password")
    p.add_argument("--credentials", type=Path, help="or a NATS .creds file")
    p.set_defaults(func=_purge)


def _fleet(args: argparse.Namespace) -> FleetConfig | None:
    from journalban.config.loader import load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"journalban {args.command}: {exc}", file=sys.stderr)
        return None
    if config.fleet is None:
        print(f"journalban {args.command}: no fleet: section in the configuration", file=sys.stderr)
    return config.fleet


def _dropin(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    if fleet is None:
        return 1
    try:
        addresses = server_addresses(fleet.servers)
    except OSError as exc:
        print(f"journalban fleet-dropin: cannot resolve a server: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(dropin_text(addresses))
    return 0


def _purge(args: argparse.Namespace) -> int:
    fleet = _fleet(args)
    if fleet is None:
        return 1
    try:
        from journalban.fleet.purge import purge_expired
    except ImportError as exc:
        print(f"journalban fleet-purge: needs nats-py (journalban[fleet]): {exc}", file=sys.stderr)
        return 1
    password = args.password_file.read_text().strip() if args.password_file else None
    try:
        deleted, kept = asyncio.run(
            purge_expired(fleet, args.user, password, args.credentials, time.time())
        )
    except Exception as exc:
        print(f"journalban fleet-purge: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {deleted} expired ban(s); {kept} message(s) kept")
    return 0
