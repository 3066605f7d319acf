"""The helper of a split catch-up: forked by the reader child, its frames on a pipe of its own.

A catch-up over many archived files is read by two processes, one per core
(``journalworker.read_round``). Starting the second as a new interpreter cost
about 0.1 s before it read anything (Python, imports, the jail's matcher
built again), most of a short catch-up. The reader child forks it instead,
with everything imported and the matcher built: it reads within a
millisecond. Its frames need their own pipe to the agent, which takes them in
turn with the child's: the child makes the pipe and hands its read end to the
agent over ``channel``, a Unix socket the agent gave it (``SCM_RIGHTS``),
before it writes the ``SPLIT`` frame that tells the agent to take it.

The helper ends its share with a ``DONE`` frame; an end of its pipe without
one is a failure (the agent restarts the source from its committed cursor).
It ends when the agent closes the read end (its next write fails), as the
child does. The child reaps its helpers on ``SIGCHLD`` (``journalworker.main``),
so that their CPU time adds up in its own. Standard library only.

The child's side needs neither ``socket`` nor ``traceback``: ``_socket``'s own
socket sends the descriptor, and a helper's failure imports ``traceback`` to
report it. Together with the modules they import (``selectors``, ``linecache``,
``tokenize``, ``textwrap``, the socket enums) they were about 0.4 MB of the
journal reader child's memory (issue 19).
"""

from __future__ import annotations

import _socket
import array
import os
import sys
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import socket

FD_MESSAGE = b"helper"


def fork_helper(channel: _socket.socket, keep_out: int, run: Callable[[int], None]) -> int:
    """Fork a helper running ``run(its frame fd)``; its pid once the agent holds its pipe.

    ``keep_out`` (the child's own stdout) is closed in the helper: the agent
    must see the child's end when the child ends, whatever the helper does.

    Raises:
        OSError: no pipe, no fork, or the agent is gone.
    """
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the helper: reported through its frames)
            _helper(read_end, write_end, channel, keep_out, run)
        send_fd(channel, read_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    return pid


def send_fd(channel: _socket.socket, fd: int) -> None:
    """Send ``fd`` over ``channel`` with ``FD_MESSAGE`` (what ``socket.send_fds`` sends)."""
    rights = array.array("i", [fd])
    channel.sendmsg([FD_MESSAGE], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])


def _helper(
    read_end: int,
    write_end: int,
    channel: _socket.socket,
    keep_out: int,
    run: Callable[[int], None],
) -> None:  # pragma: no cover (runs in the forked process)
    code = 1
    try:
        os.close(read_end)
        os.close(keep_out)
        channel.close()
        run(write_end)
        code = 0
    except BrokenPipeError:
        code = 0  # the agent stopped reading it: nothing left to do
    except BaseException:
        import traceback  # only to report a failure

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def receive_helper_pipe(channel: socket.socket) -> IO[bytes]:
    """The read end of a helper's pipe, sent before its ``SPLIT`` frame (in the agent).

    Raises:
        OSError: nothing was sent (a child that does not fork its helpers).
    """
    import socket  # the agent's side: imported there anyway

    message, fds, _, _ = socket.recv_fds(channel, len(FD_MESSAGE), 1)
    if message != FD_MESSAGE or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise OSError("the reader child sent no helper pipe")
    return os.fdopen(fds[0], "rb", buffering=0)
