"""The generic command action: argv templates with named fields, run without a shell.

For anything journalban has no backend for (ipfw, a null route, a custom
script). A template is a list of arguments; each may hold fields such as
``{address}`` that are filled in per ban. Fields are only replaced, never
interpreted: there is no shell, and the values are journalban's own
(a validated address, the jail's name and ports, numbers), so an attacker who
shapes log lines cannot add arguments.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Final

from journalban.actions.process import run_argv
from journalban.errors import ConfigError
from journalban.events import Ban

FIELDS: Final = frozenset({"address", "jail", "port", "protocol", "bantime", "family", "expires"})
DEFAULT_TIMEOUT: Final = 30.0


def check_template(argv: object, what: str) -> tuple[str, ...]:
    """The template as a tuple, after checking it names known fields only.

    Raises:
        ConfigError: not a non-empty list of strings, a field that is not one of
            ``FIELDS`` (or has a conversion, format spec or attribute), or a
            field in the program name.
    """
    if (
        not isinstance(argv, Sequence)
        or isinstance(argv, str)
        or not argv
        or not all(isinstance(arg, str) for arg in argv)
    ):
        raise ConfigError(f"{what}: expected a non-empty list of strings (an argv), not {argv!r}")
    template = tuple(str(arg) for arg in argv)
    for index, arg in enumerate(template):
        for name in _field_names(arg, what):
            if name not in FIELDS:
                known = ", ".join(sorted(FIELDS))
                raise ConfigError(f"{what}: unknown field {{{name}}} in {arg!r}; known: {known}")
            if index == 0:
                raise ConfigError(f"{what}: the program name cannot hold a field: {arg!r}")
    return template


def fields_of(ban: Ban, port: str, protocol: str) -> dict[str, str]:
    """The values a ban fills into a template."""
    permanent = ban.expires_at is None
    return {
        "address": ban.address,
        "jail": ban.jail,
        "port": port,
        "protocol": protocol,
        "bantime": "-1" if ban.expires_at is None else str(round(ban.expires_at - ban.banned_at)),
        "family": "inet" if ban.network.version == 4 else "inet6",
        "expires": "0" if permanent else str(round(ban.expires_at or 0)),
    }


def render(template: Sequence[str], values: Mapping[str, str]) -> list[str]:
    """The argv for one ban: each argument with its fields filled in."""
    return [arg.format_map(values) for arg in template]


class CommandAction:
    """Runs one argv when a ban starts and another when it ends."""

    def __init__(
        self,
        ban_argv: Sequence[str] | None,
        unban_argv: Sequence[str] | None = None,
        *,
        port: str = "all",
        protocol: str = "tcp",
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "command",
    ) -> None:
        """Raises: ConfigError: a template is malformed or names an unknown field."""
        if ban_argv is None and unban_argv is None:
            raise ConfigError(f"{name}: a command action needs a ban or an unban argv")
        if not 0 < timeout <= 3600:
            raise ConfigError(f"{name}: timeout must be between 0 and 3600 s, not {timeout!r}")
        self.name = name
        self.ban_template = None if ban_argv is None else check_template(ban_argv, f"{name}.ban")
        self.unban_template = (
            None if unban_argv is None else check_template(unban_argv, f"{name}.unban")
        )
        self.port = port
        self.protocol = protocol
        self.timeout = timeout

    def start(self) -> None:
        pass

    def ban(self, ban: Ban) -> None:
        """Raises: ActionError: the command failed or timed out."""
        if self.ban_template is not None:
            self._run(self.ban_template, ban)

    def unban(self, ban: Ban, reason: str) -> None:
        """Raises: ActionError: the command failed or timed out."""
        if self.unban_template is not None:
            self._run(self.unban_template, ban)

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def _run(self, template: Sequence[str], ban: Ban) -> None:
        run_argv(render(template, fields_of(ban, self.port, self.protocol)), self.timeout)


def _field_names(arg: str, what: str) -> list[str]:
    try:
        parsed = list(string.Formatter().parse(arg))
    except ValueError as exc:
        raise ConfigError(f"{what}: {arg!r}: {exc} (write {{{{ and }}}} for braces)") from None
    names: list[str] = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field or spec or conversion:
            raise ConfigError(
                f"{what}: {arg!r}: write a field as {{name}}, without index, "
                "conversion or format spec"
            )
        names.append(field)
    return names
