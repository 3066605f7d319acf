"""Every incoming method call: authorise with polkit, then convert and delegate.

dbus-fast's ``@dbus_method`` handlers never see the calling message, and a
polkit check needs its sender and flags, so ``CallDispatcher.handle`` takes
each method call first. Calls on our interfaces are answered here; calls on
the standard interfaces (Properties, Introspectable, Peer, ObjectManager) are
authorised and then handed back to dbus-fast, which answers them.

A read-only call that polkit's kept yes already covers (``authcache``) is
answered at once, inside ``handle``, without a task of its own: a burst of 90
reads cost a task, its coroutines and its context each (a quarter of the
agent's time per call), and their answers cannot differ from what the task
would give a moment later. Anything that must wait (polkit, the decisions
task, the GetBans order being built) gets a task, as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from dbus_fast import DBusError, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus

from journalban.agent.api import AgentControl
from journalban.agent.callers import Caller, calling
from journalban.agent.calltrace import CallTrace, mark, trace_log, tracing
from journalban.bus import contract, convert
from journalban.bus.authority import Authority
from journalban.bus.callstats import CALLS, STANDARD_MEMBERS
from journalban.bus.paging import BanPages
from journalban.bus.reads import ReadCalls, ReadHandler, Reply
from journalban.bus.search import BanSearch, Query

_log = logging.getLogger(__name__)

CallHandler = Callable[[Message, str | None], Awaitable[Reply]]  # (message, jail of the path)

_BAN_OPTIONS = {"comment": "s", "permanent": "b", "force": "b"}
# The calls whose caller the agent records (journal entries, GetBanDetails, status).
_COMMANDS = frozenset({"Ban", "Unban", "UnbanAll", "UnbanFleet", "Reload"})


class CallDispatcher:
    """The bus connection's first message handler (``bus.add_message_handler(d.handle)``)."""

    def __init__(
        self,
        bus: MessageBus,
        control: AgentControl,
        authority: Authority,
        jail_paths: Mapping[str, str],
        pages: BanPages | None = None,
    ) -> None:
        self._bus = bus
        self._control = control
        self._authority = authority
        self._jail_paths = jail_paths  # object path -> jail name, kept current by the service
        self._pages = pages if pages is not None else BanPages(control)
        self._search = BanSearch(self._pages)
        self._passthrough: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._traces = trace_log()  # JOURNALBAN_CALL_TRACE: each call's stages, for benchmarks
        self._traces.start_watching()
        m, j = contract.MANAGER_INTERFACE, contract.JAIL_INTERFACE
        self._handlers: dict[tuple[str, str], tuple[str, CallHandler]] = {
            (m, "Ban"): ("ssta{sv}", self._manager_ban),
            (m, "Unban"): ("ss", self._manager_unban),
            (m, "UnbanAll"): ("s", self._unban_all),
            (m, "UnbanFleet"): ("ss", self._unban_fleet),
            (m, "GetBans"): ("suu", self._get_bans),  # waits for the order; then a read
            (m, "FindBans"): ("a{sv}uu", self._find_bans),
            (m, "Reload"): ("", self._reload),
            (m, "TestLine"): ("ss", self._test_line),
            (m, "ForgetKnownGood"): ("ss", self._forget_known_good),
            (m, "EndAccountAttack"): ("ss", self._end_attack),
            (j, "Ban"): ("sta{sv}", self._jail_ban),
            (j, "Unban"): ("s", self._jail_unban),
        }
        r = self._read = ReadCalls(control, self._pages)
        self._reads: dict[tuple[str, str], tuple[str, ReadHandler]] = {
            (m, "ListBans"): ("s", r.manager_list_bans),
            (m, "GetBans"): ("suu", r.page_of_bans),  # once the order is built
            (m, "QueryBan"): ("s", r.query_ban),
            (m, "ListJails"): ("", r.list_jails),
            (m, "GetStatus"): ("", r.manager_status),
            (m, "GetBanDetails"): ("ss", r.ban_details),
            (m, "ListRecentCommands"): ("", r.recent_commands),
            (m, "ListRecentFailures"): ("s", r.recent_failures),
            (m, "ListKnownGood"): ("s", r.list_known_good),
            (m, "ListAccountsUnderAttack"): ("s", r.list_attacked),
            (j, "ListBans"): ("", r.jail_list_bans),
            (j, "GetStatus"): ("", r.jail_status),
        }
        members = {member for _, member in [*self._handlers, *self._reads]}
        CALLS.known = frozenset(members | STANDARD_MEMBERS)

    def handle(self, msg: Message) -> bool | None:
        """Take a method call (True: it is ours now); pass anything else on."""
        if msg.message_type != MessageType.METHOD_CALL:
            return None
        if id(msg) in self._passthrough:
            return None  # authorised already: dbus-fast answers it
        trace = self._traces.start(msg.sender or "", msg.serial, msg.member or "")
        if self._answer_now(msg, trace):
            return True
        task = asyncio.get_running_loop().create_task(self._serve(msg, trace))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def _answer_now(self, msg: Message, trace: CallTrace | None) -> bool:
        """Answer a read polkit's kept yes covers, here and now; False: it needs a task."""
        member = msg.member or ""
        interface = msg.interface or self._infer_interface(msg.path or "", member)
        read = self._reads.get((interface, member))
        standard = interface in contract.STANDARD_INTERFACES
        if read is None and not standard:
            return False
        if contract.action_for(interface, member) != contract.ACTION_INFO:
            return False
        if read is not None and member == "GetBans" and not self._pages.is_ready:
            return False  # the first after a start or reload waits for the order
        if not self._authority.allowed_now(msg, contract.ACTION_INFO):
            return False
        started = time.monotonic()
        outcome = "ok"
        reply: Message | None = None
        with tracing(trace):
            mark("serving")
            mark("authorised")
            try:
                if read is not None:
                    reply = self._read_reply(msg, interface, *read)
                else:
                    self._pass_to_dbus_fast(msg)  # a standard interface: dbus-fast answers it
            except Exception as exc:
                reply = convert.to_dbus_error(exc)._as_message(msg)
                outcome = "error"
            mark("handled")
        self._reply(msg, reply, outcome, started, trace)
        return True

    async def _serve(self, msg: Message, trace: CallTrace | None = None) -> None:
        started = time.monotonic()
        outcome = "ok"
        with tracing(trace):
            mark("serving")
            try:
                reply = await self._answer(msg)
            except Exception as exc:
                reply = convert.to_dbus_error(exc)._as_message(msg)
                outcome = "denied" if reply.error_name == contract.ACCESS_DENIED else "error"
            mark("handled")
        self._reply(msg, reply, outcome, started, trace)

    def _reply(
        self, msg: Message, reply: Message | None, outcome: str, started: float,
        trace: CallTrace | None,
    ) -> None:  # fmt: skip
        CALLS.record(msg.member or "", outcome, time.monotonic() - started)
        if reply is not None and not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            if not self._bus.connected:
                return  # the caller got NoReply from the bus when we went away
            written = self._bus.send(reply)
            if trace is not None:  # finished once the reply is in the socket
                trace.mark("replied")
                written.add_done_callback(lambda done: self._traces.finish(trace, "written", done))
                return
        self._traces.finish(trace)

    async def _answer(self, msg: Message) -> Message | None:
        member = msg.member or ""
        interface = msg.interface or self._infer_interface(msg.path or "", member)
        if interface in contract.STANDARD_INTERFACES:
            await self._authority.authorize(msg, contract.action_for(interface, member))
            mark("authorised")
            self._pass_to_dbus_fast(msg)
            return None
        entry = self._handlers.get((interface, member))
        read = self._reads.get((interface, member))
        action = contract.action_for(interface, member, force=_wants_force(msg))
        if (entry is None and read is None) or action is None:
            raise DBusError(contract.ACCESS_DENIED, f"{interface}.{member} is not allowed")
        signature = (entry or read or ("", None))[0]
        jail = self._check_call(msg, interface, signature)
        await self._authority.authorize(msg, action)
        mark("authorised")
        if entry is None:
            if read is None:  # not reached: refused above
                raise DBusError(contract.ACCESS_DENIED, f"{interface}.{member} is not allowed")
            return self._read_reply(msg, interface, *read)
        caller = None
        if member in _COMMANDS:
            caller = Caller(await self._authority.caller_uid(msg.sender or ""), msg.sender or "")
            mark("caller known")
        with calling(caller):
            out_signature, body = await entry[1](msg, jail)
        return Message.new_method_return(msg, out_signature, body)

    def _check_call(self, msg: Message, interface: str, signature: str) -> str | None:
        """The jail of the object path (None on the manager), once the arguments fit.

        Raises:
            DBusError: InvalidArgs, or NoSuchJail for a path no jail has.
        """
        if msg.signature != signature:
            raise DBusError(
                contract.INVALID_ARGS,
                f"{msg.member} takes ({signature}), not ({msg.signature})",
            )
        if interface != contract.JAIL_INTERFACE:
            return None
        jail = self._jail_paths.get(msg.path or "")
        if jail is None:
            raise DBusError(contract.NO_SUCH_JAIL, f"no jail at {msg.path}")
        return jail

    def _read_reply(
        self, msg: Message, interface: str, signature: str, read: ReadHandler
    ) -> Message:
        out_signature, body = read(msg, self._check_call(msg, interface, signature))
        return Message.new_method_return(msg, out_signature, body)

    def _infer_interface(self, path: str, member: str) -> str:
        if path == contract.MANAGER_PATH and (contract.MANAGER_INTERFACE, member) in self._handlers:
            return contract.MANAGER_INTERFACE
        if path in self._jail_paths and (contract.JAIL_INTERFACE, member) in self._handlers:
            return contract.JAIL_INTERFACE
        for interface, name in contract.METHOD_ACTIONS:
            if name == member and interface in contract.STANDARD_INTERFACES:
                return interface
        return ""

    def _pass_to_dbus_fast(self, msg: Message) -> None:
        # Re-enter dbus-fast's own dispatch; ``handle`` lets this one message through.
        self._passthrough.add(id(msg))
        try:
            self._bus._process_message(msg)
        finally:
            self._passthrough.discard(id(msg))

    # Manager1

    async def _manager_ban(self, msg: Message, _jail: str | None) -> Reply:
        jail, address, duration_usec, options = msg.body
        await self._ban(jail, address, duration_usec, options)
        return "", []

    async def _ban(self, jail: str, address: str, duration_usec: int, options: Any) -> None:
        opts = _ban_options(options)
        network = convert.network_arg(address)
        await self._control.ban(
            jail,
            network,
            duration_usec / convert.USEC if duration_usec else None,
            permanent=bool(opts.get("permanent", False)),
            comment=str(opts.get("comment", "")),
            force=bool(opts.get("force", False)),
        )

    async def _manager_unban(self, msg: Message, _jail: str | None) -> Reply:
        address, jail = msg.body
        lifted = await self._control.unban(convert.network_arg(address), convert.jail_arg(jail))
        return "u", [convert.u32(lifted)]

    async def _unban_fleet(self, msg: Message, _jail: str | None) -> Reply:
        address, jail = msg.body
        network = convert.network_arg(address)
        lifted = await self._control.unban_fleet(network, convert.jail_arg(jail))
        return "u", [convert.u32(lifted)]

    async def _unban_all(self, msg: Message, _jail: str | None) -> Reply:
        lifted = await self._control.unban_all(convert.jail_arg(msg.body[0]))
        return "u", [convert.u32(lifted)]

    async def _get_bans(self, msg: Message, jail: str | None) -> Reply:
        await self._pages.ready()  # the first after a start or reload waits for the order
        return self._read.page_of_bans(msg, jail)

    async def _find_bans(self, msg: Message, _jail: str | None) -> Reply:
        query, offset, limit = msg.body
        total, generation, bans = await self._search.find(Query(query), offset, limit)
        return "uta(ssttus)", [convert.u32(total), generation, bans]

    async def _reload(self, _msg: Message, _jail: str | None) -> Reply:
        await self._control.reload()
        return "", []

    async def _test_line(self, msg: Message, _jail: str | None) -> Reply:
        jail, line = msg.body
        if len(line.encode(errors="replace")) > contract.MAX_TEST_LINE_BYTES:
            raise DBusError(
                contract.INVALID_ARGS,
                f"line longer than {contract.MAX_TEST_LINE_BYTES} bytes",
            )
        uid = await self._authority.caller_uid(msg.sender or "")
        caller = f"uid {uid}" if uid is not None else f"name {msg.sender}"
        result = await self._control.test_line(jail, line, caller)
        captures = {key: Variant("s", value) for key, value in result.captures.items()}
        return "bsa{sv}", [result.matched, result.address, captures]

    # Known-good pairs and accounts under attack (docs/detection.md): "" is every jail.

    async def _forget_known_good(self, msg: Message, _jail: str | None) -> Reply:
        jail, what = msg.body
        self._read.detection_jails(jail)
        return "u", [convert.u32(await self._control.forget_known_good(jail or None, what))]

    async def _end_attack(self, msg: Message, _jail: str | None) -> Reply:
        jail, account = msg.body
        self._read.detection_jails(jail)
        return "u", [convert.u32(await self._control.end_account_attack(jail or None, account))]

    # Jail1: the jail comes from the object path

    async def _jail_ban(self, msg: Message, jail: str | None) -> Reply:
        address, duration_usec, options = msg.body
        await self._ban(jail or "", address, duration_usec, options)
        return "", []

    async def _jail_unban(self, msg: Message, jail: str | None) -> Reply:
        lifted = await self._control.unban(convert.network_arg(msg.body[0]), jail or "")
        return "u", [convert.u32(lifted)]


def _ban_options(options: Any) -> dict[str, Any]:
    """The ``a{sv}`` options of Ban, checked: unknown keys and wrong types are InvalidArgs."""
    out: dict[str, Any] = {}
    for key, variant in dict(options).items():
        expected = _BAN_OPTIONS.get(key)
        if expected is None:
            raise DBusError(contract.INVALID_ARGS, f"unknown option {key!r}")
        if not isinstance(variant, Variant) or variant.signature != expected:
            raise DBusError(contract.INVALID_ARGS, f"option {key!r} must be of type {expected}")
        out[key] = variant.value
    return out


def _wants_force(msg: Message) -> bool:
    """Whether a Ban call asks for ``force`` (it then needs the manage action)."""
    if msg.member != "Ban" or not msg.body:
        return False
    options = msg.body[-1]
    if not isinstance(options, dict):
        return False
    force = options.get("force")
    return isinstance(force, Variant) and force.signature == "b" and bool(force.value)
