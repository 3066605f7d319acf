"""mail.log corpora of a small mail server (Debian 12: Postfix 3.7, Dovecot 2.3).

- dovecot: IMAP and POP3 logins and their sessions, LMTP deliveries, password
  guessers (the login process's "auth failed" line, and with auth_verbose the
  auth worker's and pam_unix's lines), TLS probes and clients that leave before
  logging in (failures in aggressive mode only); Postfix's delivery lines mixed
  in, as they share mail.log. About 12% failures.
- postfix: smtpd and postscreen: mail delivered in and out, SASL logins,
  spam bots (relay attempts, unknown recipients, bad HELO, DNSBL hits,
  pipelining), greylisting (a temporary reject, no failure), SASL password
  guessers (auth mode only), lost connections; Dovecot's lines mixed in.

Each line is marked when the shipped filter's default mode counts it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from corpus_log import SyslogLog, distinct_addresses, public_ipv4, run_events

USERS = ("alice@example.org", "bob@example.org", "info@example.org", "carol@example.org")
GUESSED = ("admin", "test", "info", "user", "postmaster", "webmaster", "sales", "support",
           "contact", "office", "marketing", "admin@example.org", "test@example.org", "root")  # fmt: skip
HELOS = ("WIN-CLJ1B0GQ6JP", "User", "localhost", "ylmf-pc", "example.org", "[192.0.2.25]", "mx")
SENDERS = ("newsletter@shop.example.net", "noreply@github.com", "bounce@mailer.example.com")
RELAYS = ("mail-ej1-f54.google.com", "mail-oi1-f178.google.com", "outbound.mailhop.org",
          "mta-64-227.sparkpostmail.com", "mx.example.net")  # fmt: skip
LIP = "192.0.2.25"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class MailLog(SyslogLog):
    """A mail server's mail.log: bots' addresses and its users' and peers' ones."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng, host="mail", mean_gap=1.0)
        self.bots = distinct_addresses(rng, 30_000, 0.2)
        self.users = [public_ipv4(rng) for _ in range(40)]
        self.peers = [public_ipv4(rng) for _ in range(len(RELAYS))]

    def bot(self) -> str:
        return self.rng.choice(self.bots)

    def session(self) -> str:
        return "".join(self.rng.choice(B64) for _ in range(16))

    def queue_id(self) -> str:
        return f"{self.rng.getrandbits(40):010X}"


# -- dovecot ----------------------------------------------------------------------


def imap_session(c: MailLog) -> None:
    rng, user, addr, s = c.rng, c.rng.choice(USERS), c.rng.choice(c.users), c.session()
    proto = rng.choice(("imap", "imap", "imap", "pop3"))
    pid = rng.randint(2000, 60000)
    c.line("dovecot", f"{proto}-login: Login: user=<{user}>, method=PLAIN, rip={addr}, lip={LIP}, "
                      f"mpid={pid}, TLS, session=<{s}>")  # fmt: skip
    counts = "deleted=0 expunged=0 trashed=0 hdr_count=0 hdr_bytes=0 body_count=0 body_bytes=0"
    if proto == "pop3":
        c.line("dovecot", f"pop3({user})<{pid}><{s}>: Disconnected: Logged out top=0/0, retr=1/{rng.randint(900, 90000)}, del=1/1, size={rng.randint(900, 90000)}")  # fmt: skip
    elif rng.random() < 0.5:
        c.line("dovecot", f"imap({user})<{pid}><{s}>: Logged out in={rng.randint(50, 900)} out={rng.randint(500, 90000)} {counts}")  # fmt: skip
    else:
        c.line("dovecot", f"imap({user})<{pid}><{s}>: Disconnected: Connection closed (IDLE running for 0.001 + waiting input for {rng.uniform(1, 1800):.3f} secs, 2 B in + 10 B out, state=wait-input) in={rng.randint(50, 900)} out={rng.randint(500, 90000)} {counts}")  # fmt: skip


def lmtp_delivery(c: MailLog) -> None:
    rng, pid, user = c.rng, c.rng.randint(2000, 60000), c.rng.choice(USERS)
    c.line("dovecot", f"lmtp({pid}): Connect from local")
    c.line("dovecot", f"lmtp({user})<{pid}><{c.session()}>: msgid=<{c.queue_id()}.{rng.randint(1, 99999)}@{rng.choice(RELAYS)}>: saved mail to INBOX")  # fmt: skip
    c.line("dovecot", f"lmtp({pid}): Disconnect from local: Client has quit the connection (state=READY)")  # fmt: skip


