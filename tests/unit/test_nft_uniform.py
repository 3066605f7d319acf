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


class _Dumps:
    """A socket whose set dumps are given in turn (the last one again when they run out)."""

    def __init__(self, *dumps: list[bytes]) -> None:
        self.dumps, self.count = list(dumps), 0

    def dump(self, kind: int, payload: bytes = b"") -> list[bytes]:
        self.count += 1
        return self.dumps.pop(0) if len(self.dumps) > 1 else self.dumps[0]


def _body(elements: list[bytes]) -> bytes:
    """One dump message's body: the element list (table and set names left out)."""
    nested = _NLA.pack(4 + sum(map(len, elements)), c.NFTA_SET_ELEM_LIST_ELEMENTS | 0x8000)
    return nested + b"".join(elements)


def test_a_dump_that_repeats_elements_is_read_again() -> None:
    from journalban.firewall.nftables.reader import read_elements

    elements = [_element(bytes([10, 0, 0, i]), 60_000, 50_000) for i in range(6)]
    # Read while the kernel grew its table: 10.0.0.2 twice, 10.0.0.5 never.
    torn = [_body(elements[:3]), _body([elements[2], elements[3], elements[4]])]
    whole = [_body(elements[:3]), _body(elements[3:])]
    sock = _Dumps(torn, whole)
    found = read_elements(sock, "journalban", "sshd-v4", NOW)  # type: ignore[arg-type]
    assert sock.count == 2
    assert found == {(0x0A000000 + i, 32): NOW + 50.0 for i in range(6)}
    # A dump that stays torn is taken as it is after a few tries (the restore then
    # sends the elements it did not see).
    stuck = _Dumps(torn)
    found = read_elements(stuck, "journalban", "sshd-v4", NOW)  # type: ignore[arg-type]
    assert stuck.count == 4
    assert len(found) == 5
