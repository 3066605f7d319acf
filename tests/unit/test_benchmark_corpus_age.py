"""corpus_files: a cached corpus older than an hour is written again (issue 19, audit).

The agent's short detector bans that end before now are held as virtual bans, so
an older corpus gives journalban less work and fail2ban-server the same: a corpus
kept six hours let the ratio drift up by the cache's age alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from corpus_files import _cached


def _meta(data: Path, age: float) -> None:
    data.mkdir(parents=True, exist_ok=True)
    (data / "corpus.json").write_text(json.dumps({
        "lines": 300, "failures": 10, "ends_at": time.time() - age,
        "journal_files": 1, "journal_bytes": 4096,
    }))  # fmt: skip


def test_a_corpus_written_half_an_hour_ago_is_kept(tmp_path: Path) -> None:
    _meta(tmp_path, 1800)
    found = _cached(tmp_path, "sshd", 300)
    assert found is not None
    assert found.failures == 10


def test_a_corpus_two_hours_old_is_written_again(tmp_path: Path) -> None:
    _meta(tmp_path, 2 * 3600)
    assert _cached(tmp_path, "sshd", 300) is None
