"""The nftables builder: messages checked as data, no root and no kernel."""

from __future__ import annotations

import ipaddress

import pytest

from journalban.firewall.base import JailRules, PortRange
from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.builder import (
    Existing,
    NftOptions,
    build_setup,
    wanted_names,
)
from journalban.firewall.nftables.elements import (
    build_elements,
    element,
    key_range,
    network_elements,
)
from journalban.firewall.nftables.netlink import (
    MAX_BATCH_BYTES,
    Message,
    decode,
    encode,
    iter_attrs,
    split_batches,
    text,
)

SSH = JailRules("sshd", (PortRange(22, 22), PortRange(2222, 2223)), ("tcp",))


def names_of(messages: list[Message], kind: int, name_attr: int) -> list[str]:
    return [text(m.attrs[name_attr]) for m in messages if m.kind == kind]


def expression_names(rule: Message) -> list[str]:
    exprs = rule.attrs[c.NFTA_RULE_EXPRESSIONS]
    return [text(decode(e)[c.NFTA_EXPR_NAME]) for _, e in iter_attrs(exprs)]


def test_setup_creates_table_base_chain_four_sets_ports_and_counter() -> None:
    msgs = build_setup([SSH], NftOptions(), None)
    assert msgs[0].kind == c.NFT_MSG_NEWTABLE
    assert text(msgs[0].attrs[c.NFTA_TABLE_NAME]) == "journalban"
    sets = names_of(msgs, c.NFT_MSG_NEWSET, c.NFTA_SET_NAME)
    assert sets == ["sshd-v4", "sshd-v6", "sshd-net4", "sshd-net6", "sshd-ports"]
    assert names_of(msgs, c.NFT_MSG_NEWCHAIN, c.NFTA_CHAIN_NAME) == ["input", "jail-sshd"]
    assert names_of(msgs, c.NFT_MSG_NEWOBJ, c.NFTA_OBJ_NAME) == ["sshd"]


def test_address_sets_have_timeout_and_prefix_sets_also_interval() -> None:
    msgs = build_setup([SSH], NftOptions(), None)
    flags = {
        text(m.attrs[c.NFTA_SET_NAME]): int.from_bytes(m.attrs[c.NFTA_SET_FLAGS], "big")
        for m in msgs
        if m.kind == c.NFT_MSG_NEWSET
    }
    assert flags["sshd-v4"] == flags["sshd-v6"] == c.NFT_SET_TIMEOUT
    assert flags["sshd-net4"] == flags["sshd-net6"] == c.NFT_SET_TIMEOUT | c.NFT_SET_INTERVAL
    assert flags["sshd-ports"] == c.NFT_SET_INTERVAL


def test_base_chain_hooks_forward_with_configured_priority() -> None:
    msgs = build_setup([SSH], NftOptions(hook="forward", priority=5), None)
    base = next(m for m in msgs if m.kind == c.NFT_MSG_NEWCHAIN)
    hook = decode(base.attrs[c.NFTA_CHAIN_HOOK])
    assert text(base.attrs[c.NFTA_CHAIN_NAME]) == "forward"
    assert int.from_bytes(hook[c.NFTA_HOOK_HOOKNUM], "big") == c.NF_INET_FORWARD
    assert int.from_bytes(hook[c.NFTA_HOOK_PRIORITY], "big", signed=True) == 5


def test_negative_priority_is_sent_as_twos_complement() -> None:
    msgs = build_setup([SSH], NftOptions(priority=-10), None)
    base = next(m for m in msgs if m.kind == c.NFT_MSG_NEWCHAIN)
    hook = decode(base.attrs[c.NFTA_CHAIN_HOOK])
    assert int.from_bytes(hook[c.NFTA_HOOK_PRIORITY], "big", signed=True) == -10


def test_each_jail_chain_has_one_counted_rule_per_set() -> None:
    msgs = build_setup([SSH], NftOptions(), None)
    rules = [m for m in msgs if m.kind == c.NFT_MSG_NEWRULE]
    jail_rules = [r for r in rules if text(r.attrs[c.NFTA_RULE_CHAIN]) == "jail-sshd"]
    assert len(jail_rules) == 4
    for rule in jail_rules:
        assert expression_names(rule) == ["meta", "cmp", "payload", "lookup", "objref", "immediate"]


def test_reject_verdict_ends_each_ban_rule_with_reject() -> None:
    msgs = build_setup([SSH], NftOptions(verdict="reject"), None)
    rule = next(m for m in msgs if m.kind == c.NFT_MSG_NEWRULE)
    assert expression_names(rule)[-1] == "reject"


def test_base_chain_matches_each_protocol_and_the_port_set() -> None:
    jail = JailRules("web", (PortRange(80, 80),), ("tcp", "udp", "udplite", "sctp"))
    msgs = build_setup([jail], NftOptions(), None)
    dispatch = [
        m
        for m in msgs
        if m.kind == c.NFT_MSG_NEWRULE and text(m.attrs[c.NFTA_RULE_CHAIN]) == "input"
    ]
    assert len(dispatch) == 4
    assert all(
        expression_names(r) == ["meta", "cmp", "payload", "lookup", "immediate"] for r in dispatch
    )


