"""fail2ban actions as journalban's firewall backend and actions.

Firewall actions (``nftables*``, ``iptables*``, ``firewallcmd*``,
``shorewall``, ``hostsdeny``) choose the one firewall backend journalban
uses for every jail, with the jail's ports; mail actions (``sendmail*``,
``mail*``) become a ``mail`` action; any other action file is not run: its
``actionban`` command is shown so that the admin can write a ``command``
action if they want it (journalban runs no shell).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from journalban.errors import ConfigError
from journalban.migrate.inifile import IniReader
from journalban.migrate.values import Call

# Prefix of the action name -> journalban firewall backend.
FIREWALL_ACTIONS = (
    ("nftables", "nftables"),
    ("iptables-ipset", "iptables-ipset"),
    ("iptables", "nftables"),
    ("firewallcmd", "nftables"),
    ("ufw", "nftables"),
    ("shorewall", "shorewall"),
    ("hostsdeny", "hosts-deny"),
    ("dummy", "dry-run"),
)
MAIL_ACTIONS = ("sendmail", "mail")


@dataclass
class ActionPlan:
    """What a jail's fail2ban actions became."""

    backend: str | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _firewall(name: str) -> str | None:
    for prefix, backend in FIREWALL_ACTIONS:
        if name.startswith(prefix):
            return backend
    return None


def _mail(call: Call) -> dict[str, Any]:
    dest = call.params.get("dest", "root")
    sender = call.params.get("sender", "fail2ban")
    if "@" not in sender:
        sender = f"{sender}@localhost"
    recipients = [d if "@" in d else f"{d}@localhost" for d in dest.replace(",", " ").split()]
    action: dict[str, Any] = {
        "type": "mail",
        "from": sender,
        "to": recipients or ["root@localhost"],
        "whois": "whois" in call.name,
        "lines": call.name.endswith("-lines"),
    }
    if call.name.startswith("sendmail"):
        action["sendmail"] = True
    if "buffered" in call.name:
        action["buffer"] = {"count": int(call.params.get("lines", "5") or 5)}
    return action


# fail2ban's action tags -> journalban's command fields.
_TAGS = {"ip": "address", "name": "jail", "port": "port", "protocol": "protocol",
         "bantime": "bantime", "family": "family"}  # fmt: skip
_SHELL = re.compile(r"[|;&<>`$()\\\n*?~]|\b(?:if|then|fi|for|do|done)\b")


def command_action(call: Call, reader: IniReader) -> dict[str, Any]:
    """A ``command`` action doing what a fail2ban action file's actionban/actionunban did.

    Raises:
        ValueError: no such action file, or a command that needs a shell (journalban
            runs commands as an argv, never through a shell).
    """
    try:
        ini = reader.read(f"action.d/{call.name}")
    except ConfigError as exc:
        raise ValueError(f"action {call.name}: {exc.message}") from None
    out: dict[str, Any] = {"type": "command"}
    for key, ours in (("actionban", "ban"), ("actionunban", "unban")):
        try:
            text = ini.raw("Definition", key).strip()
        except KeyError:
            continue
        for tag, value in call.params.items():
            text = text.replace(f"<{tag}>", value)
        text = re.sub(
            r"<(\w+)>", lambda m: "{" + _TAGS[m[1]] + "}" if m[1] in _TAGS else m[0], text
        )
        if _SHELL.search(text) or "<" in text or "%(" in text:
            raise ValueError(
                f"action {call.name}: {key} needs a shell or values journalban does not have: "
                f"{text!r}"
            )
        out[ours] = shlex.split(text)
    if "ban" not in out:
        raise ValueError(f"action {call.name}: no actionban to run")
    return out


def plan_actions(calls: list[Call], reader: IniReader, commands: bool = False) -> ActionPlan:
    """Map each fail2ban action of one jail; ``commands``: others become command actions."""
    plan = ActionPlan()
    for call in calls:
        backend = _firewall(call.name)
        if backend is not None:
            if plan.backend is None:
                plan.backend = backend
            if call.name.startswith(
                ("iptables", "firewallcmd", "ufw")
            ) and not call.name.startswith("iptables-ipset"):
                plan.notes.append(
                    f"action {call.name}: journalban bans in its own nftables table instead"
                )
            continue
        if call.name.startswith(MAIL_ACTIONS):
            plan.actions.append(_mail(call))
            continue
        if commands:
            try:
                plan.actions.append(command_action(call, reader))
                plan.notes.append(
                    f"action {call.name}: a command action runs its actionban "
                    f"{plan.actions[-1]['ban']} (no shell; needs the exec-actions.conf drop-in)"
                )
                continue
            except ValueError as exc:
                plan.dropped.append(f"{exc}; not converted")
                continue
        plan.dropped.append(f"action {call.name}: not converted; {_show_command(call, reader)}")
    if plan.actions:
        plan.actions.insert(0, {"type": "firewall"})
    return plan


def _show_command(call: Call, reader: IniReader) -> str:
    try:
        ini = reader.read(f"action.d/{call.name}")
        ban = ini.raw("Definition", "actionban").strip()
    except (ConfigError, KeyError):
        return "no action.d file to show"
    return (
        "journalban runs no action files; to keep it, write a command action "
        f"(argv list, no shell) doing what its actionban did, or import with "
        f"--command-actions: {ban!r}"
    )
