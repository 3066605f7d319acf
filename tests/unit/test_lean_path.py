"""The agent's lean failure path finds exactly what the general path finds.

``LineMatcher.hits`` (the agent) and ``LineMatcher.match_lines`` (``journalban
regex``, the samples) must agree on every line: same lines, same address,
same time. Checked on every filter's samples in every mode, on fail2ban's
sample logs when ../shared is there, and on attacker-shaped input.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from journalban.addresses import (
    ban_network,
    ipv4_host_key,
    network_text,
    parse_address,
    stored_network,
)
from journalban.events import Hit, JoinedLines, LineBatch
from journalban.matching.engine import MATCHED, CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef
from journalban.matching.library import FilterLibrary
from support.corpus import ALIASES, CORPUS, corpus_available

LIBRARY = FilterLibrary(override_dir=None)
NOW = 1_800_000_000.0


def _general(fdef: FilterDef, mode: str, lines: list[str], prefixed: bool) -> list[Hit]:
    matcher = LineMatcher(CompiledFilter(fdef, mode), lambda: NOW)
    times = [] if prefixed else [NOW - i for i in range(len(lines))]
    found: list[Hit] = []
    for o in matcher.match_lines(lines, prefixed, times):
        if o.kind == MATCHED and o.address is not None:
            when = o.time if o.time is not None else (times[o.index] if times else None)
            found.append((lines[o.index], str(o.address), when, o.user, 0))
    return found


def _lean(fdef: FilterDef, mode: str, batch: LineBatch) -> list[Hit]:
    hits = LineMatcher(CompiledFilter(fdef, mode), lambda: NOW).hits(batch)
    # The decisions stage validates the text (an invalid one counts nothing):
    # compare the addresses it gets to.
    return [
        (line, str(address), when, user, mark)
        for line, host, when, user, mark in hits
        if (address := parse_address(host)) is not None
    ]


def _agree(fdef: FilterDef, lines: list[str]) -> None:
    lines = [line for line in lines if "\n" not in line]
    messages = [line.split(": ", 1)[-1] for line in lines]
    for mode in fdef.modes:
        want = _general(fdef, mode, lines, True)
        joined = JoinedLines("\n".join(lines), len(lines))
        assert _lean(fdef, mode, LineBatch("f", joined, "p")) == want, (fdef.name, mode)
        assert _lean(fdef, mode, LineBatch("f", lines, "p")) == want, (fdef.name, mode)
        times = [NOW - i for i in range(len(messages))]
        want = _general(fdef, mode, messages, False)
        batch = LineBatch("j", messages, "c", times=times, prefixed=False)
        assert _lean(fdef, mode, batch) == want, (fdef.name, mode, "messages")


@pytest.mark.parametrize("name", LIBRARY.names())
def test_lean_path_agrees_on_the_samples(name: str) -> None:
    fdef = LIBRARY.load(name)
    _agree(fdef, [s.line for s in fdef.samples])


@pytest.mark.parametrize("name", LIBRARY.names())
def test_lean_path_agrees_on_the_corpus(name: str) -> None:
    if not corpus_available():
        pytest.skip("../shared/corpus is not here")
    files = [CORPUS / n for n in ALIASES.get(name, [name]) if (CORPUS / n).is_file()]
    if not files:
        pytest.skip(f"no sample log for {name}")
    fdef = LIBRARY.load(name)
    for path in files:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        _agree(fdef, [line for line in lines if line.strip() and not line.startswith("#")])


def test_lean_path_agrees_when_user_names_hold_addresses() -> None:
    fdef = LIBRARY.load("sshd")
    forged = [
        "Nov 21 10:00:01 host sshd[1]: Invalid user 198.51.100.7 from 203.0.113.5 port 22",
        "Nov 21 10:00:02 host sshd[1]: Failed password for invalid user x from 198.51.100.7 "
        "port 1 ssh2 from 203.0.113.9 port 2 ssh2",
        "Nov 21 10:00:03 host sshd[1]: Failed password for root from 203.0.113.256 port 1 ssh2",
        "Nov 21 10:00:04 host sshd[1]: Failed password for root from 010.0.0.1 port 1 ssh2",
        "Nov 21 10:00:05 host sshd[1]: Failed password for root from [2001:db8::1] port 1 ssh2",
        "Nov 21 10:00:06 host sshd[1]: Failed password for root from ::ffff:203.0.113.8 port 1 ssh2",
    ]
    _agree(fdef, forged)


def _general_network(text: str) -> tuple[int, str] | None:
    address = parse_address(text)
    if not isinstance(address, ipaddress.IPv4Address) or text != str(address):
        return None
    network = ban_network(address, 64)
    return int(network.network_address), str(network)


def test_ipv4_shortcut_takes_exactly_the_dotted_quads_ipaddress_takes() -> None:
    rng = random.Random(4)
    texts = [
        "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5",
        " 1.2.3.4", "1.2.3.4 ", "[1.2.3.4]", "::ffff:1.2.3.4", "1.2.3.04", "1..2.3", "",
        "1.2.3.4/32", "-1.2.3.4", "+1.2.3.4", "1.2.3.0x1",
    ]  # fmt: skip
    texts += [".".join(str(rng.randrange(0, 300)) for _ in range(4)) for _ in range(2000)]
    for text in texts:
        assert ipv4_host_key(text) == _general_network(text), text


def test_a_stored_network_remembers_exactly_its_own_text() -> None:
    # stored_network seeds network_text's memo from the text it was given:
    # only a canonical text may be remembered, or bans would be keyed apart.
    rng = random.Random(5)
    texts = ["1.2.3.4/032", "1.2.3.4/ 32", "10.0.0.0/8", "2001:DB8::/64", "2001:db8::/64"]
    texts += [f"{'.'.join(str(rng.randrange(0, 256)) for _ in range(4))}/32" for _ in range(500)]
    for text in texts:
        network = stored_network(text)
        assert network_text(network) == str(network), text
