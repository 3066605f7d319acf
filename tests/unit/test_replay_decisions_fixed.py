"""`journalban replay` decides exactly as before its speed work, on a fixed corpus.

The corpus (seeded, ISO 8601 times with their offset, so neither the year
nor the time zone of the machine matters) calls on every detector: scanners
(the per-address count), a low-and-slow address, botnets spread over a few
/24 prefixes and IPv6 /48s against real accounts and a dictionary, a burst
for attack mode, a deny-listed account, and real users who log in (known-good
pairs) and mistype. The decisions, with their times as epoch seconds, are
hashed; ``EXPECTED`` was computed by the replay before the speed work
(commit 950ff9c on main) and any change to what replay decides changes it.
Changed once since, on purpose: a ban the expiry lifts before the lines read
pass its end holds its span as a virtual ban (``BanDeciding._forget_virtual``).
The replay lifts bans by its clock, set to the end of the slice of lines it is
about to decide (up to 300 s ahead of them), so the failures of a slice inside
a ban that ended within it counted; they no longer do, as in the agent (the
same 8,208 failure lines; 6 failures inside such bans no longer count, and with
them the account detector's inputs: 44 of the 3,044 bans, all ``account``, move
in time or go, 3,043 bans).
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from journalban.cli.main import main

START = 1_764_000_000.0  # 2025-11-24T16:00:00Z
EXPECTED = "1c72ca96165b369c405ec8198ce14ed79715fc3d8ce64d90f9658ab584eb408d"


def _stamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds")


def corpus() -> list[str]:
    rng = random.Random(1414)
    events: list[tuple[float, str]] = []
    day = 86_400.0

    def fail(when: float, user: str, addr: str) -> None:
        port = rng.randint(1024, 65535)
        events.append((when, f"Failed password for {user} from {addr} port {port} ssh2"))

    def invalid(when: float, user: str, addr: str) -> None:
        port = rng.randint(1024, 65535)
        events.append(
            (when, f"Failed password for invalid user {user} from {addr} port {port} ssh2")
        )

    def accept(when: float, user: str, addr: str) -> None:
        port = rng.randint(1024, 65535)
        events.append((when, f"Accepted password for {user} from {addr} port {port} ssh2"))

    users = {"alice": "198.51.100.10", "bob": "198.51.100.11", "carol": "2001:db8:cafe::10"}
    for user, addr in users.items():  # real users: logins, now and then a typo
        for _ in range(40):
            when = START + rng.uniform(0, day)
            if rng.random() < 0.2:
                fail(when, user, addr)
            accept(when + 5, user, addr)
    for _ in range(30):  # scanners hammering
        addr = f"203.0.113.{rng.randint(1, 254)}"
        t = START + rng.uniform(0, day)
        for n in range(rng.randint(2, 12)):
            invalid(t + n * 3, rng.choice(("admin", "test", "ubuntu", "git")), addr)
    for n in range(15):  # low and slow: one failure every 2 hours
        fail(START + n * 7200 + 11, "root", "192.0.2.200")
    prefixes = [f"100.{64 + i}.{j}" for i in range(4) for j in range(6)]
    accounts = ("alice", "bob", "root", "postgres", "oracle", "admin", "deploy", "www")
    for _ in range(3000):  # botnets: each address 1 to 4 times, far apart
        if rng.random() < 0.8:
            addr = f"{rng.choice(prefixes)}.{rng.randint(1, 254)}"
        else:
            addr = f"2001:db8:{rng.randint(1, 40):x}:{rng.randint(0, 9):x}::{rng.randint(1, 999):x}"
        t = START + rng.uniform(0, day)
        for _n in range(rng.randint(1, 4)):
            user = rng.choice(accounts)
            (fail if user in users or user == "root" else invalid)(t, user, addr)
            t += rng.uniform(600, 7200)
    burst = START + 0.6 * day  # attack mode: 400 failures within 8 minutes
    for n in range(400):
        invalid(burst + n * 1.2, "user", f"45.{n % 7}.{n % 13}.{n % 250 + 1}")
    events.sort()
    return [f"{_stamp(t)} web1 sshd[{1000 + i % 5000}]: {m}" for i, (t, m) in enumerate(events)]


def decisions_digest(out: dict[str, object]) -> str:
    def epoch(text: object) -> float | None:
        return None if text is None else datetime.fromisoformat(str(text)).timestamp()

    bans = [
        [b["jail"], b["address"], b["reason"], epoch(b["at"]), epoch(b["until"])]
        for b in out["bans"]  # type: ignore[attr-defined]
    ]
    accounts = [
        [a["jail"], a["account"], epoch(a["since"]), epoch(a["until"])]
        for a in out["accounts_under_attack"]  # type: ignore[attr-defined]
    ]
    text = json.dumps([out["lines"], out["failures"], bans, accounts])
    return hashlib.sha256(text.encode()).hexdigest()


def test_replay_decides_as_before_on_a_fixed_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "auth.log"
    log.write_text("\n".join(corpus()) + "\n")
    config = tmp_path / "journalban.yaml"
    jail = {"deny_users": ["oracle"]}  # the default's detectors, and one deny-listed account
    config.write_text(
        yaml.safe_dump({"state_dir": str(tmp_path / "state"), "jails": {"sshd": jail}})
    )
    assert main(["replay", str(log), "--config", str(config), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    reasons = {b["reason"] for b in out["bans"]}
    # The corpus exercises every detector the configuration turns on.
    assert reasons >= {"failures", "slow", "subnet", "account", "attack_mode", "deny_user"}, reasons
    assert out["accounts_under_attack"]
    assert not (tmp_path / "state").exists()
    assert decisions_digest(out) == EXPECTED
