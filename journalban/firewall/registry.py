"""From configuration to objects: the firewall backend by name, a jail's actions by type.

The config layer hands over plain mappings (already read from YAML) and turns
the ``ConfigError``/``ValueError`` raised here into messages with file:line.
See docs/actions.md for the keys.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from journalban.actions.base import Action
from journalban.actions.command import DEFAULT_TIMEOUT, CommandAction
from journalban.clock import Clock
from journalban.errors import ConfigError
from journalban.firewall.base import FirewallBackend, JailRules
from journalban.firewall.dryrun import DryRunBackend
from journalban.firewall.hostsdeny import HostsDenyBackend
from journalban.firewall.ports import format_ports
from journalban.firewall.shorewall import ShorewallBackend

if TYPE_CHECKING:
    from journalban.actions.mail import MailAction

BACKENDS: Final = ("nftables", "iptables-ipset", "shorewall", "hosts-deny", "dry-run")
ACTION_TYPES: Final = ("firewall", "mail", "command")
_NFT_KEYS: Final = ("table", "hook", "priority", "verdict", "min_prefix_v4", "min_prefix_v6")


def create_backend(name: str, settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    """The backend ``firewall.backend`` names, configured from the ``firewall:`` mapping.

    Raises:
        ConfigError: an unknown backend name or a bad setting.
    """
    try:
        factory = _BACKEND_FACTORIES[name]
    except KeyError:
        raise ConfigError(
            f"firewall.backend: unknown backend {name!r}; one of {', '.join(BACKENDS)}"
        ) from None
    try:
        return factory(settings, state_dir)
    except ValueError as exc:
        raise ConfigError(f"firewall ({name}): {exc}") from exc


def _nftables(settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    # Imported here so that hosts without nftables support can run the other backends.
    module = importlib.import_module("journalban.firewall.nftables")
    backend_class = module.NftablesBackend
    kwargs = {key: settings[key] for key in _NFT_KEYS if key in settings}
    backend: FirewallBackend = backend_class(**kwargs)
    return backend


def _ipset(settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    # pyroute2 (60 ms to import) only for this backend.
    from journalban.firewall.ipset import backend_from_settings

    return backend_from_settings(settings)


def _shorewall(settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    return ShorewallBackend(
        state_dir,
        shorewall=_text(settings, "shorewall", "/usr/sbin/shorewall", "firewall"),
        shorewall6=_text(settings, "shorewall6", "/usr/sbin/shorewall6", "firewall"),
    )


def _hosts_deny(settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    return HostsDenyBackend(state_dir)


def _dry_run(settings: Mapping[str, object], state_dir: Path) -> FirewallBackend:
    return DryRunBackend()


_BACKEND_FACTORIES: Final[dict[str, Callable[[Mapping[str, object], Path], FirewallBackend]]] = {
    "nftables": _nftables,
    "iptables-ipset": _ipset,
    "shorewall": _shorewall,
    "hosts-deny": _hosts_deny,
    "dry-run": _dry_run,
}


@dataclass(frozen=True, slots=True)
class JailActions:
    """What a jail does on a ban: use the firewall backend, and/or run these actions."""

    firewall: bool
    actions: tuple[Action, ...]

    @property
    def notify_only(self) -> bool:
        """True when nothing blocks the address (neither the firewall nor a command)."""
        return not self.firewall and not any(isinstance(a, CommandAction) for a in self.actions)


def create_jail_actions(
    specs: Sequence[Mapping[str, object]] | None, jail: JailRules, clock: Clock
) -> JailActions:
    """A jail's ``actions:`` list; absent means ``[{type: firewall}]``.

    Raises:
        ConfigError: an unknown type or a bad setting of one item.
    """
    if specs is None:
        return JailActions(True, ())
    firewall = False
    actions: list[Action] = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping):
            raise ConfigError(f"jail {jail.name}: actions[{index}] must be a mapping")
        if spec.get("type", "firewall") == "firewall":
            _only_keys(spec, {"type"}, f"jail {jail.name}: actions[{index}]")
            firewall = True
        else:
            actions.append(create_action(spec, jail=jail, clock=clock, index=index))
    return JailActions(firewall, tuple(actions))


def create_action(
    spec: Mapping[str, object], *, jail: JailRules, clock: Clock, index: int = 0
) -> Action:
    """One ``mail`` or ``command`` item of a jail's ``actions:`` list.

    Raises:
        ConfigError: an unknown type or a bad setting.
    """
    kind = spec.get("type")
    where = f"jail {jail.name}: actions[{index}] ({kind})"
    if kind == "mail":
        return _mail(spec, clock, where)
    if kind == "command":
        return _command(spec, jail, where)
    raise ConfigError(
        f"jail {jail.name}: actions[{index}]: unknown type {kind!r}; "
        f"one of {', '.join(ACTION_TYPES)}"
    )


_MAIL_KEYS: Final = frozenset(
    {
        "type",
        "smtp_host",
        "smtp_port",
        "sendmail",
        "from",
        "to",
        "whois",
        "lines",
        "buffer",
        "timeout",
    }
)


def _mail(spec: Mapping[str, object], clock: Clock, where: str) -> MailAction:
    # Imported when a jail mails: smtplib and email cost every start 7 ms otherwise.
    from journalban.actions.mail import SENDMAIL, MailAction, MailSettings

    _only_keys(spec, _MAIL_KEYS, where)
    recipients = spec.get("to")
    if isinstance(recipients, str):
        recipients = [recipients]
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise ConfigError(f"{where}: 'to' must be an address or a list of addresses")
    sendmail = spec.get("sendmail", False)
    if sendmail is True:
        sendmail = SENDMAIL
    if sendmail is not False and not (isinstance(sendmail, str) and sendmail.startswith("/")):
        raise ConfigError(f"{where}: 'sendmail' must be true or an absolute path")
    buffer = spec.get("buffer", {})
    if not isinstance(buffer, Mapping):
        raise ConfigError(f"{where}: 'buffer' must be a mapping with count and/or interval")
    _only_keys(buffer, {"count", "interval"}, f"{where}.buffer")
    count = buffer.get("count")
    interval = buffer.get("interval")
    settings = MailSettings(
        sender=_text(spec, "from", None, where),
        recipients=tuple(recipients),
        smtp_host=_text(spec, "smtp_host", "localhost", where),
        smtp_port=_integer(spec, "smtp_port", 25, where),
        sendmail=sendmail or None,
        whois=_flag(spec, "whois", False, where),
        lines=_flag(spec, "lines", True, where),
        buffer_count=None if count is None else _integer(buffer, "count", 1, where),
        buffer_interval=None if interval is None else _seconds(buffer, "interval", 1, where),
        timeout=_seconds(spec, "timeout", 30.0, where),
    )
    return MailAction(settings, clock=clock)


def _command(spec: Mapping[str, object], jail: JailRules, where: str) -> CommandAction:
    _only_keys(spec, {"type", "ban", "unban", "timeout"}, where)
    return CommandAction(
        _argv(spec, "ban", where),
        _argv(spec, "unban", where),
        port="all" if jail.all_ports else format_ports(jail.ports),
        protocol=",".join(jail.protocols),
        timeout=_seconds(spec, "timeout", DEFAULT_TIMEOUT, where),
        name=where,
    )


def _argv(spec: Mapping[str, object], key: str, where: str) -> list[str] | None:
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise ConfigError(f"{where}: {key!r} must be a non-empty list of strings (an argv)")
    return [str(arg) for arg in value]


def _only_keys(spec: Mapping[str, object], allowed: frozenset[str] | set[str], where: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )


def _text(spec: Mapping[str, object], key: str, default: str | None, where: str) -> str:
    value = spec.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return value


def _flag(spec: Mapping[str, object], key: str, default: bool, where: str) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be true or false")
    return value


def _integer(spec: Mapping[str, object], key: str, default: int, where: str) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}: {key!r} must be a positive integer")
    return value


def _seconds(spec: Mapping[str, object], key: str, default: float, where: str) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: {key!r} must be a positive number of seconds")
    return float(value)
