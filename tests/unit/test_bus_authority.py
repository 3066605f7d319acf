"""Which answers to polkit's CheckAuthorization mean "there is no polkit"."""

from __future__ import annotations

import pytest

from journalban.bus.authority import polkit_is_absent


@pytest.mark.parametrize(
    "error",
    [
        "org.freedesktop.DBus.Error.ServiceUnknown",  # not installed, not activatable
        "org.freedesktop.DBus.Error.NameHasNoOwner",
        "org.freedesktop.DBus.Error.Spawn.ChildExited",  # activation failed
        "org.freedesktop.DBus.Error.Spawn.ServiceNotFound",
    ],
)
def test_absent_or_not_startable_polkit_is_no_polkit(error: str) -> None:
    assert polkit_is_absent(error)


@pytest.mark.parametrize(
    "error",
    [
        None,
        "org.freedesktop.DBus.Error.NoReply",  # polkitd is there but slow: refuse, never fall back
        "org.freedesktop.DBus.Error.AccessDenied",
        "org.freedesktop.PolicyKit1.Error.Failed",
        "org.freedesktop.DBus.Error.SpawnFake",
    ],
)
def test_a_polkit_that_answered_badly_is_not_absent(error: str | None) -> None:
    assert not polkit_is_absent(error)
