"""Detection side by side with fail2ban and an oracle, on generated days of sshd traffic.

    .venv/bin/python tests/benchmarks/bench_detection.py [--seed 14] [--data DIR]

For each scenario of ``gen_scenario.py`` (one day: real users, scanners, a
botnet), written as journal files through systemd-journal-remote:

- journalban: ``journalban replay`` on the journal files with the packaged
  default configuration (every detector it turns on for sshd);
- fail2ban: ``fail2ban-server`` (Debian's, sshd jail with its defaults:
  maxretry 5, findtime 10m, bantime 10m) on the same journal files, inside
  ``unshare -n`` with a no-op action. Reading a whole past day, fail2ban
  skips the bans that would already have ended ("Ignore ..., expired
  bantime"); its decisions are therefore taken from its own matches (each
  "Found ADDRESS - TIME" it logs) counted as it counts live. It runs with
  findtime 25h so that it reads the whole day (it starts findtime back);
- the oracle (``detection_score.oracle``).

It prints a markdown table: the share of attack attempts that arrived while
their address was banned, real users' known-good addresses banned, real users'
attempts blocked, and the time to process the day (CPU seconds).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))

from bench_agent import ProcessWatch, wait_for
from detection_score import BanSpan, Score, oracle, score
from fail2ban_peer import Fail2banPeer
from gen_scenario import SCENARIOS, write

JOURNALBAN = str(Path(sys.executable).parent / "journalban")
F2B_MAXRETRY, F2B_FINDTIME, F2B_BANTIME = 5, 600.0, 600.0
FOUND = re.compile(r"\[sshd\] Found (\S+) - (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
FLOOR = 0.75


def _time(text: str | None) -> float | None:
    return None if text is None else datetime.datetime.fromisoformat(text).timestamp()


def journalban_bans(data: Path) -> tuple[list[BanSpan], float, dict[str, int]]:
    config = data / "journalban.yaml"
    config.write_text(f"state_dir: {data / 'state'}\n")
    started = time.process_time()
    cpu0 = _children_cpu()
    done = subprocess.run(
        [JOURNALBAN, "replay", str(data / "journal"), "--config", str(config), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cpu = _children_cpu() - cpu0 + time.process_time() - started
    out = json.loads(done.stdout)
    reasons: dict[str, int] = defaultdict(int)
    spans: list[BanSpan] = []
    for b in out["bans"]:
        reasons[b["reason"]] += 1
        at = _time(b["at"])
        assert at is not None
        spans.append((ipaddress.ip_network(b["address"], strict=False), at, _time(b["until"])))
    return spans, cpu, dict(reasons)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fail2ban_bans(data: Path) -> tuple[list[BanSpan], float]:
    work = data / "fail2ban"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    peer = Fail2banPeer(work, journal_dir=data / "journal", maxretry=F2B_MAXRETRY,
                        findtime="25h", bantime="10m")  # fmt: skip
    watch = ProcessWatch(peer.proc.pid)
    try:
        wait_for(lambda: "Jail 'sshd' started" in peer.log, 60, "fail2ban did not start", 0.05)
        cpu0 = watch.cpu()
        samples: list[tuple[float, float]] = []
        while True:
            samples.append((time.time(), watch.cpu()))
            idle = [c for t, c in samples if t >= samples[-1][0] - 3.0]
            if samples[-1][0] - samples[0][0] > 3.0 and idle[-1] - idle[0] < 0.02:
                break
            time.sleep(0.1)
        cpu = samples[-1][1] - cpu0
    finally:
        peer.stop()
    found = [
        (m.group(1), time.mktime(time.strptime(m.group(2), "%Y-%m-%d %H:%M:%S")))
        for m in FOUND.finditer(peer.log)
    ]
    return fail2ban_live(found), cpu


def fail2ban_live(found: list[tuple[str, float]]) -> list[BanSpan]:
    """fail2ban's live decisions on its matches: maxretry within findtime bans for bantime."""
    times: dict[str, list[float]] = defaultdict(list)
    banned_until: dict[str, float] = {}
    spans: list[BanSpan] = []
    for address, when in sorted(found, key=lambda f: f[1]):
        if banned_until.get(address, 0.0) > when:
            continue  # dropped by the firewall while banned
        kept = [t for t in times[address] if t > when - F2B_FINDTIME] + [when]
        times[address] = kept
        if len(kept) >= F2B_MAXRETRY:
            banned_until[address] = when + F2B_BANTIME
            spans.append((ipaddress.ip_network(address), when, when + F2B_BANTIME))
            times[address] = []
    return spans


def row(name: str, s: Score, best: Score, seconds: float | None) -> str:
    ratio = s.share / best.share if best.share else 0.0
    took = "" if seconds is None else f"{seconds:.2f}"
    return (
        f"| {name} | {s.share:.1%} | {ratio:.0%} | {s.known_good_banned} | "
        f"{s.users_blocked}/{s.user_attempts} | {took} |"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--data", type=Path, default=Path("/tmp/journalban-detection-bench"))
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    args = p.parse_args()
    failed = False
    for name in args.scenario or ["default", "dictionary", "lowrate"]:
        data = args.data / name
        shutil.rmtree(data, ignore_errors=True)
        truth = write(data, name, args.seed)
        attempts = truth["attempts"]
        assert isinstance(attempts, list)
        best = oracle(truth)
        jb_spans, jb_cpu, reasons = journalban_bans(data)
        jb = score(jb_spans, truth)
        f2b_spans, f2b_cpu = fail2ban_bans(data)
        f2b = score(f2b_spans, truth)
        print(f"\n### Scenario `{name}` (seed {args.seed}): {len(attempts)} attempts, "
              f"{best.attacks} by attackers\n")  # fmt: skip
        print("| | share dropped | of oracle | known-good banned | users blocked | CPU s |")
        print("|---|---|---|---|---|---|")
        print(row("oracle", best, best, None))
        print(row("journalban (replay, defaults)", jb, best, jb_cpu))
        print(row("fail2ban-server (sshd defaults)", f2b, best, f2b_cpu))
        print(
            f"\njournalban bans by reason: {dict(sorted(reasons.items()))}; fail2ban bans: {len(f2b_spans)}"
        )
        if jb.share < FLOOR * best.share or jb.known_good_banned:
            failed = True
            print(f"FLOOR MISSED on {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
