"""nf_tables messages as data: the table, chains, sets and rules for the jails, and
element batches for the bans. Pure: nothing here opens a socket.

The ruleset for a jail ``sshd`` on port 22 looks, in nft's words, like::

    table inet journalban {
        counter sshd { }
        set sshd-v4 { type ipv4_addr; flags timeout; }
        set sshd-v6 { type ipv6_addr; flags timeout; }
        set sshd-net4 { type ipv4_addr; flags interval,timeout; }
        set sshd-net6 { type ipv6_addr; flags interval,timeout; }
        set sshd-ports { type inet_service; flags interval; elements = { 22 } }
        chain input { type filter hook input priority -10; policy accept;
            meta l4proto tcp th dport @sshd-ports jump jail-sshd }
        chain jail-sshd {
            ip saddr @sshd-v4 counter name "sshd" drop
            ip6 saddr @sshd-v6 counter name "sshd" drop
            ip saddr @sshd-net4 counter name "sshd" drop
            ip6 saddr @sshd-net6 counter name "sshd" drop }
    }

The port match sits in the base chain, once per protocol; the address sets sit
in the jail's own chain, so a packet is looked up only in the sets of jails
whose ports it targets. One named counter per jail sums IPv4 and IPv6.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from journalban.addresses import IPNetwork
from journalban.firewall.base import JailRules, PortRange
from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.elements import element, element_message, interval_end
from journalban.firewall.nftables.netlink import (
    NLM_F_CREATE,
    Message,
    attr,
    be32,
    be64,
    cstr,
    nest,
)

SetKind = Literal["v4", "v6", "net4", "net6"]
SET_KINDS: Final[tuple[SetKind, ...]] = ("v4", "v6", "net4", "net6")
_JAIL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class NftOptions:
    """Where and how the ruleset hooks in; the agent fills these from its config."""

    table: str = "journalban"
    hook: Literal["input", "forward"] = "input"
    priority: int = -10
    verdict: Literal["drop", "reject"] = "drop"


@dataclass(frozen=True, slots=True)
class Existing:
    """The names found in our table before a setup."""

    chains: frozenset[str] = frozenset()
    sets: frozenset[str] = frozenset()
    counters: frozenset[str] = frozenset()


def set_name(jail: str, kind: SetKind) -> str:
    return f"{jail}-{kind}"


def ports_set_name(jail: str) -> str:
    return f"{jail}-ports"


def jail_chain_name(jail: str) -> str:
    return f"jail-{jail}"


def set_kind(network: IPNetwork) -> SetKind:
    """Which of a jail's four sets holds ``network``."""
    single = network.prefixlen == network.max_prefixlen
    if network.version == 4:
        return "v4" if single else "net4"
    return "v6" if single else "net6"


def check_jail_name(name: str) -> None:
    """Jail names become set and chain names; keep them to what nft prints plainly.

    Raises:
        ValueError: the name has other characters or is too long.
    """
    if not _JAIL_NAME.fullmatch(name):
        raise ValueError(f"jail name {name!r} cannot name nftables sets (use A-Z a-z 0-9 _ . -)")


def wanted_names(jails: Sequence[JailRules], options: NftOptions) -> Existing:
    """Every chain, set and counter a complete setup of ``jails`` holds."""
    chains: set[str] = {options.hook}
    sets: set[str] = set()
    for jail in jails:
        chains.add(jail_chain_name(jail.name))
        sets.update(set_name(jail.name, kind) for kind in SET_KINDS)
        if _port_ranges(jail):
            sets.add(ports_set_name(jail.name))
    return Existing(frozenset(chains), frozenset(sets), frozenset(j.name for j in jails))


