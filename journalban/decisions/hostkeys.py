"""Whether an IPv4 text ``inet_pton`` takes is already the text of its address.

The failure path keys an IPv4 address by its /32's text, ``inet_ntop`` of the
address plus ``/32`` (``addresses.ipv4_host_key``). glibc's ``inet_pton``
takes exactly the dotted quad ``inet_ntop`` prints (four decimal octets up to
255, no leading zero, nothing around them), so the text a failure names is
that text already and need not be printed again: a call less per address not
seen in the last ``HOST_MEMO`` (most of a flood's failures). Checked once on
texts a looser parser takes, so that a C library that takes them keeps the
printed text (``decisions.pointverdict``).
"""

from __future__ import annotations

import socket

# Texts of an address that are not its canonical dotted quad: each must be refused.
LOOSE_TEXTS = (
    "01.2.3.4", "1.2.3.04", "1.02.3.4", "00.0.0.0", "0x1.2.3.4", "1.2.3", "1.2", "1",
    "1.2.3.4.", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "0177.0.0.1", "1.2.3.256", "+1.2.3.4",
    "1.2.3.4/32", "\u0661.2.3.4",
)  # fmt: skip


def v4_text_is_canonical() -> bool:
    """True if ``inet_pton`` refuses every loose spelling and prints canonical ones back."""
    for text in LOOSE_TEXTS:
        try:
            socket.inet_pton(socket.AF_INET, text)
        except (OSError, ValueError):
            continue
        return False
    for text in ("0.0.0.1", "1.2.3.4", "10.0.0.255", "255.255.255.255", "192.0.2.1"):
        if socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text)) != text:
            return False
    return True
