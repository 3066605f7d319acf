"""The parts of the suite that left entries in /tmp leave none.

Each runs where /tmp is a fresh tmpfs of its own (support/leftovers.py), so
that the check holds on a machine where other things write to /tmp. A run of
``tests/unit tests/real`` once left an ssh-* and a dbus-* per Cockpit page
test (the bridge's ssh-agent and session bus), and a whole run a
journalban-beside-* (the log of the tier run beside the suite).
"""

from __future__ import annotations

import getpass
import os

import pytest

from support.bus import PYTHON
from support.leftovers import left_in_tmp
from support.real import REPO

pytestmark = pytest.mark.real

# pytest's own base temporary directory: it keeps the last three sessions'.
PYTEST_OWN = f"pytest-of-{getpass.getuser()}"


def test_cockpit_ws_and_its_bridges_leave_nothing_in_tmp() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    assert left_in_tmp([PYTHON, "-m", "support.leftovers", "cockpit"], env) == []


def test_a_session_running_a_group_beside_leaves_only_pytest_s_own_directory() -> None:
    env = {key: value for key, value in os.environ.items() if key != "JOURNALBAN_BOOTED_BESIDE"}
    argv = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/unit/test_cpus.py::test_v2_the_smallest_quota_up_to_the_mount_counts",
            "tests/conformance/test_filters_doc.py::test_filters_doc_tables_are_current"]  # fmt: skip
    left = left_in_tmp(argv, env)
    assert set(left) <= {PYTEST_OWN}, left