def build_setup(
    jails: Sequence[JailRules], options: NftOptions, existing: Existing | None
) -> list[Message]:
    """One transaction that makes the table match ``jails`` and keeps the address sets.

    Rules are always rebuilt (flushed and added again); sets of jails that stay
    are kept with their elements; whatever belonged to jails now gone is deleted.
    """
    for jail in jails:
        check_jail_name(jail.name)
    table = options.table
    wanted = wanted_names(jails, options)
    msgs = [Message(c.NFT_MSG_NEWTABLE, attr(c.NFTA_TABLE_NAME, cstr(table)), NLM_F_CREATE)]
    if existing is not None:
        msgs += _teardown_stale(table, existing, wanted)
    msgs.append(_base_chain(options))
    set_id = 1
    for jail in jails:
        msgs.append(_counter(table, jail.name))
        for kind in SET_KINDS:
            msgs.append(_address_set(table, set_name(jail.name, kind), kind, set_id))
            set_id += 1
        ranges = _port_ranges(jail)
        if ranges:
            msgs.append(_ports_set(table, ports_set_name(jail.name), set_id))
            set_id += 1
            msgs.append(_port_elements(table, ports_set_name(jail.name), ranges))
        chain = jail_chain_name(jail.name)
        msgs.append(_chain(table, chain))
        for kind in SET_KINDS:
            msgs.append(_rule(table, chain, _ban_rule(jail.name, kind, options.verdict)))
        for expressions in _dispatch_rules(jail, chain, bool(ranges)):
            msgs.append(_rule(table, options.hook, expressions))
    return msgs


def build_teardown(options: NftOptions) -> list[Message]:
    return [Message(c.NFT_MSG_DELTABLE, attr(c.NFTA_TABLE_NAME, cstr(options.table)))]


def _teardown_stale(table: str, existing: Existing, wanted: Existing) -> list[Message]:
    msgs = [
        Message(c.NFT_MSG_DELRULE, names_attrs(c.NFTA_RULE_TABLE, table, c.NFTA_RULE_CHAIN, chain))
        for chain in sorted(existing.chains)
    ]
    # The base chain is re-created every time so a changed hook or priority applies.
    for chain in sorted(existing.chains):
        if chain not in wanted.chains or not chain.startswith("jail-"):
            msgs.append(
                Message(
                    c.NFT_MSG_DELCHAIN,
                    names_attrs(c.NFTA_CHAIN_TABLE, table, c.NFTA_CHAIN_NAME, chain),
                )
            )
    for name in sorted(existing.sets):
        if name not in wanted.sets:
            msgs.append(
                Message(
                    c.NFT_MSG_DELSET, names_attrs(c.NFTA_SET_TABLE, table, c.NFTA_SET_NAME, name)
                )
            )
        elif name.endswith("-ports"):
            # Ports may have changed: empty the set; setup adds the current ones.
            msgs.append(
                Message(
                    c.NFT_MSG_DELSETELEM,
                    names_attrs(c.NFTA_SET_ELEM_LIST_TABLE, table, c.NFTA_SET_ELEM_LIST_SET, name),
                )
            )
    for name in sorted(existing.counters - wanted.counters):
        msgs.append(
            Message(
                c.NFT_MSG_DELOBJ,
                names_attrs(c.NFTA_OBJ_TABLE, table, c.NFTA_OBJ_NAME, name)
                + attr(c.NFTA_OBJ_TYPE, be32(c.NFT_OBJECT_COUNTER)),
            )
        )
    return msgs


def names_attrs(k1: int, v1: str, k2: int, v2: str) -> bytes:
    """Two string attributes, typically the table and the object's name."""
    return attr(k1, cstr(v1)) + attr(k2, cstr(v2))


def _base_chain(options: NftOptions) -> Message:
    hook = nest(
        c.NFTA_CHAIN_HOOK,
        [
            attr(c.NFTA_HOOK_HOOKNUM, be32(c.HOOKS[options.hook])),
            attr(c.NFTA_HOOK_PRIORITY, be32(options.priority & 0xFFFFFFFF)),
        ],
    )
    payload = (
        names_attrs(c.NFTA_CHAIN_TABLE, options.table, c.NFTA_CHAIN_NAME, options.hook)
        + hook
        + attr(c.NFTA_CHAIN_POLICY, be32(c.NF_ACCEPT))
        + attr(c.NFTA_CHAIN_TYPE, cstr("filter"))
    )
    return Message(c.NFT_MSG_NEWCHAIN, payload, NLM_F_CREATE)


