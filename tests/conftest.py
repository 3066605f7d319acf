"""Shared test set-up.

Tests that need a real part of the system (journal files, network namespaces,
a private bus, polkitd) call ``need_real(...)``: on a developer machine a
missing part skips the test, but with JOURNALBAN_REQUIRE_REAL=1 (CI) it fails,
so CI cannot go green having tested nothing real.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))


# Groups of tests run by a pytest of their own beside the rest
# (support/booted_beside.py): label -> their node ids.
_beside: dict[str, list[str]] = {}
BOOTED_TIER = "booted tier"
REGEX_SUITES = "regex suites"


@pytest.hookimpl(trylast=True)  # after -k and -m chose
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    from support import booted_beside

    # The booted tier mostly waits, the regex suites keep a core busy: beside
    # other tests each runs in a pytest of its own started right after
    # collection (support/booted_beside.py).
    beside = [item for item in items if _group(item) is not None]
    if booted_beside.wanted(config, items, beside):
        for item in beside:
            _beside.setdefault(_group(item) or "", []).append(item.nodeid)
        items[:] = [item for item in items if _group(item) is None]
        for label in _beside:
            items.append(booted_beside.BootedTier.from_parent(session, name=label))
    # The fresh-machine check, started in the background below, is waited for
    # last: the whole suite runs while it works. The booted tier comes just
    # before it: its root file system, when not cached, is built meanwhile too.
    items.sort(key=lambda item: (item.path.name == "test_fresh_machine.py", _booted(item)))


def _booted(item: pytest.Item) -> bool:
    return item.path.parent.name == "booted" and item.path.parent.parent.name == "tests"


def _group(item: pytest.Item) -> str | None:
    if _booted(item):
        return BOOTED_TIER
    if item.path.parent.parent.name == "tests" and item.path.parent.name in (
        "adversarial",
        "conformance",
    ):
        return REGEX_SUITES
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    # The booted tier, the fresh-machine check and the tier's root file system
    # take minutes (debootstrap, apt, pip, waiting on the container): start them
    # now, in the background, when they are among the tests to run. The root
    # first: both start from one debootstrap base, which it then builds unniced.
    if session.config.option.collectonly:
        return
    if _beside:
        from support import booted_beside

        # pytest's own base temporary directory, the one behind tmp_path_factory.
        factory: pytest.TempPathFactory = session.config._tmp_path_factory  # type: ignore[attr-defined]
        for label, nodeids in _beside.items():
            booted_beside.start(label, nodeids, factory.mktemp(label.replace(" ", "-")))
    if BOOTED_TIER not in _beside and any(_booted(item) for item in session.items):
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


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _no_agent_outlives_its_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that failed before stopping its agent must not leave it (or its log) to the next.

    Only after a failure, and only the agents started since this fixture's set-up:
    those of module-scoped fixtures are set up before it, and a test may start the
    module's next agent (a restart) for the tests after it. The rest are stopped
    at the end of their module (``_no_agent_outlives_its_module``).
    """
    from support import agent

    spare = agent.started()
    yield
    if request.node.stash.get(_FAILED, False):
        agent.stop_leftovers(spare)


@pytest.fixture(autouse=True, scope="module")
def _no_agent_outlives_its_module() -> Iterator[None]:
    yield
    from support import agent

    agent.stop_leftovers()
