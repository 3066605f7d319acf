#!/usr/bin/python3 -IS
"""``journalban pam-check``: may PAM go on with this login? Asked of the agent.

Run by ``pam_exec.so`` (see docs/enforcement.md) once per login, so its
start is most of its cost: this module imports only the standard library's
``os``, ``sys`` and ``_socket`` (not even ``json``, which brings ``re``: the
request is encoded here), and nothing else of journalban
(``journalban.cli.main`` comes here before importing its parser).

It reads what pam_exec exports (``PAM_TYPE``, ``PAM_SERVICE``, ``PAM_USER``,
``PAM_RHOST``), sends one JSON line to the agent's unix socket and exits 0
on ``yes``, 1 on ``no``. A login without ``PAM_RHOST`` (the console, a tty,
su, sudo) is never asked about and always goes on: that is the way back in
when the check fails closed. When the agent cannot be asked (no socket, no
answer within the timeout, an answer that is not yes or no), the fail mode
decides: the one the agent wrote beside its socket (``SOCKET.fail``, from
``enforcement.pam.fail``), else ``--fail`` (default ``open``).

Packages also install this file as ``/usr/lib/journalban/pam-check``: run
by its first line as ``python3 -IS`` (no site-packages: it needs none), the
lightest pam_exec line.

Exit codes: 0 go on, 1 refused (pam_exec turns any non-zero exit into a
failure of the module), 2 bad arguments.
"""

from __future__ import annotations

import _socket  # socket's C half: the module socket costs selectors, enum, collections
import os
import sys

TYPE_CHECKING = False  # typing's costs more than this whole check
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SOCKET = "/run/journalban/pam.sock"
MAX_FIELD = 1024  # bytes of one field the client sends (a longer user name is cut)
MAX_REQUEST = 4096  # bytes of one request line, as the agent enforces it
TIMEOUT = 2.0
PROTOCOL = 1

USAGE = "usage: journalban pam-check [--socket PATH] [--fail open|closed] [--timeout SECONDS]"


class Unreachable(Exception):
    """The agent could not be asked, or gave no usable answer."""


def request_of(env: Mapping[str, str]) -> bytes | None:
    """The request line for pam_exec's environment; None for a local login."""
    rhost = env.get("PAM_RHOST", "")
    if not rhost.strip():
        return None
    fields = {
        name: env.get(f"PAM_{name.upper()}", "")[:MAX_FIELD]
        for name in ("type", "service", "user", "rhost")
    }
    body = ",".join(f'"{name}":"{_json_text(value)}"' for name, value in fields.items())
    return f'{{"v":{PROTOCOL},{body}}}\n'.encode("ascii")


def _json_text(text: str) -> str:
    """``text`` as the inside of a JSON string, in ASCII (what ``json.dumps`` would write)."""
    out = []
    for char in text:
        code = ord(char)
        if 0x20 <= code < 0x7F and char not in '"\\':
            out.append(char)
        elif code > 0xFFFF:  # a surrogate pair
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def ask(path: str, request: bytes, timeout: float) -> bool:
    """The agent's answer: True for yes, False for no.

    Raises:
        Unreachable: no socket, no answer in ``timeout`` seconds, or an error answer.
    """
    answer = b""
    try:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(request)
            while not answer.endswith(b"\n") and len(answer) < 256:
                chunk = sock.recv(256)
                if not chunk:
                    break
                answer += chunk
        finally:
            sock.close()
    except OSError as exc:
        raise Unreachable(f"cannot ask the agent at {path}: {exc}") from None
    if answer == b"yes\n":
        return True
    if answer == b"no\n":
        return False
    text = answer.decode("ascii", "replace").strip() or "nothing (connection closed)"
    raise Unreachable(f"the agent at {path} answered {text[:200]!r}")


def fail_mode(path: str, default: str) -> str:
    """The fail mode the agent wrote beside its socket, when that file can be trusted.

    Trusted: written by root or by the socket directory's owner (the agent's
    user), and writable by nobody else, in a directory nobody else can write.
    """
    directory = os.path.dirname(path) or "."
    try:
        dir_stat = os.stat(directory)
        fd = os.open(f"{path}.fail", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            text = os.read(fd, 16).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
    except OSError:
        return default
    owners = {0, dir_stat.st_uid}
    if st.st_uid not in owners or st.st_mode & 0o022 or dir_stat.st_mode & 0o022:
        return default
    return text if text in ("open", "closed") else default


def parse_args(argv: Sequence[str]) -> tuple[str, str, float]:
    """(socket, fail, timeout). Raises: ValueError for anything else on the line."""
    path, fail, timeout = SOCKET, "open", TIMEOUT
    args = list(argv)
    while args:
        name = args.pop(0)
        if name not in ("--socket", "--fail", "--timeout") or not args:
            raise ValueError(f"unknown or incomplete argument {name!r}\n{USAGE}")
        value = args.pop(0)
        if name == "--socket":
            path = value
        elif name == "--fail":
            if value not in ("open", "closed"):
                raise ValueError(f"--fail takes open or closed, not {value!r}")
            fail = value
        else:
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 30:
                raise ValueError(f"--timeout takes seconds from 0 to 30, not {value!r}")
    return path, fail, timeout


def main(argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    if any(arg in ("-h", "--help") for arg in argv):
        print(USAGE)
        return 0
    try:
        path, fail, timeout = parse_args(argv)
    except ValueError as exc:
        print(f"journalban pam-check: {exc}", file=sys.stderr)
        return 2
    request = request_of(os.environ if env is None else env)
    if request is None:
        return 0  # a local login: never refused
    try:
        return 0 if ask(path, request, timeout) else 1
    except Unreachable as exc:
        mode = fail_mode(path, fail)
        print(f"journalban pam-check: {exc}; failing {mode}", file=sys.stderr)
        return 0 if mode == "open" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