def _chain(table: str, name: str) -> Message:
    return Message(
        c.NFT_MSG_NEWCHAIN,
        names_attrs(c.NFTA_CHAIN_TABLE, table, c.NFTA_CHAIN_NAME, name),
        NLM_F_CREATE,
    )


def _counter(table: str, name: str) -> Message:
    data = nest(
        c.NFTA_OBJ_DATA,
        [attr(c.NFTA_COUNTER_BYTES, be64(0)), attr(c.NFTA_COUNTER_PACKETS, be64(0))],
    )
    payload = (
        names_attrs(c.NFTA_OBJ_TABLE, table, c.NFTA_OBJ_NAME, name)
        + attr(c.NFTA_OBJ_TYPE, be32(c.NFT_OBJECT_COUNTER))
        + data
    )
    return Message(c.NFT_MSG_NEWOBJ, payload, NLM_F_CREATE)


def _address_set(table: str, name: str, kind: SetKind, set_id: int) -> Message:
    v4 = kind in ("v4", "net4")
    flags = c.NFT_SET_TIMEOUT | (c.NFT_SET_INTERVAL if kind.startswith("net") else 0)
    payload = (
        names_attrs(c.NFTA_SET_TABLE, table, c.NFTA_SET_NAME, name)
        + attr(c.NFTA_SET_FLAGS, be32(flags))
        + attr(c.NFTA_SET_KEY_TYPE, be32(c.TYPE_IPV4_ADDR if v4 else c.TYPE_IPV6_ADDR))
        + attr(c.NFTA_SET_KEY_LEN, be32(4 if v4 else 16))
        + attr(c.NFTA_SET_ID, be32(set_id))
    )
    return Message(c.NFT_MSG_NEWSET, payload, NLM_F_CREATE)


def _ports_set(table: str, name: str, set_id: int) -> Message:
    payload = (
        names_attrs(c.NFTA_SET_TABLE, table, c.NFTA_SET_NAME, name)
        + attr(c.NFTA_SET_FLAGS, be32(c.NFT_SET_INTERVAL))
        + attr(c.NFTA_SET_KEY_TYPE, be32(c.TYPE_INET_SERVICE))
        + attr(c.NFTA_SET_KEY_LEN, be32(2))
        + attr(c.NFTA_SET_ID, be32(set_id))
    )
    return Message(c.NFT_MSG_NEWSET, payload, NLM_F_CREATE)


def _port_ranges(jail: JailRules) -> list[PortRange]:
    """The jail's ports merged into disjoint ranges (nft refuses overlapping intervals)."""
    if jail.all_ports or not jail.ports:
        return []
    merged: list[PortRange] = []
    for r in sorted(jail.ports, key=lambda p: (p.first, p.last)):
        if merged and r.first <= merged[-1].last + 1:
            merged[-1] = PortRange(merged[-1].first, max(merged[-1].last, r.last))
        else:
            merged.append(r)
    return merged


def _port_elements(table: str, name: str, ranges: Sequence[PortRange]) -> Message:
    elements = []
    for r in ranges:
        elements.append(element(r.first.to_bytes(2, "big"), None))
        if r.last < 0xFFFF:
            elements.append(interval_end((r.last + 1).to_bytes(2, "big")))
    return element_message(c.NFT_MSG_NEWSETELEM, table, name, elements)


# --- rule expressions ---------------------------------------------------------------


def _expr(name: str, *attrs: bytes) -> bytes:
    return nest(
        c.NFTA_LIST_ELEM, [attr(c.NFTA_EXPR_NAME, cstr(name)), nest(c.NFTA_EXPR_DATA, attrs)]
    )


def _meta(key: int) -> bytes:
    return _expr(
        "meta", attr(c.NFTA_META_DREG, be32(c.NFT_REG_1)), attr(c.NFTA_META_KEY, be32(key))
    )


def _cmp_eq(value: bytes) -> bytes:
    return _expr(
        "cmp",
        attr(c.NFTA_CMP_SREG, be32(c.NFT_REG_1)),
        attr(c.NFTA_CMP_OP, be32(c.NFT_CMP_EQ)),
        nest(c.NFTA_CMP_DATA, [attr(c.NFTA_DATA_VALUE, value)]),
    )


