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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The fresh-machine check, started in the background below, is waited for
    # last: the whole suite runs while it works. The booted tier comes just
    # before it: its root file system, when not cached, is built meanwhile too.
    items.sort(key=lambda item: (item.path.name == "test_fresh_machine.py", _booted(item)))


def _booted(item: pytest.Item) -> bool:
    return item.path.parent.name == "booted" and item.path.parent.parent.name == "tests"


def pytest_collection_finish(session: pytest.Session) -> None:
    # The fresh-machine check and the booted tier's root file system take
    # minutes of debootstrap, apt and pip: start them now, in the background,
    # when they are among the tests to run (after -k and -m chose). The root
    # first: both start from one debootstrap base, which it then builds unniced.
    if session.config.option.collectonly:
        return
    if any(_booted(item) for item in session.items):
        from support import rootfs

        rootfs.start_in_background()
    if any(item.path.name == "test_fresh_machine.py" for item in session.items):
        from support import fresh_root

        fresh_root.start_in_background()


def pytest_unconfigure() -> None:
    from support import fresh_root

    fresh_root.stop_background()
