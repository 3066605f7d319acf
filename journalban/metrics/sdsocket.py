"""The socket systemd hands over for the metrics (stdlib only: imported without the extra)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

SD_LISTEN_FDS_START = 3
FD_NAME = "metrics"


def systemd_socket(environ: Mapping[str, str] | None = None) -> socket.socket | None:
    """The listening socket systemd passed under the name ``metrics``, if any.

    Only when ``LISTEN_PID`` is this process (the variables leak to children otherwise).
    """
    env = os.environ if environ is None else environ
    try:
        count = int(env.get("LISTEN_FDS", "0"))
        pid = int(env.get("LISTEN_PID", "0"))
    except ValueError:
        return None
    if count <= 0 or pid != os.getpid():
        return None
    names = env.get("LISTEN_FDNAMES", "").split(":")
    for index in range(count):
        if index < len(names) and names[index] == FD_NAME:
            sock = socket.socket(fileno=SD_LISTEN_FDS_START + index)
            sock.set_inheritable(False)  # never into the actions' child processes
            sock.setblocking(False)
            return sock
    return None
