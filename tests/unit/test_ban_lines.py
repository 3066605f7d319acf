"""A run of bans' log lines with their shared rest formatted once (agent.banlines): the
text ``event_message`` gives, ban by ban; ``format_network`` by the network's text."""

from __future__ import annotations

import ipaddress
import random

from journalban.addresses import (
    IPNetwork,
    format_network,
    format_networks,
    network_text,
    stored_network,
)
from journalban.agent import banlines
from journalban.agent.banlines import ban_message, ban_messages
from journalban.agent.callers import Caller, calling
from journalban.agent.logs import EventLog, event_message
from journalban.events import Ban
from support.agentlog import agent_log

REASONS = ["failures", "account", "subnet", "slow", "attack_mode", "manual", "recidive", "x"]
ACCOUNTS = ["", "root", "o'brien", 'say "hi"', "ünïcode", "a\\b", "tab\there"]
SOURCES = ["files:/var/log/auth.log", "journal", "manual", "fleet:web-1", "fleet:", ""]
LENGTHS = [None, 0.0, -5.0, 0.4, 1.0, 59.6, 600.0, 5400.0, 172_800.0, 1_209_600.5, 1e9]


def _networks(rng: random.Random) -> list[IPNetwork]:
    nets: list[IPNetwork] = []
    for _ in range(200):
        v4 = ipaddress.IPv4Network((rng.getrandbits(32), 32))
        nets.append(stored_network(str(v4)))
        nets.append(ipaddress.IPv4Network((rng.getrandbits(32), rng.randrange(33)), strict=False))
        plen = rng.choice([32, 48, 64, 127, 128, rng.randrange(129)])
        nets.append(ipaddress.IPv6Network((rng.getrandbits(128), plen), strict=False))
    return nets


def _bans(rng: random.Random) -> list[Ban]:
    bans = []
    for net in _networks(rng):
        at = rng.uniform(1.6e9, 1.8e9)
        length = rng.choice(LENGTHS)
        bans.append(Ban(
            rng.choice(["sshd", "postfix", "recidive"]), net, at,
            None if length is None else at + length, rng.randrange(1, 5),
            rng.choice(REASONS), rng.randrange(10), rng.choice(SOURCES), (),
            rng.choice(ACCOUNTS),
        ))  # fmt: skip
    return bans


def test_each_line_is_the_one_event_message_gives() -> None:
    rng = random.Random(19)
    for ban in _bans(rng) * 2:  # (the second time from the remembered rests)
        assert ban_message(ban) == event_message("ban", ban, 1.7e9)


def test_a_runs_lines_are_the_ones_ban_message_gives() -> None:
    """``ban_messages``: the rests remembered looked up with its own length (not through
    ``ban_message``), the same text, whatever the length (negative, zero, not a number)."""
    bans = _bans(random.Random(23))
    at = 1.7e9
    for length in (-0.0, float("nan"), 1e-300):
        bans.append(Ban("sshd", stored_network("198.51.100.7/32"), at, at + length, 1,
                        "account", 3, "journal", (), "root"))  # fmt: skip
    banlines._rests.clear()
    assert ban_messages(bans) == [event_message("ban", ban, 1.7e9) for ban in bans]
    assert banlines._rests  # (now remembered: the second time from them)
    assert ban_messages(bans) == [event_message("ban", ban, 1.7e9) for ban in bans]


def test_the_remembered_rests_stay_bounded() -> None:
    rng = random.Random(7)
    for n in range(banlines.REST_MEMO * 2):
        ban = Ban("sshd", stored_network(f"192.0.2.{n % 250}/32"), 1e9, 1e9 + n + 1, 1,
                  "account", 1, "journal", (), f"user{n}")  # fmt: skip
        assert ban_message(ban) == event_message("ban", ban, 0.0)
        assert len(banlines._rests) <= banlines.REST_MEMO
    assert rng  # (seeded: the same bans each run)


def _logged(events: EventLog, bans: list[Ban]) -> list[str]:
    with agent_log() as out:
        events.events("ban", bans, 1.7e9)
    return out.getvalue().splitlines()


def test_the_event_log_writes_what_it_noted_before() -> None:
    bans = _bans(random.Random(3))
    events = EventLog(None)
    assert _logged(events, bans) == [event_message("ban", ban, 1.7e9) for ban in bans]


def test_a_remembered_manual_caller_still_goes_through_the_note() -> None:
    events = EventLog(None)
    ban = Ban("sshd", stored_network("203.0.113.5/32"), 1e9, 1e9 + 600, 1, "failures", 5,
              "journal", (), "")  # fmt: skip
    caller = Caller(0, ":1.42")
    with calling(caller):
        events.commands.banned("sshd", "203.0.113.5")  # a manual ban's caller remembered
        assert _logged(events, [ban]) == [f"Ban 203.0.113.5 in jail sshd for 10m by {caller}"]
    assert events.commands.ban_caller("sshd", "203.0.113.5") == caller
    assert _logged(events, [ban]) == ["Ban 203.0.113.5 in jail sshd for 10m"]
    assert not events.commands.holds_callers  # the agent's own ban forgot the caller


def test_format_network_by_its_text() -> None:
    rng = random.Random(11)
    for net in _networks(rng):
        network_text(net)
        want = str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)
        assert format_network(net) == want


def test_format_networks_is_format_network_of_each() -> None:
    """A run's names in one loop: texts remembered or not, IPv4 and IPv6 of every length
    (an IPv6 /32 or /128 among them), in order."""
    rng = random.Random(13)
    nets = _networks(rng)
    fresh = _networks(random.Random(13))  # the same networks, no text remembered yet
    want = [format_network(net) for net in nets]
    assert format_networks(fresh) == want
    assert format_networks(iter(nets)) == want
    assert format_networks([]) == []


def test_a_runs_lines_from_any_iterable() -> None:
    """``ban_messages`` of a generator, a tuple and a list: the same lines."""
    bans = _bans(random.Random(29))
    want = [event_message("ban", ban, 1.7e9) for ban in bans]
    assert ban_messages(ban for ban in bans) == want
    assert ban_messages(tuple(bans)) == want
    assert ban_messages(bans) == want