def dovecot_guess(c: MailLog) -> None:
    """A password guesser; with auth_verbose the auth process says why each guess failed."""
    rng, addr, user, s = c.rng, c.bot(), c.rng.choice(GUESSED), c.session()
    worker = f"auth-worker({rng.randint(2000, 60000)})"
    tries = rng.choice((1, 1, 2, 3))
    known = user in ("admin", "info", "root", "postmaster")
    for _ in range(tries):
        if known:
            c.line("auth", f"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
                           f"tty=dovecot ruser={user} rhost={addr}  user={user}", failure=True)  # fmt: skip
            c.line("dovecot", f"{worker}: pam({user},{addr},<{s}>): pam_authenticate() failed: "
                              "Authentication failure (password mismatch?)", failure=True)  # fmt: skip
        elif rng.random() < 0.5:
            c.line("auth", "pam_unix(dovecot:auth): check pass; user unknown")
            c.line("auth", f"pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 "
                           f"tty=dovecot ruser={user} rhost={addr}", failure=True)  # fmt: skip
        else:
            c.line("dovecot", f"{worker}: pam({user},{addr},<{s}>): unknown user", failure=True)
    proto = rng.choice(("imap", "pop3", "submission"))
    c.line("dovecot", f"{proto}-login: Disconnected (auth failed, {tries} attempts in "
                      f"{rng.randint(2, 30)} secs): user=<{user}>, method=PLAIN, rip={addr}, "
                      f"lip={LIP}, TLS, session=<{s}>", failure=True)  # fmt: skip


def dovecot_probe(c: MailLog) -> None:
    """Scanners and TLS probes (aggressive mode only)."""
    rng, addr, s = c.rng, c.bot(), c.session()
    proto = rng.choice(("imap", "pop3"))
    kind = rng.random()
    if kind < 0.5:
        c.line("dovecot", f"{proto}-login: Disconnected (no auth attempts in {rng.randint(0, 9)} secs): user=<>, rip={addr}, lip={LIP}, TLS handshaking: SSL_accept() failed: error:0A0000C1:SSL routines::no shared cipher, session=<{s}>")  # fmt: skip
    elif kind < 0.8:
        c.line("dovecot", f"{proto}-login: Disconnected (no auth attempts in {rng.randint(0, 60)} secs): user=<>, rip={addr}, lip={LIP}, TLS, session=<{s}>")  # fmt: skip
    else:
        c.line("dovecot", f"{proto}-login: Disconnected (disconnected before auth was ready, waited {rng.randint(0, 9)} secs): user=<>, rip={addr}, lip={LIP}, session=<{s}>")  # fmt: skip


def dovecot_lines(lines: int, seed: int) -> Iterator[tuple[str, bool]]:
    events = ((imap_session, 30.0), (lmtp_delivery, 25.0), (dovecot_guess, 7.0),
              (dovecot_probe, 15.0), (inbound_mail, 4.0))  # fmt: skip
    return run_events(MailLog(random.Random(seed)), events, lines)


# -- postfix ----------------------------------------------------------------------


def _smtpd(c: MailLog, service: str = "smtpd") -> str:
    return c.pid(f"postfix/{service}")


def inbound_mail(c: MailLog) -> None:
    rng, smtpd, k = c.rng, _smtpd(c), c.rng.randrange(len(RELAYS))
    peer = f"{RELAYS[k]}[{c.peers[k]}]"
    qid, user = c.queue_id(), rng.choice(USERS)
    c.line(smtpd, f"connect from {peer}")
    c.line(smtpd, f"Anonymous TLS connection established from {peer}: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)")  # fmt: skip
    c.line(smtpd, f"{qid}: client={peer}")
    c.line(c.pid("postfix/cleanup"), f"{qid}: message-id=<{c.session()}@{RELAYS[k]}>")
    c.line("postfix/qmgr[1187]", f"{qid}: from=<{rng.choice(SENDERS)}>, size={rng.randint(2000, 90000)}, nrcpt=1 (queue active)")  # fmt: skip
    c.line(
        smtpd, f"disconnect from {peer} ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7"
    )
    c.line(c.pid("postfix/lmtp"), f"{qid}: to=<{user}>, relay=mail.example.org[private/dovecot-lmtp], delay=0.09, delays=0.05/0.01/0.01/0.02, dsn=2.0.0, status=sent (250 2.0.0 <{user}> {c.session()} Saved)")  # fmt: skip
    c.line("postfix/qmgr[1187]", f"{qid}: removed")


def outbound_mail(c: MailLog) -> None:
    rng, sub, addr = c.rng, _smtpd(c, "submission/smtpd"), c.rng.choice(c.users)
    qid, user = c.queue_id(), rng.choice(USERS)
    c.line(sub, f"connect from unknown[{addr}]")
    c.line(sub, f"{qid}: client=unknown[{addr}], sasl_method=PLAIN, sasl_username={user}")
    c.line(c.pid("postfix/cleanup"), f"{qid}: message-id=<{c.session()}@example.org>")
    c.line("postfix/qmgr[1187]", f"{qid}: from=<{user}>, size={rng.randint(900, 90000)}, nrcpt=1 (queue active)")  # fmt: skip
    c.line(sub, f"disconnect from unknown[{addr}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8")  # fmt: skip
    k = rng.randrange(len(RELAYS))
    c.line(c.pid("postfix/smtp"), f"{qid}: to=<friend@{RELAYS[k]}>, relay={RELAYS[k]}[{c.peers[k]}]:25, delay=1.2, delays=0.05/0.01/0.5/0.64, dsn=2.0.0, status=sent (250 2.0.0 OK {rng.randint(10**9, 10**10)})")  # fmt: skip
    c.line("postfix/qmgr[1187]", f"{qid}: removed")


