"""The running agent decides and stores exactly as before its per-ban speed work.

The real ``Agent`` (default configuration: the sshd jail's detectors, recidive
on; dry-run backend; a fake clock) reads three benchmark corpora (60,000
lines each of ``sshd``, ``sshd-flood`` and ``sshd-near-miss``, dated to end at
a fixed time; findtime 2 days, so every line is read) and the fixed replay
corpus that calls on every detector (tests/unit/test_replay_decisions_fixed.py;
with the packaged findtime the agent reads back its last minutes, where the
botnets, an account under attack and the deny-listed account are), and the
whole state database at
the end (bans, ban history, detector rows, accounts, the failure log,
counters, positions: what a restart starts from) is hashed. ``FORMAT_0`` was
computed on main at bda8dc7, before the changes to the ban path, the detector
rows and the file reader, from the tables of state format 0; any change to
what is counted, banned, why, or stored changes a hash. State format 1 (a
ban's account a column of its row, no ``ban_accounts`` table) changed the
hash of the tables themselves on purpose (``EXPECTED``); the same state read
as format 0 held it (``decide_corpus.FORMAT_0``) still hashes as before: the
same bans, history, accounts and detector rows.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).parent))

import decide_corpus
from test_replay_decisions_fixed import START, corpus

LINES = 60_000
EXPECTED = {
    "sshd": "5ade7c93bd5a46db",
    "sshd-flood": "a13f31949751b29c",
    "sshd-near-miss": "c6bd09f4c172bc23",
    "replay": "f43e8691bab63acc",
}
FORMAT_0 = {
    "sshd": "34fdad8422ec775d",
    "sshd-flood": "200ef38152572a67",
    "sshd-near-miss": "3cbe08777618051e",
    "replay": "c483cb1fdf6452b4",
}


def _hashes(tmp_path: Path, log: Path) -> tuple[str, str]:
    rows = decide_corpus.state_rows(tmp_path / "state")
    old = decide_corpus.state_rows(tmp_path / "state", decide_corpus.FORMAT_0)
    return decide_corpus.state_digest(rows, log)[:16], decide_corpus.state_digest(old, log)[:16]


@pytest.mark.parametrize("name", ["sshd", "sshd-flood", "sshd-near-miss"])
def test_the_agent_stores_the_same_state_on_a_benchmark_corpus(tmp_path: Path, name: str) -> None:
    log = tmp_path / "corpus.log"
    decide_corpus.write_corpus(name, LINES, log)
    decide_corpus.run_agent(name, log, tmp_path)
    rows = decide_corpus.state_rows(tmp_path / "state")
    assert rows["bans"]
    assert rows["detector_state"]
    assert rows["failure_log"]
    assert _hashes(tmp_path, log) == (EXPECTED[name], FORMAT_0[name])


def test_the_agent_stores_the_same_state_on_the_every_detector_corpus(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(corpus()) + "\n")
    config = {
        "state_dir": str(tmp_path / "state"), "bus": False, "firewall": {"backend": "dry-run"},
        "jails": {"sshd": {"deny_users": ["oracle"], "source": "files", "files": [str(log)]}},
    }  # fmt: skip
    decide_corpus.run_config(config, "sshd", log, tmp_path, START + 86_400 + 60)
    rows = decide_corpus.state_rows(tmp_path / "state")
    reasons = collections.Counter(str(r[5]) for r in rows["bans"])
    assert set(reasons) >= {"subnet", "account", "deny_user"}, reasons
    assert any(r[9] for r in rows["bans"]), "bans with their account"
    assert _hashes(tmp_path, log) == (EXPECTED["replay"], FORMAT_0["replay"])
