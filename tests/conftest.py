"""Shared test set-up.

Tests that need a real part of the system (journal files, network namespaces,
a private bus, polkitd) call ``need_real(...)``: on a developer machine a
missing part skips the test, but with JOURNALBAN_REQUIRE_REAL=1 (CI) it fails,
so CI cannot go green having tested nothing real.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
