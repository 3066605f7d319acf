"""fail2ban's option values (durations, lists, ``name[k=v]``, ports) in journalban's terms."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from journalban.config.durations import parse_duration

_LONG_UNITS = {
    "s": 1, "sec": 1, "second": 1, "m": 60, "mi": 60, "min": 60, "minute": 60, "h": 3600,
    "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800, "mo": 2629800,
    "month": 2629800, "y": 31557600, "ye": 31557600, "year": 31557600,
}  # fmt: skip
_LONG_PART = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*([a-z]*)")
_CALL = re.compile(r"^\s*([\w.-]+)\s*((?:\[.*\])?)\s*$", re.DOTALL)
_PARAM = re.compile(r'\s*([\w.-]+)\s*=\s*(?:"([^"]*)"|\'([^\']*)\'|([^,\]]*))\s*,?')
JAIL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


def duration(text: str) -> float | None:
    """Seconds for fail2ban's ``600``, ``10m``, ``1h 30m``, ``2 days``; None for ``-1`` (forever).

    Raises:
        ValueError: not a duration fail2ban would accept.
    """
    value = text.strip().lower()
    if value.startswith("-"):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        pass
    total = 0.0
    for number, unit in _LONG_PART.findall(value):
        unit = unit.rstrip("s") if len(unit) > 2 else unit
        if unit not in _LONG_UNITS:
            raise ValueError(f"not a duration: {text!r}")
        total += float(number) * _LONG_UNITS[unit]
    if not _LONG_PART.findall(value):
        raise ValueError(f"not a duration: {text!r}")
    return total


def as_bool(text: str) -> bool:
    return text.strip().lower() in ("true", "yes", "1", "on", "enabled")


def words(text: str) -> list[str]:
    """Items separated by blanks, commas or new lines."""
    return [w for w in re.split(r"[\s,]+", text.strip()) if w]


@dataclass(frozen=True)
class Call:
    """``name[key=value, ...]`` as fail2ban writes filters and actions."""

    name: str
    params: dict[str, str]


def parse_call(text: str) -> Call:
    """Raises: ValueError when ``text`` is not ``name`` or ``name[k=v, ...]``."""
    m = _CALL.match(text)
    if m is None:
        raise ValueError(f"not NAME[key=value, ...]: {text!r}")
    params: dict[str, str] = {}
    # "%(banaction)s[...]" may add a second bracket to one that had its own: both count.
    for body in re.split(r"\]\s*\[", m.group(2)[1:-1]) if m.group(2) else []:
        pos = 0
        while pos < len(body):
            p = _PARAM.match(body, pos)
            if p is None or p.end() == pos:
                raise ValueError(f"bad parameters in {text!r}")
            params[p.group(1).lower()] = next(g for g in p.group(2, 3, 4) if g is not None).strip()
            pos = p.end()
    return Call(m.group(1), params)


def ignore_entries(text: str) -> tuple[list[str], list[str]]:
    """fail2ban's ignoreip as journalban entries, and the entries left out."""
    kept: list[str] = []
    dropped: list[str] = []
    for item in words(text):
        try:
            kept.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            if re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", item):
                kept.append(item)
            else:
                dropped.append(item)
    return kept, dropped


def action_calls(text: str) -> list[Call]:
    """Each action of a jail's multi-line ``action`` value."""
    calls: list[Call] = []
    buffer = ""
    for line in text.split("\n"):
        buffer = f"{buffer}\n{line}" if buffer else line
        if buffer.count("[") <= buffer.count("]") and buffer.strip():
            calls.append(parse_call(buffer))
            buffer = ""
    if buffer.strip():
        calls.append(parse_call(buffer))
    return calls


def port_spec(text: str) -> str:
    """fail2ban's ``ssh,2222`` or ``0:65535`` as journalban's port list."""
    items = words(text)
    if not items or any(i in ("0:65535", "1:65535", "all", "any") for i in items):
        return "all"
    return ",".join(i.replace(":", "-") for i in items)


def jail_name(name: str, taken: set[str]) -> str:
    """A valid journalban jail name for ``name``, different from those ``taken``."""
    if JAIL_NAME.fullmatch(name) and name not in taken:
        return name
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "jail"
    if not base[0].isalpha():
        base = "j-" + base
    base = base[:32]
    candidate, n = base, 2
    while candidate in taken or not JAIL_NAME.fullmatch(candidate):
        suffix = f"-{n}"
        candidate = base[: 32 - len(suffix)] + suffix
        n += 1
    return candidate
