"""A reader child process seen from the agent: a request in, length-prefixed frames out.

Both kinds of source read in a child (``journalworker`` for the journal,
``journalban.agent.fileworker`` for files). The agent writes one request line
on the child's stdin and keeps stdin open: its EOF tells the child that the
agent is gone. The child answers with frames on stdout, each a 4-byte
little-endian length and a body the caller decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import subprocess
from collections.abc import Sequence
from typing import IO

from journalban.errors import SourceError
from journalban.sources.frames import FRAME_HEADER


class ChildDied(SourceError):
    """A reader child ended without being asked to: ``signal`` the one that killed it (None:
    it exited); ``helper``: the helper it forked, how it ended not known."""

    def __init__(self, message: str, signal: int | None = None, helper: bool = False) -> None:
        super().__init__(message)
        self.signal = signal
        self.helper = helper


def died(what: str, code: int) -> ChildDied:
    """The failure of a child that ended with ``code`` (``Popen.returncode``)."""
    return ChildDied(f"{what} exited ({code})", -code if code < 0 else None)


PIPE_BYTES = 1 << 20  # a few frames in flight: the child reads on while the agent commits
# The most one read of a pipe by asyncio takes (``_UnixReadPipeTransport.max_size``).
READ_BYTES = 256 << 10


class FrameStream:
    """Frames read from a pipe: a child's stdout, or a pipe its forked helper writes."""

    def __init__(self, pipe: IO[bytes], buffer_limit: int, pid: int) -> None:
        self.pid = pid
        self._pipe = pipe
        with contextlib.suppress(OSError):  # above fs.pipe-max-size without privileges
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self._limit = buffer_limit
        self._transport: asyncio.BaseTransport | None = None
        self._stream: asyncio.StreamReader | None = None

    @property
    def waiting(self) -> int:
        """Bytes read from the pipe and not yet taken as frames (in this process's memory)."""
        return len(getattr(self._stream, "_buffer", b""))

    @property
    def most_waiting(self) -> int:
        """The most ``waiting`` can be, unless one frame is longer: asyncio's reader stops
        reading the pipe once more than twice its limit waits, and the read that took it
        there brought ``READ_BYTES`` at most (a longer frame is read whole)."""
        return 2 * self._limit + READ_BYTES

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        stream = self._stream = asyncio.StreamReader(limit=self._limit, loop=loop)
        self._transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), self._pipe
        )

    async def body(self) -> bytes | None:
        """The next frame's body; None once the writer has ended (or was stopped)."""
        if self._stream is None:
            return None
        try:
            header = await self._stream.readexactly(FRAME_HEADER.size)
            return await self._stream.readexactly(FRAME_HEADER.unpack(header)[0])
        except asyncio.IncompleteReadError:
            return None

    def close(self) -> None:
        """Stop reading: the writer's next write fails, which ends it."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        else:
            self._pipe.close()


class ChildProcess(FrameStream):
    """A reader child process and the stream of its frames."""

    def __init__(
        self,
        argv: Sequence[str],
        request: bytes | None,
        buffer_limit: int,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=pass_fds
        )
        if self.process.stdin is None or self.process.stdout is None:
            raise SourceError("reader child started without pipes")
        super().__init__(self.process.stdout, buffer_limit, self.process.pid)
        if request is not None:  # else later (tell): a child started ahead of its request
            self.tell(request)

    def tell(self, data: bytes) -> None:
        """Write to the child's stdin, which stays open: its EOF tells the child this side is gone.

        Raises:
            OSError: the child is gone.
        """
        if self.process.stdin is None:
            raise BrokenPipeError("reader child without stdin")
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def stop(self) -> int:
        """Kill and reap the child (it holds nothing that needs an orderly exit); its exit code."""
        process = self.process
        if process.poll() is None:
            process.kill()
        code = process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):  # a pipe the dead child no longer reads
                process.stdin.close()
        self.close()
        return code
