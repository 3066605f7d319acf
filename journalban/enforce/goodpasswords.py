"""Which (login, password hash) pairs Dovecot has accepted: a backend error's tell.

Dovecot 2.3 reports a backend error (a passdb or userdb it cannot reach) as
``success: false``, like a wrong password. Its ``pwhash`` attribute is a
hash of a secret nonce, the login and the password tried: a failure with
the pair of an earlier success is the right password failing, Dovecot's
fault, not the client's. Kept in memory, for the most recent logins
(bounded), so after a restart it learns again from the next successes.
With Dovecot's default 12-bit truncated hash one wrong password in 4096
matches by chance and goes uncounted.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_LOGINS = 50_000
HASHES_PER_LOGIN = 4


class GoodPasswords:
    """Recently accepted password hashes per login (least recently used forgotten first)."""

    def __init__(self, max_logins: int = MAX_LOGINS) -> None:
        self.max_logins = max_logins
        self._hashes: OrderedDict[str, list[str]] = OrderedDict()

    def accepted(self, login: str, pwhash: str) -> None:
        if not login or not pwhash:
            return
        hashes = self._hashes.pop(login, [])
        if pwhash in hashes:
            hashes.remove(pwhash)
        hashes.append(pwhash)
        self._hashes[login] = hashes[-HASHES_PER_LOGIN:]
        while len(self._hashes) > self.max_logins:
            self._hashes.popitem(last=False)

    def known(self, login: str, pwhash: str) -> bool:
        """Whether ``pwhash`` is a password ``login`` logged in with (a failure with it is not the client's)."""
        return bool(login and pwhash) and pwhash in self._hashes.get(login, ())

    def __len__(self) -> int:
        return len(self._hashes)
