"""The README's two commands, proven on a fresh Debian 12 (minbase) root file system.

A machine where someone installed a tool by hand hides a missing install
step; a new debootstrap root does not. In it (see tests/support/fresh_setup.sh)
scripts/setup must give a venv whose agent checks the packaged default OK
(a minimal system has no /etc/services) and starts in a network namespace;
scripts/setup --test must then give every tool of tests/support/tools.py and
every test dependency, and the packaging tests must pass there (makepkg run
as an unprivileged user, which once failed on a fresh machine).

Slow (minutes: apt and pip install from nothing), so a success is recorded,
keyed by scripts/setup, pyproject.toml, setup.py, the tools list and these scripts;
any change to them proves it again (JOURNALBAN_FRESH_SETUP=always: every time).
"""

from __future__ import annotations

import re

import pytest

from support import fresh_root
from support.real import need_root, need_tool

pytestmark = [pytest.mark.real, pytest.mark.slow]


def test_readme_commands_install_everything_on_a_fresh_debian_12() -> None:
    need_root()
    proven = fresh_root.recorded()
    if proven is not None:  # proven for exactly these inputs
        assert proven["key"] == fresh_root.setup_key()
        return
    need_tool("debootstrap")
    need_tool("unshare")
    need_tool("chroot")
    run = fresh_root.result()  # started at collection (tests/conftest.py), or now
    markers = run.markers
    assert run.returncode == 0, run.tail()
    # minbase has no netbase: the agent must not need /etc/services.
    assert "BASE has /etc/services: no" in markers
    assert "CHECK-CONFIG OK" in markers, run.tail()
    # scripts/setup built the C module (optional for pip: a silent failure would pass).
    assert "NATIVE READER built" in markers, run.tail()
    # `unshare -n .venv/bin/journalban run` started and was still running when stopped.
    assert re.search(r" INFO journalban \S+ running: 1 jail \(sshd\)", run.output), run.tail()
    assert "RUN EXIT 124" in markers, run.tail()
    assert run.missing_tools == [], run.tail()
    assert run.missing_modules == [], run.tail()
    assert "TESTS OK" in markers, run.tail()
    assert set(run.phases) == {"setup", "agent", "setup-test", "tools", "tests"}
    fresh_root.record(run)
