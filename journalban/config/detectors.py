"""A jail's detectors beyond the per-address count, as configured (see docs/detection.md).

A detector is on when its key is present and its ``enabled`` is not false,
so a drop-in can turn off one the default turned on
(``slow: {enabled: false}``). Each bans for the jail's bantime (and its
increment) unless it sets its own ``bantime``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from journalban.config.values import bantime_value, boolean, duration_value, int_in, text_list

# A detector's own bantime when it sets none: the jail's.
JAIL_BANTIME = -1.0

DETECTOR_KEYS = ("deny_users", "slow", "subnet", "account", "attack_mode", "known_good")


@dataclass(frozen=True, slots=True)
class DenyUsersConfig:
    """A failure naming one of ``users`` (case-sensitive globs) bans at once."""

    users: tuple[str, ...] = ()
    bantime: float | None = JAIL_BANTIME


@dataclass(frozen=True, slots=True)
class SlowConfig:
    """A second, long window per address (low-and-slow), kept as bucketed counts."""

    maxretry: int = 8
    findtime: float = 86400.0
    bantime: float | None = JAIL_BANTIME


@dataclass(frozen=True, slots=True)
class SubnetConfig:
    """``addresses`` distinct failing networks in one prefix within ``findtime`` ban the prefix."""

    prefix4: int = 24
    prefix6: int = 48
    addresses: int = 5
    findtime: float = 3600.0
    bantime: float | None = JAIL_BANTIME


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account failing from ``addresses`` distinct networks is under attack for ``hold``."""

    addresses: int = 10
    findtime: float = 3600.0
    hold: float = 3600.0
    ignore_users: tuple[str, ...] = ()
    bantime: float | None = JAIL_BANTIME


@dataclass(frozen=True, slots=True)
class AttackModeConfig:
    """Above ``failures`` within ``findtime`` (all addresses), bans at the first failure for ``hold``."""

    failures: int = 300
    findtime: float = 600.0
    hold: float = 1800.0
    bantime: float | None = JAIL_BANTIME


@dataclass(frozen=True, slots=True)
class KnownGoodConfig:
    """How long and how many (account, network) pairs that logged in are remembered."""

    keep: float = 30 * 86400.0
    max_pairs: int = 100_000


@dataclass(frozen=True, slots=True)
class DetectorsConfig:
    deny_users: DenyUsersConfig | None = None
    slow: SlowConfig | None = None
    subnet: SubnetConfig | None = None
    account: AccountConfig | None = None
    attack_mode: AttackModeConfig | None = None
    known_good: KnownGoodConfig = field(default_factory=KnownGoodConfig)

    @property
    def uses_known_good(self) -> bool:
        """Whether a detector spares known-good pairs (the matcher then finds accepted logins)."""
        return any(d is not None for d in (self.subnet, self.account, self.attack_mode))

    @property
    def any(self) -> bool:
        return any(
            d is not None
            for d in (self.deny_users, self.slow, self.subnet, self.account, self.attack_mode)
        )


def parse_detectors(
    data: Mapping[str, Any], fail: Callable[[str, str], Exception]
) -> DetectorsConfig:
    """The detectors of one jail's (merged) settings.

    ``fail(key, message)`` builds the error naming the key's file and line.

    Raises:
        ConfigError: through ``fail``.
    """

    def section(key: str, known: set[str]) -> dict[str, Any] | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise fail(key, "must be a mapping")
        for name in value:
            if name not in known | {"enabled", "bantime"}:
                raise fail(key, f"unknown key {key}.{name!r}")
        try:
            if "enabled" in value and not boolean(value["enabled"]):
                return None
        except ValueError as exc:
            raise fail(key, f"enabled {exc}") from None
        return dict(value)

    slow_d, subnet_d, account_d, attack_d = (
        SlowConfig(),
        SubnetConfig(),
        AccountConfig(),
        AttackModeConfig(),
    )

    def get(
        key: str, values: Mapping[str, Any], name: str, default: Any, convert: Callable[[Any], Any]
    ) -> Any:
        if name not in values:
            return default
        try:
            return convert(values[name])
        except (ValueError, TypeError) as exc:
            raise fail(key, f"{name} {exc}") from None

    def bantime(key: str, values: Mapping[str, Any]) -> float | None:
        return get(key, values, "bantime", JAIL_BANTIME, bantime_value)  # type: ignore[no-any-return]

    deny = None
    raw_deny = data.get("deny_users")
    if isinstance(raw_deny, list | str):
        users = get("deny_users", {"users": raw_deny}, "users", (), text_list)
        deny = DenyUsersConfig(users) if users else None
    elif (d := section("deny_users", {"users"})) is not None:
        users = get("deny_users", d, "users", (), text_list)
        deny = DenyUsersConfig(users, bantime("deny_users", d)) if users else None
    slow = None
    if (s := section("slow", {"maxretry", "findtime"})) is not None:
        slow = SlowConfig(
            get("slow", s, "maxretry", slow_d.maxretry, int_in(1, 1_000_000)),
            get("slow", s, "findtime", slow_d.findtime, duration_value),
            bantime("slow", s),
        )
        if slow.findtime <= 0:
            raise fail("slow", "findtime must be longer than 0")
    subnet = None
    if (n := section("subnet", {"prefix4", "prefix6", "addresses", "findtime"})) is not None:
        subnet = SubnetConfig(
            get("subnet", n, "prefix4", subnet_d.prefix4, int_in(8, 32)),
            get("subnet", n, "prefix6", subnet_d.prefix6, int_in(16, 128)),
            get("subnet", n, "addresses", subnet_d.addresses, int_in(2, 1_000_000)),
            get("subnet", n, "findtime", subnet_d.findtime, duration_value),
            bantime("subnet", n),
        )
    account = None
    if (a := section("account", {"addresses", "findtime", "hold", "ignore_users"})) is not None:
        account = AccountConfig(
            get("account", a, "addresses", account_d.addresses, int_in(2, 1_000_000)),
            get("account", a, "findtime", account_d.findtime, duration_value),
            get("account", a, "hold", account_d.hold, duration_value),
            get("account", a, "ignore_users", (), text_list),
            bantime("account", a),
        )
    attack = None
    if (m := section("attack_mode", {"failures", "findtime", "hold"})) is not None:
        attack = AttackModeConfig(
            get("attack_mode", m, "failures", attack_d.failures, int_in(2, 100_000_000)),
            get("attack_mode", m, "findtime", attack_d.findtime, duration_value),
            get("attack_mode", m, "hold", attack_d.hold, duration_value),
            bantime("attack_mode", m),
        )
        if attack.findtime <= 0:
            raise fail("attack_mode", "findtime must be longer than 0")
    known = KnownGoodConfig()
    if isinstance(data.get("known_good"), Mapping):
        k = data["known_good"]
        for name in k:
            if name not in {"keep", "max_pairs"}:
                raise fail("known_good", f"unknown key known_good.{name!r}")
        known = KnownGoodConfig(
            get("known_good", k, "keep", known.keep, duration_value),
            get("known_good", k, "max_pairs", known.max_pairs, int_in(1, 10_000_000)),
        )
    elif data.get("known_good") is not None:
        raise fail("known_good", "must be a mapping")
    return DetectorsConfig(deny, slow, subnet, account, attack, known)
