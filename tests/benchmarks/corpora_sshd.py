"""sshd corpora of other shapes than gen_sshd_corpus's: near misses, a flood, a mixed auth.log.

- near misses: most lines hold one of the sshd filter's literals ("Failed ",
  "Received disconnect", "Connection closed by", "Disconnected from" ...) and
  yet are no failure in the filter's normal mode: accepted logins after keys
  that did not fit, pre-auth disconnects of authenticating users, with and
  without addresses, key-exchange probes. About 5% failures.
- flood: half the lines are failures, from 200,000 distinct addresses (a third
  IPv6) taken in turn, so that every address recurs only a few times.
- mixed auth.log: a workstation-and-server auth.log where sshd writes a third
  of the lines; sudo, CRON, su, systemd-logind, systemd-user and polkitd the
  rest, with PAM's lines of each, and an admin's sudo grep for "Failed password".
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from corpus_log import SyslogLog, public_ipv4, public_ipv6, run_events
from gen_sshd_corpus import REAL_USERS, USERS_TRIED, Corpus, attack_session, key_probe, login
from gen_sshd_corpus import scanner as scan_probe

KEY_FP = ("RSA SHA256:mVPwvezndPv/ARoIadVY98vAC0g+P/5633yTC4d/wXE",
          "ED25519 SHA256:3Nf0o5Jz0Xq8mYb0v0bq4m2uXyq5wL1oQvS0c6dXo0k",
          "ECDSA SHA256:Vd3Jc1wq0Ykb4m0Y2m9YwqF1bKp0z2x8Qe3rT6uXy7A")  # fmt: skip
FLOOD_ADDRESSES = 200_000


class WideLog(SyslogLog):
    """An sshd log whose peers are public IPv4 and IPv6 addresses.

    ``attackers`` distinct addresses, made as they are first needed (from a
    generator of their own, so a short corpus does not pay for 200,000).
    """

    def __init__(self, rng: random.Random, attackers: int, v6_share: float, gap: float) -> None:
        super().__init__(rng, mean_gap=gap)
        self.clients = [public_ipv4(rng) for _ in range(60)] + [public_ipv6(rng) for _ in range(20)]
        self.pool_size = attackers
        self.v6_share = v6_share
        self.addr_rng = random.Random(rng.getrandbits(64))
        self.pool: dict[str, None] = {}
        self.order: list[str] = []
        self.next_attacker = 0

    def attacker(self) -> str:
        """The attackers in turn: each recurs only after all the others."""
        k = self.next_attacker
        self.next_attacker = (k + 1) % self.pool_size
        while len(self.order) <= k:
            rng = self.addr_rng
            addr = public_ipv6(rng) if rng.random() < self.v6_share else public_ipv4(rng)
            if addr not in self.pool:
                self.pool[addr] = None
                self.order.append(addr)
        return self.order[k]


# -- near misses ------------------------------------------------------------------


def key_login(c: WideLog) -> None:
    """A user whose agent offers keys that do not fit before the one that does."""
    rng, sshd, addr, port = c.rng, c.pid("sshd"), rng_choice(c), c.port()
    user = rng.choice(REAL_USERS)
    for _ in range(rng.choice((1, 2, 3))):
        c.line(
            sshd, f"Failed publickey for {user} from {addr} port {port} ssh2: {rng.choice(KEY_FP)}"
        )
    c.line(sshd, f"Accepted publickey for {user} from {addr} port {port} ssh2: {KEY_FP[1]}")
    c.line(sshd, f"pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)")
    c.line(sshd, f"Received disconnect from {addr} port {port}:11: disconnected by user")
    c.line(sshd, f"Disconnected from user {user} {addr} port {port}")
    c.line(sshd, f"pam_unix(sshd:session): session closed for user {user}")


def rng_choice(c: WideLog) -> str:
    return c.rng.choice(c.clients)


def preauth_user(c: WideLog) -> None:
    """A client that names a real user and leaves before authenticating (normal mode: no failure)."""
    rng, sshd, addr, port = c.rng, c.pid("sshd"), c.attacker(), c.port()
    user = rng.choice(("root", "git", "postgres", *REAL_USERS))
    kind = rng.random()
    if kind < 0.4:
        c.line(
            sshd, f"Connection closed by authenticating user {user} {addr} port {port} [preauth]"
        )
    elif kind < 0.6:
        c.line(sshd, f"Connection reset by authenticating user {user} {addr} port {port} [preauth]")
    else:
        c.line(sshd, f"Received disconnect from {addr} port {port}:11: Bye Bye [preauth]")
        c.line(sshd, f"Disconnected from authenticating user {user} {addr} port {port} [preauth]")


def preauth_bare(c: WideLog) -> None:
    """Pre-auth disconnects with an address and without one."""
    rng, sshd, addr, port = c.rng, c.pid("sshd"), c.attacker(), c.port()
    kind = rng.random()
    if kind < 0.3:
        c.line(sshd, f"Connection closed by {addr} port {port} [preauth]")
    elif kind < 0.45:
        c.line(sshd, f"Connection reset by {addr} port {port} [preauth]")
    elif kind < 0.55:
        c.line(sshd, f"Disconnected from {addr} port {port} [preauth]")
    elif kind < 0.75:
        c.line(sshd, "error: kex_exchange_identification: Connection closed by remote host")
        c.line(sshd, f"Connection closed by {addr} port {port}")
    elif kind < 0.85:
        c.line(sshd, "error: kex_exchange_identification: read: Connection reset by peer")
        c.line(sshd, f"Connection reset by {addr} port {port}")
    else:
        c.line(sshd, f"Unable to negotiate with {addr} port {port}: no matching host key type "
                     "found. Their offer: ssh-rsa,ssh-dss [preauth]")  # fmt: skip


def few_failures(c: WideLog) -> None:
    """The near-miss corpus's few real failures."""
    rng, sshd, addr, port = c.rng, c.pid("sshd"), c.attacker(), c.port()
    user = rng.choice(USERS_TRIED)
    c.line(sshd, f"Invalid user {user} from {addr} port {port}", failure=True)
    c.line(
        sshd, f"Failed password for invalid user {user} from {addr} port {port} ssh2", failure=True
    )
    c.line(sshd, f"Connection closed by invalid user {user} {addr} port {port} [preauth]")


