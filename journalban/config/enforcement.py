"""The ``enforcement:`` section: ban where there is no firewall (off when absent).

Each key names one enforcement point, parsed by its own function in
``POINT_PARSERS`` (add a point there: a name, a frozen dataclass, a parser)::

    enforcement:
      postfix: {listen: unix:/var/spool/postfix/private/journalban, jails: [postfix]}
      dovecot: {listen: 127.0.0.1:10032, secret_file: /etc/journalban/dovecot.secret,
                jails: [dovecot], reports: dovecot}
      nginx:   {file: /var/lib/journalban/nginx-deny.conf, jails: [nginx-http-auth]}
      apache:  {file: /var/lib/journalban/apache-deny.conf, jails: [apache-auth]}
      pam:     {listen: unix:/run/journalban/pam.sock, jails: [sshd], fail: open}

Every problem is reported at its line, with the rest of the configuration's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from journalban.config.durations import parse_duration
from journalban.config.schema import WEB_POINTS
from journalban.config.schema import EnforcementConfig as EnforcementConfig
from journalban.config.values import Reader, choice, int_in, nonempty, opt_text, text_list

# What a refused client is told: fixed text, never a user name or a reason.
DEFAULT_MESSAGE = "Access denied"
MESSAGE = re.compile(r"[A-Za-z0-9 .,:;()/_+-]{1,200}")
PAM_SOCKET = "/run/journalban/pam.sock"
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")


@dataclass(frozen=True, slots=True)
class Listen:
    """Where a policy service listens: a unix socket path, or a loopback host and port."""

    path: str | None = None
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        if self.path is not None:
            return f"unix:{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class PostfixPoint:
    """Postfix's policy delegation (``check_policy_service``)."""

    listen: Listen
    jails: tuple[str, ...]
    action: str = "REJECT"  # or DEFER
    message: str = DEFAULT_MESSAGE
    max_connections: int = 256


@dataclass(frozen=True, slots=True)
class DovecotPoint:
    """Dovecot's auth policy server; ``reports`` names the jail that counts its reports."""

    listen: Listen
    secret_file: str
    jails: tuple[str, ...]
    reports: str | None = None
    api_header: str = "X-API-Key"
    message: str = DEFAULT_MESSAGE
    max_connections: int = 256


@dataclass(frozen=True, slots=True)
class WebDenyPoint:
    """An nginx or Apache deny include file, and the command that makes the server read it."""

    kind: str  # nginx, apache
    file: str
    jails: tuple[str, ...]
    reload: tuple[str, ...] = ()  # argv; empty: the admin reloads
    reload_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class PamPoint:
    """The PAM check (``journalban pam-check`` from ``pam_exec.so``); root callers only."""

    listen: Listen
    jails: tuple[str, ...]
    fail: str = "open"  # or closed: what pam-check answers when the agent is unreachable
    max_connections: int = 64


def parse_listen(v: Any, *, unix: bool = True) -> Listen:
    """``unix:/abs/path``, ``inet:HOST:PORT`` or ``HOST:PORT``, HOST a loopback address.

    Raises:
        ValueError: anything else (a non-loopback address above all).
    """
    if not isinstance(v, str) or not v:
        raise ValueError(f"must be unix:/path or 127.0.0.1:PORT, not {v!r}")
    if v.startswith("unix:"):
        path = v.removeprefix("unix:")
        if not unix:
            raise ValueError("takes a loopback address and port only (127.0.0.1:PORT)")
        if not path.startswith("/") or "\0" in path or len(path.encode()) > 107:
            raise ValueError(f"unix: needs an absolute socket path under 108 bytes, not {path!r}")
        return Listen(path=path)
    host, sep, port_text = v.removeprefix("inet:").rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"must be unix:/path or 127.0.0.1:PORT, not {v!r}")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"listens on loopback only (127.0.0.1 or ::1), not {host!r}")
    return Listen(host=host, port=int(port_text))


def _message(v: Any) -> str:
    if not isinstance(v, str) or not MESSAGE.fullmatch(v):
        raise ValueError(
            "must be 1-200 of letters, digits, space and . , : ; ( ) / _ + - "
            f"(a fixed text, sent to clients), not {v!r}"
        )
    return v


