"""Typed values read out of the configuration's mappings, each error at its file and line.

``Reader`` reads one mapping (a jail, a section); the converters below turn
one YAML value into what ``Config`` holds or raise ``ValueError`` with the
message the reader reports at the key's line. The sections' own parsers
(``detectors``, ``enforcement``, ``fleet``, ``metrics``) and ``validate``
share them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from journalban.addresses import IPNetwork, never_peer, parse_network
from journalban.config.durations import parse_duration
from journalban.config.hints import duration_hint, list_hint, network_hint, unknown_key
from journalban.config.yamlsource import KeyPath, Marks
from journalban.errors import AddressError, ConfigError


class Reader:
    """Reads typed values out of one mapping; each problem is reported at its line.

    Problems go to ``errors`` (shared by the whole configuration) and the
    value falls back to its default, so that one run names every error.
    Keys in ``inherited`` came from ``defaults:`` and are labelled so.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        marks: Marks,
        path: KeyPath,
        known: set[str],
        errors: list[ConfigError],
        inherited: frozenset[str] = frozenset(),
    ):
        self.data, self.marks, self.path = data, marks, path
        self.errors, self.inherited = errors, inherited
        for key in data:
            if key not in known:
                self.report(key, unknown_key(str(key), known))

    def _name(self, key: str) -> str:
        if key in self.inherited:
            return f"defaults.{key}"
        return ".".join(str(p) for p in (*self.path, key))

    def fail(self, key: str, message: str) -> ConfigError:
        where = ("defaults", key) if key in self.inherited else (*self.path, key)
        return self.marks.error(where, f"{self._name(key)}: {message}")

    def report(self, key: str, message: str) -> None:
        self.errors.append(self.fail(key, message))

    def get(self, key: str, default: Any, convert: Callable[[Any], Any]) -> Any:
        if key not in self.data:
            return default
        try:
            return convert(self.data[key])
        except (ValueError, TypeError) as exc:
            self.report(key, str(exc))
            return default

    def section(self, key: str, known: set[str]) -> Reader:
        value = self.data.get(key, {})
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.report(key, "must be a mapping")
            value = {}
        path = ("defaults", key) if key in self.inherited else (*self.path, key)
        return Reader(value, self.marks, path, known, self.errors)


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"must be true or false, not {v!r}")
    return v


def int_in(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}, not {v!r}")
        return v

    return convert


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if v not in options:
            raise ValueError(f"must be one of {', '.join(options)}, not {v!r}")
        return str(v)

    return convert


def nonempty(v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"must be a non-empty string, not {v!r}")
    return v


def opt_text(v: Any) -> str | None:
    return None if v is None else nonempty(v)


def text_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise ValueError("must be a list of strings")
    return tuple(v)


def duration_value(v: Any) -> float:
    result = parse_duration(v)
    if result is None:  # pragma: no cover - parse_duration returns None only for permanent
        raise ValueError("must be a duration")
    return result


def bantime_value(v: Any) -> float | None:
    hint = duration_hint(v)
    if hint is not None:
        raise ValueError(f"not a duration: {v!r} ({hint})")
    return parse_duration(v, allow_permanent=True)


def address_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str) and (hint := list_hint(v)) is not None:
        raise ValueError(hint)
    return text_list(v)


def network_list(v: Any) -> tuple[IPNetwork, ...]:
    out = []
    for item in address_list(v):
        try:
            out.append(parse_network(item))
        except AddressError as exc:
            hint = network_hint(item)
            raise ValueError(hint or str(exc)) from None
    return tuple(out)


def proxy_list(v: Any) -> tuple[IPNetwork, ...]:
    """trusted_proxies: the proxies' own addresses. A prefix holding addresses that
    are never a peer (0.0.0.0/0, a multicast range) would trust any client's
    X-Forwarded-For, so it is refused."""
    out = network_list(v)
    for net in out:
        if (why := never_peer(net)) is not None:
            raise ValueError(
                f"{net} holds addresses that are never a peer ({why}): name the proxies' "
                "own addresses or prefixes"
            )
    return out


def ignore_list(v: Any) -> tuple[str, ...]:
    items = address_list(v)
    for item in items:
        try:
            parse_network(item)
        except AddressError:
            hint = network_hint(item)
            if hint is not None:
                raise ValueError(hint) from None
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", item):
                raise ValueError(f"not an address, prefix or host name: {item!r}") from None
    return items