NEAR_MISS_EVENTS = (
    (key_login, 20.0),
    (preauth_user, 35.0),
    (preauth_bare, 40.0),
    (few_failures, 6.0),
)


def near_misses(lines: int, seed: int) -> Iterator[tuple[str, bool]]:
    log = WideLog(random.Random(seed), 20_000, 0.3, 1.0)
    return run_events(log, NEAR_MISS_EVENTS, lines)


# -- flood ------------------------------------------------------------------------


def flood_attack(c: WideLog) -> None:
    """One guess or a few from the next address; pre-auth lines around them."""
    rng, sshd, addr, port = c.rng, c.pid("sshd"), c.attacker(), c.port()
    user = rng.choice(USERS_TRIED)
    known = user in ("root", "git", "postgres", "mysql", "www-data")
    if not known:
        c.line(sshd, f"Invalid user {user} from {addr} port {port}", failure=True)
    who = "" if known else "invalid user "
    for _ in range(rng.choice((1, 1, 2, 3))):
        c.line(sshd, f"Failed password for {who}{user} from {addr} port {port} ssh2", failure=True)
    c.line(sshd, f"Received disconnect from {addr} port {port}:11: Bye Bye [preauth]")
    c.line(sshd, f"Disconnected from {'authenticating' if known else 'invalid'} user {user} {addr} port {port} [preauth]")  # fmt: skip


def flood_noise(c: WideLog) -> None:
    """Pre-auth noise from addresses seen before (the next ones are the attacks')."""
    rng, sshd = c.rng, c.pid("sshd")
    addr = rng.choice(c.order) if c.order else c.attacker()
    if rng.random() < 0.5:
        c.line(sshd, f"Connection closed by {addr} port {c.port()} [preauth]")
    else:
        c.line(sshd, "pam_unix(sshd:auth): check pass; user unknown")
        c.line(sshd, f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                     f"ruser= rhost={addr}")  # fmt: skip


FLOOD_EVENTS = ((flood_attack, 10.0), (flood_noise, 2.5))


def flood(lines: int, seed: int) -> Iterator[tuple[str, bool]]:
    log = WideLog(random.Random(seed), FLOOD_ADDRESSES, 0.35, 0.05)
    return run_events(log, FLOOD_EVENTS, lines)


# -- mixed auth.log ---------------------------------------------------------------

ADMINS = ("alice", "bob")
COMMANDS = ("/usr/bin/apt update", "/usr/bin/systemctl restart nginx", "/usr/bin/journalctl -u ssh",
            "/usr/bin/grep Failed password /var/log/auth.log", "/usr/bin/tail -f /var/log/syslog",
            "/usr/bin/docker ps")  # fmt: skip


