"""An RFC 3912 whois client, in process: connect to port 43, send the query and CRLF, read to EOF.

The answer is remote, untrusted text: it is capped in size and time, and
control characters other than newline and tab are dropped before it goes
into a mail. One referral (IANA's ``refer:``, ARIN's ``ReferralServer:``) may be
followed to reach the registry that knows the address.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Final

from journalban.addresses import parse_address
from journalban.errors import ActionError

IANA: Final = "whois.iana.org"
WHOIS_PORT: Final = 43
MAX_ANSWER: Final = 64 * 1024
_REFERRAL: Final = re.compile(
    r"^\s*(?:refer|whois|ReferralServer)\s*:\s*(?:whois://)?([A-Za-z0-9.-]+)(?::(\d{1,5}))?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class WhoisAnswer:
    server: str
    text: str
    truncated: bool


def query(
    server: str,
    question: str,
    *,
    port: int = WHOIS_PORT,
    timeout: float = 10.0,
    max_bytes: int = MAX_ANSWER,
) -> WhoisAnswer:
    """Ask one whois server; the answer is decoded, cleaned and at most ``max_bytes`` long.

    Raises:
        ActionError: the question holds a line break, or the server cannot be
            reached or does not answer within ``timeout`` (per socket operation).
    """
    if "\r" in question or "\n" in question:
        raise ActionError("a whois query cannot hold a line break")
    received = bytearray()
    truncated = False
    try:
        with socket.create_connection((server, port), timeout=timeout) as conn:
            conn.sendall(question.encode("ascii", "replace") + b"\r\n")
            while True:
                chunk = conn.recv(8192)
                if not chunk:
                    break
                received += chunk
                if len(received) >= max_bytes:
                    truncated = True
                    del received[max_bytes:]
                    break
    except OSError as exc:
        raise ActionError(f"whois {server}:{port}: {exc}") from exc
    text = _CONTROL.sub("", received.decode("utf-8", "replace").replace("\r\n", "\n"))
    return WhoisAnswer(f"{server}:{port}", text, truncated)


def referral(answer: str) -> tuple[str, int] | None:
    """The (server, port) an answer refers to, if it names one."""
    found = _REFERRAL.search(answer)
    if found is None:
        return None
    port = int(found.group(2) or WHOIS_PORT)
    if not 0 < port < 65536:
        return None
    return found.group(1), port


def lookup(
    address: str,
    *,
    server: str = IANA,
    port: int = WHOIS_PORT,
    follow_referral: bool = True,
    timeout: float = 10.0,
    max_bytes: int = MAX_ANSWER,
) -> WhoisAnswer:
    """What whois says about an address: the first server's answer, or its referral's.

    When the referred server fails, the first answer is returned.

    Raises:
        ActionError: ``address`` is not an IP address, or the first server fails.
    """
    network_text = address.split("/", 1)[0]
    if parse_address(network_text) is None:
        raise ActionError(f"whois is only asked about IP addresses, not {address!r}")
    first = query(server, network_text, port=port, timeout=timeout, max_bytes=max_bytes)
    target = referral(first.text) if follow_referral else None
    if target is None or target == (server, port):
        return first
    try:
        return query(target[0], network_text, port=target[1], timeout=timeout, max_bytes=max_bytes)
    except ActionError:
        return first
