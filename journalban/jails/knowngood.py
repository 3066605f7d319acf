"""Known-good pairs: the (account, network) pairs that logged in.

A filter's ``successregex`` finds accepted logins; each pair is remembered
for ``keep`` (30 days by default), at most ``max_pairs`` of them (the least
recently seen forgotten first). A failure of a known-good pair is never
banned by ``account``, ``subnet`` or ``attack_mode``, and no prefix ban
covers a known-good network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sized
from math import isfinite

from journalban.config.detectors import KnownGoodConfig
from journalban.jails.detector import ACCOUNT_MAX, Row, account_key
from journalban.jails.rowtext import number_text
from journalban.jails.rowvalues import DamagedRow, finite_time, json_value, network_text
from journalban.jails.tracked import Tracked

SEP = "\x00"  # between account and network in a pair's key (neither can hold it)


def pair_key(account: str, network: str) -> str:
    """A pair's key: the account as detectors keep it (``account_key``: the usual name, short
    and without NUL, as it is, without that call), SEP, the network."""
    if len(account) <= ACCOUNT_MAX and SEP not in account:
        return account + SEP + network
    return account_key(account) + SEP + network


class KnownGood:
    name = "known_good"

    def __init__(self, config: KnownGoodConfig) -> None:
        self.config = config
        # "account\0network" -> last login
        self.pairs: Tracked[float] = Tracked(config.max_pairs, text=number_text)
        self._networks: dict[str, int] = {}  # network -> pairs holding it
        # Whether any account logged in from a network: the dict's own lookup (a failure's
        # first question, asked in C), never replaced (``_recount`` refills it in place).
        self.network_known: Callable[[str], bool] = self._networks.__contains__

    @property
    def tracked(self) -> int:
        return len(self.pairs)

    def add(self, account: str, network: str, when: float) -> None:
        self.add_pair(pair_key(account, network), network, when)

    def renew(self, key: str, when: float) -> bool:
        """Whether the pair of key ``key`` (``pair_key``) is held; if so, it is now the most
        recently used, at the later of its time and ``when`` (most logins: 22,774 of
        sshd-near-miss's 23,094; one lookup, no builtin call)."""
        pairs = self.pairs
        old = pairs.take(key, None)
        if old is None:
            return False
        pairs.put_back(key, old if old > when else when)
        return True

    def login(self, waiting: Sized, network: str, account: str | None, when: float) -> bool:
        """An accepted login of ``account`` from ``network``: its pair known good, the most
        recently used, at the later of its time and ``when``. False, and nothing done, for
        a pair not held while ``waiting`` holds failures (``JailDetection``'s crowd: their
        verdicts first, then this again); True for a login without an account.

        ``JailDetection.succeeded`` is this method, the crowd bound (``functools.partial``,
        in C): a login of a held pair (22,774 of sshd-near-miss's 23,094) runs one frame of
        Python, where ``succeeded``, ``pair_key``, ``renew`` and ``put_back`` were four.
        The key is ``pair_key``'s, written out for the usual name.

        A held pair is looked up by the name as it is, before the name is checked: a held
        key is a usual name (``restore`` and ``add_pair`` keep no other), SEP, a network
        text (no NUL), so a name longer than ``ACCOUNT_MAX`` or holding a NUL never finds
        one (its first NUL is not the key's, or its part before SEP is too long)."""
        if not account:
            return True
        pairs = self.pairs
        key = account + SEP + network
        old = pairs.take(key, None)  # (``renew`` written out)
        if old is None and (len(account) > ACCOUNT_MAX or SEP in account):
            key = account_key(account) + SEP + network  # (the name as the pairs keep it)
            old = pairs.take(key, None)
        if old is not None:  # (``put_back`` written out: no frame of Python)
            pairs.kept[key] = pairs.dirty[key] = old if old > when else when
            return True
        if waiting:
            return False
        self.add_pair(key, network, when)
        return True

    def add_pair(self, key: str, network: str, when: float) -> None:
        """``add`` of the pair whose key (``pair_key``) the caller made already (a login's,
        asked first whether it is held: ``login``)."""
        if self.renew(key, when):  # a pair seen before
            return
        pairs = self.pairs
        before = len(pairs)
        pairs.touch(key, 0.0 if when < 0.0 else when)
        self._networks[network] = self._networks.get(network, 0) + 1
        if len(pairs) <= before:  # one was evicted: recount
            self._recount()

    def holds(self, account: str, network: str, now: float) -> bool:
        last = self.pairs.get(pair_key(account, network))
        return last is not None and last > now - self.config.keep

    @property
    def networks(self) -> list[str]:
        return list(self._networks)

    def listing(self) -> list[tuple[str, str, float]]:
        """(account, network, last login) of every pair."""
        return [(*key.split(SEP, 1), when) for key, when in self.pairs.items()]  # type: ignore[misc]

    def forget(self, account: str | None = None, network: str | None = None) -> int:
        """Forget the pairs of an account or of a network; how many."""
        gone = [
            key
            for key in self.pairs
            if (account is not None and key.split(SEP, 1)[0] == account)
            or (network is not None and key.split(SEP, 1)[1] == network)
        ]
        for key in gone:
            self.pairs.drop(key)
        if gone:
            self._recount()
        return len(gone)

    def expire(self, now: float) -> None:
        old = [k for k, when in self.pairs.items() if when <= now - self.config.keep]
        for key in old:
            self.pairs.drop(key)
        if old:
            self._recount()

    def _recount(self) -> None:
        networks = self._networks
        networks.clear()  # in place: network_known is this dict's own __contains__
        for key in self.pairs:
            network = key.split(SEP, 1)[1]
            networks[network] = networks.get(network, 0) + 1

    def discard_changes(self) -> None:
        self.pairs.discard()

    def changes(self) -> list[Row]:
        # (``number_text`` written out for a finite float, every time a login keeps: a row
        # per pair logged in from in a commit group, a call less each)
        return [
            (
                key,
                None
                if value is None
                else repr(value)
                if type(value) is float and isfinite(value)
                else number_text(value),
            )
            for key, value in self.pairs.changed().items()
        ]

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        pairs, counts = self.pairs, self._networks
        for key, value in rows:
            account, sep, network = key.partition(SEP)
            if not sep or account != account_key(account):
                raise DamagedRow(f"not a known-good pair's key: {key!r:.80}")
            network_text(network)  # (jails.rowvalues: else skipped, counted)
            when = finite_time(json_value(value))
            if when > now - self.config.keep:
                # Counted as loaded, not recounted: restore_rows hands damaged rows'
                # neighbours one at a time (a recount each would be quadratic).
                new = key not in pairs
                pairs.load(key, when)
                if new and key in pairs:
                    counts[network] = counts.get(network, 0) + 1
