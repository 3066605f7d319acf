import re
from collections.abc import Callable
from typing import Any

def adopt(match_type: type) -> bool: ...
def marks(m: re.Match[str]) -> tuple[int, int, list[int]]: ...
def run(
    text: str,
    ends: list[int],
    found: dict[int, int],
    i: int,
    table: dict[int, Any],
    verdicts: dict[str, bool],
    minutes: dict[str, float],
    dg: int,
    sg: int,
    fg: int,
    out: list[Any],
) -> tuple[int, int, int, re.Match[str] | None]: ...
def keys_of(
    hits: list[Any],
    sent: dict[str, None],
    sent_max: int,
    prefix: int | None,
    six: Callable[[str, int], tuple[int, int, str] | None],
) -> list[Any]: ...
