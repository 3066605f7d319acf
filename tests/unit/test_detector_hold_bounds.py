"""An end of hold read back from the state lasts no longer than a hold from now.

A stored end is the failure's time plus ``hold``; one further off (a damaged row's
``1e300``, or a hold configured shorter since) would keep an account or a jail under
attack, banning every failing network at its first failure, for that long. Restored,
it is cut to a hold from the restore; one within it is kept as it was.
"""

from __future__ import annotations

import json

import pytest

from journalban.config.detectors import AccountConfig, AttackModeConfig
from journalban.jails.account import AccountAttack
from journalban.jails.attackmode import AttackMode
from journalban.jails.detector import Seen

NOW = 1_800_000_000.0
HOLD = 3600.0


@pytest.mark.parametrize(
    ("stored", "restored"),
    [(1e300, NOW + HOLD), (NOW + 10 * HOLD, NOW + HOLD), (NOW + 600, NOW + 600)],
    ids=["far off", "a longer hold before", "within the hold"],
)
def test_an_account_s_hold_is_at_most_a_hold_from_now(stored: float, restored: float) -> None:
    det = AccountAttack(AccountConfig(addresses=3, findtime=600.0, hold=HOLD), 1000)
    det.restore([("a:alice", json.dumps(stored))], NOW)
    assert det.attacked_until("alice", NOW) == restored
    # Past the cut end, a failure for the account is counted, not banned at once.
    assert det.observe(Seen("192.0.2.1/32", "alice", NOW + HOLD + 1)) == ()


@pytest.mark.parametrize(
    ("stored", "restored"),
    [(1e300, NOW + HOLD), (NOW + 10 * HOLD, NOW + HOLD), (NOW + 600, NOW + 600)],
    ids=["far off", "a longer hold before", "within the hold"],
)
def test_attack_mode_s_hold_is_at_most_a_hold_from_now(stored: float, restored: float) -> None:
    det = AttackMode(AttackModeConfig(failures=1000, findtime=600.0, hold=HOLD))
    det.restore([("", json.dumps([stored, []]))], NOW)
    assert det.until == restored
    assert det.active(restored - 1)
    assert not det.active(NOW + HOLD + 1)
    assert det.observe(Seen("192.0.2.1/32", None, NOW + HOLD + 1)) == ()
