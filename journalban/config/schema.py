"""The configuration as frozen dataclasses, after validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from journalban.addresses import IPNetwork
from journalban.config.detectors import DetectorsConfig
from journalban.config.metrics import MetricsConfig

if TYPE_CHECKING:
    # Their sections' modules are imported when a configuration has the section (the
    # agent's memory in a default run, issue 19).
    from journalban.config.enforcement import DovecotPoint, PamPoint, PostfixPoint, WebDenyPoint
    from journalban.config.fleet import FleetConfig

JournalGroup = tuple[tuple[str, str], ...]

# The jail of the fleet's bans on every port (``fleet: remote_all_ports``): reserved.
FLEET_JAIL = "fleet"
# The enforcement points that write a web server's deny file (``WebDenyPoint``).
WEB_POINTS = ("nginx", "apache")


@dataclass(frozen=True, slots=True)
class BantimeIncrement:
    """Repeat offenders banned longer, from the ban history.

    The n-th ban (n counted from 1) lasts ``bantime * factor**(n-1)``, or
    ``bantime * multipliers[n-1]`` (the last multiplier repeats) when
    multipliers are given, never more than ``maxtime``.
    """

    enabled: bool = False
    factor: float = 2.0
    multipliers: tuple[float, ...] = ()
    maxtime: float | None = 7 * 86400.0
    across_jails: bool = False


@dataclass(frozen=True, slots=True)
class JailConfig:
    name: str
    enabled: bool = True
    filter: str = ""
    mode: str = "normal"
    source: str = "journal"
    files: tuple[str, ...] = ()
    journal_match: tuple[JournalGroup, ...] | None = None
    # The jail's own journal (a namespace, or files in a directory); None: the global one.
    journal: JournalConfig | None = None
    port: str = "all"
    protocols: tuple[str, ...] = ("tcp",)
    maxretry: int = 5
    findtime: float = 600.0
    bantime: float | None = 600.0
    ignoreip: tuple[str, ...] = ("127.0.0.0/8", "::1")
    ignore_local_networks: bool = True
    ipv6_prefix: int = 64
    max_tracked: int = 100_000
    increment: BantimeIncrement = field(default_factory=BantimeIncrement)
    actions: tuple[Mapping[str, Any], ...] = ({"type": "firewall"},)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    real_ip_header: bool = False
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)


@dataclass(frozen=True, slots=True)
class JournalConfig:
    directory: str | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class FirewallConfig:
    backend: str = "nftables"
    hook: str = "input"
    priority: int = -10
    verdict: str = "drop"
    min_prefix_v4: int = 16
    min_prefix_v6: int = 32
    settings: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecidiveConfig:
    """The built-in jail fed by the agent's own ban decisions."""

    enabled: bool = True
    maxretry: int = 5
    findtime: float = 86400.0
    bantime: float | None = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class EnforcementConfig:
    """The configured enforcement points by name (``config.enforcement`` parses them);
    absent points are not in ``points``."""

    points: Mapping[str, Any] = field(default_factory=dict)

    @property
    def postfix(self) -> PostfixPoint | None:
        point: PostfixPoint | None = self.points.get("postfix")
        return point

    @property
    def dovecot(self) -> DovecotPoint | None:
        point: DovecotPoint | None = self.points.get("dovecot")
        return point

    @property
    def pam(self) -> PamPoint | None:
        point: PamPoint | None = self.points.get("pam")
        return point

    @property
    def web(self) -> list[WebDenyPoint]:
        return [p for name, p in self.points.items() if name in WEB_POINTS]

    @property
    def report_jails(self) -> frozenset[str]:
        """Jails whose failures come from a policy service's reports, not from a log."""
        dovecot = self.dovecot
        return frozenset([dovecot.reports]) if dovecot and dovecot.reports else frozenset()


@dataclass(frozen=True, slots=True)
class Config:
    state_dir: str = "/var/lib/journalban"
    journal: JournalConfig = field(default_factory=JournalConfig)
    firewall: FirewallConfig = field(default_factory=FirewallConfig)
    recidive: RecidiveConfig = field(default_factory=RecidiveConfig)
    jails: Mapping[str, JailConfig] = field(default_factory=dict)
    log_level: str = "info"
    bus: bool = True
    fleet: FleetConfig | None = None  # ban sharing; off when None
    enforcement: EnforcementConfig = field(default_factory=EnforcementConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    files: tuple[str, ...] = ()  # the files this configuration was read from

    @property
    def enabled_jails(self) -> list[JailConfig]:
        return [j for j in self.jails.values() if j.enabled]

    def journal_of(self, jail: JailConfig) -> JournalConfig:
        """The journal a jail reads: its own ``journal`` setting, else the global one."""
        return jail.journal if jail.journal is not None else self.journal
