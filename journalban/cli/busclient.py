"""The command line's side of org.jailban: one connection, calls, and errors people can read."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

from dbus_fast import BusType, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from journalban.bus import contract

# Exit codes: 1 the agent refused or failed, 3 the agent (or the bus) is not there.
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3

_NOT_RUNNING = {
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
}
_HINTS = {
    contract.ACCESS_DENIED: "permission denied (run as root, or ask polkit for org.jailban.*)",
    contract.INTERACTIVE_AUTH_REQUIRED: "authentication required (run as root)",
    contract.NO_SUCH_JAIL: "no such jail",
    contract.INVALID_ADDRESS: "invalid address",
    contract.ADDRESS_IGNORED: "address is ignored",
    contract.NOT_A_PEER: "never a peer (unspecified, broadcast or multicast): nothing to ban",
    contract.NOT_BANNED: "not banned",
    contract.BACKEND_FAILED: "the firewall refused the change",
    contract.CONFIG_INVALID: "the configuration is invalid; the old one stays in force",
    contract.INVALID_ARGS: "invalid arguments",
}


class ClientError(Exception):
    """A call failed; ``str()`` is the message for people, ``exit_code`` the status."""

    def __init__(self, message: str, *, name: str = "", exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.name = name
        self.exit_code = exit_code


class AgentClient:
    """``async with AgentClient() as agent: await agent.manager("GetStatus")``."""

    def __init__(self, address: str | None = None) -> None:
        self._address = address
        self._bus: MessageBus | None = None

    async def __aenter__(self) -> AgentClient:
        where = self._address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or "the system bus"
        try:
            self._bus = await MessageBus(
                bus_address=self._address, bus_type=BusType.SYSTEM
            ).connect()
        except (OSError, EOFError) as exc:
            raise ClientError(
                f"cannot connect to {where}: {exc} (the client commands need the system bus "
                "and an agent on it: systemctl status journalban)",
                exit_code=EXIT_UNREACHABLE,
            ) from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bus is not None:
            self._bus.disconnect()

    async def call(
        self,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        autostart: bool = True,
        interactive: bool = True,
    ) -> list[Any]:
        """Call a method; its out arguments, with variants unwrapped.

        ``autostart=False``: a stopped agent is not D-Bus activated by the call.
        ``interactive=False``: polkit answers at once, never asking for a password.

        Raises:
            ClientError: the agent answered with an error, or is not running.
        """
        if self._bus is None:
            raise ClientError("not connected", exit_code=EXIT_UNREACHABLE)
        # Like busctl and systemctl: an authentication agent may ask for a password.
        flags = MessageFlag.ALLOW_INTERACTIVE_AUTHORIZATION if interactive else MessageFlag.NONE
        if not autostart:
            flags |= MessageFlag.NO_AUTOSTART
        reply = await self._bus.call(
            Message(
                destination=contract.BUS_NAME,
                path=path,
                interface=interface,
                member=member,
                signature=signature,
                body=body or [],
                flags=flags,
            )
        )
        if reply is None:
            raise ClientError(f"no reply to {member}")
        if reply.message_type == MessageType.ERROR:
            raise _client_error(reply.error_name or "", reply.body[0] if reply.body else "")
        return [plain(value) for value in reply.body]

    async def manager(
        self,
        member: str,
        signature: str = "",
        body: list[Any] | None = None,
        *,
        autostart: bool = True,
        interactive: bool = True,
    ) -> list[Any]:
        """Call a method of ``org.jailban.Manager1``."""
        return await self.call(
            contract.MANAGER_PATH,
            contract.MANAGER_INTERFACE,
            member,
            signature,
            body,
            autostart=autostart,
            interactive=interactive,
        )

    async def jail_properties(self, jail: str) -> dict[str, Any]:
        """Every ``org.jailban.Jail1`` property of a jail."""
        (props,) = await self.call(
            contract.jail_path(jail),
            "org.freedesktop.DBus.Properties",
            "GetAll",
            "s",
            [contract.JAIL_INTERFACE],
        )
        result: dict[str, Any] = props
        return result


def _client_error(name: str, text: str) -> ClientError:
    if name in _NOT_RUNNING:
        return ClientError(
            "journalban is not running (no org.jailban on the system bus): start it with "
            "systemctl start journalban, or see its log (journalctl -u journalban)",
            name=name,
            exit_code=EXIT_UNREACHABLE,
        )
    if name == contract.ADDRESS_IGNORED:
        return ClientError(_refused_ban(text), name=name)
    hint = _HINTS.get(name)
    if hint and hint.lower() in text.lower():
        hint = None  # the agent's text says it already: "no such jail: nosuch"
    message = f"{hint}: {text}" if hint and text else hint or text or name
    return ClientError(message, name=name)


def _refused_ban(text: str) -> str:
    """Why the agent refused a ban, and what to do about it."""
    if "wider than the minimum prefix" in text:
        return f"too wide: {text} (firewall.min_prefix_v4 and min_prefix_v6 set the minimum)"
    if text.endswith("in ignoreip"):
        return f"address is ignored: {text} (--force bans it anyway)"
    if "protected" in text or "own, loopback or a local network" in text:
        return f"refused: {text} (the host's own, loopback and local addresses are never banned)"
    return f"address is ignored: {text}" if text else "address is ignored"


def plain(value: Any) -> Any:
    """D-Bus values as plain Python (variants unwrapped), ready for JSON."""
    if isinstance(value, Variant):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