def _argv(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise ValueError("must be a command as a list: [/usr/sbin/nginx, -s, reload]")
    if not v[0].startswith("/"):
        raise ValueError(f"the program must be an absolute path, not {v[0]!r}")
    return tuple(v)


def _seconds(v: Any) -> float:
    result = parse_duration(v)
    if not result or not 1 <= result <= 3600:
        raise ValueError(f"must be a duration from 1s to 1h, not {v!r}")
    return result


def _jails(r: Reader, jails: Mapping[str, Any]) -> tuple[str, ...]:
    from journalban.decisions.engine import RECIDIVE

    if "jails" not in r.data:
        r.report("jails", "name the jails whose bans this point enforces")
        return ()
    names: tuple[str, ...] = r.get("jails", (), text_list)
    for name in names:
        if name not in jails and name != RECIDIVE:
            r.report("jails", f"no such jail: {name!r}")
    return names


def _required(r: Reader, top: Reader, name: str, keys: tuple[str, ...]) -> bool:
    missing = [key for key in keys if key not in r.data]
    for key in missing:
        top.report(name, f"enforcement.{name}.{key} is required")
    return not missing


def parse_postfix(top: Reader, r: Reader, jails: Mapping[str, Any]) -> PostfixPoint | None:
    if not _required(r, top, "postfix", ("listen",)):
        return None
    return PostfixPoint(
        listen=r.get("listen", Listen(), parse_listen),
        jails=_jails(r, jails),
        action=r.get("action", "reject", choice(("reject", "defer"))).upper(),
        message=r.get("message", DEFAULT_MESSAGE, _message),
        max_connections=r.get("max_connections", 256, int_in(1, 10_000)),
    )


def parse_dovecot(top: Reader, r: Reader, jails: Mapping[str, Any]) -> DovecotPoint | None:
    if not _required(r, top, "dovecot", ("listen", "secret_file")):
        return None
    secret_file = r.get("secret_file", "", nonempty)
    if secret_file and not secret_file.startswith("/"):
        r.report("secret_file", f"must be an absolute path, not {secret_file!r}")
    header = r.get("api_header", "X-API-Key", nonempty)
    if not HEADER_NAME.fullmatch(header):
        r.report("api_header", f"must be an HTTP header name (letters, digits, -), not {header!r}")
    reports = r.get("reports", None, opt_text)
    if reports is not None:
        _check_reports(r, reports, jails)
    return DovecotPoint(
        listen=r.get("listen", Listen(), lambda x: parse_listen(x, unix=False)),
        secret_file=secret_file,
        jails=_jails(r, jails),
        reports=reports,
        api_header=header,
        message=r.get("message", DEFAULT_MESSAGE, _message),
        max_connections=r.get("max_connections", 256, int_in(1, 10_000)),
    )


def _check_reports(r: Reader, reports: str, jails: Mapping[str, Any]) -> None:
    """The reports jail reads no log; another jail reading Dovecot's log would count twice."""
    jail = jails.get(reports)
    if jail is None:
        r.report("reports", f"no such jail: {reports!r}")
        return
    for other in jails.values():
        if other.name != reports and other.enabled and other.filter in ("dovecot", jail.filter):
            r.report(
                "reports",
                f"jail {other.name!r} also reads Dovecot's log (filter {other.filter}): the same "
                f"failure would count twice; disable it or leave reports out",
            )


def _web(kind: str) -> Callable[[Reader, Reader, Mapping[str, Any]], WebDenyPoint | None]:
    def parse(top: Reader, r: Reader, jails: Mapping[str, Any]) -> WebDenyPoint | None:
        if not _required(r, top, kind, ("file",)):
            return None
        path = r.get("file", "", nonempty)
        if path and not path.startswith("/"):
            r.report("file", f"must be an absolute path, not {path!r}")
        return WebDenyPoint(
            kind=kind,
            file=path,
            jails=_jails(r, jails),
            reload=r.get("reload", (), _argv),
            reload_interval=r.get("reload_interval", 5.0, _seconds),
        )

    return parse


def parse_pam(top: Reader, r: Reader, jails: Mapping[str, Any]) -> PamPoint | None:
    listen = r.get("listen", Listen(path=PAM_SOCKET), parse_listen)
    if listen.path is None:
        r.report("listen", "takes a unix socket only (unix:/run/journalban/pam.sock): "
                 "its peer credentials tell a root caller from another")  # fmt: skip
    return PamPoint(
        listen=listen,
        jails=_jails(r, jails),
        fail=r.get("fail", "open", choice(("open", "closed"))),
        max_connections=r.get("max_connections", 64, int_in(1, 10_000)),
    )


PointParser = Callable[["Reader", "Reader", Mapping[str, Any]], Any]
# Each point's keys and parser; a new point adds one entry.
POINT_PARSERS: dict[str, tuple[set[str], PointParser]] = {
    "postfix": ({"listen", "jails", "action", "message", "max_connections"}, parse_postfix),
    "dovecot": (
        {"listen", "secret_file", "jails", "reports", "api_header", "message", "max_connections"},
        parse_dovecot,
    ),
    "pam": ({"listen", "jails", "fail", "max_connections"}, parse_pam),
    **{kind: ({"file", "jails", "reload", "reload_interval"}, _web(kind)) for kind in WEB_POINTS},
}


def parse_enforcement(top: Reader, jails: Mapping[str, Any]) -> EnforcementConfig:
    """The ``enforcement:`` section of the top-level reader (empty when absent).

    Each problem goes to the reader's errors, at its line (all reported together).
    """
    if top.data.get("enforcement") is None:
        return EnforcementConfig()
    section = top.section("enforcement", set(POINT_PARSERS))
    points: dict[str, Any] = {}
    for name, (keys, parse) in POINT_PARSERS.items():
        if section.data.get(name) is None:
            continue
        point = parse(section, section.section(name, keys), jails)
        if point is not None:
            points[name] = point
    return EnforcementConfig(points)