def test_all_ports_jail_matches_protocol_only_and_has_no_port_set() -> None:
    jail = JailRules("recidive", (PortRange(22, 22),), ("tcp",), all_ports=True)
    msgs = build_setup([jail], NftOptions(), None)
    assert "recidive-ports" not in names_of(msgs, c.NFT_MSG_NEWSET, c.NFTA_SET_NAME)
    dispatch = [m for m in msgs if m.kind == c.NFT_MSG_NEWRULE][-1]
    assert expression_names(dispatch) == ["meta", "cmp", "immediate"]


def test_overlapping_ports_become_disjoint_intervals() -> None:
    jail = JailRules("x", (PortRange(20, 25), PortRange(22, 30), PortRange(31, 31)), ("tcp",))
    msgs = build_setup([jail], NftOptions(), None)
    ports = next(m for m in msgs if m.kind == c.NFT_MSG_NEWSETELEM)
    elements = list(iter_attrs(ports.attrs[c.NFTA_SET_ELEM_LIST_ELEMENTS]))
    assert len(elements) == 2  # 20 and the end marker 32: one interval 20-31


def test_reload_deletes_what_removed_jails_left_and_rebuilds_base_chain() -> None:
    old = wanted_names([SSH, JailRules("gone")], NftOptions())
    msgs = build_setup([SSH], NftOptions(), old)
    deleted_sets = names_of(msgs, c.NFT_MSG_DELSET, c.NFTA_SET_NAME)
    assert sorted(deleted_sets) == ["gone-net4", "gone-net6", "gone-v4", "gone-v6"]
    assert names_of(msgs, c.NFT_MSG_DELCHAIN, c.NFTA_CHAIN_NAME) == ["input", "jail-gone"]
    assert names_of(msgs, c.NFT_MSG_DELOBJ, c.NFTA_OBJ_NAME) == ["gone"]


def test_reload_keeps_address_sets_of_kept_jails() -> None:
    msgs = build_setup([SSH], NftOptions(), wanted_names([SSH], NftOptions()))
    assert names_of(msgs, c.NFT_MSG_DELSET, c.NFTA_SET_NAME) == []


def test_jail_name_that_cannot_name_a_set_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot name"):
        build_setup([JailRules("a b")], NftOptions(), Existing())


def test_element_batches_stay_within_one_attribute_each() -> None:
    elements = [element(ipaddress.IPv6Address(i).packed, 60_000) for i in range(10_000)]
    msgs = build_elements("journalban", "sshd-v6", elements)
    assert len(msgs) > 1
    assert all(len(m.payload) < 0xFFFF for m in msgs)
    assert (
        sum(len(list(iter_attrs(m.attrs[c.NFTA_SET_ELEM_LIST_ELEMENTS]))) for m in msgs) == 10_000
    )


def test_address_element_carries_key_and_timeout() -> None:
    (elem,) = network_elements(ipaddress.ip_network("192.0.2.7/32"), 1500)
    inner = decode(decode(elem)[c.NFTA_LIST_ELEM])
    assert decode(inner[c.NFTA_SET_ELEM_KEY])[c.NFTA_DATA_VALUE] == bytes([192, 0, 2, 7])
    assert int.from_bytes(inner[c.NFTA_SET_ELEM_TIMEOUT], "big") == 1500


def test_permanent_element_has_no_timeout() -> None:
    (elem,) = network_elements(ipaddress.ip_network("2001:db8::1/128"), None)
    assert c.NFTA_SET_ELEM_TIMEOUT not in decode(decode(elem)[c.NFTA_LIST_ELEM])


def test_prefix_is_an_interval_start_and_a_flagged_end() -> None:
    _start, end = network_elements(ipaddress.ip_network("10.1.0.0/16"), 1000)
    end_attrs = decode(decode(end)[c.NFTA_LIST_ELEM])
    assert decode(end_attrs[c.NFTA_SET_ELEM_KEY])[c.NFTA_DATA_VALUE] == bytes([10, 2, 0, 0])
    assert int.from_bytes(end_attrs[c.NFTA_SET_ELEM_FLAGS], "big") == c.NFT_SET_ELEM_INTERVAL_END


def test_prefix_at_the_top_of_the_address_space_has_no_end_element() -> None:
    assert len(network_elements(ipaddress.ip_network("255.255.0.0/16"), None)) == 1


def test_key_range_turns_an_interval_back_into_its_prefix() -> None:
    assert key_range(bytes([10, 1, 0, 0]), bytes([10, 2, 0, 0])) == [
        ipaddress.ip_network("10.1.0.0/16")
    ]


def test_encoded_attribute_tree_decodes_back() -> None:
    data = encode([(1, b"abc"), (2, [(3, b"\x00\x01")])])
    top = decode(data)
    assert top[1] == b"abc"
    assert decode(top[2])[3] == b"\x00\x01"


def test_large_work_is_split_into_several_transactions() -> None:
    big = [Message(c.NFT_MSG_NEWSETELEM, b"\0" * 60_000) for _ in range(200)]
    batches = split_batches(big)
    assert len(batches) > 1
    assert sum(len(b) for b in batches) == 200
    assert all(sum(len(m.payload) for m in b) <= MAX_BATCH_BYTES for b in batches)
