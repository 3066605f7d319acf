"""Running a program without a shell, with a deadline that also covers its children."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from typing import Final

from journalban.errors import ActionError

# Actions run with a small, known environment: nothing of the agent's leaks in.
SAFE_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_CAP: Final = 4096


def run_argv(
    argv: Sequence[str],
    timeout: float,
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``argv`` and return its standard output.

    The program gets its own session, so on timeout the whole process group
    is killed: a script whose child still holds the pipes cannot outlive it.

    Raises:
        ActionError: the program cannot be started, exits non-zero, or overruns ``timeout``.
    """
    shown = shlex.join(argv)
    environment = {"PATH": SAFE_PATH, "LANG": "C.UTF-8", **(env or {})}
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise ActionError(f"cannot run {shown}: {exc.strerror}") from exc
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.communicate()
        raise ActionError(f"{shown} did not finish within {timeout:g} s and was killed") from None
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip()[-OUTPUT_CAP:]
        raise ActionError(f"{shown} exited with status {proc.returncode}: {detail}")
    return out.decode("utf-8", "replace")[:OUTPUT_CAP]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
