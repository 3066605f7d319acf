"""Mail about bans: one mail per ban, or a digest per N bans or per interval.

Delivery goes through SMTP (``smtplib`` to host:port, a local relay as a rule)
or the local sendmail (``sendmail -t -oi``, the message on its standard input).
A mail may carry what whois says about the address and the log lines that
led to the ban. Log lines and whois answers are attacker-shaped text: they go
only into the body, cleaned of control characters and capped; headers hold
only journalban's own values, with CR/LF removed all the same.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from typing import Final

from journalban.actions.process import run_argv
from journalban.actions.whois import WhoisAnswer, lookup
from journalban.clock import Clock, SystemClock
from journalban.errors import ActionError, ConfigError, JournalbanError
from journalban.events import Ban

log = logging.getLogger("journalban.actions.mail")

SENDMAIL: Final = "/usr/sbin/sendmail"
MAX_LINES: Final = 50
MAX_LINE: Final = 500
_HEADER_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]+")
_BODY_UNSAFE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ADDRESS: Final = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\Z")

Whois = Callable[[str], WhoisAnswer]


@dataclass(frozen=True, slots=True)
class MailSettings:
    """A mail action's configuration; ``sendmail`` set means sendmail instead of SMTP."""

    sender: str
    recipients: tuple[str, ...]
    smtp_host: str = "localhost"
    smtp_port: int = 25
    sendmail: str | None = None
    whois: bool = False
    lines: bool = True
    buffer_count: int | None = None
    buffer_interval: float | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        for address in (self.sender, *self.recipients):
            if not _ADDRESS.match(address):
                raise ConfigError(f"mail: not a mail address: {address!r}")
        if not self.recipients:
            raise ConfigError("mail: 'to' needs at least one address")
        if not 0 < self.smtp_port < 65536:
            raise ConfigError(f"mail: smtp_port out of range: {self.smtp_port}")
        if self.buffer_count is not None and self.buffer_count < 1:
            raise ConfigError("mail: buffer.count must be at least 1")
        if self.buffer_interval is not None and self.buffer_interval <= 0:
            raise ConfigError("mail: buffer.interval must be positive")

    @property
    def buffered(self) -> bool:
        return self.buffer_count is not None or self.buffer_interval is not None


def header_safe(value: str, limit: int = 200) -> str:
    """``value`` without CR, LF or other control characters, for a header."""
    return _HEADER_UNSAFE.sub(" ", value).strip()[:limit]


def body_safe(value: str, limit: int = MAX_LINE) -> str:
    """One line of untrusted text made harmless for a mail body."""
    cleaned = _BODY_UNSAFE.sub("?", value.replace("\r", "").replace("\n", " "))
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


