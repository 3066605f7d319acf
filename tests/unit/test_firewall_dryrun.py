"""The dry-run backend's log: what a real firewall would have done, one line per jail and batch.

Every test runs twice: the batch's additions kept by the C module (``announcec``;
skipped where it is not built) and by the pure-Python loop."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from journalban import announcec
from journalban.firewall.base import BanEntry
from journalban.firewall.dryrun import DryRunBackend

NOW = 1_800_000_000.0


@pytest.fixture(autouse=True, params=["native", "python"])
def _path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.param == "python":
        monkeypatch.setattr(announcec, "NATIVE", None)
    elif announcec.NATIVE is None:
        pytest.skip("journalban._announce is not built")


def test_a_batch_is_logged_per_jail_with_every_address(caplog: pytest.LogCaptureFixture) -> None:
    backend = DryRunBackend()
    a = ipaddress.ip_network("192.0.2.1/32")
    b = ipaddress.ip_network("2001:db8::/64")
    c = ipaddress.ip_network("198.51.100.7/32")
    with caplog.at_level(logging.INFO, logger="journalban.firewall.dryrun"):
        backend.apply(
            [
                BanEntry("sshd", a, NOW + 60),
                BanEntry("sshd", b, None),
                BanEntry("dovecot", c, NOW + 60),
                BanEntry("sshd", c, NOW - 1),  # expired already: nothing to do
            ],
            [],
            NOW,
        )
        backend.apply([], [BanEntry("sshd", a, NOW + 60), BanEntry("sshd", c, None)], NOW)
    assert caplog.messages == [
        "would ban in sshd: 192.0.2.1 2001:db8::/64",
        "would ban in dovecot: 198.51.100.7",
        "would unban in sshd: 192.0.2.1",
    ]
    assert {(e.jail, str(e.network)) for e in backend.list(NOW)} == {
        ("sshd", "2001:db8::/64"),
        ("dovecot", "198.51.100.7/32"),
    }


def test_a_batch_of_jails_in_turn_is_logged_per_jail_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = DryRunBackend()
    nets = [ipaddress.ip_network(f"192.0.2.{i}/32") for i in range(1, 6)]
    jails = ["sshd", "sshd", "dovecot", "sshd", "dovecot"]
    with caplog.at_level(logging.INFO, logger="journalban.firewall.dryrun"):
        backend.apply([BanEntry(j, n, NOW + 60) for j, n in zip(jails, nets, strict=True)], [], NOW)
        backend.apply([BanEntry("dovecot", nets[0], None)], [], NOW)
    assert caplog.messages == [
        "would ban in sshd: 192.0.2.1 192.0.2.2 192.0.2.4",
        "would ban in dovecot: 192.0.2.3 192.0.2.5",
        "would ban in dovecot: 192.0.2.1",
    ]
    held = {(e.jail, str(e.network.network_address), e.expires_at) for e in backend.list(NOW)}
    assert held == {
        ("sshd", "192.0.2.1", NOW + 60), ("sshd", "192.0.2.2", NOW + 60),
        ("dovecot", "192.0.2.3", NOW + 60), ("sshd", "192.0.2.4", NOW + 60),
        ("dovecot", "192.0.2.5", NOW + 60), ("dovecot", "192.0.2.1", None),
    }  # fmt: skip


def test_it_holds_what_a_firewall_holds_and_not_the_entries_it_was_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = DryRunBackend()
    a = ipaddress.ip_network("192.0.2.1/32")
    b = ipaddress.ip_network("2001:db8::/64")
    given = [BanEntry("sshd", a, NOW + 60), BanEntry("sshd", b, None), BanEntry("pam", a, NOW + 5)]
    backend.apply(given, [], NOW)
    assert sorted(backend.list(NOW), key=repr) == sorted(given, key=repr)
    assert all(kept is not entry for kept in backend.list(NOW) for entry in given)
    assert backend.list(NOW + 10) == [given[0], given[1]]  # pam's expired
    with caplog.at_level(logging.INFO, logger="journalban.firewall.dryrun"):
        # A permanent ban is removed like another; one never applied is not logged.
        backend.apply([], [BanEntry("sshd", b, None), BanEntry("sshd", a.supernet(8), None)], NOW)
    assert backend.list(NOW) == [given[0]]
    assert [r.getMessage() for r in caplog.records] == ["would unban in sshd: 2001:db8::/64"]
    backend.setup([])  # no jail left: nothing held
    assert backend.list(NOW) == []
