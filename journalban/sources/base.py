"""The contract of a log source: it follows its input and hands out batches."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from journalban.events import LineBatch

# A line's own time (epoch seconds) read from its text, or None when it has none.
LineTimeReader = Callable[[str], float | None]


class Source(Protocol):
    """Follows one input from a saved position, forever, in batches.

    ``position`` in each batch is opaque text the source can resume from:
    the state stores it in the same transaction as what the batch caused.
    """

    key: str

    def batches(self) -> AsyncIterator[LineBatch]:
        """Batches as they come; waits (without polling where it can) for more."""
        ...

    def close(self) -> None: ...
