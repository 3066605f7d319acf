"""Virtual bans: spans in which a network's failures do not count, though no ban stands.

A ban decided while catching up that had already expired, or one the expiry
chore lifted before the lines read passed its end (``BanDeciding._forget_virtual``),
holds its span so. Few exist, but while any does, every failure of a jail is
checked against them: each jail's spans are kept by network text as well, a
dict the failure path reads without a call.
"""

from __future__ import annotations

Span = tuple[float, float]  # (since, until): failures in since <= when < until do not count


class VirtualBans(dict[tuple[str, str], Span]):
    """(jail, network text) -> span; ``of(jail)`` the same spans by network text."""

    def __init__(self) -> None:
        super().__init__()
        self._jails: dict[str, dict[str, Span]] = {}

    def of(self, jail: str) -> dict[str, Span]:
        """The jail's spans by network text (the same dict for the jail's whole life)."""
        found = self._jails.get(jail)
        if found is None:
            found = self._jails[jail] = {}
        return found

    def __setitem__(self, key: tuple[str, str], span: Span) -> None:
        super().__setitem__(key, span)
        self.of(key[0])[key[1]] = span

    def __delitem__(self, key: tuple[str, str]) -> None:
        super().__delitem__(key)
        self._jails[key[0]].pop(key[1], None)

    def holds(self, jail: str, key: str, when: float) -> bool:
        """Whether a failure of network ``key`` at ``when`` falls in a span of ``jail``."""
        span = self.of(jail).get(key)
        return span is not None and span[0] <= when < span[1]

    def pop(self, *args: object) -> Span:
        raise NotImplementedError("VirtualBans: delete spans one by one")

    def popitem(self) -> tuple[tuple[str, str], Span]:
        raise NotImplementedError("VirtualBans: delete spans one by one")

    def clear(self) -> None:
        super().clear()
        for spans in self._jails.values():
            spans.clear()  # in place: a step may hold its jail's dict

    def update(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError("VirtualBans: set spans one by one")

    def setdefault(self, *args: object) -> Span:
        raise NotImplementedError("VirtualBans: set spans one by one")
