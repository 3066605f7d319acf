"""Port specifications as jails write them."""

from __future__ import annotations

import pytest

from journalban.firewall.base import PortRange
from journalban.firewall.ports import format_multiport, format_ports, parse_ports


def test_service_names_resolve_through_etc_services() -> None:
    assert parse_ports("ssh") == (PortRange(22, 22),)
    assert parse_ports("imaps,smtp") == (PortRange(25, 25), PortRange(993, 993))


def test_numbers_lists_and_ranges_are_merged_and_sorted() -> None:
    assert parse_ports("443, 80") == (PortRange(80, 80), PortRange(443, 443))
    assert parse_ports("8000-8100,8050:8200,8201") == (PortRange(8000, 8201),)
    assert parse_ports(22) == (PortRange(22, 22),)
    assert parse_ports(["ssh", 2222]) == (PortRange(22, 22), PortRange(2222, 2222))


def test_all_means_every_port() -> None:
    assert parse_ports("all") == ()
    assert parse_ports("ALL") == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-such-service-here", "unknown service name"),
        ("0", "outside 1-65535"),
        ("70000", "outside 1-65535"),
        ("100-90", "runs backwards"),
        ("22,,80", "empty item"),
        ("", "empty"),
        ("all,22", "cannot be combined"),
        ("ssh;rm", "not a port number or service name"),
    ],
)
def test_bad_specifications_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ports(spec)


def test_multiport_arguments_respect_the_fifteen_slot_limit() -> None:
    ranges = [PortRange(p, p) for p in range(1000, 1020)]
    chunks = format_multiport(ranges)
    assert len(chunks) == 2
    assert chunks[0].count(",") == 14
    assert format_multiport([PortRange(22, 22), PortRange(8000, 8100)]) == ["22,8000:8100"]


def test_human_form_reads_back() -> None:
    ranges = parse_ports("ssh,8000-8100")
    assert format_ports(ranges) == "22,8000-8100"
    assert parse_ports(format_ports(ranges)) == ranges
    assert format_ports(()) == "all"
