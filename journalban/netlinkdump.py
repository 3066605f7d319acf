"""What every netlink dump the agent does shares: the interrupted-dump check.

A dump spans several datagrams; when the kernel's objects change while it is
being written, the kernel sets NLM_F_DUMP_INTR on its messages (man 7
netlink): what was read may miss or repeat objects. Such a dump is read to
its end (so no part of it is left in the socket) and then asked for again;
after ``DUMP_ATTEMPTS`` interrupted dumps in a row the caller gets
``DumpInterrupted`` rather than a partial result.
"""

from __future__ import annotations

import errno
import logging
import struct
from collections.abc import Callable
from typing import Final, TypeVar

from journalban.errors import DumpInterrupted

NLM_F_DUMP_INTR: Final = 0x10
NLMSG_ERROR: Final = 2
NLMSG_DONE: Final = 3
DUMP_ATTEMPTS: Final = 5
_ERRNO: Final = struct.Struct("=i")

log = logging.getLogger("journalban.netlinkdump")

T = TypeVar("T")


def dump_end(msg_type: int, body: bytes) -> int | None:
    """Whether a message of a dump ends it: None when it does not, 0 when the dump ended
    well, else the errno it failed with. An error is never an empty result.

    An NLMSG_DONE's payload is the dump's int status (negative: the errno), an
    NLMSG_ERROR's starts with the negative errno (0: an acknowledgement).
    """
    if msg_type == NLMSG_DONE:
        if len(body) < _ERRNO.size:
            return 0
        status: int = _ERRNO.unpack_from(body)[0]
        return -status if status < 0 else 0
    if msg_type == NLMSG_ERROR:
        code: int = -_ERRNO.unpack_from(body)[0]
        return code
    return None


def retried(dump_once: Callable[[], tuple[T, bool]], what: str) -> T:
    """The result of ``dump_once`` (result, interrupted) from its first uninterrupted run.

    Raises:
        DumpInterrupted: every one of ``DUMP_ATTEMPTS`` runs was interrupted.
    """
    for attempt in range(1, DUMP_ATTEMPTS + 1):
        result, interrupted = dump_once()
        if not interrupted:
            if attempt > 1:
                log.info("%s was interrupted %d time(s), read again", what, attempt - 1)
            return result
    message = (
        f"{what} was interrupted {DUMP_ATTEMPTS} times in a row (NLM_F_DUMP_INTR: the kernel's "
        f"objects kept changing while it was read); its partial result is not used"
    )
    log.warning("dump interrupted: %s", message)
    raise DumpInterrupted(message, errno.EINTR)
