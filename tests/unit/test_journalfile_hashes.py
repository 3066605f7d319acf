"""The two hashes of the prototype journal file reader (tests/benchmarks/journalfile_proto.py),
against their published test values: SipHash-2-4's paper (key 00..0f) and lookup3's driver."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from journalfile_proto import jenkins64, siphash24

KEY = bytes(range(16))


def test_siphash24_gives_the_papers_values() -> None:
    assert siphash24(KEY, b"") == 0x726FDB47DD0E0E31
    assert siphash24(KEY, bytes(range(8))) == 0x93F5F5799A932462
    assert siphash24(KEY, bytes(range(15))) == 0xA129CA6149BE45E5


def test_jenkins_hashlittle2_gives_lookup3s_values() -> None:
    assert jenkins64(b"") == 0xDEADBEEF_DEADBEEF
    assert jenkins64(b"Four score and seven years ago") == 0x17770551_CE7226E6
