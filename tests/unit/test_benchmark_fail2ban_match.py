"""bench_agent_corpora.Jail.fail2ban_match: fail2ban-server reads the entries journalban's
reader reads, its matches added in the same order (issue 19: the lead, audit).

In fail2ban's ``journalmatch`` a group's fields are apart by spaces (all must hold)
and ``+`` separates alternatives; fail2ban adds the fields to sd-journal in the
order given, and sd-journal's steps per entry depend on that order.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))

from bench_agent_corpora import jail_for, match_argv


def test_fail2ban_reads_the_jails_groups_each_field_in_the_agents_order() -> None:
    jail = jail_for("sshd")
    assert jail.fail2ban_match == (
        "_UID=0 _SYSTEMD_UNIT=ssh.service + _UID=0 _SYSTEMD_UNIT=sshd.service"
    )
    assert jail.fail2ban_match.split() == match_argv(jail)
