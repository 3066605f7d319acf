"""`journalban watch`'s events from the agent's signal bodies."""

from __future__ import annotations

from datetime import datetime

from dbus_fast import Variant

from journalban.cli import watchevents

NOW = 1_800_000_000.0


def test_ban_event_holds_the_ban_and_nulls_the_rest() -> None:
    details = {"reason": Variant("s", "failures"), "source": Variant("s", "journal")}
    event = watchevents.signal_event(
        "Banned", ["203.0.113.5", "sshd", int((NOW + 600) * 1e6), details], NOW
    )
    assert event is not None
    assert set(event) == set(watchevents.EVENT_KEYS)
    assert (event["event"], event["address"], event["jail"]) == ("ban", "203.0.113.5", "sshd")
    assert (event["reason"], event["origin"], event["state"]) == ("failures", "journal", None)
    until = datetime.fromisoformat(event["until"])
    assert until.utcoffset() is not None
    assert until.timestamp() - datetime.fromisoformat(event["time"]).timestamp() == 600


def test_permanent_ban_has_no_end() -> None:
    event = watchevents.signal_event("Banned", ["2001:db8::/64", "sshd", 0, {}], NOW)
    assert event is not None
    assert (event["until"], event["reason"], event["origin"]) == (None, None, None)
    assert "permanently" in watchevents.event_text(event)


def test_unban_reload_and_state_events() -> None:
    unban = watchevents.signal_event("Unbanned", ["203.0.113.5", "sshd", "expired"], NOW)
    assert unban is not None
    assert (unban["event"], unban["reason"], unban["until"]) == ("unban", "expired", None)
    assert watchevents.event_text(unban).endswith("unban 203.0.113.5 in sshd (expired)")
    reload = watchevents.signal_event("Reloaded", [], NOW)
    assert reload is not None
    assert reload["event"] == "reload"
    assert reload["jail"] is None
    changed = ["org.jailban.Manager1", {"State": Variant("s", "reloading")}, []]
    assert watchevents.state_from_properties(changed) == "reloading"
    assert watchevents.state_from_properties(["x", {"BannedCount": Variant("u", 3)}, []]) is None


def test_unknown_or_malformed_signals_are_not_shown() -> None:
    assert watchevents.signal_event("Banned", ["203.0.113.5"], NOW) is None
    assert watchevents.signal_event("SomethingNew", [], NOW) is None


def test_a_banned_many_is_a_ban_event_each_in_order_as_banned_gives() -> None:
    bans = [
        [f"203.0.113.{n}", "sshd", 0 if n % 2 else int((NOW + n) * 1e6),
         {"reason": Variant("s", "failures"), "source": Variant("s", "journal")}]
        for n in range(12)
    ]  # fmt: skip
    events = watchevents.signal_events("BannedMany", [bans], NOW)
    assert events == [watchevents.signal_event("Banned", ban, NOW) for ban in bans]
    assert [e["address"] for e in events] == [f"203.0.113.{n}" for n in range(12)]
    one = watchevents.signal_events("Banned", bans[0], NOW)
    assert one == [watchevents.signal_event("Banned", bans[0], NOW)]


def test_a_malformed_banned_many_shows_only_its_well_formed_bans() -> None:
    ban = ["203.0.113.5", "sshd", 0, {}]
    assert watchevents.signal_events("BannedMany", [], NOW) == []
    assert watchevents.signal_events("BannedMany", ["x"], NOW) == []
    events = watchevents.signal_events("BannedMany", [[ban, ["short"], 7, ban]], NOW)
    assert [e["address"] for e in events] == ["203.0.113.5", "203.0.113.5"]
    assert watchevents.signal_events("SomethingNew", [], NOW) == []
