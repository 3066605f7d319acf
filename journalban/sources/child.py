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

from journalban.errors import SourceError
from journalban.sources.frames import FRAME_HEADER

PIPE_BYTES = 1 << 20  # a few frames in flight: the child reads on while the agent commits


class ChildProcess:
    """A reader child process and the stream of its frames."""

    def __init__(self, argv: Sequence[str], request: bytes, buffer_limit: int) -> None:
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.process.stdin is None or self.process.stdout is None:
            raise SourceError("reader child started without pipes")
        self._stdout = self.process.stdout
        with contextlib.suppress(OSError):  # above fs.pipe-max-size without privileges
            fcntl.fcntl(self._stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        # stdin stays open: its EOF tells the child that this side is gone.
        self.process.stdin.write(request)
        self.process.stdin.flush()
        self._limit = buffer_limit
        self._transport: asyncio.BaseTransport | None = None
        self._stream: asyncio.StreamReader | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        stream = self._stream = asyncio.StreamReader(limit=self._limit, loop=loop)
        self._transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), self._stdout
        )

    async def body(self) -> bytes | None:
        """The next frame's body; None once the child has exited (or was stopped)."""
        if self._stream is None:
            return None
        try:
            header = await self._stream.readexactly(FRAME_HEADER.size)
            return await self._stream.readexactly(FRAME_HEADER.unpack(header)[0])
        except asyncio.IncompleteReadError:
            return None

    def stop(self) -> int:
        """Kill and reap the child (it holds nothing that needs an orderly exit); its exit code."""
        process = self.process
        if process.poll() is None:
            process.kill()
        code = process.wait()
        if process.stdin is not None:
            with contextlib.suppress(OSError):  # a pipe the dead child no longer reads
                process.stdin.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        return code
