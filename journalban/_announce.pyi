from collections.abc import Callable
from typing import Any

def pack_banned(
    bans: list[Any],
    start: int,
    next_serial: Callable[[], int],
    format_network: Callable[[Any], str],
    head: bytes,
    fields: bytes,
) -> tuple[bytes, int, int | None]: ...
def pack_banned_many(
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
    bans: list[Any],
    rests: dict[Any, str],
    ban_message: Callable[[Any], str],
    format_network: Callable[[Any], str],
) -> list[str]: ...
def ban_entries(
    bans: list[Any], entry_type: type, uses: dict[str, bool], ask: Callable[[str], bool]
) -> list[Any]: ...
def hold_entries(
    add: list[Any],
    now: float,
    held: dict[str, dict[Any, float | None]],
    banned: dict[str, list[Any]],
) -> None: ...
