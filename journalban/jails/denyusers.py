"""``deny_users``: a failure naming a listed account bans at once."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

from journalban.config.detectors import DenyUsersConfig
from journalban.jails.detector import DENY_USER, Failure, Row, Verdict, VerdictTuple, account_key


class DenyUsers:
    """Case-sensitive globs of accounts no one may try (root, admin, ...). Keeps no state."""

    name = "deny_users"

    def __init__(self, config: DenyUsersConfig) -> None:
        self.config = config
        self._match = re.compile("|".join(fnmatch.translate(u) for u in config.users)).match

    @property
    def tracked(self) -> int:
        return 0

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        key, user, _, _ = seen
        if user is None or self._match(user) is None:
            return ()
        return (Verdict(DENY_USER, key, 1, self.config.bantime, account_key(user)),)

    def banned(self, key: str) -> None:
        pass

    def discard_changes(self) -> None:
        pass

    def changes(self) -> list[Row]:
        return []

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        pass
