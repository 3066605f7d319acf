"""The names of the ``org.jailban`` D-Bus contract, and who may call what.

Everything a client can see by name lives here: the bus name, object paths,
interface and error names, and the one table that maps each callable member
to the polkit action that guards it. A member missing from ``METHOD_ACTIONS``
is refused, so a method added to an interface without an entry is denied
rather than silently open.
"""

from __future__ import annotations

from typing import Final

BUS_NAME: Final = "org.jailban"
MANAGER_PATH: Final = "/org/jailban"
JAIL_PATH_PREFIX: Final = "/org/jailban/jail/"
MANAGER_INTERFACE: Final = "org.jailban.Manager1"
JAIL_INTERFACE: Final = "org.jailban.Jail1"

ERROR_PREFIX: Final = "org.jailban.Error."
NO_SUCH_JAIL: Final = ERROR_PREFIX + "NoSuchJail"
INVALID_ADDRESS: Final = ERROR_PREFIX + "InvalidAddress"
ADDRESS_IGNORED: Final = ERROR_PREFIX + "AddressIgnored"
NOT_A_PEER: Final = ERROR_PREFIX + "NotAPeer"
NOT_BANNED: Final = ERROR_PREFIX + "NotBanned"
BACKEND_FAILED: Final = ERROR_PREFIX + "BackendFailed"
CONFIG_INVALID: Final = ERROR_PREFIX + "ConfigInvalid"
TIMED_OUT: Final = ERROR_PREFIX + "TimedOut"
RATE_LIMITED: Final = ERROR_PREFIX + "RateLimited"
ACCESS_DENIED: Final = "org.freedesktop.DBus.Error.AccessDenied"
INVALID_ARGS: Final = "org.freedesktop.DBus.Error.InvalidArgs"
INTERACTIVE_AUTH_REQUIRED: Final = "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
FAILED: Final = "org.freedesktop.DBus.Error.Failed"

ACTION_INFO: Final = "org.jailban.info"
ACTION_BAN: Final = "org.jailban.ban"
ACTION_UNBAN: Final = "org.jailban.unban"
ACTION_MANAGE: Final = "org.jailban.manage"

# TestLine refuses longer lines: a caller must not make the agent run its
# regexes over megabytes.
MAX_TEST_LINE_BYTES: Final = 64 * 1024

_INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
_PEER = "org.freedesktop.DBus.Peer"
_PROPERTIES = "org.freedesktop.DBus.Properties"
_OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"

# (interface, member) -> polkit action. Properties.Set is absent on purpose:
# every property is read-only, so setting one is denied.
METHOD_ACTIONS: Final[dict[tuple[str, str], str]] = {
    (_INTROSPECTABLE, "Introspect"): ACTION_INFO,
    (_PEER, "Ping"): ACTION_INFO,
    (_PEER, "GetMachineId"): ACTION_INFO,
    (_PROPERTIES, "Get"): ACTION_INFO,
    (_PROPERTIES, "GetAll"): ACTION_INFO,
    (_OBJECT_MANAGER, "GetManagedObjects"): ACTION_INFO,
    (MANAGER_INTERFACE, "Ban"): ACTION_BAN,
    (MANAGER_INTERFACE, "Unban"): ACTION_UNBAN,
    (MANAGER_INTERFACE, "UnbanAll"): ACTION_UNBAN,
    (MANAGER_INTERFACE, "UnbanFleet"): ACTION_UNBAN,
    (MANAGER_INTERFACE, "ListBans"): ACTION_INFO,
    (MANAGER_INTERFACE, "GetBans"): ACTION_INFO,
    (MANAGER_INTERFACE, "FindBans"): ACTION_INFO,
    (MANAGER_INTERFACE, "QueryBan"): ACTION_INFO,
    (MANAGER_INTERFACE, "ListJails"): ACTION_INFO,
    (MANAGER_INTERFACE, "GetStatus"): ACTION_INFO,
    (MANAGER_INTERFACE, "Reload"): ACTION_MANAGE,
    (MANAGER_INTERFACE, "TestLine"): ACTION_INFO,
    (MANAGER_INTERFACE, "GetBanDetails"): ACTION_MANAGE,
    # Who did what: uids and bus names of callers, for managers only.
    (MANAGER_INTERFACE, "ListRecentCommands"): ACTION_MANAGE,
    # The lines behind failures hold user names (often passwords typed as user names).
    (MANAGER_INTERFACE, "ListRecentFailures"): ACTION_MANAGE,
    # Account names: for managers only (docs/detection.md).
    (MANAGER_INTERFACE, "ListKnownGood"): ACTION_MANAGE,
    (MANAGER_INTERFACE, "ForgetKnownGood"): ACTION_MANAGE,
    (MANAGER_INTERFACE, "ListAccountsUnderAttack"): ACTION_MANAGE,
    (MANAGER_INTERFACE, "EndAccountAttack"): ACTION_MANAGE,
    (JAIL_INTERFACE, "Ban"): ACTION_BAN,
    (JAIL_INTERFACE, "Unban"): ACTION_UNBAN,
    (JAIL_INTERFACE, "ListBans"): ACTION_INFO,
    (JAIL_INTERFACE, "GetStatus"): ACTION_INFO,
}

STANDARD_INTERFACES: Final = frozenset({_INTROSPECTABLE, _PEER, _PROPERTIES, _OBJECT_MANAGER})


def action_for(interface: str, member: str, *, force: bool = False) -> str | None:
    """The polkit action guarding a call, or None when the call is not allowed at all.

    A ``Ban`` with the ``force`` option needs ``manage``: it overrides ``ignoreip``.
    """
    action = METHOD_ACTIONS.get((interface, member))
    if action == ACTION_BAN and force:
        return ACTION_MANAGE
    return action


def bus_label_escape(name: str) -> str:
    """Escape a jail name into one object path element, exactly as systemd does.

    Every byte of the UTF-8 encoding other than an ASCII letter or digit, and a
    leading digit, becomes ``_xx`` (lower-case hex); an empty name becomes ``_``.
    """
    if not name:
        return "_"
    out: list[str] = []
    for index, byte in enumerate(name.encode()):
        char = chr(byte)
        is_letter = char.isascii() and char.isalpha()
        is_digit = char.isascii() and char.isdigit()
        if is_letter or (is_digit and index > 0):
            out.append(char)
        else:
            out.append(f"_{byte:02x}")
    return "".join(out)


def bus_label_unescape(label: str) -> str:
    """The jail name an escaped path element stands for (inverse of ``bus_label_escape``)."""
    if label == "_":
        return ""
    raw = bytearray()
    index = 0
    while index < len(label):
        if label[index] == "_" and _is_hex(label[index + 1 : index + 3]):
            raw.append(int(label[index + 1 : index + 3], 16))
            index += 3
        else:
            raw.extend(label[index].encode())
            index += 1
    return raw.decode(errors="replace")


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def jail_path(name: str) -> str:
    """The object path of a jail's object."""
    return JAIL_PATH_PREFIX + bus_label_escape(name)
