"""A private network namespace owned by one worker thread.

``unshare(CLONE_NEWNET)`` moves only the calling thread, so the test process
itself stays in its namespace while everything submitted to the worker (a
backend's netlink sockets, and the ``ipset``/``iptables`` processes it forks)
lives in a fresh namespace that disappears with its last user. The worker
checks that it really left the process's namespace before running anything,
so a failed unshare can never touch the machine's own firewall.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from support.real import need_root

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class ThreadNamespace:
    """Runs callables inside the worker thread's own network namespace."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool

    def call(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        return self._pool.submit(fn).result(timeout=timeout)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command forked from the worker, so inside the namespace."""
        return self.call(
            lambda: subprocess.run(argv, capture_output=True, text=True, check=check, timeout=30)
        )


def _enter_new_namespace() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    if os.readlink("/proc/thread-self/ns/net") == os.readlink("/proc/self/ns/net"):
        raise RuntimeError("worker thread is still in the process's network namespace")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)


@contextmanager
def thread_namespace() -> Iterator[ThreadNamespace]:
    """A worker thread in a network namespace of its own (needs root)."""
    need_root()
    pool = ThreadPoolExecutor(max_workers=1, initializer=_enter_new_namespace)
    try:
        yield ThreadNamespace(pool)
    finally:
        pool.shutdown(wait=True)
