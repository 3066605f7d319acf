"""decisions.banmaker builds the same ``Ban`` as the dataclass, in half the time."""

from __future__ import annotations

import dataclasses
import itertools
import pickle

import pytest

from journalban import events
from journalban.addresses import parse_network, stored_network
from journalban.decisions import banmaker
from journalban.events import Ban

NETWORKS = ["192.0.2.7/32", "198.51.100.0/24", "2001:db8:1:2::/64", "2001:db8::1/128"]


def _args() -> list[tuple[object, ...]]:
    found: list[tuple[object, ...]] = []
    for text, expires, lines, account in itertools.product(
        NETWORKS, (None, 10.5), ((), ("a line", "another")), ("", "root")
    ):
        found.append(("sshd", stored_network(text), 1.25, expires, 2, "account", 7, "files:/x",
                      lines, account))  # fmt: skip
    return found


def test_the_fast_maker_is_used_here() -> None:
    assert banmaker.new_ban is not Ban  # the check at import passed on this Python


@pytest.mark.parametrize("args", _args())
def test_same_ban_as_the_dataclass(args: tuple[object, ...]) -> None:
    ours, theirs = banmaker.new_ban(*args), Ban(*args)  # type: ignore[arg-type]
    assert type(ours) is Ban
    assert ours == theirs
    assert theirs == ours
    assert hash(ours) == hash(theirs)
    assert repr(ours) == repr(theirs)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
    assert pickle.loads(pickle.dumps(ours)) == theirs  # noqa: S301 (our own bytes)
    assert ours.address == theirs.address
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.jail = "other"  # type: ignore[misc]


@pytest.mark.parametrize("args", _args())
def test_lineless_as_events_lineless(args: tuple[object, ...]) -> None:
    ban = Ban(*args)  # type: ignore[arg-type]
    ours, theirs = banmaker.lineless(ban), events.lineless(ban)
    assert dataclasses.astuple(ours) == dataclasses.astuple(theirs)
    assert ours.lines == ()
    assert ours.account == ban.account


def test_a_different_ban_shape_falls_back_to_the_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(banmaker, "FIELDS", (*banmaker.FIELDS, "extra"))
    assert banmaker._ban_maker() is None
    assert parse_network("192.0.2.7") == stored_network("192.0.2.7/32")


@pytest.mark.parametrize("args", _args())
def test_a_pair_is_the_ban_and_its_lineless_copy(args: tuple[object, ...]) -> None:
    ban, kept = banmaker.new_ban_pair(*args)  # type: ignore[arg-type]
    theirs = Ban(*args)  # type: ignore[arg-type]
    assert banmaker.new_ban_pair is not banmaker._dataclass_pair  # the fast one, here
    for ours, expected in ((ban, theirs), (kept, events.lineless(theirs))):
        assert type(ours) is Ban
        assert dataclasses.astuple(ours) == dataclasses.astuple(expected)
        assert repr(ours) == repr(expected)
        assert hash(ours) == hash(expected)
    assert ban is not kept


def test_the_dataclass_pair_is_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    for args in _args():
        ours = banmaker._dataclass_pair(*args)  # type: ignore[arg-type]
        assert ours == banmaker.new_ban_pair(*args)  # type: ignore[arg-type]


def test_a_made_ban_is_a_ban_through_and_through() -> None:
    """Filled as the writable twin, then made a Ban: nothing of the twin is left."""
    import gc
    import sys

    for args in _args():
        ours, theirs = banmaker.new_ban(*args), Ban(*args)  # type: ignore[arg-type]
        assert type(ours) is Ban
        assert not isinstance(ours, banmaker._BanDraft)
        assert sys.getsizeof(ours) == sys.getsizeof(theirs)
        assert gc.is_tracked(ours) == gc.is_tracked(theirs)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ours.lines = ()  # type: ignore[misc]
        assert dataclasses.replace(ours, lines=()) == events.lineless(theirs)
    assert banmaker._BanDraft.__slots__ == Ban.__slots__
