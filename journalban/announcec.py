"""The C accelerator of a run of bans' announcing (``journalban._announce``), or None.

A flood announces tens of thousands of bans, each a ``Banned`` signal, a log line, a
firewall entry and (dry-run) its place in the backend's table: in Python about 23,700
instructions a ban (bus.bannedwire, agent.banlines, agent.deciding's ``_entries``,
firewall.dryrun), in C about a third of that. Here at the package's top, as the
agent, the bus and the firewall each use it. The pure-Python functions stay the reference
and are used where the module is not built (a pip install without a compiler) or
``JOURNALBAN_NATIVE_ANNOUNCE=0``; each C function hands a ban it does not take as the
common case back to them. Looked up by its users at each run, so a test sets ``NATIVE``
to None to run the pure-Python path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Protocol


class Native(Protocol):
    """The functions of ``journalban._announce`` (its ``.pyi`` has them too)."""

    def pack_banned(
        self,
        bans: list[Any],
        start: int,
        next_serial: Callable[[], int],
        format_network: Callable[[Any], str],
        head: bytes,
        fields: bytes,
    ) -> tuple[bytes, int, int | None]: ...

    def pack_banned_many(
        self,
        bans: list[Any],
        start: int,
        limit: int,
        max_bytes: int,
        serial: int,
        format_network: Callable[[Any], str],
        head: bytes,
        fields: bytes,
    ) -> tuple[bytes, int, bool]: ...

    def ban_lines(
        self,
        bans: list[Any],
        rests: dict[Any, str],
        ban_message: Callable[[Any], str],
        format_network: Callable[[Any], str],
    ) -> list[str]: ...

    def ban_entries(
        self,
        bans: list[Any],
        entry_type: type,
        uses: dict[str, bool],
        ask: Callable[[str], bool],
    ) -> list[Any]: ...

    def hold_entries(
        self,
        add: list[Any],
        now: float,
        held: dict[str, dict[Any, float | None]],
        banned: dict[str, list[Any]],
    ) -> None: ...


def _load() -> Native | None:
    if os.environ.get("JOURNALBAN_NATIVE_ANNOUNCE", "1") == "0":
        return None
    try:
        from journalban import _announce
    except ImportError:
        return None
    return _announce


NATIVE: Native | None = _load()
