"""Differential fuzz of ``_announce.pack_banned_many`` against ``bannedmany._pack_many``
(the pure-Python path): runs of random bans (texts of every class of character, lone
surrogates and NULs, very long strings, odd networks, numbers and times, values of the
wrong type) under random caps of bans and bytes. What C packs is the Python path's
bytes for the same bans; a ban C leaves is one the single ``Banned`` packer in C leaves
too (``send_bans`` sends it through ``bannedwire``); C raises only what Python raises.
Seeded; run under AddressSanitizer too (a build with -fsanitize=address,undefined)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from journalban import announcec
from journalban.addresses import format_network
from journalban.bus import bannedmany, bannedwire
from support import fuzzvalues as fz

native: Any = getattr(announcec.NATIVE, "pack_banned_many", None)
if native is None:
    pytest.skip("journalban._announce (with pack_banned_many) is not built",
                allow_module_level=True)  # fmt: skip
single: Any = announcec.NATIVE.pack_banned  # type: ignore[union-attr]
_ARGS = (format_network, bannedmany._HEAD, bannedmany._FIELDS)
_ONE = bannedwire._START.to_bytes(4, "little")


def _check(bans: list[Any], limit: int, max_bytes: int, serial: int) -> tuple[int, bool]:
    ours = fz.outcome(native, bans, 0, limit, max_bytes, serial, *_ARGS)
    theirs = fz.outcome(bannedmany._pack_many, bans, 0, limit, max_bytes, serial)
    if isinstance(ours, type):  # (raised: only what the Python path raises too)
        assert ours is theirs, (bans, ours, theirs)
        return 0, False
    data, stop, refused = ours
    assert 0 <= stop <= min(len(bans), limit)
    if stop:
        assert bannedmany._pack_many(bans[:stop], 0, limit, max_bytes, serial) == (
            data, stop, False,
        ), bans  # fmt: skip
    else:
        assert data == b""
    if refused:
        assert stop < len(bans)
        left = single([bans[stop]], 0, lambda: 1, format_network, _ONE, bannedwire._FIELDS)
        assert left[1] == 0, bans[stop]  # (the single packer leaves it to Python too)
    elif stop < len(bans):
        assert stop == limit or len(data) - 16 - len(bannedmany._FIELDS) >= max_bytes
    return stop, refused


def test_runs_of_odd_bans_pack_as_the_python_path_under_every_cap() -> None:
    rng = random.Random(2101)
    packed = refused = 0
    for _ in range(1500):
        bans = [fz.ban(rng, usual=0.85) if rng.random() < 0.9 else fz.anything(rng)
                for _ in range(rng.randrange(1, 14))]  # fmt: skip
        limit = rng.choice([1, 2, 5, 1000])
        max_bytes = rng.choice([1, 64, 300, 1 << 20])
        serial = rng.choice([1, 2**31, 2**32 - 1])
        stop, left = _check(bans, limit, max_bytes, serial)
        packed += stop
        refused += left
    assert packed > 1000, (packed, refused)
    assert refused > 300, (packed, refused)


@pytest.mark.parametrize(
    ("limit", "max_bytes", "serial"),
    [(0, 1, 1), (1, 0, 1), (1, 1, 0), (1, 1, 2**32), (1, (1 << 26) + 1, 1), (-5, 1, 1)],
)
def test_caps_and_serials_out_of_range_are_refused(limit: int, max_bytes: int, serial: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        native([], 0, limit, max_bytes, serial, *_ARGS)


def test_a_head_or_fields_not_a_signals_is_refused() -> None:
    with pytest.raises(ValueError, match="head and fields"):
        native([], 0, 1, 1, 1, format_network, b"l\x04\x01", bannedmany._FIELDS)
    with pytest.raises(ValueError, match="head and fields"):
        native([], 0, 1, 1, 1, format_network, bannedmany._HEAD, bannedmany._FIELDS + b"x")


def test_a_start_past_the_end_or_negative_packs_nothing_or_from_the_first() -> None:
    ban = fz.ban(random.Random(3), usual=1.0)
    assert native([ban], 5, 10, 1 << 20, 1, *_ARGS) == (b"", 1, False)
    assert (
        native([ban], -3, 10, 1 << 20, 1, *_ARGS)[1:]
        == native([ban], 0, 10, 1 << 20, 1, *_ARGS)[1:]
    )
