"""The framing of a reader child's stdout: a 4-byte little-endian length, then the body.

Standard library only: the journal reader child imports it and starts fast.
"""

from __future__ import annotations

import struct

FRAME_HEADER = struct.Struct("<I")
# On a reader child's stdin after a request that holds (told before the agent is ready:
# ``Request.hold``, ``FileJob.hold``): read from now on.
GO = b"go\n"


def pack_frame(body: bytes) -> bytes:
    """``body`` with its length in front, ready to write."""
    return FRAME_HEADER.pack(len(body)) + body
