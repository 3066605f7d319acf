"""Reading back elements laid out alike: the same (key, expiry) as the element-by-element walk,
and None (the walk) for anything else."""

from __future__ import annotations

import random
import struct

from journalban.firewall.nftables import constants as c
from journalban.firewall.nftables.plan import INF, Key
from journalban.firewall.nftables.reader import _parse_elements
from journalban.firewall.nftables.uniform import uniform_elements

NOW = 1_000_000.0
_NLA = struct.Struct("=HH")


def _attr(kind: int, value: bytes) -> bytes:
    return _NLA.pack(4 + len(value), kind) + value + b"\0" * (-len(value) % 4)


def _element(key: bytes, timeout: int | None, left: int | None, nested: int = 0) -> bytes:
    """One element as the kernel dumps it (``nested``: NLA_F_NESTED on the nests, as
    some kernels set it)."""
    body = _attr(c.NFTA_SET_ELEM_KEY | nested, _attr(c.NFTA_DATA_VALUE, key))
    if timeout is not None:
        body += _attr(c.NFTA_SET_ELEM_TIMEOUT, timeout.to_bytes(8, "big"))
    if left is not None:
        body += _attr(c.NFTA_SET_ELEM_EXPIRATION, left.to_bytes(8, "big"))
    return _attr(c.NFTA_LIST_ELEM | nested, body)


def _walked(data: bytes) -> list[tuple[Key, float]]:
    raw: list[tuple[bytes, bool, float]] = []
    _parse_elements(data, NOW, raw)
    return [((int.from_bytes(k, "big"), 8 * len(k)), e) for k, _, e in raw]


def test_elements_laid_out_alike_read_as_the_walk_reads_them() -> None:
    rng = random.Random(5)
    for width in (4, 16):
        for timed in (True, False):
            for nested in (0, 0x8000):
                keys = [rng.getrandbits(8 * width).to_bytes(width, "big") for _ in range(500)]
                data = b"".join(
                    _element(
                        k,
                        rng.randint(1, 10**9) if timed else None,
                        rng.randint(0, 10**9) if timed else None,
                        nested,
                    )
                    for k in keys
                )
                got = uniform_elements(data, NOW)
                assert got is not None
                assert got == _walked(data)
                assert len(got) == 500
                assert all((e == INF) != timed for _, e in got)


def test_anything_not_laid_out_alike_is_left_to_the_walk() -> None:
    timed = _element(b"\x0a\x00\x00\x01", 5000, 4000)
    permanent = _element(b"\x0a\x00\x00\x02", None, None)
    flagged = _attr(
        c.NFTA_LIST_ELEM,
        _attr(c.NFTA_SET_ELEM_KEY, _attr(c.NFTA_DATA_VALUE, b"\x0a\x00\x00\x03"))
        + _attr(c.NFTA_SET_ELEM_FLAGS, (1).to_bytes(4, "big")),
    )
    other_width = _element(b"\x0a\x00\x00\x04\x05", 5000, 4000)
    for data in (
        b"",
        timed + permanent,  # mixed timeouts
        permanent + timed,
        flagged + flagged,  # flags vary in general
        timed + other_width,
        timed[:-4],  # cut short
        timed + timed[:20] + b"\xff" * 20,  # same length, other header bytes
    ):
        assert uniform_elements(data, NOW) is None
    # Two elements alike, the second with other values: read.
    two = timed + _element(b"\xc0\x00\x02\x01", 7, 2000)
    assert uniform_elements(two, NOW) == [
        ((0x0A000001, 32), NOW + 4.0),
        ((0xC0000201, 32), NOW + 2.0),
    ]
