"""Real OpenLDAP slapd: binds refused for invalid credentials, counted for the address
their connection came from.

Debian 12's slapd (unpacked by scripts/setup --test) serves an empty directory
on port 389 in the server namespace and logs at the stats level through a real
rsyslogd. Two clients in the other namespace bind as the administrator: one
mistypes once and then gets it right, the other guesses on two connections.
slapd writes the refusals ("RESULT tag=97 err=49") with the connection number
only; `journalban replay` with the shipped slapd filter counts each for the
address its connection's ACCEPT line named, and bans only the guesser.

slapd logs ACCEPT from its listener thread and the bind's RESULT from a worker:
a client that binds at once may see its first refusal logged before the ACCEPT
line (seen here about once in ten connections). The filter's sessions wait
(late: 5) for that line, so the guesser's three refusals count whatever the
order; the typo's client pauses after connecting, the guesser does not.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from support.agent import JOURNALBAN, PER_ADDRESS_ONLY, write_config
from support.netpair import net_pair
from support.slapd import ADMIN, LDAP_CLIENT, PASSWORD, running_slapd

INVALID_CREDENTIALS, SUCCESS = "49", "0"


def test_slapd_refused_binds_count_for_their_connections_client(tmp_path: Path) -> None:
    with net_pair() as pair, running_slapd(tmp_path / "slapd", pair) as log:
        attacker, innocent = pair.clients
        # A typo, then the right password: one failure, no ban.
        typo = pair.client_python(
            LDAP_CLIENT, innocent, pair.server, ADMIN, "open", "pause", "sercet", PASSWORD
        )
        assert typo.split() == [INVALID_CREDENTIALS, SUCCESS]
        # Three guesses on two connections.
        guesses = pair.client_python(
            LDAP_CLIENT,
            attacker,
            pair.server,
            ADMIN,
            "open",
            "pause",
            "admin",
            "123456",
            "open",
            "pause",
            "ldap",
        )
        assert guesses.split() == [INVALID_CREDENTIALS] * 3
        # rsyslogd writes asynchronously: wait for the last refusal and the closes.
        text = ""
        for _ in range(600):
            text = log.read_text()
            if text.count("RESULT tag=97 err=49") == 4 and text.count(" closed") == 3:
                break
            time.sleep(0.05)
    # What slapd wrote: the refusals name no address, the ACCEPT lines do.
    refusals = [line for line in text.splitlines() if "RESULT tag=97 err=49" in line]
    assert len(refusals) == 4, text
    assert not any(attacker in line or innocent in line for line in refusals)
    assert len(re.findall(rf"ACCEPT from IP={re.escape(attacker)}:\d+ ", text)) == 2, text
    cfg = write_config(
        tmp_path / "c.yaml", tmp_path / "state", firewall={"backend": "dry-run"},
        jails={"sshd": {"enabled": False},
               "slapd": {"enabled": True, "source": "files", "files": [str(log)],
                         "maxretry": 3, "bantime": "1h", "ignoreip": [],
                         "ignore_local_networks": False, **PER_ADDRESS_ONLY}},
    )  # fmt: skip
    replay = subprocess.run(
        [JOURNALBAN, "replay", str(log), "--config", str(cfg), "--jail", "slapd", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    found = json.loads(replay.stdout)
    assert found["failures"] == 4, text
    assert [(b["address"], b["reason"]) for b in found["bans"]] == [(attacker, "failures")]
