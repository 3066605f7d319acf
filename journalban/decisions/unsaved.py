"""The automatic bans decided but not yet visible to the history reads.

A ban's length (the increment) and recidive count the network's earlier bans:
those in the state's history, and those decided since that are not committed
yet. The agent commits the batches queued behind each other in one
transaction, and may decide the next group while one commits in a thread
(agent/overlap.py); then history reads go to a snapshot taken before that
commit started (state/snapshot.py), and the bans of each group are counted
here until a snapshot that holds them is taken: never twice, never missed.
"""

from __future__ import annotations

import sqlite3

from journalban.addresses import IPNetwork
from journalban.state.snapshot import HistorySnapshot
from journalban.state.store import BatchCommit, StateStore


class UnsavedBans:
    """network -> (jail, banned_at, group) of the automatic bans not yet readable."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._bans: dict[IPNetwork, list[tuple[str, float, int]]] = {}
        self._seen = store.commit_count
        self.group = 0  # the bans decided now belong to this group
        self.snapshot: HistorySnapshot | None = None
        # The connection history is read from while a commit runs in a thread (else None:
        # the store's own, and a commit since makes every ban here readable there).
        self.reader: sqlite3.Connection | None = None

    def sync(self) -> None:
        """Forget the bans a commit since made readable (no commit running in a thread)."""
        if self.reader is None and self.store.commit_count != self._seen:
            self._bans.clear()
            self._seen = self.store.commit_count

    def add(self, commits: list[BatchCommit]) -> None:
        group = self.group
        for done in commits:
            for ban, manual in done.history:
                if not manual:
                    self._bans.setdefault(ban.network, []).append((ban.jail, ban.banned_at, group))

    def of(self, network: IPNetwork, since: float) -> list[tuple[str, float]]:
        return [(j, at) for j, at, _ in self._bans.get(network, ()) if at >= since]

    def committing(self) -> None:
        """The bans decided so far are being committed in a thread, every earlier group's
        committed: read the history from a snapshot without them, count them here."""
        if self.snapshot is None:
            self.snapshot = HistorySnapshot(self.store.path)
        self.store.index_history()  # its set of networks, built now: no commit runs
        self.reader = self.snapshot.take()
        self._settle(self.group)
        self.group += 1

    def landed(self) -> None:
        """The commit running in a thread is done (and no other runs): read from the store."""
        self._settle(self.group)
        if self.snapshot is not None:
            self.snapshot.release()
        self.reader = None
        self._seen = self.store.commit_count

    def close(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None
        self.reader = None

    def _settle(self, below: int) -> None:
        """Forget the bans of the groups before ``below``: readable now."""
        for network in [n for n, bans in self._bans.items() if bans[0][2] < below]:
            kept = [b for b in self._bans[network] if b[2] >= below]
            if kept:
                self._bans[network] = kept
            else:
                del self._bans[network]
