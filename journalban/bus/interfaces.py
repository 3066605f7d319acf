"""The exported interfaces: introspection data, properties and signals.

Methods are declared here only so that introspection shows them; their calls
never reach these bodies, because ``journalban.bus.dispatch`` takes every
method call first (it needs the calling message for polkit). Should a call
get here anyway it is refused, so the layer fails closed.
"""

# No `from __future__ import annotations`: dbus-fast reads the signatures from
# the annotation objects.

import asyncio
from typing import Annotated, Any

from dbus_fast import DBusError, PropertyAccess
from dbus_fast import introspection as intr
from dbus_fast.annotations import (
    DBusBool,
    DBusDict,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusUInt64,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from journalban.agent.api import AgentControl
from journalban.bus import contract, convert
from journalban.bus.fleetview import fleet_properties
from journalban.bus.paging import BanPages

BanList = Annotated[list[Any], DBusSignature("a(ssttus)")]
StrList = Annotated[list[str], DBusSignature("as")]

# dbus-fast leaves out-arguments and signal arguments unnamed; these names
# are part of the contract (clients and the XML in dbus/ show them).
_OUT_ARG_NAMES: dict[str, dict[str, list[str]]] = {
    contract.MANAGER_INTERFACE: {
        "Unban": ["lifted"],
        "UnbanAll": ["lifted"],
        "UnbanFleet": ["lifted"],
        "ListBans": ["bans"],
        "GetBans": ["total", "generation", "bans"],
        "FindBans": ["total", "generation", "bans"],
        "QueryBan": ["bans"],
        "ListJails": ["jails"],
        "GetStatus": ["status"],
        "TestLine": ["matched", "address", "captures"],
        "GetBanDetails": ["details"],
        "ListRecentCommands": ["commands"],
        "ListRecentFailures": ["failures"],
        "ListKnownGood": ["pairs"],
        "ForgetKnownGood": ["forgotten"],
        "ListAccountsUnderAttack": ["accounts"],
        "EndAccountAttack": ["ended"],
        "Banned": ["address", "jail", "expires_at_usec", "details"],
        "BannedMany": ["bans"],
        "Unbanned": ["address", "jail", "reason"],
    },
    contract.JAIL_INTERFACE: {
        "Unban": ["lifted"],
        "ListBans": ["bans"],
        "GetStatus": ["status"],
    },
}


def _refuse() -> DBusError:
    return DBusError(contract.ACCESS_DENIED, "method calls are dispatched after authorization")


def _name_args(interface: intr.Interface) -> intr.Interface:
    names = _OUT_ARG_NAMES.get(interface.name, {})
    members: list[tuple[str, list[intr.Arg]]] = [
        *((m.name, m.out_args) for m in interface.methods),
        *((s.name, s.args) for s in interface.signals),
    ]
    for member, args in members:
        for arg, name in zip(args, names.get(member, []), strict=False):
            arg.name = name
    return interface


class ManagerInterface(ServiceInterface):
    """``org.jailban.Manager1`` at ``/org/jailban``."""

    def __init__(self, control: AgentControl, pages: BanPages | None = None) -> None:
        super().__init__(contract.MANAGER_INTERFACE)
        self._control = control
        self.pages = pages if pages is not None else BanPages(control)

    def introspect(self) -> intr.Interface:
        return _name_args(super().introspect())

    @dbus_method()
    def Ban(
        self, jail: DBusStr, address: DBusStr, duration_usec: DBusUInt64, options: DBusDict
    ) -> None:
        raise _refuse()

    @dbus_method()
    def Unban(self, address: DBusStr, jail: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def UnbanAll(self, jail: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def UnbanFleet(self, address: DBusStr, jail: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def ListBans(self, jail: DBusStr) -> BanList:
        raise _refuse()

    @dbus_method()
    def GetBans(
        self, jail: DBusStr, offset: DBusUInt32, limit: DBusUInt32
    ) -> Annotated[tuple[int, int, list[Any]], DBusSignature("uta(ssttus)")]:
        raise _refuse()

    @dbus_method()
    def FindBans(
        self, query: DBusDict, offset: DBusUInt32, limit: DBusUInt32
    ) -> Annotated[tuple[int, int, list[Any]], DBusSignature("uta(ssttus)")]:
        raise _refuse()

    @dbus_method()
    def QueryBan(self, address: DBusStr) -> BanList:
        raise _refuse()

    @dbus_method()
    def ListJails(self) -> Annotated[list[Any], DBusSignature("a(so)")]:
        raise _refuse()

    @dbus_method()
    def GetStatus(self) -> DBusDict:
        raise _refuse()

    @dbus_method()
    def Reload(self) -> None:
        raise _refuse()

    @dbus_method()
    def ListKnownGood(self, jail: DBusStr) -> Annotated[list[Any], DBusSignature("a(ssst)")]:
        raise _refuse()

    @dbus_method()
    def ForgetKnownGood(self, jail: DBusStr, what: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def ListAccountsUnderAttack(
        self, jail: DBusStr
    ) -> Annotated[list[Any], DBusSignature("a(sstt)")]:
        raise _refuse()

    @dbus_method()
    def EndAccountAttack(self, jail: DBusStr, account: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def TestLine(
        self, jail: DBusStr, line: DBusStr
    ) -> Annotated[tuple[bool, str, dict[str, Any]], DBusSignature("bsa{sv}")]:
        raise _refuse()

    @dbus_method()
    def GetBanDetails(self, address: DBusStr, jail: DBusStr) -> DBusDict:
        raise _refuse()

    @dbus_method()
    def ListRecentCommands(self) -> Annotated[list[Any], DBusSignature("a(tsuss)")]:
        raise _refuse()

    @dbus_method()
    def ListRecentFailures(self, jail: DBusStr) -> Annotated[list[Any], DBusSignature("a(sutas)")]:
        raise _refuse()

    @dbus_signal()
    def Banned(
        self, address: str, jail: str, expires_at_usec: int, details: dict[str, Any]
    ) -> Annotated[tuple[str, str, int, dict[str, Any]], DBusSignature("ssta{sv}")]:
        return address, jail, expires_at_usec, details

    @dbus_signal()
    def BannedMany(
        self, bans: list[tuple[str, str, int, dict[str, Any]]]
    ) -> Annotated[list[tuple[str, str, int, dict[str, Any]]], DBusSignature("a(ssta{sv})")]:
        return bans

    @dbus_signal()
    def Unbanned(
        self, address: str, jail: str, reason: str
    ) -> Annotated[tuple[str, str, str], DBusSignature("sss")]:
        return address, jail, reason

    @dbus_signal()
    def Reloaded(self) -> None:
        return None

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusStr:
        return self._control.version

    @dbus_property(access=PropertyAccess.READ)
    def State(self) -> DBusStr:
        return self._control.state

    @dbus_property(access=PropertyAccess.READ)
    def BannedCount(self) -> DBusUInt32:
        return convert.u32(self._control.banned_count())

    @dbus_property(access=PropertyAccess.READ)
    def BannedPrefixCount(self) -> DBusUInt32:
        return convert.u32(self._control.banned_prefix_count())

    @dbus_property(access=PropertyAccess.READ)
    def Generation(self) -> DBusUInt64:
        return self.pages.generation

    @dbus_property(access=PropertyAccess.READ)
    def Fleet(self) -> DBusDict:
        return fleet_properties(self._control.fleet_status())

    def property_values(self) -> dict[str, Any]:
        """Current values of the properties, for change announcements."""
        return {
            "Version": self._control.version,
            "State": self._control.state,
            "BannedCount": convert.u32(self._control.banned_count()),
            "BannedPrefixCount": convert.u32(self._control.banned_prefix_count()),
            "Generation": self.pages.generation,
        }


class JailInterface(ServiceInterface):
    """``org.jailban.Jail1`` at ``/org/jailban/jail/<escaped name>``."""

    def __init__(self, control: AgentControl, name: str) -> None:
        super().__init__(contract.JAIL_INTERFACE)
        self._control = control
        self.jail_name = name
        self._this_turn: dict[str, Any] | None = None

    def introspect(self) -> intr.Interface:
        return _name_args(super().introspect())

    def property_values(self) -> dict[str, Any]:
        """Current values of the properties (empty when the jail is gone).

        Built once per turn of the event loop: nothing changes within one, and
        dbus-fast reads a ``GetAll`` property by property, each of which built
        them all (with nftables, a netlink dump of the counters each).
        """
        if self._this_turn is not None:
            return self._this_turn
        values: dict[str, Any] = {}
        for info in self._control.jails():
            if info.name == self.jail_name:
                values = convert.jail_properties(info, self._control.jail_status(info.name))
                break
        try:
            asyncio.get_running_loop().call_soon(self.end_turn)
        except RuntimeError:  # no loop running: nothing to keep them for
            return values
        self._this_turn = values
        return values

    def end_turn(self) -> None:
        """Forget the values built this turn (the agent said something changed)."""
        self._this_turn = None

    def _value(self, name: str) -> Any:
        values = self.property_values()
        if not values:
            raise DBusError(contract.NO_SUCH_JAIL, f"no such jail: {self.jail_name}")
        return values[name]

    @dbus_method()
    def Ban(self, address: DBusStr, duration_usec: DBusUInt64, options: DBusDict) -> None:
        raise _refuse()

    @dbus_method()
    def Unban(self, address: DBusStr) -> DBusUInt32:
        raise _refuse()

    @dbus_method()
    def ListBans(self) -> BanList:
        raise _refuse()

    @dbus_method()
    def GetStatus(self) -> DBusDict:
        raise _refuse()

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.jail_name

    @dbus_property(access=PropertyAccess.READ)
    def Enabled(self) -> DBusBool:
        return bool(self._value("Enabled"))

    @dbus_property(access=PropertyAccess.READ)
    def Filter(self) -> DBusStr:
        return str(self._value("Filter"))

    @dbus_property(access=PropertyAccess.READ)
    def Sources(self) -> StrList:
        return list(self._value("Sources"))

    @dbus_property(access=PropertyAccess.READ)
    def Ports(self) -> StrList:
        return list(self._value("Ports"))

    @dbus_property(access=PropertyAccess.READ)
    def MaxRetry(self) -> DBusUInt32:
        return int(self._value("MaxRetry"))

    @dbus_property(access=PropertyAccess.READ)
    def FindTimeUSec(self) -> DBusUInt64:
        return int(self._value("FindTimeUSec"))

    @dbus_property(access=PropertyAccess.READ)
    def BanTimeUSec(self) -> DBusUInt64:
        return int(self._value("BanTimeUSec"))

    @dbus_property(access=PropertyAccess.READ)
    def CurrentlyFailed(self) -> DBusUInt32:
        return int(self._value("CurrentlyFailed"))

    @dbus_property(access=PropertyAccess.READ)
    def TotalFailed(self) -> DBusUInt64:
        return int(self._value("TotalFailed"))

    @dbus_property(access=PropertyAccess.READ)
    def CurrentlyBanned(self) -> DBusUInt32:
        return int(self._value("CurrentlyBanned"))

    @dbus_property(access=PropertyAccess.READ)
    def TotalBanned(self) -> DBusUInt64:
        return int(self._value("TotalBanned"))

    @dbus_property(access=PropertyAccess.READ)
    def DroppedPackets(self) -> DBusUInt64:
        return int(self._value("DroppedPackets"))

    @dbus_property(access=PropertyAccess.READ)
    def DroppedBytes(self) -> DBusUInt64:
        return int(self._value("DroppedBytes"))

    @dbus_property(access=PropertyAccess.READ)
    def LinesUnreadable(self) -> DBusUInt64:
        return int(self._value("LinesUnreadable"))
