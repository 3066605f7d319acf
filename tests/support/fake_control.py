"""An in-memory ``AgentControl`` for the D-Bus tests: the ban semantics without a firewall.

It keeps the contract's rules (the expiry only grows, ``ignoreip`` refuses
unless forced, own and local addresses are never banned, unban counts what it
lifted) so the bus layer can be tested against a faithful partner before the
real agent exists.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Sequence

from journalban import errors
from journalban.addresses import IPNetwork, format_network, is_prefix, parse_network
from journalban.agent.api import AgentListener, JailInfo, JailStatus, LineTest, RecentFailure
from journalban.agent.callers import CommandLog, CommandRecord
from journalban.clock import Clock, SystemClock
from journalban.events import Ban

_OWN = tuple(parse_network(n) for n in ("127.0.0.0/8", "::1"))
_HOST_RE = re.compile(r"from (?P<host>[0-9a-fA-F:.]+)")


def sample_jails() -> list[JailInfo]:
    """Two jails, one of them with a name that needs escaping on the bus."""
    return [
        JailInfo(
            name="sshd",
            enabled=True,
            filter="sshd",
            sources=("_SYSTEMD_UNIT=ssh.service",),
            ports=("ssh",),
            protocols=("tcp",),
            maxretry=5,
            findtime=600.0,
            bantime=3600.0,
        ),
        JailInfo(
            name="web-auth",
            enabled=True,
            filter="nginx-http-auth",
            sources=("/var/log/nginx/error.log",),
            ports=("80", "443"),
            protocols=("tcp",),
            maxretry=3,
            findtime=300.0,
            bantime=None,
        ),
    ]


class FakeControl:
    """AgentControl over dictionaries; ``ignored`` plays the jails' ``ignoreip``."""

    version = "0.1.0-test"
    backend_name = "dryrun"

    def __init__(
        self,
        jails: Sequence[JailInfo] | None = None,
        *,
        clock: Clock | None = None,
        ignored: Sequence[str] = ("192.0.2.0/24",),
    ) -> None:
        self._clock = clock or SystemClock()
        self._jails = {j.name: j for j in (jails if jails is not None else sample_jails())}
        self._status = {name: JailStatus() for name in self._jails}
        self._bans: dict[tuple[str, IPNetwork], Ban] = {}
        self._details: dict[tuple[str, IPNetwork], dict[str, object]] = {}
        self._listeners: list[AgentListener] = []
        self.ignored = [parse_network(n) for n in ignored]
        self.started_at = self._clock.now()
        self.state_value = "running"
        self.next_config: list[JailInfo] | None = None
        self.reload_error: errors.ConfigError | None = None
        self.fleet_unbans: list[tuple[str, str | None]] = []
        self._detection = FakeDetectionView()
        self.failures: dict[
            str, list[RecentFailure]
        ] = {}  # jail -> its recent failures, newest first
        self.commands = CommandLog()

    @property
    def state(self) -> str:
        return self.state_value

    def jails(self) -> list[JailInfo]:
        return list(self._jails.values())

    def _jail(self, name: str) -> JailInfo:
        if name not in self._jails:
            raise errors.NoSuchJail(name)
        return self._jails[name]

    def jail_status(self, jail: str) -> JailStatus:
        self._jail(jail)
        return self._status[jail]

    def banned_count(self) -> int:
        return len(self._bans)

    def banned_prefix_count(self) -> int:
        return sum(1 for b in self._bans.values() if is_prefix(b.network))

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        if jail is not None:
            self._jail(jail)
        return sorted(
            (b for b in self._bans.values() if jail is None or b.jail == jail),
            key=lambda b: (b.jail, b.banned_at, b.address),
        )

    def active_bans(self) -> list[Ban]:
        return list(self._bans.values())

    def query_ban(self, network: IPNetwork) -> list[Ban]:
        return [
            b
            for b in self._bans.values()
            if b.network.version == network.version and network.subnet_of(b.network)  # type: ignore[arg-type]
        ]

    async def ban(
        self,
        jail: str,
        network: IPNetwork,
        duration: float | None = None,
        *,
        permanent: bool = False,
        comment: str = "",
        force: bool = False,
    ) -> Ban:
        info = self._jail(jail)
        self._check_bannable(network, force)
        now = self._clock.now()
        length = duration if duration is not None else info.bantime
        expires = None if permanent or length is None else now + length
        old = self._bans.get((jail, network))
        if old is not None and (
            old.expires_at is None or (expires is not None and old.expires_at >= expires)
        ):
            expires = old.expires_at
        ban = Ban(
            jail=jail,
            network=network,
            banned_at=old.banned_at if old else now,
            expires_at=expires,
            ban_count=old.ban_count + 1 if old else 1,
            reason="manual",
            failures=0,
            source="dbus",
        )
        self._bans[(jail, network)] = ban
        self._details[(jail, network)] = {"failures": 0, "source": "dbus", "comment": comment}
        self.commands.record("ban", f"{format_network(network)} in {jail}", now)
        self.commands.banned(jail, ban.address)
        self._bump(jail, banned=1)
        for listener in list(self._listeners):
            listener.banned(ban)
        return ban

    def _check_bannable(self, network: IPNetwork, force: bool) -> None:
        for own in _OWN:
            if own.version == network.version and network.overlaps(own):
                raise errors.AddressIgnored(f"{format_network(network)} is this host's own")
        if network.prefixlen == 0:
            raise errors.AddressIgnored("refusing to ban everything")
        for ignored in self.ignored:
            same_family = ignored.version == network.version
            if not force and same_family and network.overlaps(ignored):
                raise errors.AddressIgnored(f"{format_network(network)} is in ignoreip")

    async def unban(
        self, network: IPNetwork, jail: str | None = None, reason: str = "manual"
    ) -> int:
        if jail is not None:
            self._jail(jail)
        keys = [k for k in self._bans if k[1] == network and (jail is None or k[0] == jail)]
        if not keys:
            raise errors.NotBanned(f"{format_network(network)} is not banned")
        for key in keys:
            self._lift(key, reason)
        return len(keys)

    async def unban_all(self, jail: str | None = None) -> int:
        if jail is not None:
            self._jail(jail)
        keys = [k for k in self._bans if jail is None or k[0] == jail]
        for key in keys:
            self._lift(key, "flush")
        return len(keys)

    async def unban_fleet(self, network: IPNetwork, jail: str | None = None) -> int:
        """As a host of fleet ``prod``: lifts here (if banned) and remembers the publish."""
        self.fleet_unbans.append((format_network(network), jail))
        try:
            return await self.unban(network, jail, "fleet")
        except errors.NotBanned:
            return 0

    def fleet_status(self) -> dict[str, object]:
        return {"name": "prod", "host": "web1", "connected": True, "published": 3,
                "lag": 0, "skipped": {"rate_limited": 2}}  # fmt: skip

    def _lift(self, key: tuple[str, IPNetwork], reason: str) -> None:
        ban = self._bans.pop(key)
        self._details.pop(key, None)
        self._bump(ban.jail, banned=-1)
        for listener in list(self._listeners):
            listener.unbanned(ban, reason)

    def _bump(self, jail: str, *, banned: int = 0, failed: int = 0) -> None:
        s = self._status[jail]
        self._status[jail] = dataclasses.replace(
            s,
            currently_banned=s.currently_banned + banned,
            total_banned=s.total_banned + max(banned, 0),
            currently_failed=s.currently_failed + failed,
            total_failed=s.total_failed + failed,
        )
        for listener in list(self._listeners):
            listener.status_changed([jail])

    def record_failure(self, jail: str, count: int = 1) -> None:
        """Count failures as a running agent would (for property-change tests)."""
        self._bump(jail, failed=count)

    def expire(self, jail: str, address: str) -> None:
        """Lift a ban as its timer would."""
        self._lift((jail, parse_network(address)), "expired")

    async def reload(self) -> None:
        self.commands.record("reload", "", self._clock.now())
        if self.reload_error is not None:
            raise self.reload_error
        self.state_value = "reloading"
        if self.next_config is not None:
            self._jails = {j.name: j for j in self.next_config}
            self._status = {n: self._status.get(n, JailStatus()) for n in self._jails}
            self._bans = {k: b for k, b in self._bans.items() if k[0] in self._jails}
        self.state_value = "running"
        for listener in list(self._listeners):
            listener.reloaded()

    async def test_line(self, jail: str, line: str, caller: str = "") -> LineTest:
        self._jail(jail)
        match = _HOST_RE.search(line) if "Failed password" in line else None
        if match is None:
            return LineTest(matched=False)
        try:
            address = str(ipaddress.ip_address(match["host"]))
        except ValueError:
            return LineTest(matched=False)
        return LineTest(matched=True, address=address, captures={"host": address})

    def ban_details(self, network: IPNetwork, jail: str) -> dict[str, object]:
        self._jail(jail)
        details = self._details.get((jail, network))
        if details is None:
            raise errors.NotBanned(f"{format_network(network)} is not banned in {jail}")
        caller = self.commands.ban_caller(jail, format_network(network))
        who = {} if caller is None else {"caller_uid": caller.uid, "caller_name": caller.bus_name}
        lines = ["Failed password for root from " + format_network(network)]
        return {**details, "lines": lines, **who}

    def recent_commands(self) -> list[CommandRecord]:
        return self.commands.recent()

    def recent_failures(self, jail: str) -> list[RecentFailure]:
        self._jail(jail)
        return list(self.failures.get(jail, []))

    def subscribe(self, listener: AgentListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # --- known-good pairs and accounts under attack (a fake DetectionView) -----

    @property
    def detection_view(self) -> FakeDetectionView:
        return self._detection

    async def forget_known_good(self, jail: str | None, what: str) -> int:
        if jail is not None:
            self._jail(jail)
        pairs = self._detection.pairs
        gone = [p for p in pairs if (jail is None or p[0] == jail) and what in (p[1], p[2])]
        for p in gone:
            pairs.remove(p)
        return len(gone)

    async def end_account_attack(self, jail: str | None, account: str) -> int:
        if jail is not None:
            self._jail(jail)
        attacked = self._detection.attacked
        gone = [a for a in attacked if (jail is None or a[0] == jail) and a[1] == account]
        for a in gone:
            attacked.remove(a)
        return len(gone)


class FakeDetectionView:
    """Known-good pairs (jail, account, network, last) and attacks (jail, account, since, until)."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str, str, float]] = []
        self.attacked: list[tuple[str, str, float, float]] = []

    def account_under_attack(self, jail: str, account: str) -> float | None:
        return next((u for j, a, _, u in self.attacked if (j, a) == (jail, account)), None)

    def known_good(self, jail: str, account: str, address: str) -> bool:
        return any((j, a) == (jail, account) and address in n for j, a, n, _ in self.pairs)

    def known_good_pairs(self, jail: str) -> list[tuple[str, str, float]]:
        return [(a, n, t) for j, a, n, t in self.pairs if j == jail]

    def accounts_under_attack(self, jail: str) -> list[tuple[str, float, float]]:
        return [(a, s, u) for j, a, s, u in self.attacked if j == jail]
