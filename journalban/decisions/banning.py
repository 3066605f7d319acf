"""How a ban is decided: its length (the increment), recidive, and detectors' verdicts.

A mixin of ``DecisionEngine``: the engine counts, this module bans.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork, network_text, stored_network, stored_network_text
from journalban.config.detectors import JAIL_BANTIME
from journalban.config.schema import RecidiveConfig
from journalban.decisions import nativeban
from journalban.decisions.banmaker import new_ban, new_ban_pair
from journalban.decisions.firstban import FirstBans
from journalban.decisions.plainban import RECIDIVE, PlainBans, spent_lines
from journalban.decisions.policy import HISTORY_HORIZON, ban_length
from journalban.decisions.prefixes import subnet_prefix
from journalban.decisions.runtime import BanTable, Changes, JailRuntime
from journalban.decisions.unsaved import UnsavedBans, committed_history
from journalban.decisions.virtual import Span, VirtualBans
from journalban.errors import AddressError
from journalban.events import Ban
from journalban.jails.detector import ACCOUNT, FAILURES, REASONS, SUBNET, VerdictTuple
from journalban.state.banrows import BanRow, bans_of, ended_unread
from journalban.state.store import BatchCommit, StateStore

if TYPE_CHECKING:
    from journalban.clock import Clock
    from journalban.firewall.base import StoredHosts

__all__ = ["RECIDIVE", "BanDeciding"]

_JAIL, _NETWORK = operator.attrgetter("jail"), operator.attrgetter("network")


class BanDeciding:
    """Deciding bans; needs the engine's store, recidive, bans and memories."""

    store: StateStore
    clock: Clock
    recidive: RecidiveConfig
    bans: BanTable
    # (jail, network key) -> (since, until): failures in that span do not count, until the
    # lines read pass its end (``_virtually_banned``, ``_forget_virtual``).
    _virtual: VirtualBans
    jails: dict[str, JailRuntime]
    _unsaved: UnsavedBans
    # (network text, jail, banned_at) of the automatic bans decided by the running
    # process() call: they join ``_unsaved`` when it ends (``_keep_decided``).
    _decided: list[tuple[str, str, float]]
    # The bans decided at a network's first failure not yet in the step's lists and the
    # table's indexes (decisions.firstban): flushed before any other ban, and at the end.
    _first: FirstBans
    _check_prefix: Callable[[IPNetwork], None] | None
    # The step's facts for its first bans (decisions.plainban), read at its first ban.
    _plain: PlainBans | None = None

    def _history(self, network: IPNetwork, since: float, text: str) -> list[tuple[str, float]]:
        """(jail, banned_at) of the automatic bans of ``network`` (``text``: its
        ``network_text``) since ``since``, committed or not."""
        store = self.store
        committed = store.commit_count
        known = store.history_networks
        if known is not None and text not in known:  # (most networks banned: no read)
            history: list[tuple[str, float]] = []
        else:
            committed, history = committed_history(store, network, since, text)
        unsaved = self._unsaved.of(text, committed)
        if unsaved:
            history += [(j, at) for j, at in unsaved if at >= since]
        return history

    def _end_bans(self, rt: JailRuntime, commit: BatchCommit) -> None:
        """The step's bans all in its commit (``_first``), and in the jail's total."""
        self._first.flush(self.bans, self._decided)
        if commit.bans:  # (their lines readable until committed: ``UnsavedBans.lines``)
            self._unsaved.hold(commit.bans, commit.lines_of)
        rt.total_banned += commit.banned_delta
        self._plain = None  # (the step's commit not held)

    def _keep_decided(self) -> None:
        """The bans the process() call decided, as not yet committed (``_history``)."""
        self._unsaved.keep(self._decided)
        self._decided.clear()

    def seal(self) -> None:
        """The bans decided so far are written by the store's next commit, which the
        caller starts now (none running): the engine may decide on while it runs."""
        self._unsaved.seal(self.store.commit_count + 1)

    def load_bans(
        self, rows: Sequence[BanRow] | None = None, hosts: StoredHosts | None = None
    ) -> list[Ban]:
        """Active bans from the state (expired ones dropped); the caller restores them.

        A ban that ended by the clock while the agent was down, after the newest line time
        stored for its jail, is held as a virtual ban over its span (``_forget_virtual``
        drops it once the lines read pass its end): the agent reads on from its stored
        position, and the failures of that span read next did not count for an agent left
        running (the ban stood, or was held so when the chore lifted it). It is no running
        ban: not in the table, the firewall, ListBans or the counts.

        ``rows``: the running bans' rows, read by the caller (``state.banrows.running_rows``);
        ``hosts``: the same rows parsed already, when every one is of one IPv4 address
        (``state.rowcheck.host_rows``).
        """
        now = self.clock.now()
        texts: list[str] = []
        if rows is None:
            stored = self.store.active_bans(texts, running_at=now)
        else:  # (the running bans' rows read already: the start's one read)
            stored = bans_of(rows, texts, new_ban, hosts)
        keys = zip(map(_JAIL, stored), map(_NETWORK, stored), strict=True)  # (in C)
        self.bans = BanTable(zip(keys, stored, strict=True), texts=texts)
        jails, virtual = self.jails, self._virtual
        for jail, text, since, until in ended_unread(self.store.db, now, REASONS):
            if jail in jails and until > jails[jail].latest_line:
                with contextlib.suppress(AddressError):
                    virtual[(jail, network_text(stored_network(text)))] = (since, until)
        return list(self.bans.values())

    def _virtually_banned(self, jail: str, key: str, when: float) -> bool:
        """Within a ban that catching up skipped (it had expired before it was decided), or
        one the expiry chore lifted before the lines read passed its end (``_forget_virtual``)."""
        return self._virtual.holds(jail, key, when)

    def _forget_virtual(self, lifted: Sequence[Ban]) -> None:
        """Drop the virtual bans the lines read have passed; keep the bans the expiry chore
        lifts (``lifted``: their end passed by the clock) as virtual ones while the lines
        read are still before their end.

        A backlog is read by its own times, the chore runs by the clock (every second): a
        ban decided while catching up may end by the clock before the reading reaches its
        end. Lifted then, the failures of its span read after that counted, as many as the
        chore happened to run before them, and with them the bans they led to. Held so,
        they do not count, as if it still stood, however soon the chore ran.
        """
        virtual, jails = self._virtual, self.jails
        for (jail, key), (_, until) in list(virtual.items()):  # by the lines read
            if jail not in jails or until <= jails[jail].latest_line:
                del virtual[(jail, key)]
        for ban in lifted:
            rt = jails.get(ban.jail)
            if rt is not None and ban.expires_at is not None and ban.expires_at > rt.latest_line:
                virtual[(ban.jail, network_text(ban.network))] = (ban.banned_at, ban.expires_at)

    def _decide_ban(
        self,
        rt: JailRuntime,
        key: str,
        when: float,
        failures: int,
        source: str,
        commit: BatchCommit,
        changes: Changes,
        now: float,
        reason: str = FAILURES,
        bantime: float | None = JAIL_BANTIME,
        account: str | None = None,
    ) -> None:
        """Ban network ``key`` from ``when`` on (a ``reason`` of jails.detector.REASONS)."""
        if reason != SUBNET:
            plain = self._plain
            if plain is None or plain.commit is not commit:
                plain = self._plain = self._plain_bans(rt, commit, changes)
            # (stored_network_text, then PlainBans.ban: in C, decisions.nativeban)
            found = nativeban.first_ban(plain, key, when, failures, source, now, reason,
                                        bantime, account)  # fmt: skip
            if found is None:
                return
            network, text = found
        else:
            network, text = stored_network_text(key)  # (text: ``key`` itself, most often)
        self._ban_generally(rt, key, network, text, when, failures, source, commit, changes,
                            now, reason, bantime, account)  # fmt: skip

    def _ban_generally(
        self,
        rt: JailRuntime,
        key: str,
        network: IPNetwork,
        text: str,
        when: float,
        failures: int,
        source: str,
        commit: BatchCommit,
        changes: Changes,
        now: float,
        reason: str,
        bantime: float | None,
        account: str | None,
    ) -> None:
        """``_decide_ban``'s general steps (``text``: ``network``'s ``network_text``): its
        history read, the increment, recidive, the ban's bookkeeping one by one."""
        if self._first.run:  # (the bans before this one first, in order)
            self._first.flush(self.bans, self._decided)
        if (plain := self._plain) is not None and plain.known is None:
            self._plain = None  # (the history's networks may be read now: read them again)
        cfg = rt.config
        jail = cfg.name
        lines: tuple[str, ...] = ()
        if reason != SUBNET:
            # A network the jail counts by: its count is spent.
            commit.cleared.append(key)
            lines = spent_lines(rt, key)
        inc = cfg.increment
        rec = self.recidive
        # One read of the history serves the increment and recidive.
        horizon = (
            rec.findtime if rec.enabled and rec.findtime > HISTORY_HORIZON else HISTORY_HORIZON
        )
        history = self._history(network, when - horizon, text)
        since = when - HISTORY_HORIZON
        previous = 0
        if history:  # (most networks banned have none: no generator for them)
            previous = sum(
                1
                for j, at in history
                if at >= since and (j != RECIDIVE if inc.across_jails else j == jail)
            )
        base = cfg.bantime if bantime == JAIL_BANTIME else bantime
        # (ban_length's first answers, without its call: a first ban, most of them)
        length = base if base is None or not previous else ban_length(base, inc, previous)
        expires = None if length is None else when + length
        expired = expires is not None and expires <= now  # (Ban.expired)
        if lines and not expired:
            # The table keeps the ban without its lines (``kept``, built in the same call):
            # the state holds them once committed.
            ban, kept = new_ban_pair(jail, network, when, expires, previous + 1, reason,
                                     failures, source, lines, account or "")  # fmt: skip
        else:
            ban = kept = new_ban(jail, network, when, expires, previous + 1, reason, failures,
                                 source, lines, account or "")  # fmt: skip
        commit.history.append((ban, False))
        self._decided.append((text, jail, when))
        pending = 0
        if jail != RECIDIVE:
            bans_now = changes.pending_bans
            pending = bans_now[text] = bans_now.get(text, 0) + 1
        if expired:
            # Any failure before its end (the reading has passed its start) does not count.
            self._virtual[(jail, key)] = (-math.inf, expires or now)
            return
        commit.bans.append(ban)
        commit.banned_delta += 1  # (the jail's total_banned: the engine adds it at the end)
        self.bans.put((jail, network), kept, text)
        changes.bans.append(ban)
        # (no history and fewer bans in this step than recidive's count: nothing to feed)
        if rec.enabled and jail != RECIDIVE and (history or pending >= rec.maxretry):
            self._feed_recidive(ban, text, changes, now, history)

    def _feed_recidive(
        self, ban: Ban, text: str, changes: Changes, now: float, history: list[tuple[str, float]]
    ) -> None:
        """Ban ``ban``'s network (``text``: its ``network_text``) in recidive if it is due."""
        rec = self.recidive
        if not rec.enabled or ban.jail == RECIDIVE:
            return
        since = ban.banned_at - rec.findtime
        earlier = 0
        if history:
            earlier = sum(1 for jail, at in history if jail != RECIDIVE and at >= since)
        # This batch's own bans are not committed yet: count them too.
        pending = changes.pending_bans.get(text, 0)
        if earlier + pending < rec.maxretry:
            return
        if text in self.bans.texts_of(RECIDIVE):  # (RECIDIVE, network) in self.bans, by text
            return
        expires = None if rec.bantime is None else ban.banned_at + rec.bantime
        rban = Ban(
            RECIDIVE,
            ban.network,
            ban.banned_at,
            expires,
            1,
            "recidive",
            earlier + pending,
            ban.jail,
        )
        if rban.expired(now):
            return
        commit = BatchCommit(jail=RECIDIVE, bans=[rban], history=[(rban, False)], banned_delta=1)
        self._decided.append((text, RECIDIVE, rban.banned_at))
        changes.commits.append(commit)
        changes.bans.append(rban)
        self.bans.put((RECIDIVE, ban.network), rban, text)

    def _apply_verdicts(
        self,
        rt: JailRuntime,
        verdicts: Sequence[VerdictTuple],
        when: float,
        source: str,
        commit: BatchCommit,
        changes: Changes,
        now: float,
        banned: dict[str, Ban],
        virtual: dict[str, Span],
    ) -> list[str]:
        """Ban what the detectors called for; the counted networks banned (their count is spent).

        ``banned``, ``virtual``: the jail's bans and virtual bans by network text
        (``BanTable.texts_of``, ``VirtualBans.of``), as the caller holds them.
        """
        detection = rt.detection
        # (no known-good pair holds a network no account logged in from: one lookup in C)
        good_networks = detection.good_networks if detection is not None else None
        spent: list[str] = []
        first = nativeban.first_ban
        for v in verdicts:
            reason, key, count, bantime, account, _ = v  # (one unpacking, no attribute reads)
            if reason == SUBNET:
                narrowed = self._narrowed(rt, v)
                if narrowed is None:
                    continue
                key = narrowed
            elif (
                reason == ACCOUNT
                and good_networks is not None
                and good_networks(key)
                and detection is not None
                and detection.spares(account, key, when)
            ):
                continue
            ban = banned.get(key)
            if (
                ban is not None
                and ban.banned_at <= when
                and (ban.expires_at is None or when < ban.expires_at)
            ):
                continue
            if virtual and (span := virtual.get(key)) is not None and span[0] <= when < span[1]:
                continue  # (_virtually_banned, inline)
            if reason == SUBNET:
                self._decide_ban(
                    rt, key, when, count, source, commit, changes, now, reason, bantime, account
                )
                continue
            # ``_decide_ban`` written out (most verdicts' bans go ``PlainBans.ban``'s way: one
            # frame of Python less each)
            plain = self._plain  # (read at the step's first ban, again after a general one)
            if plain is None or plain.commit is not commit:
                plain = self._plain = self._plain_bans(rt, commit, changes)
            # (stored_network_text, then PlainBans.ban: in C, decisions.nativeban)
            found = first(plain, key, when, count, source, now, reason, bantime, account)
            if found is not None:
                self._ban_generally(rt, key, *found, when, count, source, commit, changes,
                                    now, reason, bantime, account)  # fmt: skip
            spent.append(key)
        return spent

    def _verdicts_applier(self) -> Callable[..., list[str]]:
        """``_apply_verdicts`` of this engine, in C where decisions.nativeban has it."""
        native = nativeban.apply_verdicts
        return self._apply_verdicts if native is None else partial(native, self)

    def _plain_bans(self, rt: JailRuntime, commit: BatchCommit, changes: Changes) -> PlainBans:
        """The step's facts for its first bans (``commit``: the step's), read now."""
        return PlainBans(rt, commit, changes, self.store, self.recidive, self._unsaved,
                         self._first, self.bans, self._virtual)  # fmt: skip

    def _narrowed(self, rt: JailRuntime, v: VerdictTuple) -> str | None:
        """The prefix a subnet verdict may ban: narrowed by the split rule, or None."""
        return subnet_prefix(rt, v, self._check_prefix)
