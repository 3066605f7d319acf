"""Memory suite on the real agent: a flood of distinct addresses stays within the stated bound.

150,000 distinct IPv4 addresses, then 150,000 distinct IPv6 /64s, one failure
each, through a file jail with the default cap (100,000 networks): the
agent's peak RSS must stay under ``PEAK_BOUND_MB``, the bound
``docs/threat-model.md`` states for one flooded jail at the default cap
(``tests/benchmarks/bench_address_flood.py`` runs a million of each).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.flood import run_flood

pytestmark = [pytest.mark.real, pytest.mark.slow]
PEAK_BOUND_MB = 250


def test_a_flood_of_distinct_addresses_keeps_the_agent_within_its_bound(tmp_path: Path) -> None:
    figures = run_flood(tmp_path, 150_000, 150_000)
    assert figures["failed"] == 300_000, figures
    assert figures["agent_peak_rss_mb"] < PEAK_BOUND_MB, figures