def _payload(base: int, offset: int, length: int) -> bytes:
    return _expr(
        "payload",
        attr(c.NFTA_PAYLOAD_DREG, be32(c.NFT_REG_1)),
        attr(c.NFTA_PAYLOAD_BASE, be32(base)),
        attr(c.NFTA_PAYLOAD_OFFSET, be32(offset)),
        attr(c.NFTA_PAYLOAD_LEN, be32(length)),
    )


def _lookup(set_name: str) -> bytes:
    return _expr(
        "lookup",
        attr(c.NFTA_LOOKUP_SET, cstr(set_name)),
        attr(c.NFTA_LOOKUP_SREG, be32(c.NFT_REG_1)),
    )


def _verdict(code: int, chain: str | None = None) -> bytes:
    inner = [attr(c.NFTA_VERDICT_CODE, be32(code & 0xFFFFFFFF))]
    if chain is not None:
        inner.append(attr(c.NFTA_VERDICT_CHAIN, cstr(chain)))
    data = nest(c.NFTA_IMMEDIATE_DATA, [nest(c.NFTA_DATA_VERDICT, inner)])
    return _expr("immediate", attr(c.NFTA_IMMEDIATE_DREG, be32(c.NFT_REG_VERDICT)), data)


def _ban_rule(jail: str, kind: SetKind, verdict: str) -> list[bytes]:
    """``ip saddr @set counter name "jail" drop`` (or ip6, or reject)."""
    v4 = kind in ("v4", "net4")
    exprs = [
        _meta(c.NFT_META_NFPROTO),
        _cmp_eq(bytes([c.NFPROTO_IPV4 if v4 else c.NFPROTO_IPV6])),
        _payload(c.NFT_PAYLOAD_NETWORK_HEADER, 12 if v4 else 8, 4 if v4 else 16),
        _lookup(set_name(jail, kind)),
        _expr(
            "objref",
            attr(c.NFTA_OBJREF_IMM_TYPE, be32(c.NFT_OBJECT_COUNTER)),
            attr(c.NFTA_OBJREF_IMM_NAME, cstr(jail)),
        ),
    ]
    if verdict == "reject":
        # icmpx: the kernel answers in ICMP or ICMPv6 as the packet needs.
        exprs.append(
            _expr(
                "reject",
                attr(c.NFTA_REJECT_TYPE, be32(c.NFT_REJECT_ICMPX_UNREACH)),
                attr(c.NFTA_REJECT_ICMP_CODE, bytes([c.NFT_REJECT_ICMPX_PORT_UNREACH])),
            )
        )
    else:
        exprs.append(_verdict(c.NF_DROP))
    return exprs


def _dispatch_rules(jail: JailRules, chain: str, has_ports: bool) -> list[list[bytes]]:
    """Base-chain rules: ``meta l4proto P [th dport @ports] jump jail-X`` per protocol."""
    if not jail.protocols:
        return [[_verdict(c.NFT_JUMP, chain)]]
    rules = []
    for proto in jail.protocols:
        exprs = [_meta(c.NFT_META_L4PROTO), _cmp_eq(bytes([c.IP_PROTOCOLS[proto]]))]
        if has_ports:
            # The destination port is at offset 2 in TCP, UDP, UDP-Lite and SCTP alike.
            exprs += [
                _payload(c.NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2),
                _lookup(ports_set_name(jail.name)),
            ]
        exprs.append(_verdict(c.NFT_JUMP, chain))
        rules.append(exprs)
    return rules


def _rule(table: str, chain: str, exprs: Iterable[bytes]) -> Message:
    payload = names_attrs(c.NFTA_RULE_TABLE, table, c.NFTA_RULE_CHAIN, chain) + nest(
        c.NFTA_RULE_EXPRESSIONS, exprs
    )
    return Message(c.NFT_MSG_NEWRULE, payload, NLM_F_CREATE | c.NLM_F_APPEND)
