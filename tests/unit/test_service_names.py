"""The built-in well-known service names: right, complete for the shipped jails, a fallback only."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import yaml

from journalban.firewall import ports
from journalban.firewall.base import PortRange
from journalban.firewall.services import WELL_KNOWN_PORTS, well_known_port
from support.real import REPO, missing_real

DEFAULT = REPO / "journalban" / "data" / "default.yaml"


def _port_names(config: Path) -> set[str]:
    jails = yaml.safe_load(config.read_text())["jails"]
    names: set[str] = set()
    for jail in jails.values():
        spec = jail.get("port", "")
        items = spec if isinstance(spec, list) else str(spec).split(",")
        names |= {str(i).strip() for i in items if str(i).strip()}
    return {n for n in names if not n[0].isdigit() and n != ports.ALL_PORTS}


def test_every_port_name_of_the_shipped_jails_is_well_known() -> None:
    names = _port_names(DEFAULT)
    assert "ssh" in names
    assert names - set(WELL_KNOWN_PORTS) == set()


def test_the_table_agrees_with_etc_services() -> None:
    if not os.path.exists("/etc/services"):
        missing_real("/etc/services is absent (Debian's netbase)")
    for name, port in WELL_KNOWN_PORTS.items():
        found = []
        for proto in ("tcp", "udp"):
            try:
                found.append(socket.getservbyname(name, proto))
            except OSError:
                continue
        assert found, f"{name} is not in /etc/services"
        assert found[0] == port, name


def test_names_are_matched_exactly_as_the_c_library_does() -> None:
    assert well_known_port("ssh") == 22
    assert well_known_port("SSH") is None
    assert well_known_port("nonesuch") is None


class _NoServices:
    """socket.getservbyname on a system without /etc/services."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, name: str, proto: str) -> int:
        self.asked.append((name, proto))
        raise OSError("service/proto not found")


def test_without_etc_services_the_well_known_port_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookup = _NoServices()
    monkeypatch.setattr(socket, "getservbyname", lookup)
    assert ports.parse_ports("ssh") == (PortRange(22, 22),)
    assert ports.parse_ports("http,https,8080") == (
        PortRange(80, 80),
        PortRange(443, 443),
        PortRange(8080, 8080),
    )
    assert ("ssh", "tcp") in lookup.asked
    with pytest.raises(ValueError, match=r"unknown service name .nonesuch.*give the port number"):
        ports.parse_ports("nonesuch")


def test_the_system_answer_wins_over_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    def moved_ssh(name: str, proto: str) -> int:
        if name == "ssh":
            return 2222
        raise OSError("service/proto not found")

    monkeypatch.setattr(socket, "getservbyname", moved_ssh)
    assert ports.parse_ports("ssh") == (PortRange(2222, 2222),)
