"""The journal reader child imports neither ``socket`` nor ``traceback`` (issue 19: about
0.4 MB of its memory with what they import), and its helper's pipe still reaches the agent."""

from __future__ import annotations

import _socket
import os
import socket

import pytest

from journalban.sources.journalhelper import fork_helper, receive_helper_pipe
from support.imports import modules_after

JOURNAL_CHILD = (
    "from journalban.lazyinspect import lazy_inspect; lazy_inspect(); "
    "import journalban.agent.readerchild, journalban.agent.journalreader as r; r.warm_up(); "
    "import journalban.sources.journalworker"
)


def test_the_journal_child_s_imports_leave_socket_and_traceback_out() -> None:
    loaded = modules_after(JOURNAL_CHILD)
    assert {"journalban.sources.journalworker", "journalban.sources.journalhelper"} <= loaded
    assert {"socket", "selectors", "traceback", "linecache", "tokenize"} & loaded == set()


def _wait_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_helper_s_pipe_reaches_the_agent_over_the_child_s_own_socket() -> None:
    agent_side, child_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # As the child makes it from the request's descriptor (journalworker.Follower).
    channel = _socket.socket(fileno=os.dup(child_side.fileno()))
    child_side.close()
    keep_out = os.open(os.devnull, os.O_WRONLY)

    def write(fd: int) -> None:
        os.write(fd, b"frames of the helper\n")

    try:
        pid = fork_helper(channel, keep_out, write)
        with receive_helper_pipe(agent_side) as pipe:
            assert pipe.read() == b"frames of the helper\n"
        assert _wait_code(pid) == 0
    finally:
        os.close(keep_out)
        channel.close()
        agent_side.close()


def test_a_helper_s_failure_is_still_reported(capfd: pytest.CaptureFixture[str]) -> None:
    agent_side, child_side = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    channel = _socket.socket(fileno=os.dup(child_side.fileno()))
    child_side.close()
    keep_out = os.open(os.devnull, os.O_WRONLY)

    def fail(_fd: int) -> None:
        raise ValueError("the helper's own failure")

    try:
        pid = fork_helper(channel, keep_out, fail)
        with receive_helper_pipe(agent_side) as pipe:
            assert pipe.read() == b""  # no DONE frame: the agent restarts the source
        assert _wait_code(pid) == 1
    finally:
        os.close(keep_out)
        channel.close()
        agent_side.close()
    err = capfd.readouterr().err
    assert "Traceback" in err
    assert "ValueError: the helper's own failure" in err
