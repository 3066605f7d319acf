"""The read-only calls of the D-Bus API: their answers from the agent's state.

Plain functions of the message (and the jail of its object path): none waits
for anything, so ``dispatch`` answers them right where a call is read once
polkit's yes is kept, and from a task otherwise. Arguments are converted
here; ``journalban.bus.convert`` turns the agent's values into D-Bus types.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dbus_fast import DBusError, Message

from journalban.agent.api import AgentControl
from journalban.bus import contract, convert
from journalban.bus.paging import BanPages

Reply = tuple[str, list[Any]]  # out signature and body
ReadHandler = Callable[[Message, str | None], Reply]  # (message, jail of the path)


class ReadCalls:
    """Manager1's and Jail1's read-only methods over one agent."""

    def __init__(self, control: AgentControl, pages: BanPages) -> None:
        self._control = control
        self._pages = pages

    def manager_list_bans(self, msg: Message, _jail: str | None) -> Reply:
        bans = self._control.list_bans(convert.jail_arg(msg.body[0]))
        return "a(ssttus)", [[convert.ban_struct(ban) for ban in bans]]

    def page_of_bans(self, msg: Message, _jail: str | None) -> Reply:
        jail, offset, limit = msg.body
        total, generation, bans = self._pages.page(jail, offset, limit)
        return "uta(ssttus)", [convert.u32(total), generation, bans]

    def query_ban(self, msg: Message, _jail: str | None) -> Reply:
        bans = self._control.query_ban(convert.network_arg(msg.body[0]))
        return "a(ssttus)", [[convert.ban_struct(ban) for ban in bans]]

    def list_jails(self, _msg: Message, _jail: str | None) -> Reply:
        jails = [[info.name, contract.jail_path(info.name)] for info in self._control.jails()]
        return "a(so)", [jails]

    def manager_status(self, _msg: Message, _jail: str | None) -> Reply:
        return "a{sv}", [convert.manager_status(self._control)]

    def ban_details(self, msg: Message, _jail: str | None) -> Reply:
        address, jail = msg.body
        details = self._control.ban_details(convert.network_arg(address), jail)
        return "a{sv}", [convert.variant_dict(details)]

    def recent_commands(self, _msg: Message, _jail: str | None) -> Reply:
        records = [
            [convert.usec(r.at), r.kind, convert.u32(r.caller.uid if r.caller.uid is not None
             else 0xFFFFFFFF), r.caller.bus_name, r.what]
            for r in self._control.recent_commands()
        ]  # fmt: skip
        return "a(tsuss)", [records]

    def recent_failures(self, msg: Message, _jail: str | None) -> Reply:
        failures = [
            [f.network, convert.u32(f.failures), convert.usec(f.last_at), list(f.lines)]
            for f in self._control.recent_failures(msg.body[0])
        ]
        return "a(sutas)", [failures]

    def detection_jails(self, jail: str) -> list[str]:
        names = [info.name for info in self._control.jails()]
        if jail and jail not in names:
            raise DBusError(contract.NO_SUCH_JAIL, f"no such jail: {jail}")
        return [jail] if jail else names

    def list_known_good(self, msg: Message, _jail: str | None) -> Reply:
        view = self._control.detection_view
        pairs = [
            [jail, account, network, convert.usec(last)]
            for jail in self.detection_jails(msg.body[0])
            for account, network, last in view.known_good_pairs(jail)
        ]
        return "a(ssst)", [pairs]

    def list_attacked(self, msg: Message, _jail: str | None) -> Reply:
        view = self._control.detection_view
        accounts = [
            [jail, account, convert.usec(since), convert.usec(until)]
            for jail in self.detection_jails(msg.body[0])
            for account, since, until in view.accounts_under_attack(jail)
        ]
        return "a(sstt)", [accounts]

    def jail_list_bans(self, _msg: Message, jail: str | None) -> Reply:
        bans = self._control.list_bans(jail or "")
        return "a(ssttus)", [[convert.ban_struct(ban) for ban in bans]]

    def jail_status(self, _msg: Message, jail: str | None) -> Reply:
        for info in self._control.jails():
            if info.name == jail:
                status = self._control.jail_status(info.name)
                bans = self._control.list_bans(info.name)
                return "a{sv}", [convert.jail_status_dict(info, status, bans)]
        raise DBusError(contract.NO_SUCH_JAIL, f"no such jail: {jail}")
