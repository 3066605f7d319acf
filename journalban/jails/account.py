"""``account``: one account failing from many distinct networks is under attack.

Per account the networks it failed from within ``findtime`` (at most
``addresses`` of them: reaching that many starts the attack). Under attack,
for ``hold``: every network failing for the account is banned at its first
failure, and those already seen too. Failures of known-good pairs neither
count nor get banned. Bounded: at most ``max_tracked`` networks over all
accounts (the accounts used least recently forgotten first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain

from journalban.config.detectors import AccountConfig
from journalban.jails.detector import (
    ACCOUNT,
    ACCOUNT_MAX,
    Failure,
    Row,
    Verdict,
    VerdictTuple,
    account_key,
)
from journalban.jails.distinct import note_distinct
from journalban.jails.rowtext import number_text, times_text
from journalban.jails.rowvalues import (
    DamagedRow,
    finite_time,
    json_value,
    network_times,
    newest_at_most,
)
from journalban.jails.tracked import Tracked


class AccountAttack:
    name = "account"

    def __init__(self, config: AccountConfig, max_tracked: int) -> None:
        self.config = config
        self.ignored = frozenset(config.ignore_users)
        # account -> {network: last failure}; at most ``addresses`` networks each.
        self.seen: Tracked[dict[str, float]] = Tracked(
            max(1, max_tracked // config.addresses), text=times_text
        )
        # account -> end of hold
        self.attacked: Tracked[float] = Tracked(max_tracked, text=number_text)

    @property
    def tracked(self) -> int:
        return len(self.seen) + len(self.attacked)

    def under_attack(self, now: float) -> list[tuple[str, float, float]]:
        """(account, since, until) of the accounts under attack at ``now``."""
        hold = self.config.hold
        return [(a, until - hold, until) for a, until in self.attacked.items() if until > now]

    def attacked_until(self, account: str, now: float) -> float | None:
        until = self.attacked.get(account_key(account))
        return until if until is not None and until > now else None

    def end(self, account: str) -> bool:
        """End an account's attack state (an admin's decision); False if it had none."""
        found = account in self.attacked
        self.attacked.drop(account)
        self.seen.drop(account)
        return found

    def observe(self, seen: Failure) -> Sequence[VerdictTuple]:
        key, user, when, known_good = seen
        if user is None or known_good or user in self.ignored:
            return ()
        cfg = self.config
        # An attacked account is looked up by the name as it is first: every key held is a
        # kept name (``account_key``'s: at most ACCOUNT_MAX, no NUL; ``touch`` and
        # ``restore`` keep no other), so a hit proves the name kept as it is (a flood's
        # every failure: no length or NUL test). On a miss, the kept name (account_key
        # without its call for the usual name, short and without NUL: the same text), and
        # it is looked up again only when it differs from the name.
        until = self.attacked.get(user)
        if until is not None:
            account = user
        else:
            account = user if len(user) <= ACCOUNT_MAX and "\x00" not in user else account_key(user)
            if account is not user:
                until = self.attacked.get(account)
        if until is not None and when < until:  # (a plain tuple, no call: one per failure here)
            return ((ACCOUNT, key, 1, cfg.bantime, account, ()),)
        accounts = self.seen
        networks = held = accounts.get(account)
        if networks is None:
            networks = {key: when}
        elif (last := networks.get(key)) is None or when > last:
            networks[key] = when
        # (``note_distinct``'s first step written out: below ``addresses`` networks, most
        # failures, nothing is forgotten and no call made)
        if len(networks) < cfg.addresses or not note_distinct(
            networks, key, when, cfg.findtime, cfg.addresses
        ):
            if held is None:
                accounts.add(account, networks)
            else:  # (``touch`` of a held account written out: no frame of Python)
                accounts.take(account, None)
                accounts.kept[account] = accounts.dirty[account] = networks
            return ()
        self.seen.drop(account)
        self.attacked.touch(account, when + cfg.hold)
        return tuple(Verdict(ACCOUNT, key, len(networks), cfg.bantime, account) for key in networks)

    def banned(self, key: str) -> None:
        pass

    def discard_changes(self) -> None:
        self.seen.discard()
        self.attacked.discard()

    def changes(self) -> list[Row]:
        return [("s:" + k, v) for k, v in self.seen.changes()] + [
            ("a:" + k, v) for k, v in self.attacked.changes()
        ]

    def restore(self, rows: Iterable[tuple[str, str]], now: float) -> None:
        """Keep what counts after the newest stored time (at most ``now``): a network's
        latest failure, an attack's start. The lines read on from the committed position
        are as old as those (a backlog); ``observe`` judges by the lines' times."""
        hold = self.config.hold
        attacked: list[tuple[str, float]] = []
        seen: list[tuple[str, dict[str, float]]] = []
        for key, value in rows:
            kind, account = key[:2], key[2:]
            if account != account_key(account):  # a name the detector never keeps
                raise DamagedRow(f"not an account's key: {key!r:.80}")
            data = json_value(value)  # (jails.rowvalues: else skipped, counted)
            if kind == "a:":  # (an end beyond a hold from now: a hold from now; see AttackMode)
                attacked.append((account, min(finite_time(data), now + hold)))
            elif kind == "s:":
                seen.append((account, network_times(data)))
            else:
                raise DamagedRow(f"not an account's key: {key!r:.80}")
        at = newest_at_most(
            now, chain((t for _, n in seen for t in n.values()), (u - hold for _, u in attacked))
        )
        for account, until in attacked:
            if until > at:
                self.attacked.load(account, until)
        since = at - self.config.findtime
        for account, found in seen:
            networks = {k: t for k, t in found.items() if t > since}
            if networks:
                self.seen.load(account, networks)
