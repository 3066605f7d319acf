"""The ``Fleet`` property of Manager1: the fleet's status as typed ``a{sv}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dbus_fast import Variant

# status key -> (D-Bus key, signature)
_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("Name", "s"),
    "host": ("Host", "s"),
    "connected": ("Connected", "b"),
    "server": ("Server", "s"),
    "published": ("Published", "t"),
    "applied": ("Applied", "t"),
    "lifted": ("Lifted", "t"),
    "withdrawn": ("Withdrawn", "t"),
    "purged": ("Purged", "t"),
    "position": ("Position", "t"),
    "lag": ("Lag", "t"),
    "outbox": ("Outbox", "t"),
    "clock_offset": ("ClockOffset", "d"),
    "clock_ok": ("ClockOk", "b"),
    "last_error": ("LastError", "s"),
}


def fleet_properties(status: Mapping[str, Any]) -> dict[str, Variant]:
    """Empty when this host has no fleet; ``Skipped`` counts messages by reason."""
    out: dict[str, Variant] = {}
    for key, (name, signature) in _FIELDS.items():
        if key not in status:
            continue
        value = status[key]
        if signature == "t":
            value = max(0, int(value))
        elif signature == "d":
            value = float(value)
        elif signature == "b":
            value = bool(value)
        else:
            value = str(value)
        out[name] = Variant(signature, value)
    skipped = status.get("skipped")
    if isinstance(skipped, Mapping):
        out["Skipped"] = Variant("a{st}", {str(k): max(0, int(v)) for k, v in skipped.items()})
    return out
