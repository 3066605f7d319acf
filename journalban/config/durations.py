"""Durations as admins write them: 600, 90s, 10m, 1h, 1d12h30m, 1w, permanent."""

from __future__ import annotations

import functools
import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_duration(value: object, *, allow_permanent: bool = False) -> float | None:
    """Seconds, or None for ``permanent`` when allowed.

    Raises:
        ValueError: with a message naming the accepted forms.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if allow_permanent and text in ("permanent", "forever", "-1"):
            return None
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if _WHOLE.fullmatch(text):
            return float(sum(float(n) * _UNITS[u] for n, u in _PART.findall(text)))
    forms = "seconds, or 90s, 10m, 1h, 1d12h30m, 1w"
    if allow_permanent:
        forms += ", or permanent"
    raise ValueError(f"not a duration: {value!r} (use {forms})")


@functools.lru_cache(maxsize=1024)  # every ban's log line names its length, mostly the same
def format_duration(seconds: float | None) -> str:
    """The shortest exact form: 600 -> 10m, 5400 -> 1h30m, None -> permanent."""
    if seconds is None:
        return "permanent"
    rest = round(seconds)
    if rest == 0:
        return "0s"
    out = []
    for unit in ("w", "d", "h", "m", "s"):
        n, rest = divmod(rest, _UNITS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)
