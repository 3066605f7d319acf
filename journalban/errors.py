"""The exceptions journalban raises, all under one root.

JournalbanError
├── ConfigError          a configuration or filter file is wrong (carries file and line)
│   └── ConfigErrors     several of them, found in one pass (``errors``)
├── FilterError          a filter's regex or sample is wrong (a ConfigError)
├── AddressError         an address or prefix that cannot be parsed
│   ├── AddressIgnored   a valid address that policy forbids banning
│   └── AddressNotPeer   an address that is never a peer (unspecified, broadcast, multicast)
├── NoSuchJail           a jail name that is not configured
├── NotBanned            an unban of something not banned
├── StateError           the SQLite state cannot be read or written
│   └── StateFormatError a state file of a later format than this version reads
├── BackendError         the firewall refused a change (carries the netlink errno)
│   └── DumpInterrupted  a netlink dump was interrupted (NLM_F_DUMP_INTR) at every attempt
├── SourceError          a log source stopped working (its reader process died)
├── ActionError          an action (mail, command, shorewall) failed or timed out
└── LineTestError        a line to test (D-Bus TestLine) could not be matched
    ├── LineTestTimeout  its matching ran past the time limit
    └── RateLimited      its caller sent too many
"""

from __future__ import annotations


class JournalbanError(Exception):
    """Root of every error journalban raises on purpose."""


class ConfigError(JournalbanError):
    """A configuration file is invalid; ``file`` and ``line`` say where."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return f"{self.file}: "
        return f"{self.file}:{self.line}: "


class ConfigErrors(ConfigError):
    """Every problem one pass over the configuration found, in order, duplicates dropped.

    ``file``, ``line`` and ``message`` are the first one's; ``str()`` lists them all.
    """

    def __init__(self, errors: list[ConfigError]) -> None:
        seen: set[tuple[str | None, int | None, str]] = set()
        self.errors: list[ConfigError] = []
        for error in errors:
            for one in error.errors if isinstance(error, ConfigErrors) else [error]:
                key = (one.file, one.line, one.message)
                if key not in seen:
                    seen.add(key)
                    self.errors.append(one)
        first = self.errors[0]
        super().__init__(first.message, first.file, first.line)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def all_errors(exc: ConfigError) -> list[ConfigError]:
    """Each problem a ``ConfigError`` stands for."""
    return list(exc.errors) if isinstance(exc, ConfigErrors) else [exc]


class FilterError(ConfigError):
    """A filter file is invalid: a regex that does not compile, a sample that fails."""


class AddressError(JournalbanError, ValueError):
    """An address or prefix that is not a valid IPv4/IPv6 address or network."""


class AddressIgnored(AddressError):
    """A valid address that must not be banned (ignored, local, own, too wide)."""


class AddressNotPeer(AddressError):
    """An address that is never the peer of a connection (unspecified, "this
    network", broadcast, multicast, discard-only), or a prefix holding one:
    never banned, whatever ``force`` says."""


class NoSuchJail(JournalbanError, KeyError):
    """A jail name that is not configured."""

    def __str__(self) -> str:
        return f"no such jail: {self.args[0]}" if self.args else "no such jail"


class NotBanned(JournalbanError):
    """An unban of an address that is not banned."""


class StateError(JournalbanError):
    """The state database cannot be opened, read or written."""


class StateFormatError(StateError):
    """The state database is in a later format than this version reads (left untouched)."""


class BackendError(JournalbanError):
    """The firewall backend failed; ``errno`` holds the kernel's answer when known."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        self.errno = errno
        super().__init__(message if errno is None else f"{message} (errno {errno})")


class DumpInterrupted(BackendError):
    """A netlink dump came back marked inconsistent (NLM_F_DUMP_INTR) every time it was asked."""


class ActionError(JournalbanError):
    """An action failed: a command exited non-zero or timed out, a mail was refused."""


class SourceError(JournalbanError):
    """A source cannot go on (its reader process died); the agent restarts it."""


class LineTestError(JournalbanError):
    """A line sent to be tested (D-Bus ``TestLine``) could not be matched."""


class LineTestTimeout(LineTestError):
    """Matching the line took longer than the limit (its matcher process was killed)."""


class RateLimited(LineTestError):
    """The caller sent more lines to test than its rate allows."""
