"""Debian's real nginx, run by a test with a configuration of its own, in the server namespace.

Its prefix, pid file, logs and document root are the test's directories;
the machine's /etc/nginx is not read. The location includes journalban's
deny file, so a banned client gets 403 and another 200.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.netpair import NetPair
from support.real import need_tool

HTTP_GET = """
import socket, sys
source, server = sys.argv[1:3]
s = socket.create_connection((server, 80), timeout=20, source_address=(source, 0))
s.sendall(b"GET / HTTP/1.0\\r\\nHost: web.test\\r\\n\\r\\n")
print(s.makefile("rb").readline().decode().split()[1])
"""


def nginx_conf(root: Path, server: str, server6: str, deny_file: Path) -> str:
    return f"""user root root;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen {server}:80;
        listen [{server6}]:80;
        root {root}/www;
        location / {{
            include {deny_file};
        }}
    }}
}}
"""


@contextmanager
def running_nginx(root: Path, pair: NetPair, deny_file: Path) -> Iterator[list[str]]:
    """nginx on ``pair.server``:80; yields the argv that reloads it gracefully."""
    nginx = need_tool("nginx")
    (root / "www").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "www" / "index.html").write_text("ok\n")
    conf = root / "nginx.conf"
    conf.write_text(nginx_conf(root, pair.server, pair.server6, deny_file))
    out = (root / "nginx.out").open("wb")
    proc = subprocess.Popen(
        pair.server_argv([nginx, "-c", str(conf), "-p", str(root), "-g", "daemon off;"]),
        stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not (root / "nginx.pid").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((root / "nginx.out").read_text(errors="replace"))
            time.sleep(0.05)
        yield [nginx, "-c", str(conf), "-p", str(root), "-s", "reload"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def http_status(pair: NetPair, source: str) -> str:
    """The HTTP status the server answers ``source`` (an IPv4 or IPv6 client address)."""
    server = pair.server6 if ":" in source else pair.server
    return pair.client_python(HTTP_GET, source, server).strip()
