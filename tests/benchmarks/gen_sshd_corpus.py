"""A realistic, deterministic auth.log of an Internet-facing sshd, for benchmarks.

    python tests/benchmarks/gen_sshd_corpus.py OUT [--lines N] [--seed S]

About 15% of the lines are failures (failed passwords and keys, unknown users,
PAM failures, too many attempts) from many IPv4 and IPv6 addresses; the rest
are what such a log also holds: accepted logins, PAM session lines, the
disconnects that follow both, scanners' pre-auth noise, and other daemons'
lines (CRON, sudo, systemd-logind) mixed in, as in Debian's /var/log/auth.log.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from corpus_log import SyslogLog, run_events

USERS_TRIED = (
    "root", "admin", "test", "user", "oracle", "ubuntu", "postgres", "git", "guest", "ftpuser",
    "pi", "deploy", "support", "mysql", "hadoop", "nagios", "www-data", "minecraft", "steam",
    "jenkins", "ansible", "123456", "administrator", "dev", "teamspeak", "odoo", "sa", "es",
)  # fmt: skip
REAL_USERS = ("alice", "bob", "carol", "deploy")
Emit = Callable[[str, str], None]


class Corpus(SyslogLog):
    """An Internet-facing sshd's auth.log: attackers' and clients' addresses."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        v4 = [
            f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            for _ in range(40_000)
        ]
        v6 = [
            f"2001:db8:{rng.randint(0, 0xFFFF):x}:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
            for _ in range(6_000)
        ]
        self.attackers = v4 + v6
        self.clients = [f"198.51.100.{i}" for i in range(1, 40)] + ["2001:db8:cafe::10"]

    def sshd(self) -> str:
        return f"sshd[{self.rng.randint(1000, 65000)}]"


def attack_session(c: Corpus) -> None:
    rng = c.rng
    addr = rng.choice(c.attackers)
    sshd = c.sshd()
    port = rng.randint(1024, 65535)
    user = rng.choice(USERS_TRIED)
    known = user in ("root", "git", "postgres", "mysql", "www-data")
    tries = rng.choice((1, 1, 1, 2, 3, 6))
    if not known:
        c.line(sshd, f"Invalid user {user} from {addr} port {port}", failure=True)
    for n in range(tries):
        if known:
            c.line(sshd, "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                         f"tty=ssh ruser= rhost={addr}  user={user}")  # fmt: skip
            c.line(sshd, f"Failed password for {user} from {addr} port {port} ssh2", failure=True)
        else:
            if n == 0:
                c.line(sshd, "pam_unix(sshd:auth): check pass; user unknown")
            c.line(
                sshd,
                f"Failed password for invalid user {user} from {addr} port {port} ssh2",
                failure=True,
            )
    if tries == 6:
        c.line(sshd, f"error: maximum authentication attempts exceeded for {'' if known else 'invalid user '}"
                     f"{user} from {addr} port {port} ssh2 [preauth]", failure=True)  # fmt: skip
        c.line(sshd, f"Disconnecting {'' if known else 'invalid '}user {user} {addr} port {port}: "
                     "Too many authentication failures [preauth]")  # fmt: skip
    else:
        c.line(sshd, f"Received disconnect from {addr} port {port}:11: Bye Bye [preauth]")
        who = "authenticating user" if known else "invalid user"
        c.line(sshd, f"Disconnected from {who} {user} {addr} port {port} [preauth]")


def key_probe(c: Corpus) -> None:
    addr = c.rng.choice(c.attackers)
    port = c.rng.randint(1024, 65535)
    user = c.rng.choice(USERS_TRIED)
    c.line(c.sshd(), f"Failed publickey for invalid user {user} from {addr} port {port} ssh2: "
                     "RSA SHA256:mVPwvezndPv/ARoIadVY98vAC0g+P/5633yTC4d/wXE", failure=True)  # fmt: skip
    c.line(c.sshd(), f"Connection closed by invalid user {user} {addr} port {port} [preauth]")


def scanner(c: Corpus) -> None:
    addr = c.rng.choice(c.attackers)
    port = c.rng.randint(1024, 65535)
    kind = c.rng.random()
    if kind < 0.4:
        c.line(c.sshd(), f"Connection closed by {addr} port {port} [preauth]")
    elif kind < 0.7:
        c.line(c.sshd(), "error: kex_exchange_identification: Connection closed by remote host")
        c.line(c.sshd(), f"Connection closed by {addr} port {port}")
    elif kind < 0.85:
        c.line(c.sshd(), f"Unable to negotiate with {addr} port {port}: no matching key exchange "
                         "method found. Their offer: diffie-hellman-group1-sha1 [preauth]")  # fmt: skip
    else:
        c.line(c.sshd(), f"banner exchange: Connection from {addr} port {port}: invalid format")


def login(c: Corpus) -> None:
    rng = c.rng
    addr = rng.choice(c.clients)
    user = rng.choice(REAL_USERS)
    sshd = c.sshd()
    port = rng.randint(1024, 65535)
    session = rng.randint(1, 99999)
    method = rng.choice(("publickey", "publickey", "password"))
    extra = (
        ": ED25519 SHA256:3Nf0o5Jz0Xq8mYb0v0bq4m2uXyq5wL1oQvS0c6dXo0k"
        if method == "publickey"
        else ""
    )
    c.line(sshd, f"Accepted {method} for {user} from {addr} port {port} ssh2{extra}")
    c.line(sshd, f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)")
    c.line("systemd-logind[512]", f"New session {session} of user {user}.")
    if rng.random() < 0.3:
        c.line(
            "sudo",
            f"   {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/apt update",
        )
        c.line(
            "sudo",
            f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)",
        )
        c.line("sudo", "pam_unix(sudo:session): session closed for user root")
    c.line(sshd, f"Received disconnect from {addr} port {port}:11: disconnected by user")
    c.line(sshd, f"Disconnected from user {user} {addr} port {port}")
    c.line(sshd, f"pam_unix(sshd:session): session closed for user {user}")
    c.line("systemd-logind[512]", f"Session {session} logged out. Waiting for processes to exit.")
    c.line("systemd-logind[512]", f"Removed session {session}.")


def cron(c: Corpus) -> None:
    pid = f"CRON[{c.rng.randint(1000, 65000)}]"
    c.line(pid, "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")
    c.line(pid, "pam_unix(cron:session): session closed for user root")


EVENTS: tuple[tuple[Callable[[Corpus], None], float], ...] = (
    (attack_session, 10.5),
    (key_probe, 2.0),
    (scanner, 30.0),
    (login, 8.0),
    (cron, 36.0),
)


def generate(lines: int, seed: int = 20251121) -> Iterator[str]:
    """``lines`` log lines (the last event may be cut short)."""
    return (line for line, _ in generate_flagged(lines, seed))


def generate_flagged(lines: int, seed: int = 20251121) -> Iterator[tuple[str, bool]]:
    """``generate``'s lines, each with whether sshd's filter (normal mode) counts it."""
    return run_events(Corpus(random.Random(seed)), EVENTS, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20251121)
    args = parser.parse_args()
    with args.out.open("w", encoding="utf-8") as out:
        for line in generate(args.lines, args.seed):
            out.write(line + "\n")


if __name__ == "__main__":
    main()
