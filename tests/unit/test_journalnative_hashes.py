"""The two hashes of the native journal file reader (journalban/sources/_journalfile.c), against
their published test values (SipHash-2-4's paper, key 00..0f; lookup3's driver) and against
the prototype's Python (tests/benchmarks/journalfile_proto.py) on every length of a block
and its tail."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from journalban.sources._journalfile import hash as native_hash

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from journalfile_proto import jenkins64, siphash24

KEY = bytes(range(16))


def test_siphash24_gives_the_papers_values() -> None:
    assert native_hash(b"", KEY) == 0x726FDB47DD0E0E31
    assert native_hash(bytes(range(8)), KEY) == 0x93F5F5799A932462
    assert native_hash(bytes(range(15)), KEY) == 0xA129CA6149BE45E5


def test_jenkins_hashlittle2_gives_lookup3s_values() -> None:
    assert native_hash(b"") == 0xDEADBEEF_DEADBEEF
    assert native_hash(b"Four score and seven years ago") == 0x17770551_CE7226E6


def test_both_hashes_agree_with_the_prototypes_on_every_tail() -> None:
    rng = random.Random(19)
    for length in range(80):
        data, key = rng.randbytes(length), rng.randbytes(16)
        assert native_hash(data) == jenkins64(data)
        assert native_hash(data, key) == siphash24(key, data)
