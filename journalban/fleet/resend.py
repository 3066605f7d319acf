"""Outbox entries the servers may hold already: handed over before a crash or a lost ack.

An entry leaves the outbox only once the server acknowledged it, so after a
``kill -9`` (or an acknowledgement lost with the connection) the first entries
may be stored and still waiting. The server drops a repeated ``Nats-Msg-Id``
within its duplicate window (2 minutes) only; an entry handed over longer ago
is looked up instead: if the last message of its subject carries its id, it
was stored, and so was every earlier entry of that subject (the stream keeps
one message a subject, a later state replacing an earlier one). Publishing it
again would put an earlier state back over a later one (a ban over its unban)
and make every host apply it a second time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

from journalban.fleet.ledger import OutboxEntry

STALE_AFTER = 60.0  # seconds after its hand-over an entry is looked up (half the window)
LOOKUPS_AT_ONCE = 32

# (subject, body, message id) of an entry, as published
Message = tuple[str, bytes, str]


def stored_already(
    entries: Sequence[OutboxEntry], messages: Sequence[Message], last_ids: Mapping[str, str | None]
) -> set[int]:
    """The ids of the entries the servers hold, given the last message id of some subjects."""
    stored: set[int] = set()
    for subject, last in last_ids.items():
        if last is None:
            continue
        earlier: list[int] = []
        for entry, (subj, _, msg_id) in zip(entries, messages, strict=True):
            if subj != subject:
                continue
            earlier.append(entry.id)
            if msg_id == last:
                stored.update(earlier)
                break
    return stored


async def look_up(
    entries: Sequence[OutboxEntry],
    messages: Sequence[Message],
    last_id: Callable[[str], Awaitable[str | None]],
    now: float,
) -> set[int]:
    """The ids of the entries handed over long ago that the servers hold.

    Raises: what ``last_id`` raises (the servers unreachable): nothing is published then.
    """
    subjects = sorted({
        subject
        for entry, (subject, _, _) in zip(entries, messages, strict=True)
        if entry.sent_at is not None and entry.sent_at < now - STALE_AFTER
    })  # fmt: skip
    if not subjects:
        return set()
    gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def one(subject: str) -> str | None:
        async with gate:
            return await last_id(subject)

    found = await asyncio.gather(*(one(s) for s in subjects))
    return stored_already(entries, messages, dict(zip(subjects, found, strict=True)))
