"""The fleet's wire format: subjects and message bodies (pure; no NATS here).

A ban travels on ``journalban.<fleet>.bans.<origin>.<jail>.<network key>``:
one subject per (origin, jail, network), and the stream keeps the last
message of each subject, so a joining host reads the live bans, not the
history. The origin, jail and network are taken from the subject, which the
server's permissions tie to the publishing host; the body holds only the
operation, the times and a reason. Members announce their own addresses on
``journalban.<fleet>.members.<host>``.

Every check here is against input an attacker may write: sizes, types and
characters are bounded, and anything else is ``Malformed`` (counted and
skipped by the consumer, never raised past it).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from journalban.addresses import IPNetwork, network_text, parse_network, stored_network
from journalban.errors import AddressError

MAX_MESSAGE = 1024  # bytes of a body; a larger one is counted as oversized
MAX_MEMBER_ADDRESSES = 64
MAX_REASON = 120
ALL_JAILS = "_"  # the jail token of an unban in every jail
VERSION = 1
_HOST = re.compile(r"[A-Za-z0-9_-]{1,64}")
_JAIL = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_KEY = re.compile(r"[0-9A-Fa-f:-]{2,45}_[0-9]{1,3}")
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
# Times outside these years are no times a ban can carry.
_EARLIEST, _LATEST = 1.0e9, 1.0e10


class Malformed(ValueError):
    """A message that is not the fleet's; ``kind`` names the counter it goes to."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class BanMessage:
    """A ban or an unban as published. Times are the server's clock (see ``clock``)."""

    op: str  # "ban" or "unban"
    origin: str
    jail: str | None  # None: every jail (an unban)
    network: IPNetwork
    banned_at: float
    expires_at: float | None  # None: permanent
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MemberMessage:
    """A fleet member's own addresses, which no remote ban may cover."""

    host: str
    addresses: tuple[IPNetwork, ...]


def network_key(network: IPNetwork) -> str:
    """The subject token of a network: dots made dashes, the slash an underscore."""
    return network_text(network).replace(".", "-").replace("/", "_")


def parse_network_key(key: str) -> IPNetwork:
    """Raises: Malformed."""
    if not _KEY.fullmatch(key):
        raise Malformed("malformed", f"not a network key: {key[:60]!r}")
    return _key_network(key)


def _key_network(key: str) -> IPNetwork:
    text = key.replace("-", ".").replace("_", "/")
    try:
        network = stored_network(text)
    except AddressError:
        raise Malformed("malformed", f"not a network: {text!r}") from None
    if network_text(network) != text:
        raise Malformed("malformed", f"not a network in its own form: {text!r}")
    return network


def ban_subject(prefix: str, host: str, jail: str | None, network: IPNetwork) -> str:
    return f"{prefix}.bans.{host}.{jail or ALL_JAILS}.{network_key(network)}"


def member_subject(prefix: str, host: str) -> str:
    return f"{prefix}.members.{host}"


def encode_ban(op: str, banned_at: float, expires_at: float | None, reason: str) -> bytes:
    body = {"v": VERSION, "op": op, "at": round(banned_at, 3), "exp": expires_at, "why": reason}
    if expires_at is not None:
        body["exp"] = round(expires_at, 3)
    return json.dumps(body, separators=(",", ":")).encode()


def encode_member(addresses: list[str]) -> bytes:
    return json.dumps({"v": VERSION, "addresses": addresses}, separators=(",", ":")).encode()


def _time(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed("malformed", f"{what} is not a number")
    result = float(value)
    if not math.isfinite(result) or not _EARLIEST <= result <= _LATEST:
        raise Malformed("malformed", f"{what} is out of range: {result}")
    return result


def _body(data: bytes) -> dict[str, object]:
    if len(data) > MAX_MESSAGE:
        raise Malformed("oversized", f"{len(data)} bytes (at most {MAX_MESSAGE})")
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("malformed", "not JSON") from None
    if not isinstance(body, dict) or body.get("v") != VERSION:
        raise Malformed("malformed", "not a version 1 fleet message")
    return body


def decode(prefix: str, subject: str, data: bytes) -> BanMessage | MemberMessage:
    """The message on ``subject`` of the fleet whose subjects begin with ``prefix``.

    Raises:
        Malformed: with ``kind`` "oversized" or "malformed".
    """
    # One regex for the whole subject: this runs for every message of the stream.
    match = _ban_pattern(prefix).fullmatch(subject)
    if match is None:
        if not subject.startswith(prefix + "."):
            raise Malformed("malformed", "a subject of another fleet")
        tokens = subject[len(prefix) + 1 :].split(".")
        if len(tokens) == 2 and tokens[0] == "members" and _HOST.fullmatch(tokens[1]):
            return _member(tokens[1], _body(data))
        raise Malformed("malformed", f"not a ban subject: {subject[:120]!r}")
    origin, jail_token, key = match.groups()
    network = _key_network(key)
    body = _body(data)
    op = body.get("op")
    if op not in ("ban", "unban"):
        raise Malformed("malformed", f"unknown operation {str(op)[:20]!r}")
    if op == "ban" and jail_token == ALL_JAILS:
        raise Malformed("malformed", "a ban names its jail")
    banned_at = _time(body.get("at"), "at")
    exp = body.get("exp")
    expires_at = None if exp is None else _time(exp, "exp")
    why = body.get("why", "")
    reason = _UNPRINTABLE.sub("?", why)[:MAX_REASON] if isinstance(why, str) else ""
    jail = None if jail_token == ALL_JAILS else jail_token
    return BanMessage(str(op), origin, jail, network, banned_at, expires_at, reason)


_BAN_PATTERNS: dict[str, re.Pattern[str]] = {}


def _ban_pattern(prefix: str) -> re.Pattern[str]:
    pattern = _BAN_PATTERNS.get(prefix)
    if pattern is None:
        pattern = _BAN_PATTERNS[prefix] = re.compile(
            re.escape(prefix) + rf"\.bans\.({_HOST.pattern})\.(_|{_JAIL.pattern})\.({_KEY.pattern})"
        )
    return pattern


def _member(host: str, body: dict[str, object]) -> MemberMessage:
    items = body.get("addresses")
    if not isinstance(items, list) or len(items) > MAX_MEMBER_ADDRESSES:
        raise Malformed("malformed", "addresses must be a list of at most 64")
    networks = []
    for item in items:
        if not isinstance(item, str) or len(item) > 50:
            raise Malformed("malformed", "an address is not a string")
        try:
            network = parse_network(item)
        except AddressError:
            raise Malformed("malformed", f"not an address: {item[:50]!r}") from None
        # Single addresses only: a member announcing a prefix (0.0.0.0/0) would
        # shield every address in it from every remote ban of the fleet.
        if network.prefixlen != network.max_prefixlen:
            raise Malformed("malformed", f"a member announces addresses, not {item!r}")
        networks.append(network)
    return MemberMessage(host, tuple(networks))


def parse_reply(reply: str) -> tuple[int, int, float] | None:
    """(stream sequence, consumer sequence, server time in seconds) of a JetStream delivery."""
    tokens = reply.split(".")
    # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>, or the
    # newer form with <domain>.<account hash> after ACK and a token at the end.
    if len(tokens) == 9:
        seq, cseq, ns = tokens[5], tokens[6], tokens[7]
    elif len(tokens) >= 11:
        seq, cseq, ns = tokens[7], tokens[8], tokens[9]
    else:
        return None
    if not (seq.isdigit() and cseq.isdigit() and ns.isdigit()):
        return None
    return int(seq), int(cseq), int(ns) / 1e9
