"""Turn merged YAML data into a ``Config``, naming the file and line of every error."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from journalban.config.detectors import DETECTOR_KEYS, parse_detectors
from journalban.config.hints import (
    RECIDIVE_JAIL,
    jail_filter_hint,
)
from journalban.config.jailjournal import jail_journal
from journalban.config.journalmatch import parse_condition
from journalban.config.metrics import parse_metrics
from journalban.config.schema import (
    BantimeIncrement,
    Config,
    EnforcementConfig,
    FirewallConfig,
    JailConfig,
    JournalConfig,
    JournalGroup,
    RecidiveConfig,
)
from journalban.config.values import (
    Reader,
    bantime_value,
    boolean,
    choice,
    duration_value,
    ignore_list,
    int_in,
    nonempty,
    opt_text,
    proxy_list,
    text_list,
)
from journalban.config.yamlsource import KeyPath, Marks
from journalban.errors import ConfigError, ConfigErrors
from journalban.firewall.ports import parse_ports

if TYPE_CHECKING:
    from journalban.config.fleet import FleetConfig

JAIL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
PROTOCOLS = ("tcp", "udp", "udplite", "sctp")
BACKENDS = ("nftables", "iptables-ipset", "shorewall", "hosts-deny", "dry-run")
ACTION_TYPES = ("firewall", "mail", "command")

# check_filter(filter_name, mode) raises ValueError when either is unknown.
FilterCheck = Callable[[str, str], None]
# check_actions(jail) raises ValueError (or ConfigError) when its actions: are wrong.
ActionsCheck = Callable[[JailConfig], None]

JAIL_KEYS = {
    "enabled", "filter", "mode", "source", "files", "journal_match", "port", "protocol",
    "maxretry", "findtime", "bantime", "ignoreip", "ignore_local_networks", "ipv6_prefix",
    "max_tracked", "bantime_increment", "actions", "trusted_proxies", "real_ip_header",
    "journal", *DETECTOR_KEYS,
}  # fmt: skip
TOP_KEYS = {
    "state_dir", "journal", "firewall", "defaults", "jails", "recidive", "logging", "bus", "fleet",
    "enforcement", "metrics",
}  # fmt: skip


def check_port_spec(v: Any) -> str:
    """Validate ssh | 22 | 80,443 | 8000-8100 | all with the firewall's own parser.

    Names resolve through /etc/services. Raises: ValueError.
    """
    text = str(v).strip() if isinstance(v, int | str) and not isinstance(v, bool) else ""
    if not text:
        raise ValueError(f"not a port list: {v!r}")
    parse_ports(text)
    return text


def _protocols(v: Any) -> tuple[str, ...]:
    items = tuple(p.strip() for p in str(v).split(",")) if isinstance(v, str) else text_list(v)
    for p in items:
        if p not in PROTOCOLS:
            raise ValueError(f"unknown protocol {p!r} (use {', '.join(PROTOCOLS)})")
    return items


def _journal_match(v: Any) -> tuple[JournalGroup, ...]:
    if not isinstance(v, list) or not v:
        raise ValueError("must be a list of groups of FIELD=value conditions")
    groups = []
    for group in v:
        conds = [group] if isinstance(group, str) else group
        if isinstance(conds, Mapping):
            conds = [f"{k}={val}" for k, val in conds.items()]
        if not isinstance(conds, list) or not conds:
            raise ValueError(f"a group must be FIELD=value conditions, not {group!r}")
        pairs = [parse_condition(str(cond)) for cond in conds]
        groups.append(tuple(pairs))
    return tuple(groups)


def _actions(v: Any) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(v, list):
        raise ValueError("must be a list of actions")
    out = []
    for item in v:
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, Mapping) or item.get("type") not in ACTION_TYPES:
            raise ValueError(f"each action needs a type: {', '.join(ACTION_TYPES)}")
        out.append(dict(item))
    return tuple(out)


def _increment(r: Reader) -> BantimeIncrement:
    base = BantimeIncrement()

    def factor(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 1:
            raise ValueError(f"must be a number of at least 1, not {v!r}")
        return float(v)

    def multipliers(v: Any) -> tuple[float, ...]:
        if isinstance(v, str):
            v = v.split()
        if not isinstance(v, list) or not v:
            raise ValueError("must be a list of numbers")
        try:
            values = tuple(float(x) for x in v)
        except (TypeError, ValueError):
            raise ValueError("must be a list of numbers") from None
        if any(x <= 0 for x in values):
            raise ValueError("multipliers must be positive")
        return values

    return BantimeIncrement(
        enabled=r.get("enabled", True, boolean),
        factor=r.get("factor", base.factor, factor),
        multipliers=r.get("multipliers", base.multipliers, multipliers),
        maxtime=r.get("maxtime", base.maxtime, bantime_value),
        across_jails=r.get("across_jails", base.across_jails, boolean),
    )


def _jail(
    name: str,
    data: Mapping[str, Any],
    marks: Marks,
    path: KeyPath,
    errors: list[ConfigError],
    check: FilterCheck | None,
    check_actions: ActionsCheck | None = None,
    inherited: frozenset[str] = frozenset(),
) -> JailConfig | None:
    """A jail's configuration; None when its errors (in ``errors``) leave none to build."""
    if not JAIL_NAME.fullmatch(name):
        errors.append(
            marks.error(path, f"bad jail name {name!r}: a letter, then letters, digits, - or _")
        )
        return None
    if name == "recidive":
        errors.append(marks.error(path, f"jails.recidive: {RECIDIVE_JAIL}"))
        return None
    found = len(errors)
    r = Reader(data, marks, path, JAIL_KEYS, errors, inherited)
    d = JailConfig(name=name)
    jail = JailConfig(
        name=name,
        enabled=r.get("enabled", True, boolean),
        filter=r.get("filter", name, nonempty),
        mode=r.get("mode", d.mode, nonempty),
        source=r.get("source", d.source, choice(("journal", "files"))),
        files=r.get("files", d.files, text_list),
        journal_match=r.get("journal_match", None, _journal_match),
        journal=jail_journal(r.section("journal", {"directory", "namespace"}))
        if "journal" in data
        else None,
        port=r.get("port", d.port, check_port_spec),
        protocols=r.get("protocol", d.protocols, _protocols),
        maxretry=r.get("maxretry", d.maxretry, int_in(1, 1_000_000)),
        findtime=r.get("findtime", d.findtime, duration_value),
        bantime=r.get("bantime", d.bantime, bantime_value),
        ignoreip=r.get("ignoreip", d.ignoreip, ignore_list),
        ignore_local_networks=r.get("ignore_local_networks", True, boolean),
        ipv6_prefix=r.get("ipv6_prefix", d.ipv6_prefix, int_in(1, 128)),
        max_tracked=r.get("max_tracked", d.max_tracked, int_in(1, 100_000_000)),
        increment=_increment(
            r.section(
                "bantime_increment",
                {"enabled", "factor", "multipliers", "maxtime", "across_jails"},
            )
        )
        if "bantime_increment" in data
        else d.increment,
        actions=r.get("actions", d.actions, _actions),
        trusted_proxies=r.get("trusted_proxies", (), proxy_list),
        real_ip_header=r.get("real_ip_header", False, boolean),
        detectors=parse_detectors(data, r.fail),
    )
    if jail.source == "files" and not jail.files:
        r.report("files", "a jail with source: files needs files")
    if check is not None:
        try:
            check(jail.filter, jail.mode)
        except ValueError as exc:
            no_mode = "has no mode" in str(exc) and not str(exc).startswith("no such filter")
            key = "mode" if no_mode and "mode" in data else "filter"
            hint = jail_filter_hint(jail.filter) if key == "filter" else None
            r.report(key, f"{exc}; {hint}" if hint else str(exc))
        except ConfigError as exc:  # a broken filter file: its own file and line
            errors.append(exc)
    if check_actions is not None and len(errors) == found:
        try:
            check_actions(jail)
        except (ValueError, ConfigError) as exc:
            key = "actions" if "actions" in data else "port"
            r.report(key, getattr(exc, "message", str(exc)))
    return jail if len(errors) == found else None


