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
    # last: the whole suite runs while it works.
    items.sort(key=lambda item: item.path.name == "test_fresh_machine.py")


def pytest_collection_finish(session: pytest.Session) -> None:
    # The fresh-machine check takes minutes of apt and pip: start it now, in the
    # background, when it is among the tests to run (after -k and -m chose).
    if session.config.option.collectonly:
        return
    if any(item.path.name == "test_fresh_machine.py" for item in session.items):
        from support import fresh_root

        fresh_root.start_in_background()


def pytest_unconfigure() -> None:
    from support import fresh_root

    fresh_root.stop_background()
