"""One day of an Internet-facing sshd, with the truth of who is who: for detection benchmarks.

    python tests/benchmarks/gen_scenario.py OUT [--scenario default|dictionary|lowrate] [--seed S]

Real users log in from their usual addresses, mistype now and then (mostly
from a usual address, sometimes from a new one); scanners hammer for a few
minutes; botnets of thousands of addresses use each address 1 to 4 times,
spaced far apart, spread over many prefixes with some clustering, against a
few real accounts and a dictionary of others. Writes ``auth.log`` (syslog
lines), ``journal/`` (the same entries through systemd-journal-remote, with
``_PID`` per connection) and ``truth.json`` (each attempt: time, address,
attacker or not; each real user's addresses that logged in).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

DAY = 86400.0
DICTIONARY = [
    "admin", "test", "user", "oracle", "ubuntu", "postgres", "git", "guest", "ftpuser", "pi",
    "support", "mysql", "hadoop", "nagios", "minecraft", "steam", "jenkins", "ansible",
    "administrator", "dev", "teamspeak", "odoo", "sa", "es", "ubnt", "backup", "web", "www",
    "demo", "oper", "server", "info", "test1", "test2", "user1", "temp", "tomcat", "zabbix",
]  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    users: int = 30
    targeted: int = 4  # real accounts the botnet knows
    bot_addresses: int = 4000
    bot_clustered: float = 0.4  # share of bot addresses inside a few crowded /24s
    bot_prefixes: int = 60
    bot_targeted: float = 0.5  # share of bot attempts on real accounts
    scanners: int = 40
    typo_rate: float = 0.15
    new_address_rate: float = 0.05


SCENARIOS = {
    "default": Scenario(),
    # a big botnet on a dictionary of accounts, tightly clustered
    "dictionary": Scenario(
        bot_addresses=6000, bot_clustered=0.6, bot_prefixes=40, bot_targeted=0.1
    ),
    # a small, slow botnet on real accounts only, spread thin
    "lowrate": Scenario(bot_addresses=1200, bot_clustered=0.1, bot_targeted=0.9, scanners=10),
}


@dataclass(frozen=True)
class Attempt:
    when: float
    address: str
    user: str
    ok: bool  # an accepted login
    attacker: bool


def _v4(rng: random.Random) -> str:
    while True:
        a = rng.randint(1, 223)
        if a not in (
            10,
            100,
            127,
            169,
            172,
            192,
            198,
            203,
        ):  # keep clear of special and test blocks
            return f"{a}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def attempts(s: Scenario, start: float, seed: int) -> list[Attempt]:
    rng = random.Random(seed)
    out: list[Attempt] = []
    names = [f"user{i:02d}" for i in range(s.users)]
    homes = {n: [_v4(rng) for _ in range(rng.randint(1, 2))] for n in names}
    for name in names:
        for _ in range(rng.randint(3, 6)):
            when = start + rng.uniform(0, DAY)
            home = rng.choice(homes[name])
            if rng.random() < s.new_address_rate:
                home = _v4(rng)  # travelling: a new address, maybe a typo first
            if rng.random() < s.typo_rate:
                out.append(Attempt(when, home, name, False, False))
                when += rng.uniform(3, 20)
            out.append(Attempt(when, home, name, True, False))
    targets = names[: s.targeted]
    for _ in range(s.scanners):
        address, when = _v4(rng), start + rng.uniform(0, DAY - 3600)
        for _ in range(rng.randint(30, 200)):
            when += rng.uniform(0.5, 5)
            out.append(Attempt(when, address, rng.choice([*DICTIONARY, "root"]), False, True))
    crowded = [f"{_v4(rng).rsplit('.', 1)[0]}." for _ in range(s.bot_prefixes)]
    for _ in range(s.bot_addresses):
        if rng.random() < s.bot_clustered:
            address = rng.choice(crowded) + str(rng.randint(1, 254))
        else:
            address = _v4(rng)
        uses = rng.randint(1, 4)
        first = start + rng.uniform(0, DAY)
        for k in range(uses):
            when = first + k * rng.uniform(3600, 5 * 3600)  # far apart
            if when >= start + DAY:
                break
            user = rng.choice(targets) if rng.random() < s.bot_targeted else rng.choice(DICTIONARY)
            out.append(Attempt(when, address, user, False, True))
    out.sort(key=lambda a: a.when)
    return out


def lines(items: list[Attempt]) -> Iterator[tuple[float, str, int]]:
    """(time, sshd message, pid) of each attempt: one connection, one pid."""
    for pid, a in enumerate(items, 2000):
        port = 30000 + pid % 30000
        if a.ok:
            yield a.when, f"Accepted password for {a.user} from {a.address} port {port} ssh2", pid
        elif a.user.startswith("user") and not a.attacker:
            yield a.when, f"Failed password for {a.user} from {a.address} port {port} ssh2", pid
        else:
            real = a.user.startswith("user")
            who = a.user if real else f"invalid user {a.user}"
            yield a.when, f"Failed password for {who} from {a.address} port {port} ssh2", pid


def write(out: Path, scenario: str, seed: int, ends_at: float | None = None) -> dict[str, object]:
    """Write the scenario's files in ``out``; its truth."""
    from agent_corpus import write_journal_records

    s = SCENARIOS[scenario]
    ends_at = ends_at or time.time() - 60
    items = attempts(s, ends_at - DAY, seed)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "auth.log").open("w") as f:
        for when, message, pid in lines(items):
            stamp = time.strftime("%b %e %H:%M:%S", time.localtime(when))
            f.write(f"{stamp} host sshd[{pid}]: {message}\n")
    (out / "journal").mkdir(exist_ok=True)
    write_journal_records(out / "journal", lines(items))
    known: dict[str, list[str]] = {}
    for a in items:
        if a.ok:
            known.setdefault(a.user, [])
            if a.address not in known[a.user]:
                known[a.user].append(a.address)
    truth: dict[str, object] = {
        "scenario": scenario, "parameters": asdict(s), "seed": seed, "start": ends_at - DAY,
        "attempts": [[a.when, a.address, a.attacker, a.ok] for a in items],
        "known_good": known,
    }  # fmt: skip
    (out / "truth.json").write_text(json.dumps(truth))
    return truth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", type=Path)
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default="default")
    p.add_argument("--seed", type=int, default=14)
    args = p.parse_args()
    write(args.out, args.scenario, args.seed)


if __name__ == "__main__":
    main()