class MailAction:
    """Sends a mail per ban, or buffers bans into digests (``due``/``flush``)."""

    def __init__(
        self,
        settings: MailSettings,
        *,
        clock: Clock | None = None,
        whois: Whois | None = None,
        hostname: str | None = None,
        name: str = "mail",
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock or SystemClock()
        self._whois = whois or (lambda address: lookup(address, timeout=settings.timeout))
        self._hostname = header_safe(hostname or socket.gethostname(), 100)
        self._pending: list[Ban] = []
        self._pending_since: float | None = None
        self._lock = threading.Lock()  # due() is asked from the agent, the rest from a worker

    def start(self) -> None:
        """Raises: ActionError: the configured sendmail is not there."""
        sendmail = self.settings.sendmail
        if sendmail is not None and not os.access(sendmail, os.X_OK):
            raise ActionError(f"mail: {self.settings.sendmail} is not an executable")

    def ban(self, ban: Ban) -> None:
        """Send the mail for ``ban``, or buffer it (sending the digest at ``buffer.count``).

        Raises:
            ActionError: the mail could not be handed over.
        """
        if not self.settings.buffered:
            self._send(self._single(ban))
            return
        with self._lock:
            if not self._pending:
                self._pending_since = self._clock.now()
            self._pending.append(ban)
            full = (
                self.settings.buffer_count is not None
                and len(self._pending) >= self.settings.buffer_count
            )
        if full:
            self.flush()

    def unban(self, ban: Ban, reason: str) -> None:
        pass  # mails are about bans; an unban is in the status and the journal

    def due(self, now: float) -> bool:
        """True when buffered bans have waited ``buffer.interval`` seconds."""
        with self._lock:
            if self._pending_since is None or self.settings.buffer_interval is None:
                return False
            return now - self._pending_since >= self.settings.buffer_interval

    def flush(self) -> None:
        """Send the buffered bans as one digest (nothing when none are buffered).

        Raises:
            ActionError: the digest could not be handed over (its bans are kept for the next try).
        """
        with self._lock:
            bans, self._pending = self._pending, []
            since, self._pending_since = self._pending_since, None
        if not bans:
            return
        try:
            self._send(self._digest(bans))
        except JournalbanError:
            with self._lock:
                self._pending[:0] = bans
                self._pending_since = since
            raise

    def stop(self) -> None:
        pass

    # -- composing -----------------------------------------------------------

    def _single(self, ban: Ban) -> EmailMessage:
        subject = f"[journalban] {ban.jail}: banned {ban.address} on {self._hostname}"
        return self._message(subject, self._describe(ban))

    def _digest(self, bans: Sequence[Ban]) -> EmailMessage:
        jails = sorted({b.jail for b in bans})
        subject = f"[journalban] {len(bans)} bans on {self._hostname} ({', '.join(jails)})"
        parts = [self._describe(ban) for ban in bans]
        return self._message(subject, ("\n" + "-" * 60 + "\n\n").join(parts))

    def _describe(self, ban: Ban) -> str:
        until = "permanently" if ban.expires_at is None else f"until {formatdate(ban.expires_at)}"
        text = [
            f"Jail:     {ban.jail}",
            f"Address:  {ban.address}",
            f"Banned:   {formatdate(ban.banned_at)}, {until}",
            f"Failures: {ban.failures} (ban number {ban.ban_count})",
        ]
        if ban.reason:
            text.append(f"Reason:   {body_safe(ban.reason)}")
        if self.settings.lines and ban.lines:
            text += ["", "Log lines:"]
            text += [f"  {body_safe(line)}" for line in ban.lines[-MAX_LINES:]]
        if self.settings.whois:
            text += ["", *self._whois_text(ban.address)]
        return "\n".join(text) + "\n"

    def _whois_text(self, address: str) -> list[str]:
        try:
            answer = self._whois(address)
        except JournalbanError as exc:
            return [f"Whois: lookup failed: {body_safe(str(exc))}"]
        note = " (truncated)" if answer.truncated else ""
        return [f"Whois ({body_safe(answer.server)}){note}:", answer.text.rstrip()]

    def _message(self, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage(policy=SMTP)
        msg["From"] = header_safe(self.settings.sender)
        msg["To"] = ", ".join(header_safe(r) for r in self.settings.recipients)
        msg["Subject"] = header_safe(subject)
        msg["Date"] = formatdate(self._clock.now(), localtime=True)
        msg["Message-ID"] = make_msgid("journalban", domain=self._hostname or None)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(body)
        return msg

    # -- delivering ----------------------------------------------------------

    def _send(self, msg: EmailMessage) -> None:
        if self.settings.sendmail is not None:
            # sendmail reads a local message: lines end in LF, not SMTP's CRLF.
            local = msg.as_bytes(policy=SMTP.clone(linesep="\n"))
            run_argv([self.settings.sendmail, "-t", "-oi"], self.settings.timeout, stdin=local)
            return
        try:
            with smtplib.SMTP(
                self.settings.smtp_host, self.settings.smtp_port, timeout=self.settings.timeout
            ) as smtp:
                refused = smtp.send_message(
                    msg, self.settings.sender, list(self.settings.recipients)
                )
        except (OSError, smtplib.SMTPException) as exc:
            where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"
            raise ActionError(f"mail via {where}: {exc}") from exc
        if refused:
            log.warning("mail: recipients refused: %s", ", ".join(sorted(refused)))