class MixedLog(Corpus):
    """gen_sshd_corpus's sshd, a third of the lines; the other services the rest."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.sshd_lines = 0


def sudo(c: SyslogLog) -> None:
    rng, user = c.rng, c.rng.choice(ADMINS)
    command = rng.choice(COMMANDS)
    if rng.random() < 0.15:
        c.line("sudo", f"pam_unix(sudo:auth): authentication failure; logname={user} uid=1000 "
                       f"euid=0 tty=/dev/pts/1 ruser={user} rhost=  user={user}")  # fmt: skip
        c.line("sudo", f"    {user} : 1 incorrect password attempt ; TTY=pts/1 ; PWD=/home/{user} ; "
                       f"USER=root ; COMMAND={command}")  # fmt: skip
        return
    c.line("sudo", f"    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND={command}")
    c.line(
        "sudo", f"pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)"
    )
    c.line("sudo", "pam_unix(sudo:session): session closed for user root")


def cron(c: SyslogLog) -> None:
    pid = c.pid("CRON")
    user = c.rng.choice(("root", "root", "www-data", "backup"))
    c.line(pid, f"pam_unix(cron:session): session opened for user {user}(uid=0) by (uid=0)")
    c.line(pid, f"pam_unix(cron:session): session closed for user {user}")


def desktop(c: SyslogLog) -> None:
    rng, user, session = c.rng, c.rng.choice(ADMINS), c.rng.randint(1, 9999)
    logind, user_pid = "systemd-logind[498]", c.pid("systemd")
    if rng.random() < 0.3:
        c.line("login[1022]", f"pam_unix(login:session): session opened for user {user}(uid=1000) by LOGIN(uid=0)")  # fmt: skip
    else:  # gdm's PAM service name ends its ident: "gdm-password]" is what auth.log shows
        c.line("gdm-password]", f"pam_unix(gdm-password:session): session opened for user {user}(uid=1000) by (uid=0)")  # fmt: skip
    c.line(user_pid, f"pam_unix(systemd-user:session): session opened for user {user}(uid=1000) by (uid=0)")  # fmt: skip
    c.line(logind, f"New session {session} of user {user}.")
    c.line("polkitd[611]", f"Registered Authentication Agent for unix-session:{session} (system bus name :1.{rng.randint(50, 900)} [/usr/bin/gnome-shell], object path /org/freedesktop/PolicyKit1/AuthenticationAgent, locale en_US.UTF-8)")  # fmt: skip
    c.line(logind, f"Session {session} logged out. Waiting for processes to exit.")
    c.line(logind, f"Removed session {session}.")
    c.line(user_pid, f"pam_unix(systemd-user:session): session closed for user {user}")


def su(c: SyslogLog) -> None:
    pid, user = c.pid("su"), c.rng.choice(ADMINS)
    if c.rng.random() < 0.2:
        c.line(pid, f"pam_unix(su-l:auth): authentication failure; logname={user} uid=1000 euid=0 "
                    f"tty=/dev/pts/2 ruser={user} rhost=  user=root")  # fmt: skip
        c.line(pid, f"FAILED SU (to root) {user} on pts/2")
        return
    c.line(pid, f"(to root) {user} on pts/2")
    c.line(pid, f"pam_unix(su-l:session): session opened for user root(uid=0) by {user}(uid=1000)")
    c.line(pid, "pam_unix(su-l:session): session closed for user root")


OTHER_EVENTS = ((sudo, 30.0), (cron, 40.0), (desktop, 8.0), (su, 6.0))
SSHD_EVENTS = ((attack_session, 10.5), (key_probe, 2.0), (scan_probe, 30.0), (login, 8.0))


def mixed_auth(lines: int, seed: int) -> Iterator[tuple[str, bool]]:
    """sshd events while sshd wrote under a third of the lines, the other services' else."""
    log = MixedLog(random.Random(seed))
    rng = log.rng
    made = sshd = 0
    others = [e for e, _ in OTHER_EVENTS]
    other_weights = [w for _, w in OTHER_EVENTS]
    ssh = [e for e, _ in SSHD_EVENTS]
    ssh_weights = [w for _, w in SSHD_EVENTS]
    while made < lines:
        if sshd * 3 < made:
            rng.choices(ssh, ssh_weights)[0](log)
        else:
            rng.choices(others, other_weights)[0](log)
        take = min(len(log.lines), lines - made)
        for line, flag in zip(log.lines[:take], log.flags[:take], strict=True):
            sshd += " sshd[" in line
            yield line, flag
        made += take
        log.lines.clear()
        log.flags.clear()