def spam_bot(c: MailLog) -> None:
    """A bot's session: rejected (failures) or greylisted (a temporary reject, no failure)."""
    rng, smtpd, addr = c.rng, _smtpd(c), c.bot()
    peer, helo = f"unknown[{addr}]", rng.choice(HELOS)
    rcpt = f"{rng.choice(GUESSED).split('@')[0]}@{rng.choice(('example.org', 'victim.example'))}"
    tail = f"from=<{rng.choice(SENDERS)}> to=<{rcpt}> proto=ESMTP helo=<{helo}>"
    c.line(smtpd, f"connect from {peer}")
    kind = rng.random()
    if kind < 0.3:
        c.line(smtpd, f"NOQUEUE: reject: RCPT from {peer}: 554 5.7.1 <{rcpt}>: Relay access denied; {tail}", failure=True)  # fmt: skip
    elif kind < 0.45:
        c.line(smtpd, f"NOQUEUE: reject: RCPT from {peer}: 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table; {tail}", failure=True)  # fmt: skip
    elif kind < 0.55:
        c.line(smtpd, f"NOQUEUE: reject: RCPT from {peer}: 450 4.7.25 Client host rejected: cannot find your hostname, [{addr}]; {tail}", failure=True)  # fmt: skip
    elif kind < 0.6:
        c.line(smtpd, f"NOQUEUE: reject: RCPT from {peer}: 504 5.5.2 <{helo}>: Helo command rejected: need fully-qualified hostname; {tail}", failure=True)  # fmt: skip
    elif kind < 0.65:
        c.line(smtpd, f"improper command pipelining after EHLO from {peer}: MAIL FROM:<{rng.choice(SENDERS)}>\\r\\nRCPT TO:<{rcpt}>\\r\\n", failure=True)  # fmt: skip
    else:
        c.line(smtpd, f"NOQUEUE: reject: RCPT from {peer}: 450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html; {tail}")  # fmt: skip
    if rng.random() < 0.1:
        c.line(smtpd, f"too many errors after RCPT from {peer}", failure=True)
    c.line(smtpd, f"disconnect from {peer} ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4")


def sasl_guess(c: MailLog) -> None:
    """A SASL password guesser on submission (a failure in auth mode, not in normal)."""
    rng, sub, addr = c.rng, _smtpd(c, "submission/smtpd"), c.bot()
    peer = f"unknown[{addr}]"
    if rng.random() < 0.3:
        c.line(sub, f"warning: hostname {rng.choice(('static', 'host', 'dsl'))}-{addr.replace('.', '-').replace(':', '-')}.example.net does not resolve to address {addr}: Name or service not known")  # fmt: skip
    c.line(sub, f"connect from {peer}")
    tries = rng.choice((1, 1, 2))
    for _ in range(tries):
        c.line(sub, f"warning: {peer}: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
    c.line(sub, f"lost connection after AUTH from {peer}")
    c.line(sub, f"disconnect from {peer} ehlo=1 auth=0/{tries} commands=1/{tries + 1}")


def postscreen(c: MailLog) -> None:
    rng, ps, addr, port = c.rng, c.pid("postfix/postscreen"), c.bot(), c.port()
    c.line(ps, f"CONNECT from [{addr}]:{port} to [{LIP}]:25")
    kind = rng.random()
    if kind < 0.4:
        c.line(ps, f"PASS OLD [{addr}]:{port}")
    elif kind < 0.7:
        c.line(ps, f"DNSBL rank 3 for [{addr}]:{port}")
        c.line(ps, f"NOQUEUE: reject: RCPT from [{addr}]:{port}: 550 5.7.1 Service unavailable; client [{addr}] blocked using zen.spamhaus.org; from=<{rng.choice(SENDERS)}>, to=<info@example.org>, proto=ESMTP, helo=<{rng.choice(HELOS)}>", failure=True)  # fmt: skip
        c.line(ps, f"DISCONNECT [{addr}]:{port}")
    else:
        c.line(ps, f"PREGREET 11 after 0.{rng.randint(10, 99)} from [{addr}]:{port}: EHLO User\\r\\n")  # fmt: skip
        c.line(ps, f"DISCONNECT [{addr}]:{port}")


def postfix_lines(lines: int, seed: int) -> Iterator[tuple[str, bool]]:
    events = ((inbound_mail, 14.0), (outbound_mail, 5.0), (spam_bot, 16.0), (sasl_guess, 10.0),
              (postscreen, 12.0), (imap_session, 6.0))  # fmt: skip
    return run_events(MailLog(random.Random(seed)), events, lines)
