"""How the client commands render what the agent answered."""

from __future__ import annotations

from dbus_fast import Variant

from journalban.cli import clientview as view
from journalban.cli.busclient import ClientError, _client_error, plain


def test_jail_tree_shows_files_when_the_jail_reads_files() -> None:
    tree = view.jail_tree(
        {
            "Name": "web",
            "CurrentlyFailed": 2,
            "TotalFailed": 9,
            "Sources": ["/var/log/nginx/error.log"],
            "CurrentlyBanned": 1,
            "TotalBanned": 4,
            "BannedAddresses": ["203.0.113.1"],
        }
    )
    assert tree.splitlines() == [
        "Status for the jail: web",
        "|- Filter",
        "|  |- Currently failed:\t2",
        "|  |- Total failed:\t9",
        "|  `- File list:\t/var/log/nginx/error.log",
        "`- Actions",
        "   |- Currently banned:\t1",
        "   |- Total banned:\t4",
        "   `- Banned IP list:\t203.0.113.1",
    ]


def test_permanent_bans_show_as_permanent() -> None:
    record = view.ban_record(["203.0.113.1", "sshd", 1_000_000, 0, 1, "manual"])
    assert "permanent" in view.bans_table([record]).splitlines()[1]


def test_stats_rows_show_current_over_total() -> None:
    record = view.stats_record(
        {
            "Name": "sshd",
            "Sources": ["_SYSTEMD_UNIT=ssh.service"],
            "CurrentlyFailed": 3,
            "TotalFailed": 10,
        }
    )
    row = view.stats_table([record]).splitlines()[1].split()
    assert row == ["sshd", "journal", "3/10", "0/0", "0"]


def test_missing_service_is_reported_as_not_running() -> None:
    error = _client_error(
        "org.freedesktop.DBus.Error.ServiceUnknown", "The name is not activatable"
    )
    assert isinstance(error, ClientError)
    assert error.exit_code == 3
    assert "not running" in str(error)


def test_variants_are_unwrapped_for_json() -> None:
    assert plain({"a": Variant("as", ["x"]), "b": [Variant("u", 1)]}) == {"a": ["x"], "b": [1]}


def test_no_doubled_prefix_in_errors() -> None:
    error = _client_error("org.jailban.Error.NoSuchJail", "no such jail: nosuch")
    assert str(error) == "no such jail: nosuch"


def test_a_refused_ban_says_why_and_what_to_do() -> None:
    wide = _client_error(
        "org.jailban.Error.AddressIgnored", "10.0.0.0/8 is wider than the minimum prefix /16"
    )
    assert str(wide).startswith("too wide: 10.0.0.0/8 is wider than the minimum prefix /16")
    ignored = _client_error(
        "org.jailban.Error.AddressIgnored", "192.0.2.44/32 is not banned: in ignoreip"
    )
    assert "--force" in str(ignored)
    local = _client_error(
        "org.jailban.Error.AddressIgnored",
        "127.0.0.1/32 is not banned: the host's own, loopback or a local network",
    )
    assert "--force" not in str(local)
    assert str(local).startswith("refused: ")


def test_status_says_when_the_agent_runs_dry() -> None:
    tree = view.overall_tree({"Backend": "dry-run", "Jails": ["sshd"]})
    assert "|- Backend:\tdry-run (a dry run: nothing is banned in the firewall" in tree
    assert "dry run" not in view.overall_tree({"Backend": "nftables", "Jails": []})


def test_recidive_is_shown_as_fed_by_the_bans() -> None:
    tree = view.overall_tree({"Backend": "nftables", "Jails": ["sshd", "recidive"]})
    assert "`- Jail list:\tsshd, recidive (fed by the other jails' bans)" in tree
    record = view.stats_record({"Name": "recidive", "Sources": ["journalban's own bans"]})
    assert record["source"] == "bans"
    jail = view.jail_tree({"Name": "recidive", "Sources": ["journalban's own bans"]})
    assert "|  `- Fed by:\tjournalban's own bans (the other jails' ban decisions)" in jail


def test_unreadable_lines_are_shown_when_the_agent_counts_them() -> None:
    tree = view.overall_tree({"Backend": "nftables", "Jails": ["sshd"], "LinesUnreadable": 3})
    assert "|- Unreadable lines:\t3" in tree.splitlines()
    jail = view.jail_tree({"Name": "sshd", "Sources": ["/var/log/auth.log"], "LinesUnreadable": 2})
    assert "|  |- Unreadable lines:\t2" in jail.splitlines()
    # Not from the state database (no agent counts there): no line rather than a 0.
    assert "Unreadable" not in view.overall_tree({"Backend": "nftables", "Jails": []})
    assert "Unreadable" not in view.jail_tree({"Name": "sshd", "Sources": []})
