"""The last lines of each counted network, kept for its ban: bounded in networks and bytes.

A ban carries the lines that caused it (``GetBanDetails``, the state). They
are kept per network while it is counted, and a flood of distinct addresses
must not make this grow without end: at most as many networks as the jail's
failure counter tracks (``max_tracked``: the least recently seen forgotten
first, as the counter forgets them), at most ``PER_NETWORK`` lines each, each
cut to ``LINE_CHARS`` characters, and ``MAX_BYTES`` in all per jail.
"""

from __future__ import annotations

from collections import OrderedDict

PER_NETWORK = 10
LINE_CHARS = 2048  # a line is up to 64 KiB; what identifies a failure is at its start
MAX_BYTES = 16 << 20  # per jail: lines of the networks seen least recently go first
_CUT = " [...]"


def cut(line: str) -> str:
    """A line longer than ``LINE_CHARS``, as it is kept."""
    return line[: LINE_CHARS - len(_CUT)] + _CUT


def _cost(line: str) -> int:
    """Bytes a kept line takes at most (a non-ASCII str stores up to 4 bytes a character)."""
    return len(line) if line.isascii() else 4 * len(line)


def _costs(kept: str | list[str]) -> int:
    return _cost(kept) if isinstance(kept, str) else sum(map(_cost, kept))


class RecentLines:
    """Lines per network text, least recently added network first.

    A network's one line is kept as the str itself, two or more in a list: most
    networks counted and never banned fail once or twice, and a list of one took
    ~80 bytes more a network (1.5 MB of the agent on the postfix corpus).
    """

    def __init__(self, max_networks: int, max_bytes: int = MAX_BYTES) -> None:
        self.max_networks = max_networks
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evicted = 0
        self._lines: OrderedDict[str, str | list[str]] = OrderedDict()
        # (network, line) of a network's first failure not added yet: the engine adds it
        # after the failure's verdicts, and not at all if they ban the network, whose ban
        # takes the line from here (decisions.engine, ``JailRuntime.first_room``).
        self.held: tuple[str, str] | None = None

    @property
    def kept(self) -> OrderedDict[str, str | list[str]]:
        """The networks whose lines are kept (read only)."""
        return self._lines

    def room(self) -> int:
        """How many more lines, each of a network not kept, ``add`` takes with no eviction."""
        by_bytes = (self.max_bytes - self.bytes) // (4 * LINE_CHARS)  # (a cut line's most)
        return min(self.max_networks - len(self._lines), by_bytes)

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, key: object) -> bool:
        return key in self._lines

    def add(self, key: str, line: str) -> None:
        if len(line) > LINE_CHARS:
            line = cut(line)
        lines = self._lines
        kept = lines.get(key)
        if kept is None:
            lines[key] = line
            self.bytes += len(line) if line.isascii() else 4 * len(line)
            if len(lines) > self.max_networks or self.bytes > self.max_bytes:
                self._evict()
            return
        # A network kept already: their number is the same, only the bytes may pass.
        lines.move_to_end(key)
        cost = len(line) if line.isascii() else 4 * len(line)
        if isinstance(kept, str):
            lines[key] = [kept, line]
        else:
            kept.append(line)
            if len(kept) > PER_NETWORK:
                gone = kept.pop(0)  # (``_cost`` written out: a call less)
                cost -= len(gone) if gone.isascii() else 4 * len(gone)
        self.bytes += cost
        if self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        lines = self._lines
        while len(lines) > self.max_networks or self.bytes > self.max_bytes:
            _, gone = lines.popitem(last=False)
            self.bytes -= _costs(gone)
            self.evicted += 1

    def lines_of(self, key: str) -> list[str]:
        """The network's lines kept so far (a copy; nothing is forgotten)."""
        kept = self._lines.get(key)
        if kept is None:
            return []
        return [kept] if isinstance(kept, str) else list(kept)

    def pop(self, key: str) -> tuple[str, ...]:
        """The network's lines, forgotten here (its ban or its expiry): a ban's ``lines``."""
        gone = self._lines.pop(key, None)
        if gone is None:
            return ()
        if isinstance(gone, str):  # (a network banned at its first failure: a flood's)
            self.bytes -= len(gone) if gone.isascii() else 4 * len(gone)
            return (gone,)
        self.bytes -= sum(map(_cost, gone))
        return tuple(gone)
