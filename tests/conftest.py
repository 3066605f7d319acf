"""Shared test set-up.

Tests that need a real part of the system (journal files, network namespaces,
a private bus, polkitd) call ``need_real(...)``: on a developer machine a
missing part skips the test, but with JOURNALBAN_REQUIRE_REAL=1 (CI) it fails,
so CI cannot go green having tested nothing real.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


_beside: list[str] = []  # the booted tier's tests, run by a pytest of their own


@pytest.hookimpl(trylast=True)  # after -k and -m chose
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    from support import booted_beside

    # The booted tier mostly waits: beside other tests it runs in a pytest of
    # its own started right after collection (support/booted_beside.py).
    booted = [item for item in items if _booted(item)]
    if booted_beside.wanted(config, items, booted):
        _beside.extend(item.nodeid for item in booted)
        items[:] = [item for item in items if not _booted(item)]
        items.append(booted_beside.BootedTier.from_parent(session, name="booted-tier"))
    # The fresh-machine check, started in the background below, is waited for
    # last: the whole suite runs while it works. The booted tier comes just
    # before it: its root file system, when not cached, is built meanwhile too.
    items.sort(key=lambda item: (item.path.name == "test_fresh_machine.py", _booted(item)))


def _booted(item: pytest.Item) -> bool:
    return item.path.parent.name == "booted" and item.path.parent.parent.name == "tests"


def pytest_collection_finish(session: pytest.Session) -> None:
    # The booted tier, the fresh-machine check and the tier's root file system
    # take minutes (debootstrap, apt, pip, waiting on the container): start them
    # now, in the background, when they are among the tests to run. The root
    # first: both start from one debootstrap base, which it then builds unniced.
    if session.config.option.collectonly:
        return
    if _beside:
        from support import booted_beside

        booted_beside.start(_beside)
    elif any(_booted(item) for item in session.items):
        from support import rootfs

        rootfs.start_in_background()
    if any(item.path.name == "test_fresh_machine.py" for item in session.items):
        from support import fresh_root

        fresh_root.start_in_background()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from support import booted_beside

    for line in booted_beside.summary():
        terminalreporter.write_line(line)


def pytest_unconfigure() -> None:
    from support import booted_beside, fresh_root

    booted_beside.stop()
    fresh_root.stop_background()
