"""Skip, or fail under CI, when a real part of the system is not available."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

from support import tools

REQUIRE_REAL = os.environ.get("JOURNALBAN_REQUIRE_REAL") == "1"
REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


def missing_real(reason: str) -> NoReturn:
    """Skip the test, or fail it when CI demands the real parts."""
    if REQUIRE_REAL:
        pytest.fail(f"real part required but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def need_root() -> None:
    if os.geteuid() != 0:
        missing_real("needs root (network namespaces, polkitd, mounts)")


def need_tool(path_or_name: str) -> str:
    """The absolute path of a tool, or skip/fail when it is missing.

    Only the tools of ``support.tools.REQUIRED_TOOLS`` may be asked for: that
    list is what the fresh-machine check proves scripts/setup --test installs.
    """
    if not tools.is_listed(path_or_name):
        pytest.fail(
            f"{path_or_name} is not in tests/support/tools.py REQUIRED_TOOLS: add it there "
            "with its Debian package, and the package to scripts/setup's TEST_PACKAGES",
            pytrace=False,
        )
    found = path_or_name if os.path.isabs(path_or_name) else shutil.which(path_or_name)
    if not found or not os.access(found, os.X_OK):
        missing_real(f"{path_or_name} is not installed")
    return found
