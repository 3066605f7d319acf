"""The agent's YAML parsed apart: PyYAML kept out of the agent (its memory, issue 19).

libyaml's parser (``yaml._yaml``, a Cython module) is never unloaded once imported, and
it holds the whole ``yaml`` package: 1.1 MB of the agent's memory for its whole life,
for a configuration read at start and at a reload. ``read_apart(read)`` forks, early in
``journalban run`` (one thread, a small heap), a child that runs ``read`` (the agent's
own reading of its configuration and its jails' filters, with libyaml) and hands back
what each YAML text it parsed gave, by ``marshal`` over a pipe, while the agent imports
its modules. The agent's own parse of a text (``yamlsource.load_yaml_text``) takes the
child's result for the same file name and the very same text, so nothing else of the
reading changes: its checks, its errors and its order are the agent's own. A text the
child did not parse (a file changed in between, an invalid one, a value ``marshal``
cannot carry such as a date) is parsed by the agent itself, with PyYAML's Python parser
(``unloadable_yaml``), which ``forget_yaml`` takes out of memory again once the start
or a reload is done.

The child is the agent's own fork: what it hands back is trusted as the agent's own.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

# How long the agent waits for the child's results at most (they take 20-40 ms).
WAIT = 5.0
# (file, text) -> marshal of (data, marks' where) of what the child parsed.
_given: dict[tuple[str, str], bytes] = {}
# The child parsing: (its pid, the read end of its pipe), until its results are taken.
_child: tuple[int, int] | None = None
# In the child: what it parsed, kept for the agent.
_kept: dict[tuple[str, str], bytes] | None = None


def read_apart(read: Callable[[], object]) -> None:
    """Fork a child that runs ``read`` and keeps what it parses (only with one thread:
    a fork then copies no lock another thread holds)."""
    global _child, _kept
    import threading

    if threading.active_count() > 1 or _child is not None:
        return
    out, into = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(out)
            _kept = {}
            with contextlib.suppress(Exception):  # the agent meets it again, reading itself
                read()
            data = memoryview(marshal.dumps(_kept))
            while data:
                data = data[os.write(into, data) :]
            code = 0
        finally:
            os._exit(code)
    os.close(into)
    _child = (pid, out)


def keep(text: str, file: str, data: Any, where: dict[Any, Any]) -> None:
    """In the child: what ``text`` gave (a value ``marshal`` cannot carry: not kept)."""
    if _kept is not None:
        with contextlib.suppress(ValueError):
            _kept[(file, text)] = marshal.dumps((data, where))


def given(text: str, file: str) -> tuple[Any, dict[Any, Any]] | None:
    """What the child's parse of ``text`` as ``file`` gave, a new copy each time; None
    when it did not parse it (waits for the child's results the first time)."""
    _take()
    found = _given.get((file, text))
    if found is None:
        return None
    data, where = marshal.loads(found)  # noqa: S302 (our own fork's)
    return data, where


def _take() -> None:
    global _child
    if _child is None:
        return
    pid, out = _child
    _child = None
    chunks: list[bytes] = []
    deadline = time.monotonic() + WAIT
    try:
        while (left := deadline - time.monotonic()) > 0 and select.select([out], [], [], left)[0]:
            if not (chunk := os.read(out, 1 << 16)):
                break
            chunks.append(chunk)
        else:  # a child that hangs (a file that blocks its read): the agent reads itself
            chunks = []
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(out)
        os.waitpid(pid, 0)
    with contextlib.suppress(EOFError, ValueError, TypeError):  # (a child that failed)
        results = marshal.loads(b"".join(chunks))  # noqa: S302 (our own fork's)
        if isinstance(results, dict):
            _given.update(results)


def forget() -> None:
    """The child's results dropped (read: the start is done), the child reaped."""
    _take()
    _given.clear()
