"""The ``fleet:`` section: ban sharing over NATS JetStream (off when absent).

Only ``servers`` and ``name`` are required. Validated here, with the file and
line of the first wrong key, as the rest of the configuration is.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from journalban.config.durations import parse_duration
from journalban.config.schema import FLEET_JAIL as FLEET_JAIL
from journalban.config.values import Reader, boolean, int_in, network_list, opt_text, text_list

FLEET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The jail a remote ban lands in when this host lacks its jail and
# ``remote_all_ports`` is set: all ports, like recidive.
FLEET_KEYS = {
    "servers", "credentials", "user", "password_file", "tls", "name", "host", "share",
    "publish_manual", "apply", "quorum", "quorum_window", "remote_all_ports", "addresses",
    "ban_rate", "ban_burst", "unban_rate", "unban_burst", "max_clock_offset", "max_age",
    "purge",
}  # fmt: skip
SCHEMES = ("nats", "tls")


@dataclass(frozen=True, slots=True)
class FleetTLS:
    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class FleetPurge:
    """This host also deletes the stream's expired bans, as the administrator's user."""

    credentials: str | None = None
    user: str | None = None
    password_file: str | None = None
    every: float = 3600.0


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Where the fleet's NATS servers are and what this host shares and takes."""

    servers: tuple[str, ...]
    name: str
    host: str
    credentials: str | None = None
    user: str | None = None
    password_file: str | None = None
    tls: FleetTLS | None = None
    share: tuple[str, ...] | None = None  # None: every jail but recidive
    publish_manual: bool = False
    apply: bool = True
    quorum: int = 1
    quorum_window: float = 3600.0
    remote_all_ports: bool = False
    addresses: tuple[str, ...] = ()  # this host's addresses besides its interfaces'
    # Per origin host, by the server's timestamps: bans and unbans a second, and bursts.
    ban_rate: float = 200.0
    ban_burst: int = 20_000
    unban_rate: float = 2.0
    unban_burst: int = 100
    max_clock_offset: float = 2.0
    max_age: float = 30 * 86400.0  # the stream keeps a ban message this long at most
    purge: FleetPurge | None = None

    @property
    def stream(self) -> str:
        return f"JOURNALBAN_{self.name}"

    @property
    def prefix(self) -> str:
        return f"journalban.{self.name}"

    def shares(self, jail: str) -> bool:
        from journalban.decisions.engine import RECIDIVE

        return jail != RECIDIVE if self.share is None else jail in self.share


def default_host() -> str:
    """The short host name with anything outside [A-Za-z0-9_-] made a dash."""
    short = socket.gethostname().split(".")[0] or "host"
    return re.sub(r"[^A-Za-z0-9_-]", "-", short)[:64]


def _token(what: str) -> Any:
    def convert(v: Any) -> str:
        if not isinstance(v, str) or not FLEET_TOKEN.fullmatch(v):
            raise ValueError(f"{what} must be 1-64 of A-Z a-z 0-9 _ -, not {v!r}")
        return v

    return convert


def _servers(v: Any) -> tuple[str, ...]:
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise ValueError("must be a list of nats://host:port URLs")
    for item in items:
        url = urlsplit(item) if isinstance(item, str) else None
        if url is None or url.scheme not in SCHEMES or not url.hostname:
            raise ValueError(f"not a nats:// or tls:// URL: {item!r}")
        try:
            url.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError(f"bad port in {item!r}") from None
    return tuple(items)


def _addresses(v: Any) -> tuple[Any, ...]:
    networks: tuple[Any, ...] = network_list(v)
    for network in networks:
        if network.prefixlen != network.max_prefixlen:
            raise ValueError(f"addresses, not prefixes: {network} (members announce addresses)")
    return tuple(n.network_address for n in networks)


def _rate(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1e7:
        raise ValueError(f"must be a positive number (per second), not {v!r}")
    return float(v)


def _seconds(v: Any) -> float:
    result = parse_duration(v)
    if not result:
        raise ValueError(f"must be a positive duration, not {v!r}")
    return result


def parse_fleet(top: Reader, jails: Mapping[str, Any]) -> FleetConfig | None:
    """The ``fleet:`` section of the top-level reader, or None when absent.

    Each problem goes to the reader's errors, at its line (all reported together).
    """

    if top.data.get("fleet") is None:
        return None
    r = top.section("fleet", FLEET_KEYS)
    missing = [key for key in ("servers", "name") if key not in r.data]
    for key in missing:
        top.report("fleet", f"fleet.{key} is required")
    if missing:
        return None
    tls = None
    if r.data.get("tls") is not None:
        t = r.section("tls", {"ca", "cert", "key"})
        tls = FleetTLS(t.get("ca", None, opt_text), t.get("cert", None, opt_text),
                       t.get("key", None, opt_text))  # fmt: skip
        if (tls.cert is None) != (tls.key is None):
            r.report("tls", "cert and key go together")
    purge = None
    if r.data.get("purge") is not None:
        pr = r.section("purge", {"credentials", "user", "password_file", "every"})
        purge = FleetPurge(
            pr.get("credentials", None, opt_text), pr.get("user", None, opt_text),
            pr.get("password_file", None, opt_text), pr.get("every", 3600.0, _seconds),
        )  # fmt: skip
        if (purge.credentials is None) == (purge.user is None):
            r.report("purge", "give the administrator's credentials or user/password_file")
    share = r.get("share", None, text_list)
    for jail in share or ():
        if jail not in jails:
            r.report("share", f"no such jail: {jail!r}")
    if "user" in r.data and "credentials" in r.data:
        r.report("user", "give credentials or user/password_file, not both")
    config = FleetConfig(
        servers=r.get("servers", (), _servers),
        name=r.get("name", "", _token("fleet.name")),
        host=r.get("host", None, _token("fleet.host")) or default_host(),
        credentials=r.get("credentials", None, opt_text),
        user=r.get("user", None, opt_text),
        password_file=r.get("password_file", None, opt_text),
        tls=tls,
        share=share,
        publish_manual=r.get("publish_manual", False, boolean),
        apply=r.get("apply", True, boolean),
        quorum=r.get("quorum", 1, int_in(1, 100)),
        quorum_window=r.get("quorum_window", 3600.0, _seconds),
        remote_all_ports=r.get("remote_all_ports", False, boolean),
        addresses=tuple(str(n) for n in r.get("addresses", (), _addresses)),
        ban_rate=r.get("ban_rate", 200.0, _rate),
        ban_burst=r.get("ban_burst", 20_000, int_in(1, 10_000_000)),
        unban_rate=r.get("unban_rate", 2.0, _rate),
        unban_burst=r.get("unban_burst", 100, int_in(1, 10_000_000)),
        max_clock_offset=r.get("max_clock_offset", 2.0, _seconds),
        max_age=r.get("max_age", 30 * 86400.0, _seconds),
        purge=purge,
    )
    if config.remote_all_ports and FLEET_JAIL in jails:
        r.report("remote_all_ports", f"a jail named {FLEET_JAIL!r} is reserved for it")
    return config
