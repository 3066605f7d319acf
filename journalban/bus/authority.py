"""Who may call: polkit decides, with a root-only fallback when polkit is absent.

Each call is checked for the caller's ``system-bus-name`` subject. The
message's ALLOW_INTERACTIVE_AUTHORIZATION flag is passed on to polkit: a
challenge the caller did not allow is answered with
``InteractiveAuthorizationRequired``, a refusal with ``AccessDenied``. When
polkitd is not on the bus, ``org.jailban.info`` stays open and everything else
is allowed to uid 0 only. The agent's own user (the dedicated-user unit's
``journalban``, whose ExecReload= calls Reload) is always allowed.

polkitd is D-Bus activated on a normal system: it is not running until
somebody calls it. The check is therefore sent without NO_AUTOSTART, so the
bus starts polkitd, and only a real absence counts as "no polkit": the name
is not activatable (no polkit installed, or a private bus), or its activation
failed.

Yes-answers for the read-only action are shared and kept for a few seconds
per caller connection (``journalban.bus.authcache``), and forgotten when
polkit announces a change.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict
from typing import Final

from dbus_fast import DBusError, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from journalban.bus import contract
from journalban.bus.authcache import AuthorizationCache

_log = logging.getLogger(__name__)

POLKIT_NAME: Final = "org.freedesktop.PolicyKit1"
POLKIT_PATH: Final = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_INTERFACE: Final = "org.freedesktop.PolicyKit1.Authority"
_ALLOW_USER_INTERACTION: Final = 1
# Long enough for a person to type a password into an authentication agent.
_POLKIT_TIMEOUT: Final = 120.0
_KEPT_UIDS: Final = 4096  # callers' uids remembered (the most recent)
_POLKIT_ABSENT_ERRORS: Final = frozenset(
    {
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    }
)
# The bus could not start polkitd (org.freedesktop.DBus.Error.Spawn.Failed,
# .Spawn.ChildExited, .Spawn.ServiceNotFound, ...).
_ACTIVATION_FAILED_PREFIX: Final = "org.freedesktop.DBus.Error.Spawn."
# What makes kept answers stale: polkit's rules or authorizations changed, or polkitd came or went.
_POLKIT_CHANGES: Final = (
    f"type='signal',sender='{POLKIT_NAME}',path='{POLKIT_PATH}',"
    f"interface='{POLKIT_INTERFACE}',member='Changed'",
    "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
    f"member='NameOwnerChanged',arg0='{POLKIT_NAME}'",
)


class Authority:
    """Answers "may the sender of this message do this action?" for one bus connection."""

    def __init__(
        self,
        bus: MessageBus,
        own_uid: int | None = None,
        cache: AuthorizationCache | None = None,
    ) -> None:
        self._bus = bus
        self.cache = cache if cache is not None else AuthorizationCache()
        # The agent's own user (root, or journalban in the dedicated-user unit)
        # may always call it: it holds the agent's powers anyway, and the unit's
        # ExecReload= (`journalban reload`) runs as that user.
        self._own_uid = os.geteuid() if own_uid is None else own_uid
        # A connection's uid never changes and the bus never reuses a unique name:
        # asked once per caller, not at every Ban (a round trip to dbus-daemon).
        self._uids: OrderedDict[str, int] = OrderedDict()

    async def authorize(self, msg: Message, action: str | None) -> None:
        """Return when the call may proceed.

        Raises:
            DBusError: AccessDenied or InteractiveAuthorizationRequired.
        """
        if action is None:
            raise DBusError(contract.ACCESS_DENIED, f"{msg.interface}.{msg.member} is not allowed")
        sender = msg.sender
        if not sender:
            raise DBusError(contract.ACCESS_DENIED, "the caller has no bus name")
        interactive = bool(msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION)
        try:
            if interactive:  # never shared: the caller may be asked for a password
                authorized, challenge = await self._check_polkit(sender, action, True)
            else:
                authorized, challenge = await self.cache.check(
                    sender, action, lambda: self._check_polkit(sender, action, False)
                )
        except _PolkitAbsent:
            await self._authorize_without_polkit(sender, action)
            return
        if authorized or await self.caller_uid(sender) == self._own_uid:
            return
        if challenge and not interactive:
            raise DBusError(
                contract.INTERACTIVE_AUTH_REQUIRED,
                f"{action} needs authentication; allow interactive authorization to be asked",
            )
        raise DBusError(contract.ACCESS_DENIED, f"not authorized for {action}")

    def allowed_now(self, msg: Message, action: str) -> bool:
        """Whether a kept yes lets this call proceed at once (``authorize`` would not wait).

        Only for a call that does not allow interactive authorization (polkit is
        then asked every time); near its end the yes is renewed in the background.
        """
        sender = msg.sender
        if not sender or msg.flags & MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION:
            return False
        return self.cache.use(sender, action, lambda: self._check_polkit(sender, action, False))

    async def follow_polkit(self) -> None:
        """Forget kept answers whenever polkit changes; call once the bus is connected."""
        self._bus.add_message_handler(self._on_signal)
        for rule in _POLKIT_CHANGES:
            reply = await self._ask_bus("AddMatch", rule)
            if reply is None or reply.message_type == MessageType.ERROR:
                # Without the signal a kept answer could outlive a change of the rules.
                _log.warning("cannot follow polkit's changes (%s): answers are not kept",
                             reply.error_name if reply else "no reply")  # fmt: skip
                self.cache.disable()
                return

    def _on_signal(self, msg: Message) -> None:
        if msg.message_type != MessageType.SIGNAL:
            return
        if (msg.interface, msg.member) == (POLKIT_INTERFACE, "Changed") or (
            msg.member == "NameOwnerChanged" and msg.body[:1] == [POLKIT_NAME]
        ):
            _log.debug("polkit changed (%s): kept answers forgotten", msg.member)
            self.cache.clear()

    async def _check_polkit(self, sender: str, action: str, interactive: bool) -> tuple[bool, bool]:
        subject = ["system-bus-name", {"name": Variant("s", sender)}]
        flags = _ALLOW_USER_INTERACTION if interactive else 0
        request = Message(
            destination=POLKIT_NAME,
            path=POLKIT_PATH,
            interface=POLKIT_INTERFACE,
            member="CheckAuthorization",
            signature="(sa{sv})sa{ss}us",
            body=[subject, action, {}, flags, ""],
            # No NO_AUTOSTART: the call starts polkitd when it is D-Bus activated.
        )
        reply = await asyncio.wait_for(self._bus.call(request), _POLKIT_TIMEOUT)
        if reply is None:
            raise DBusError(contract.ACCESS_DENIED, "polkit gave no answer")
        if reply.message_type == MessageType.ERROR:
            if polkit_is_absent(reply.error_name):
                _log.debug("no polkit on the bus: %s %s", reply.error_name, reply.body)
                raise _PolkitAbsent
            _log.warning(
                "polkit refused the check of %s: %s %s", action, reply.error_name, reply.body
            )
            raise DBusError(contract.ACCESS_DENIED, f"polkit could not check {action}")
        authorized, challenge, _details = reply.body[0]
        return bool(authorized), bool(challenge)

    async def _authorize_without_polkit(self, sender: str, action: str) -> None:
        if action == contract.ACTION_INFO:
            return
        uid = await self.caller_uid(sender)
        if uid not in (0, self._own_uid):
            raise DBusError(
                contract.ACCESS_DENIED, f"polkit is not running: {action} is allowed to root only"
            )

    async def caller_uid(self, sender: str) -> int | None:
        """The Unix uid behind a bus name (None when the bus does not say)."""
        known = self._uids.get(sender)
        if known is not None:
            self._uids.move_to_end(sender)
            return known
        reply = await self._ask_bus("GetConnectionUnixUser", sender)
        if reply is None or reply.message_type == MessageType.ERROR:
            return None
        uid: int = reply.body[0]
        if sender.startswith(":"):  # a unique name: well-known names change owners
            self._uids[sender] = uid
            while len(self._uids) > _KEPT_UIDS:
                self._uids.popitem(last=False)
        return uid

    async def _ask_bus(self, member: str, argument: str) -> Message | None:
        """Call ``member`` of the bus daemon itself with one string argument."""
        return await self._bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member=member,
                signature="s",
                body=[argument],
            )
        )


def polkit_is_absent(error_name: str | None) -> bool:
    """Whether a failed CheckAuthorization means there is no polkit to ask."""
    name = error_name or ""
    return name in _POLKIT_ABSENT_ERRORS or name.startswith(_ACTIVATION_FAILED_PREFIX)


class _PolkitAbsent(Exception):
    """polkitd neither owns its name on this bus nor can be activated."""