def build_config(
    data: Mapping[str, Any],
    marks: Marks,
    check_filter: FilterCheck | None = None,
    check_actions: ActionsCheck | None = None,
    errors: list[ConfigError] | None = None,
) -> Config:
    """Validate merged configuration data.

    ``errors`` holds problems found before (such as a file that is not YAML):
    every problem is reported together.

    Raises:
        ConfigErrors: naming the file and line of each problem, in file order.
    """
    errors = [] if errors is None else errors
    top = Reader(data, marks, (), TOP_KEYS, errors)
    journal = top.section("journal", {"directory", "namespace"})
    fw = top.section(
        "firewall",
        {"backend", "hook", "priority", "verdict", "min_prefix_v4", "min_prefix_v6", *BACKENDS},
    )
    rec = top.section("recidive", {"enabled", "maxretry", "findtime", "bantime"})
    logging_ = top.section("logging", {"level"})
    backend = fw.get("backend", "nftables", choice(BACKENDS))
    settings = fw.data.get(backend) or {}
    if not isinstance(settings, Mapping):
        fw.report(backend, "must be a mapping of settings")
        settings = {}
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        top.report("defaults", "must be a mapping")
        defaults = {}
    # Unknown keys under defaults: once, even with no jail to inherit them.
    Reader(defaults, marks, ("defaults",), JAIL_KEYS, errors)
    jails_data = data.get("jails") or {}
    if not isinstance(jails_data, Mapping):
        top.report("jails", "must be a mapping of jail names to settings")
        jails_data = {}
    jails = {}
    for name, jail_data in jails_data.items():
        if jail_data is None:
            jail_data = {}
        if not isinstance(jail_data, Mapping):
            errors.append(marks.error(("jails", name), f"jail {name!r} must be a mapping"))
            continue
        merged = dict(defaults)
        for key, value in jail_data.items():
            base = merged.get(key)
            merged[key] = (
                {**base, **value}
                if isinstance(base, Mapping) and isinstance(value, Mapping)
                else value
            )
        inherited = frozenset(k for k in defaults if k not in jail_data)
        jail = _jail(
            name, merged, marks, ("jails", name), errors, check_filter, check_actions, inherited
        )
        if jail is not None:
            jails[name] = jail
    config = Config(
        state_dir=top.get("state_dir", "/var/lib/journalban", nonempty),
        journal=JournalConfig(
            directory=journal.get("directory", None, opt_text),
            namespace=journal.get("namespace", None, opt_text),
        ),
        firewall=FirewallConfig(
            backend=backend,
            hook=fw.get("hook", "input", choice(("input", "forward"))),
            priority=fw.get("priority", -10, int_in(-1000, 1000)),
            verdict=fw.get("verdict", "drop", choice(("drop", "reject"))),
            min_prefix_v4=fw.get("min_prefix_v4", 16, int_in(0, 32)),
            min_prefix_v6=fw.get("min_prefix_v6", 32, int_in(0, 128)),
            settings=dict(settings),
        ),
        recidive=RecidiveConfig(
            enabled=rec.get("enabled", True, boolean),
            maxretry=rec.get("maxretry", 5, int_in(1, 1000)),
            findtime=rec.get("findtime", 86400.0, duration_value),
            bantime=rec.get("bantime", 7 * 86400.0, bantime_value),
        ),
        jails=jails,
        log_level=logging_.get(
            "level", "info", choice(("debug", "info", "notice", "warning", "error"))
        ),
        bus=top.get("bus", True, boolean),
        fleet=_fleet(top, jails),
        enforcement=_enforcement(top, jails),
        metrics=parse_metrics(top),
    )
    if errors:
        raise ConfigErrors(errors)
    return config


# The fleet's and the enforcement points' sections are parsed by modules imported only
# when a configuration has them (a reload that adds one imports it then): a default run
# does not keep them (the agent's memory, issue 19).


def _fleet(top: Reader, jails: Mapping[str, Any]) -> FleetConfig | None:
    if top.data.get("fleet") is None:
        return None
    from journalban.config.fleet import parse_fleet

    return parse_fleet(top, jails)


def _enforcement(top: Reader, jails: Mapping[str, Any]) -> EnforcementConfig:
    if top.data.get("enforcement") is None:
        return EnforcementConfig()
    from journalban.config.enforcement import parse_enforcement

    return parse_enforcement(top, jails)
